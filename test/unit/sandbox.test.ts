import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import { builtInRunbookDir, loadRunbook } from '../../src/runbook/load.js';
import type { StepContext } from '../../src/contract/steps.js';
import { runStep } from '../../src/runbook/steps/index.js';
import type { Runbook } from '../../src/contract/runbook.js';
import { IdempotencyCache, requestFingerprint } from '../../src/sandbox/idempotency.js';
import { noInteraction } from '../../src/ui/interaction.js';
import { type Sandbox, type SandboxOptions, startSandbox } from '../../src/sandbox/server.js';

const running: Sandbox[] = [];
const folders: string[] = [];
const children: ChildProcess[] = [];

afterEach(async () => {
  await Promise.all(running.splice(0).map((sandbox) => sandbox.close()));
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
  for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true });
});

async function start(options: SandboxOptions = {}): Promise<Sandbox> {
  const sandbox = await startSandbox(options);
  running.push(sandbox);
  return sandbox;
}

function tempFolder(): string {
  const folder = mkdtempSync(join(tmpdir(), 'rekey-sandbox-'));
  folders.push(folder);
  return folder;
}

interface Answer {
  status: number;
  contentType: string | null;
  text: string;
  // biome-ignore lint/suspicious/noExplicitAny: a reply body is arbitrary JSON; the assertions on it check its shape.
  json: any;
  headers: Headers;
}

/** Every answer a test received, so a test can assert no key ever came back. */
let seen: Answer[] = [];

async function call(sandbox: Sandbox, method: string, path: string, init: { headers?: Record<string, string>; body?: string } = {}): Promise<Answer> {
  const response = await fetch(`${sandbox.url}${path}`, { method, headers: init.headers, body: init.body });
  const text = await response.text();
  const answer: Answer = {
    status: response.status,
    contentType: response.headers.get('content-type'),
    text,
    json: text === '' ? undefined : JSON.parse(text),
    headers: response.headers,
  };
  seen.push(answer);
  return answer;
}

const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

async function mint(sandbox: Sandbox, account: string, body?: unknown): Promise<{ key: string; id: string }> {
  const answer = await call(sandbox, 'POST', `/v1/accounts/${account}/keys`, {
    headers: { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  expect(answer.status).toBe(201);
  return answer.json;
}

const whoami = (sandbox: Sandbox, key: string) => call(sandbox, 'GET', '/v1/whoami', { headers: bearer(key) });

const invalidKey = { error: { code: 'invalid_api_key', message: 'Invalid API key' } };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('sandbox: minting', () => {
  it('answers 201 with a prefixed 40-hex key, a key id and a creation time, and needs no key', async () => {
    const sandbox = await start();
    const answer = await call(sandbox, 'POST', '/v1/accounts/acme/keys');
    expect(answer.status).toBe(201);
    expect(answer.contentType).toBe('application/json');
    expect(answer.json.key).toMatch(/^sbx_[0-9a-f]{40}$/);
    expect(answer.json.id).toMatch(/^key_[0-9a-f]+$/);
    expect(new Date(answer.json.createdAt).toISOString()).toBe(answer.json.createdAt);
    expect(sandbox.isActive(answer.json.key)).toBe(true);
  });

  it('uses the configured key prefix', async () => {
    const sandbox = await start({ keyPrefix: 'sk_test_' });
    expect((await mint(sandbox, 'acme')).key).toMatch(/^sk_test_[0-9a-f]{40}$/);
    expect(sandbox.mintKey('acme')).toMatch(/^sk_test_[0-9a-f]{40}$/);
  });

  it('refuses an account name that is not plain letters, digits and . _ @ -', async () => {
    const sandbox = await start();
    const answer = await call(sandbox, 'POST', '/v1/accounts/a%20b/keys');
    expect(answer.status).toBe(400);
    expect(answer.json.error.code).toBe('invalid_account');
    expect(() => sandbox.mintKey('a b')).toThrow(/invalid account/);
  });

  it('refuses a body that is not a JSON object', async () => {
    const sandbox = await start();
    const answer = await call(sandbox, 'POST', '/v1/accounts/acme/keys', { body: '[1]' });
    expect(answer.status).toBe(400);
    expect(answer.json.error.code).toBe('invalid_request');
  });
});

describe('sandbox: overlap none', () => {
  it('revokes every other active key of the account at the moment a new key is minted', async () => {
    const sandbox = await start({ overlap: 'none' });
    const first = sandbox.mintKey('acme');
    const second = await mint(sandbox, 'acme');
    const other = sandbox.mintKey('globex');
    expect((await whoami(sandbox, first)).json).toEqual(invalidKey);
    expect((await whoami(sandbox, first)).status).toBe(401);
    expect((await whoami(sandbox, second.key)).json).toEqual({ account: 'acme', keyId: second.id });
    expect(sandbox.isActive(first)).toBe(false);
    expect(sandbox.isActive(other)).toBe(true);
    expect(sandbox.stats.revokes).toBe(1);
  });
});

describe('sandbox: overlap until-revoked (the default)', () => {
  it('keeps the old key working beside the new one until it is revoked explicitly', async () => {
    const sandbox = await start();
    expect(sandbox.overlap).toBe('until-revoked');
    const first = sandbox.mintKey('acme');
    const second = await mint(sandbox, 'acme');
    expect((await whoami(sandbox, first)).status).toBe(200);
    expect((await whoami(sandbox, second.key)).status).toBe(200);
    expect((await call(sandbox, 'DELETE', '/v1/keys/self', { headers: bearer(first) })).status).toBe(204);
    expect((await whoami(sandbox, first)).status).toBe(401);
    expect((await whoami(sandbox, second.key)).status).toBe(200);
  });
});

describe('sandbox: overlap expiring', () => {
  it('expires the other keys at once with expireOthersInSeconds 0, and says api_key_expired', async () => {
    const sandbox = await start({ overlap: 'expiring' });
    const first = sandbox.mintKey('acme');
    const second = await mint(sandbox, 'acme', { expireOthersInSeconds: 0 });
    const rejected = await whoami(sandbox, first);
    expect(rejected.status).toBe(401);
    expect(rejected.json).toEqual({ error: { code: 'api_key_expired', message: 'API key expired' } });
    expect((await whoami(sandbox, second.key)).status).toBe(200);
    expect(sandbox.isActive(first)).toBe(false);
  });

  it('keeps the other keys working until the given number of seconds has passed', async () => {
    const sandbox = await start({ overlap: 'expiring' });
    const first = sandbox.mintKey('acme');
    await mint(sandbox, 'acme', { expireOthersInSeconds: 0.3 });
    expect((await whoami(sandbox, first)).status).toBe(200);
    await sleep(400);
    expect((await whoami(sandbox, first)).json.error.code).toBe('api_key_expired');
  });

  it('keeps the other keys when the mint sets no expiry, and a second mint never extends an earlier expiry', async () => {
    const sandbox = await start({ overlap: 'expiring' });
    const first = sandbox.mintKey('acme');
    await mint(sandbox, 'acme');
    expect(sandbox.isActive(first)).toBe(true);
    await mint(sandbox, 'acme', { expireOthersInSeconds: 0 });
    await mint(sandbox, 'acme', { expireOthersInSeconds: 3600 });
    expect(sandbox.isActive(first)).toBe(false);
  });

  it('refuses expireOthersInSeconds out of range, or under another overlap', async () => {
    const expiring = await start({ overlap: 'expiring' });
    for (const value of [-1, 'soon', 7 * 24 * 3600 + 1]) {
      const answer = await call(expiring, 'POST', '/v1/accounts/acme/keys', { body: JSON.stringify({ expireOthersInSeconds: value }) });
      expect(answer.status).toBe(400);
    }
    const none = await start({ overlap: 'none' });
    const answer = await call(none, 'POST', '/v1/accounts/acme/keys', { body: JSON.stringify({ expireOthersInSeconds: 0 }) });
    expect(answer.status).toBe(400);
    expect(answer.json.error.message).toMatch(/expiring/);
  });
});

describe('sandbox: whoami and revoke', () => {
  it('rejects an unknown or a missing key with invalid_api_key', async () => {
    const sandbox = await start();
    for (const headers of [bearer(`sbx_${'0'.repeat(40)}`), {}, { authorization: 'Basic abc' }]) {
      const answer = await call(sandbox, 'GET', '/v1/whoami', { headers });
      expect(answer.status).toBe(401);
      expect(answer.json).toEqual(invalidKey);
    }
  });

  it('revoke is idempotent: the second revoke answers 401, which a runbook reads as already gone', async () => {
    const sandbox = await start();
    const key = sandbox.mintKey('acme');
    const first = await call(sandbox, 'DELETE', '/v1/keys/self', { headers: bearer(key) });
    expect(first.status).toBe(204);
    expect(first.text).toBe('');
    expect(first.contentType).toBe('application/json');
    const second = await call(sandbox, 'DELETE', '/v1/keys/self', { headers: bearer(key) });
    expect(second.status).toBe(401);
    expect(second.json).toEqual(invalidKey);
    expect((await call(sandbox, 'DELETE', '/v1/keys/self', { headers: bearer('sbx_unknown') })).status).toBe(401);
    expect(sandbox.stats.revokes).toBe(1);
  });

  it('under overlap expiring, revoke is "expire now": the key then answers api_key_expired, as Stripe does for an expired key', async () => {
    const sandbox = await start({ overlap: 'expiring' });
    const old = sandbox.mintKey('acme');
    const current = sandbox.mintKey('acme');
    const first = await call(sandbox, 'DELETE', '/v1/keys/self', { headers: bearer(old) });
    expect(first.status).toBe(204);
    expect(sandbox.isActive(old)).toBe(false);
    expect(sandbox.isActive(current)).toBe(true);
    // docs/providers.md#stripe: a revoked or expired key gets 401 with an error.code such as api_key_expired.
    const balance = await call(sandbox, 'GET', '/v1/balance', { headers: bearer(old) });
    expect(balance.status).toBe(401);
    expect(balance.json.error).toMatchObject({ type: 'invalid_request_error', code: 'api_key_expired' });
    expect((await whoami(sandbox, old)).json.error.code).toBe('api_key_expired');
    // Idempotent: expiring it again meets "already gone".
    const again = await call(sandbox, 'DELETE', '/v1/keys/self', { headers: bearer(old) });
    expect(again.status).toBe(401);
    expect(again.json.error.code).toBe('api_key_expired');
    expect(sandbox.stats.revokes).toBe(1);
    expect(
      sandbox
        .activity('acme')
        .filter((e) => e.action === 'revoke')
        .map((e) => e.status),
    ).toEqual([204, 401]);
  });

  it('under the other overlaps, revoke revokes: the key answers invalid_api_key', async () => {
    for (const overlap of ['until-revoked', 'none'] as const) {
      const sandbox = await start({ overlap });
      const key = sandbox.mintKey('acme');
      expect((await call(sandbox, 'DELETE', '/v1/keys/self', { headers: bearer(key) })).status).toBe(204);
      expect((await call(sandbox, 'GET', '/v1/balance', { headers: bearer(key) })).json.error.code).toBe('invalid_api_key');
    }
  });

  it('revoking an expired key answers 401 api_key_expired', async () => {
    const sandbox = await start({ overlap: 'expiring' });
    const first = sandbox.mintKey('acme');
    await mint(sandbox, 'acme', { expireOthersInSeconds: 0 });
    const answer = await call(sandbox, 'DELETE', '/v1/keys/self', { headers: bearer(first) });
    expect(answer.status).toBe(401);
    expect(answer.json.error.code).toBe('api_key_expired');
  });
});

describe('sandbox: provider dialects', () => {
  it("Streampixel: userStats passes only the user's current key, with its 401 messages", async () => {
    const sandbox = await start({ overlap: 'none' });
    const old = sandbox.mintKey('user1');
    const current = sandbox.mintKey('user1');
    const stranger = sandbox.mintKey('user2');
    const stats = (user: string, key: string) => call(sandbox, 'GET', `/pixelStripeApi/projects/userStats/proj42?userId=${user}&apikey=${key}`);
    const ok = await stats('user1', current);
    expect(ok.status).toBe(200);
    expect(ok.json).toEqual({ liveUser: 0, queueUser: 0 });
    for (const key of [old, stranger, 'sk_bogus']) {
      const rejected = await stats('user1', key);
      expect(rejected.status).toBe(401);
      expect(rejected.json).toEqual({ message: 'Unauthorized: Invalid API Key' });
    }
    const noUser = await stats('nobody', current);
    expect(noUser.status).toBe(401);
    expect(noUser.json).toEqual({ message: 'Invalid User' });
  });

  it('Stripe: balance with a Bearer key, invalid_api_key or api_key_expired otherwise', async () => {
    const sandbox = await start({ overlap: 'expiring' });
    const old = sandbox.mintKey('acct_1');
    const current = sandbox.mintKey('acct_1');
    const balance = (key: string) => call(sandbox, 'GET', '/v1/balance', { headers: bearer(key) });
    const ok = await balance(current);
    expect(ok.status).toBe(200);
    expect(ok.json.object).toBe('balance');
    expect((await balance(old)).status).toBe(200);
    await mint(sandbox, 'acct_1', { expireOthersInSeconds: 0 });
    const expired = await balance(old);
    expect(expired.status).toBe(401);
    expect(expired.json.error).toMatchObject({ type: 'invalid_request_error', code: 'api_key_expired' });
    expect(typeof expired.json.error.message).toBe('string');
    const unknown = await balance('sk_live_nope');
    expect(unknown.status).toBe(401);
    expect(unknown.json.error).toMatchObject({ type: 'invalid_request_error', code: 'invalid_api_key' });
  });

  it('Discord: users/@me with Bot and a DiscordBot User-Agent; 400 without it; 401 shape for a bad token', async () => {
    const sandbox = await start({ overlap: 'none' });
    const old = sandbox.mintKey('mybot');
    const token = sandbox.mintKey('mybot');
    const ua = 'DiscordBot (https://example.com, 1.0)';
    const me = (headers: Record<string, string>) => call(sandbox, 'GET', '/api/v10/users/@me', { headers });
    const ok = await me({ authorization: `Bot ${token}`, 'user-agent': ua });
    expect(ok.status).toBe(200);
    expect(ok.json).toMatchObject({ username: 'mybot', bot: true });
    expect(ok.json.id).toMatch(/^\d{18}$/);
    expect((await me({ authorization: `Bot ${token}`, 'user-agent': 'curl/8' })).status).toBe(400);
    for (const authorization of [`Bot ${old}`, `Bearer ${token}`, 'Bot nope']) {
      const rejected = await me({ authorization, 'user-agent': ua });
      expect(rejected.status).toBe(401);
      expect(rejected.json).toEqual({ message: '401: Unauthorized', code: 0 });
    }
  });

  it('GitHub: /user with a Bearer token and API version 2022-11-28; Bad credentials when revoked', async () => {
    const sandbox = await start();
    const token = sandbox.mintKey('octocat');
    const headers = { ...bearer(token), 'x-github-api-version': '2022-11-28' };
    const ok = await call(sandbox, 'GET', '/user', { headers });
    expect(ok.status).toBe(200);
    expect(ok.json.login).toBe('octocat');
    expect((await call(sandbox, 'GET', '/user', { headers: { ...headers, 'x-github-api-version': '1999-01-01' } })).status).toBe(400);
    await call(sandbox, 'DELETE', '/v1/keys/self', { headers: bearer(token) });
    const rejected = await call(sandbox, 'GET', '/user', { headers });
    expect(rejected.status).toBe(401);
    expect(rejected.json.message).toBe('Bad credentials');
  });

  it('PayPal: oauth2/token with basic auth client id and secret; invalid_client for a bad secret', async () => {
    const sandbox = await start();
    const secret = sandbox.mintKey('AbClientId123');
    const token = (user: string, password: string, body = 'grant_type=client_credentials') =>
      call(sandbox, 'POST', '/v1/oauth2/token', {
        headers: {
          authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`,
          'content-type': 'application/x-www-form-urlencoded',
        },
        body,
      });
    const ok = await token('AbClientId123', secret);
    expect(ok.status).toBe(200);
    expect(ok.json.token_type).toBe('Bearer');
    expect(typeof ok.json.access_token).toBe('string');
    expect(ok.json.access_token).not.toContain(secret);
    const invalidClient = { error: 'invalid_client', error_description: 'Client Authentication failed' };
    for (const [user, password] of [
      ['AbClientId123', 'wrong'],
      ['SomeoneElse', secret],
    ] as const) {
      const rejected = await token(user, password);
      expect(rejected.status).toBe(401);
      expect(rejected.json).toEqual(invalidClient);
    }
    expect((await token('AbClientId123', secret, 'grant_type=password')).status).toBe(400);
  });
});

describe('sandbox: activity', () => {
  it('lists every request that touched the account since a time, by key id, never the key', async () => {
    const sandbox = await start();
    const first = await mint(sandbox, 'acme');
    sandbox.mintKey('globex');
    await sleep(5);
    const since = new Date().toISOString();
    await whoami(sandbox, first.key);
    const second = await mint(sandbox, 'acme');
    await call(sandbox, 'DELETE', '/v1/keys/self', { headers: bearer(first.key) });
    await whoami(sandbox, first.key);
    const answer = await call(sandbox, 'GET', `/v1/accounts/acme/activity?since=${encodeURIComponent(since)}`, {
      headers: bearer(second.key),
    });
    expect(answer.status).toBe(200);
    expect(answer.json.events.map((e: { action: string; keyId: string; route: string; status: number }) => [e.action, e.keyId, e.route, e.status])).toEqual([
      ['whoami', first.id, '/v1/whoami', 200],
      ['mint', second.id, '/v1/accounts/:account/keys', 201],
      ['revoke', first.id, '/v1/keys/self', 204],
      ['whoami', first.id, '/v1/whoami', 401],
    ]);
    for (const event of answer.json.events) expect(Date.parse(event.at)).toBeGreaterThanOrEqual(Date.parse(since));
    expect(sandbox.activity('acme')).toHaveLength(5);
    expect(sandbox.activity('acme', since)).toHaveLength(4);
  });

  it('needs an active key of that same account, and a valid since', async () => {
    const sandbox = await start();
    const acme = sandbox.mintKey('acme');
    const globex = sandbox.mintKey('globex');
    expect((await call(sandbox, 'GET', '/v1/accounts/acme/activity', { headers: bearer(globex) })).status).toBe(403);
    expect((await call(sandbox, 'GET', '/v1/accounts/acme/activity')).status).toBe(401);
    expect((await call(sandbox, 'GET', '/v1/accounts/acme/activity?since=yesterday', { headers: bearer(acme) })).status).toBe(400);
    const all = await call(sandbox, 'GET', '/v1/accounts/acme/activity', { headers: bearer(acme) });
    expect(all.json.events).toEqual([expect.objectContaining({ action: 'mint', route: 'mintKey', status: 201 })]);
  });
});

describe('sandbox: stats and round trips', () => {
  it('counts mints, checks, rejections, revokes and requests by route', async () => {
    const sandbox = await start({ overlap: 'none' });
    const first = sandbox.mintKey('acme');
    const second = await mint(sandbox, 'acme');
    await whoami(sandbox, first);
    await whoami(sandbox, second.key);
    await call(sandbox, 'GET', '/v1/balance', { headers: bearer(second.key) });
    await call(sandbox, 'DELETE', '/v1/keys/self', { headers: bearer(second.key) });
    await call(sandbox, 'GET', '/nowhere');
    expect(sandbox.stats).toEqual({
      minted: 2,
      mintsByAccount: { acme: 2 },
      replays: 0,
      checks: 3,
      rejected: 1,
      revokes: 2,
      requests: {
        'POST /v1/accounts/:account/keys': 1,
        'GET /v1/whoami': 2,
        'GET /v1/balance': 1,
        'DELETE /v1/keys/self': 1,
        unknown: 1,
      },
    });
    expect(sandbox.roundTrips.map((trip) => `${trip.method} ${trip.route}`)).toEqual([
      'POST /v1/accounts/:account/keys',
      'GET /v1/whoami',
      'GET /v1/whoami',
      'GET /v1/balance',
      'DELETE /v1/keys/self',
      'GET unknown',
    ]);
  });

  it('adds latencyMs to every request, measured server-side', async () => {
    const sandbox = await start({ latencyMs: 40 });
    const key = sandbox.mintKey('acme');
    const began = performance.now();
    expect((await whoami(sandbox, key)).status).toBe(200);
    expect(performance.now() - began).toBeGreaterThanOrEqual(35);
    expect(sandbox.roundTrips[0]!.ms).toBeGreaterThanOrEqual(35);
  });
});

describe('sandbox: keys and mints a test can count (issue 8, defect 1)', () => {
  it("lists an account's keys with id, creation time and status, and tells which key a value is, by hash only", async () => {
    const sandbox = await start({ overlap: 'until-revoked' });
    const seed = sandbox.mintKey('acme');
    const minted = await mint(sandbox, 'acme');
    const other = sandbox.mintKey('globex');
    await call(sandbox, 'DELETE', '/v1/keys/self', { headers: bearer(seed) });
    const keys = sandbox.keys('acme');
    expect(keys.map((k) => [k.status, k.mintedBy])).toEqual([
      ['revoked', 'mintKey'],
      ['active', 'http'],
    ]);
    expect(keys[1]!.id).toBe(minted.id);
    expect(new Date(keys[0]!.createdAt).toISOString()).toBe(keys[0]!.createdAt);
    expect(keys[0]!.revokedAt).toBeDefined();
    expect(keys[0]!.matches(seed)).toBe(true);
    expect(keys[0]!.matches(minted.key)).toBe(false);
    expect(keys[1]!.matches(minted.key)).toBe(true);
    expect(sandbox.keyOf(minted.key)?.id).toBe(minted.id);
    expect(sandbox.keyOf(other)?.account).toBe('globex');
    expect(sandbox.keyOf(`sbx_${'0'.repeat(40)}`)).toBeUndefined();
    expect(sandbox.keys('nobody')).toEqual([]);
    // The listing is a view of hashes: no value of any key is in it.
    expect(JSON.stringify(keys)).not.toContain(seed);
    expect(JSON.stringify(keys)).not.toContain(minted.key);
    expect(sandbox.stats.mintsByAccount).toEqual({ acme: 2, globex: 1 });
  });

  it('shows an expired key as expired (overlap expiring)', async () => {
    const sandbox = await start({ overlap: 'expiring' });
    sandbox.mintKey('acme');
    await mint(sandbox, 'acme', { expireOthersInSeconds: 0 });
    expect(sandbox.keys('acme').map((k) => k.status)).toEqual(['expired', 'active']);
  });
});

describe('sandbox: idempotent mints, as Stripe has them (issue 8, defect 1)', () => {
  const mintWith = (sandbox: Sandbox, key: string | undefined, body?: unknown, account = 'acme') =>
    call(sandbox, 'POST', `/v1/accounts/${account}/keys`, {
      headers: { 'content-type': 'application/json', ...(key === undefined ? {} : { 'idempotency-key': key }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });

  it('answers a second mint with the same Idempotency-Key with the same key, and mints nothing more', async () => {
    const sandbox = await start({ overlap: 'none' });
    const seed = sandbox.mintKey('acme');
    const first = await mintWith(sandbox, 'rekey-run-1');
    const again = await mintWith(sandbox, 'rekey-run-1');
    expect(first.status).toBe(201);
    expect(again.status).toBe(201);
    expect(again.json).toEqual(first.json);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(sandbox.keys('acme')).toHaveLength(2);
    expect(sandbox.stats.mintsByAccount['acme']).toBe(2);
    expect(sandbox.stats.minted).toBe(2);
    expect(sandbox.stats.replays).toBe(1);
    // The replay revoked nothing more: the seed died with the one mint, the new key lives.
    expect(sandbox.stats.revokes).toBe(1);
    expect(sandbox.isActive(seed)).toBe(false);
    expect(sandbox.isActive(first.json.key)).toBe(true);
  });

  it('refuses the same Idempotency-Key with other parameters: 400 idempotency_error, and no mint', async () => {
    const sandbox = await start({ overlap: 'expiring' });
    expect((await mintWith(sandbox, 'k1', { expireOthersInSeconds: 60 })).status).toBe(201);
    const reused = await mintWith(sandbox, 'k1', { expireOthersInSeconds: 0 });
    expect(reused.status).toBe(400);
    expect(reused.json.error.code).toBe('idempotency_error');
    expect(reused.text).not.toMatch(/sbx_[0-9a-f]{40}/);
    // Key order in the body is not a different request.
    expect((await mintWith(sandbox, 'k2', { a: 1, expireOthersInSeconds: 5 })).status).toBe(201);
    expect((await mintWith(sandbox, 'k2', { expireOthersInSeconds: 5, a: 1 })).headers.get('idempotent-replayed')).toBe('true');
    expect(sandbox.stats.minted).toBe(2);
  });

  it('mints a new key for every request without the header', async () => {
    const sandbox = await start();
    const keys = new Set<string>();
    for (let i = 0; i < 3; i++) keys.add((await mintWith(sandbox, undefined)).json.key);
    expect(keys.size).toBe(3);
    expect(sandbox.stats.mintsByAccount['acme']).toBe(3);
    expect(sandbox.stats.replays).toBe(0);
  });

  it('keeps keys apart per account, and saves nothing for a request that failed validation', async () => {
    const sandbox = await start({ overlap: 'none' });
    const a = await mintWith(sandbox, 'shared', undefined, 'acme');
    const b = await mintWith(sandbox, 'shared', undefined, 'globex');
    expect(b.json.key).not.toBe(a.json.key);
    const invalid = await mintWith(sandbox, 'fixable', { expireOthersInSeconds: 1 });
    expect(invalid.status).toBe(400);
    expect(invalid.json.error.code).toBe('invalid_request');
    expect((await mintWith(sandbox, 'fixable')).status).toBe(201);
    expect(sandbox.stats.minted).toBe(3);
  });

  it('refuses an empty Idempotency-Key or one longer than 255 characters', async () => {
    const sandbox = await start();
    expect((await mintWith(sandbox, 'x'.repeat(256))).status).toBe(400);
    expect((await mintWith(sandbox, 'x'.repeat(255))).status).toBe(201);
    expect(sandbox.stats.minted).toBe(1);
  });

  it('keeps the replayable response in memory only: the state file never holds the key, and a restart forgets it', async () => {
    const stateFile = join(tempFolder(), 'state.json');
    const first = await start({ stateFile });
    const minted = await mintWith(first, 'rekey-run-2');
    await first.close();
    const text = readFileSync(stateFile, 'utf8');
    expect(text).not.toContain(minted.json.key);
    expect(text).not.toContain('rekey-run-2');
    const second = await start({ stateFile });
    const after = await mintWith(second, 'rekey-run-2');
    expect(after.json.key).not.toBe(minted.json.key);
    expect(second.keys('acme')).toHaveLength(2);
  });

  it('remembers a key for 24 hours, then treats it as new (the cache, with a test clock)', () => {
    let now = 1_000_000;
    const cache = new IdempotencyCache({ now: () => now });
    const fingerprint = requestFingerprint('/v1/accounts/:account/keys', { account: 'acme' }, undefined);
    cache.save('acme', 'k', fingerprint, { status: 201, body: { id: 'key_1' } });
    now += 24 * 3600 * 1000 - 1;
    expect(cache.lookup('acme', 'k', fingerprint)).toEqual({ kind: 'replay', response: { status: 201, body: { id: 'key_1' } } });
    expect(cache.lookup('acme', 'k', requestFingerprint('/v1/accounts/:account/keys', { account: 'acme' }, { a: 1 }))).toEqual({ kind: 'mismatch' });
    now += 1;
    expect(cache.lookup('acme', 'k', fingerprint)).toEqual({ kind: 'miss' });
    expect(cache.size).toBe(0);
  });

  it('a window of 0 remembers nothing: every request mints', async () => {
    const sandbox = await start({ idempotencyWindowMs: 0 });
    const a = await mintWith(sandbox, 'k');
    const b = await mintWith(sandbox, 'k');
    expect(b.json.key).not.toBe(a.json.key);
  });
});

describe('sandbox runbooks: the mint is idempotent per run (issue 8, defect 1)', () => {
  function mintContext(runbook: Runbook, sandbox: Sandbox, run: string): StepContext {
    return {
      vars: {
        inputs: { baseUrl: sandbox.url, account: 'acme' },
        run: { id: run, since: '2026-01-01T00:00:00.000Z', started: '2026-01-01T00:00:00.000Z' },
        credential: 'test',
      },
      runbook,
      interaction: noInteraction(),
      roundTrips: [],
      note: () => undefined,
    };
  }

  it.each([
    ['sandbox', 'until-revoked'],
    ['sandbox-none', 'none'],
    ['sandbox-expiring', 'expiring'],
  ] as const)('%s: the mint sent twice in one run gets one key; another run gets another', async (name, overlap) => {
    const runbook = await loadRunbook(join(builtInRunbookDir(), `${name}.yaml`));
    expect(runbook.overlap).toBe(overlap);
    const sandbox = await start({ overlap });
    const seed = sandbox.mintKey('acme');
    const step = runbook.generate[0]!;
    const first = await runStep(step, mintContext(runbook, sandbox, 'run-a'), process.cwd());
    const again = await runStep(step, mintContext(runbook, sandbox, 'run-a'), process.cwd());
    expect(again.minted!.reveal()).toBe(first.minted!.reveal());
    expect(sandbox.stats.mintsByAccount['acme']).toBe(2);
    expect(sandbox.stats.replays).toBe(1);
    const other = await runStep(step, mintContext(runbook, sandbox, 'run-b'), process.cwd());
    expect(other.minted!.reveal()).not.toBe(first.minted!.reveal());
    // The seed is still alive only where the overlap keeps it (expiring: for a day).
    expect(sandbox.isActive(seed)).toBe(overlap !== 'none');
  });
});

describe('sandbox: HTTP hygiene', () => {
  it('answers an unknown route 404 and a wrong method 405, in JSON, without echoing the URL', async () => {
    const sandbox = await start();
    const key = sandbox.mintKey('acme');
    const missing = await call(sandbox, 'GET', `/v2/secret-path?apikey=${key}`);
    expect(missing.status).toBe(404);
    expect(missing.contentType).toBe('application/json');
    expect(missing.json.error.code).toBe('not_found');
    expect(missing.text).not.toContain('secret-path');
    const wrongMethod = await call(sandbox, 'PUT', '/v1/whoami', { headers: bearer(key) });
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get('allow')).toBe('GET');
  });

  it('refuses a body larger than 64 KiB with 413', async () => {
    const sandbox = await start();
    const answer = await call(sandbox, 'POST', '/v1/accounts/acme/keys', { body: 'x'.repeat(70 * 1024) });
    expect(answer.status).toBe(413);
    expect(answer.contentType).toBe('application/json');
  });

  it('never returns a key in any body or header except the mint response that creates it', async () => {
    seen = [];
    const sandbox = await start({ overlap: 'none' });
    const keys = [sandbox.mintKey('acme')];
    const minted = await mint(sandbox, 'acme');
    keys.push(minted.key);
    const mintAnswer = seen.at(-1)!;
    const basic = (key: string) => `Basic ${Buffer.from(`acme:${key}`).toString('base64')}`;
    const ua = { 'user-agent': 'DiscordBot (x, 1)' };
    for (const key of [...keys, `sbx_${'f'.repeat(40)}`]) {
      await whoami(sandbox, key);
      await call(sandbox, 'GET', `/pixelStripeApi/projects/userStats/p?userId=acme&apikey=${key}`);
      await call(sandbox, 'GET', `/pixelStripeApi/projects/userStats/p?userId=nobody&apikey=${key}`);
      await call(sandbox, 'GET', '/v1/balance', { headers: bearer(key) });
      await call(sandbox, 'GET', '/api/v10/users/@me', { headers: { authorization: `Bot ${key}`, ...ua } });
      await call(sandbox, 'GET', '/api/v10/users/@me', { headers: { authorization: `Bot ${key}` } });
      await call(sandbox, 'GET', '/user', { headers: bearer(key) });
      await call(sandbox, 'POST', '/v1/oauth2/token', { headers: { authorization: basic(key) }, body: 'grant_type=client_credentials' });
      await call(sandbox, 'GET', '/v1/accounts/acme/activity', { headers: bearer(key) });
      await call(sandbox, 'GET', `/v1/accounts/${key}/activity`, { headers: bearer(key) });
      await call(sandbox, 'POST', `/v1/accounts/${key}x/keys`);
      await call(sandbox, 'GET', `/nope/${key}?apikey=${key}`);
      await call(sandbox, 'DELETE', '/v1/keys/self', { headers: bearer(key) });
    }
    expect(seen.length).toBeGreaterThan(30);
    for (const answer of seen) {
      const headers = JSON.stringify([...answer.headers]);
      for (const key of keys) {
        expect(headers).not.toContain(key);
        if (answer !== mintAnswer) expect(answer.text).not.toContain(key);
      }
      expect(answer.contentType).toBe('application/json');
    }
  });

  it('close() ends kept-alive connections, stops listening and can be called twice', async () => {
    const sandbox = await startSandbox();
    const key = sandbox.mintKey('acme');
    expect((await whoami(sandbox, key)).status).toBe(200);
    const began = performance.now();
    await sandbox.close();
    await sandbox.close();
    expect(performance.now() - began).toBeLessThan(1000);
    await expect(fetch(`${sandbox.url}/v1/whoami`)).rejects.toThrow();
  });
});

describe('sandbox: state file', () => {
  it('persists keys with mode 0600, without the keys themselves, and a restarted sandbox keeps them', async () => {
    const stateFile = join(tempFolder(), 'state.json');
    const first = await start({ stateFile, overlap: 'until-revoked' });
    const revoked = first.mintKey('acme');
    const kept = (await mint(first, 'acme')).key;
    await call(first, 'DELETE', '/v1/keys/self', { headers: bearer(revoked) });
    await whoami(first, kept);
    await first.close();

    expect(statSync(stateFile).mode & 0o777).toBe(0o600);
    const text = readFileSync(stateFile, 'utf8');
    expect(text).not.toContain(revoked);
    expect(text).not.toContain(kept);

    const second = await start({ stateFile, overlap: 'until-revoked' });
    expect(second.isActive(kept)).toBe(true);
    expect(second.isActive(revoked)).toBe(false);
    expect((await whoami(second, kept)).json.account).toBe('acme');
    expect((await whoami(second, revoked)).status).toBe(401);
    expect(second.activity('acme').map((e) => e.action)).toEqual(['mint', 'mint', 'revoke', 'whoami', 'whoami', 'whoami']);
  });

  it('writes a minted key to the file before answering, so a crash right after the mint loses nothing', async () => {
    const stateFile = join(tempFolder(), 'state.json');
    const sandbox = await start({ stateFile });
    const key = (await mint(sandbox, 'acme')).key;
    // Read the file without closing the sandbox: as if the process had been killed now.
    const state = JSON.parse(readFileSync(stateFile, 'utf8'));
    expect(state.accounts.acme.keys).toHaveLength(1);
    const again = await start({ stateFile });
    expect(again.isActive(key)).toBe(true);
  });

  it('tightens a state file found with a wider mode to 0600', async () => {
    const folder = tempFolder();
    const stateFile = join(folder, 'state.json');
    writeFileSync(stateFile, JSON.stringify({ version: 1, accounts: {} }), { mode: 0o644 });
    await start({ stateFile });
    expect(statSync(stateFile).mode & 0o777).toBe(0o600);
  });

  it('refuses a state file that is not its own, naming the file but not its content', async () => {
    const stateFile = join(tempFolder(), 'state.json');
    writeFileSync(stateFile, 'sbx_canary_content{', { mode: 0o600 });
    const failure = startSandbox({ stateFile });
    await expect(failure).rejects.toThrow(stateFile);
    await expect(failure).rejects.not.toThrow(/canary/);
  });
});

describe('sandbox: serve.ts in its own process', () => {
  /** Transpile the sandbox's sources to plain JavaScript, so the entry runs without a build. */
  async function transpiled(): Promise<string> {
    const ts = (await import('typescript')).default;
    const out = tempFolder();
    const root = join(import.meta.dirname, '..', '..');
    for (const file of [
      'src/sandbox/dialects.ts',
      'src/sandbox/idempotency.ts',
      'src/sandbox/registry.ts',
      'src/sandbox/routes.ts',
      'src/sandbox/server.ts',
      'src/sandbox/serve.ts',
      'src/sandbox/webhooks.ts',
      'src/util/atomic-file.ts',
      'src/util/process-alive.ts',
      'src/util/temporary-names.ts',
    ]) {
      const { outputText } = ts.transpileModule(readFileSync(join(root, file), 'utf8'), {
        compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: true },
      });
      const target = join(out, file.replace(/\.ts$/, '.js'));
      mkdirSync(dirname(target), { recursive: true });
      writeFileSync(target, outputText);
    }
    writeFileSync(join(out, 'package.json'), '{"type":"module"}');
    return join(out, 'src/sandbox/serve.js');
  }

  function serve(entry: string, args: string[]): { child: ChildProcess; url: Promise<string> } {
    const child = spawn(process.execPath, [entry, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    children.push(child);
    const url = new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stdout! }).once('line', (line) => resolve(JSON.parse(line).url));
      child.once('exit', (code) => reject(new Error(`serve exited with ${code}`)));
    });
    return { child, url };
  }

  const exited = (child: ChildProcess) => new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

  it('prints one JSON line with the URL, serves until SIGTERM, and keeps keys across restarts on a state file', async () => {
    const entry = await transpiled();
    const stateFile = join(tempFolder(), 'state.json');
    const first = serve(entry, ['--overlap', 'none', '--port', '0', '--state-file', stateFile]);
    const url = await first.url;
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const minted = (await (await fetch(`${url}/v1/accounts/acme/keys`, { method: 'POST' })).json()) as { key: string };
    const code = exited(first.child);
    first.child.kill('SIGTERM');
    expect(await code).toBe(0);

    const second = serve(entry, ['--overlap', 'none', '--state-file', stateFile, '--exit-on-stdin-close']);
    const again = await second.url;
    const who = await fetch(`${again}/v1/whoami`, { headers: bearer(minted.key) });
    expect(who.status).toBe(200);
    const code2 = exited(second.child);
    second.child.stdin!.end();
    expect(await code2).toBe(0);
  });

  it('exits 2 with one line on stderr for a bad argument', async () => {
    const entry = await transpiled();
    const child = spawn(process.execPath, [entry, '--overlap', 'sometimes'], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let stderr = '';
    child.stderr!.on('data', (chunk) => (stderr += chunk));
    expect(await exited(child)).toBe(2);
    expect(stderr.trim()).toMatch(/^sandbox: --overlap must be one of none, until-revoked, expiring$/);
  });
});
