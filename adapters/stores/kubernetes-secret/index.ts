/**
 * Kubernetes Secrets: one key of a Secret's `data`, written with compare-and-swap on the Secret's resourceVersion.
 *
 * ```yaml
 * stores:
 *   - kubernetes-secret: prod/web-app#API_KEY   # namespace "prod", Secret "web-app", key "API_KEY"
 *     context: prod-cluster                     # optional: a context of the kubeconfig (else its current-context)
 *     kubeconfig: ./ops/kubeconfig              # optional: else KUBECONFIG, the pod's service account, ~/.kube/config
 * ```
 *
 * A Secret key has no versions and no staging: `stage` makes the new value current at once (as Vault does), and
 * `promote` only confirms it still is. The version id of a value is its fingerprint, and compare-and-swap compares
 * fingerprints; every write is a PUT of the object as read, so its `metadata.resourceVersion` makes the API refuse
 * it (409 Conflict) when anyone changed the Secret in between, and the write is tried again from a fresh read. Every
 * other key, label and annotation of the Secret is sent back as it was read.
 *
 * From stage until retire (or rollback), the value before the run's is kept in the same Secret under the key
 * `<key>.rekey-previous`, written in the same PUT as the new value, so that no crash can separate them; a consumer
 * that mounts the whole Secret sees that key during the overlap. rekey records each rotation in the annotation
 * `rekey.dev/rotations` (JSON, by key: the run, the time, and run-salted tags of the new and old values, never a
 * value), so that `kubectl describe secret` shows when and by which run a key was last written
 * (`metadata.creationTimestamp` is the Secret's, not the value's).
 *
 * A Secret marked `immutable: true` cannot change (the API answers 422 "field is immutable"): `check` and the
 * pre-flight say so before anything is minted. The identity rekey runs as needs `get` and `update` on the Secret;
 * `create` on selfsubjectaccessreviews (granted to every authenticated user) lets `check` test `update` without writing.
 */
import { createHash } from 'node:crypto';
import { fingerprint } from '../../../src/contract/mask.js';
import { Secret } from '../../../src/contract/secret.js';
import type { RunId, SecretStore, SecretStoreAdapter, StoreCheck, StoreContext, StoredValue, StoreRef } from '../../../src/contract/store.js';
import { CannotStageError, SecretNotFoundError, StoreConflictError, StoreEnvironmentError, StoreError } from '../../../src/contract/store-errors.js';
import type { RetryOptions } from '../../../src/util/retry.js';
import { type CasAttempt, callService, casLoop, lazyClient, stringOption } from '../kit/index.js';

import { connectKubernetes, KIND, type KubernetesSecretsClient, PREVIOUS_SUFFIX, parseLocation, refProblem, type SecretObject } from './client.js';
import { immutableError, type Need, roleHint, toStoreError } from './errors.js';

export type { KubernetesSecretsClient, SecretObject } from './client.js';
export { PREVIOUS_SUFFIX } from './client.js';

/** The annotation rekey keeps its records in. */
export const ROTATIONS_ANNOTATION = 'rekey.dev/rotations';

/** How to open a Kubernetes Secret store: a client, built on first use. */
export interface KubernetesSecretStoreOptions {
  readonly connect: () => Promise<KubernetesSecretsClient>;
  /** Backoff for 429, 5xx and dropped connections (tests shorten it). */
  readonly retry?: RetryOptions | undefined;
}

/** What rekey records about the last rotation of one key. */
interface Rotation {
  readonly run: RunId;
  readonly at: string;
  /** Tag of the value the run wrote. */
  readonly new: string;
  /** Tag of the value before it. */
  readonly old: string;
  /** `written` from stage on; `retired` once the previous value is dropped. */
  readonly state: 'written' | 'retired';
}

interface Location {
  readonly namespace: string;
  readonly name: string;
  readonly key: string;
  readonly previousKey: string;
}

/** The Secret as read, decoded for the one key: what every operation decides from. */
interface Read {
  readonly object: SecretObject;
  readonly current: string | undefined;
  readonly previous: string | undefined;
  readonly rotation: Rotation | undefined;
  readonly rotations: Record<string, Rotation>;
}

/** A run's tag of a value: 16 hex digits of SHA-256 over the run id and the value, never the value itself. */
export function tag(run: RunId, value: string): string {
  return createHash('sha256').update(`rekey kubernetes-secret\n${run}\n${value}`, 'utf8').digest('hex').slice(0, 16);
}

function decode(operation: string, ref: StoreRef, text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  const bytes = Buffer.from(text, 'base64');
  const value = bytes.toString('utf8');
  // A key holding binary data (a keystore) is not a credential rekey can rotate as text.
  if (!Buffer.from(value, 'utf8').equals(bytes)) throw new StoreError('invalid', operation, ref.display, 'the key holds binary data, not UTF-8 text');
  return value;
}

const encode = (value: string): string => Buffer.from(value, 'utf8').toString('base64');

function rotationsOf(object: SecretObject): Record<string, Rotation> {
  const text = object.metadata?.annotations?.[ROTATIONS_ANNOTATION];
  if (text === undefined) return {};
  try {
    const raw = JSON.parse(text) as unknown;
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return {};
    const out: Record<string, Rotation> = {};
    for (const [key, entry] of Object.entries(raw as Record<string, unknown>)) {
      const e = entry as Partial<Rotation> | null;
      if (typeof e?.run === 'string' && typeof e.new === 'string' && typeof e.old === 'string' && (e.state === 'written' || e.state === 'retired')) {
        out[key] = { run: e.run, at: typeof e.at === 'string' ? e.at : '', new: e.new, old: e.old, state: e.state };
      }
    }
    return out;
  } catch {
    // Someone edited the annotation by hand: it is no record of rekey's, and is replaced at the next write.
    return {};
  }
}

/** Open a Kubernetes Secret store over a client; the adapter's `open` passes client-node's, tests may pass a fake. */
export function openKubernetesSecretStore(options: KubernetesSecretStoreOptions): SecretStore {
  const client = lazyClient(options.connect);

  const locate = (operation: string, ref: StoreRef): Location => {
    const location = parseLocation(ref);
    if (typeof location === 'string') throw new StoreError('invalid', operation, ref.display, location);
    return { ...location, previousKey: `${location.key}${PREVIOUS_SUFFIX}` };
  };
  const needOf = (loc: Location, verb: string): Need => ({ verb, namespace: loc.namespace, name: loc.name });

  const call = async <T>(operation: string, ref: StoreRef, need: Need, fn: (k8s: KubernetesSecretsClient) => Promise<T>): Promise<T> => {
    const k8s = await client.get().catch((error: unknown) => {
      throw restated(toStoreError(error, operation, ref, need), operation, ref);
    });
    return callService(
      () => fn(k8s),
      (error) => toStoreError(error, operation, ref, need),
      options.retry,
    );
  };

  const fetch = async (operation: string, ref: StoreRef, loc: Location): Promise<Read> => {
    const object = await call(operation, ref, needOf(loc, 'get'), (k8s) => k8s.read(loc.namespace, loc.name));
    const rotations = rotationsOf(object);
    return {
      object,
      current: decode(operation, ref, object.data?.[loc.key]),
      previous: decode(operation, ref, object.data?.[loc.previousKey]),
      rotation: rotations[loc.key],
      rotations,
    };
  };

  const fetchCurrent = async (operation: string, ref: StoreRef, loc: Location): Promise<Read & { current: string }> => {
    const read = await fetch(operation, ref, loc);
    if (read.current === undefined) {
      throw new SecretNotFoundError(
        operation,
        ref.display,
        `Secret ${loc.namespace}/${loc.name} has no key ${loc.key}`,
        `add the key ${loc.key} to the Secret first`,
      );
    }
    return read as Read & { current: string };
  };

  /**
   * PUT the Secret as read with `data` changes (undefined deletes a key) and this key's rotation record (undefined
   * deletes it). The read object's resourceVersion goes with it, so a write over a newer Secret is a 409 that ends the
   * pass and reads again (`attempt.retryIf`).
   */
  const write = async (
    operation: string,
    ref: StoreRef,
    loc: Location,
    read: Read,
    changes: Readonly<Record<string, string | undefined>>,
    rotation: Rotation | undefined,
    attempt: CasAttempt,
  ): Promise<void> => {
    if (read.object.immutable === true) throw immutableError(operation, ref, needOf(loc, 'update'));
    const data: Record<string, string> = { ...(read.object.data ?? {}) };
    for (const [key, value] of Object.entries(changes)) {
      if (value === undefined) delete data[key];
      else data[key] = encode(value);
    }
    const rotations = { ...read.rotations };
    if (rotation === undefined) delete rotations[loc.key];
    else rotations[loc.key] = rotation;
    const annotations: Record<string, string> = { ...(read.object.metadata?.annotations ?? {}) };
    if (Object.keys(rotations).length === 0) delete annotations[ROTATIONS_ANNOTATION];
    else annotations[ROTATIONS_ANNOTATION] = JSON.stringify(rotations);
    const body: SecretObject = { ...read.object, metadata: { ...read.object.metadata, annotations }, data };
    try {
      await call(operation, ref, needOf(loc, 'update'), (k8s) => k8s.replace(loc.namespace, loc.name, body));
    } catch (error) {
      attempt.retryIf(error, error instanceof StoreConflictError);
    }
  };

  /** Whether the key's current value is the one `run` wrote. */
  const holdsRun = (read: Read, run: RunId): boolean =>
    read.rotation?.run === run && read.current !== undefined && tag(run, read.current) === read.rotation.new;

  const store: SecretStore = {
    kind: KIND,
    capabilities: { readBack: true, staging: false, versions: false, compareAndSwap: true },

    async read(ref) {
      const loc = locate('read', ref);
      const read = await fetchCurrent('read', ref, loc);
      const ours = read.rotation !== undefined && tag(read.rotation.run, read.current) === read.rotation.new;
      return {
        value: new Secret(read.current),
        version: fingerprint(read.current),
        createdAt: ours && read.rotation!.at !== '' ? new Date(read.rotation!.at) : undefined,
        run: ours ? read.rotation!.run : undefined,
      } satisfies StoredValue;
    },

    async describe(ref) {
      try {
        const { value: _, ...metadata } = await store.read(ref);
        return metadata;
      } catch (error) {
        if (error instanceof StoreError && error.code === 'not-found') return undefined;
        throw error;
      }
    },

    async readStaged(ref, run) {
      const loc = locate('read staged', ref);
      const read = await fetch('read staged', ref, loc);
      if (!holdsRun(read, run)) return undefined;
      const at = read.rotation!.at;
      return { value: new Secret(read.current!), version: fingerprint(read.current!), run, createdAt: at === '' ? undefined : new Date(at) };
    },

    async readPrevious(ref, run) {
      const loc = locate('read previous', ref);
      const read = await fetch('read previous', ref, loc);
      if (read.rotation?.run !== run || read.previous === undefined) return undefined;
      return { value: new Secret(read.previous), version: fingerprint(read.previous) };
    },

    async canStage(ref, run, base) {
      try {
        const loc = locate('pre-flight', ref);
        const read = await fetchCurrent('pre-flight', ref, loc);
        if (read.object.immutable === true) {
          const e = immutableError('pre-flight', ref, needOf(loc, 'update'));
          throw new CannotStageError(
            'unusable',
            ref.display,
            `Secret ${loc.namespace}/${loc.name} is immutable (immutable: true): its data cannot change`,
            e.hint!,
          );
        }
        if (read.rotation?.run === run) return; // A leftover of this same run: it resumes.
        if (read.previous !== undefined) {
          const other = read.rotation?.run;
          throw new CannotStageError(
            'staged-by-another',
            ref.display,
            other === undefined
              ? `the key ${loc.previousKey} is present, with no rekey record`
              : `run ${other} wrote this key and still keeps the value before it in ${loc.previousKey}`,
            other === undefined
              ? `remove the key ${loc.previousKey} from the Secret if no rotation is in progress`
              : `let that run retire its previous value (rekey resume ${other}) or roll it back (rekey rollback ${other}) first`,
            other === undefined ? {} : { run: other },
          );
        }
        if (fingerprint(read.current) !== base) {
          throw new CannotStageError(
            'base-moved',
            ref.display,
            `the key's value changed since this run read it (fingerprint ${fingerprint(read.current)}, expected ${base})`,
            'another writer changed the Secret after this run read it; start a new run',
          );
        }
        const allowed = await call('pre-flight', ref, needOf(loc, 'update'), (k8s) => k8s.canI(loc.namespace, loc.name, 'update'));
        if (allowed === false) {
          throw new CannotStageError('permission', ref.display, `not allowed to "update" Secret ${loc.namespace}/${loc.name}`, roleHint(needOf(loc, 'update')));
        }
      } catch (error) {
        throw CannotStageError.from(error, ref.display);
      }
    },

    async stage(ref, value, run, base) {
      const loc = locate('stage', ref);
      const newTag = tag(run, value.reveal());
      return casLoop(async (attempt) => {
        const read = await fetchCurrent('stage', ref, loc);
        if (read.rotation?.run === run && read.rotation.state === 'written') {
          if (!holdsRun(read, run)) {
            throw new StoreConflictError(
              'stage',
              ref.display,
              `the key was written by someone else after this run wrote it`,
              'decide by hand which value should be current',
            );
          }
          if (read.rotation.new !== newTag) throw new StoreConflictError('stage', ref.display, 'this run already wrote a different value to this key');
          return fingerprint(read.current);
        }
        if (read.previous !== undefined) {
          throw new StoreConflictError(
            'stage',
            ref.display,
            `${read.rotation === undefined ? 'someone' : `run ${read.rotation.run}`} still keeps a previous value in ${loc.previousKey}`,
            'let that run retire or roll back first',
          );
        }
        if (fingerprint(read.current) !== base) {
          throw new StoreConflictError(
            'stage',
            ref.display,
            `the key's value changed since this run read it (fingerprint ${fingerprint(read.current)}, expected ${base})`,
            'another writer changed the Secret after this run read it; read it again before rotating',
          );
        }
        const rotation: Rotation = { run, at: new Date().toISOString(), new: newTag, old: tag(run, read.current), state: 'written' };
        await write('stage', ref, loc, read, { [loc.key]: value.reveal(), [loc.previousKey]: read.current }, rotation, attempt);
        return fingerprint(value.reveal());
      });
    },

    async promote(ref, version, run) {
      const loc = locate('promote', ref);
      const read = await fetchCurrent('promote', ref, loc);
      if (holdsRun(read, run) && fingerprint(read.current) === version) return;
      if (read.rotation?.run !== run) {
        throw new StoreConflictError(
          'promote',
          ref.display,
          `the key's value (fingerprint ${version}) was not written by this run`,
          'stage the value in this run first',
        );
      }
      throw new StoreConflictError(
        'promote',
        ref.display,
        `the key holds fingerprint ${fingerprint(read.current)}, not this run's ${version}: someone else wrote after this run`,
      );
    },

    async rollback(ref, run) {
      const loc = locate('rollback', ref);
      await casLoop(async (attempt) => {
        const read = await fetch('rollback', ref, loc);
        if (read.rotation?.run !== run) return; // This run changed nothing, or its rollback is done.
        if (read.rotation.state === 'retired') {
          throw new StoreError('failed', 'rollback', ref.display, 'this run already dropped the previous value (retire), so it cannot be restored');
        }
        if (!holdsRun(read, run)) {
          throw new StoreConflictError(
            'rollback',
            ref.display,
            `the key was written after this run (fingerprint ${read.current === undefined ? 'none: the key is gone' : fingerprint(read.current)}); ` +
              'a rollback would overwrite it',
            'decide by hand which value should be current',
          );
        }
        if (read.previous === undefined || tag(run, read.previous) !== read.rotation.old) {
          throw new StoreError('failed', 'rollback', ref.display, `the previous value is no longer in ${loc.previousKey}, so it cannot be restored`);
        }
        await write('rollback', ref, loc, read, { [loc.key]: read.previous, [loc.previousKey]: undefined }, undefined, attempt);
      });
    },

    async retire(ref, run) {
      const loc = locate('retire', ref);
      await casLoop(async (attempt) => {
        let read: Read;
        try {
          read = await fetch('retire', ref, loc);
        } catch (error) {
          if (error instanceof StoreError && error.code === 'not-found') return; // Already gone is success.
          throw error;
        }
        if (read.rotation?.run !== run || read.rotation.state === 'retired') return;
        await write('retire', ref, loc, read, { [loc.previousKey]: undefined }, { ...read.rotation, state: 'retired' }, attempt);
      });
    },

    async check(ref) {
      const notes: string[] = [];
      let readable = false;
      let fingerprintOf: string | undefined;
      let immutable = false;
      try {
        const loc = locate('check', ref);
        const read = await fetchCurrent('check', ref, loc);
        readable = true;
        fingerprintOf = fingerprint(read.current);
        immutable = read.object.immutable === true;
      } catch (error) {
        if (!(error instanceof StoreError)) throw error;
        notes.push(error.hint === undefined ? error.message : `${error.message} (${error.hint})`);
        if (error.code === 'invalid') return { readable, writable: undefined, notes };
      }
      const loc = locate('check', ref);
      if (immutable) {
        const e = immutableError('check', ref, needOf(loc, 'update'));
        notes.push(`${e.message} (${e.hint})`);
        return { readable, writable: false, fingerprint: fingerprintOf, notes } satisfies StoreCheck;
      }
      let writable: boolean | undefined;
      try {
        writable = await call('check', ref, needOf(loc, 'update'), (k8s) => k8s.canI(loc.namespace, loc.name, 'update'));
      } catch (error) {
        if (!(error instanceof StoreError)) throw error;
        writable = undefined;
      }
      if (writable === false) notes.push(`not allowed to "update" Secret ${loc.namespace}/${loc.name}: ${roleHint(needOf(loc, 'update'))}`);
      if (writable === undefined) notes.push('the cluster would not answer a SelfSubjectAccessReview, so write access is untested');
      return { readable, writable, fingerprint: fingerprintOf, notes } satisfies StoreCheck;
    },
  };
  return store;
}

/** A connection error (raised as `connect kubernetes-secret: …`) restated for the operation and ref that needed it. */
function restated(error: StoreError, operation: string, ref: StoreRef): StoreError {
  if (error.operation === operation && error.ref === ref.display) return error;
  const prefix = `${error.operation} ${error.ref}: `;
  const detail = error.message.startsWith(prefix) ? error.message.slice(prefix.length) : error.message;
  if (error instanceof StoreEnvironmentError) return new StoreEnvironmentError(operation, ref.display, detail, error.hint ?? '');
  return new StoreError(error.code, operation, ref.display, detail, { ...(error.hint === undefined ? {} : { hint: error.hint }), retriable: error.retriable });
}

export default {
  kind: KIND,
  summary: "Kubernetes Secrets: one key of a Secret's data, compare-and-swap on its resourceVersion, other keys untouched",
  validateRef: refProblem,
  options: {
    context: { type: 'string', description: "the kubeconfig context to use; else the kubeconfig's current-context" },
    kubeconfig: { type: 'string', description: "the kubeconfig file (relative to rekey.yaml); else KUBECONFIG, the pod's service account, ~/.kube/config" },
  },
  environment(options) {
    if (typeof options['kubeconfig'] === 'string' && options['kubeconfig'] !== '') return [];
    return [{ name: 'KUBECONFIG', kind: 'file', description: 'the kubeconfig file (none needed inside a pod with a service account)', optional: true }];
  },
  open(options, context: StoreContext) {
    const connection = {
      kubeconfig: stringOption(options, 'kubeconfig', KIND),
      context: stringOption(options, 'context', KIND),
      baseDir: context.baseDir,
      env: context.env,
    };
    return openKubernetesSecretStore({ connect: () => connectKubernetes(connection) });
  },
} satisfies SecretStoreAdapter;
