/**
 * Issue 10, the Vault items: the pre-flight (a read of the current version, then canStage against it) reads that
 * version once, and asks sys/health beside the data read instead of before it; what it reuses is the read's answer for
 * the same version only, never a stale one or a resumed run's.
 */
import { describe, expect, it } from 'vitest';
import { openVaultKvStore } from '../../adapters/stores/vault-kv/index.js';
import { Secret } from '../../src/contract/secret.js';
import { parseRef } from '../../src/contract/store.js';
import { CannotStageError } from '../../src/contract/store-errors.js';
import { fakeClient, type Interceptor } from '../fakes/vault-kv-client.js';
import { VaultModel } from '../fakes/vault-kv-model.js';

const INITIAL = 'rk_canary_INITIAL_calls_4d6f8a0c2e1b';
const NEW = 'rk_canary_NEW_calls_9b1d3f5a7c2e';
const RUN = '20261203T110000Z-cccccc';
const FAST_RETRY = { retries: 2, minTimeout: 1, maxTimeout: 2 };
const DATA = 'GET secret/data/app';

function setup(intercept?: Interceptor, mount?: string) {
  const model = new VaultModel();
  model.put('secret', 'app', { API_KEY: INITIAL, REGION: 'eu' });
  const client = fakeClient(model, model.rootToken, intercept);
  const store = openVaultKvStore({ retry: FAST_RETRY, mount, connect: async () => client });
  return { model, client, store, ref: parseRef('vault-kv', 'secret/app#API_KEY') };
}

describe('vault-kv: the pre-flight reads the current version once', () => {
  it('canStage after a read of base takes that answer: one data read, the mount lookup once, then health and capabilities', async () => {
    const { client, store, ref } = setup();
    const current = await store.read(ref);
    await expect(store.canStage(ref, RUN, current.version)).resolves.toBeUndefined();
    expect(client.calls.filter((c) => c === DATA)).toHaveLength(1);
    expect([...client.calls].sort()).toEqual(
      ['GET sys/internal/ui/mounts/secret/app', DATA, 'GET sys/health?standbyok=true&perfstandbyok=true', 'POST sys/capabilities-self'].sort(),
    );
  });

  it('takes the answer once: a second canStage reads again, and sees a writer that came in between', async () => {
    const { model, client, store, ref } = setup();
    const current = await store.read(ref);
    await store.canStage(ref, RUN, current.version);
    model.put('secret', 'app', { API_KEY: 'someone-else', REGION: 'eu' });
    const error = await store.canStage(ref, RUN, current.version).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(CannotStageError);
    expect(error).toMatchObject({ obstacle: 'base-moved' });
    expect(client.calls.filter((c) => c === DATA)).toHaveLength(2);
  });

  it('does not take the answer for another base', async () => {
    const { client, store, ref } = setup();
    await store.read(ref);
    const error = await store.canStage(ref, RUN, '0').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ obstacle: 'base-moved' });
    expect(client.calls.filter((c) => c === DATA)).toHaveLength(2);
  });

  it("reads again for a resumed run, whose own version it must check, and finds the run's version", async () => {
    const { model, client, store, ref } = setup();
    const base = (await store.read(ref)).version;
    await store.canStage(ref, RUN, base);
    await store.stage(ref, new Secret(NEW), RUN, base);
    expect(model.latest('secret', 'app')).toEqual({ API_KEY: NEW, REGION: 'eu' });
    const before = client.calls.filter((c) => c === DATA).length;
    // A resumed pre-flight reads the current version (the run's own) and asks canStage against the run's base.
    await store.read(ref);
    await expect(store.canStage(ref, RUN, base)).resolves.toBeUndefined();
    expect(client.calls.filter((c) => c === DATA).length).toBe(before + 2);
  });

  it('asks sys/health and reads the data side by side when there is no read to reuse', async () => {
    let dataStarted!: () => void;
    const started = new Promise<void>((resolve) => {
      dataStarted = resolve;
    });
    const intercept: Interceptor = async (call, forward) => {
      if (call.path === 'secret/data/app') dataStarted();
      // sys/health answers only once the data read has been sent: in sequence, the data read would never start.
      if (call.path.startsWith('sys/health')) await started;
      return forward();
    };
    const { client, store, ref } = setup(intercept);
    await expect(store.canStage(ref, RUN, '1')).resolves.toBeUndefined();
    expect(client.calls.filter((c) => c === DATA)).toHaveLength(1);
  });

  it('with the mount option, asks sys/health beside the mount lookup that still checks the mount', async () => {
    let healthSent!: () => void;
    const sent = new Promise<void>((resolve) => {
      healthSent = resolve;
    });
    const intercept: Interceptor = async (call, forward) => {
      if (call.path.startsWith('sys/health')) healthSent();
      // The mount lookup answers only once sys/health has been sent: in sequence, sys/health would never be sent.
      if (call.path.startsWith('sys/internal/ui/mounts/')) await sent;
      return forward();
    };
    const { client, store, ref } = setup(intercept, 'secret');
    await expect(store.canStage(ref, RUN, '1')).resolves.toBeUndefined();
    expect(client.calls.filter((c) => c.startsWith('GET sys/internal/ui/mounts/'))).toHaveLength(1);
  });
});
