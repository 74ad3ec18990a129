/**
 * Issue 12, the Vault items: a mount whose path has slashes is found (sys/internal/ui/mounts) instead of guessed
 * from the ref's first segment, a mount Vault will not name is said to be unknown, and a KV v1 mount or a Vault
 * before 1.9 is refused by `check` and the pre-flight (`canStage`), before anything is minted or written.
 * The Vault behaviour each case relies on is written, with its source, in test/fakes/vault-kv-model.ts.
 */
import { describe, expect, it } from 'vitest';
import { openVaultKvStore, type VaultKvStoreOptions } from '../../adapters/stores/vault-kv/index.js';
import { Secret } from '../../src/contract/secret.js';
import { parseRef } from '../../src/contract/store.js';
import { CannotStageError, StoreError } from '../../src/contract/store-errors.js';
import { fakeClient, type Interceptor } from '../fakes/vault-kv-client.js';
import { VaultModel } from '../fakes/vault-kv-model.js';

const INITIAL = 'rk_canary_INITIAL_mounts_6a2c4e8f0b1d';
const NEW = 'rk_canary_NEW_mounts_3f5b7d9e1a2c';
const RUN = '20261202T160000Z-bbbbbb';
const FAST_RETRY = { retries: 2, minTimeout: 1, maxTimeout: 2 };

function open(model: VaultModel, token: string, extra: Partial<VaultKvStoreOptions> & { intercept?: Interceptor } = {}) {
  const client = fakeClient(model, token, extra.intercept);
  const store = openVaultKvStore({ retry: FAST_RETRY, ...extra, connect: async () => client });
  return Object.assign(store, { client });
}

async function failure(promise: Promise<unknown>): Promise<StoreError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, 'expected the call to fail').toBeInstanceOf(StoreError);
  return error as StoreError;
}

/** A KV v2 mount at `team/secrets` holding web/app, and a token that may read it but not write it. */
function teamMount() {
  const model = new VaultModel();
  model.enableKv('team/secrets');
  model.put('team/secrets', 'web/app', { API_KEY: INITIAL, REGION: 'eu' });
  const token = model.addToken([{ path: 'team/secrets/data/web/*', capabilities: ['read'] }]);
  return { model, token, ref: parseRef('vault-kv', 'team/secrets/web/app#API_KEY') };
}

describe('vault-kv: the mount of a path with slashes, without the mount option', () => {
  it('is found through sys/internal/ui/mounts, once per store, and used for the data path', async () => {
    const { model, token, ref } = teamMount();
    const store = open(model, token);
    expect((await store.read(ref)).value.reveal()).toBe(INITIAL);
    expect((await store.read(ref)).version).toBe('1');
    expect(store.client.calls).toEqual(['GET sys/internal/ui/mounts/team/secrets/web/app', 'GET team/secrets/data/web/app', 'GET team/secrets/data/web/app']);
  });

  it('names the real policy path in a permission hint, not one built from the first segment', async () => {
    const { model, token, ref } = teamMount();
    const error = await failure(open(model, token).stage(ref, new Secret(NEW), RUN, '1'));
    expect(error.code).toBe('permission');
    expect(error.hint).toBe(
      'add "update" on path "team/secrets/metadata/web/app" to the token\'s Vault policy, or check that the token is valid and not expired',
    );
    expect(model.latest('team/secrets', 'web/app')).toEqual({ API_KEY: INITIAL, REGION: 'eu' });
  });

  it('says the mount is unknown, and how to set mount:, when Vault will not name it', async () => {
    const { model, ref } = teamMount();
    // A token whose policy names nothing in team/secrets: Vault answers the mount lookup with 403.
    const stranger = model.addToken([{ path: 'secret/data/*', capabilities: ['read'] }]);
    const store = open(model, stranger);
    const error = await failure(store.read(ref));
    expect(error.code).toBe('permission');
    expect(error.message).toBe(
      'read vault-kv:team/secrets/web/app#API_KEY: the mount of team/secrets/web/app is unknown: Vault would not say which mount holds it ' +
        '(sys/internal/ui/mounts/team/secrets/web/app answered 403)',
    );
    expect(error.hint).toContain('set the store option mount: to the KV v2 mount');
    expect(error.hint).toContain('if the mount is team,');
    // Nothing was asked of a path guessed from the first segment.
    expect(store.client.calls.filter((c) => !c.includes('sys/internal/ui/mounts') && !c.includes('lookup-self'))).toEqual([]);
    const check = await store.check(ref);
    expect(check).toMatchObject({ readable: false, writable: undefined });
    expect(check.notes.join(' ')).toContain('mount of team/secrets/web/app is unknown');
  });

  it('check and canStage refuse a mount option that is not the mount Vault names', async () => {
    const { model, ref } = teamMount();
    model.enableKv('team');
    const store = open(model, model.rootToken, { mount: 'team' });
    const check = await store.check(ref);
    expect(check).toMatchObject({ readable: false, writable: undefined });
    expect(check.notes).toEqual([
      'check vault-kv:team/secrets/web/app#API_KEY: the mount option says team, but Vault says team/secrets/web/app is in the mount team/secrets ' +
        '(set mount: team/secrets, or leave the option out and let rekey ask Vault)',
    ]);
    const error = await failure(store.canStage(ref, RUN, '1'));
    expect(error).toMatchObject({ obstacle: 'unusable' });
  });

  it('is not looked up with the mount option, outside check and pre-flight', async () => {
    const { model, token, ref } = teamMount();
    const store = open(model, token, { mount: 'team/secrets' });
    expect((await store.read(ref)).value.reveal()).toBe(INITIAL);
    expect(store.client.calls).toEqual(['GET team/secrets/data/web/app']);
  });
});

describe('vault-kv: a KV version 1 mount is refused at check and pre-flight', () => {
  function legacy() {
    const model = new VaultModel();
    model.enableKv('legacy', '', 1);
    model.putV1('legacy', 'web/app', { API_KEY: INITIAL });
    return { model, ref: parseRef('vault-kv', 'legacy/web/app#API_KEY') };
  }

  for (const mount of [undefined, 'legacy']) {
    it(`check and canStage say it is KV v1 and how to upgrade it (mount option ${mount ?? 'absent'})`, async () => {
      const { model, ref } = legacy();
      const store = open(model, model.rootToken, { mount });
      const check = await store.check(ref);
      expect(check).toMatchObject({ readable: false, writable: undefined });
      expect(check.notes).toEqual([
        'check vault-kv:legacy/web/app#API_KEY: the mount legacy is KV version 1: rekey needs KV v2 (versions, check-and-set and custom_metadata) ' +
          '(upgrade it with `vault kv enable-versioning legacy`, once its policies name legacy/data/… instead of legacy/…)',
      ]);
      const error = await failure(store.canStage(ref, RUN, '1'));
      expect(error).toBeInstanceOf(CannotStageError);
      expect(error).toMatchObject({ obstacle: 'unusable' });
      expect(error.message).toContain('KV version 1: rekey needs KV v2');
      expect(error.hint).toContain('vault kv enable-versioning legacy');
      expect(store.client.calls.filter((c) => c.startsWith('POST'))).toEqual([]);
    });
  }

  it('a read without the mount option says so too, instead of "no secret"', async () => {
    const { model, ref } = legacy();
    const error = await failure(open(model, model.rootToken).read(ref));
    expect(error.code).toBe('invalid');
    expect(error.message).toContain('the mount legacy is KV version 1');
  });
});

describe('vault-kv: a Vault before 1.9 (no custom_metadata on KV v2 reads) is refused at pre-flight', () => {
  function oldVault() {
    const model = new VaultModel();
    model.serverVersion = '1.8.12';
    model.put('secret', 'app', { API_KEY: INITIAL });
    return { model, ref: parseRef('vault-kv', 'secret/app#API_KEY') };
  }

  it('names the version sys/health reports, and writes nothing', async () => {
    const { model, ref } = oldVault();
    const store = open(model, model.rootToken);
    const error = await failure(store.canStage(ref, RUN, '1'));
    expect(error).toBeInstanceOf(CannotStageError);
    expect(error).toMatchObject({ obstacle: 'unusable' });
    expect(error.message).toBe(
      'pre-flight vault-kv:secret/app#API_KEY: cannot stage: Vault 1.8.12 is older than 1.9: its KV v2 reads carry no custom_metadata, ' +
        'where rekey records each run so that a resumed run finds its version',
    );
    expect(error.hint).toBe('upgrade Vault to 1.9 or later');
    expect(store.client.calls.filter((c) => c.startsWith('POST'))).toEqual([]);
  });

  it('is told from the data read itself when sys/health does not answer', async () => {
    const { model, ref } = oldVault();
    const unreachable: Interceptor = (call, forward) => {
      if (call.path.startsWith('sys/health')) throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
      return forward();
    };
    const store = open(model, model.rootToken, { intercept: unreachable });
    const error = await failure(store.canStage(ref, RUN, '1'));
    expect(error).toMatchObject({ obstacle: 'unusable' });
    expect(error.message).toContain('this Vault is older than 1.9');
    // stage refuses as well, before it records or writes anything.
    const staged = await failure(store.stage(ref, new Secret(NEW), RUN, '1'));
    expect(staged.message).toContain('this Vault is older than 1.9');
    expect(model.secret('secret', 'app')!.currentVersion).toBe(1);
  });

  it('a Vault of 1.9 or later passes', async () => {
    const model = new VaultModel();
    model.serverVersion = '1.9.0';
    model.put('secret', 'app', { API_KEY: INITIAL });
    await expect(open(model, model.rootToken).canStage(parseRef('vault-kv', 'secret/app#API_KEY'), RUN, '1')).resolves.toBeUndefined();
  });
});
