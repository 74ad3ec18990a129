/**
 * The Vault KV v2 adapter against a hand-written SDK-level fake: the adapter's narrow client interface
 * (`read`, `write`), answered by the in-memory Vault model, failing the way node-vault fails
 * (`err.response.statusCode`, or a Node error `code` when no reply came).
 */
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import vaultKv, { MAX_RUN_ENTRIES, openVaultKvStore, type VaultKvStoreOptions } from '../../adapters/stores/vault-kv/index.js';
import { Secret } from '../../src/contract/secret.js';
import { parseRef, type SecretStore } from '../../src/contract/store.js';
import { CannotStageError, StoreError } from '../../src/contract/store-errors.js';
import { fakeClient, type Interceptor } from '../fakes/vault-kv-client.js';
import { VaultModel, type PolicyRule } from '../fakes/vault-kv-model.js';
import { storeContract } from './suite.js';

const INITIAL = 'rk_canary_INITIAL_4b1d7e2a9c8f3e6d';
const NEW = 'rk_canary_NEW_vault_mock_91c3e5a7';
const OTHER = 'rk_canary_OTHER_vault_mock_2d4f6b8a';
const SIBLINGS = { DATABASE_URL: 'postgres://db.internal/app', REGION: 'eu-west-1' };
const RUN = '20261124T024512Z-aaaaaa';
const FAST_RETRY = { retries: 3, minTimeout: 1, maxTimeout: 5 };

/** The policy the adapter documents as enough, plus a path it is denied. */
const ROTATOR_POLICY: PolicyRule[] = [
  { path: 'secret/data/*', capabilities: ['read', 'create', 'update'] },
  { path: 'secret/metadata/*', capabilities: ['update'] },
  { path: 'secret/destroy/*', capabilities: ['update'] },
  { path: 'secret/data/locked', capabilities: ['deny'] },
];

function networkError(code: string): Error {
  return Object.assign(new Error(`connect ${code} 127.0.0.1:8200`), { code });
}

function open(
  model: VaultModel,
  token: string,
  extra: Partial<VaultKvStoreOptions> & { intercept?: Interceptor } = {},
): SecretStore & { client: ReturnType<typeof fakeClient> } {
  const client = fakeClient(model, token, extra.intercept);
  const store = openVaultKvStore({ destroyOnRetire: true, retry: FAST_RETRY, ...extra, connect: async () => client });
  return Object.assign(store, { client });
}

function seeded(): VaultModel {
  const model = new VaultModel();
  model.put('secret', 'app', { API_KEY: INITIAL });
  model.put('secret', 'shared', { ...SIBLINGS, API_KEY: INITIAL });
  model.put('secret', 'locked', { API_KEY: INITIAL });
  return model;
}

const ref = parseRef('vault-kv', 'secret/app#API_KEY');

storeContract('vault-kv (SDK-level fake client)', async () => {
  const model = seeded();
  const token = model.addToken(ROTATOR_POLICY);
  const store = open(model, token);
  return {
    store,
    reopen: () => open(model, token),
    ref,
    fieldRef: parseRef('vault-kv', 'secret/shared#API_KEY'),
    siblings: SIBLINGS,
    missingRef: parseRef('vault-kv', 'secret/absent#API_KEY'),
    initial: INITIAL,
    async concurrentWrite(target, value) {
      const path = target.path.slice('secret/'.length);
      model.put('secret', path, { ...model.latest('secret', path), [target.field!]: value });
    },
    async rawSiblings() {
      const { API_KEY: _, ...rest } = model.latest('secret', 'shared') as Record<string, string>;
      return rest;
    },
    async snapshot() {
      return JSON.stringify(
        ['app', 'shared'].map((path) => model.secret('secret', path)),
        (_key, value: unknown) => (value instanceof Map ? [...value] : value),
      );
    },
    denied: { store, ref: parseRef('vault-kv', 'secret/locked#API_KEY') },
    async close() {},
  };
});

/** The failure of a promise, which must be a StoreError. */
async function failure(promise: Promise<unknown>): Promise<StoreError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, 'expected the call to fail').toBeInstanceOf(StoreError);
  return error as StoreError;
}

describe('vault-kv adapter (SDK-level fake)', () => {
  it('describe names the current version, its created_time and the run that wrote it, and nothing for a missing path', async () => {
    const model = seeded();
    const store = open(model, model.rootToken);
    const before = await store.describe!(ref);
    expect(before).toMatchObject({ version: '1', run: undefined });
    expect(before?.createdAt).toBeInstanceOf(Date);
    const version = await store.stage(ref, new Secret(NEW), RUN, '1');
    await store.promote(ref, version, RUN, '1');
    const after = await store.describe!(ref);
    expect(after).toMatchObject({ version: '2', run: RUN });
    expect(JSON.stringify(after)).not.toContain(NEW);
    model.put('secret', 'app', { API_KEY: OTHER });
    expect(await store.describe!(ref)).toMatchObject({ version: '3', run: undefined });
    expect(await store.describe!(parseRef('vault-kv', 'secret/absent#API_KEY'))).toBeUndefined();
  });

  it('validateRef wants a path and a field, the shape a KV v2 secret has', () => {
    expect(vaultKv.validateRef(parseRef('vault-kv', 'secret/web/app#api_key'))).toBeUndefined();
    expect(vaultKv.validateRef(parseRef('vault-kv', 'secret/web/app'))).toContain('names a field of the secret after #');
    expect(vaultKv.validateRef(parseRef('vault-kv', '/#api_key'))).toContain('<mount>/<path>#<field>');
  });

  it('names the expected version when check-and-set finds another writer before the write', async () => {
    const model = seeded();
    const store = open(model, model.rootToken);
    model.put('secret', 'app', { API_KEY: OTHER });
    const error = await failure(store.stage(ref, new Secret(NEW), RUN, '1'));
    expect(error.code).toBe('conflict');
    expect(error.message).toContain('check-and-set mismatch (expected version 1');
    expect(error.message).toContain('vault-kv:secret/app#API_KEY');
    expect(model.latest('secret', 'app')).toEqual({ API_KEY: OTHER });
  });

  it('names the expected version when Vault refuses the write with a check-and-set mismatch (a writer between read and write)', async () => {
    const model = seeded();
    let raced = false;
    const store = open(model, model.rootToken, {
      intercept: (call, forward) => {
        if (!raced && call.method === 'POST' && call.path === 'secret/data/app') {
          raced = true;
          model.put('secret', 'app', { API_KEY: OTHER });
        }
        return forward();
      },
    });
    const error = await failure(store.stage(ref, new Secret(NEW), RUN, '1'));
    expect(error.code).toBe('conflict');
    expect(error.message).toBe('stage vault-kv:secret/app#API_KEY: check-and-set mismatch (expected version 1)');
    expect(model.latest('secret', 'app')).toEqual({ API_KEY: OTHER });
    expect(model.secret('secret', 'app')!.currentVersion).toBe(2);
  });

  it('retries 5xx and 429 with backoff, then succeeds', async () => {
    const model = seeded();
    const store = open(model, model.rootToken);
    model.failNext(1, 503);
    model.failNext(1, 429);
    model.failNext(1, 500);
    const before = model.requests;
    expect((await store.read(ref)).value.reveal()).toBe(INITIAL);
    // Three refused attempts, then the mount lookup and the read.
    expect(model.requests - before).toBe(5);
  });

  it('retries a dropped connection, and gives up with a typed unavailable error', async () => {
    const model = seeded();
    let drops = 1;
    const flaky = open(model, model.rootToken, { intercept: (_call, forward) => (drops-- > 0 ? Promise.reject(networkError('ECONNRESET')) : forward()) });
    expect((await flaky.read(ref)).value.reveal()).toBe(INITIAL);

    const down = open(model, model.rootToken, { intercept: () => Promise.reject(networkError('ECONNREFUSED')) });
    const error = await failure(down.read(ref));
    expect(error.code).toBe('unavailable');
    expect(error.retriable).toBe(true);
    expect(error.message).toBe('read vault-kv:secret/app#API_KEY: cannot reach Vault (ECONNREFUSED)');
    expect(down.client.calls).toHaveLength(1 + FAST_RETRY.retries);
  });

  it('fails at once on 403 with a hint that names the missing capability and policy path', async () => {
    const model = seeded();
    const store = open(model, model.readOnlyToken);
    const base = (await store.read(ref)).version;
    const writesBefore = store.client.calls.length;
    const error = await failure(store.stage(ref, new Secret(NEW), RUN, base));
    expect(error.code).toBe('permission');
    expect(error.retriable).toBe(false);
    // The run records its intent in custom_metadata first: that is the write the read-only token meets.
    expect(error.message).toContain('needs "update" on secret/metadata/app');
    expect(error.hint).toContain('"update" on path "secret/metadata/app"');
    expect(store.client.calls.length - writesBefore).toBe(2); // one read, one refused write, no retry
    expect(model.latest('secret', 'app')).toEqual({ API_KEY: INITIAL });
  });

  it('prunes its own custom_metadata entries and keeps every other key', async () => {
    const model = seeded();
    const store = open(model, model.rootToken);
    const own = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`owner-${i}`, `team ${i}`]));
    // Left-overs from twenty earlier runs, as if pruning had never happened.
    const stale = Object.fromEntries(
      Array.from({ length: 20 }, (_, i) => {
        const run = `20250101T0000${String(i).padStart(2, '0')}Z-cccccc`;
        return [`rekey:${run}:API_KEY`, JSON.stringify({ run, base: 1, new: 'x', old: 'y', at: `2025-01-01T00:00:${String(i).padStart(2, '0')}Z` })];
      }),
    );
    model.secret('secret', 'app')!.customMetadata = { ...own, ...stale };
    for (let i = 0; i < 12; i++) {
      const run = `20261124T0300${String(i).padStart(2, '0')}Z-dddddd`;
      const base = (await store.read(ref)).version;
      const version = await store.stage(ref, new Secret(`${NEW}-${i}`), run, base);
      await store.promote(ref, version, run, base);
    }
    const custom = model.secret('secret', 'app')!.customMetadata!;
    const entries = Object.keys(custom).filter((k) => k.startsWith('rekey:'));
    expect(entries.length).toBe(MAX_RUN_ENTRIES);
    expect(entries).toContain('rekey:20261124T030011Z-dddddd:API_KEY');
    expect(entries.some((k) => k.startsWith('rekey:2025'))).toBe(false);
    expect(Object.keys(custom).length).toBeLessThanOrEqual(64);
    for (const [key, value] of Object.entries(own)) expect(custom[key]).toBe(value);
    for (const value of Object.values(custom)) expect(Buffer.byteLength(value)).toBeLessThanOrEqual(512);
  });

  it('refuses clearly, writing nothing, when custom_metadata has no room left for its entry', async () => {
    const model = seeded();
    const store = open(model, model.rootToken);
    model.secret('secret', 'app')!.customMetadata = Object.fromEntries(Array.from({ length: 64 }, (_, i) => [`k${i}`, 'v']));
    const error = await failure(store.stage(ref, new Secret(NEW), RUN, '1'));
    expect(error.code).toBe('invalid');
    expect(error.message).toContain('custom_metadata already holds 64 keys');
    expect(model.secret('secret', 'app')!.currentVersion).toBe(1);
  });

  it('canStage tells a read-only token it cannot write, from sys/capabilities-self, before the mint and without a write (defect 5)', async () => {
    const model = seeded();
    const store = open(model, model.readOnlyToken);
    const base = (await store.read(ref)).version;
    const error = await failure(store.canStage(ref, RUN, base));
    expect(error).toBeInstanceOf(CannotStageError);
    expect(error).toMatchObject({ code: 'permission', obstacle: 'permission' });
    expect(error.message).toContain('secret/data/app');
    expect(error.hint).toContain('secret/metadata/app');
    expect(store.client.calls.filter((c) => c.startsWith('POST') && !c.endsWith('sys/capabilities-self'))).toEqual([]);
    expect(model.secret('secret', 'app')!.customMetadata ?? {}).toEqual({});
  });

  it('canStage refuses when custom_metadata has no room for the run record, as stage would (defect 5)', async () => {
    const model = seeded();
    const store = open(model, model.rootToken);
    model.secret('secret', 'app')!.customMetadata = Object.fromEntries(Array.from({ length: 64 }, (_, i) => [`k${i}`, 'v']));
    const error = await failure(store.canStage(ref, RUN, '1'));
    expect(error).toMatchObject({ obstacle: 'limit', code: 'invalid' });
    expect(error.message).toContain('custom_metadata already holds 64 keys');
  });

  it('canStage refuses a current version that was deleted, with the undelete command (defect 5)', async () => {
    const model = seeded();
    const store = open(model, model.rootToken);
    model.handle({ method: 'DELETE', path: 'secret/data/app', token: model.rootToken });
    const error = await failure(store.canStage(ref, RUN, '1'));
    expect(error).toMatchObject({ obstacle: 'unusable' });
    expect(error.hint).toContain('vault kv undelete -versions=1 secret/app');
  });

  it('keeps no value and no token in any error message, hint or serialised error', async () => {
    const model = seeded();
    const token = model.addToken(ROTATOR_POLICY);
    const errors: StoreError[] = [];
    const collect = async (promise: Promise<unknown>): Promise<void> => {
      errors.push(await failure(promise));
    };
    const base = (await open(model, token).read(ref)).version;
    await collect(open(model, model.readOnlyToken).stage(ref, new Secret(NEW), RUN, base)); // 403
    await collect(open(model, 'hvs.NOTAREALTOKENxxxxxxxxxxxx').read(ref)); // unknown token
    await collect(open(model, token).read(parseRef('vault-kv', 'secret/locked#API_KEY'))); // denied path
    model.put('secret', 'app', { API_KEY: OTHER });
    await collect(open(model, token).stage(ref, new Secret(NEW), RUN, base)); // conflict
    model.failNext(10, 502);
    await collect(open(model, token).read(ref)); // 5xx
    await collect(
      open(model, token, { intercept: () => Promise.reject(Object.assign(new Error(`socket hang up ${NEW} ${token}`), { code: 'ECONNRESET' })) }).read(ref),
    );
    await collect(open(model, token, { intercept: () => Promise.reject(new Error(`weird failure carrying ${NEW} and X-Vault-Token: ${token}`)) }).read(ref));
    await collect(open(model, token).read(parseRef('vault-kv', 'secret/app#NOPE'))); // missing field
    expect(errors.length).toBeGreaterThanOrEqual(8);
    for (const error of errors) {
      const text = [error.message, error.hint ?? '', JSON.stringify(error), inspect(error, { depth: 5 })].join('\n');
      for (const needle of [INITIAL, NEW, OTHER, token, model.rootToken, model.readOnlyToken, 'hvs.NOTAREALTOKENxxxxxxxxxxxx'])
        expect(text).not.toContain(needle);
    }
  });

  it('I5: a crash between recording the intent and writing the data is finished by a resumed stage, with one new version', async () => {
    const model = seeded();
    const crashing = open(model, model.rootToken, {
      intercept: (call, forward) => {
        if (call.method === 'POST' && call.path === 'secret/data/app') throw new Error('process killed');
        return forward();
      },
    });
    await failure(crashing.stage(ref, new Secret(NEW), RUN, '1'));
    expect(model.secret('secret', 'app')!.currentVersion).toBe(1);
    const resumed = open(model, model.rootToken);
    expect(await resumed.readStaged(ref, RUN)).toBeUndefined();
    expect(await resumed.stage(ref, new Secret(NEW), RUN, '1')).toBe('2');
    expect(await resumed.stage(ref, new Secret(NEW), RUN, '1')).toBe('2');
    expect(model.secret('secret', 'app')!.currentVersion).toBe(2);
    expect((await resumed.readStaged(ref, RUN))?.value.reveal()).toBe(NEW);
  });

  it("I5: a write whose reply was lost is recognised as this run's on retry, not reported as a conflict", async () => {
    const model = seeded();
    let lost = false;
    const store = open(model, model.rootToken, {
      intercept: (call, forward) => {
        if (!lost && call.method === 'POST' && call.path === 'secret/data/app') {
          lost = true;
          forward(); // Vault wrote it; the reply never arrived.
          throw networkError('ECONNRESET');
        }
        return forward();
      },
    });
    expect(await store.stage(ref, new Secret(NEW), RUN, '1')).toBe('2');
    expect(model.secret('secret', 'app')!.currentVersion).toBe(2);
    expect(model.latest('secret', 'app')).toEqual({ API_KEY: NEW });
  });

  it('I5: a second stage of the same run with a different value is refused, never a second write', async () => {
    const model = seeded();
    const store = open(model, model.rootToken);
    await store.stage(ref, new Secret(NEW), RUN, '1');
    const error = await failure(store.stage(ref, new Secret(OTHER), RUN, '1'));
    expect(error.code).toBe('conflict');
    expect(error.message).toContain('already wrote version 2 with a different value');
    expect(model.secret('secret', 'app')!.currentVersion).toBe(2);
  });

  it("promote is a no-op for this run's current version and refuses a version it did not write", async () => {
    const model = seeded();
    const store = open(model, model.rootToken);
    const version = await store.stage(ref, new Secret(NEW), RUN, '1');
    const before = model.requests;
    await store.promote(ref, version, RUN, '1');
    expect(model.requests - before).toBe(1); // one read, no write
    const error = await failure(store.promote(ref, '7', RUN, '1'));
    expect(error.code).toBe('conflict');
    expect(error.message).toContain('version 7 was not written by this run');
  });

  it('rollback writes the previous data as the newest version, once, and a crash inside it is finished on resume', async () => {
    const model = seeded();
    model.put('secret', 'app', { API_KEY: INITIAL, COUNT: 3, NESTED: { a: [1, 2] } });
    const store = open(model, model.rootToken);
    const version = await store.stage(ref, new Secret(NEW), RUN, '2');
    await store.promote(ref, version, RUN, '2');
    expect(model.latest('secret', 'app')).toEqual({ API_KEY: NEW, COUNT: 3, NESTED: { a: [1, 2] } });

    const crashing = open(model, model.rootToken, {
      intercept: (call, forward) => {
        if (call.method === 'POST' && call.path === 'secret/data/app') throw new Error('process killed');
        return forward();
      },
    });
    await failure(crashing.rollback(ref, RUN));
    expect(model.secret('secret', 'app')!.currentVersion).toBe(3);

    await open(model, model.rootToken).rollback(ref, RUN);
    expect(model.secret('secret', 'app')!.currentVersion).toBe(4);
    expect(model.latest('secret', 'app')).toEqual({ API_KEY: INITIAL, COUNT: 3, NESTED: { a: [1, 2] } });
    await open(model, model.rootToken).rollback(ref, RUN);
    expect(model.secret('secret', 'app')!.currentVersion).toBe(4);
  });

  it('retire destroys the old version with destroyOnRetire, keeps it otherwise, and never after a rollback', async () => {
    const model = seeded();
    const destroying = open(model, model.rootToken);
    const version = await destroying.stage(ref, new Secret(NEW), RUN, '1');
    await destroying.promote(ref, version, RUN, '1');
    expect((await destroying.readPrevious(ref, RUN))?.value.reveal()).toBe(INITIAL);
    await destroying.retire(ref, RUN);
    expect(model.secret('secret', 'app')!.versions.get(1)!.destroyed).toBe(true);
    expect(await destroying.readPrevious(ref, RUN)).toBeUndefined();
    await destroying.retire(ref, RUN);

    const keeping = open(model, model.rootToken, { destroyOnRetire: false });
    const run2 = '20261125T000000Z-eeeeee';
    const v3 = await keeping.stage(ref, new Secret(OTHER), run2, '2');
    await keeping.promote(ref, v3, run2, '2');
    await keeping.retire(ref, run2);
    expect(model.version('secret', 'app', 2)).toEqual({ API_KEY: NEW });

    const run3 = '20261126T000000Z-ffffff';
    const v4 = await destroying.stage(ref, new Secret(`${NEW}-3`), run3, '3');
    await destroying.promote(ref, v4, run3, '3');
    await destroying.rollback(ref, run3);
    await destroying.retire(ref, run3);
    expect(model.version('secret', 'app', 3)).toEqual({ API_KEY: OTHER });
  });

  it('reports a deleted current version as not found, never as an empty value', async () => {
    const model = seeded();
    model.handle({ method: 'DELETE', path: 'secret/data/app', token: model.rootToken });
    const error = await failure(open(model, model.rootToken).read(ref));
    expect(error.code).toBe('not-found');
    expect(error.message).toContain('the current version 1 is deleted');
  });

  it('check names each missing policy capability in plain words and writes nothing', async () => {
    const model = seeded();
    const before = model.secret('secret', 'app')!.updatedTime;
    const readOnly = await open(model, model.readOnlyToken).check(ref);
    expect(readOnly.readable).toBe(true);
    expect(readOnly.writable).toBe(false);
    expect(readOnly.notes.join('\n')).toContain('lacks "create" and "update" on secret/data/app');
    expect(readOnly.notes.join('\n')).toContain('lacks "update" on secret/metadata/app');
    expect(readOnly.notes.join('\n')).toContain('lacks "update" on secret/destroy/app');

    const writeOnly = await open(model, model.addToken([{ path: 'secret/*', capabilities: ['create', 'update'] }])).check(ref);
    expect(writeOnly.readable).toBe(false);
    expect(writeOnly.notes.join('\n')).toContain('lacks "read" on secret/data/app');

    const rotator = await open(model, model.addToken(ROTATOR_POLICY)).check(ref);
    expect(rotator).toMatchObject({ readable: true, writable: true, notes: [] });
    expect(model.secret('secret', 'app')!.updatedTime).toBe(before);
    expect(model.secret('secret', 'app')!.customMetadata).toBeNull();
  });

  it('resolves the mount from the ref, or from the mount option when the mount has slashes', async () => {
    const model = new VaultModel();
    model.enableKv('kv/team-a');
    model.put('kv/team-a', 'web/app', { API_KEY: INITIAL });
    const store = open(model, model.rootToken, { mount: 'kv/team-a' });
    expect((await store.read(parseRef('vault-kv', 'kv/team-a/web/app#API_KEY'))).value.reveal()).toBe(INITIAL);
    expect(store.client.calls).toEqual(['GET kv/team-a/data/web/app']);
    const error = await failure(open(model, model.rootToken).read(parseRef('vault-kv', 'secret#API_KEY')));
    expect(error.code).toBe('invalid');
    const noField = await failure(open(model, model.rootToken).read(parseRef('vault-kv', 'secret/app')));
    expect(noField.message).toContain('names a field of the secret');
  });

  it('opening a store does no I/O and imports no SDK (node-vault is imported on first use)', async () => {
    const { readdir, readFile } = await import('node:fs/promises');
    const folder = new URL('../../adapters/stores/vault-kv/', import.meta.url);
    for (const name of await readdir(folder)) {
      const source = await readFile(new URL(name, folder), 'utf8');
      expect(source, name).not.toMatch(/^import[^;]*from 'node-vault'/m);
    }
    const store = vaultKv.open({}, { baseDir: process.cwd(), env: {} });
    expect(store.kind).toBe('vault-kv');
    const error = await failure(store.read(ref));
    expect(error.code).toBe('invalid');
    expect(error.message).toBe('read vault-kv:secret/app#API_KEY: no Vault address: set VAULT_ADDR or the store option address');
  });
});
