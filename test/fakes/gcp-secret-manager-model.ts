/**
 * An in-memory model of `google.cloud.secretmanager.v1.SecretManagerService`, written from Google's documented
 * semantics (the service's .proto comments, the REST reference and the AIPs it follows), not from any client of it.
 * The SDK-level fake and the gRPC fake server both sit on this one model, so the two test layers agree.
 *
 * Messages are plain objects in the shape @grpc/proto-loader gives with `keepCase: false, longs: String,
 * enums: String`: camelCase fields, int64 as decimal strings, enums as their names, bytes as Buffers, and
 * Timestamps as `{ seconds, nanos }`.
 *
 * What the model holds to, with the source of each rule:
 * - Version numbers start at 1 and only grow; a number is never reused (SecretVersion.name).
 * - `latest` names the most recently *created* version, whatever its state (AccessSecretVersionRequest.name); so
 *   when the newest version is disabled or destroyed, accessing `latest` fails with FAILED_PRECONDITION
 *   ("Secret Version [...] is in DISABLED state."), which is what the real service answers.
 * - A version alias (Secret.version_aliases) can be used wherever a version id is accepted by GetSecretVersion and
 *   AccessSecretVersion; names start with a letter, are at most 63 characters of letters, digits, `-` and `_`,
 *   cannot be `latest` or `NEW`, at most 50 per secret, and must point at an existing version.
 * - Accessing a DISABLED or DESTROYED version fails with FAILED_PRECONDITION; a version number that never existed
 *   is NOT_FOUND. DESTROYED is terminal: enable, disable and destroy on it fail with FAILED_PRECONDITION, and its
 *   payload is gone.
 * - With Secret.version_destroy_ttl set, "version destruction doesn't happen immediately on calling destroy instead
 *   the version goes to a disabled state and destruction happens after the TTL expires"; the version carries
 *   scheduled_destroy_time (resources.proto, Secret.version_destroy_ttl and SecretVersion.scheduled_destroy_time;
 *   https://cloud.google.com/secret-manager/docs/delay-destruction-of-secret-versions). Enabling the version before
 *   then cancels the destruction (same page). Once the time has passed the version is DESTROYED.
 * - Payloads are at most 64 KiB (65,536 bytes); a larger one is INVALID_ARGUMENT. A given `data_crc32c` is checked.
 * - UpdateSecret requires an update_mask and changes only the named fields; a map field named in the mask is
 *   replaced whole. A non-empty etag that does not match the stored one fails with FAILED_PRECONDITION (HTTP 400),
 *   not ABORTED ("Use entity tags for optimistic concurrency control",
 *   https://cloud.google.com/secret-manager/docs/etags: "otherwise, it fails with a FAILED_PRECONDITION error and an
 *   HTTP status code 400"). The page promises the code, not the words, so the model answers the generic
 *   "Precondition check failed." that Google APIs give for the code: a client must go by the code. The etag changes
 *   on every successful update. Adding a version does not change the secret's etag: versions are separate
 *   resources with their own etags, which guard enable, disable, destroy and delete in the same way.
 * - Annotation keys are 1–63 characters, begin and end with an alphanumeric, with `-`, `_`, `.` and alphanumerics
 *   between; keys and values together must be under 16 KiB.
 * - ListSecretVersions returns versions newest first, in pages.
 * - IAM: every method needs one permission on the secret (`secretmanager.versions.access`, …); without it the
 *   answer is PERMISSION_DENIED naming the permission, whether or not the secret exists. TestIamPermissions needs
 *   no permission and returns the subset held.
 *
 * Test facilities: a denied principal or resource, a restricted principal, latency per call, a call counter, and
 * injected faults (the next N calls of a method fail with a given code).
 */

/** gRPC status codes (google.rpc.Code). */
export const Code = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

const CODE_NAMES: Record<number, string> = Object.fromEntries(Object.entries(Code).map(([name, code]) => [code, name]));

/** An error as the service returns it: a gRPC status code and a details string. */
export class ModelError extends Error {
  readonly code: number;
  readonly details: string;
  constructor(code: number, details: string) {
    super(`${code} ${CODE_NAMES[code] ?? 'UNKNOWN'}: ${details}`);
    this.name = 'ModelError';
    this.code = code;
    this.details = details;
  }
}

export interface Timestamp {
  seconds: string;
  nanos: number;
}

export type VersionState = 'ENABLED' | 'DISABLED' | 'DESTROYED';

export interface SecretMessage {
  name: string;
  replication: { automatic: Record<string, never> };
  createTime: Timestamp;
  labels: Record<string, string>;
  etag: string;
  versionAliases: Record<string, string>;
  annotations: Record<string, string>;
  /** Secret.version_destroy_ttl: with it, DestroySecretVersion only schedules the destruction (resources.proto). */
  versionDestroyTtl?: { seconds: string; nanos: number };
}

export interface SecretVersionMessage {
  name: string;
  createTime: Timestamp;
  destroyTime?: Timestamp;
  /** When a destruction delayed by the secret's version_destroy_ttl happens; the version is DISABLED until then. */
  scheduledDestroyTime?: Timestamp;
  state: VersionState;
  etag: string;
  clientSpecifiedPayloadChecksum: boolean;
}

export interface AccessSecretVersionResponse {
  name: string;
  payload: { data: Buffer; dataCrc32c: string };
}

/** The method names of the service, as in the .proto (PascalCase). */
export type MethodName =
  | 'CreateSecret'
  | 'GetSecret'
  | 'UpdateSecret'
  | 'DeleteSecret'
  | 'AddSecretVersion'
  | 'GetSecretVersion'
  | 'AccessSecretVersion'
  | 'ListSecretVersions'
  | 'DisableSecretVersion'
  | 'EnableSecretVersion'
  | 'DestroySecretVersion'
  | 'TestIamPermissions';

/** The permission each method needs, from the REST reference's "Authorization requires" lines. */
export const PERMISSION_OF: Readonly<Record<Exclude<MethodName, 'TestIamPermissions'>, string>> = {
  CreateSecret: 'secretmanager.secrets.create',
  GetSecret: 'secretmanager.secrets.get',
  UpdateSecret: 'secretmanager.secrets.update',
  DeleteSecret: 'secretmanager.secrets.delete',
  AddSecretVersion: 'secretmanager.versions.add',
  GetSecretVersion: 'secretmanager.versions.get',
  AccessSecretVersion: 'secretmanager.versions.access',
  ListSecretVersions: 'secretmanager.versions.list',
  DisableSecretVersion: 'secretmanager.versions.disable',
  EnableSecretVersion: 'secretmanager.versions.enable',
  DestroySecretVersion: 'secretmanager.versions.destroy',
};

/** Largest payload the service accepts. */
export const MAX_PAYLOAD_BYTES = 64 * 1024;
const MAX_ANNOTATION_BYTES = 16 * 1024;
const MAX_ALIASES = 50;

interface StoredVersion {
  meta: SecretVersionMessage;
  data: Buffer | undefined;
  /** The CRC32C stored with the payload: the client's when it sent one, else the service's own (SecretPayload.data_crc32c). */
  crc32c: number;
}

interface StoredSecret {
  secret: SecretMessage;
  versions: Map<number, StoredVersion>;
  lastVersion: number;
}

interface Fault {
  code: number;
  details: string;
  remaining: number;
}

// A secret is global (`projects/*/secrets/*`) or regional (`projects/*/locations/*/secrets/*`): every method has the
// regional binding beside the global one (service.proto's additional_bindings; https://cloud.google.com/secret-manager/docs/regional-secrets-overview).
const SECRET_NAME = /^(projects\/[^/]+(?:\/locations\/[^/]+)?\/secrets\/[^/]+)$/;
const VERSION_NAME = /^(projects\/[^/]+(?:\/locations\/[^/]+)?\/secrets\/[^/]+)\/versions\/([^/]+)$/;
const SECRET_ID = /^[A-Za-z0-9_-]{1,255}$/;
const ALIAS = /^[A-Za-z][A-Za-z0-9_-]{0,62}$/;
const ANNOTATION_KEY = /^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$/;

/** The mutating methods, which count as write requests against the project's quota. */
const WRITE_METHODS: ReadonlySet<MethodName> = new Set([
  'CreateSecret',
  'UpdateSecret',
  'DeleteSecret',
  'AddSecretVersion',
  'DisableSecretVersion',
  'EnableSecretVersion',
  'DestroySecretVersion',
]);
/** The project number quota messages name (Google names the consumer by number, not id). */
const PROJECT_NUMBER = '100000000001';

/** The in-memory service. */
export class SecretManagerModel {
  readonly #secrets = new Map<string, StoredSecret>();
  #etagCounter = 0;

  /** Principals whose every call is denied. */
  readonly deniedPrincipals = new Set<string>();
  /** Secret names (`projects/p/secrets/s`) on which every principal is denied, as with a deny policy. */
  readonly deniedResources = new Set<string>();
  /**
   * Projects (ids) on which the Secret Manager API is not enabled: every call on them answers PERMISSION_DENIED naming
   * the service, as Google does ("Secret Manager API has not been used in project P before or it is disabled. Enable
   * it by visiting https://console.developers.google.com/apis/api/secretmanager.googleapis.com/overview?project=P then
   * retry."; ErrorInfo reason SERVICE_DISABLED; https://cloud.google.com/service-usage/docs/troubleshooting).
   */
  readonly disabledApiProjects = new Set<string>();
  /** Principals that hold only the listed permissions. Anyone not listed holds all of them. */
  readonly restricted = new Map<string, ReadonlySet<string>>();
  /** Milliseconds every call waits before it is served. */
  latencyMs = 0;
  /** Calls served (including failed ones), by method. */
  readonly calls = new Map<MethodName, number>();
  /**
   * Write requests a minute each project accepts, or undefined for no limit. Google documents one quota of 600 write
   * requests per minute per project, a write being "any mutating operation (an operation that modifies or deletes a
   * secret or secret version)": creating, updating or deleting a secret, adding, enabling, disabling or destroying a
   * version (https://cloud.google.com/secret-manager/quotas). A request over it is answered RESOURCE_EXHAUSTED (HTTP
   * 429; https://cloud.google.com/apis/design/errors) with the words Google APIs give for a per-minute quota, and has
   * no effect. How Google smooths a minute is not documented: modelled as a token bucket refilled continuously at a
   * sixtieth of the quota a second and holding one second's worth, stricter than a one-minute window, so a client
   * that passes here passes there.
   */
  writesPerMinute: number | undefined;
  /** Write requests answered RESOURCE_EXHAUSTED because of `writesPerMinute`. */
  throttled = 0;
  readonly #buckets = new Map<string, { tokens: number; at: number }>();

  constructor(options: { writesPerMinute?: number } = {}) {
    this.writesPerMinute = options.writesPerMinute;
  }
  readonly #faults = new Map<MethodName, Fault[]>();

  /** How many calls a method received; all methods when none is named. */
  callCount(method?: MethodName): number {
    if (method !== undefined) return this.calls.get(method) ?? 0;
    let total = 0;
    for (const count of this.calls.values()) total += count;
    return total;
  }

  /** Make the next `times` calls of `method` fail with `code`, as a throttled or broken service would. */
  failNext(method: MethodName, code: number, times = 1, details = 'injected fault'): void {
    const list = this.#faults.get(method) ?? [];
    list.push({ code, details, remaining: times });
    this.#faults.set(method, list);
  }

  /** Dispatch one call by method name, as the gRPC server does. */
  async handle(method: MethodName, request: unknown, principal = 'anonymous'): Promise<unknown> {
    const req = (request ?? {}) as Record<string, unknown>;
    switch (method) {
      case 'CreateSecret':
        return this.createSecret(req as never, principal);
      case 'GetSecret':
        return this.getSecret(req as never, principal);
      case 'UpdateSecret':
        return this.updateSecret(req as never, principal);
      case 'DeleteSecret':
        return this.deleteSecret(req as never, principal);
      case 'AddSecretVersion':
        return this.addSecretVersion(req as never, principal);
      case 'GetSecretVersion':
        return this.getSecretVersion(req as never, principal);
      case 'AccessSecretVersion':
        return this.accessSecretVersion(req as never, principal);
      case 'ListSecretVersions':
        return this.listSecretVersions(req as never, principal);
      case 'DisableSecretVersion':
        return this.disableSecretVersion(req as never, principal);
      case 'EnableSecretVersion':
        return this.enableSecretVersion(req as never, principal);
      case 'DestroySecretVersion':
        return this.destroySecretVersion(req as never, principal);
      case 'TestIamPermissions':
        return this.testIamPermissions(req as never, principal);
    }
  }

  // ---- the service's methods ----

  /** CreateSecret: a new secret with no versions. */
  async createSecret(req: { parent?: string; secretId?: string; secret?: Partial<SecretMessage> }, principal = 'anonymous'): Promise<SecretMessage> {
    const parent = req.parent ?? '';
    const name = `${parent}/secrets/${req.secretId ?? ''}`;
    return this.#serve('CreateSecret', principal, name, () => {
      if (!/^projects\/[^/]+(\/locations\/[^/]+)?$/.test(parent)) throw invalid(`parent must be projects/* or projects/*/locations/*, not ${parent}`);
      if (!SECRET_ID.test(req.secretId ?? '')) throw invalid('secret_id must be 1-255 letters, digits, - or _');
      if (this.#secrets.has(name)) throw new ModelError(Code.ALREADY_EXISTS, `Secret [${name}] already exists.`);
      if (req.secret?.replication === undefined) throw invalid('secret.replication is required');
      const annotations = { ...(req.secret.annotations ?? {}) };
      validateAnnotations(annotations);
      if (Object.keys(req.secret.versionAliases ?? {}).length > 0) throw invalid('a new secret has no versions to alias');
      const secret: SecretMessage = {
        name,
        replication: { automatic: {} },
        createTime: now(),
        labels: { ...(req.secret.labels ?? {}) },
        etag: this.#etag(),
        versionAliases: {},
        annotations,
      };
      this.#secrets.set(name, { secret, versions: new Map(), lastVersion: 0 });
      return clone(secret);
    });
  }

  /** GetSecret: the secret's metadata (aliases, annotations, etag), never a payload. */
  async getSecret(req: { name?: string }, principal = 'anonymous'): Promise<SecretMessage> {
    const name = req.name ?? '';
    return this.#serve('GetSecret', principal, secretOf(name), () => clone(this.#secret(name).secret));
  }

  /** UpdateSecret: change the fields named in update_mask; the etag, when given, must match. */
  async updateSecret(req: { secret?: Partial<SecretMessage>; updateMask?: { paths?: string[] } }, principal = 'anonymous'): Promise<SecretMessage> {
    const name = req.secret?.name ?? '';
    return this.#serve('UpdateSecret', principal, secretOf(name), () => {
      const stored = this.#secret(name);
      const paths = req.updateMask?.paths ?? [];
      if (paths.length === 0) throw invalid('update_mask is required');
      const given = req.secret ?? {};
      if (given.etag !== undefined && given.etag !== '' && given.etag !== stored.secret.etag) {
        throw etagMismatch();
      }
      // Validate everything first, so that a failed update changes nothing.
      const next = clone(stored.secret);
      for (const path of paths) {
        switch (path) {
          case 'labels':
            next.labels = { ...(given.labels ?? {}) };
            break;
          case 'annotations':
            next.annotations = { ...(given.annotations ?? {}) };
            validateAnnotations(next.annotations);
            break;
          case 'version_aliases':
          case 'versionAliases': {
            const aliases: Record<string, string> = {};
            for (const [alias, value] of Object.entries(given.versionAliases ?? {})) {
              if (!ALIAS.test(alias) || alias === 'latest' || alias === 'NEW') throw invalid(`invalid version alias ${alias}`);
              const number = Number(value);
              if (!Number.isInteger(number) || !stored.versions.has(number)) {
                throw invalid(`version alias ${alias} points at version ${String(value)}, which does not exist`);
              }
              aliases[alias] = String(number);
            }
            if (Object.keys(aliases).length > MAX_ALIASES) throw invalid(`at most ${MAX_ALIASES} version aliases`);
            next.versionAliases = aliases;
            break;
          }
          default:
            throw invalid(`update_mask path ${path} is not supported by this model`);
        }
      }
      next.etag = this.#etag();
      stored.secret = next;
      return clone(next);
    });
  }

  /** DeleteSecret: the secret and all its versions; the etag, when given, must match. */
  async deleteSecret(req: { name?: string; etag?: string }, principal = 'anonymous'): Promise<Record<string, never>> {
    const name = req.name ?? '';
    return this.#serve('DeleteSecret', principal, secretOf(name), () => {
      const stored = this.#secret(name);
      if (req.etag !== undefined && req.etag !== '' && req.etag !== stored.secret.etag) {
        throw etagMismatch();
      }
      this.#secrets.delete(name);
      return {};
    });
  }

  /** AddSecretVersion: a new ENABLED version, numbered one past the last ever created. */
  async addSecretVersion(
    req: { parent?: string; payload?: { data?: Buffer | Uint8Array | string; dataCrc32c?: string | number } },
    principal = 'anonymous',
  ): Promise<SecretVersionMessage> {
    const parent = req.parent ?? '';
    return this.#serve('AddSecretVersion', principal, secretOf(parent), () => {
      const stored = this.#secret(parent);
      const data = toBuffer(req.payload?.data);
      if (data.length > MAX_PAYLOAD_BYTES) {
        throw invalid(`Secret Payload cannot be larger than ${MAX_PAYLOAD_BYTES} bytes (got ${data.length})`);
      }
      const checksum = req.payload?.dataCrc32c;
      if (checksum !== undefined && checksum !== null && String(checksum) !== '' && Number(checksum) !== crc32c(data)) {
        throw invalid('data_crc32c does not match the payload');
      }
      const number = ++stored.lastVersion;
      const meta: SecretVersionMessage = {
        name: `${parent}/versions/${number}`,
        createTime: now(),
        state: 'ENABLED',
        etag: this.#etag(),
        clientSpecifiedPayloadChecksum: checksum !== undefined && checksum !== null && String(checksum) !== '',
      };
      stored.versions.set(number, { meta, data, crc32c: crc32c(data) });
      return clone(meta);
    });
  }

  /** GetSecretVersion: a version's metadata; `latest` and aliases resolve first. */
  async getSecretVersion(req: { name?: string }, principal = 'anonymous'): Promise<SecretVersionMessage> {
    const name = req.name ?? '';
    return this.#serve('GetSecretVersion', principal, secretOf(name), () => clone(this.#version(name).meta));
  }

  /** AccessSecretVersion: the payload of an ENABLED version; `latest` and aliases resolve first. */
  async accessSecretVersion(req: { name?: string }, principal = 'anonymous'): Promise<AccessSecretVersionResponse> {
    const name = req.name ?? '';
    return this.#serve('AccessSecretVersion', principal, secretOf(name), () => {
      const version = this.#version(name);
      if (version.meta.state !== 'ENABLED' || version.data === undefined) {
        throw new ModelError(Code.FAILED_PRECONDITION, `Secret Version [${version.meta.name}] is in ${version.meta.state} state.`);
      }
      // The checksum stored at AddSecretVersion, "to include in future AccessSecretVersion responses" (resources.proto).
      return { name: version.meta.name, payload: { data: Buffer.from(version.data), dataCrc32c: String(version.crc32c) } };
    });
  }

  /** ListSecretVersions: newest first, in pages; `filter` understands `state:ENABLED` and the like. */
  async listSecretVersions(
    req: { parent?: string; pageSize?: number; pageToken?: string; filter?: string },
    principal = 'anonymous',
  ): Promise<{ versions: SecretVersionMessage[]; nextPageToken: string; totalSize: number }> {
    const parent = req.parent ?? '';
    return this.#serve('ListSecretVersions', principal, secretOf(parent), () => {
      const stored = this.#secret(parent);
      for (const v of stored.versions.values()) settle(v);
      let versions = [...stored.versions.entries()].sort(([a], [b]) => b - a).map(([, v]) => v.meta);
      const filter = (req.filter ?? '').trim();
      if (filter !== '') {
        const match = /^state\s*[:=]\s*(ENABLED|DISABLED|DESTROYED)$/i.exec(filter);
        if (match === null) throw invalid(`filter ${filter} is not supported by this model`);
        versions = versions.filter((v) => v.state === match[1]!.toUpperCase());
      }
      const offset = req.pageToken ? Number(Buffer.from(req.pageToken, 'base64url').toString()) : 0;
      if (!Number.isInteger(offset) || offset < 0) throw invalid('invalid page_token');
      const size = req.pageSize && req.pageSize > 0 ? Math.min(req.pageSize, 25_000) : 25_000;
      const page = versions.slice(offset, offset + size);
      const next = offset + size < versions.length ? Buffer.from(String(offset + size)).toString('base64url') : '';
      return { versions: page.map(clone), nextPageToken: next, totalSize: filter === '' ? versions.length : 0 };
    });
  }

  /** DisableSecretVersion: ENABLED or DISABLED → DISABLED; a destroyed version cannot change. */
  async disableSecretVersion(req: { name?: string; etag?: string }, principal = 'anonymous'): Promise<SecretVersionMessage> {
    return this.#setState('DisableSecretVersion', req, principal, 'DISABLED');
  }

  /** EnableSecretVersion: ENABLED or DISABLED → ENABLED; a destroyed version cannot change. */
  async enableSecretVersion(req: { name?: string; etag?: string }, principal = 'anonymous'): Promise<SecretVersionMessage> {
    return this.#setState('EnableSecretVersion', req, principal, 'ENABLED');
  }

  /** DestroySecretVersion: the payload is discarded for good. */
  async destroySecretVersion(req: { name?: string; etag?: string }, principal = 'anonymous'): Promise<SecretVersionMessage> {
    return this.#setState('DestroySecretVersion', req, principal, 'DESTROYED');
  }

  /** TestIamPermissions: which of the asked permissions the caller holds on the resource. */
  async testIamPermissions(req: { resource?: string; permissions?: string[] }, principal = 'anonymous'): Promise<{ permissions: string[] }> {
    this.#count('TestIamPermissions');
    await this.#delay();
    this.#fault('TestIamPermissions');
    const resource = req.resource ?? '';
    return { permissions: (req.permissions ?? []).filter((p) => this.#holds(principal, p, resource)) };
  }

  // ---- side doors for tests: no IAM, no counting, no faults, no latency ----

  /** Create a secret with versions holding `payloads` (oldest first) and optional aliases, bypassing the API. */
  seed(
    name: string,
    payloads: readonly string[],
    options: { aliases?: Record<string, number>; annotations?: Record<string, string>; versionDestroyTtlSeconds?: number } = {},
  ): void {
    const match = SECRET_NAME.exec(name);
    if (match === null) throw new Error(`not a secret name: ${name}`);
    const secret: SecretMessage = {
      name,
      replication: { automatic: {} },
      createTime: now(),
      labels: {},
      etag: this.#etag(),
      versionAliases: Object.fromEntries(Object.entries(options.aliases ?? {}).map(([k, v]) => [k, String(v)])),
      annotations: { ...(options.annotations ?? {}) },
      ...(options.versionDestroyTtlSeconds === undefined ? {} : { versionDestroyTtl: { seconds: String(options.versionDestroyTtlSeconds), nanos: 0 } }),
    };
    const stored: StoredSecret = { secret, versions: new Map(), lastVersion: 0 };
    for (const payload of payloads) this.#append(stored, Buffer.from(payload, 'utf8'));
    this.#secrets.set(name, stored);
  }

  /** Add a version as another writer would; with `moveAlias`, also point that alias at it. Returns its number. */
  write(name: string, payload: string, options: { moveAlias?: string } = {}): number {
    const stored = this.#secret(name);
    const number = this.#append(stored, Buffer.from(payload, 'utf8'));
    if (options.moveAlias !== undefined) {
      stored.secret.versionAliases = { ...stored.secret.versionAliases, [options.moveAlias]: String(number) };
      stored.secret.etag = this.#etag();
    }
    return number;
  }

  /** The payload of a version (a number, `latest` or an alias), or undefined when it is not ENABLED. */
  payload(name: string, version: string | number = 'latest'): string | undefined {
    const found = this.#version(`${name}/versions/${version}`);
    return found.meta.state === 'ENABLED' ? found.data?.toString('utf8') : undefined;
  }

  /** Flip one bit of a stored payload, keeping its stored checksum: damage at rest, which data_crc32c is there to catch. */
  corrupt(name: string, version: string | number): void {
    const found = this.#version(`${name}/versions/${version}`);
    if (found.data === undefined || found.data.length === 0) throw new Error('no payload to corrupt');
    found.data = Buffer.from(found.data);
    found.data[0]! ^= 0x01;
  }

  /** Whether a version was added with a client-given checksum (SecretVersion.client_specified_payload_checksum). */
  clientChecksum(name: string, version: string | number): boolean {
    return this.#version(`${name}/versions/${version}`).meta.clientSpecifiedPayloadChecksum;
  }

  /** Every version of a secret, oldest first, with its state. */
  versions(name: string): Array<{ number: number; state: VersionState }> {
    for (const v of this.#secret(name).versions.values()) settle(v);
    return [...this.#secret(name).versions.entries()].sort(([a], [b]) => a - b).map(([number, v]) => ({ number, state: v.meta.state }));
  }

  /** When a version's delayed destruction is due (SecretVersion.scheduled_destroy_time), or undefined. */
  scheduledDestroy(name: string, version: number): Date | undefined {
    const due = this.#version(`${name}/versions/${version}`).meta.scheduledDestroyTime;
    return due === undefined ? undefined : new Date(Number(due.seconds) * 1000);
  }

  /** Let time pass for delayed destructions: every scheduled one on the secret falls due now. */
  passDestroyTtl(name: string): void {
    for (const v of this.#secret(name).versions.values()) {
      if (v.meta.scheduledDestroyTime !== undefined) v.meta.scheduledDestroyTime = at(Date.now() - 1000);
    }
  }

  /** The secret's metadata, as GetSecret would return it. */
  secret(name: string): SecretMessage {
    return clone(this.#secret(name).secret);
  }

  /** Whether a secret exists. */
  has(name: string): boolean {
    return this.#secrets.has(name);
  }

  // ---- internals ----

  async #serve<T>(method: Exclude<MethodName, 'TestIamPermissions'>, principal: string, resource: string, fn: () => T): Promise<T> {
    this.#count(method);
    await this.#delay();
    this.#fault(method);
    const project = /^projects\/([^/]+)/.exec(resource)?.[1];
    if (WRITE_METHODS.has(method) && !this.#takeWriteToken(project ?? '')) {
      this.throttled++;
      throw new ModelError(
        Code.RESOURCE_EXHAUSTED,
        "Quota exceeded for quota metric 'Write requests' and limit 'Write requests per minute' of service 'secretmanager.googleapis.com' " +
          `for consumer 'project_number:${PROJECT_NUMBER}'.`,
      );
    }
    if (project !== undefined && this.disabledApiProjects.has(project)) {
      throw new ModelError(
        Code.PERMISSION_DENIED,
        `Secret Manager API has not been used in project ${project} before or it is disabled. Enable it by visiting ` +
          `https://console.developers.google.com/apis/api/secretmanager.googleapis.com/overview?project=${project} then retry. ` +
          'If you enabled this API recently, wait a few minutes for the action to propagate to our systems and retry.',
      );
    }
    const permission = PERMISSION_OF[method];
    if (!this.#holds(principal, permission, resource)) {
      throw new ModelError(Code.PERMISSION_DENIED, `Permission '${permission}' denied for resource '${resource}' (or it may not exist).`);
    }
    return fn();
  }

  /** One token of the project's write bucket, when `writesPerMinute` is set and one is left; true when there is no limit. */
  #takeWriteToken(project: string): boolean {
    const perMinute = this.writesPerMinute;
    if (perMinute === undefined) return true;
    const perSecond = perMinute / 60;
    const t = performance.now();
    const bucket = this.#buckets.get(project) ?? { tokens: perSecond, at: t };
    bucket.tokens = Math.min(perSecond, bucket.tokens + ((t - bucket.at) / 1000) * perSecond);
    bucket.at = t;
    this.#buckets.set(project, bucket);
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

  #count(method: MethodName): void {
    this.calls.set(method, (this.calls.get(method) ?? 0) + 1);
  }

  async #delay(): Promise<void> {
    if (this.latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, this.latencyMs));
  }

  #fault(method: MethodName): void {
    const list = this.#faults.get(method);
    const fault = list?.[0];
    if (list === undefined || fault === undefined) return;
    fault.remaining -= 1;
    if (fault.remaining <= 0) list.shift();
    throw new ModelError(fault.code, fault.details);
  }

  #holds(principal: string, permission: string, resource: string): boolean {
    if (this.deniedPrincipals.has(principal)) return false;
    if (this.deniedResources.has(secretOf(resource))) return false;
    const only = this.restricted.get(principal);
    return only === undefined || only.has(permission);
  }

  #secret(name: string): StoredSecret {
    if (!SECRET_NAME.test(name)) throw invalid(`invalid secret name ${name}: expected projects/*/secrets/*`);
    const stored = this.#secrets.get(name);
    if (stored === undefined) throw new ModelError(Code.NOT_FOUND, `Secret [${name}] not found or has no versions.`);
    return stored;
  }

  /** Resolve `projects/p/secrets/s/versions/{number|latest|alias}` to a stored version. */
  #version(name: string): StoredVersion {
    const match = VERSION_NAME.exec(name);
    if (match === null) throw invalid(`invalid version name ${name}: expected projects/*/secrets/*/versions/*`);
    const secretName = match[1]!;
    const stored = this.#secret(secretName);
    const id = match[2]!;
    let number: number;
    if (/^[0-9]+$/.test(id)) number = Number(id);
    else if (id === 'latest') number = stored.lastVersion;
    else {
      const aliased = stored.secret.versionAliases[id];
      if (aliased === undefined) throw new ModelError(Code.NOT_FOUND, `Secret Version [${name}] not found.`);
      number = Number(aliased);
    }
    const version = stored.versions.get(number);
    if (version === undefined) throw new ModelError(Code.NOT_FOUND, `Secret Version [${secretName}/versions/${id}] not found.`);
    settle(version);
    return version;
  }

  async #setState(
    method: 'DisableSecretVersion' | 'EnableSecretVersion' | 'DestroySecretVersion',
    req: { name?: string; etag?: string },
    principal: string,
    state: VersionState,
  ): Promise<SecretVersionMessage> {
    const name = req.name ?? '';
    return this.#serve(method, principal, secretOf(name), () => {
      const version = this.#version(name);
      if (req.etag !== undefined && req.etag !== '' && req.etag !== version.meta.etag) {
        throw etagMismatch();
      }
      if (version.meta.state === 'DESTROYED') {
        throw new ModelError(Code.FAILED_PRECONDITION, `Secret Version [${version.meta.name}] is in DESTROYED state.`);
      }
      // "Even when an update doesn't change a resource's state, it still updates the resource ETag"
      // (https://cloud.google.com/secret-manager/docs/etags).
      version.meta.etag = this.#etag();
      const ttl = Number(this.#secret(secretOf(name)).secret.versionDestroyTtl?.seconds ?? 0);
      if (state === 'DESTROYED' && ttl > 0) {
        // Delayed destruction: DISABLED now, destroyed at scheduled_destroy_time; a version already scheduled keeps its time.
        version.meta.state = 'DISABLED';
        version.meta.scheduledDestroyTime ??= at(Date.now() + ttl * 1000);
        return clone(version.meta);
      }
      if (state === 'ENABLED') delete version.meta.scheduledDestroyTime;
      if (version.meta.state !== state) {
        version.meta.state = state;
        if (state === 'DESTROYED') {
          version.data = undefined;
          version.meta.destroyTime = now();
        }
      }
      return clone(version.meta);
    });
  }

  #append(stored: StoredSecret, data: Buffer): number {
    const number = ++stored.lastVersion;
    const meta: SecretVersionMessage = {
      name: `${stored.secret.name}/versions/${number}`,
      createTime: now(),
      state: 'ENABLED',
      etag: this.#etag(),
      clientSpecifiedPayloadChecksum: false,
    };
    stored.versions.set(number, { meta, data, crc32c: crc32c(data) });
    return number;
  }

  #etag(): string {
    // The service's etags are opaque quoted strings.
    return `"${(Date.now() * 1000 + ++this.#etagCounter).toString(16)}"`;
  }
}

/** An etag that does not match: FAILED_PRECONDITION with the generic text (https://cloud.google.com/secret-manager/docs/etags). */
function etagMismatch(): ModelError {
  return new ModelError(Code.FAILED_PRECONDITION, 'Precondition check failed.');
}

function invalid(details: string): ModelError {
  return new ModelError(Code.INVALID_ARGUMENT, details);
}

/** The secret a secret or version name belongs to (the resource IAM is checked on). */
function secretOf(name: string): string {
  const match = /^(projects\/[^/]+(?:\/locations\/[^/]+)?\/secrets\/[^/]+)/.exec(name);
  return match === null ? name : match[1]!;
}

function validateAnnotations(annotations: Record<string, string>): void {
  let size = 0;
  for (const [key, value] of Object.entries(annotations)) {
    if (!ANNOTATION_KEY.test(key) || Buffer.byteLength(key) > 128) {
      throw invalid(`invalid annotation key ${key}: 1-63 characters, alphanumeric at both ends, - _ . between`);
    }
    size += Buffer.byteLength(key) + Buffer.byteLength(String(value));
  }
  if (size >= MAX_ANNOTATION_BYTES) throw invalid(`annotations total ${size} bytes; they must be under ${MAX_ANNOTATION_BYTES}`);
}

function now(): Timestamp {
  return at(Date.now());
}

function at(ms: number): Timestamp {
  return { seconds: String(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1_000_000 };
}

/** A delayed destruction whose time has come is carried out when the version is next looked at. */
function settle(version: StoredVersion): void {
  const due = version.meta.scheduledDestroyTime;
  if (due === undefined || Number(due.seconds) * 1000 > Date.now()) return;
  version.meta.state = 'DESTROYED';
  version.meta.destroyTime = due;
  delete version.meta.scheduledDestroyTime;
  version.data = undefined;
}

function toBuffer(data: Buffer | Uint8Array | string | undefined): Buffer {
  if (data === undefined || data === null) return Buffer.alloc(0);
  if (typeof data === 'string') return Buffer.from(data, 'base64');
  return Buffer.from(data);
}

function clone<T>(value: T): T {
  return structuredClone(value);
}

const CRC32C_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC32C (Castagnoli), the checksum the service uses for payloads. */
export function crc32c(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of data) crc = CRC32C_TABLE[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}
