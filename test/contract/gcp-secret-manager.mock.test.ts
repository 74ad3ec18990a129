/**
 * The GCP Secret Manager adapter over a hand-written SDK-level fake: the narrow client interface, served by the
 * in-memory model of the service. The contract suite runs twice (readers of an alias, readers of `latest`), then
 * unit tests pin what only this store has: no second version after a crash, `latest` readers after a rollback,
 * retries, permission hints, and no value in any error.
 */
import { describe, expect, it } from 'vitest';
import gcpAdapter, {
  openGcpSecretManagerStore,
  type GcpSecretInfo,
  type GcpSecretManagerClient,
  type GcpSecretManagerStore,
  type GcpVersionInfo,
} from '../../adapters/stores/gcp-secret-manager/index.js';
import { Secret } from '../../src/contract/secret.js';
import { parseRef, type StoreRef } from '../../src/contract/store.js';
import { StoreError } from '../../src/contract/store-errors.js';
import { Code, ModelError, SecretManagerModel, type SecretMessage, type SecretVersionMessage } from '../fakes/gcp-secret-manager-model.js';
import { storeContract } from './suite.js';

const KIND = 'gcp-secret-manager';
const PROJECT = 'rekey-test';
const INITIAL = 'rk_canary_INITIAL_4b1d7e2a9c8f3e6d';
const NEW = 'rk_canary_NEW_9e1f2a3b4c5d6e7f8091';
const OTHER = 'rk_canary_OTHER_1a2b3c4d5e6f70819a';
const SIBLING = 'rk_canary_SIBLING_77aa88bb99cc00dd';
const RUN = '20261124T024512Z-aaaaaa';
const context = { baseDir: process.cwd(), env: {} };

const secretPath = (name: string) => `projects/${PROJECT}/secrets/${name}`;

/** The SDK-level fake: each call goes to the model as the given principal, and converts messages as the SDK would. */
class FakeClient implements GcpSecretManagerClient {
  closed = false;
  constructor(
    readonly model: SecretManagerModel,
    readonly principal = 'rekey@rekey-test.iam.gserviceaccount.com',
  ) {}
  async getSecret(name: string) {
    return info(await this.model.getSecret({ name }, this.principal));
  }
  async updateSecret(
    update: { name: string; etag: string; versionAliases?: Readonly<Record<string, number>>; annotations?: Readonly<Record<string, string>> },
    paths: readonly string[],
  ) {
    const secret: Partial<SecretMessage> = { name: update.name, etag: update.etag };
    if (update.versionAliases !== undefined) secret.versionAliases = Object.fromEntries(Object.entries(update.versionAliases).map(([k, v]) => [k, String(v)]));
    if (update.annotations !== undefined) secret.annotations = { ...update.annotations };
    return info(await this.model.updateSecret({ secret, updateMask: { paths: [...paths] } }, this.principal));
  }
  async addSecretVersion(parent: string, data: Buffer, dataCrc32c: number) {
    return version(await this.model.addSecretVersion({ parent, payload: { data, dataCrc32c: String(dataCrc32c) } }, this.principal));
  }
  async accessSecretVersion(name: string): Promise<{ number: number; data: Buffer; dataCrc32c?: number | undefined }> {
    const response = await this.model.accessSecretVersion({ name }, this.principal);
    return { number: Number(response.name.split('/').pop()), data: response.payload.data, dataCrc32c: Number(response.payload.dataCrc32c) };
  }
  async getSecretVersion(name: string) {
    return version(await this.model.getSecretVersion({ name }, this.principal));
  }
  async listSecretVersions(parent: string) {
    const all: GcpVersionInfo[] = [];
    let pageToken = '';
    do {
      const page = await this.model.listSecretVersions({ parent, pageToken, pageSize: 2 }, this.principal);
      all.push(...page.versions.map(version));
      pageToken = page.nextPageToken;
    } while (pageToken !== '');
    return all;
  }
  async disableSecretVersion(name: string, etag: string) {
    return version(await this.model.disableSecretVersion({ name, etag }, this.principal));
  }
  async destroySecretVersion(name: string, etag: string) {
    return version(await this.model.destroySecretVersion({ name, etag }, this.principal));
  }
  async testIamPermissions(resource: string, permissions: readonly string[]) {
    return (await this.model.testIamPermissions({ resource, permissions: [...permissions] }, this.principal)).permissions;
  }
  async close() {
    this.closed = true;
  }
}

function info(s: SecretMessage): GcpSecretInfo {
  return {
    name: s.name,
    etag: s.etag,
    versionAliases: Object.fromEntries(Object.entries(s.versionAliases).map(([k, v]) => [k, Number(v)])),
    annotations: s.annotations,
  };
}

function version(v: SecretVersionMessage): GcpVersionInfo {
  return {
    number: Number(v.name.split('/').pop()),
    state: v.state,
    etag: v.etag,
    createTime: new Date(Number(v.createTime.seconds) * 1000 + v.createTime.nanos / 1e6),
    scheduledDestroyTime: v.scheduledDestroyTime === undefined ? undefined : new Date(Number(v.scheduledDestroyTime.seconds) * 1000),
  };
}

interface Fixture {
  model: SecretManagerModel;
  open(options?: Record<string, unknown>, client?: GcpSecretManagerClient): GcpSecretManagerStore;
  ref: StoreRef;
  name: string;
}

/** A model with `app` seeded (old value, then the initial one; the alias, when used, on the initial one). */
function fixture(mode: 'alias' | 'latest' | 'alias-missing' = 'alias'): Fixture {
  const model = new SecretManagerModel();
  const name = secretPath('app');
  model.seed(
    name,
    [JSON.stringify({ API_KEY: 'rk_old_value_000000000000' }), JSON.stringify({ API_KEY: INITIAL })],
    mode === 'alias' ? { aliases: { current: 2 } } : {},
  );
  const alias = mode === 'latest' ? 'latest' : 'current';
  return {
    model,
    name,
    ref: parseRef(KIND, `${name}#API_KEY`),
    open: (options = {}, client = new FakeClient(model)) => openGcpSecretManagerStore({ project: PROJECT, alias, ...options }, context, client),
  };
}

const fieldOf = (payload: string | undefined) => (payload === undefined ? undefined : (JSON.parse(payload) as Record<string, string>)['API_KEY']);

for (const mode of ['alias', 'latest'] as const) {
  storeContract(`gcp-secret-manager (SDK-level fake, readers of ${mode === 'alias' ? 'the alias' : 'latest'})`, async () => {
    const model = new SecretManagerModel();
    const siblings = { DATABASE_URL: 'postgres://db.internal/app', REGION: 'europe-west1' };
    const aliasOptions = mode === 'alias' ? { aliases: { current: 1 } } : {};
    model.seed(secretPath('app'), [JSON.stringify({ API_KEY: INITIAL })], aliasOptions);
    model.seed(secretPath('shared'), [JSON.stringify({ ...siblings, API_KEY: INITIAL })], aliasOptions);
    model.seed(secretPath('locked'), [JSON.stringify({ API_KEY: INITIAL })], aliasOptions);
    model.deniedPrincipals.add('mallory@rekey-test.iam.gserviceaccount.com');
    const options = { project: PROJECT, alias: mode === 'alias' ? 'current' : 'latest' };
    const open = () => openGcpSecretManagerStore(options, context, new FakeClient(model));
    const readable = (name: string) => model.payload(name, mode === 'alias' ? 'current' : 'latest')!;
    return {
      store: open(),
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
      denied: {
        store: openGcpSecretManagerStore(options, context, new FakeClient(model, 'mallory@rekey-test.iam.gserviceaccount.com')),
        ref: parseRef(KIND, `${secretPath('locked')}#API_KEY`),
      },
      async close() {},
    };
  });
}

/** The StoreError a call fails with. */
async function failureOf(promise: Promise<unknown>): Promise<StoreError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, 'expected the call to fail').toBeInstanceOf(StoreError);
  return error as StoreError;
}

describe('gcp-secret-manager adapter (SDK-level fake)', () => {
  it('canStage names the write permissions the account lacks, asked of TestIamPermissions, and writes nothing (defect 5)', async () => {
    const f = fixture();
    const reader = 'reader@rekey-test.iam.gserviceaccount.com';
    f.model.restricted.set(
      reader,
      new Set(['secretmanager.secrets.get', 'secretmanager.versions.access', 'secretmanager.versions.get', 'secretmanager.versions.list']),
    );
    const store = f.open({}, new FakeClient(f.model, reader));
    const base = (await store.read(f.ref)).version;
    const error = await failureOf(store.canStage(f.ref, RUN, base));
    expect(error).toMatchObject({ code: 'permission', obstacle: 'permission' });
    expect(error.message).toContain('secretmanager.versions.add');
    expect(error.message).toContain('secretmanager.secrets.update');
    expect(error.hint).toContain('roles/secretmanager.secretVersionAdder');
    expect(f.model.callCount('AddSecretVersion') + f.model.callCount('UpdateSecret')).toBe(0);
  });

  it('canStage refuses a current version that is disabled, which stage could not build on (defect 5)', async () => {
    const f = fixture();
    const store = f.open();
    const base = (await store.read(f.ref)).version;
    const version = await f.model.getSecretVersion({ name: `${f.name}/versions/${base}` });
    await f.model.disableSecretVersion({ name: `${f.name}/versions/${base}`, etag: version.etag });
    const error = await failureOf(store.canStage(f.ref, RUN, base));
    expect(error).toMatchObject({ obstacle: 'unusable' });
    expect(error.hint).toContain(`gcloud secrets versions enable ${base} --secret=app`);
  });

  it('stage and canStage refuse another run’s unfinished staged version beside the alias, naming that run (defect 5)', async () => {
    const f = fixture();
    const base = (await f.open().read(f.ref)).version;
    const other = '20261124T030000Z-bbbbbb';
    const staged = await f.open().stage(f.ref, new Secret(OTHER), other, base);
    const error = await failureOf(f.open().canStage(f.ref, RUN, base));
    expect(error).toMatchObject({ code: 'conflict', obstacle: 'staged-by-another' });
    expect(error.message).toContain(`run ${other} staged version ${staged}`);
    expect(error.hint).toContain(`rekey rollback ${other}`);
    expect((await failureOf(f.open().stage(f.ref, new Secret(NEW), RUN, base))).code).toBe('conflict');
    // Once that run is rolled back, nothing stands in the way.
    await f.open().rollback(f.ref, other);
    await f.open().canStage(f.ref, RUN, base);
  });

  it('describe names the version readers get, its create time and the run that promoted it, without accessing a payload', async () => {
    const f = fixture();
    const store = f.open();
    const before = await store.describe!(f.ref);
    expect(before?.version).toBe('2');
    expect(before?.createdAt).toBeInstanceOf(Date);
    expect(before?.run).toBeUndefined();
    const base = (await store.read(f.ref)).version;
    const version = await store.stage(f.ref, new Secret(NEW), RUN, base);
    await store.promote(f.ref, version, RUN, base);
    const accesses = f.model.callCount('AccessSecretVersion');
    const after = await store.describe!(f.ref);
    expect(after).toMatchObject({ version: '3', run: RUN });
    expect(f.model.callCount('AccessSecretVersion')).toBe(accesses);
    expect(await store.describe!(parseRef(KIND, `${secretPath('absent')}#API_KEY`))).toBeUndefined();
  });

  it('validateRef takes a full secret name or a bare one, and refuses what Secret Manager cannot name', () => {
    for (const text of [`${secretPath('app')}#API_KEY`, `projects/${PROJECT}/locations/europe-west1/secrets/app#API_KEY`, 'app-config#API_KEY', 'app_config']) {
      expect(gcpAdapter.validateRef(parseRef(KIND, text)), text).toBeUndefined();
    }
    expect(gcpAdapter.validateRef(parseRef(KIND, 'app.config#API_KEY'))).toContain('bare secret name');
    expect(gcpAdapter.validateRef(parseRef(KIND, 'projects/p/secrets/a/versions/3#API_KEY'))).toContain('projects/PROJECT/secrets/NAME');
    expect(gcpAdapter.validateRef(parseRef(KIND, 'app#'))).toContain('nothing after "#"');
    expect(gcpAdapter.validateRef(parseRef(KIND, 'projects/p/locations/Bad_Loc/secrets/a'))).toContain('projects/PROJECT/locations/LOCATION/secrets/NAME');
    expect(gcpAdapter.validateRef(parseRef(KIND, 'projects/p/locations/us-east1/secrets/a/versions/3'))).toContain('projects/PROJECT/secrets/NAME');
  });

  it('rotates a regional secret (projects/*/locations/*/secrets/*), named in full or by a bare name with the location option', async () => {
    const f = fixture();
    const name = `projects/${PROJECT}/locations/europe-west1/secrets/regional`;
    f.model.seed(name, [JSON.stringify({ API_KEY: INITIAL })], { aliases: { current: 1 } });
    for (const [store, ref] of [
      [f.open(), parseRef(KIND, `${name}#API_KEY`)],
      [f.open({ location: 'europe-west1' }), parseRef(KIND, 'regional#API_KEY')],
    ] as const) {
      const run = `${RUN}${ref.path === name ? '1' : '2'}`;
      const base = (await store.read(ref)).version;
      const version = await store.stage(ref, new Secret(`${NEW}${run}`), run, base);
      await store.promote(ref, version, run, base);
      await store.retire(ref, run);
      expect((await store.read(ref)).value.reveal()).toBe(`${NEW}${run}`);
      expect(f.model.versions(name).find((v) => v.number === Number(base))?.state).toBe('DISABLED');
    }
    // A hint names the location, since gcloud needs it for a regional secret.
    const other = '20261124T030000Z-bbbbbb';
    const base = (await f.open().read(parseRef(KIND, `${name}#API_KEY`))).version;
    await f.open().stage(parseRef(KIND, `${name}#API_KEY`), new Secret(OTHER), other, base);
    const error = await failureOf(f.open().canStage(parseRef(KIND, `${name}#API_KEY`), RUN, base));
    expect(error.hint).toContain('--secret=regional --location=europe-west1');
    expect(() => f.open({ location: 'Europe West' })).toThrow(/option location/);
  });

  it('I5: a second stage after a crash adds no second version', async () => {
    const f = fixture();
    const base = (await f.open().read(f.ref)).version;
    const first = await f.open().stage(f.ref, new Secret(NEW), RUN, base);
    // The process died here; a resumed run opens a fresh store and stages the same value again.
    const again = await f.open().stage(f.ref, new Secret(NEW), RUN, base);
    expect(again).toBe(first);
    expect(f.model.versions(f.name)).toHaveLength(3);
    expect(f.model.callCount('AddSecretVersion')).toBe(1);
    // Readers of the alias still see the old value; the run's record is on the secret.
    expect(fieldOf(f.model.payload(f.name, 'current'))).toBe(INITIAL);
    expect(Object.keys(f.model.secret(f.name).annotations)).toEqual([`rekey.${RUN}.API_KEY`]);
  });

  it('I5: when the answer to AddSecretVersion is lost, the retry finds the version instead of adding another', async () => {
    const f = fixture();
    const client = new FakeClient(f.model);
    const add = client.addSecretVersion.bind(client);
    let lost = 0;
    client.addSecretVersion = async (parent, data, checksum) => {
      const added = await add(parent, data, checksum);
      if (lost++ === 0) throw new ModelError(Code.UNAVAILABLE, 'connection reset after the write');
      return added;
    };
    const store = f.open({}, client);
    const version = await store.stage(f.ref, new Secret(NEW), RUN, '2');
    expect(version).toBe('3');
    expect(f.model.versions(f.name)).toHaveLength(3);
    expect(f.model.callCount('AddSecretVersion')).toBe(1);
  });

  it('I5: a crash between recording the run and adding the version leaves a run that adds exactly one', async () => {
    const f = fixture();
    const client = new FakeClient(f.model);
    client.addSecretVersion = async () => {
      throw new Error('process killed');
    };
    await expect(f.open({}, client).stage(f.ref, new Secret(NEW), RUN, '2')).rejects.toBeInstanceOf(StoreError);
    expect(f.model.versions(f.name)).toHaveLength(2);
    const resumed = f.open();
    expect(await resumed.readStaged(f.ref, RUN)).toBeUndefined();
    expect(await resumed.stage(f.ref, new Secret(NEW), RUN, '2')).toBe('3');
    expect(await f.open().stage(f.ref, new Secret(NEW), RUN, '2')).toBe('3');
    expect(f.model.versions(f.name)).toHaveLength(3);
  });

  it('a resumed run that brings a different value is refused, never staged beside the first', async () => {
    const f = fixture();
    await f.open().stage(f.ref, new Secret(NEW), RUN, '2');
    const error = await f
      .open()
      .stage(f.ref, new Secret(OTHER), RUN, '2')
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreError);
    expect((error as StoreError).code).toBe('conflict');
    expect(f.model.versions(f.name)).toHaveLength(3);
  });

  it('stage over a stale base is a conflict and adds nothing', async () => {
    const f = fixture();
    f.model.write(f.name, JSON.stringify({ API_KEY: OTHER }), { moveAlias: 'current' });
    const error = (await f
      .open()
      .stage(f.ref, new Secret(NEW), RUN, '2')
      .catch((e: unknown) => e)) as StoreError;
    expect(error.code).toBe('conflict');
    expect(error.message).toContain('current version is 3, expected 2');
    expect(f.model.versions(f.name)).toHaveLength(3);
  });

  it('promote moves the alias with the etag as compare-and-swap, and records the version', async () => {
    const f = fixture();
    const store = f.open();
    const version = await store.stage(f.ref, new Secret(NEW), RUN, '2');
    await store.promote(f.ref, version, RUN, '2');
    const secret = f.model.secret(f.name);
    expect(secret.versionAliases).toEqual({ current: '3' });
    expect(JSON.parse(secret.annotations[`rekey.${RUN}.API_KEY`]!)).toMatchObject({ version: 3, base: 2, state: 'promoted' });
    expect((await store.read(f.ref)).run).toBe(RUN);
  });

  it('an etag mismatch is FAILED_PRECONDITION, as Google documents: promote and retire read again and succeed', async () => {
    const f = fixture();
    const store = f.open();
    const version = await store.stage(f.ref, new Secret(NEW), RUN, '2');
    // Another writer changes the secret's labels (so its etag), then the old version's state (so its etag), between
    // the adapter's read and its write.
    const raced = { updates: 0, disables: 0 };
    const racing = new (class extends FakeClient {
      override async updateSecret(...args: Parameters<FakeClient['updateSecret']>) {
        if (raced.updates++ === 0) await this.model.updateSecret({ secret: { name: f.name, labels: { team: 'other' } }, updateMask: { paths: ['labels'] } });
        return super.updateSecret(...args);
      }
      override async disableSecretVersion(name: string, etag: string) {
        if (raced.disables++ === 0) await this.model.enableSecretVersion({ name });
        return super.disableSecretVersion(name, etag);
      }
    })(f.model);
    await f.open({}, racing).promote(f.ref, version, RUN, '2');
    expect(f.model.secret(f.name).versionAliases).toEqual({ current: '3' });
    await f.open({}, racing).retire(f.ref, RUN);
    expect(f.model.versions(f.name)[1]).toEqual({ number: 2, state: 'DISABLED' });
    expect(raced).toEqual({ updates: 2, disables: 2 });
  });

  it('FAILED_PRECONDITION naming a version state is not a conflict, even on a call that sent an etag', async () => {
    const f = fixture();
    await f.model.destroySecretVersion({ name: `${f.name}/versions/1` });
    f.model.failNext('AccessSecretVersion', Code.FAILED_PRECONDITION, 1, 'Precondition check failed.');
    expect((await failureOf(f.open().read(f.ref))).code).toBe('failed');
  });

  it('sends data_crc32c with every new version, and a payload that fails its checksum is an error, never a value', async () => {
    const f = fixture();
    const store = f.open();
    const version = await store.stage(f.ref, new Secret(NEW), RUN, '2');
    expect(f.model.clientChecksum(f.name, version)).toBe(true);
    f.model.corrupt(f.name, 2);
    const error = await failureOf(store.read(f.ref));
    expect(error.code).toBe('failed');
    expect(error.message).toContain('CRC32C');
    expect(error.message).not.toContain(INITIAL.slice(1));
    // Retried (a transfer may be damaged once), then refused.
    expect(f.model.callCount('AccessSecretVersion')).toBeGreaterThan(1);
    await expect(store.promote(f.ref, version, RUN, '2')).resolves.toBeUndefined();
    expect((await store.read(f.ref)).value.reveal()).toBe(NEW);
  }, 20_000);

  it('promote refuses when a version was added after the run’s, even if the alias was not moved', async () => {
    const f = fixture();
    const store = f.open();
    const version = await store.stage(f.ref, new Secret(NEW), RUN, '2');
    f.model.write(f.name, JSON.stringify({ API_KEY: OTHER }));
    const error = (await store.promote(f.ref, version, RUN, '2').catch((e: unknown) => e)) as StoreError;
    expect(error.code).toBe('conflict');
    expect(f.model.secret(f.name).versionAliases).toEqual({ current: '2' });
  });

  it('promote refuses a version this run did not stage', async () => {
    const f = fixture();
    const store = f.open();
    await store.stage(f.ref, new Secret(NEW), RUN, '2');
    const error = (await store.promote(f.ref, '1', RUN, '2').catch((e: unknown) => e)) as StoreError;
    expect(error.code).toBe('conflict');
    expect(f.model.secret(f.name).versionAliases).toEqual({ current: '2' });
  });

  it('rollback makes readers of latest see the old value again, disables the run’s version, and a second adds nothing', async () => {
    const f = fixture();
    const store = f.open();
    const version = await store.stage(f.ref, new Secret(NEW), RUN, '2');
    await store.promote(f.ref, version, RUN, '2');
    expect(fieldOf(f.model.payload(f.name, 'latest'))).toBe(NEW);
    await store.rollback(f.ref, RUN);
    expect(fieldOf(f.model.payload(f.name, 'latest'))).toBe(INITIAL);
    expect(fieldOf(f.model.payload(f.name, 'current'))).toBe(INITIAL);
    expect(f.model.secret(f.name).versionAliases).toEqual({ current: '2' });
    expect(f.model.versions(f.name)).toEqual([
      { number: 1, state: 'ENABLED' },
      { number: 2, state: 'ENABLED' },
      { number: 3, state: 'DISABLED' },
      { number: 4, state: 'ENABLED' },
    ]);
    await f.open().rollback(f.ref, RUN);
    expect(f.model.versions(f.name)).toHaveLength(4);
    expect(f.model.callCount('AddSecretVersion')).toBe(2);
  });

  it('a rollback interrupted after adding the restoring version finds it instead of adding another', async () => {
    const f = fixture();
    const store = f.open();
    const version = await store.stage(f.ref, new Secret(NEW), RUN, '2');
    await store.promote(f.ref, version, RUN, '2');
    const client = new FakeClient(f.model);
    client.updateSecret = async () => {
      throw new Error('process killed');
    };
    await expect(f.open({}, client).rollback(f.ref, RUN)).rejects.toBeInstanceOf(StoreError);
    expect(f.model.versions(f.name)).toHaveLength(4);
    await f.open().rollback(f.ref, RUN);
    expect(f.model.versions(f.name)).toHaveLength(4);
    expect(fieldOf(f.model.payload(f.name, 'current'))).toBe(INITIAL);
    expect(fieldOf(f.model.payload(f.name, 'latest'))).toBe(INITIAL);
  });

  it('retire disables the old version with its etag; already disabled is success; destroy when configured', async () => {
    const f = fixture();
    const store = f.open();
    const version = await store.stage(f.ref, new Secret(NEW), RUN, '2');
    await expect(store.retire(f.ref, RUN)).rejects.toMatchObject({ code: 'conflict' });
    await store.promote(f.ref, version, RUN, '2');
    await store.retire(f.ref, RUN);
    await f.open().retire(f.ref, RUN);
    expect(f.model.versions(f.name)[1]).toEqual({ number: 2, state: 'DISABLED' });
    expect(await store.readPrevious(f.ref, RUN)).toBeUndefined();
    await f.open({ retire: 'destroy' }).retire(f.ref, RUN);
    await f.open({ retire: 'destroy' }).retire(f.ref, RUN);
    expect(f.model.versions(f.name)[1]).toEqual({ number: 2, state: 'DESTROYED' });
    expect((await store.read(f.ref)).value.reveal()).toBe(NEW);
  });

  it('delayed destruction (version_destroy_ttl): retire leaves the old version DISABLED and scheduled, and a resume does not destroy again', async () => {
    const f = fixture();
    const name = secretPath('ttl');
    f.model.seed(name, [JSON.stringify({ API_KEY: INITIAL })], { aliases: { current: 1 }, versionDestroyTtlSeconds: 86_400 });
    const ref = parseRef(KIND, `${name}#API_KEY`);
    const store = f.open({ retire: 'destroy' });
    const version = await store.stage(ref, new Secret(NEW), RUN, '1');
    await store.promote(ref, version, RUN, '1');
    await store.retire(ref, RUN);
    expect(f.model.versions(name)[0]).toEqual({ number: 1, state: 'DISABLED' });
    const due = f.model.scheduledDestroy(name, 1);
    expect(due?.getTime()).toBeGreaterThan(Date.now() + 86_000_000);
    await f.open({ retire: 'destroy' }).retire(ref, RUN);
    await f.open({ retire: 'destroy' }).retire(ref, RUN);
    expect(f.model.callCount('DestroySecretVersion')).toBe(1);
    expect(f.model.scheduledDestroy(name, 1)).toEqual(due);
    f.model.passDestroyTtl(name);
    expect(f.model.versions(name)[0]).toEqual({ number: 1, state: 'DESTROYED' });
    await f.open({ retire: 'destroy' }).retire(ref, RUN);
    expect(f.model.callCount('DestroySecretVersion')).toBe(1);
  });

  it('a rollback after retire refuses plainly: the old value is gone', async () => {
    const f = fixture();
    const store = f.open();
    const version = await store.stage(f.ref, new Secret(NEW), RUN, '2');
    await store.promote(f.ref, version, RUN, '2');
    await store.retire(f.ref, RUN);
    const error = (await store.rollback(f.ref, RUN).catch((e: unknown) => e)) as StoreError;
    expect(error).toBeInstanceOf(StoreError);
    expect(error.message).toContain('previous version 2 is no longer enabled');
    expect((await store.read(f.ref)).value.reveal()).toBe(NEW);
  });

  it('a secret without the configured alias falls back to latest: staged is visible at once, promote creates no alias, rollback restores', async () => {
    const f = fixture('alias-missing');
    const store = f.open();
    expect((await store.read(f.ref)).version).toBe('2');
    const version = await store.stage(f.ref, new Secret(NEW), RUN, '2');
    expect((await store.read(f.ref)).value.reveal()).toBe(NEW);
    await store.promote(f.ref, version, RUN, '2');
    expect(f.model.secret(f.name).versionAliases).toEqual({});
    expect((await store.readPrevious(f.ref, RUN))?.value.reveal()).toBe(INITIAL);
    await store.rollback(f.ref, RUN);
    expect((await store.read(f.ref)).value.reveal()).toBe(INITIAL);
    expect((await store.check(f.ref)).notes.join(' ')).toContain('no version alias current');
  });

  it('reports staging honestly: only readers of an alias see a staging step', () => {
    expect(fixture('alias').open().capabilities.staging).toBe(true);
    expect(fixture('latest').open().capabilities.staging).toBe(false);
  });

  it('retries UNAVAILABLE and RESOURCE_EXHAUSTED with backoff, and then succeeds', async () => {
    const f = fixture();
    f.model.failNext('AccessSecretVersion', Code.UNAVAILABLE, 2);
    f.model.failNext('GetSecret', Code.RESOURCE_EXHAUSTED, 1, 'Quota exceeded for quota metric Access requests');
    const value = await f.open().read(f.ref);
    expect(value.value.reveal()).toBe(INITIAL);
    expect(f.model.callCount('GetSecret')).toBe(2);
    expect(f.model.callCount('AccessSecretVersion')).toBe(3);
  });

  it('gives up after the retries with a typed unavailable error', async () => {
    const f = fixture();
    f.model.failNext('GetSecret', Code.UNAVAILABLE, 10);
    const error = (await f
      .open()
      .read(f.ref)
      .catch((e: unknown) => e)) as StoreError;
    expect(error.code).toBe('unavailable');
    expect(error.retriable).toBe(true);
    expect(f.model.callCount('GetSecret')).toBe(5);
  }, 20_000);

  it('PERMISSION_DENIED fails at once, with the missing permission and a hint', async () => {
    const f = fixture();
    f.model.restricted.set('reader', new Set(['secretmanager.secrets.get', 'secretmanager.versions.get']));
    const error = (await f
      .open({}, new FakeClient(f.model, 'reader'))
      .read(f.ref)
      .catch((e: unknown) => e)) as StoreError;
    expect(error.code).toBe('permission');
    expect(error.message).toContain('secretmanager.versions.access');
    expect(error.message).toContain(f.ref.path);
    expect(error.hint).toContain('roles/secretmanager.secretAccessor');
    expect(f.model.callCount('AccessSecretVersion')).toBe(1);
  });

  it('the API disabled on the project is said so, with the command that enables it, not read as a missing permission', async () => {
    const f = fixture();
    f.model.disabledApiProjects.add(PROJECT);
    const error = await failureOf(f.open().read(f.ref));
    expect(error.code).toBe('permission');
    expect(error.message).toContain(`Secret Manager API (secretmanager.googleapis.com) is not enabled on project ${PROJECT}`);
    expect(error.hint).toContain(`gcloud services enable secretmanager.googleapis.com --project=${PROJECT}`);
    expect(error.hint).not.toContain('grant');
    expect(f.model.callCount('GetSecret')).toBe(1);
    const check = await f.open().check(f.ref);
    expect(check.readable).toBe(false);
    expect(check.notes.join(' ')).toContain('gcloud services enable secretmanager.googleapis.com');
  });

  it('reads with only secretmanager.secrets.get and secretmanager.versions.access (the creation time is then unknown)', async () => {
    const f = fixture();
    f.model.restricted.set('reader', new Set(['secretmanager.secrets.get', 'secretmanager.versions.access']));
    const value = await f.open({}, new FakeClient(f.model, 'reader')).read(f.ref);
    expect(value.value.reveal()).toBe(INITIAL);
    expect(value.createdAt).toBeUndefined();
    expect((await f.open().read(f.ref)).createdAt).toBeInstanceOf(Date);
  });

  it('UNAUTHENTICATED is a permission error that says how to sign in', async () => {
    const f = fixture();
    f.model.failNext('GetSecret', Code.UNAUTHENTICATED, 1, 'Request had invalid authentication credentials.');
    const error = (await f
      .open()
      .read(f.ref)
      .catch((e: unknown) => e)) as StoreError;
    expect(error.code).toBe('permission');
    expect(error.hint).toContain('gcloud auth application-default login');
    expect(f.model.callCount('GetSecret')).toBe(1);
  });

  it('check reads without writing and names each missing write permission in plain words', async () => {
    const f = fixture();
    f.model.restricted.set(
      'reader',
      new Set(['secretmanager.secrets.get', 'secretmanager.versions.access', 'secretmanager.versions.list', 'secretmanager.versions.get']),
    );
    const check = await f.open({}, new FakeClient(f.model, 'reader')).check(f.ref);
    expect(check.readable).toBe(true);
    expect(check.writable).toBe(false);
    expect(check.fingerprint).toBe(new Secret(INITIAL).fingerprint);
    const notes = check.notes.join('\n');
    expect(notes).toContain('missing secretmanager.versions.add');
    expect(notes).toContain('missing secretmanager.secrets.update');
    expect(notes).toContain('missing secretmanager.versions.disable');
    for (const method of ['UpdateSecret', 'AddSecretVersion', 'DisableSecretVersion', 'DestroySecretVersion'] as const) {
      expect(f.model.callCount(method)).toBe(0);
    }
    expect((await f.open().check(f.ref)).writable).toBe(true);
  });

  it('never puts a value in an error, even when the service echoes the payload', async () => {
    const f = fixture();
    const shared = secretPath('shared');
    f.model.seed(shared, [JSON.stringify({ API_KEY: INITIAL, OTHER_KEY: SIBLING })], { aliases: { current: 1 } });
    const ref = parseRef(KIND, `${shared}#API_KEY`);
    f.model.failNext('AddSecretVersion', Code.INVALID_ARGUMENT, 1, `bad payload {"API_KEY":"${NEW}","OTHER_KEY":"${SIBLING}"}`);
    const errors: unknown[] = [];
    errors.push(
      await f
        .open()
        .stage(ref, new Secret(NEW), RUN, '1')
        .catch((e: unknown) => e),
    );
    errors.push(
      await f
        .open()
        .stage(f.ref, new Secret('x'.repeat(70_000)), RUN, '2')
        .catch((e: unknown) => e),
    );
    f.model.seed(secretPath('plain'), [`not json ${SIBLING}`]);
    errors.push(
      await f
        .open()
        .read(parseRef(KIND, 'plain#API_KEY'))
        .catch((e: unknown) => e),
    );
    f.model.failNext('GetSecret', Code.INTERNAL, 10, `internal error near ${SIBLING}`);
    errors.push(
      await f
        .open()
        .read(f.ref)
        .catch((e: unknown) => e),
    );
    expect(errors.map((e) => (e as StoreError).code)).toEqual(['invalid', 'invalid', 'invalid', 'unavailable']);
    for (const error of errors) {
      expect(error).toBeInstanceOf(StoreError);
      const text = `${(error as StoreError).message} ${(error as StoreError).hint ?? ''} ${JSON.stringify(error)}`;
      for (const canary of [NEW, SIBLING, INITIAL]) expect(text).not.toContain(canary);
    }
  }, 20_000);

  it('refuses to rewrite a JSON payload that is not valid UTF-8, instead of replacing its bytes with U+FFFD (defect 11)', async () => {
    const f = fixture();
    const client = new FakeClient(f.model);
    const access = client.accessSecretVersion.bind(client);
    // A sibling field holding a Latin-1 byte (0xE9): decoding it as UTF-8 and encoding it back would change it.
    client.accessSecretVersion = async (name) => {
      const { number } = await access(name);
      return { number, data: Buffer.concat([Buffer.from(`{"OTHER":"caf`), Buffer.from([0xe9]), Buffer.from(`","API_KEY":"${INITIAL}"}`)]) };
    };
    const store = f.open({}, client);
    for (const attempt of [store.read(f.ref), store.stage(f.ref, new Secret(NEW), RUN, '2')]) {
      const error = (await attempt.catch((e: unknown) => e)) as StoreError;
      expect(error).toBeInstanceOf(StoreError);
      expect(error.code).toBe('invalid');
      expect(error.message).toContain(f.ref.display);
      expect(error.message).toMatch(/not valid UTF-8/);
      expect(error.message).not.toContain(INITIAL);
    }
    expect(f.model.callCount('AddSecretVersion')).toBe(0);
  });

  it('writes annotation keys the service accepts, whatever the run id', async () => {
    const f = fixture();
    const run = 'run with spaces/and:colons-and-a-very-long-tail-that-goes-well-past-sixty-three-characters';
    const version = await f.open().stage(f.ref, new Secret(NEW), run, '2');
    await f.open().promote(f.ref, version, run, '2');
    expect((await f.open().readStaged(f.ref, run))?.value.reveal()).toBe(NEW);
    expect(Object.keys(f.model.secret(f.name).annotations)[0]).toMatch(/^rekey\.h\.[0-9a-f]{40}$/);
  });

  it('keeps other annotations and prunes its own oldest run records', async () => {
    const f = fixture('latest');
    f.model.seed(f.name, [JSON.stringify({ API_KEY: INITIAL })], { annotations: { owner: 'team-payments' } });
    let base = '1';
    for (let i = 0; i < 20; i++) {
      const run = `20261124T0245${String(i).padStart(2, '0')}Z-aaaaaa`;
      const store = f.open();
      base = await store.stage(f.ref, new Secret(`rk_value_${i}_0123456789abcdef`), run, base);
      await store.promote(f.ref, base, run, String(Number(base) - 1));
    }
    const annotations = f.model.secret(f.name).annotations;
    expect(annotations['owner']).toBe('team-payments');
    expect(Object.keys(annotations).filter((k) => k.startsWith('rekey.'))).toHaveLength(16);
    expect(annotations['rekey.20261124T024519Z-aaaaaa.API_KEY']).toBeDefined();
    expect(annotations['rekey.20261124T024503Z-aaaaaa.API_KEY']).toBeUndefined();
  });

  it('does not build a client until the first call, and close() releases it', async () => {
    const f = fixture();
    let built = 0;
    const client = new FakeClient(f.model);
    const store = openGcpSecretManagerStore({ project: PROJECT }, context, async () => {
      built++;
      return client;
    });
    expect(built).toBe(0);
    await store.read(f.ref);
    await store.read(f.ref);
    expect(built).toBe(1);
    await store.close();
    expect(client.closed).toBe(true);
  });

  it('refuses bad options and refs with typed errors, without I/O', async () => {
    expect(() => openGcpSecretManagerStore({ retire: 'shred' }, context)).toThrow(/retire must be disable or destroy/);
    expect(() => openGcpSecretManagerStore({ alias: 'NEW alias' }, context)).toThrow(/not a valid version alias/);
    expect(() => openGcpSecretManagerStore({ endpoint: 'http://localhost' }, context)).toThrow(/host:port/);
    const f = fixture();
    const store = openGcpSecretManagerStore({}, context, new FakeClient(f.model));
    await expect(store.read(parseRef(KIND, 'app#API_KEY'))).rejects.toMatchObject({ code: 'invalid', message: expect.stringContaining('no project') });
    await expect(store.read(parseRef(KIND, 'projects/p/locations/x#API_KEY'))).rejects.toMatchObject({ code: 'invalid' });
    expect(f.model.callCount()).toBe(0);
  });
});
