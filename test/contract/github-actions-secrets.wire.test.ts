/**
 * The GitHub Actions secrets adapter with its real `fetch` client against a local server speaking GitHub's REST API
 * (test/fakes/github-actions-server.ts), which keeps a real Curve25519 key pair per scope and opens every sealed box
 * it receives: what goes over the wire (paths, headers, sealed bodies), and how GitHub's failures come back.
 */
import { afterEach, describe, expect, it } from 'vitest';
import githubActions from '../../adapters/stores/github-actions-secrets/index.js';
import { Secret } from '../../src/contract/secret.js';
import { parseRef, type SecretStore } from '../../src/contract/store.js';
import { CannotStageError, StoreError } from '../../src/contract/store-errors.js';
import { type RunningGitHubServer, startGitHubServer } from '../fakes/github-actions-server.js';
import { storeContract } from './suite.js';

const KIND = 'github-actions-secrets';
const INITIAL = 'rk_canary_INITIAL_4b1d7e2a9c8f3e6d';
const NEW = 'rk_canary_NEW_github_wire_8d2f6a0c';
const RUN = '20261124T024512Z-aaaaaa';
const TOKEN = 'fake-github-token-for-tests-write';
const READ_ONLY = 'fake-github-token-for-tests-read-only';
const OTHER_REPO_ONLY = 'fake-github-token-for-tests-other-repo';

function open(server: RunningGitHubServer, token = TOKEN, options: Record<string, unknown> = {}): SecretStore {
  return githubActions.open({ apiUrl: server.url, ...options }, { baseDir: process.cwd(), env: { GITHUB_TOKEN: token, OTHER_TOKEN: token } });
}

async function seededServer(prefix?: string): Promise<RunningGitHubServer> {
  const server = await startGitHubServer(prefix === undefined ? {} : { prefix });
  for (const scope of ['repo:acme/api', 'repo:acme/locked', 'env:acme/api@production', 'org:acme']) server.model.addScope(scope);
  server.model.put('repo:acme/api', 'API_KEY', INITIAL);
  server.model.put('repo:acme/locked', 'API_KEY', INITIAL);
  server.model.put('env:acme/api@production', 'API_KEY', INITIAL);
  server.model.put('org:acme', 'API_KEY', INITIAL, 'selected');
  server.model.addToken(TOKEN);
  server.model.addToken(READ_ONLY, { write: false });
  server.model.addToken(OTHER_REPO_ONLY, { write: true, scopes: ['repo:acme/api'] });
  return server;
}

storeContract('github-actions-secrets (fetch against a local GitHub REST API server)', async () => {
  const server = await seededServer();
  const store = open(server);
  return {
    store,
    reopen: () => open(server),
    ref: parseRef(KIND, 'acme/api#API_KEY'),
    missingRef: parseRef(KIND, 'acme/api#ABSENT_KEY'),
    initial: INITIAL,
    async concurrentWrite(target, value) {
      server.model.put('repo:acme/api', target.field!, value);
    },
    denied: { store: open(server, OTHER_REPO_ONLY), ref: parseRef(KIND, 'acme/locked#API_KEY') },
    async snapshot() {
      return server.model.snapshot();
    },
    recordsRuns: false,
    async heldValue(target) {
      return server.model.value('repo:acme/api', target.field!);
    },
    close: () => server.close(),
  };
});

async function failure(promise: Promise<unknown>): Promise<StoreError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, 'expected the call to fail').toBeInstanceOf(StoreError);
  const storeError = error as StoreError;
  expect(storeError.message).not.toContain(NEW);
  expect(storeError.message).not.toContain(TOKEN);
  return storeError;
}

describe('github-actions-secrets adapter over the wire', () => {
  let server: RunningGitHubServer;
  afterEach(async () => {
    await server?.close();
  });
  const ref = parseRef(KIND, 'acme/api#API_KEY');

  it("sends GitHub's headers and a sealed value only: the value is in no URL and no body in clear, and the fake opens it", async () => {
    server = await seededServer();
    const store = open(server);
    const base = (await store.describe!(ref))!.version;
    await store.stage(ref, new Secret(NEW), RUN, base);
    expect(server.model.value('repo:acme/api', 'API_KEY')).toBe(NEW);
    const put = server.requests.find((r) => r.method === 'PUT')!;
    expect(put.path).toBe('/repos/acme/api/actions/secrets/API_KEY');
    expect(put.headers['authorization']).toBe(`Bearer ${TOKEN}`);
    expect(put.headers['x-github-api-version']).toBe('2022-11-28');
    expect(put.headers['accept']).toBe('application/vnd.github+json');
    const body = JSON.parse(put.body) as Record<string, unknown>;
    expect(Object.keys(body).sort()).toEqual(['encrypted_value', 'key_id']);
    expect(body['key_id']).toBe(server.model.scope('repo:acme/api').keyId);
    for (const request of server.requests) {
      expect(request.path).not.toContain(NEW);
      expect(request.body).not.toContain(NEW);
    }
  });

  it('describes a secret by its updated_at, which moves when the value is written, and names no run', async () => {
    server = await seededServer();
    let clock = Date.parse('2026-11-01T10:00:00Z');
    server.model.now = () => clock;
    server.model.put('repo:acme/api', 'API_KEY', INITIAL);
    const store = open(server);
    expect(await store.describe!(ref)).toEqual({ version: '2026-11-01T10:00:00Z', createdAt: new Date('2026-11-01T10:00:00Z') });
    clock = Date.parse('2026-11-02T11:30:00Z');
    const version = await store.stage(ref, new Secret(NEW), RUN, '2026-11-01T10:00:00Z');
    expect(version).toBe('2026-11-02T11:30:00Z');
    expect((await store.describe!(ref))?.run).toBeUndefined();
  });

  it('writes environment and organisation secrets at their own paths; an organisation secret keeps its visibility and repositories', async () => {
    server = await seededServer();
    server.model.secret('org:acme', 'API_KEY')!.selected_repository_ids = [1296269];
    const store = open(server);
    for (const text of ['acme/api@production#API_KEY', 'org:acme#API_KEY']) {
      const target = parseRef(KIND, text);
      await store.stage(target, new Secret(NEW), RUN, (await store.describe!(target))!.version);
    }
    expect(server.model.value('env:acme/api@production', 'API_KEY')).toBe(NEW);
    expect(server.model.value('org:acme', 'API_KEY')).toBe(NEW);
    expect(server.model.value('repo:acme/api', 'API_KEY')).toBe(INITIAL);
    expect(server.model.secret('org:acme', 'API_KEY')).toMatchObject({ visibility: 'selected', selected_repository_ids: [1296269] });
    const puts = server.requests.filter((r) => r.method === 'PUT').map((r) => r.path);
    expect(puts).toEqual(['/repos/acme/api/environments/production/secrets/API_KEY', '/orgs/acme/actions/secrets/API_KEY']);
  });

  it('talks to a GitHub Enterprise Server API root (apiUrl with /api/v3)', async () => {
    server = await seededServer('/api/v3');
    const store = open(server);
    await store.stage(ref, new Secret(NEW), RUN, (await store.describe!(ref))!.version);
    expect(server.model.value('repo:acme/api', 'API_KEY')).toBe(NEW);
    expect(server.requests.every((r) => r.path.startsWith('/api/v3/repos/'))).toBe(true);
  });

  it('takes the token from the variable the token option names', async () => {
    server = await seededServer();
    const store = githubActions.open({ apiUrl: server.url, token: 'OTHER_TOKEN' }, { baseDir: process.cwd(), env: { OTHER_TOKEN: TOKEN } });
    expect((await store.describe!(ref))?.version).toBeTruthy();
    const missing = githubActions.open({ apiUrl: server.url }, { baseDir: process.cwd(), env: {} });
    const error = await failure(missing.describe!(ref));
    expect(error.code).toBe('permission');
    expect(error.message).toContain('GITHUB_TOKEN is not set');
  });

  it('a public key rotated since it was fetched: the 422 is met by fetching the key again, and the value lands', async () => {
    server = await seededServer();
    const store = open(server);
    await store.canStage(ref, RUN, (await store.describe!(ref))!.version);
    server.model.rotateKey('repo:acme/api');
    await store.stage(ref, new Secret(NEW), RUN, 'x');
    expect(server.model.value('repo:acme/api', 'API_KEY')).toBe(NEW);
    const puts = server.requests.filter((r) => r.method === 'PUT');
    expect(puts.length).toBe(2);
    expect((JSON.parse(puts[1]!.body) as { key_id: string }).key_id).toBe(server.model.scope('repo:acme/api').keyId);
  });

  it('a secondary rate limit (429 with retry-after) is sat out and the call goes on', async () => {
    server = await seededServer();
    const store = open(server);
    server.fail({ status: 429, message: 'You have exceeded a secondary rate limit.', headers: { 'retry-after': '1' } });
    expect((await store.describe!(ref))?.version).toBeTruthy();
    expect(server.requests.length).toBe(2);
  });

  it('the primary limit (403, x-ratelimit-remaining 0) far off: refused at once, saying until when, with no retry', async () => {
    server = await seededServer();
    const store = open(server);
    const reset = Math.floor(Date.now() / 1000) + 1800;
    server.fail({
      status: 403,
      message: 'API rate limit exceeded for user ID 1.',
      headers: { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(reset) },
    });
    const error = await failure(store.describe!(ref));
    expect(error.code).toBe('unavailable');
    expect(error.retriable).toBe(false);
    expect(error.message).toContain(`rate limited by GitHub until ${new Date(reset * 1000).toISOString().replace('.000Z', 'Z')}`);
    expect(server.requests.length).toBe(1);
  });

  it('a read-only token: the pre-flight passes (GitHub cannot tell without a write), the write is a permission error naming what to grant', async () => {
    server = await seededServer();
    const store = open(server, READ_ONLY);
    await store.canStage(ref, RUN, (await store.describe!(ref))!.version);
    const error = await failure(store.stage(ref, new Secret(NEW), RUN, 'x'));
    expect(error.code).toBe('permission');
    expect(error.hint).toContain('"Secrets: read and write"');
    expect(server.model.value('repo:acme/api', 'API_KEY')).toBe(INITIAL);
  });

  it('bad credentials (401) and a repository out of sight (404) are permission errors that say so', async () => {
    server = await seededServer();
    const bad = await failure(open(server, 'ghp_wrong').describe!(ref));
    expect(bad.code).toBe('permission');
    expect(bad.message).toContain('bad credentials');
    const hidden = await failure(open(server, OTHER_REPO_ONLY).canStage(parseRef(KIND, 'acme/locked#API_KEY'), RUN, 'x'));
    expect(hidden).toBeInstanceOf(CannotStageError);
    expect(hidden.code).toBe('permission');
    expect(hidden.message).toContain('does not exist or the token cannot see it');
  });

  it('refuses a value over 48 KB before sending anything', async () => {
    server = await seededServer();
    const store = open(server);
    const before = server.requests.length;
    const error = await failure(store.stage(ref, new Secret('x'.repeat(48 * 1024 + 1)), RUN, 'x'));
    expect(error.code).toBe('invalid');
    expect(error.message).toContain('at most 49152 bytes');
    expect(server.requests.slice(before).some((r) => r.method === 'PUT')).toBe(false);
  });

  it('rollback puts back the old value it is handed, and without one refuses, saying what to do by hand', async () => {
    server = await seededServer();
    const store = open(server);
    await store.stage(ref, new Secret(NEW), RUN, 'x');
    const error = await failure(store.rollback(ref, RUN));
    expect(error.code).toBe('not-supported');
    expect(error.hint).toContain('set API_KEY in the repository acme/api to the old value by hand');
    expect(server.model.value('repo:acme/api', 'API_KEY')).toBe(NEW);
    await store.rollback(ref, RUN, new Secret(INITIAL));
    await open(server).rollback(ref, RUN, new Secret(INITIAL));
    expect(server.model.value('repo:acme/api', 'API_KEY')).toBe(INITIAL);
  });
});

describe('the GitHub REST fake itself, as the docs say GitHub behaves', () => {
  let server: RunningGitHubServer;
  afterEach(async () => {
    await server?.close();
  });

  async function put(name: string, body: unknown, token = TOKEN): Promise<{ status: number; message?: string }> {
    const reply = await fetch(`${server.url}/repos/acme/api/actions/secrets/${name}`, {
      method: 'PUT',
      headers: { Authorization: `Bearer ${token}`, 'User-Agent': 'test', 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
    const text = await reply.text();
    return { status: reply.status, ...(text === '' ? {} : { message: (JSON.parse(text) as { message: string }).message }) };
  }

  async function sealedTo(value: string, publicKey: Uint8Array): Promise<string> {
    const { default: sodium } = await import('libsodium-wrappers');
    await sodium.ready;
    return sodium.to_base64(sodium.crypto_box_seal(sodium.from_string(value), publicKey), sodium.base64_variants.ORIGINAL);
  }

  it('opens a box sealed to its key (201 created, 204 updated), and refuses one sealed to another key or a stale key_id', async () => {
    server = await seededServer();
    const scope = server.model.scope('repo:acme/api');
    expect((await put('NEW_ONE', { encrypted_value: await sealedTo(NEW, scope.publicKey), key_id: scope.keyId })).status).toBe(201);
    expect((await put('NEW_ONE', { encrypted_value: await sealedTo(NEW, scope.publicKey), key_id: scope.keyId })).status).toBe(204);
    expect(server.model.value('repo:acme/api', 'new_one')).toBe(NEW);
    const { default: sodium } = await import('libsodium-wrappers');
    const stranger = sodium.crypto_box_keypair().publicKey;
    expect((await put('NEW_ONE', { encrypted_value: await sealedTo('x', stranger), key_id: scope.keyId })).status).toBe(422);
    const stale = scope.keyId;
    server.model.rotateKey('repo:acme/api');
    expect((await put('NEW_ONE', { encrypted_value: await sealedTo('x', scope.publicKey), key_id: stale })).status).toBe(422);
    expect(server.model.value('repo:acme/api', 'NEW_ONE')).toBe(NEW);
  });

  it("enforces GitHub's names, the 48 KB value limit, the 100 secrets of a repository, and a read-only token", async () => {
    server = await seededServer();
    const scope = server.model.scope('repo:acme/api');
    const body = async (value: string) => ({ encrypted_value: await sealedTo(value, scope.publicKey), key_id: scope.keyId });
    expect((await put('GITHUB_X', await body('v'))).status).toBe(422);
    expect((await put('1X', await body('v'))).status).toBe(422);
    expect((await put('X', await body('x'.repeat(48 * 1024 + 1)))).status).toBe(422);
    expect((await put('X', await body('v'), READ_ONLY)).status).toBe(403);
    for (let i = scope.secrets.size; i < 100; i++) server.model.put('repo:acme/api', `FILL_${i}`, 'v');
    expect(await put('ONE_TOO_MANY', await body('v'))).toEqual({ status: 422, message: expect.stringContaining('limit of 100 secrets') });
    expect((await put('FILL_99', await body('v'))).status).toBe(204);
  });
});
