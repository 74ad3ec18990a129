/**
 * A credential's age: when its current value was written, and how rekey knows. For `status` and `rotate --due`.
 *
 * Sources, best first:
 *   1. the stores: each store's `describe(ref)` (AWS `CreatedDate` of AWSCURRENT, GCP `create_time`, Vault
 *      `created_time`, …). When several report a date, the oldest wins: the credential is as old as its oldest copy
 *      (a copy that a failed run or a person left behind must not make the credential look fresh).
 *   2. what the person said and what rekey did, when no store keeps a date (`.env` only): `policy.lastRotated` in
 *      rekey.yaml and the local journal's last finished run. Both tell of a write of the current value, so the later
 *      of the two wins: a rotation by rekey after the date written in rekey.yaml supersedes it (otherwise an old
 *      `lastRotated` would make the credential due on every tick).
 *   3. unknown. An unknown age is never guessed: `rotate --due` skips it unless told otherwise.
 * The journal is a cache of what this machine did, never preferred over a store: in a fresh CI checkout or a pod it is
 * empty, and a person may have written the store by hand since.
 */
import type { CredentialConfig } from '../config/types.js';
import type { SecretStore, StoredMetadata, StoreRef } from '../contract/store.js';
import type { LastRuns } from './history.js';

/** A store as the age needs it: one that can describe what it holds (an OpenStore of the engine is one). */
export interface DescribedStore {
  readonly store: Pick<SecretStore, 'describe' | 'close'>;
  readonly ref: StoreRef;
}

/** A store that answers at once, from a local file (`.env`): describe() without the promise. */
export interface DescribedNowStore {
  readonly store: { readonly describeNow: (ref: StoreRef) => StoredMetadata | undefined };
  readonly ref: StoreRef;
}

export type AgeSource = 'store' | 'policy.lastRotated' | 'journal' | 'unknown';

export interface CredentialAge {
  /** When the current value was written; undefined when unknown. */
  readonly writtenAt: Date | undefined;
  readonly source: AgeSource;
  /** The store (`aws-secrets-manager:prod/app#API_KEY`), `policy.lastRotated`, or the journal's run id. */
  readonly from: string | undefined;
  /** The run that wrote the value, when the source says. */
  readonly run: string | undefined;
  /** What could not be learned from the stores, for the person. */
  readonly notes: readonly AgeNote[];
}

export interface AgeNote {
  /** The store (`aws-secrets-manager:prod/app#API_KEY`), or `stores`. */
  readonly from: string;
  readonly problem: string;
  /** A failure (an error, no answer in time, a missing secret), as against a store that by its nature keeps no date. */
  readonly fault: boolean;
}

export interface AgeInputs {
  readonly credential: CredentialConfig;
  /** The journals' last runs of this credential (src/engine/history.ts). */
  readonly history: LastRuns | undefined;
  /** Opens the credential's stores (describe and close are all it needs); omitted when stores are not to be read (`status --offline`). */
  readonly openStores?: ((credential: CredentialConfig) => Promise<readonly DescribedStore[]>) | undefined;
  /**
   * Opens the credential's stores when every one answers at once (`describeNow`, a local file); undefined otherwise,
   * and then openStores is used. For a thousand `.env` credentials the promises and timers cost as much as the reads.
   */
  readonly openStoresNow?: ((credential: CredentialConfig) => readonly DescribedNowStore[] | undefined) | undefined;
  /** How long one store's describe() may take before it counts as not answering. */
  readonly timeoutMs?: number | undefined;
}

/** Milliseconds a store's describe() may take by default: status stays quick when a network store hangs. */
export const DESCRIBE_TIMEOUT_MS = 5_000;

/** A credential's age and its source. Never throws for a store's failure: that becomes a note, and the next source is used. */
export async function credentialAge(inputs: AgeInputs): Promise<CredentialAge> {
  const notes: AgeNote[] = [];
  const dated: Dated[] = [];
  if (inputs.openStores !== undefined) {
    let stores: readonly DescribedStore[] = [];
    try {
      stores = await inputs.openStores(inputs.credential);
    } catch (error) {
      notes.push({ from: 'stores', problem: `not opened: ${messageOf(error)}`, fault: true });
    }
    try {
      await Promise.all(
        stores.map(async ({ store, ref }) => {
          if (store.describe === undefined) return void notes.push({ from: ref.display, problem: 'cannot say when it was written', fault: false });
          try {
            noteAnswer(ref, await withTimeout(store.describe(ref), inputs.timeoutMs ?? DESCRIBE_TIMEOUT_MS), notes, dated);
          } catch (error) {
            notes.push({ from: ref.display, problem: messageOf(error), fault: true });
          }
        }),
      );
    } finally {
      await Promise.allSettled(stores.map(({ store }) => store.close?.()));
    }
  }
  return ageFrom(inputs, notes, dated);
}

/** credentialAge for stores that answer at once (see AgeInputs.openStoresNow): the same answer, without awaiting. */
function credentialAgeNow(inputs: AgeInputs, stores: readonly DescribedNowStore[]): CredentialAge {
  const notes: AgeNote[] = [];
  const dated: Dated[] = [];
  for (const { store, ref } of stores) {
    try {
      noteAnswer(ref, store.describeNow(ref), notes, dated);
    } catch (error) {
      notes.push({ from: ref.display, problem: messageOf(error), fault: true });
    }
  }
  return ageFrom(inputs, notes, dated);
}

type Dated = { at: Date; from: string; run: string | undefined };

/** What one store's describe() said, as a note or a date. */
function noteAnswer(ref: StoreRef, meta: StoredMetadata | undefined, notes: AgeNote[], dated: Dated[]): void {
  if (meta === undefined) notes.push({ from: ref.display, problem: 'the secret does not exist', fault: true });
  else if (meta.createdAt === undefined || Number.isNaN(meta.createdAt.getTime())) notes.push({ from: ref.display, problem: 'keeps no date', fault: false });
  else dated.push({ at: meta.createdAt, from: ref.display, run: meta.run });
}

/** The age from the stores' dates, else from what the person said and what rekey did (see the header). */
function ageFrom(inputs: AgeInputs, notes: readonly AgeNote[], dated: Dated[]): CredentialAge {
  const oldest = dated.sort((a, b) => a.at.getTime() - b.at.getTime())[0];
  if (oldest !== undefined) return { writtenAt: oldest.at, source: 'store', from: oldest.from, run: oldest.run, notes };

  const stated = inputs.credential.lastRotated === undefined ? undefined : new Date(inputs.credential.lastRotated);
  const done = inputs.history?.lastDone;
  const journal = done?.finishedAt === undefined ? undefined : new Date(done.finishedAt);
  if (journal !== undefined && (stated === undefined || journal.getTime() >= stated.getTime()))
    return { writtenAt: journal, source: 'journal', from: done!.run, run: done!.run, notes };
  if (stated !== undefined) return { writtenAt: stated, source: 'policy.lastRotated', from: 'policy.lastRotated', run: undefined, notes };
  return { writtenAt: undefined, source: 'unknown', from: undefined, run: undefined, notes };
}

export type DueState = 'due' | 'ok' | 'unknown' | 'no-policy';

export interface Dueness {
  readonly state: DueState;
  /** Now minus writtenAt, when the age is known. */
  readonly ageMs: number | undefined;
  /** When the credential falls (or fell) due, when both age and maxAge are known. */
  readonly dueAt: Date | undefined;
}

/** Due = age known and at least maxAge. An unknown age is `unknown`, never due by itself; no maxAge is `no-policy`. */
export function dueness(age: CredentialAge, maxAgeMs: number | undefined, now = Date.now()): Dueness {
  const ageMs = age.writtenAt === undefined ? undefined : now - age.writtenAt.getTime();
  const dueAt = age.writtenAt === undefined || maxAgeMs === undefined ? undefined : new Date(age.writtenAt.getTime() + maxAgeMs);
  if (ageMs === undefined) return { state: 'unknown', ageMs, dueAt };
  if (maxAgeMs === undefined) return { state: 'no-policy', ageMs, dueAt };
  return { state: ageMs >= maxAgeMs ? 'due' : 'ok', ageMs, dueAt };
}

/** How to settle an unknown age, in one line for the person. */
export function settleUnknown(credentialId: string): string {
  return `no store keeps a date — set policy.lastRotated in rekey.yaml or run \`rekey rotate ${credentialId}\``;
}

/** Ages of several credentials, at most `concurrency` at once (each may call network stores). */
export async function credentialAges(
  credentials: readonly CredentialConfig[],
  inputs: Omit<AgeInputs, 'credential' | 'history'> & { history: ReadonlyMap<string, LastRuns> },
  concurrency = 8,
  /** Told each age as soon as it is known (a fleet's `--due` starts rotating a due credential then, not after all). */
  onAge?: (credential: CredentialConfig, age: CredentialAge) => void,
): Promise<Map<string, CredentialAge>> {
  const ages = new Map<string, CredentialAge>();
  let next = 0;
  const worker = async () => {
    for (let credential = credentials[next++]; credential !== undefined; credential = credentials[next++]) {
      const one = { ...inputs, credential, history: inputs.history.get(credential.id) };
      let now: readonly DescribedNowStore[] | undefined;
      try {
        now = inputs.openStoresNow?.(credential);
      } catch {
        // Not opened at once: openStores says why, as a note.
      }
      const age = now === undefined ? await credentialAge(one) : credentialAgeNow(one, now);
      ages.set(credential.id, age);
      onAge?.(credential, age);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, Math.max(1, credentials.length)) }, worker));
  return ages;
}

/** What a race against an answer that is not in yet gives. */
const PENDING: unique symbol = Symbol('pending');

async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  // A describe() that has answered already (a local file's) needs no timer: for a thousand .env credentials the timers
  // cost more than the reads. A promise settled before the race wins it over one made after.
  const first = await Promise.race([promise, Promise.resolve(PENDING)]);
  if (first !== PENDING) return first as T;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms < 1_000 ? `${ms}ms` : `${Math.round(ms / 1_000)}s`}`)), ms);
    timer.unref();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// Here rather than from ./context.js, which loads the audit log: `status` imports this module on its quick path.
function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
