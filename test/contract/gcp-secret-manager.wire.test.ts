/**
 * The GCP Secret Manager adapter with the real `SecretManagerServiceClient` (built by the adapter itself from the
 * `endpoint` option) against a local gRPC server that serves the service's own .proto files over the in-memory
 * model. This is the layer that catches what a hand-written fake cannot: field names, int64 and enum encodings,
 * update masks, pagination, and the SDK's own retry settings.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openGcpSecretManagerStore, type GcpSecretManagerStore } from '../../adapters/stores/gcp-secret-manager/index.js';
import { Secret } from '../../src/contract/secret.js';
import { parseRef } from '../../src/contract/store.js';
import type { StoreError } from '../../src/contract/store-errors.js';
import { Code, SecretManagerModel } from '../fakes/gcp-secret-manager-model.js';
import { start, type GcpSecretManagerServer } from '../fakes/gcp-secret-manager-server.js';
import { storeContract } from './suite.js';

const KIND = 'gcp-secret-manager';
const PROJECT = 'rekey-wire';
const INITIAL = 'rk_canary_INITIAL_4b1d7e2a9c8f3e6d';
const NEW = 'rk_canary_NEW_3c2b1a09f8e7d6c5b4a3';
const RUN = '20261124T024512Z-aaaaaa';
const context = { baseDir: process.cwd(), env: {} };
const secretPath = (name: string) => `projects/${PROJECT}/secrets/${name}`;

for (const mode of ['alias', 'latest'] as const) {
  storeContract(`gcp-secret-manager (real SDK client over gRPC to a local server, readers of ${mode === 'alias' ? 'the alias' : 'latest'})`, async () => {
    const server = await start(new SecretManagerModel());
    const { model } = server;
    const siblings = { DATABASE_URL: 'postgres://db.internal/app', REGION: 'europe-west1' };
    const aliasOptions = mode === 'alias' ? { aliases: { current: 1 } } : {};
    model.seed(secretPath('app'), [JSON.stringify({ API_KEY: INITIAL })], aliasOptions);
    model.seed(secretPath('shared'), [JSON.stringify({ ...siblings, API_KEY: INITIAL })], aliasOptions);
    model.seed(secretPath('locked'), [JSON.stringify({ API_KEY: INITIAL })], aliasOptions);
    // IAM is per resource: a deny on this one secret, whoever calls.
    model.deniedResources.add(secretPath('locked'));
    const stores: GcpSecretManagerStore[] = [];
    const open = () => {
      const store = openGcpSecretManagerStore({ project: PROJECT, alias: mode === 'alias' ? 'current' : 'latest', endpoint: server.endpoint }, context);
      stores.push(store);
      return store;
    };
    const readable = (name: string) => model.payload(name, mode === 'alias' ? 'current' : 'latest')!;
    const store = open();
    return {
      store,
      reopen: open,
      ref: parseRef(KIND, `${secretPath('app')}#API_KEY`),
      fieldRef: parseRef(KIND, 'shared#API_KEY'),
      siblings,
      missingRef: parseRef(KIND, 'absent#API_KEY'),
      initial: INITIAL,
      async concurrentWrite(ref, value) {
        const name = ref.path.startsWith('projects/') ? ref.path : secretPath(ref.path);
        const payload = JSON.parse(readable(name)) as Record<string, string>;
        model.write(name, JSON.stringify({ ...payload, [ref.field!]: value }), mode === 'alias' ? { moveAlias: 'current' } : {});
      },
      async rawSiblings() {
        const { API_KEY: _, ...rest } = JSON.parse(readable(secretPath('shared'))) as Record<string, string>;
        return rest;
      },
      async snapshot() {
        return ['app', 'shared'].map((name) => ({ secret: model.secret(secretPath(name)), versions: model.versions(secretPath(name)) }));
      },
      denied: { store, ref: parseRef(KIND, `${secretPath('locked')}#API_KEY`) },
      async close() {
        // Close every client's channel before the server, so that nothing keeps the test process alive.
        await Promise.all(stores.map((s) => s.close()));
        await server.close();
      },
    };
  });
}

describe('gcp-secret-manager adapter over the wire', () => {
  let server: GcpSecretManagerServer;
  const stores: GcpSecretManagerStore[] = [];
  const open = (options: Record<string, unknown> = {}) => {
    const store = openGcpSecretManagerStore({ project: PROJECT, endpoint: server.endpoint, ...options }, context);
    stores.push(store);
    return store;
  };
  let counter = 0;
  /** A fresh secret holding the initial value, with the alias on it. */
  const fresh = () => {
    const name = secretPath(`wire-${++counter}`);
    server.model.seed(name, [JSON.stringify({ API_KEY: INITIAL })], { aliases: { current: 1 } });
    return { name, ref: parseRef(KIND, `${name}#API_KEY`) };
  };

  beforeAll(async () => {
    server = await start();
  });
  afterAll(async () => {
    await Promise.all(stores.map((s) => s.close()));
    await server.close();
  });

  it('turns the SDK’s own retries off, so that ours (with jitter) do not multiply with them', async () => {
    const { ref } = fresh();
    const before = server.model.callCount('AccessSecretVersion');
    server.model.failNext('AccessSecretVersion', Code.UNAVAILABLE, 2);
    expect((await open().read(ref)).value.reveal()).toBe(INITIAL);
    expect(server.model.callCount('AccessSecretVersion') - before).toBe(3);
    // Five failures use up exactly our five attempts; had the SDK retried underneath, the read would succeed.
    server.model.failNext('AccessSecretVersion', Code.UNAVAILABLE, 5);
    const error = (await open()
      .read(ref)
      .catch((e: unknown) => e)) as StoreError;
    expect(error.code).toBe('unavailable');
    expect(server.model.callCount('AccessSecretVersion') - before).toBe(8);
  }, 20_000);

  it('a full rotation over gRPC: alias moved with the etag, run recorded, old version disabled', async () => {
    const { name, ref } = fresh();
    const store = open();
    const current = await store.read(ref);
    expect(current.version).toBe('1');
    expect(current.createdAt).toBeInstanceOf(Date);
    const version = await store.stage(ref, new Secret(NEW), RUN, current.version);
    expect(await open().stage(ref, new Secret(NEW), RUN, current.version)).toBe(version);
    await store.promote(ref, version, RUN, current.version);
    expect(server.model.secret(name).versionAliases).toEqual({ current: '2' });
    expect((await store.read(ref)).run).toBe(RUN);
    await store.retire(ref, RUN);
    expect(server.model.versions(name)).toEqual([
      { number: 1, state: 'DISABLED' },
      { number: 2, state: 'ENABLED' },
    ]);
  });

  it('sends data_crc32c through the real client and refuses a payload whose checksum does not match, over gRPC', async () => {
    const { name, ref } = fresh();
    const store = open();
    const version = await store.stage(ref, new Secret(NEW), RUN, '1');
    expect(server.model.clientChecksum(name, version)).toBe(true);
    server.model.corrupt(name, 1);
    const error = (await store.read(ref).catch((e: unknown) => e)) as StoreError;
    expect(error.code).toBe('failed');
    expect(error.message).toContain('CRC32C');
  }, 20_000);

  it('reads scheduled_destroy_time through the real client: a delayed destroy is asked for once, over gRPC', async () => {
    const name = secretPath(`wire-ttl-${++counter}`);
    server.model.seed(name, [JSON.stringify({ API_KEY: INITIAL })], { aliases: { current: 1 }, versionDestroyTtlSeconds: 3_600 });
    const ref = parseRef(KIND, `${name}#API_KEY`);
    const store = open({ retire: 'destroy' });
    const version = await store.stage(ref, new Secret(NEW), RUN, '1');
    await store.promote(ref, version, RUN, '1');
    const before = server.model.callCount('DestroySecretVersion');
    await store.retire(ref, RUN);
    await open({ retire: 'destroy' }).retire(ref, RUN);
    expect(server.model.callCount('DestroySecretVersion') - before).toBe(1);
    expect(server.model.versions(name)[0]).toEqual({ number: 1, state: 'DISABLED' });
    expect(server.model.scheduledDestroy(name, 1)).toBeInstanceOf(Date);
  });

  it('a regional secret over gRPC: the real client speaks its projects/*/locations/*/secrets/* names', async () => {
    const name = `projects/${PROJECT}/locations/us-central1/secrets/wire-regional-${++counter}`;
    server.model.seed(name, [JSON.stringify({ API_KEY: INITIAL })], { aliases: { current: 1 } });
    const ref = parseRef(KIND, `${name}#API_KEY`);
    const store = open();
    const version = await store.stage(ref, new Secret(NEW), RUN, '1');
    await store.promote(ref, version, RUN, '1');
    await store.retire(ref, RUN);
    expect((await store.read(ref)).value.reveal()).toBe(NEW);
    expect(server.model.versions(name)).toEqual([
      { number: 1, state: 'DISABLED' },
      { number: 2, state: 'ENABLED' },
    ]);
  });

  it('rotates one field of an awkward JSON payload changing only that value’s bytes, over gRPC (defect 11)', async () => {
    // A BOM, CRLF and tabs, a big integer, 1.50, 1e400, escapes, and a duplicate key whose last occurrence counts.
    const doc = (value: string) =>
      `\ufeff{\r\n\t"id": 12345678901234567890,\r\n\t"price": 1.50, "huge": 1e400,\r\n\t"name": "caf\\u00e9 \\/ x",\r\n\t"API_KEY": ` +
      `"shadowed-first-0000",\r\n\t"API_KEY" : ${JSON.stringify(value)}\r\n}\r\n`;
    const name = secretPath(`awkward-${++counter}`);
    server.model.seed(name, [doc(INITIAL)], { aliases: { current: 1 } });
    const ref = parseRef(KIND, `${name}#API_KEY`);
    const store = open();
    expect((await store.read(ref)).value.reveal()).toBe(INITIAL);
    const version = await store.stage(ref, new Secret(NEW), RUN, '1');
    await store.promote(ref, version, RUN, '1');
    expect(Buffer.from(server.model.payload(name, 'current')!, 'utf8').equals(Buffer.from(doc(NEW), 'utf8'))).toBe(true);
    expect((await store.read(ref)).value.reveal()).toBe(NEW);
    await store.rollback(ref, RUN);
    expect(server.model.payload(name, 'latest')).toBe(doc(INITIAL));
  });

  it('rollback over gRPC gives latest readers the old value back', async () => {
    const { name, ref } = fresh();
    const store = open();
    const version = await store.stage(ref, new Secret(NEW), RUN, '1');
    await store.promote(ref, version, RUN, '1');
    await store.rollback(ref, RUN);
    expect(JSON.parse(server.model.payload(name, 'latest')!)).toEqual({ API_KEY: INITIAL });
    expect(server.model.secret(name).versionAliases).toEqual({ current: '1' });
  });

  it('a permission failure over gRPC names the permission and is not retried', async () => {
    const { name, ref } = fresh();
    server.model.deniedResources.add(name);
    const before = server.model.callCount('GetSecret');
    const error = (await open()
      .read(ref)
      .catch((e: unknown) => e)) as StoreError;
    expect(error.code).toBe('permission');
    expect(error.message).toContain('secretmanager.secrets.get');
    expect(server.model.callCount('GetSecret') - before).toBe(1);
  });

  it('the server takes the caller from the authorization header, so a denied principal is denied', async () => {
    const { name } = fresh();
    server.model.deniedPrincipals.add('mallory');
    const grpc = await import('@grpc/grpc-js');
    const { SecretManagerServiceClient } = await import('@google-cloud/secret-manager');
    const sdk = new SecretManagerServiceClient({
      apiEndpoint: '127.0.0.1',
      port: server.port,
      sslCreds: grpc.credentials.createInsecure(),
      universeDomain: 'googleapis.com',
    });
    try {
      const asMallory = { retry: null, otherArgs: { headers: { authorization: 'Bearer mallory' } } };
      await expect(sdk.getSecret({ name }, asMallory)).rejects.toMatchObject({ code: Code.PERMISSION_DENIED });
      const [secret] = await sdk.getSecret({ name }, { retry: null });
      expect(secret.versionAliases).toMatchObject({ current: expect.anything() });
    } finally {
      await sdk.close();
    }
  });

  it('an unreachable endpoint is a typed unavailable error, not a hang', async () => {
    const closed = await start();
    const endpoint = closed.endpoint;
    await closed.close();
    const store = open({ endpoint });
    const error = (await store.read(fresh().ref).catch((e: unknown) => e)) as StoreError;
    expect(error.code).toBe('unavailable');
  }, 30_000);
});
