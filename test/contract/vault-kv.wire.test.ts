/**
 * The Vault KV v2 adapter with the real node-vault client against a local server speaking Vault's HTTP API
 * (test/fakes/vault-kv-server.ts): what goes over the wire (paths, X-Vault-Token, X-Vault-Namespace, cas,
 * custom_metadata) and how node-vault's failures come back.
 */
import { afterEach, describe, expect, it } from 'vitest';
import vaultKv from '../../adapters/stores/vault-kv/index.js';
import { Secret } from '../../src/contract/secret.js';
import { parseRef, type SecretStore } from '../../src/contract/store.js';
import { StoreError } from '../../src/contract/store-errors.js';
import type { PolicyRule } from '../fakes/vault-kv-model.js';
import { startVaultServer, type RunningVaultServer } from '../fakes/vault-kv-server.js';
import { storeContract } from './suite.js';

const INITIAL = 'rk_canary_INITIAL_4b1d7e2a9c8f3e6d';
const NEW = 'rk_canary_NEW_vault_wire_5e7a9c1b';
const SIBLINGS = { DATABASE_URL: 'postgres://db.internal/app', REGION: 'eu-west-1' };
const RUN = '20261124T024512Z-aaaaaa';

const ROTATOR_POLICY: PolicyRule[] = [
  { path: 'secret/data/*', capabilities: ['read', 'create', 'update'] },
  { path: 'secret/metadata/*', capabilities: ['update'] },
  { path: 'secret/destroy/*', capabilities: ['update'] },
  { path: 'secret/data/locked', capabilities: ['deny'] },
];

function open(server: RunningVaultServer, token: string, options: Record<string, unknown> = {}, env: Record<string, string> = {}): SecretStore {
  return vaultKv.open({ destroyOnRetire: true, ...options }, { baseDir: process.cwd(), env: { VAULT_ADDR: server.url, VAULT_TOKEN: token, ...env } });
}

async function seededServer(latencyMs = 0): Promise<RunningVaultServer> {
  const server = await startVaultServer({ latencyMs });
  server.model.put('secret', 'app', { API_KEY: INITIAL });
  server.model.put('secret', 'shared', { ...SIBLINGS, API_KEY: INITIAL });
  server.model.put('secret', 'locked', { API_KEY: INITIAL });
  return server;
}

storeContract('vault-kv (node-vault against a local Vault API server)', async () => {
  const server = await seededServer();
  const token = server.model.addToken(ROTATOR_POLICY);
  const store = open(server, token);
  return {
    store,
    reopen: () => open(server, token),
    ref: parseRef('vault-kv', 'secret/app#API_KEY'),
    fieldRef: parseRef('vault-kv', 'secret/shared#API_KEY'),
    siblings: SIBLINGS,
    missingRef: parseRef('vault-kv', 'secret/absent#API_KEY'),
    initial: INITIAL,
    async concurrentWrite(target, value) {
      const path = target.path.slice('secret/'.length);
      server.model.put('secret', path, { ...server.model.latest('secret', path), [target.field!]: value });
    },
    async rawSiblings() {
      const { API_KEY: _, ...rest } = server.model.latest('secret', 'shared') as Record<string, string>;
      return rest;
    },
    denied: { store, ref: parseRef('vault-kv', 'secret/locked#API_KEY') },
    async snapshot() {
      return JSON.stringify(
        ['app', 'shared'].map((path) => server.model.secret('secret', path)),
        (_key, value: unknown) => (value instanceof Map ? [...value] : value),
      );
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
  return error as StoreError;
}

describe('vault-kv adapter over the wire (node-vault)', () => {
  const ref = parseRef('vault-kv', 'secret/app#API_KEY');
  let server: RunningVaultServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it('stages in three round trips: read, record the run in custom_metadata, write with cas', async () => {
    server = await seededServer(5);
    const store = open(server, server.model.rootToken);
    await store.read(ref);
    const from = server.model.log.length;
    expect(await store.stage(ref, new Secret(NEW), RUN, '1')).toBe('2');
    expect(server.model.log.slice(from).map((r) => `${r.method} ${r.path}`)).toEqual([
      'GET secret/data/app',
      'POST secret/metadata/app',
      'POST secret/data/app',
    ]);
    expect(server.model.secret('secret', 'app')!.customMetadata).toHaveProperty([`rekey:${RUN}:API_KEY`]);
  });

  it('maps a check-and-set refusal from Vault to a conflict naming the expected version', async () => {
    server = await seededServer();
    const store = open(server, server.model.rootToken);
    server.model.put('secret', 'app', { API_KEY: 'someone-elses-value-0000' });
    const error = await failure(store.stage(ref, new Secret(NEW), RUN, '1'));
    expect(error.code).toBe('conflict');
    expect(error.message).toContain('expected version 1');
  });

  it('reads again when a standby answers with a version older than this process wrote, instead of a conflict', async () => {
    server = await seededServer();
    const token = server.model.addToken(ROTATOR_POLICY);
    const store = open(server, token);
    const base = (await store.read(ref)).version;
    server.model.lagBehindWrites(2);
    const staged = await store.stage(ref, new Secret(NEW), RUN, base);
    await store.promote(ref, staged, RUN, base);
    server.model.lagBehindWrites(0);
    expect((await store.read(ref)).value.reveal()).toBe(NEW);
    expect(server.model.latest('secret', 'app')).toMatchObject({ API_KEY: NEW });
  });

  it('logs in with AppRole when roleId is set, and never uses VAULT_TOKEN then', async () => {
    server = await seededServer();
    const { roleId, secretId } = server.model.addAppRole(ROTATOR_POLICY);
    const store = open(server, 'hvs.WRONGxxxxxxxxxxxxxxxxxxxx', { roleId, secretIdEnv: 'REKEY_TEST_SECRET_ID' }, { REKEY_TEST_SECRET_ID: secretId });
    expect((await store.read(ref)).value.reveal()).toBe(INITIAL);
    expect(server.model.log[0]).toMatchObject({ method: 'POST', path: 'auth/approle/login' });

    const refused = open(server, 'unused', { roleId, secretIdEnv: 'REKEY_TEST_SECRET_ID' }, { REKEY_TEST_SECRET_ID: 'not-the-secret-id' });
    const error = await failure(refused.read(ref));
    expect(error.code).toBe('permission');
    expect(error.message).toBe('read vault-kv:secret/app#API_KEY: AppRole login refused');
    expect(error.message).not.toContain(secretId);
  });

  it('reads the token from the environment variable named by the token option', async () => {
    server = await seededServer();
    const store = open(server, 'hvs.WRONGxxxxxxxxxxxxxxxxxxxx', { token: 'REKEY_VAULT_TOKEN' }, { REKEY_VAULT_TOKEN: server.model.rootToken });
    expect((await store.read(ref)).value.reveal()).toBe(INITIAL);
  });

  it("sends X-Vault-Namespace from the namespace option, and never one taken from process.env behind rekey's back", async () => {
    server = await seededServer();
    server.model.addNamespace('team-a');
    server.model.put('secret', 'web/app', { API_KEY: NEW }, 'team-a');
    const nsRef = parseRef('vault-kv', 'secret/web/app#API_KEY');
    expect((await open(server, server.model.rootToken, { namespace: 'team-a' }).read(nsRef)).value.reveal()).toBe(NEW);
    expect((await open(server, server.model.rootToken, {}, { VAULT_NAMESPACE: 'team-a' }).read(nsRef)).value.reveal()).toBe(NEW);

    const saved = process.env['VAULT_NAMESPACE'];
    process.env['VAULT_NAMESPACE'] = 'team-a';
    try {
      // The store's environment has no namespace: node-vault must not fall back to process.env.
      expect((await open(server, server.model.rootToken).read(ref)).value.reveal()).toBe(INITIAL);
    } finally {
      if (saved === undefined) delete process.env['VAULT_NAMESPACE'];
      else process.env['VAULT_NAMESPACE'] = saved;
    }
  });

  it('retries 503 from Vault and succeeds; a read-only token meets 403 at once with a policy hint', async () => {
    server = await seededServer();
    server.model.failNext(2, 503);
    const before = server.model.requests;
    expect((await open(server, server.model.rootToken).read(ref)).value.reveal()).toBe(INITIAL);
    // Two refused attempts, then the mount lookup and the read.
    expect(server.model.requests - before).toBe(4);

    const readOnly = open(server, server.model.readOnlyToken);
    const from = server.model.requests;
    const error = await failure(readOnly.stage(ref, new Secret(NEW), RUN, '1'));
    expect(error.code).toBe('permission');
    expect(error.hint).toContain('"update" on path "secret/metadata/app"');
    // The mount lookup, the read, the refused write, and one lookup-self that tells a denying policy from a dead
    // token: no retries.
    expect(server.model.log.slice(-4).map((r) => `${r.method} ${r.path}`)).toEqual([
      'GET sys/internal/ui/mounts/secret/app',
      'GET secret/data/app',
      'POST secret/metadata/app',
      'GET auth/token/lookup-self',
    ]);
    expect(server.model.requests - from).toBe(4);
    expect(error.message).not.toContain(server.model.readOnlyToken);
  });

  it('turns a refused connection into a typed unavailable error without the token', async () => {
    server = await seededServer();
    const token = server.model.rootToken;
    const url = server.url;
    await server.close();
    server = undefined;
    const store = vaultKv.open({}, { baseDir: process.cwd(), env: { VAULT_ADDR: url, VAULT_TOKEN: token } });
    const error = await failure(store.read(ref));
    expect(error.code).toBe('unavailable');
    expect(error.message).toBe('read vault-kv:secret/app#API_KEY: cannot reach Vault (ECONNREFUSED)');
    expect(JSON.stringify(error)).not.toContain(token);
  }, 20_000);

  it('check asks sys/capabilities-self and writes nothing', async () => {
    server = await seededServer();
    const check = await open(server, server.model.readOnlyToken).check(ref);
    expect(check).toMatchObject({ readable: true, writable: false });
    expect(check.fingerprint).toBe(new Secret(INITIAL).fingerprint);
    expect(server.model.log.filter((r) => r.method !== 'GET').map((r) => r.path)).toEqual(['sys/capabilities-self']);
  });
});
