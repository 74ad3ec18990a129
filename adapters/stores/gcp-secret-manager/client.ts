/**
 * The GCP Secret Manager client as this adapter sees it: the narrow interface of the calls it makes (tests pass a fake
 * that follows the service's documentation), the store's options, and the real SDK client, built on first use.
 */
import { crc32c } from '@aws-crypto/crc32c';
import type { StoreContext, StoreRef } from '../../../src/contract/store.js';
import { StoreError } from '../../../src/contract/store-errors.js';

export const KIND = 'gcp-secret-manager';

// A secret id is at most 255 letters, digits, - and _ (CreateSecretRequest.secret_id, Secret Manager API reference);
// a full name is `projects/PROJECT/secrets/ID`, where PROJECT is a project id or number (Secret.name), or for a
// regional secret `projects/PROJECT/locations/LOCATION/secrets/ID` (service.proto's regional bindings;
// https://cloud.google.com/secret-manager/docs/regional-secrets-overview). A location is a region such as us-central1.
const FULL_NAME = /^projects\/[^/]+(\/locations\/[a-z][a-z0-9-]{0,62})?\/secrets\/[A-Za-z0-9_-]{1,255}$/;
const SECRET_ID = /^[A-Za-z0-9_-]{1,255}$/;
export const LOCATION = /^[a-z][a-z0-9-]{0,62}$/;

/** Whether a ref's path is a full secret name, a bare secret id (the project comes from the options), or neither. */
export function secretPathKind(path: string): 'full' | 'bare' | undefined {
  return FULL_NAME.test(path) ? 'full' : SECRET_ID.test(path) ? 'bare' : undefined;
}

/** The location of a regional secret's (or its version's) name; undefined for a global secret. */
export function locationOf(name: string): string | undefined {
  return /^projects\/[^/]+\/locations\/([^/]+)\/secrets\//.exec(name)?.[1];
}

/** The gcloud flags that name a secret: `--secret=ID`, with `--location=L` for a regional one. */
export function gcloudSecretFlags(name: string): string {
  const id = /\/secrets\/([^/]+)/.exec(name)?.[1] ?? name;
  const location = locationOf(name);
  return location === undefined ? `--secret=${id}` : `--secret=${id} --location=${location}`;
}

/** Why a ref cannot name a GCP secret (or a field of its JSON payload), or undefined when it can. */
export function refProblem(ref: StoreRef): string | undefined {
  if (secretPathKind(ref.path) === undefined) {
    return 'expected projects/PROJECT/secrets/NAME, projects/PROJECT/locations/LOCATION/secrets/NAME or a bare secret name (letters, digits, - and _)';
  }
  if (ref.field === '') return 'nothing after "#": name a field of the JSON secret, or leave "#" out for the whole payload';
  return undefined;
}

/** The state of a secret version, as the service names it. */
export type GcpVersionState = 'ENABLED' | 'DISABLED' | 'DESTROYED' | 'STATE_UNSPECIFIED';

/** A secret's metadata: what GetSecret and UpdateSecret return, reduced to what the adapter reads. */
export interface GcpSecretInfo {
  readonly name: string;
  readonly etag: string;
  readonly versionAliases: Readonly<Record<string, number>>;
  readonly annotations: Readonly<Record<string, string>>;
}

/**
 * A payload's bytes as text. For a field of a JSON payload, invalid UTF-8 is refused rather than replaced with U+FFFD:
 * the other fields are written back as they were read, and a lossy decode would change their bytes. A leading
 * byte-order mark is kept, so that it is written back too.
 */
export function decodePayload(op: string, ref: StoreRef, data: Buffer): string {
  if (ref.field === undefined) return data.toString('utf8');
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(data);
  } catch {
    throw new StoreError(
      'invalid',
      op,
      ref.display,
      `the secret is not valid UTF-8, so field ${ref.field} cannot be changed without altering its other fields`,
    );
  }
}

/**
 * The CRC32C (Castagnoli) of a payload, as SecretPayload.data_crc32c carries it: "If specified, SecretManagerService
 * will verify the integrity of the received data on AddSecretVersion calls using the crc32c checksum and store it to
 * include in future AccessSecretVersion responses. If a checksum is not provided in the AddSecretVersion request, the
 * SecretManagerService will generate and store one for you" (google/cloud/secretmanager/v1/resources.proto;
 * https://cloud.google.com/secret-manager/docs/data-integrity). AWS's maintained @aws-crypto/crc32c computes it.
 */
export function payloadChecksum(data: Uint8Array): number {
  return crc32c(data) >>> 0;
}

/** The int64 data_crc32c as a number: a Long, a decimal string or a number, depending on the loader; undefined when absent. */
export function checksumOf(value: unknown): number | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  const number = Number(String(value));
  return Number.isSafeInteger(number) ? number : undefined;
}

/** A version's metadata, never its payload. */
export interface GcpVersionInfo {
  readonly number: number;
  readonly state: GcpVersionState;
  readonly etag: string;
  readonly createTime?: Date | undefined;
  /**
   * Set while a destroy delayed by the secret's version_destroy_ttl is pending: the version is DISABLED until then and
   * is destroyed at that time, with nothing more to call (SecretVersion.scheduled_destroy_time, resources.proto).
   */
  readonly scheduledDestroyTime?: Date | undefined;
}

/** The fields of a secret an UpdateSecret call sets, with the etag it expects. */
export interface GcpSecretUpdate {
  readonly name: string;
  readonly etag: string;
  readonly versionAliases?: Readonly<Record<string, number>>;
  readonly annotations?: Readonly<Record<string, string>>;
}

/**
 * The calls the adapter makes. Failures reject with the service's error: an object with a numeric gRPC `code`
 * and a `details` string, as the SDK's GoogleError has.
 */
export interface GcpSecretManagerClient {
  getSecret(name: string): Promise<GcpSecretInfo>;
  /** `paths` are the update_mask's field names: `annotations`, `version_aliases`. */
  updateSecret(update: GcpSecretUpdate, paths: readonly string[]): Promise<GcpSecretInfo>;
  /** `dataCrc32c` is the payload's CRC32C, which the service checks before it stores the version (SecretPayload.data_crc32c). */
  addSecretVersion(parent: string, data: Buffer, dataCrc32c: number): Promise<GcpVersionInfo>;
  /**
   * The payload of a version (`…/versions/3`, `…/versions/latest`, `…/versions/<alias>`), its resolved number and the
   * CRC32C the service stored with it (undefined when the answer carries none).
   */
  accessSecretVersion(name: string): Promise<{ readonly number: number; readonly data: Buffer; readonly dataCrc32c?: number | undefined }>;
  getSecretVersion(name: string): Promise<GcpVersionInfo>;
  /** All versions, every page. */
  listSecretVersions(parent: string): Promise<GcpVersionInfo[]>;
  disableSecretVersion(name: string, etag: string): Promise<GcpVersionInfo>;
  destroySecretVersion(name: string, etag: string): Promise<GcpVersionInfo>;
  /** The subset of `permissions` the caller holds on the resource. */
  testIamPermissions(resource: string, permissions: readonly string[]): Promise<string[]>;
  close(): Promise<void>;
}

export type ClientMethod = Exclude<keyof GcpSecretManagerClient, 'close'>;

/** The IAM permission each call needs, for hints when one is missing. */
export const PERMISSION_OF: Readonly<Record<ClientMethod, string>> = {
  getSecret: 'secretmanager.secrets.get',
  updateSecret: 'secretmanager.secrets.update',
  addSecretVersion: 'secretmanager.versions.add',
  accessSecretVersion: 'secretmanager.versions.access',
  getSecretVersion: 'secretmanager.versions.get',
  listSecretVersions: 'secretmanager.versions.list',
  disableSecretVersion: 'secretmanager.versions.disable',
  destroySecretVersion: 'secretmanager.versions.destroy',
  testIamPermissions: 'none',
};

/** What each permission is for, in plain words, and the predefined role that carries it. */
export const PERMISSION_USE: Readonly<Record<string, { use: string; role: string }>> = {
  'secretmanager.secrets.get': { use: 'read the secret’s aliases and rekey’s run records', role: 'roles/secretmanager.viewer' },
  'secretmanager.versions.access': { use: 'read the value', role: 'roles/secretmanager.secretAccessor' },
  'secretmanager.versions.list': { use: 'find a resumed run’s version and check for concurrent writers', role: 'roles/secretmanager.viewer' },
  'secretmanager.versions.get': { use: 'check a version’s state before retiring it', role: 'roles/secretmanager.viewer' },
  'secretmanager.versions.add': { use: 'stage the new value', role: 'roles/secretmanager.secretVersionAdder' },
  'secretmanager.secrets.update': { use: 'record the run on the secret and move the alias', role: 'roles/secretmanager.admin' },
  'secretmanager.versions.disable': {
    use: 'disable the old version on retire and the run’s version on rollback',
    role: 'roles/secretmanager.secretVersionManager',
  },
  'secretmanager.versions.destroy': { use: 'destroy the old version on retire', role: 'roles/secretmanager.secretVersionManager' },
};

export interface GcpOptions {
  readonly project: string | undefined;
  /** The location of bare secret names: they become regional secrets there. */
  readonly location: string | undefined;
  readonly alias: string;
  readonly retire: 'disable' | 'destroy';
  readonly endpoint: string | undefined;
  /** The project's write-request quota a minute (600 unless Google raised it). */
  readonly writesPerMinute: number;
}

export function parseOptions(options: Readonly<Record<string, unknown>>, context: StoreContext): GcpOptions {
  const text = (name: string): string | undefined => {
    const value = options[name];
    if (value === undefined || value === null || value === '') return undefined;
    if (typeof value !== 'string') throw new StoreError('invalid', 'open', KIND, `option ${name} must be a string`);
    return value;
  };
  const alias = text('alias') ?? 'current';
  if (alias !== 'latest' && !/^[A-Za-z][A-Za-z0-9_-]{0,62}$/.test(alias)) {
    throw new StoreError('invalid', 'open', KIND, `option alias ${alias} is not a valid version alias (a letter, then up to 62 letters, digits, - or _)`);
  }
  const retire = text('retire') ?? 'disable';
  if (retire !== 'disable' && retire !== 'destroy') throw new StoreError('invalid', 'open', KIND, `option retire must be disable or destroy, not ${retire}`);
  const endpoint = text('endpoint');
  if (endpoint !== undefined && !/^[^\s:]+:[0-9]{1,5}$/.test(endpoint)) {
    throw new StoreError('invalid', 'open', KIND, `option endpoint must be host:port, not ${endpoint}`);
  }
  const location = text('location');
  if (location !== undefined && !LOCATION.test(location)) {
    throw new StoreError('invalid', 'open', KIND, `option location must be a region such as us-central1, not ${location}`);
  }
  const writes = options['writesPerMinute'] ?? 600;
  if (typeof writes !== 'number' || !Number.isFinite(writes) || writes <= 0) {
    throw new StoreError('invalid', 'open', KIND, 'option writesPerMinute must be a positive number (the project quota, 600 unless Google raised it)');
  }
  return { project: text('project') ?? context.env['GOOGLE_CLOUD_PROJECT'] ?? undefined, location, alias, retire, endpoint, writesPerMinute: writes };
}

// The real client, built on first use.

/** Per-call options: the SDK's own retries are off, so that ours (with jitter) do not multiply with them. */
export const CALL = { retry: null } as const;

/**
 * Build the SDK client (236 ms to import, so only when a call needs it) and wrap it in the narrow interface. A
 * regional secret is served only by its location's endpoint, `secretmanager.LOCATION.rep.googleapis.com` (Google's
 * regional samples set it as the client's endpoint), so each location has a client of its own; the `endpoint` option
 * (a test server or emulator) serves every location.
 */
export async function createSdkClient(options: GcpOptions, context: StoreContext, location?: string): Promise<GcpSecretManagerClient> {
  const { SecretManagerServiceClient } = await import('@google-cloud/secret-manager');
  type ClientOptions = NonNullable<ConstructorParameters<typeof SecretManagerServiceClient>[0]>;
  let clientOptions: ClientOptions = {};
  if (options.endpoint !== undefined) {
    const grpc = await import('@grpc/grpc-js');
    const colon = options.endpoint.lastIndexOf(':');
    clientOptions = {
      apiEndpoint: options.endpoint.slice(0, colon),
      port: Number(options.endpoint.slice(colon + 1)),
      sslCreds: grpc.credentials.createInsecure(),
      // Without it the auth library goes looking for the cloud metadata server.
      universeDomain: 'googleapis.com',
    };
  } else {
    const keyFile = context.env['GOOGLE_APPLICATION_CREDENTIALS'];
    if (keyFile !== undefined && keyFile !== '') clientOptions = { keyFilename: keyFile };
    if (options.project !== undefined) clientOptions = { ...clientOptions, projectId: options.project };
    if (location !== undefined) clientOptions = { ...clientOptions, apiEndpoint: regionalEndpoint(location) };
  }
  return wrapSdkClient(new SecretManagerServiceClient(clientOptions));
}

/** The host that serves a location's regional secrets. */
export function regionalEndpoint(location: string): string {
  return `secretmanager.${location}.rep.googleapis.com`;
}

export interface SdkTimestamp {
  seconds?: unknown;
  nanos?: unknown;
}
export interface SdkVersion {
  name?: string | null;
  state?: unknown;
  etag?: string | null;
  createTime?: SdkTimestamp | null;
  scheduledDestroyTime?: SdkTimestamp | null;
}
export interface SdkSecret {
  name?: string | null;
  etag?: string | null;
  versionAliases?: Record<string, unknown> | null;
  annotations?: Record<string, string> | null;
}

export const STATES: readonly GcpVersionState[] = ['STATE_UNSPECIFIED', 'ENABLED', 'DISABLED', 'DESTROYED'];

export function numberOfName(name: string | null | undefined): number {
  return Number(/\/versions\/([0-9]+)$/.exec(name ?? '')?.[1] ?? NaN);
}

export function toDate(time: SdkTimestamp | null | undefined): Date | undefined {
  if (time === null || time === undefined || time.seconds === undefined || time.seconds === null) return undefined;
  return new Date(Number(String(time.seconds)) * 1000 + Math.floor(Number(time.nanos ?? 0) / 1e6));
}

export function toVersion(v: SdkVersion): GcpVersionInfo {
  const state = typeof v.state === 'number' ? (STATES[v.state] ?? 'STATE_UNSPECIFIED') : (String(v.state ?? 'STATE_UNSPECIFIED') as GcpVersionState);
  return { number: numberOfName(v.name), state, etag: v.etag ?? '', createTime: toDate(v.createTime), scheduledDestroyTime: toDate(v.scheduledDestroyTime) };
}

export function toSecret(s: SdkSecret): GcpSecretInfo {
  const aliases: Record<string, number> = {};
  // int64 values arrive as Long objects, strings or numbers depending on the loader; String() reads all three.
  for (const [alias, value] of Object.entries(s.versionAliases ?? {})) aliases[alias] = Number(String(value));
  return { name: s.name ?? '', etag: s.etag ?? '', versionAliases: aliases, annotations: { ...(s.annotations ?? {}) } };
}

/** The narrow interface over the SDK client: unwraps its `[response, …]` tuples and converts its message types. */
export function wrapSdkClient(sdk: import('@google-cloud/secret-manager').SecretManagerServiceClient): GcpSecretManagerClient {
  return {
    async getSecret(name) {
      const [secret] = await sdk.getSecret({ name }, CALL);
      return toSecret(secret as SdkSecret);
    },
    async updateSecret(change, paths) {
      const secret: Record<string, unknown> = { name: change.name, etag: change.etag };
      if (change.versionAliases !== undefined) secret['versionAliases'] = { ...change.versionAliases };
      if (change.annotations !== undefined) secret['annotations'] = { ...change.annotations };
      const [updated] = await sdk.updateSecret({ secret, updateMask: { paths: [...paths] } }, CALL);
      return toSecret(updated as SdkSecret);
    },
    async addSecretVersion(parent, data, dataCrc32c) {
      const [version] = await sdk.addSecretVersion({ parent, payload: { data, dataCrc32c } }, CALL);
      return toVersion(version as SdkVersion);
    },
    async accessSecretVersion(name) {
      const [response] = await sdk.accessSecretVersion({ name }, CALL);
      const data = response.payload?.data;
      const buffer = data === null || data === undefined ? Buffer.alloc(0) : typeof data === 'string' ? Buffer.from(data, 'base64') : Buffer.from(data);
      return { number: numberOfName(response.name), data: buffer, dataCrc32c: checksumOf(response.payload?.dataCrc32c) };
    },
    async getSecretVersion(name) {
      const [version] = await sdk.getSecretVersion({ name }, CALL);
      return toVersion(version as SdkVersion);
    },
    async listSecretVersions(parent) {
      const [versions] = await sdk.listSecretVersions({ parent }, { ...CALL, autoPaginate: true });
      return versions.map((v) => toVersion(v as SdkVersion));
    },
    async disableSecretVersion(name, etag) {
      const [version] = await sdk.disableSecretVersion({ name, etag }, CALL);
      return toVersion(version as SdkVersion);
    },
    async destroySecretVersion(name, etag) {
      const [version] = await sdk.destroySecretVersion({ name, etag }, CALL);
      return toVersion(version as SdkVersion);
    },
    async testIamPermissions(resource, permissions) {
      const [response] = await sdk.testIamPermissions({ resource, permissions: [...permissions] }, CALL);
      return response.permissions ?? [];
    },
    async close() {
      await sdk.close();
    },
  };
}
