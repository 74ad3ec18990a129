/**
 * Vault tokens run out (Vault docs, "Tokens": TTLs, max TTLs and renewal; AppRole `token_ttl`, often 20–60 minutes,
 * shorter than a drill with prompts). Against the local Vault API server, with the clock moved by fake timers (only
 * `Date`, so sockets and timers run as usual): an AppRole token near its end is renewed, one past its max TTL is
 * replaced by a new login, one that expired anyway is replaced on its 403, and a token from the environment that
 * expired is named as such instead of being taken for a policy that denies the call.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import vaultKv from '../../adapters/stores/vault-kv/index.js';
import { parseRef, type SecretStore } from '../../src/contract/store.js';
import { StoreError } from '../../src/contract/store-errors.js';
import type { PolicyRule } from '../fakes/vault-kv-model.js';
import { type RunningVaultServer, startVaultServer } from '../fakes/vault-kv-server.js';

const VALUE = 'rk_canary_VAULT_TOKEN_TTL_7d2e9a';
const POLICY: PolicyRule[] = [{ path: 'secret/data/*', capabilities: ['read', 'create', 'update'] }];
const ref = parseRef('vault-kv', 'secret/app#API_KEY');

let server: RunningVaultServer;
let now: number;
beforeEach(async () => {
  now = Date.parse('2026-12-02T12:00:00Z');
  vi.useFakeTimers({ toFake: ['Date'], now });
  server = await startVaultServer();
  server.model.put('secret', 'app', { API_KEY: VALUE });
});
afterEach(async () => {
  vi.useRealTimers();
  await server.close();
});

/** Move the clock of both the fake Vault and the adapter (one process) forward. */
function advance(seconds: number): void {
  now += seconds * 1000;
  vi.setSystemTime(now);
}

function appRoleStore(lifetime: { ttl: number; maxTtl: number; renewable?: boolean }): SecretStore {
  const { roleId, secretId } = server.model.addAppRole(POLICY, '', lifetime);
  return vaultKv.open(
    { roleId, secretIdEnv: 'REKEY_TEST_SECRET_ID' },
    { baseDir: process.cwd(), env: { VAULT_ADDR: server.url, REKEY_TEST_SECRET_ID: secretId } },
  );
}

const calls = (path: string) => server.model.log.filter((r) => r.path === path).length;

describe('Vault tokens that run out', () => {
  it('renews an AppRole token near the end of its TTL, without logging in again', async () => {
    const store = appRoleStore({ ttl: 60, maxTtl: 600 });
    expect((await store.read(ref)).value.reveal()).toBe(VALUE);
    advance(45); // 15 s left: under the 30 s margin, still alive
    expect((await store.read(ref)).value.reveal()).toBe(VALUE);
    expect(calls('auth/token/renew-self')).toBe(1);
    expect(calls('auth/approle/login')).toBe(1);
    advance(45); // past the first TTL: alive only because it was renewed
    expect((await store.read(ref)).value.reveal()).toBe(VALUE);
    expect(calls('auth/approle/login')).toBe(1);
  });

  it('logs in again when renewing cannot carry the token past its max TTL', async () => {
    const store = appRoleStore({ ttl: 60, maxTtl: 70 });
    await store.read(ref);
    advance(50); // renewal is capped at the max TTL: 20 s left, not enough
    expect((await store.read(ref)).value.reveal()).toBe(VALUE);
    expect(calls('auth/approle/login')).toBe(2);
    advance(65); // the first token is dead by now; the second one is renewed or replaced in turn
    expect((await store.read(ref)).value.reveal()).toBe(VALUE);
  });

  it('logs in again when a token that cannot be renewed has expired, and goes on', async () => {
    const store = appRoleStore({ ttl: 60, maxTtl: 60, renewable: false });
    await store.read(ref);
    advance(120);
    expect((await store.read(ref)).value.reveal()).toBe(VALUE);
    expect(calls('auth/approle/login')).toBe(2);
    expect(calls('auth/token/renew-self')).toBe(0);
  });

  it('with a new login, a policy that denies the call is still a permission error (one retry, not a loop)', async () => {
    const store = appRoleStore({ ttl: 600, maxTtl: 600 });
    const error = await store.read(parseRef('vault-kv', 'other/app#API_KEY')).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(StoreError);
    expect((error as StoreError).code).toBe('permission');
    expect(calls('auth/approle/login')).toBe(2);
  });

  it('says that a token from the environment expired, naming the variable, instead of blaming a policy', async () => {
    const token = server.model.addToken(POLICY, '', { ttl: 60 });
    const store = vaultKv.open({}, { baseDir: process.cwd(), env: { VAULT_ADDR: server.url, VAULT_TOKEN: token } });
    expect((await store.read(ref)).value.reveal()).toBe(VALUE);
    advance(61);
    const error = (await store.read(ref).then(
      () => undefined,
      (e: unknown) => e,
    )) as StoreError;
    expect(error.code).toBe('permission');
    expect(error.message).toBe('read vault-kv:secret/app#API_KEY: the Vault token in VAULT_TOKEN has expired or been revoked');
    expect(error.hint).toContain('AppRole');
    expect(error.message).not.toContain(token);
  });

  it('a live token from the environment that a policy denies keeps the policy hint', async () => {
    const token = server.model.addToken(POLICY, '', { ttl: 600 });
    const store = vaultKv.open({}, { baseDir: process.cwd(), env: { VAULT_ADDR: server.url, VAULT_TOKEN: token } });
    const error = (await store.read(parseRef('vault-kv', 'other/app#API_KEY')).then(
      () => undefined,
      (e: unknown) => e,
    )) as StoreError;
    expect(error.code).toBe('permission');
    expect(error.message).not.toContain('expired');
    expect(error.hint).toContain('other/data/app');
  });
});
