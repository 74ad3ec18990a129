/**
 * An in-memory model of the parts of HashiCorp Vault that a KV version 2 client meets, written from Vault's API
 * documentation (KV v2 API, sys/capabilities-self, AppRole login, policies), not from any client:
 *
 * - tokens (`X-Vault-Token`) carry ACL policies: path rules with `*` (prefix glob) and `+` (one segment), the most
 *   specific rule wins, `deny` beats all, `root` may do anything; no token or an unknown one gets 403
 *   `{"errors":["permission denied"]}`. POST/PUT need `create` on a KV path that does not exist yet and `update`
 *   on one that does; GET needs `read`, DELETE `delete`, PATCH `patch`, LIST `list`.
 * - namespaces (`X-Vault-Namespace`), each with its own mounts; `secret/` is a KV v2 mount in the root namespace.
 * - KV v2: `data/` (GET with `?version=`, POST/PUT with `options.cas`, PATCH, DELETE = soft delete of the latest),
 *   `delete/`, `undelete/`, `destroy/`, `metadata/` (GET, POST/PUT, PATCH, DELETE, LIST), `config`.
 *   Versions count up from 1; `max_versions` (the key's, else the mount's, else 10) prunes the oldest on write;
 *   `cas` 0 means "only if the key has no version yet", a mismatch is 400 `check-and-set parameter did not match the
 *   current version`; a deleted or destroyed version reads as 404 carrying its metadata; a missing path is 404
 *   `{"errors":[]}`. `custom_metadata` holds at most 64 keys of at most 128 bytes, values of at most 512 bytes.
 * - `sys/capabilities-self` (every token may call it, as Vault's default policy allows) and
 *   `auth/approle/login`.
 * - `GET sys/internal/ui/mounts/<path>` (Vault API docs, "/sys/internal/ui/mounts", "Get single mount details"): the
 *   mount holding <path> as `{"data": {"path": "team/secrets/", "type": "kv", "options": {"version": "2"}, …}}`, for
 *   a token with a capability on some path in that mount (no policy on the endpoint itself is needed); otherwise,
 *   and for a path under no mount, 403 "preflight capability check returned 403, please ensure client's policies
 *   grant access to path …" (Vault's logical_system.go answers both alike, so mounts cannot be listed through it).
 * - KV version 1 mounts (`enableKv(mount, ns, 1)`): `GET`/`POST <mount>/<key>` with no versions, no `data/` prefix
 *   and no metadata; their mount options say `version: "1"` (Vault docs, "KV secrets engine - version 1").
 * - `GET sys/health` (unauthenticated, Vault API docs "/sys/health"): `version` is `serverVersion`. With a version
 *   before 1.9 the model answers as those did: KV v2 reads carry no `custom_metadata` and metadata writes ignore it
 *   (custom_metadata arrived in Vault 1.9, changelog 1.9.0 and hashicorp/vault#12218).
 * - token lifetimes (Vault docs, "Tokens" concept page, "Token time-to-live, periodic tokens, and explicit max TTLs";
 *   API "Token auth method": `auth/token/renew-self`, `auth/token/lookup-self`; AppRole API `token_ttl`,
 *   `token_max_ttl`): a token with a TTL stops working when it runs out, and is then answered like an unknown token
 *   (403 `permission denied`). A renewable token's `renew-self` extends it by its TTL (or `increment`) but never past
 *   its max TTL, warning when capped; a token that is not renewable gets 400 `lease is not renewable`.
 *   `lookup-self` reports `ttl` (seconds left), `expire_time` and `renewable`. The clock is `Date.now()`, so tests
 *   move time with fake timers.
 *
 * The model is transport-free: `handle()` takes a request and returns a reply. The HTTP server in
 * `vault-kv-server.ts` and SDK-level fakes in tests both sit on it. Tests reach into it through the side doors
 * (`put`, `version`, `latest`, `secret`) to seed values and to play another writer.
 */
import { randomBytes, randomUUID } from 'node:crypto';

/** One request as Vault sees it: the path after `/v1/`, with its query string. */
export interface VaultRequest {
  readonly method: string;
  readonly path: string;
  readonly token?: string | undefined;
  readonly namespace?: string | undefined;
  readonly body?: unknown;
}

/** One reply: a status and a JSON body (none for 204). */
export interface VaultReply {
  readonly status: number;
  readonly body?: unknown;
}

/** One ACL rule, as in a policy's `path "…" { capabilities = […] }`. */
export interface PolicyRule {
  readonly path: string;
  readonly capabilities: readonly string[];
}

interface TokenEntry {
  readonly rules: readonly PolicyRule[] | 'root';
  readonly namespace: string;
  /** When the token stops working (ms since the epoch); undefined for a token without a TTL (root). */
  expiresAt?: number;
  /** The TTL a renewal grants, in seconds. */
  readonly ttl?: number;
  /** The latest the token may live to, renewals included (ms since the epoch). */
  readonly maxExpiresAt?: number;
  readonly renewable?: boolean;
}

/** How long a token lives: its TTL, its max TTL (both in seconds) and whether it may be renewed. */
export interface TokenLifetime {
  readonly ttl: number;
  readonly maxTtl?: number;
  readonly renewable?: boolean;
}

interface VersionEntry {
  data: Record<string, unknown> | null;
  readonly createdTime: string;
  deletionTime: string;
  destroyed: boolean;
}

/** One key of a KV v2 mount: its metadata and its kept versions. */
export interface KvSecret {
  currentVersion: number;
  oldestVersion: number;
  maxVersions: number;
  casRequired: boolean;
  deleteVersionAfter: string;
  customMetadata: Record<string, string> | null;
  readonly createdTime: string;
  updatedTime: string;
  readonly versions: Map<number, VersionEntry>;
}

interface KvMount {
  /** The KV engine version, as in the mount's `options.version`. */
  readonly version: 1 | 2;
  /** KV v1 keys: one value each, no versions. */
  readonly flat: Map<string, Record<string, unknown>>;
  maxVersions: number;
  casRequired: boolean;
  deleteVersionAfter: string;
  readonly secrets: Map<string, KvSecret>;
}

/** A failure to inject: the next matching requests get this status instead of their answer. */
interface Fault {
  remaining: number;
  readonly status: number;
  readonly match: (request: VaultRequest) => boolean;
}

const DEFAULT_MAX_VERSIONS = 10;
const CUSTOM_METADATA_MAX_KEYS = 64;
const CUSTOM_METADATA_MAX_KEY_BYTES = 128;
const CUSTOM_METADATA_MAX_VALUE_BYTES = 512;

/** A token in the shape Vault issues (`hvs.` and 24 characters), random per model. */
export function vaultToken(): string {
  return `hvs.${randomBytes(18).toString('base64url').replace(/[-_]/g, 'x').slice(0, 24)}`;
}

export class VaultModel {
  /** Requests handled, including refused and failed ones. */
  requests = 0;
  /** Method, path and namespace of every request, in order (never the token or the body). */
  readonly log: Array<{ method: string; path: string; namespace: string }> = [];
  /** A token whose policy allows everything (`root`). */
  readonly rootToken = vaultToken();
  /** A token that may read and list every path and nothing else: writes get 403. */
  readonly readOnlyToken = vaultToken();
  /** The version `sys/health` reports; before 1.9, KV v2 has no custom_metadata. */
  serverVersion = '1.15.6';

  readonly #tokens = new Map<string, TokenEntry>();
  readonly #namespaces = new Map<string, Map<string, KvMount>>();
  readonly #approles = new Map<string, { secretIds: Set<string>; rules: readonly PolicyRule[]; namespace: string; lifetime: TokenLifetime }>();
  readonly #faults: Fault[] = [];
  #lag = 0;
  readonly #stale = new Map<string, { snapshot: KvSecret | undefined; remaining: number }>();

  constructor() {
    this.#tokens.set(this.rootToken, { rules: 'root', namespace: '' });
    this.#tokens.set(this.readOnlyToken, { rules: [{ path: '*', capabilities: ['read', 'list'] }], namespace: '' });
    this.enableKv('secret');
  }

  /** Issue a token with these policy rules (in a namespace, whose paths the rules then name relative to it). */
  addToken(rules: readonly PolicyRule[] | 'root', namespace = '', lifetime?: TokenLifetime): string {
    const token = vaultToken();
    const now = Date.now();
    this.#tokens.set(
      token,
      lifetime === undefined
        ? { rules, namespace }
        : {
            rules,
            namespace,
            expiresAt: now + lifetime.ttl * 1000,
            ttl: lifetime.ttl,
            maxExpiresAt: now + (lifetime.maxTtl ?? lifetime.ttl) * 1000,
            renewable: lifetime.renewable ?? true,
          },
    );
    return token;
  }

  /**
   * Answer like a performance standby that has not caught up (Vault Enterprise docs, "Vault Eventual Consistency":
   * without the consistency headers, a read after a write may be served by a standby that does not have it yet):
   * after each write of a key, the next `reads` reads of that key (data or metadata) see it as it was before the
   * write. 0 turns it off.
   */
  lagBehindWrites(reads: number): void {
    this.#lag = reads;
  }

  /** Revoke a token: later requests with it get 403. */
  revokeToken(token: string): void {
    this.#tokens.delete(token);
  }

  /** Create an AppRole role with one secret id; a login returns a token with these rules. */
  addAppRole(
    rules: readonly PolicyRule[] | 'root',
    namespace = '',
    lifetime: TokenLifetime = { ttl: 1200, maxTtl: 2400 },
  ): { roleId: string; secretId: string } {
    const roleId = randomUUID();
    const secretId = randomUUID();
    this.#approles.set(roleId, {
      secretIds: new Set([secretId]),
      rules: rules === 'root' ? [{ path: '*', capabilities: ['create', 'read', 'update', 'delete', 'list', 'patch'] }] : rules,
      namespace,
      lifetime,
    });
    return { roleId, secretId };
  }

  /** Create a namespace (Vault Enterprise); it starts with a KV v2 mount at `secret`. */
  addNamespace(name: string): void {
    if (!this.#namespaces.has(name)) this.#namespaces.set(name, new Map());
    this.enableKv('secret', name);
  }

  /** Mount a KV engine (version 2 unless told) at `mount` (which may contain slashes). */
  enableKv(mount: string, namespace = '', version: 1 | 2 = 2): void {
    let mounts = this.#namespaces.get(namespace);
    if (mounts === undefined) {
      mounts = new Map();
      this.#namespaces.set(namespace, mounts);
    }
    if (!mounts.has(mount)) mounts.set(mount, { version, flat: new Map(), maxVersions: 0, casRequired: false, deleteVersionAfter: '0s', secrets: new Map() });
  }

  /** Make the next `count` requests (or those `match` selects) fail with `status` (503 unless told). */
  failNext(count: number, status = 503, match: (request: VaultRequest) => boolean = () => true): void {
    this.#faults.push({ remaining: count, status, match });
  }

  // --- side doors for tests -------------------------------------------------------------------------------

  /** Write a new version as another client would (no cas, no ACL); returns the version number. */
  put(mount: string, path: string, data: Record<string, unknown>, namespace = ''): number {
    const reply = this.#writeData(this.#mount(mount, namespace), path, { data });
    if (reply.status !== 200) throw new Error(`seed ${mount}/${path} failed: ${JSON.stringify(reply.body)}`);
    return this.secret(mount, path, namespace)!.currentVersion;
  }

  /** Write a key of a KV version 1 mount as another client would. */
  putV1(mount: string, key: string, data: Record<string, unknown>, namespace = ''): void {
    this.#mount(mount, namespace).flat.set(key, structuredClone(data));
  }

  /** The raw key (metadata and versions), or undefined. */
  secret(mount: string, path: string, namespace = ''): KvSecret | undefined {
    return this.#mount(mount, namespace).secrets.get(path);
  }

  /** The data of one version (the latest when absent), or undefined when missing, deleted or destroyed. */
  version(mount: string, path: string, version?: number, namespace = ''): Record<string, unknown> | undefined {
    const secret = this.secret(mount, path, namespace);
    if (secret === undefined) return undefined;
    const entry = secret.versions.get(version ?? secret.currentVersion);
    return entry === undefined || entry.deletionTime !== '' || entry.destroyed || entry.data === null ? undefined : structuredClone(entry.data);
  }

  /** The latest version's data, as `version()` without a number. */
  latest(mount: string, path: string, namespace = ''): Record<string, unknown> | undefined {
    return this.version(mount, path, undefined, namespace);
  }

  // --- the API ---------------------------------------------------------------------------------------------

  /** Answer one request as Vault would. */
  handle(request: VaultRequest): VaultReply {
    this.requests++;
    const [rawPath = '', query = ''] = request.path.replace(/^\/+/, '').split('?', 2);
    const path = decodeURIComponent(rawPath).replace(/\/+$/, '');
    const params = new URLSearchParams(query);
    const method = request.method.toUpperCase();
    const namespace = (request.namespace ?? '').replace(/^\/+|\/+$/g, '');
    this.log.push({ method, path, namespace });

    const fault = this.#faults.find((f) => f.remaining > 0 && f.match(request));
    if (fault !== undefined) {
      fault.remaining--;
      return error(fault.status, fault.status === 429 ? 'rate limit quota exceeded' : 'local node not active but active cluster node not found');
    }

    const body = (typeof request.body === 'object' && request.body !== null ? request.body : {}) as Record<string, unknown>;
    if (path === 'sys/health' && method === 'GET') {
      return { status: 200, body: { initialized: true, sealed: false, standby: false, performance_standby: false, version: this.serverVersion } };
    }
    if (path === 'auth/approle/login' && (method === 'POST' || method === 'PUT')) return this.#approleLogin(body, namespace);

    const token = request.token === undefined ? undefined : this.#tokens.get(request.token);
    // An expired token is revoked by Vault: from then on it is answered as an unknown one.
    if (token?.expiresAt !== undefined && token.expiresAt <= Date.now()) this.#tokens.delete(request.token!);
    if (token === undefined || !this.#tokens.has(request.token!) || (token.namespace !== '' && token.namespace !== namespace)) {
      return error(403, 'permission denied');
    }
    if (namespace !== '' && !this.#namespaces.has(namespace)) return error(403, 'permission denied');

    if (path === 'sys/capabilities-self' && (method === 'POST' || method === 'PUT')) return this.#capabilities(token, body);
    if (path.startsWith('sys/internal/ui/mounts/') && method === 'GET') return this.#uiMount(token, namespace, path.slice('sys/internal/ui/mounts/'.length));
    if (path === 'auth/token/lookup-self' && method === 'GET') {
      const ttl = token.expiresAt === undefined ? 0 : Math.floor((token.expiresAt - Date.now()) / 1000);
      return ok({
        policies: token.rules === 'root' ? ['root'] : ['default', 'rekey'],
        namespace_path: namespace === '' ? '' : `${namespace}/`,
        ttl,
        expire_time: token.expiresAt === undefined ? null : new Date(token.expiresAt).toISOString(),
        renewable: token.renewable === true,
      });
    }
    if (path === 'auth/token/renew-self' && (method === 'POST' || method === 'PUT')) return this.#renewSelf(request.token!, token, body);

    const list = method === 'LIST' || (method === 'GET' && params.get('list') === 'true');
    const found = this.#route(namespace, path);
    const capability = this.#capabilityFor(method, list, found);
    if (!this.#allowed(token, path, capability)) return error(403, 'permission denied');
    if (found === undefined) return error(404, `no handler for route "${path}". route entry not found.`);
    const { mount, op, key } = found;
    if (op === 'v1') {
      if (key === '') return error(405, 'unsupported operation');
      if (method === 'GET' && !list) {
        const value = mount.flat.get(key);
        return value === undefined ? error(404) : ok(structuredClone(value));
      }
      if (method === 'POST' || method === 'PUT') {
        mount.flat.set(key, structuredClone(body));
        return { status: 204 };
      }
      return error(405, 'unsupported operation');
    }

    // A performance standby that lags: a write is applied, and the reads that follow see the key as it was before.
    const staleKey = `${namespace}|${path.split('/')[0]}|${key}`;
    if (this.#lag > 0 && (op === 'data' || op === 'metadata') && key !== '' && method !== 'GET' && !list) {
      const before = mount.secrets.get(key);
      this.#stale.set(staleKey, { snapshot: before === undefined ? undefined : structuredClone(before), remaining: this.#lag });
    }
    const stale = method === 'GET' && !list ? this.#stale.get(staleKey) : undefined;
    if (stale !== undefined && stale.remaining > 0 && (op === 'data' || op === 'metadata')) {
      stale.remaining--;
      const current = mount.secrets.get(key);
      if (stale.snapshot === undefined) mount.secrets.delete(key);
      else mount.secrets.set(key, stale.snapshot);
      try {
        return op === 'data' ? this.#readData(mount, key, params.get('version')) : this.#readMetadata(mount, key);
      } finally {
        if (current === undefined) mount.secrets.delete(key);
        else mount.secrets.set(key, current);
      }
    }

    switch (op) {
      case 'config':
        if (method === 'GET') return ok({ max_versions: mount.maxVersions, cas_required: mount.casRequired, delete_version_after: mount.deleteVersionAfter });
        if (method === 'POST' || method === 'PUT') {
          if (typeof body['max_versions'] === 'number') mount.maxVersions = body['max_versions'];
          if (typeof body['cas_required'] === 'boolean') mount.casRequired = body['cas_required'];
          if (typeof body['delete_version_after'] === 'string') mount.deleteVersionAfter = body['delete_version_after'];
          return { status: 204 };
        }
        break;
      case 'data':
        if (key === '') break;
        if (method === 'GET' && !list) return this.#readData(mount, key, params.get('version'));
        if (method === 'POST' || method === 'PUT') return this.#writeData(mount, key, body);
        if (method === 'PATCH') return this.#patchData(mount, key, body);
        if (method === 'DELETE') return this.#deleteLatest(mount, key);
        break;
      case 'delete':
      case 'undelete':
      case 'destroy':
        if (key === '' || !(method === 'POST' || method === 'PUT')) break;
        return this.#versionsOp(mount, key, op, body);
      case 'metadata':
        if (list) return this.#listKeys(mount, key);
        if (key === '') break;
        if (method === 'GET') return this.#readMetadata(mount, key);
        if (method === 'POST' || method === 'PUT') return this.#writeMetadata(mount, key, body, false);
        if (method === 'PATCH') return this.#writeMetadata(mount, key, body, true);
        if (method === 'DELETE') {
          mount.secrets.delete(key);
          return { status: 204 };
        }
        break;
    }
    return error(405, 'unsupported operation');
  }

  // --- routing and ACLs ------------------------------------------------------------------------------------

  #mount(mount: string, namespace: string): KvMount {
    const found = this.#namespaces.get(namespace)?.get(mount);
    if (found === undefined) throw new Error(`no KV mount ${mount} in namespace "${namespace}"`);
    return found;
  }

  /** The KV mount a path falls in (longest mount prefix), the operation segment and the key after it. */
  #route(namespace: string, path: string): { mount: KvMount; op: string; key: string } | undefined {
    const mounts = this.#namespaces.get(namespace);
    if (mounts === undefined) return undefined;
    const name = [...mounts.keys()].filter((m) => path === m || path.startsWith(`${m}/`)).sort((a, b) => b.length - a.length)[0];
    if (name === undefined) return undefined;
    const rest = path.slice(name.length + 1);
    // KV v1 has no operation segment: `<mount>/<key>` is the key itself, so `secret/data/app` is the key "data/app".
    if (mounts.get(name)!.version === 1) return { mount: mounts.get(name)!, op: 'v1', key: rest };
    const slash = rest.indexOf('/');
    const op = slash === -1 ? rest : rest.slice(0, slash);
    const key = slash === -1 ? '' : rest.slice(slash + 1);
    if (!['data', 'metadata', 'delete', 'undelete', 'destroy', 'config'].includes(op)) return undefined;
    return { mount: mounts.get(name)!, op, key };
  }

  /** The capability a request needs: data and metadata writes are `create` on a new key, `update` on an existing one. */
  #capabilityFor(method: string, list: boolean, found: { mount: KvMount; op: string; key: string } | undefined): string {
    if (list) return 'list';
    switch (method) {
      case 'GET':
        return 'read';
      case 'DELETE':
        return 'delete';
      case 'PATCH':
        return 'patch';
      default:
        if (found !== undefined && (found.op === 'data' || found.op === 'metadata')) return found.mount.secrets.has(found.key) ? 'update' : 'create';
        if (found?.op === 'v1') return found.mount.flat.has(found.key) ? 'update' : 'create';
        return 'update';
    }
  }

  #allowed(token: TokenEntry, path: string, capability: string): boolean {
    const caps = capabilitiesOf(token.rules, path);
    return caps.includes('root') || caps.includes(capability);
  }

  /** `sys/internal/ui/mounts/<path>`: the mount holding `path`, for a token with a capability somewhere in it. */
  #uiMount(token: TokenEntry, namespace: string, path: string): VaultReply {
    const mounts = this.#namespaces.get(namespace) ?? new Map<string, KvMount>();
    const name = [...mounts.keys()].filter((m) => path === m || path.startsWith(`${m}/`)).sort((a, b) => b.length - a.length)[0];
    if (name === undefined || !hasMountAccess(token.rules, name)) {
      return error(403, `preflight capability check returned 403, please ensure client's policies grant access to path "${path}/"`);
    }
    const mount = mounts.get(name)!;
    return ok({
      accessor: `kv_${name.replace(/\W/g, '')}`,
      config: { default_lease_ttl: 0, force_no_cache: false, max_lease_ttl: 0 },
      description: '',
      external_entropy_access: false,
      local: false,
      options: { version: String(mount.version) },
      path: `${name}/`,
      seal_wrap: false,
      type: 'kv',
      uuid: randomUUID(),
    });
  }

  #capabilities(token: TokenEntry, body: Record<string, unknown>): VaultReply {
    const paths = Array.isArray(body['paths'])
      ? body['paths'].filter((p): p is string => typeof p === 'string')
      : typeof body['path'] === 'string'
        ? [body['path']]
        : [];
    if (paths.length === 0) return error(400, "'paths' must be specified");
    const result: Record<string, string[]> = {};
    for (const path of paths) result[path] = capabilitiesOf(token.rules, path.replace(/^\/+/, ''));
    if (paths.length === 1) result['capabilities'] = result[paths[0]!]!;
    // Vault returns the map both at the top level and under `data`.
    return { status: 200, body: { ...envelope(result), ...result } };
  }

  #approleLogin(body: Record<string, unknown>, namespace: string): VaultReply {
    const role = typeof body['role_id'] === 'string' ? this.#approles.get(body['role_id']) : undefined;
    if (role === undefined || role.namespace !== namespace || typeof body['secret_id'] !== 'string' || !role.secretIds.has(body['secret_id'])) {
      return error(400, 'invalid role or secret ID');
    }
    const token = this.addToken(role.rules, namespace, role.lifetime);
    return {
      status: 200,
      body: {
        ...envelope(null),
        auth: {
          client_token: token,
          accessor: randomUUID(),
          policies: ['default', 'rekey'],
          token_policies: ['default', 'rekey'],
          lease_duration: role.lifetime.ttl,
          renewable: role.lifetime.renewable ?? true,
          metadata: { role_name: 'rekey' },
        },
      },
    };
  }

  #renewSelf(id: string, token: TokenEntry, body: Record<string, unknown>): VaultReply {
    if (token.expiresAt === undefined || token.renewable !== true) return error(400, 'lease is not renewable');
    const increment = typeof body['increment'] === 'number' ? body['increment'] : token.ttl!;
    const wanted = Date.now() + increment * 1000;
    token.expiresAt = Math.min(wanted, token.maxExpiresAt!);
    const lease = Math.floor((token.expiresAt - Date.now()) / 1000);
    const capped = wanted > token.maxExpiresAt!;
    return {
      status: 200,
      body: {
        ...envelope(null),
        warnings: capped ? [`TTL of "${increment}s" exceeded the effective max_ttl of "${lease}s"; TTL value is capped accordingly`] : null,
        auth: { client_token: id, policies: ['default', 'rekey'], lease_duration: lease, renewable: true },
      },
    };
  }

  // --- KV v2 -----------------------------------------------------------------------------------------------

  #readData(mount: KvMount, key: string, versionParam: string | null): VaultReply {
    const secret = mount.secrets.get(key);
    if (secret === undefined) return error(404);
    const asked = versionParam === null ? 0 : Number(versionParam);
    if (!Number.isInteger(asked) || asked < 0) return error(400, 'invalid version');
    const number = asked > 0 ? asked : secret.currentVersion;
    const version = secret.versions.get(number);
    if (version === undefined) return error(404);
    const metadata = {
      created_time: version.createdTime,
      ...(this.#hasCustomMetadata() ? { custom_metadata: secret.customMetadata === null ? null : { ...secret.customMetadata } } : {}),
      deletion_time: version.deletionTime,
      destroyed: version.destroyed,
      version: number,
    };
    // A deleted or destroyed version is a 404 that still carries the version's metadata.
    if (version.deletionTime !== '' || version.destroyed || version.data === null) return { status: 404, body: envelope({ data: null, metadata }) };
    return ok({ data: structuredClone(version.data), metadata });
  }

  /** Whether this Vault's version has KV v2 custom_metadata (1.9 and later). */
  #hasCustomMetadata(): boolean {
    const [major = 0, minor = 0] = this.serverVersion.split('.').map(Number);
    return major > 1 || (major === 1 && minor >= 9);
  }

  #writeData(mount: KvMount, key: string, body: Record<string, unknown>): VaultReply {
    const data = body['data'];
    if (typeof data !== 'object' || data === null || Array.isArray(data)) return error(400, 'no data provided');
    const existing = mount.secrets.get(key);
    const cas = this.#checkAndSet(mount, existing, body['options']);
    if (cas !== undefined) return cas;
    const secret = existing ?? this.#newSecret(mount, key);
    const now = new Date().toISOString();
    const number = secret.currentVersion + 1;
    secret.versions.set(number, { data: structuredClone(data as Record<string, unknown>), createdTime: now, deletionTime: '', destroyed: false });
    secret.currentVersion = number;
    secret.updatedTime = now;
    this.#prune(mount, secret);
    const custom = this.#hasCustomMetadata() ? { custom_metadata: secret.customMetadata } : {};
    return ok({ created_time: now, ...custom, deletion_time: '', destroyed: false, version: number });
  }

  #patchData(mount: KvMount, key: string, body: Record<string, unknown>): VaultReply {
    const patch = body['data'];
    if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) return error(400, 'no data provided');
    const secret = mount.secrets.get(key);
    const current = secret?.versions.get(secret.currentVersion);
    if (secret === undefined || current === undefined || current.data === null || current.deletionTime !== '' || current.destroyed) return error(404);
    const merged = mergePatch(current.data, patch as Record<string, unknown>) as Record<string, unknown>;
    return this.#writeData(mount, key, { data: merged, options: body['options'] });
  }

  /** A 400 reply when the write's check-and-set option (or its absence, where required) refuses it. */
  #checkAndSet(mount: KvMount, secret: KvSecret | undefined, options: unknown): VaultReply | undefined {
    const cas = typeof options === 'object' && options !== null ? (options as Record<string, unknown>)['cas'] : undefined;
    if (cas !== undefined) {
      const number = Number(cas);
      if (!Number.isInteger(number)) return error(400, 'error parsing check-and-set parameter');
      if (number !== (secret?.currentVersion ?? 0)) return error(400, 'check-and-set parameter did not match the current version');
      return undefined;
    }
    if (mount.casRequired || secret?.casRequired === true) return error(400, 'check-and-set parameter required for this call');
    return undefined;
  }

  #newSecret(mount: KvMount, key: string): KvSecret {
    const now = new Date().toISOString();
    const secret: KvSecret = {
      currentVersion: 0,
      oldestVersion: 0,
      maxVersions: 0,
      casRequired: false,
      deleteVersionAfter: '0s',
      customMetadata: null,
      createdTime: now,
      updatedTime: now,
      versions: new Map(),
    };
    mount.secrets.set(key, secret);
    return secret;
  }

  /** Drop the oldest versions beyond the key's (else the mount's, else 10) max_versions. */
  #prune(mount: KvMount, secret: KvSecret): void {
    const max = secret.maxVersions || mount.maxVersions || DEFAULT_MAX_VERSIONS;
    const numbers = [...secret.versions.keys()].sort((a, b) => a - b);
    if (numbers.length <= max) return;
    while (numbers.length > max) secret.versions.delete(numbers.shift()!);
    secret.oldestVersion = numbers[0] ?? 0;
  }

  #deleteLatest(mount: KvMount, key: string): VaultReply {
    const secret = mount.secrets.get(key);
    const latest = secret?.versions.get(secret.currentVersion);
    if (latest !== undefined && latest.deletionTime === '' && !latest.destroyed) latest.deletionTime = new Date().toISOString();
    return { status: 204 };
  }

  #versionsOp(mount: KvMount, key: string, op: string, body: Record<string, unknown>): VaultReply {
    const versions = body['versions'];
    if (!Array.isArray(versions) || versions.length === 0) return error(400, 'no version number provided');
    const secret = mount.secrets.get(key);
    if (secret === undefined) return { status: 204 };
    const now = new Date().toISOString();
    for (const raw of versions) {
      const version = secret.versions.get(Number(raw));
      if (version === undefined) continue;
      if (op === 'destroy') {
        version.destroyed = true;
        version.data = null;
      } else if (!version.destroyed) {
        version.deletionTime = op === 'delete' ? version.deletionTime || now : '';
      }
    }
    return { status: 204 };
  }

  #readMetadata(mount: KvMount, key: string): VaultReply {
    const secret = mount.secrets.get(key);
    if (secret === undefined) return error(404);
    const versions: Record<string, { created_time: string; deletion_time: string; destroyed: boolean }> = {};
    for (const [number, v] of [...secret.versions.entries()].sort((a, b) => a[0] - b[0])) {
      versions[String(number)] = { created_time: v.createdTime, deletion_time: v.deletionTime, destroyed: v.destroyed };
    }
    return ok({
      cas_required: secret.casRequired,
      created_time: secret.createdTime,
      current_version: secret.currentVersion,
      ...(this.#hasCustomMetadata() ? { custom_metadata: secret.customMetadata === null ? null : { ...secret.customMetadata } } : {}),
      delete_version_after: secret.deleteVersionAfter,
      max_versions: secret.maxVersions,
      oldest_version: secret.oldestVersion,
      updated_time: secret.updatedTime,
      versions,
    });
  }

  #writeMetadata(mount: KvMount, key: string, body: Record<string, unknown>, patch: boolean): VaultReply {
    let custom: Record<string, string> | undefined;
    const raw = body['custom_metadata'];
    // Before 1.9 the field is unknown to the endpoint: Vault's request framework drops fields a path does not declare.
    if (raw !== undefined && this.#hasCustomMetadata()) {
      if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return error(400, 'custom_metadata validation failed: not a map');
      const existing = mount.secrets.get(key)?.customMetadata ?? {};
      const merged: Record<string, string> = patch ? { ...existing } : {};
      for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
        if (patch && v === null) delete merged[k];
        else merged[k] = typeof v === 'string' ? v : String(v);
      }
      const problems = validateCustomMetadata(merged);
      if (problems.length > 0) return error(400, problems.join('; '));
      custom = merged;
    }
    let secret = mount.secrets.get(key);
    if (secret === undefined) {
      // PATCH needs an existing key; POST creates the metadata of a key that has no version yet.
      if (patch) return error(404);
      secret = this.#newSecret(mount, key);
    }
    // Only the fields present in the request change; the others keep their values.
    if (typeof body['max_versions'] === 'number') secret.maxVersions = body['max_versions'];
    if (typeof body['cas_required'] === 'boolean') secret.casRequired = body['cas_required'];
    if (typeof body['delete_version_after'] === 'string') secret.deleteVersionAfter = body['delete_version_after'];
    if (custom !== undefined) secret.customMetadata = custom;
    secret.updatedTime = new Date().toISOString();
    return { status: 204 };
  }

  #listKeys(mount: KvMount, prefix: string): VaultReply {
    const base = prefix === '' ? '' : `${prefix.replace(/\/+$/, '')}/`;
    const keys = new Set<string>();
    for (const key of mount.secrets.keys()) {
      if (!key.startsWith(base)) continue;
      const rest = key.slice(base.length);
      const slash = rest.indexOf('/');
      keys.add(slash === -1 ? rest : rest.slice(0, slash + 1));
    }
    if (keys.size === 0) return error(404);
    return ok({ keys: [...keys].sort() });
  }
}

/** Vault's checks on custom_metadata: at most 64 keys; keys 1–128 bytes, values 1–512 bytes, all printable. */
function validateCustomMetadata(custom: Record<string, string>): string[] {
  const keys = Object.keys(custom);
  if (keys.length > CUSTOM_METADATA_MAX_KEYS)
    return [`custom_metadata validation failed: payload must contain at most ${CUSTOM_METADATA_MAX_KEYS} keys, provided ${keys.length}`];
  const problems: string[] = [];
  for (const [key, value] of Object.entries(custom)) {
    const keyBytes = Buffer.byteLength(key, 'utf8');
    const valueBytes = Buffer.byteLength(value, 'utf8');
    if (keyBytes === 0 || keyBytes > CUSTOM_METADATA_MAX_KEY_BYTES)
      problems.push(`custom_metadata validation failed: length of key "${key}" is ${keyBytes} but must be 0 < len(key) <= ${CUSTOM_METADATA_MAX_KEY_BYTES}`);
    if (valueBytes === 0 || valueBytes > CUSTOM_METADATA_MAX_VALUE_BYTES)
      problems.push(
        `custom_metadata validation failed: length of value for key "${key}" is ${valueBytes} but must be 0 < len(value) <= ${CUSTOM_METADATA_MAX_VALUE_BYTES}`,
      );
    // biome-ignore lint/suspicious/noControlCharactersInRegex: Vault refuses control characters in custom metadata; this finds them.
    if (/[\x00-\x1f\x7f]/.test(key) || /[\x00-\x1f\x7f]/.test(value))
      problems.push(`custom_metadata validation failed: key "${key}" or its value contains unprintable characters`);
  }
  return problems;
}

/**
 * Whether `rules` grant any capability on some path in `mount`, as Vault's hasMountAccess decides for the UI's
 * mount preflight: a rule that is not only `deny` and whose path may name something under `<mount>/` (a glob that
 * starts inside or above it, or `+` segments standing for the mount's).
 */
function hasMountAccess(rules: readonly PolicyRule[] | 'root', mount: string): boolean {
  if (rules === 'root') return true;
  const segments = mount.split('/');
  return rules.some((rule) => {
    if (rule.capabilities.every((c) => c === 'deny')) return false;
    const glob = rule.path.endsWith('*');
    const parts = (glob ? rule.path.slice(0, -1) : rule.path).split('/');
    for (let i = 0; i < segments.length; i++) {
      const part = parts[i];
      if (part === undefined) return false;
      // A trailing glob at or above the mount covers everything in it (`*`, `sec*`, `team/*`).
      if (i === parts.length - 1) return glob && segments[i]!.startsWith(part);
      if (part !== '+' && part !== segments[i]) return false;
    }
    return parts.length > segments.length;
  });
}

/** The capabilities `rules` grant on `path`: the most specific matching rule's, `deny` winning. */
export function capabilitiesOf(rules: readonly PolicyRule[] | 'root', path: string): string[] {
  if (rules === 'root') return ['root'];
  const matching = rules.filter((rule) => pathMatches(rule.path, path));
  if (matching.length === 0) return ['deny'];
  const best = matching.reduce((a, b) => (morePrecise(a.path, b.path) ? a : b)).path;
  const caps = new Set(matching.filter((rule) => rule.path === best).flatMap((rule) => rule.capabilities));
  return caps.has('deny') ? ['deny'] : [...caps].sort();
}

/** Whether a policy path (`secret/data/*`, `secret/+/app`) covers a request path. */
function pathMatches(pattern: string, path: string): boolean {
  const glob = pattern.endsWith('*');
  const parts = (glob ? pattern.slice(0, -1) : pattern).split('/');
  const segments = path.split('/');
  if (glob ? segments.length < parts.length : segments.length !== parts.length) return false;
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    const segment = segments[i]!;
    // A trailing glob matches any rest: the rest of this segment and every segment after it.
    if (glob && i === parts.length - 1) return segment.startsWith(part);
    if (part !== '+' && part !== segment) return false;
  }
  return true;
}

/** Vault's priority between two matching policy paths: true when `a` wins over `b`. */
function morePrecise(a: string, b: string): boolean {
  const firstWildcard = (p: string): number => {
    const indexes = [p.indexOf('+'), p.indexOf('*')].filter((i) => i !== -1);
    return indexes.length === 0 ? Number.POSITIVE_INFINITY : Math.min(...indexes);
  };
  if (firstWildcard(a) !== firstWildcard(b)) return firstWildcard(a) > firstWildcard(b);
  if (a.endsWith('*') !== b.endsWith('*')) return !a.endsWith('*');
  const plusCount = (p: string): number => p.split('/').filter((s) => s === '+').length;
  if (plusCount(a) !== plusCount(b)) return plusCount(a) < plusCount(b);
  if (a.length !== b.length) return a.length > b.length;
  return a > b;
}

/** RFC 7386 JSON merge patch. */
function mergePatch(target: unknown, patch: unknown): unknown {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) return patch;
  const result: Record<string, unknown> =
    typeof target === 'object' && target !== null && !Array.isArray(target) ? { ...(target as Record<string, unknown>) } : {};
  for (const [key, value] of Object.entries(patch as Record<string, unknown>)) {
    if (value === null) delete result[key];
    else result[key] = mergePatch(result[key], value);
  }
  return result;
}

function envelope(data: unknown): Record<string, unknown> {
  return { request_id: randomUUID(), lease_id: '', renewable: false, lease_duration: 0, data, wrap_info: null, warnings: null, auth: null, mount_type: 'kv' };
}

function ok(data: unknown): VaultReply {
  return { status: 200, body: envelope(data) };
}

function error(status: number, ...messages: string[]): VaultReply {
  return { status, body: { errors: messages } };
}
