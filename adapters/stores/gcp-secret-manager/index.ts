/**
 * GCP Secret Manager store: the value is a secret's payload, or one field of a JSON payload (other fields kept).
 *
 * ```yaml
 * stores:
 *   - gcp-secret-manager: projects/acme-prod/secrets/app-config#STREAMPIXEL_API_KEY
 *   - gcp-secret-manager: projects/acme-prod/locations/europe-west1/secrets/app-config   # a regional secret
 *   - gcp-secret-manager: app-config#STREAMPIXEL_API_KEY   # a bare name takes the project below
 *     project: acme-prod        # default: $GOOGLE_CLOUD_PROJECT
 *     location: europe-west1    # bare names are then regional secrets of that location (default: global)
 *     alias: current            # the version alias your readers use (default current); `latest` for none
 *     retire: disable           # what retire does to the old version: disable (default) or destroy
 *     endpoint: 127.0.0.1:8085  # plaintext host:port of an emulator or test server; unset for Google
 * ```
 *
 * How a rotation maps onto the service:
 * - read: the version the alias points to when the secret has that alias, else `latest`.
 * - stage: AddSecretVersion. It has no idempotency token, so before adding, the run records itself on the secret
 *   (annotation `rekey.<run>[.<field>]`: the new value's fingerprint, the base version, the newest version number)
 *   with an etag-guarded UpdateSecret; a resumed run lists the versions created since, reads their payloads and
 *   finds its own by fingerprint, and never adds a second. Readers of `latest` see the new version at once: only
 *   readers of the alias see a real staging step (so `alias: latest` reports `staging: false`).
 * - canStage (before the mint): GetSecret, the current version's payload (it must be enabled), the run records
 *   (another run's staged version, enabled and not current, is refused, by stage too), and TestIamPermissions for
 *   secrets.update and versions.add. Nothing is written.
 * - promote: UpdateSecret moves the alias to the run's version; the secret's etag is the compare-and-swap.
 *   A secret without the alias has nothing to move: its new version is already current for `latest` readers.
 * - rollback: moves the alias back and, because `latest` always names the newest version, adds a version that
 *   holds the old payload again, then disables the run's version. A second rollback adds nothing.
 * - retire: disables (or destroys) the old version with its etag; already disabled or destroyed is success. With the
 *   secret's version_destroy_ttl, a destroy leaves the version DISABLED with a scheduled_destroy_time, which counts as
 *   destroyed: it is not asked again.
 * - integrity: every AddSecretVersion sends the payload's data_crc32c and every access checks the one returned; a
 *   payload that does not match is an error, never a value.
 *
 * IAM the account needs on the secret: secretmanager.secrets.get, secretmanager.versions.access (read);
 * secretmanager.versions.list and .get (resume, checks); secretmanager.versions.add (stage);
 * secretmanager.secrets.update (run records, the alias); secretmanager.versions.disable or .destroy (retire).
 */
import { fingerprint } from '../../../src/contract/mask.js';
import { Secret } from '../../../src/contract/secret.js';
import type { RunId, SecretStore, SecretStoreAdapter, StoreCheck, StoreContext, StoreRef, StoredValue, VersionId } from '../../../src/contract/store.js';
import {
  CannotStageError,
  SecretNotFoundError,
  StoreConflictError,
  StoreError,
  StorePermissionError,
  StoreUnavailableError,
} from '../../../src/contract/store-errors.js';
import { withRetry } from '../../../src/util/retry.js';
import { callService, casLoop, extractField, type LazyClient, lazyClient, replaceField, WRITE_RETRY, type WriteLimiter, writeLimiter } from '../kit/index.js';

import {
  type ClientMethod,
  createSdkClient,
  decodePayload,
  type GcpSecretInfo,
  type GcpSecretManagerClient,
  type GcpSecretUpdate,
  type GcpVersionInfo,
  gcloudSecretFlags,
  KIND,
  locationOf,
  parseOptions,
  PERMISSION_USE,
  payloadChecksum,
  refProblem,
  secretPathKind,
} from './client.js';
import { EtagConflictError, isQuotaExceeded, toStoreError, VersionStateError } from './errors.js';
import { parseRecord, readRecord, type RunRecord, stagedByAnotherHint, withRecord } from './records.js';

/**
 * Write requests a minute per project: "any mutating operation (an operation that modifies or deletes a secret or
 * secret version) … creating, updating, or deleting a secret, or adding, enabling, disabling, or destroying a secret
 * version" counts against one quota of 600 per minute per project, shared by every application of the project
 * (https://cloud.google.com/secret-manager/quotas, "Quotas on the rate of requests"). Google raises it on request,
 * so the store option `writesPerMinute` sets another; reads and accesses have quotas of their own and take no token.
 */
export const WRITES_PER_MINUTE = 600;
/** The calls that count as write requests (the ones above that this adapter makes). */
const WRITE_METHODS: ReadonlySet<ClientMethod> = new Set(['updateSecret', 'addSecretVersion', 'disableSecretVersion', 'destroySecretVersion']);

/** The client interface, for tests that pass a fake. */
export type { GcpSecretInfo, GcpSecretManagerClient, GcpVersionInfo } from './client.js';

/** The options a store entry may carry. */
/** Where a client comes from: a ready one (tests), or built on first use. */
export type GcpClientSource = GcpSecretManagerClient | (() => Promise<GcpSecretManagerClient>);

/** A GCP store: the contract, plus `close()` to release the gRPC channel when the caller is done. */
export interface GcpSecretManagerStore extends SecretStore {
  close(): Promise<void>;
}

/** Open a store over the given client, or over the real SDK client built lazily from the options. */
export function openGcpSecretManagerStore(
  rawOptions: Readonly<Record<string, unknown>>,
  context: StoreContext,
  client?: GcpClientSource,
): GcpSecretManagerStore {
  const options = parseOptions(rawOptions, context);
  const source: (location: string | undefined) => Promise<GcpSecretManagerClient> =
    client === undefined ? (location) => createSdkClient(options, context, location) : typeof client === 'function' ? client : async () => client;
  // One client per location (a regional secret is served by its location's endpoint only), built on first use; a
  // failed build is forgotten so that the next call tries again, and close() releases them all.
  const clients = new Map<string, LazyClient<GcpSecretManagerClient>>();
  const clientFor = (name: string): LazyClient<GcpSecretManagerClient> => {
    const location = options.endpoint === undefined && client === undefined ? locationOf(name) : undefined;
    let lazy = clients.get(location ?? '');
    if (lazy === undefined) {
      lazy = lazyClient(
        () => source(location),
        (c) => c.close(),
      );
      clients.set(location ?? '', lazy);
    }
    return lazy;
  };
  const aliasName = options.alias === 'latest' ? undefined : options.alias;

  /**
   * The process's write limiter for the project of `resource` (and the endpoint, so that two test servers do not
   * share one): every store and worker writing to one project waits at the same one, rollbacks first.
   */
  const limiterFor = (resource: string): WriteLimiter => {
    const project = /^projects\/([^/]+)/.exec(resource)?.[1] ?? options.project ?? '';
    // The quota is counted per minute, so the writes of one rotation (its run record, then its version) need not go
    // out a tenth of a second apart: the bucket holds a few, and its refill is lowered by as many, so that no minute
    // carries more than the quota (burst + 60 s × rate). Only a few: a fleet's writes still go out evenly, leaving the
    // service's own bucket the slack that network jitter, bunching writes on arrival, needs.
    const burst = Math.min(5, Math.max(1, Math.floor(options.writesPerMinute / 60)));
    return writeLimiter(`${KIND}|${options.endpoint ?? ''}|${project}`, (options.writesPerMinute - burst) / 60, { burst });
  };

  /** `projects/P/secrets/NAME` (or `projects/P/locations/L/secrets/NAME`) for a ref, or a typed refusal. */
  const secretName = (operation: string, ref: StoreRef): string => {
    const kind = secretPathKind(ref.path);
    if (kind === 'full') return ref.path;
    if (kind === 'bare') {
      if (options.project === undefined) {
        throw new StoreError('invalid', operation, ref.display, 'no project: write projects/PROJECT/secrets/NAME, or set the store option project');
      }
      if (options.location !== undefined) return `projects/${options.project}/locations/${options.location}/secrets/${ref.path}`;
      return `projects/${options.project}/secrets/${ref.path}`;
    }
    throw new StoreError('invalid', operation, ref.display, refProblem(ref) ?? 'not a secret name');
  };

  /** One service call, with errors typed and retriable ones retried with backoff and jitter. */
  const call = async <T>(
    operation: string,
    ref: StoreRef,
    method: ClientMethod,
    resource: string,
    fn: (c: GcpSecretManagerClient) => Promise<T>,
  ): Promise<T> => {
    const mapError = (error: unknown) => toStoreError(error, operation, ref, method, resource);
    const c = await clientFor(resource)
      .get()
      .catch((error: unknown) => {
        throw mapError(error);
      });
    if (!WRITE_METHODS.has(method)) return callService(() => fn(c), mapError);
    // A write waits for its turn at the project's limiter (a rollback before any other write); one answered
    // RESOURCE_EXHAUSTED slows the limiter and waits again: throttling makes a fleet slower, never a rotation fail.
    const limiter = limiterFor(resource);
    return callService(
      async () => {
        await limiter.take(operation === 'rollback' ? 'rollback' : 'write');
        return fn(c);
      },
      (error) => {
        if (isQuotaExceeded(error)) limiter.throttled();
        return mapError(error);
      },
      WRITE_RETRY,
    );
  };

  const getSecret = (op: string, ref: StoreRef, name: string) => call(op, ref, 'getSecret', name, (c) => c.getSecret(name));
  const listVersions = (op: string, ref: StoreRef, name: string) => call(op, ref, 'listSecretVersions', name, (c) => c.listSecretVersions(name));
  const getVersion = (op: string, ref: StoreRef, name: string, id: number | string) =>
    call(op, ref, 'getSecretVersion', `${name}/versions/${id}`, (c) => c.getSecretVersion(`${name}/versions/${id}`));
  const access = async (op: string, ref: StoreRef, name: string, id: number | string): Promise<{ number: number; payload: string }> => {
    const result = await call(op, ref, 'accessSecretVersion', `${name}/versions/${id}`, async (c) => {
      const answer = await c.accessSecretVersion(`${name}/versions/${id}`);
      // Every access is checked against the CRC32C the service stored with the version: bytes changed in transit or
      // at rest are an error, never a value. Retried a few times (a transfer may be corrupted once), then refused.
      if (answer.dataCrc32c !== undefined && answer.dataCrc32c !== payloadChecksum(answer.data)) {
        throw new StoreError(
          'failed',
          op,
          ref.display,
          `the payload of ${name}/versions/${answer.number || id} does not match its CRC32C checksum (data_crc32c): it was corrupted, so it is not used`,
          { retriable: true, hint: 'try again; if it persists, the stored version is damaged: report it to Google Cloud support' },
        );
      }
      return answer;
    });
    return { number: result.number, payload: decodePayload(op, ref, result.data) };
  };
  /** A version's payload, or undefined when it is disabled, destroyed or gone. */
  const tryAccess = async (op: string, ref: StoreRef, name: string, id: number): Promise<string | undefined> => {
    try {
      return (await access(op, ref, name, id)).payload;
    } catch (error) {
      if (error instanceof VersionStateError || error instanceof SecretNotFoundError) return undefined;
      throw error;
    }
  };
  const update = (op: string, ref: StoreRef, name: string, change: GcpSecretUpdate, paths: readonly string[]) =>
    call(op, ref, 'updateSecret', name, (c) => c.updateSecret(change, paths));

  /** The newest version's number (what `latest` names), or undefined when the secret has none. */
  const latestNumber = async (op: string, ref: StoreRef, name: string): Promise<number | undefined> => {
    try {
      return (await getVersion(op, ref, name, 'latest')).number;
    } catch (error) {
      if (error instanceof SecretNotFoundError) return undefined;
      throw error;
    }
  };

  /** The alias's version when the secret has the alias; otherwise readers use `latest`. */
  const aliasTarget = (secret: GcpSecretInfo): number | undefined => (aliasName === undefined ? undefined : secret.versionAliases[aliasName]);

  /** The version readers get: the alias's, or the newest. */
  const currentNumber = async (op: string, ref: StoreRef, name: string, secret: GcpSecretInfo): Promise<number | undefined> =>
    aliasTarget(secret) ?? (await latestNumber(op, ref, name));

  const fingerprintOf = (ref: StoreRef, op: string, payload: string): string | undefined => {
    try {
      return fingerprint(extractField(ref, op, payload));
    } catch {
      return undefined;
    }
  };

  /**
   * The run's own version: the one its record names, or else the first version created after the record whose
   * value has the record's fingerprint. Reads payloads, so it costs one access per candidate (usually one).
   */
  const findOwn = async (op: string, ref: StoreRef, name: string, record: RunRecord, versions?: readonly GcpVersionInfo[]): Promise<number | undefined> => {
    if (record.version !== undefined) return record.version;
    const list = versions ?? (await listVersions(op, ref, name));
    const candidates = list.filter((v) => v.number > record.after && v.state === 'ENABLED').sort((a, b) => a.number - b.number);
    for (const candidate of candidates) {
      const payload = await tryAccess(op, ref, name, candidate.number);
      if (payload !== undefined && fingerprintOf(ref, op, payload) === record.fp) return candidate.number;
    }
    return undefined;
  };

  /**
   * Another rekey run's value staged beside the current one: a run that added its version and never finished
   * (neither promoted nor rolled back), whose version is enabled and not the one readers get. It is what a left-over
   * AWSPENDING is on AWS; staging over it would leave two runs racing for one alias. Costs nothing without such
   * records, else one list and an access per candidate.
   */
  const stagedByAnother = async (
    op: string,
    ref: StoreRef,
    name: string,
    secret: GcpSecretInfo,
    run: RunId,
    current: number | undefined,
  ): Promise<{ run: RunId; version: number } | undefined> => {
    const others = Object.values(secret.annotations)
      .map(parseRecord)
      .filter((r): r is RunRecord => r !== undefined && r.run !== run && r.field === ref.field && r.state === 'staged');
    if (others.length === 0) return undefined;
    const versions = await listVersions(op, ref, name);
    for (const other of others) {
      const own = await findOwn(op, ref, name, other, versions);
      if (own !== undefined && own !== current && versions.some((v) => v.number === own && v.state === 'ENABLED')) return { run: other.run, version: own };
    }
    return undefined;
  };

  /**
   * AddSecretVersion at most once: the service has no idempotency token, so before a retry (the first attempt may
   * have landed and only its answer been lost) look for the version by fingerprint.
   */
  const addOnce = async (op: string, ref: StoreRef, name: string, payload: string, find: () => Promise<number | undefined>): Promise<number> => {
    const c = await clientFor(name)
      .get()
      .catch((error: unknown) => {
        throw toStoreError(error, op, ref, 'addSecretVersion', name);
      });
    const limiter = limiterFor(name);
    // Whether an earlier attempt may have landed with only its answer lost. A quota refusal is not such an attempt:
    // the service refuses before acting, so it needs no search before the next one.
    let uncertain = false;
    return withRetry(async () => {
      if (uncertain) {
        const found = await find();
        if (found !== undefined) return found;
      }
      await limiter.take(op === 'rollback' ? 'rollback' : 'write');
      try {
        const data = Buffer.from(payload, 'utf8');
        // The service checks the checksum before storing, so a payload damaged on the way is refused, not kept.
        return (await c.addSecretVersion(name, data, payloadChecksum(data))).number;
      } catch (error) {
        if (isQuotaExceeded(error)) limiter.throttled();
        else uncertain = true;
        throw toStoreError(error, op, ref, 'addSecretVersion', name);
      }
    }, WRITE_RETRY);
  };

  const storedValueOf = (
    ref: StoreRef,
    op: string,
    number: number,
    payload: string,
    extra: { createdAt?: Date | undefined; run?: RunId | undefined } = {},
  ): StoredValue => ({
    value: new Secret(extractField(ref, op, payload)),
    version: String(number),
    createdAt: extra.createdAt,
    run: extra.run,
  });

  const versionNumber = (op: string, ref: StoreRef, id: VersionId, what: string): number => {
    const number = Number(id);
    if (!/^[0-9]+$/.test(id) || !Number.isSafeInteger(number) || number < 1) {
      throw new StoreError('invalid', op, ref.display, `${what} ${id} is not a Secret Manager version number`);
    }
    return number;
  };

  const isConflict = (error: unknown): boolean => error instanceof StoreConflictError;

  /** Every version newer than `number`, oldest first. */
  const newerThan = (versions: readonly GcpVersionInfo[], number: number) => versions.filter((v) => v.number > number).sort((a, b) => a.number - b.number);

  /** Disable a version if it is still enabled; the etag guards against a concurrent change of state. */
  const disableIfEnabled = async (op: string, ref: StoreRef, name: string, number: number): Promise<void> => {
    return casLoop(async (attempt) => {
      const version = await getVersion(op, ref, name, number);
      if (version.state !== 'ENABLED') return;
      try {
        await call(op, ref, 'disableSecretVersion', `${name}/versions/${number}`, (c) => c.disableSecretVersion(`${name}/versions/${number}`, version.etag));
        return;
      } catch (error) {
        attempt.retryIf(error, isConflict(error));
      }
    });
  };

  const store: GcpSecretManagerStore = {
    kind: KIND,
    capabilities: { readBack: true, staging: aliasName !== undefined, versions: true, compareAndSwap: true },

    async read(ref) {
      const op = 'read';
      const name = secretName(op, ref);
      // GetSecret, and the version readers most likely get (the alias, else latest) with its metadata, side by side:
      // one round trip. The answers are used only when they agree (the alias named the version that was accessed);
      // otherwise the calls are made again one after another, below.
      const guess = aliasName ?? 'latest';
      const settle = <T>(p: Promise<T>) =>
        p.then(
          (value) => ({ ok: true as const, value }),
          (error: unknown) => ({ ok: false as const, error }),
        );
      const [secret, early, earlyMeta] = await Promise.all([
        getSecret(op, ref, name),
        settle(access(op, ref, name, guess)),
        settle(getVersion(op, ref, name, guess)),
      ]);
      const target = aliasTarget(secret);
      const writerOf = (number: number) =>
        Object.values(secret.annotations)
          .map(parseRecord)
          .find((r) => r !== undefined && r.version === number && r.state !== 'rolled-back' && r.field === ref.field);
      const guessedRight = aliasName === undefined ? target === undefined : target !== undefined;
      // The version readers get could not be accessed (disabled, a permission missing): that is the answer, as it
      // would be asked again. Only a version not found (an alias moved or made in between) is asked again.
      if (guessedRight && !early.ok && !(early.error instanceof SecretNotFoundError)) throw early.error;
      if (early.ok && guessedRight && (target === undefined || target === early.value.number)) {
        const meta = earlyMeta.ok && earlyMeta.value.number === early.value.number ? earlyMeta.value : undefined;
        const permissionOnly = !earlyMeta.ok && earlyMeta.error instanceof StorePermissionError;
        if (meta !== undefined || permissionOnly) {
          const number = early.value.number;
          return storedValueOf(ref, op, number, early.value.payload, { createdAt: meta?.createTime, run: writerOf(number)?.run });
        }
      }
      // The creation time (for the age of the value) is worth a call, but not a failure: a reader holding only
      // secretmanager.versions.access, not .get, still reads the value.
      const createdAt = (id: number) =>
        getVersion(op, ref, name, id).then(
          (meta) => meta.createTime,
          (error: unknown) => {
            if (error instanceof StorePermissionError) return undefined;
            throw error;
          },
        );
      let number: number;
      let payload: string;
      let created: Date | undefined;
      if (target !== undefined) {
        [{ payload }, created] = await Promise.all([access(op, ref, name, target), createdAt(target)]);
        number = target;
      } else {
        ({ number, payload } = await access(op, ref, name, 'latest'));
        created = await createdAt(number);
      }
      return storedValueOf(ref, op, number, payload, { createdAt: created, run: writerOf(number)?.run });
    },

    async describe(ref) {
      // The current version's create_time (GetSecretVersion) and the run recorded for it in the annotations, without
      // accessing the payload (Secret Manager API: SecretVersion.create_time, Secret.annotations).
      const op = 'describe';
      const name = secretName(op, ref);
      try {
        const secret = await getSecret(op, ref, name);
        const number = await currentNumber(op, ref, name, secret);
        if (number === undefined) return undefined;
        const meta = await getVersion(op, ref, name, number);
        const writer = Object.values(secret.annotations)
          .map(parseRecord)
          .find((r) => r !== undefined && r.version === number && r.state !== 'rolled-back' && r.field === ref.field);
        return { version: String(number), createdAt: meta.createTime, run: writer?.run };
      } catch (error) {
        if (error instanceof SecretNotFoundError) return undefined;
        throw error;
      }
    },

    async readStaged(ref, run) {
      const op = 'read staged';
      const name = secretName(op, ref);
      const record = readRecord(await getSecret(op, ref, name), run, ref.field);
      if (record === undefined) return undefined;
      const own = await findOwn(op, ref, name, record);
      if (own === undefined) return undefined;
      const payload = await tryAccess(op, ref, name, own);
      return payload === undefined ? undefined : storedValueOf(ref, op, own, payload, { run });
    },

    async readPrevious(ref, run) {
      const op = 'read previous';
      const name = secretName(op, ref);
      const secret = await getSecret(op, ref, name);
      const record = readRecord(secret, run, ref.field);
      if (record === undefined || record.state === 'rolled-back') return undefined;
      const own = await findOwn(op, ref, name, record);
      if (own === undefined || (await currentNumber(op, ref, name, secret)) !== own) return undefined;
      // Once retired, the old version can no longer be read: the store no longer keeps it.
      const payload = await tryAccess(op, ref, name, record.base);
      return payload === undefined ? undefined : storedValueOf(ref, op, record.base, payload);
    },

    async canStage(ref, run, base) {
      const op = 'pre-flight';
      try {
        const name = secretName(op, ref);
        const baseNumber = versionNumber(op, ref, base, 'base version');
        // The secret, the base version's payload and the permissions depend on nothing but the name and the base:
        // asked side by side (one round trip), their answers judged below in the order they always were.
        const settle = <T>(p: Promise<T>) =>
          p.then(
            (value) => ({ ok: true as const, value }),
            (error: unknown) => ({ ok: false as const, error }),
          );
        const needed = ['secretmanager.secrets.update', 'secretmanager.versions.add'];
        const [secret, baseAccess, permissions] = await Promise.all([
          getSecret(op, ref, name),
          settle(access(op, ref, name, baseNumber)),
          settle(call(op, ref, 'testIamPermissions', name, (c) => c.testIamPermissions(name, needed))),
        ]);
        // This run recorded itself before: a resume, which stage finishes (and checks the value of).
        if (readRecord(secret, run, ref.field) !== undefined) return;
        const current = await currentNumber(op, ref, name, secret);
        if (current !== baseNumber) {
          throw new CannotStageError(
            'base-moved',
            ref.display,
            `current version is ${current ?? 'none'}, expected ${base}`,
            'another writer changed the secret since this run read it; start a new run',
          );
        }
        // Stage builds the new payload on the base version: it must still be enabled (a disabled or destroyed version
        // cannot be accessed, AccessSecretVersion answers FAILED_PRECONDITION).
        if (!baseAccess.ok) {
          const error = baseAccess.error;
          if (!(error instanceof VersionStateError)) throw error;
          throw new CannotStageError(
            'unusable',
            ref.display,
            `version ${baseNumber}, the current one, cannot be accessed (${error.message.slice(`${op} ${ref.display}: `.length)})`,
            `enable version ${baseNumber} (gcloud secrets versions enable ${baseNumber} ${gcloudSecretFlags(name)}), or point the alias at ` +
              `an enabled version`,
            { cause: error },
          );
        }
        const other = await stagedByAnother(op, ref, name, secret, run, current);
        if (other !== undefined) {
          throw new CannotStageError(
            'staged-by-another',
            ref.display,
            `run ${other.run} staged version ${other.version} and did not finish`,
            stagedByAnotherHint(other, name),
            { run: other.run },
          );
        }
        // What stage needs beyond reading: to record the run on the secret and to add a version. IAM answers this
        // without a write (TestIamPermissions); when it cannot be asked, stage finds out.
        let held: Set<string> | undefined;
        if (permissions.ok) held = new Set(permissions.value);
        else if (permissions.error instanceof StoreUnavailableError) throw permissions.error;
        const missing = held === undefined ? [] : needed.filter((p) => !held.has(p));
        if (missing.length > 0) {
          throw new CannotStageError(
            'permission',
            ref.display,
            `the account lacks ${missing.join(' and ')} on ${name}`,
            missing
              .map((p) => `grant ${p} (needed to ${PERMISSION_USE[p]?.use ?? 'write'}; role ${PERMISSION_USE[p]?.role ?? 'roles/secretmanager.admin'} has it)`)
              .join('; '),
          );
        }
      } catch (error) {
        throw CannotStageError.from(error, ref.display);
      }
    },

    async stage(ref, value, run, base) {
      const op = 'stage';
      const name = secretName(op, ref);
      const baseNumber = versionNumber(op, ref, base, 'base version');
      return casLoop(async (attempt) => {
        // The secret, the base version's payload and the newest version's number depend only on the name and the
        // base: asked side by side, one round trip; the answers are judged in the order they always were.
        const settle = <T>(p: Promise<T>) =>
          p.then(
            (v) => ({ ok: true as const, value: v }),
            (error: unknown) => ({ ok: false as const, error }),
          );
        const [secret, baseAccess, newest] = await Promise.all([
          getSecret(op, ref, name),
          settle(access(op, ref, name, baseNumber)),
          aliasName === undefined ? Promise.resolve(undefined) : settle(latestNumber(op, ref, name)),
        ]);
        let record = readRecord(secret, run, ref.field);
        if (record !== undefined) {
          if (record.fp !== value.fingerprint) {
            throw new StoreConflictError(
              op,
              ref.display,
              `this run already staged a different value (fingerprint ${record.fp}, now ${value.fingerprint})`,
              'a resumed run must stage the value it minted; roll this run back instead',
            );
          }
          const own = await findOwn(op, ref, name, record);
          if (own !== undefined) return String(own);
        }
        const current = await currentNumber(op, ref, name, secret);
        if (current !== baseNumber) {
          throw new StoreConflictError(
            op,
            ref.display,
            `current version is ${current ?? 'none'}, expected ${base}`,
            'another writer changed the secret since this run read it',
          );
        }
        if (record === undefined) {
          const other = await stagedByAnother(op, ref, name, secret, run, current);
          if (other !== undefined)
            throw new StoreConflictError(
              op,
              ref.display,
              `run ${other.run} staged version ${other.version} and did not finish`,
              stagedByAnotherHint(other, name),
            );
        }
        if (!baseAccess.ok) throw baseAccess.error;
        const basePayload = baseAccess.value.payload;
        const payload = replaceField(ref, op, basePayload, value.reveal());
        const size = Buffer.byteLength(payload, 'utf8');
        if (size > 65_536) {
          throw new StoreError('invalid', op, ref.display, `the new payload is ${size} bytes; Secret Manager holds at most 65536 (64 KiB)`);
        }
        if (record === undefined) {
          // Record the run before adding, so that a crash after the add leaves a way to find the version again.
          if (newest !== undefined && !newest.ok) throw newest.error;
          const after =
            aliasTarget(secret) === undefined ? baseNumber : ((newest === undefined ? await latestNumber(op, ref, name) : newest.value) ?? baseNumber);
          record = {
            v: 1,
            run,
            field: ref.field,
            fp: value.fingerprint,
            baseFp: fingerprintOf(ref, op, basePayload),
            base: baseNumber,
            after,
            state: 'staged',
          };
          try {
            await update(op, ref, name, { name, etag: secret.etag, annotations: withRecord(secret.annotations, record) }, ['annotations']);
          } catch (error) {
            attempt.retryIf(error, isConflict(error));
          }
        }
        const own = record;
        return String(await addOnce(op, ref, name, payload, () => findOwn(op, ref, name, own)));
      });
    },

    async promote(ref, version, run, base) {
      const op = 'promote';
      const name = secretName(op, ref);
      const target = versionNumber(op, ref, version, 'version');
      const baseNumber = versionNumber(op, ref, base, 'base version');
      return casLoop(async (attempt) => {
        const secret = await getSecret(op, ref, name);
        const record = readRecord(secret, run, ref.field);
        const notOurs = () => new StoreConflictError(op, ref.display, `version ${version} was not staged by this run`);
        if (record === undefined || record.state === 'rolled-back') throw notOurs();
        // The versions (to find one added after the run's) are listed while the run's own is proven, side by side.
        const aliasedNow = aliasTarget(secret);
        const listing =
          aliasedNow !== undefined && aliasedNow !== target
            ? listVersions(op, ref, name).then(
                (value) => ({ ok: true as const, value }),
                (error: unknown) => ({ ok: false as const, error }),
              )
            : undefined;
        if (record.version === undefined) {
          // Prove the version is this run's by its value's fingerprint (one access), before pointing anyone at it.
          const payload = await tryAccess(op, ref, name, target);
          if (target <= record.after || payload === undefined || fingerprintOf(ref, op, payload) !== record.fp) throw notOurs();
        } else if (record.version !== target) {
          throw notOurs();
        }
        const promoted: RunRecord = { ...record, version: target, state: 'promoted' };
        const aliased = aliasTarget(secret);
        try {
          if (aliased === undefined) {
            // No alias to move: readers use `latest`, which has named this run's version since stage, unless
            // someone added a version after it.
            const latest = await latestNumber(op, ref, name);
            if (latest !== target) {
              throw new StoreConflictError(op, ref.display, `latest is version ${latest ?? 'none'}, not this run's ${version}: it was written after this run`);
            }
            if (record.state !== 'promoted') {
              await update(op, ref, name, { name, etag: secret.etag, annotations: withRecord(secret.annotations, promoted) }, ['annotations']);
            }
            return;
          }
          if (aliased === target) return;
          if (aliased !== baseNumber) {
            throw new StoreConflictError(
              op,
              ref.display,
              `alias ${aliasName} points at version ${aliased}, expected ${base} or ${version}`,
              'another writer moved the alias since this run read it',
            );
          }
          const listed = await (listing ?? listVersions(op, ref, name).then((value) => ({ ok: true as const, value })));
          if (!listed.ok) throw listed.error;
          const later = newerThan(listed.value, target)[0];
          if (later !== undefined) {
            throw new StoreConflictError(
              op,
              ref.display,
              `version ${later.number} was added after this run's version ${version}`,
              'readers of latest already see it; promoting would split readers',
            );
          }
          // The etag makes this a compare-and-swap: if anyone moved the alias since the read, this fails.
          await update(
            op,
            ref,
            name,
            {
              name,
              etag: secret.etag,
              versionAliases: { ...secret.versionAliases, [aliasName!]: target },
              annotations: withRecord(secret.annotations, promoted),
            },
            ['version_aliases', 'annotations'],
          );
          return;
        } catch (error) {
          // An etag mismatch on our own update means the secret changed: read again and decide afresh.
          attempt.retryIf(error, error instanceof EtagConflictError);
        }
      });
    },

    async rollback(ref, run) {
      const op = 'rollback';
      const name = secretName(op, ref);
      return casLoop(async (attempt) => {
        const secret = await getSecret(op, ref, name);
        const record = readRecord(secret, run, ref.field);
        if (record === undefined) return;
        if (record.state === 'rolled-back') {
          // Done before; a crash may have come between the record and the disable.
          if (record.version !== undefined) await disableIfEnabled(op, ref, name, record.version);
          return;
        }
        const versions = await listVersions(op, ref, name);
        const own = await findOwn(op, ref, name, record, versions);
        if (own === undefined) return; // The run recorded itself but never added a version: nothing to undo.
        const promoted = record.state === 'promoted';

        // What came after the run's version: a restoring version from an earlier, interrupted rollback of this
        // run (it holds the old value), or someone else's write.
        let restore: number | undefined;
        let foreign: number | undefined;
        const next = newerThan(versions, own)[0];
        if (next !== undefined) {
          const payload = next.state === 'ENABLED' ? await tryAccess(op, ref, name, next.number) : undefined;
          if (payload !== undefined && record.baseFp !== undefined && fingerprintOf(ref, op, payload) === record.baseFp) restore = next.number;
          else foreign = next.number;
        }
        const aliased = aliasTarget(secret);
        if (aliased !== undefined && aliased !== own && aliased !== record.base && aliased !== restore) foreign ??= aliased;

        const rolledBack: RunRecord = { ...record, version: own, restore, state: 'rolled-back' };
        try {
          if (foreign !== undefined && restore === undefined) {
            // Someone wrote after this run. A promoted value cannot be taken back without clobbering theirs; a value
            // that was only staged is simply discarded.
            if (promoted) {
              throw new StoreConflictError(
                op,
                ref.display,
                `version ${foreign} was written after this run`,
                'a rollback never overwrites a newer value: decide by hand which value should be current',
              );
            }
            await update(op, ref, name, { name, etag: secret.etag, annotations: withRecord(secret.annotations, rolledBack) }, ['annotations']);
            await disableIfEnabled(op, ref, name, own);
            return;
          }
          if (restore === undefined && next === undefined) {
            // The run's version is the newest, so `latest` readers see it: give them the old payload back.
            let basePayload: string;
            try {
              basePayload = (await access(op, ref, name, record.base)).payload;
            } catch (error) {
              if (error instanceof VersionStateError) {
                throw new StoreError(
                  'failed',
                  op,
                  ref.display,
                  `the previous version ${record.base} is no longer enabled (retired?), so there is no old value to return to`,
                  {
                    hint: `enable version ${record.base} first if it must become current again`,
                  },
                );
              }
              throw error;
            }
            const baseFp = record.baseFp;
            restore = await addOnce(op, ref, name, basePayload, async () => {
              const list = newerThan(await listVersions(op, ref, name), own);
              const first = list[0];
              if (first === undefined || baseFp === undefined) return undefined;
              const payload = await tryAccess(op, ref, name, first.number);
              return payload !== undefined && fingerprintOf(ref, op, payload) === baseFp ? first.number : undefined;
            });
          }
          const done: RunRecord = { ...rolledBack, restore };
          if (aliased === own) {
            await update(
              op,
              ref,
              name,
              {
                name,
                etag: secret.etag,
                versionAliases: { ...secret.versionAliases, [aliasName!]: record.base },
                annotations: withRecord(secret.annotations, done),
              },
              ['version_aliases', 'annotations'],
            );
          } else {
            await update(op, ref, name, { name, etag: secret.etag, annotations: withRecord(secret.annotations, done) }, ['annotations']);
          }
          // Discard the run's value: disabled, not destroyed, so a person can still recover it.
          await disableIfEnabled(op, ref, name, own);
          return;
        } catch (error) {
          attempt.retryIf(error, error instanceof EtagConflictError);
        }
      });
    },

    async retire(ref, run) {
      const op = 'retire';
      const name = secretName(op, ref);
      const secret = await getSecret(op, ref, name);
      const record = readRecord(secret, run, ref.field);
      // Nothing of this run's, or the old value is current again after a rollback: nothing to retire.
      if (record === undefined || record.state === 'rolled-back') return;
      const own = await findOwn(op, ref, name, record);
      if (own === undefined) return;
      const holders = Object.entries(secret.versionAliases)
        .filter(([, number]) => number === record.base)
        .map(([alias]) => alias);
      if (holders.length > 0) {
        throw new StoreConflictError(
          op,
          ref.display,
          `version ${record.base} is still named by alias ${holders.join(', ')}`,
          'promote this run first; retire never disables a version readers use',
        );
      }
      const versionName = `${name}/versions/${record.base}`;
      return casLoop(async (attempt) => {
        const old = await getVersion(op, ref, name, record.base);
        if (old.state === 'DESTROYED' || (old.state === 'DISABLED' && options.retire === 'disable')) return;
        // With version_destroy_ttl, a destroy leaves the version DISABLED with a scheduled_destroy_time: that is the
        // destroy done (the service carries it out), so a resumed retire does not ask again.
        if (old.state === 'DISABLED' && old.scheduledDestroyTime !== undefined) return;
        try {
          if (options.retire === 'destroy') {
            await call(op, ref, 'destroySecretVersion', versionName, (c) => c.destroySecretVersion(versionName, old.etag));
          } else {
            await call(op, ref, 'disableSecretVersion', versionName, (c) => c.disableSecretVersion(versionName, old.etag));
          }
          return;
        } catch (error) {
          // A concurrent state change: look again (it may already be done) a few times.
          attempt.retryIf(error, isConflict(error) || error instanceof VersionStateError);
        }
      });
    },

    async check(ref): Promise<StoreCheck> {
      const op = 'check';
      const notes: string[] = [];
      const describe = (error: unknown): string => {
        const e = error instanceof StoreError ? error : toStoreError(error, op, ref, 'getSecret', ref.path);
        return e.hint === undefined ? e.message : `${e.message}. ${e.hint}`;
      };
      let name: string;
      let secret: GcpSecretInfo;
      let fp: string | undefined;
      try {
        name = secretName(op, ref);
        secret = await getSecret(op, ref, name);
        const target = aliasTarget(secret);
        const { payload } = await access(op, ref, name, target ?? 'latest');
        fp = fingerprint(extractField(ref, op, payload));
      } catch (error) {
        return { readable: false, writable: undefined, notes: [describe(error)] };
      }
      if (aliasName !== undefined && aliasTarget(secret) === undefined) {
        notes.push(
          `the secret has no version alias ${aliasName}, so readers use latest: a staged value is visible at once, and rekey will not create the alias (set ` +
            `alias: latest to say so, or add the alias)`,
        );
      }
      if (aliasName === undefined) notes.push('readers use latest: a staged value is visible at once');
      const writes = [
        'secretmanager.versions.add',
        'secretmanager.secrets.update',
        'secretmanager.versions.list',
        'secretmanager.versions.get',
        options.retire === 'destroy' ? 'secretmanager.versions.destroy' : 'secretmanager.versions.disable',
      ];
      let writable: boolean | undefined;
      try {
        const held = new Set(await call(op, ref, 'testIamPermissions', name, (c) => c.testIamPermissions(name, writes)));
        const missing = writes.filter((p) => !held.has(p));
        writable = missing.length === 0;
        for (const permission of missing) {
          const use = PERMISSION_USE[permission];
          notes.push(
            `missing ${permission} on ${name}: rekey cannot ${use?.use ?? 'write'} (grant it, for example with ${use?.role ?? 'roles/secretmanager.admin'})`,
          );
        }
      } catch (error) {
        notes.push(`could not test write permissions (${describe(error)}); rekey needs ${writes.join(', ')}`);
      }
      return { readable: true, writable, fingerprint: fp, notes };
    },

    async close() {
      const all = [...clients.values()];
      clients.clear();
      await Promise.all(all.map((c) => c.reset()));
    },
  };
  return store;
}

export default {
  kind: KIND,
  summary: 'GCP Secret Manager: a secret payload or one field of a JSON payload, rotated through a version alias',
  options: {
    project: { type: 'string', description: 'the project of a bare secret name; else GOOGLE_CLOUD_PROJECT' },
    location: { type: 'string', description: 'the location (region) of a bare secret name, for a regional secret; unset for global' },
    alias: { type: 'string', description: 'the version alias your readers use; `latest` for none', default: 'current' },
    retire: { type: 'string', description: 'what retire does to the old version: disable or destroy', default: 'disable' },
    endpoint: { type: 'string', description: 'plaintext host:port of an emulator or test server; unset for Google' },
    writesPerMinute: {
      type: 'number',
      description: "the project's write-request quota a minute, shared by every store of the project (raised by Google on request)",
      default: WRITES_PER_MINUTE,
    },
  },
  validateRef: refProblem,
  // What gcpOptions and createSdkClient (./client.ts) read. An emulator endpoint needs no credentials; without a key
  // file the client library uses Application Default Credentials (GKE Workload Identity, the metadata server).
  environment(options) {
    if (typeof options['endpoint'] === 'string') return [];
    return [
      ...(typeof options['project'] === 'string'
        ? []
        : [{ name: 'GOOGLE_CLOUD_PROJECT', kind: 'setting' as const, description: 'the project of bare secret names', optional: true }]),
      {
        name: 'GOOGLE_APPLICATION_CREDENTIALS',
        kind: 'file' as const,
        description: 'a service account key file (none with workload identity)',
        optional: true,
      },
    ];
  },
  open(options, context) {
    return openGcpSecretManagerStore(options, context);
  },
} satisfies SecretStoreAdapter;
