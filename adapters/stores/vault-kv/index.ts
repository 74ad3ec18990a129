/**
 * HashiCorp Vault KV version 2. A write is current at once (Vault has no staging), so `stage` writes the new value
 * with check-and-set against the version the run started from, and `promote` only confirms it is still current.
 * Each run records itself in the secret's `custom_metadata`, so that a resumed run finds the version it wrote.
 *
 * ```yaml
 * stores:
 *   - vault-kv: secret/web/streampixel#api_key   # mount "secret", path "web/streampixel", field "api_key"
 *     address: https://vault.example.com:8200     # optional: else VAULT_ADDR
 *     namespace: team-a                           # optional: else VAULT_NAMESPACE (Vault Enterprise, HCP Vault)
 *     token: VAULT_TOKEN_ROTATE                   # optional: the environment variable holding the token (default VAULT_TOKEN)
 *     # or AppRole instead of a token:
 *     # roleId: 4c3e1f0a-…                       #   the role id (not a secret)
 *     # secretIdEnv: VAULT_SECRET_ID             #   the environment variable holding the secret id
 *     destroyOnRetire: true                       # optional: destroy the old version once the old key is proven dead
 *   - vault-kv: kv/team-a/web/app#API_KEY         # mount "kv/team-a", found by asking Vault
 *     mount: kv/team-a                            # optional: for a token Vault will not name the mount to
 * ```
 *
 * The mount is not guessed from the ref: Vault's UI preflight (`sys/internal/ui/mounts/<path>`, ./mounts.ts) names
 * the mount holding the path, once per store, for any token with a policy in that mount. `check` and `canStage`
 * refuse a KV version 1 mount and a Vault before 1.9 (whose KV v2 reads carry no `custom_metadata`) before anything
 * is minted; with the `mount` option they still ask, and go on when Vault will not say.
 *
 * Before the mint, `canStage` looks at the latest version (it must exist, not be deleted or destroyed, and still be the
 * run's base, so that the check-and-set write would be accepted), checks that the run's record fits
 * `custom_metadata`, and asks `sys/capabilities-self` whether the token may write; it writes nothing. The latest
 * version is the one the pre-flight's `read` just returned (its number and metadata are kept for a few seconds, never
 * the data), and is read again only when that answer is not at hand; `sys/health` is asked beside it.
 *
 * The token's policy needs `read`, `create` and `update` on `<mount>/data/<path>` and `update` on
 * `<mount>/metadata/<path>`; `update` on `<mount>/destroy/<path>` with `destroyOnRetire`.
 *
 * What the adapter keeps in `custom_metadata`, one key per run and field (`rekey:<run>:<field>`), as compact JSON:
 * `{"run":…,"base":7,"new":"<tag>","old":"<tag>","at":"<ISO time>","rollback":8}`. A tag is a short SHA-256 of the
 * run id and a value, so the metadata names no value and a tag from one run says nothing about another run.
 * The run's own version is always `base + 1` (a check-and-set write on `base` can only create that version), and
 * it is the run's when its field carries the `new` tag: that check makes a crash between any two calls harmless.
 */
import { Secret } from '../../../src/contract/secret.js';
import type { RunId, SecretStore, SecretStoreAdapter, StoreCheck, StoreContext, StoreRef, StoredValue, VersionId } from '../../../src/contract/store.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { CannotStageError, SecretNotFoundError, StoreConflictError, StoreError, StoreUnavailableError } from '../../../src/contract/store-errors.js';
import { isRetriable, type RetryOptions } from '../../../src/util/retry.js';
import { callService, createWriteLimiter, lazyClient, type WriteLimiter, writeLimiter } from '../kit/index.js';

import { connectNodeVault, KIND, refProblem, type VaultConnection, type VaultKvClient } from './client.js';
import { customOf, dataOf, recordOf, responseBodyOf, statusOf } from './reply.js';
import { type Need, renamed, toStoreError, VaultRateLimitedError } from './errors.js';
import { ABSENT, entriesOf, entryKey, entryOf, type RunEntry, tag, withEntry } from './records.js';
import { type MountInfo, lookupMount, mountProblem, oldVault, olderThanCustomMetadata, serverVersion, unknownMount } from './mounts.js';

export type { VaultKvClient } from './client.js';
export { CUSTOM_METADATA_LIMITS, entryKey, MAX_RUN_ENTRIES, withEntry } from './records.js';

/** How to open a Vault KV store: where its mount is, and how to get an authenticated client. */
export interface VaultKvStoreOptions {
  /** The mount; otherwise Vault is asked which mount holds the ref's path (sys/internal/ui/mounts). */
  readonly mount?: string | undefined;
  /** Destroy the old version in `retire` (Vault keeps it otherwise, until `max_versions` prunes it). */
  readonly destroyOnRetire?: boolean | undefined;
  /** Builds an authenticated client; called once, on the first call that needs Vault. */
  readonly connect: () => Promise<VaultKvClient>;
  /** Backoff for 5xx and dropped connections (tests shorten it). */
  readonly retry?: RetryOptions | undefined;
  /**
   * The Vault address the client talks to: every store of one address shares one write pace (a root quota holds for
   * every namespace). A store without one (a test's fake client) paces its writes alone.
   */
  readonly endpoint?: string | undefined;
}

/**
 * The pace of writes per Vault address. Vault has no quota of its own: an operator may set rate limit quotas
 * (sys/quotas/rate-limit), a token bucket per client address and node that counts every request, reads included, and
 * answers 429 past it (https://developer.hashicorp.com/vault/docs/concepts/resource-quotas). So the pace is adaptive:
 * writes start at a ceiling, every 429 (on a read too, since both count) halves the pace down to one write a second,
 * and each calm second gives back a tenth of it. Vault sends Retry-After only when the operator turned on
 * enable_rate_limit_response_headers (https://developer.hashicorp.com/vault/api-docs/system/quotas-config), and
 * node-vault does not hand response headers on, so the pace is learnt from the 429s alone.
 */
export const VAULT_WRITE_CEILING = 100;
/** 429s in a row one call waits out (about two and a half minutes with the backoff below) before it fails as unavailable. */
const RATE_LIMITED_ATTEMPTS = 30;

/** Where one ref lives in Vault, as API paths (URL-encoded) and as policy paths (plain). */
interface Location {
  readonly mount: string;
  readonly path: string;
  readonly field: string;
  readonly dataApi: string;
  readonly metadataApi: string;
  readonly destroyApi: string;
  readonly dataPolicy: string;
  readonly metadataPolicy: string;
  readonly destroyPolicy: string;
}

/** One version of the secret as Vault returned it, or why it could not. */
type Fetched =
  | {
      readonly kind: 'ok';
      readonly version: number;
      readonly data: Record<string, unknown>;
      readonly createdAt: Date | undefined;
      readonly custom: Record<string, string>;
      /** Whether the read carried `custom_metadata` at all (null when empty): Vault before 1.9 leaves it out. */
      readonly hasCustom: boolean;
    }
  | { readonly kind: 'gone'; readonly version: number; readonly state: 'deleted' | 'destroyed'; readonly custom: Record<string, string> }
  | { readonly kind: 'missing' };

/** Open a Vault KV v2 store over a client; the adapter's `open` passes a node-vault client, tests a fake. */
export function openVaultKvStore(options: VaultKvStoreOptions): SecretStore {
  // A failed connection (a login refused, an address missing) is not kept: the next call tries again.
  const client = lazyClient(options.connect);
  const pace = { perSecond: VAULT_WRITE_CEILING, recovery: 'rate', floor: 1 } as const;
  const limiter: WriteLimiter = options.endpoint === undefined ? createWriteLimiter(pace) : writeLimiter(`${KIND}|${options.endpoint}`, pace.perSecond, pace);

  /** Where a ref lives once its mount is known: API paths (URL-encoded) and policy paths (plain). */
  const locationOf = (operation: string, ref: StoreRef, mount: string, full: string): Location => {
    const path = full.startsWith(`${mount}/`) ? full.slice(mount.length + 1) : full;
    if (mount === '' || path === '' || path === full) {
      throw new StoreError('invalid', operation, ref.display, 'a Vault KV ref is <mount>/<path>#<field>, as in secret/web/app#API_KEY');
    }
    const encoded = path.split('/').map(encodeURIComponent).join('/');
    const encodedMount = mount.split('/').map(encodeURIComponent).join('/');
    return {
      mount,
      path,
      field: ref.field!,
      dataApi: `${encodedMount}/data/${encoded}`,
      metadataApi: `${encodedMount}/metadata/${encoded}`,
      destroyApi: `${encodedMount}/destroy/${encoded}`,
      dataPolicy: `${mount}/data/${path}`,
      metadataPolicy: `${mount}/metadata/${path}`,
      destroyPolicy: `${mount}/destroy/${path}`,
    };
  };

  /**
   * What Vault says of the mount holding each path asked about (./mounts.ts), asked once per path and store: a
   * failure to ask (the network, a login) is not kept.
   */
  const mounts = new Map<string, Promise<MountInfo | 'hidden'>>();
  const discover = (operation: string, ref: StoreRef, full: string): Promise<MountInfo | 'hidden'> => {
    let pending = mounts.get(full);
    if (pending === undefined) {
      pending = call(operation, ref, { capability: 'read', policyPath: `sys/internal/ui/mounts/${full}` }, (vault) => lookupMount(vault, full));
      mounts.set(full, pending);
      pending.catch(() => mounts.delete(full));
    }
    return pending;
  };

  /**
   * Where a ref lives. Without the `mount` option the mount is found (a ref's first segment is not its mount when the
   * mount has slashes, and a policy path built from a guess names a path that does not exist); with it, `strict`
   * (check and pre-flight) still asks, to refuse a KV v1 mount before anything is minted, and goes on when Vault will
   * not say.
   */
  const locate = async (operation: string, ref: StoreRef, strict = false): Promise<Location> => {
    if (ref.field === undefined || ref.field === '') throw new StoreError('invalid', operation, ref.display, refProblem(ref) ?? 'no field');
    const full = ref.path.replace(/^\/+|\/+$/g, '');
    if (full === '') throw new StoreError('invalid', operation, ref.display, 'a Vault KV ref is <mount>/<path>#<field>, as in secret/web/app#API_KEY');
    if (options.mount !== undefined && options.mount !== '') {
      const mount = options.mount.replace(/^\/+|\/+$/g, '');
      const loc = locationOf(operation, ref, mount, full.startsWith(`${mount}/`) ? full : `${mount}/${full}`);
      if (strict) {
        const info = await discover(operation, ref, `${mount}/${loc.path}`);
        if (info !== 'hidden' && info.mount !== mount) {
          throw new StoreError(
            'invalid',
            operation,
            ref.display,
            `the mount option says ${mount}, but Vault says ${mount}/${loc.path} is in the mount ${info.mount}`,
            {
              hint: `set mount: ${info.mount}, or leave the option out and let rekey ask Vault`,
            },
          );
        }
        const problem = info === 'hidden' ? undefined : mountProblem(operation, ref, info);
        if (problem !== undefined) throw problem;
      }
      return loc;
    }
    if (!full.includes('/')) throw new StoreError('invalid', operation, ref.display, 'a Vault KV ref is <mount>/<path>#<field>, as in secret/web/app#API_KEY');
    const info = await discover(operation, ref, full);
    if (info === 'hidden') throw unknownMount(operation, ref, full);
    const problem = mountProblem(operation, ref, info);
    if (problem !== undefined) throw problem;
    return locationOf(operation, ref, info.mount, full);
  };

  /** The server's version, asked once per store (sys/health; undefined when it cannot be had). */
  let version: Promise<string | undefined> | undefined;
  const versionOfServer = (): Promise<string | undefined> => {
    version ??= client.get().then(serverVersion, () => undefined);
    return version;
  };

  /**
   * One Vault call: errors become StoreErrors, and the retriable ones are tried again with backoff. A write (any call
   * needing more than `read`) first waits its turn at the address's pace, a rollback before other writes. A 429 slows
   * the pace and the call waits again (a write at the slowed pace, a read after a backoff), up to
   * RATE_LIMITED_ATTEMPTS times: a rate limit makes a fleet slower, it does not fail rotations.
   */
  const call = async <T>(operation: string, ref: StoreRef, need: Need, fn: (client: VaultKvClient) => Promise<T>): Promise<T> => {
    const vault = await client.get().catch((error: unknown) => {
      throw renamed(toStoreError(error, operation, ref, need), operation, ref);
    });
    const write = need.capability !== 'read';
    const retry: RetryOptions = { ...options.retry, shouldRetry: (error) => isRetriable(error) && !(error instanceof VaultRateLimitedError) };
    for (let limited = 1; ; limited++) {
      try {
        return await callService(
          async () => {
            if (write) await limiter.take(operation === 'rollback' ? 'rollback' : 'write');
            return fn(vault);
          },
          // A typed error from the client itself (a token that expired) is restated for this operation and ref.
          (error) => renamed(toStoreError(error, operation, ref, need), operation, ref),
          retry,
        );
      } catch (error) {
        if (!(error instanceof VaultRateLimitedError) || limited >= RATE_LIMITED_ATTEMPTS) throw error;
        limiter.throttled();
        // A write waits at the slowed pace; a read takes no token, so it backs off (full jitter, at most 5 s).
        if (!write) await sleep(Math.random() * Math.min(5_000, 50 * 2 ** limited));
      }
    }
  };

  /** Version `version` of the secret (the latest when absent), telling a deleted version from a missing path. */
  const fetchVersion = (operation: string, ref: StoreRef, loc: Location, version?: number): Promise<Fetched> =>
    call(operation, ref, { capability: 'read', policyPath: loc.dataPolicy }, async (vault) => {
      try {
        const body = await vault.read(version === undefined ? loc.dataApi : `${loc.dataApi}?version=${version}`);
        const payload = dataOf(body);
        const metadata = recordOf(payload?.['metadata']);
        const data = recordOf(payload?.['data']);
        const number = Number(metadata?.['version']);
        if (data === undefined || !Number.isInteger(number)) return { kind: 'missing' };
        const created = typeof metadata?.['created_time'] === 'string' ? new Date(metadata['created_time']) : undefined;
        const hasCustom = metadata !== undefined && 'custom_metadata' in metadata;
        return { kind: 'ok', version: number, data, createdAt: created, custom: customOf(metadata?.['custom_metadata']), hasCustom };
      } catch (error) {
        if (statusOf(error) !== 404) throw error;
        // Vault answers 404 both for a path with no secret and for a deleted or destroyed version; the latter
        // carries the version's metadata, which tells them apart.
        const metadata = recordOf(dataOf(responseBodyOf(error))?.['metadata']);
        const number = Number(metadata?.['version']);
        if (metadata === undefined || !Number.isInteger(number)) return { kind: 'missing' };
        return {
          kind: 'gone',
          version: number,
          state: metadata['destroyed'] === true ? 'destroyed' : 'deleted',
          custom: customOf(metadata['custom_metadata']),
        };
      }
    });

  /**
   * The newest version this process wrote at each data path. A read that answers with an older one comes from a
   * performance standby that has not caught up (Vault Enterprise docs, "Vault Eventual Consistency": a read after a
   * write may be served by a standby whose state lags the active node); it is read again before anything is
   * concluded from it, instead of taking it for "not written by this run".
   */
  const written = new Map<string, number>();
  const STALE_READS = 5;

  /** The latest version, which must exist for every operation but `retire`. */
  const latestOrThrow = async (operation: string, ref: StoreRef, loc: Location): Promise<Fetched & { kind: 'ok' | 'gone' }> => {
    let latest = await fetchVersion(operation, ref, loc);
    const known = written.get(loc.dataApi);
    for (let attempt = 1; known !== undefined && latest.kind !== 'missing' && latest.version < known; attempt++) {
      if (attempt > STALE_READS) {
        throw new StoreUnavailableError(
          operation,
          ref.display,
          `Vault still answers with version ${latest.version} after this process wrote version ${known}: a standby that has not caught up`,
        );
      }
      await sleep(50 * 2 ** attempt);
      latest = await fetchVersion(operation, ref, loc);
    }
    if (latest.kind === 'missing') {
      throw new SecretNotFoundError(operation, ref.display, `no secret at ${loc.dataPolicy}`, 'check the path, and that the mount is a KV version 2 engine');
    }
    return latest;
  };

  const writeData = (operation: string, ref: StoreRef, loc: Location, data: Record<string, unknown>, cas: number): Promise<unknown> =>
    call(operation, ref, { capability: cas === 0 ? 'create' : 'update', policyPath: loc.dataPolicy, cas }, (vault) =>
      vault.write(loc.dataApi, { data, options: { cas } }),
    );

  /** Record `entry` in custom_metadata, keeping every other key and pruning old rekey entries to fit. */
  const writeEntry = async (operation: string, ref: StoreRef, loc: Location, custom: Record<string, string>, entry: RunEntry): Promise<void> => {
    const next = withEntry(operation, ref, custom, entryKey(entry.run, loc.field), entry);
    await call(operation, ref, { capability: 'update', policyPath: loc.metadataPolicy }, (vault) => vault.write(loc.metadataApi, { custom_metadata: next }));
  };

  /** Whether a fetched version holds this run's value (its field carries the tag). */
  const holds = (fetched: Fetched, loc: Location, run: RunId, expectedTag: string): fetched is Fetched & { kind: 'ok' } => {
    if (fetched.kind !== 'ok') return false;
    const value = fetched.data[loc.field];
    // ABSENT stands for a field the secret did not have (a run that added it).
    if (expectedTag === ABSENT) return value === undefined;
    return typeof value === 'string' && tag(run, value) === expectedTag;
  };

  /** The run's own version (`base + 1`) when the run did write it, reusing `latest` when that is the one. */
  const ownVersion = async (
    operation: string,
    ref: StoreRef,
    loc: Location,
    latest: Fetched,
    entry: RunEntry,
  ): Promise<(Fetched & { kind: 'ok' }) | undefined> => {
    const ours = entry.base + 1;
    if (latest.kind === 'missing' || latest.version < ours) return undefined;
    const fetched = latest.version === ours ? latest : await fetchVersion(operation, ref, loc, ours);
    return holds(fetched, loc, entry.run, entry.new) ? fetched : undefined;
  };

  const storedValueOf = (operation: string, ref: StoreRef, loc: Location, fetched: Fetched & { kind: 'ok' }, run: RunId | undefined): StoredValue => {
    const value = fetched.data[loc.field];
    if (value === undefined) throw new SecretNotFoundError(operation, ref.display, `field ${loc.field} is not in the secret`);
    if (typeof value !== 'string') throw new StoreError('invalid', operation, ref.display, `field ${loc.field} is not a string`);
    return { value: new Secret(value), version: String(fetched.version), createdAt: fetched.createdAt, run };
  };

  /** Write `data` with cas; when the reply is lost and a retry meets a cas mismatch, check whether it was ours. */
  const writeOwn = async (
    operation: string,
    ref: StoreRef,
    loc: Location,
    data: Record<string, unknown>,
    cas: number,
    run: RunId,
    expectedTag: string,
  ): Promise<number> => {
    try {
      await writeData(operation, ref, loc, data, cas);
    } catch (error) {
      if (!(error instanceof StoreError) || error.code !== 'conflict') throw error;
      const landed = await fetchVersion(operation, ref, loc, cas + 1);
      if (!holds(landed, loc, run, expectedTag)) throw error;
    }
    written.set(loc.dataApi, Math.max(cas + 1, written.get(loc.dataApi) ?? 0));
    return cas + 1;
  };

  /**
   * What the last `read` of each data path learnt, without the data (no value is kept): the pre-flight reads the
   * current version and then asks `canStage` about that same version, which takes this answer instead of reading it a
   * second time. Taken once, and only while fresh: an older answer is read again.
   */
  type Facts = Pick<Fetched & { kind: 'ok' }, 'version' | 'custom' | 'hasCustom'>;
  const readFacts = new Map<string, { readonly facts: Facts; readonly at: number }>();
  const READ_FRESH_MS = 5_000;
  const keepFacts = (loc: Location, latest: Fetched & { kind: 'ok' }): void => {
    readFacts.set(loc.dataApi, { facts: { version: latest.version, custom: latest.custom, hasCustom: latest.hasCustom }, at: Date.now() });
  };
  const takeFacts = (loc: Location): Facts | undefined => {
    const kept = readFacts.get(loc.dataApi);
    readFacts.delete(loc.dataApi);
    return kept !== undefined && Date.now() - kept.at < READ_FRESH_MS ? kept.facts : undefined;
  };

  const store: SecretStore = {
    kind: KIND,
    capabilities: { readBack: true, staging: false, versions: true, compareAndSwap: true },

    async read(ref) {
      const loc = await locate('read', ref);
      const latest = await latestOrThrow('read', ref, loc);
      if (latest.kind === 'gone') throw new SecretNotFoundError('read', ref.display, `the current version ${latest.version} is ${latest.state}`);
      const value = storedValueOf('read', ref, loc, latest, undefined);
      keepFacts(loc, latest);
      // Name the run that wrote this version, when one of the recorded runs did.
      const writer = entriesOf(latest.custom, loc.field).find((e) => e.base + 1 === latest.version && tag(e.run, value.value.reveal()) === e.new);
      return writer === undefined ? value : { ...value, run: writer.run };
    },

    async describe(ref) {
      // The data read carries the version's created_time and the secret's custom_metadata (Vault API, KV v2, "Read
      // secret version"); the value is needed only to prove which recorded run wrote it, and is not returned.
      try {
        const { version, createdAt, run } = await store.read(ref);
        return { version, createdAt, run };
      } catch (error) {
        if (error instanceof SecretNotFoundError) return undefined;
        throw error;
      }
    },

    async readStaged(ref, run) {
      const loc = await locate('read staged', ref);
      const latest = await latestOrThrow('read staged', ref, loc);
      const entry = entryOf(latest.custom, run, loc.field);
      if (entry === undefined) return undefined;
      const own = await ownVersion('read staged', ref, loc, latest, entry);
      return own === undefined ? undefined : storedValueOf('read staged', ref, loc, own, run);
    },

    async readPrevious(ref, run) {
      const loc = await locate('read previous', ref);
      const latest = await latestOrThrow('read previous', ref, loc);
      const entry = entryOf(latest.custom, run, loc.field);
      if (entry === undefined || entry.base === 0) return undefined;
      if ((await ownVersion('read previous', ref, loc, latest, entry)) === undefined) return undefined;
      const previous = await fetchVersion('read previous', ref, loc, entry.base);
      if (previous.kind !== 'ok' || typeof previous.data[loc.field] !== 'string') return undefined;
      return storedValueOf('read previous', ref, loc, previous, undefined);
    },

    async canStage(ref, run, base) {
      const op = 'pre-flight';
      /** A mount or a Vault rekey cannot use (KV v1, not KV, before 1.9): no rotation can work there. */
      const unusable = (error: unknown): unknown => {
        if (!(error instanceof StoreError) || error.code !== 'invalid') return error;
        const detail = error.message.startsWith(`${op} ${ref.display}: `) ? error.message.slice(`${op} ${ref.display}: `.length) : error.message;
        return new CannotStageError('unusable', ref.display, detail, error.hint ?? 'use a KV v2 mount on Vault 1.9 or later', { cause: error });
      };
      try {
        // The server's version depends on nothing else asked here: sent at once, beside the mount lookup or the data read.
        const serverAnswer = versionOfServer();
        const loc = await locate(op, ref, true).catch((error: unknown) => {
          throw unusable(error);
        });
        const baseVersion = versionNumber(op, ref, base);
        // The pre-flight's read of `base` answers for the latest version when it is fresh and names no entry of this
        // run (a resume needs the data of its own version, so it reads). The server's version and that read do not
        // depend on each other: asked side by side, judged in this order. Both come before sys/capabilities-self, so
        // that a Vault rekey refuses is asked nothing more.
        const kept = takeFacts(loc);
        const reused = kept !== undefined && kept.version === baseVersion && entryOf(kept.custom, run, loc.field) === undefined ? kept : undefined;
        const [running, latest] = await Promise.all([
          serverAnswer,
          reused === undefined ? fetchVersion(op, ref, loc) : Promise.resolve<Fetched>({ kind: 'ok', ...reused, data: {}, createdAt: undefined }),
        ]);
        if (running !== undefined && olderThanCustomMetadata(running)) throw unusable(oldVault(op, ref, running));
        // Where sys/health did not answer, the read itself tells: before 1.9 it has no custom_metadata field.
        if (latest.kind === 'ok' && !latest.hasCustom) throw unusable(oldVault(op, ref, running));
        if (latest.kind === 'missing' && baseVersion !== 0) {
          throw new CannotStageError(
            'missing',
            ref.display,
            `no secret at ${loc.dataPolicy}`,
            'create the secret first (rekey never creates one), and check that the mount is a KV version 2 engine',
          );
        }
        if (latest.kind === 'gone') {
          throw new CannotStageError(
            'unusable',
            ref.display,
            `the current version ${latest.version} is ${latest.state}`,
            latest.state === 'deleted'
              ? `undelete it first (vault kv undelete -versions=${latest.version} ${loc.mount}/${loc.path})`
              : 'write a current value by hand first',
          );
        }
        const custom = latest.kind === 'ok' ? latest.custom : {};
        const current = latest.kind === 'ok' ? latest.version : 0;
        const entry = entryOf(custom, run, loc.field);
        if (entry !== undefined) {
          // This run recorded its intent before: a resume. Its write either never happened (base still current) or
          // is its own version; anything else at base + 1 is someone else's, and stage would refuse it.
          if (current === entry.base || (await ownVersion(op, ref, loc, latest, entry)) !== undefined) return;
          throw new CannotStageError(
            'base-moved',
            ref.display,
            `check-and-set mismatch (expected version ${entry.base}, current version ${current})`,
            'another writer changed the secret after this run read it; start a new run',
          );
        }
        if (current !== baseVersion) {
          throw new CannotStageError(
            'base-moved',
            ref.display,
            `check-and-set mismatch (expected version ${baseVersion}, current version ${current})`,
            'another writer changed the secret after this run read it; read it again before rotating',
          );
        }
        // Stage records the run in custom_metadata before it writes: that record must fit Vault's limits.
        try {
          withEntry(op, ref, custom, entryKey(run, loc.field), { run, base: baseVersion, new: ABSENT, old: ABSENT, at: new Date().toISOString() });
        } catch (error) {
          const e = error as StoreError;
          throw new CannotStageError(
            'limit',
            ref.display,
            e.message.slice(`${op} ${ref.display}: `.length),
            e.hint ?? 'remove a custom_metadata key from this secret',
            { cause: e },
          );
        }
        // A check-and-set write on `base` would be accepted now; whether the token may make it, Vault says through
        // sys/capabilities-self (a read of the token's policy, not a write). When Vault will not say, stage finds out.
        const notes: string[] = [];
        if ((await checkCapabilities(loc, ref, notes, false)) === false) {
          throw new CannotStageError(
            'permission',
            ref.display,
            notes.join('; '),
            `grant the token's policy "create" and "update" on ${loc.dataPolicy} and "update" on ${loc.metadataPolicy}`,
          );
        }
      } catch (error) {
        throw CannotStageError.from(error, ref.display);
      }
    },

    async stage(ref, value, run, base) {
      const loc = await locate('stage', ref);
      const baseVersion = versionNumber('stage', ref, base);
      const newTag = tag(run, value.reveal());
      const latest = await fetchVersion('stage', ref, loc);
      // A Vault before 1.9 would drop the run's record, and promote would then disown the version stage wrote.
      if (latest.kind === 'ok' && !latest.hasCustom) throw oldVault('stage', ref, undefined);
      if (latest.kind === 'missing' && baseVersion !== 0) throw new SecretNotFoundError('stage', ref.display, `no secret at ${loc.dataPolicy}`);
      if (latest.kind === 'gone') throw new SecretNotFoundError('stage', ref.display, `the current version ${latest.version} is ${latest.state}`);
      const custom = latest.kind === 'ok' ? latest.custom : {};
      const current = latest.kind === 'ok' ? latest.version : 0;
      const data = latest.kind === 'ok' ? latest.data : {};
      let entry = entryOf(custom, run, loc.field);

      if (entry !== undefined && current !== entry.base) {
        // This run recorded its intent before; whether its write happened is told by the version after its base.
        const own = await ownVersion('stage', ref, loc, latest, entry);
        if (own === undefined) {
          throw new StoreConflictError(
            'stage',
            ref.display,
            `check-and-set mismatch (expected version ${entry.base}, current version ${current}): version ${entry.base + 1} was written by someone else`,
          );
        }
        if (entry.new !== newTag) throw new StoreConflictError('stage', ref.display, `this run already wrote version ${entry.base + 1} with a different value`);
        return String(entry.base + 1);
      }
      if (entry === undefined) {
        if (current !== baseVersion) {
          throw new StoreConflictError(
            'stage',
            ref.display,
            `check-and-set mismatch (expected version ${baseVersion}, current version ${current})`,
            'another writer changed the secret after this run read it; read it again before rotating',
          );
        }
        const old = data[loc.field];
        entry = { run, base: baseVersion, new: newTag, old: typeof old === 'string' ? tag(run, old) : ABSENT, at: new Date().toISOString() };
        // The intent goes first: if the process dies after the data write, a resumed run still finds its version.
        await writeEntry('stage', ref, loc, custom, entry);
      } else if (entry.new !== newTag) {
        // The intent was recorded but nothing was written: record the value this call writes instead.
        entry = { ...entry, new: newTag };
        await writeEntry('stage', ref, loc, custom, entry);
      }
      const version = await writeOwn('stage', ref, loc, { ...data, [loc.field]: value.reveal() }, entry.base, run, entry.new);
      return String(version);
    },

    async promote(ref, version, run, base) {
      const loc = await locate('promote', ref);
      const latest = await latestOrThrow('promote', ref, loc);
      const entry = entryOf(latest.custom, run, loc.field);
      const ours = entry === undefined ? undefined : entry.base + 1;
      if (entry === undefined || String(ours) !== version) {
        throw new StoreConflictError('promote', ref.display, `version ${version} was not written by this run`, 'stage the value in this run first');
      }
      if (latest.version === ours && holds(latest, loc, run, entry.new)) return;
      if (latest.version === entry.base) {
        throw new StoreConflictError(
          'promote',
          ref.display,
          `version ${version} of this run was never written (current version is still ${base})`,
          'stage the value again',
        );
      }
      throw new StoreConflictError(
        'promote',
        ref.display,
        `check-and-set mismatch (expected version ${version}, current version ${latest.version}): someone else wrote after this run`,
      );
    },

    async rollback(ref, run) {
      const loc = await locate('rollback', ref);
      const latest = await latestOrThrow('rollback', ref, loc);
      const entry = entryOf(latest.custom, run, loc.field);
      if (entry === undefined) return;

      let casOn: number;
      if (entry.rollback !== undefined) {
        // A rollback was started before: done when the version after it holds the old value again.
        if (latest.version !== entry.rollback) {
          const restored = latest.version === entry.rollback + 1 ? latest : await fetchVersion('rollback', ref, loc, entry.rollback + 1);
          if (holds(restored, loc, run, entry.old)) return;
          throw new StoreConflictError(
            'rollback',
            ref.display,
            `check-and-set mismatch (expected version ${entry.rollback}, current version ${latest.version}): someone else wrote after this run`,
          );
        }
        casOn = entry.rollback;
      } else {
        if (latest.version === entry.base) return; // This run's write never happened: nothing to undo.
        const own = await ownVersion('rollback', ref, loc, latest, entry);
        if (own === undefined) return; // Version base+1 is someone else's: this run changed nothing.
        if (latest.version !== own.version) {
          throw new StoreConflictError(
            'rollback',
            ref.display,
            `version ${latest.version} was written after this run's version ${own.version}; a rollback would overwrite it`,
            'decide by hand which value should be current',
          );
        }
        casOn = own.version;
      }
      const previous = await fetchVersion('rollback', ref, loc, entry.base);
      if (previous.kind !== 'ok') {
        throw new SecretNotFoundError(
          'rollback',
          ref.display,
          `the previous version ${entry.base} is ${previous.kind === 'gone' ? previous.state : 'no longer kept'}, so it cannot be restored`,
        );
      }
      if (entry.rollback === undefined) await writeEntry('rollback', ref, loc, latest.custom, { ...entry, rollback: casOn });
      // Like `vault kv rollback`: the previous version's data becomes the newest version.
      await writeOwn('rollback', ref, loc, previous.data, casOn, run, entry.old);
    },

    async retire(ref, run) {
      if (options.destroyOnRetire !== true) return;
      const loc = await locate('retire', ref);
      const latest = await fetchVersion('retire', ref, loc);
      if (latest.kind === 'missing') return; // Already gone is success.
      const entry = entryOf(latest.custom, run, loc.field);
      // Never destroy after a rollback (the old value is current again) nor the version that is still current.
      if (entry === undefined || entry.rollback !== undefined || entry.base === 0 || latest.version === entry.base) return;
      if ((await ownVersion('retire', ref, loc, latest, entry)) === undefined) return;
      try {
        await call('retire', ref, { capability: 'update', policyPath: loc.destroyPolicy }, (vault) => vault.write(loc.destroyApi, { versions: [entry.base] }));
      } catch (error) {
        if (error instanceof StoreError && error.code === 'not-found') return;
        throw error;
      }
    },

    async check(ref) {
      const notes: string[] = [];
      let readable = false;
      let fingerprint: string | undefined;
      const said = (error: StoreError) => (error.hint === undefined ? error.message : `${error.message} (${error.hint})`);
      let loc: Location;
      try {
        // The mount first: a KV v1 mount, or one Vault will not name, makes every other answer beside the point.
        loc = await locate('check', ref, true);
      } catch (error) {
        if (!(error instanceof StoreError)) throw error;
        notes.push(said(error));
        return { readable, writable: undefined, notes };
      }
      try {
        const current = await store.read(ref);
        readable = true;
        fingerprint = current.value.fingerprint;
      } catch (error) {
        if (!(error instanceof StoreError)) throw error;
        notes.push(said(error));
        if (error.code === 'invalid') return { readable, writable: undefined, notes };
      }
      const writable = await checkCapabilities(loc, ref, notes);
      return { readable, writable, fingerprint, notes } satisfies StoreCheck;
    },
  };

  /** Ask Vault what the token may do on the paths rekey uses; undefined when Vault will not say. */
  const checkCapabilities = async (
    loc: Location,
    ref: StoreRef,
    notes: string[],
    withDestroy = options.destroyOnRetire === true,
  ): Promise<boolean | undefined> => {
    const paths = [loc.dataPolicy, loc.metadataPolicy, ...(withDestroy ? [loc.destroyPolicy] : [])];
    let body: unknown;
    try {
      body = await call('check', ref, { capability: 'update', policyPath: 'sys/capabilities-self' }, (vault) =>
        vault.write('sys/capabilities-self', { paths }),
      );
    } catch (error) {
      if (!(error instanceof StoreError)) throw error;
      notes.push(
        `could not ask Vault for this token's capabilities (${error.code === 'permission' ? 'sys/capabilities-self is not allowed' : error.message}), so ` +
          `write access is untested`,
      );
      return undefined;
    }
    const capsOf = (path: string): string[] => {
      const direct = recordOf(body)?.[path] ?? recordOf(dataOf(body))?.[path];
      return Array.isArray(direct) ? direct.filter((c): c is string => typeof c === 'string') : [];
    };
    const has = (path: string, capability: string): boolean => {
      const caps = capsOf(path);
      return caps.includes('root') || (caps.includes(capability) && !caps.includes('deny'));
    };
    if (!has(loc.dataPolicy, 'read')) notes.push(`the token's policy lacks "read" on ${loc.dataPolicy}: rekey cannot read the current value`);
    const dataWrite = has(loc.dataPolicy, 'update');
    if (!dataWrite) notes.push(`the token's policy lacks "create" and "update" on ${loc.dataPolicy}: rekey cannot write the new value`);
    const metadataWrite = has(loc.metadataPolicy, 'update');
    if (!metadataWrite) notes.push(`the token's policy lacks "update" on ${loc.metadataPolicy}: rekey cannot record its run in custom_metadata`);
    let destroy = true;
    if (withDestroy) {
      destroy = has(loc.destroyPolicy, 'update');
      if (!destroy) notes.push(`the token's policy lacks "update" on ${loc.destroyPolicy}: rekey cannot destroy the old version (destroyOnRetire)`);
    }
    return dataWrite && metadataWrite && destroy;
  };

  return store;
}

function versionNumber(operation: string, ref: StoreRef, version: VersionId): number {
  const number = Number(version);
  if (!Number.isInteger(number) || number < 0) throw new StoreError('invalid', operation, ref.display, `"${version}" is not a Vault version number`);
  return number;
}

/** Read one store option, checking its type. */
function option<T extends 'string' | 'boolean'>(
  options: Readonly<Record<string, unknown>>,
  name: string,
  type: T,
): (T extends 'string' ? string : boolean) | undefined {
  const value = options[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== type) throw new StoreError('invalid', 'open', `${KIND}`, `option ${name} must be a ${type}`);
  return value as T extends 'string' ? string : boolean;
}

export default {
  kind: KIND,
  summary: 'HashiCorp Vault KV version 2: check-and-set writes, runs recorded in custom_metadata',
  validateRef: refProblem,
  options: {
    address: { type: 'string', description: 'the Vault server URL; else VAULT_ADDR' },
    namespace: { type: 'string', description: 'the Vault Enterprise or HCP Vault namespace; else VAULT_NAMESPACE' },
    token: { type: 'string', description: 'the NAME of the environment variable holding the token (never the token)', default: 'VAULT_TOKEN' },
    roleId: { type: 'string', description: 'an AppRole role id (not a secret), to log in with AppRole instead of a token' },
    secretIdEnv: { type: 'string', description: 'the name of the environment variable holding the AppRole secret id' },
    mount: { type: 'string', description: 'the KV v2 mount, as in kv/team-a; else Vault is asked which mount holds the path' },
    destroyOnRetire: { type: 'boolean', description: 'destroy the old version once the old key is proven dead', default: false },
  },
  // What open() and connectNodeVault (./client.ts) read: the token's or the AppRole secret id's variable is the one
  // the options name, never a value.
  environment(options) {
    const text = (name: string) => (typeof options[name] === 'string' && options[name] !== '' ? (options[name] as string) : undefined);
    return [
      ...(text('address') === undefined ? [{ name: 'VAULT_ADDR', kind: 'setting' as const, description: 'the Vault server URL' }] : []),
      text('roleId') === undefined
        ? { name: text('token') ?? 'VAULT_TOKEN', kind: 'secret' as const, description: 'a Vault token' }
        : { name: text('secretIdEnv') ?? 'VAULT_SECRET_ID', kind: 'secret' as const, description: 'the AppRole secret id' },
    ];
  },
  open(options, context: StoreContext) {
    const env = context.env;
    const connection: VaultConnection = {
      address: option(options, 'address', 'string') ?? env['VAULT_ADDR'],
      namespace: option(options, 'namespace', 'string') ?? env['VAULT_NAMESPACE'],
      tokenEnv: option(options, 'token', 'string') ?? 'VAULT_TOKEN',
      roleId: option(options, 'roleId', 'string'),
      secretIdEnv: option(options, 'secretIdEnv', 'string'),
      env,
    };
    return openVaultKvStore({
      mount: option(options, 'mount', 'string'),
      destroyOnRetire: option(options, 'destroyOnRetire', 'boolean') ?? false,
      connect: () => connectNodeVault(connection),
      endpoint: connection.address,
    });
  },
} satisfies SecretStoreAdapter;
