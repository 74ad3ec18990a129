/**
 * The sandbox dialects the runbook kit's runbooks are rehearsed against (src/sandbox/dialects.ts), each held to its
 * source: the OAuth 2.0 token endpoint to RFC 6749 (§2.3.1, §4.4, §5.1, §5.2), the panel to HTTP Basic (RFC 7617,
 * RFC 9110 §11.6.1), and NOWPayments to its API reference (`x-api-key`; `/v1/status` needs no key). The runbooks' own
 * http steps meet these shapes in test/unit/runbooks.test.ts, which also holds every key to the canary check.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { type Sandbox, startSandbox } from '../../src/sandbox/server.js';

const sandboxes: Sandbox[] = [];
afterEach(async () => {
  await Promise.all(sandboxes.splice(0).map((s) => s.close()));
});

async function sandbox(overlap: 'until-revoked' | 'none' = 'until-revoked'): Promise<Sandbox> {
  const started = await startSandbox({ overlap });
  sandboxes.push(started);
  return started;
}

async function revoke(s: Sandbox, key: string): Promise<void> {
  await (await fetch(`${s.url}/v1/keys/self`, { method: 'DELETE', headers: { authorization: `Bearer ${key}` } })).arrayBuffer();
}

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const FORM = 'application/x-www-form-urlencoded';

async function token(s: Sandbox, headers: Record<string, string>, body: string) {
  const response = await fetch(`${s.url}/oauth2/token`, { method: 'POST', headers, body });
  return { status: response.status, headers: response.headers, body: (await response.json()) as Record<string, unknown> };
}

describe('OAuth 2.0 client credentials token endpoint (RFC 6749)', () => {
  it('§4.4 and §5.1: HTTP Basic client authentication and grant_type=client_credentials get a token that is not cached', async () => {
    const s = await sandbox();
    const secret = s.mintKey('client-1');
    const answer = await token(s, { authorization: basic('client-1', secret), 'content-type': FORM }, 'grant_type=client_credentials');
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ token_type: 'Bearer', expires_in: 3600 });
    expect(typeof answer.body['access_token']).toBe('string');
    expect(answer.headers.get('cache-control')).toBe('no-store');
    expect(answer.headers.get('pragma')).toBe('no-cache');
    expect(JSON.stringify(answer.body)).not.toContain(secret);
  });

  it('§2.3.1: the client id and secret are form-encoded before base64 (an "@" arrives as %40)', async () => {
    const s = await sandbox();
    const secret = s.mintKey('app@example');
    const answer = await token(s, { authorization: basic('app%40example', secret), 'content-type': FORM }, 'grant_type=client_credentials');
    expect(answer.status).toBe(200);
  });

  it('§2.3.1: credentials in the form body are accepted too (allowed, though not recommended)', async () => {
    const s = await sandbox();
    const secret = s.mintKey('client-1');
    const answer = await token(s, { 'content-type': FORM }, `grant_type=client_credentials&client_id=client-1&client_secret=${encodeURIComponent(secret)}`);
    expect(answer.status).toBe(200);
  });

  it('§5.2: a revoked or unknown secret is 401 invalid_client, with WWW-Authenticate when the Authorization header was used', async () => {
    const s = await sandbox();
    const old = s.mintKey('client-1');
    s.mintKey('client-1');
    await revoke(s, old);
    for (const password of [old, 'never-issued-secret']) {
      const answer = await token(s, { authorization: basic('client-1', password), 'content-type': FORM }, 'grant_type=client_credentials');
      expect(answer.status).toBe(401);
      expect(answer.body['error']).toBe('invalid_client');
      expect(answer.headers.get('www-authenticate')).toMatch(/^Basic /);
    }
    // Another client's valid secret is no secret of this client.
    const other = s.mintKey('client-2');
    expect((await token(s, { authorization: basic('client-1', other), 'content-type': FORM }, 'grant_type=client_credentials')).body['error']).toBe(
      'invalid_client',
    );
  });

  it('§5.2: a missing grant type is invalid_request, another one unsupported_grant_type, a body that is not a form invalid_request (all 400)', async () => {
    const s = await sandbox();
    const auth = basic('client-1', s.mintKey('client-1'));
    const missing = await token(s, { authorization: auth, 'content-type': FORM }, 'scope=read');
    expect([missing.status, missing.body['error']]).toEqual([400, 'invalid_request']);
    const other = await token(s, { authorization: auth, 'content-type': FORM }, 'grant_type=password&username=a&password=b');
    expect([other.status, other.body['error']]).toEqual([400, 'unsupported_grant_type']);
    const json = await token(s, { authorization: auth, 'content-type': 'application/json' }, '{"grant_type":"client_credentials"}');
    expect([json.status, json.body['error']]).toEqual([400, 'invalid_request']);
  });
});

describe('a panel checked with HTTP Basic authentication (RFC 7617)', () => {
  it("the user's current password gets 200; any other gets 401 with a Basic challenge (RFC 9110 §11.6.1)", async () => {
    const s = await sandbox('none');
    const old = s.mintKey('admin');
    const current = s.mintKey('admin');
    const ask = (auth?: string) => fetch(`${s.url}/panel/api/me`, { headers: auth === undefined ? {} : { authorization: auth } });
    const ok = await ask(basic('admin', current));
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ username: 'admin' });
    for (const auth of [basic('admin', old), basic('someone', current), undefined]) {
      const refused = await ask(auth);
      expect(refused.status).toBe(401);
      expect(refused.headers.get('www-authenticate')).toMatch(/^Basic realm="panel"/);
      await refused.arrayBuffer();
    }
  });
});

describe('NOWPayments (x-api-key)', () => {
  it('GET /v1/status needs no key, so it answers 200 whatever the key: it cannot check one', async () => {
    const s = await sandbox();
    for (const headers of [{}, { 'x-api-key': 'not-a-key' }] as Array<Record<string, string>>) {
      const response = await fetch(`${s.url}/v1/status`, { headers });
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ message: 'OK' });
    }
  });

  it('GET /v1/merchant/coins needs the key: 200 with an active key, 403 INVALID_API_KEY with a revoked, unknown or missing one', async () => {
    const s = await sandbox();
    const old = s.mintKey('merchant');
    const current = s.mintKey('merchant');
    await revoke(s, old);
    const coins = (headers: Record<string, string>) => fetch(`${s.url}/v1/merchant/coins`, { headers });
    const ok = await coins({ 'x-api-key': current });
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as { selectedCurrencies: string[] }).selectedCurrencies.length).toBeGreaterThan(0);
    for (const headers of [{ 'x-api-key': old }, { 'x-api-key': 'never-issued' }, {}, { authorization: `Bearer ${current}` }] as Array<
      Record<string, string>
    >) {
      const refused = await coins(headers);
      expect(refused.status).toBe(403);
      expect(await refused.json()).toMatchObject({ code: 'INVALID_API_KEY' });
    }
  });
});
