/**
 * The store contract: what every place a secret lives must offer to the engine.
 *
 * The engine drives a store through one lifecycle per run:
 *   read (the old value) → stage (new value durable, not yet current where the store can tell the two apart)
 *   → promote (new value current, old kept as previous) → retire (old dropped, after the old key is proven dead)
 * and, when verify fails, rollback (previous current again). Every method is idempotent for a given run id, so a
 * resumed run calls them again without harm; each adapter finds its own earlier work (a staging label, a version
 * tagged with the run, a sibling file) instead of redoing it.
 */
import type { Secret } from './secret.js';

/** A run's id, such as `20261124T024512Z-3fa9c1`: sortable, safe in file names, derived tokens come from it. */
export type RunId = string;

/** A store's own name for one version of a secret (an AWS VersionId, a GCP version number, a Vault version…). */
export type VersionId = string;

/** Where one value lives: a store kind, a path in that store, and an optional field (`prod/app#API_KEY`). */
export interface StoreRef {
  /** The adapter kind, such as `dotenv` or `aws-secrets-manager`. */
  readonly kind: string;
  /** The part before `#`: a file path, a secret id or name, a KV path. */
  readonly path: string;
  /** The part after `#`: an env var name, or a field of a JSON secret. Absent means the whole secret is the value. */
  readonly field?: string | undefined;
  /** `kind:path#field`, for messages. */
  readonly display: string;
}

/** One value as read from a store. */
export interface StoredValue {
  readonly value: Secret;
  /** The store's version id, when it has versions; adapters without versions use the value's fingerprint. */
  readonly version: VersionId;
  readonly createdAt?: Date | undefined;
  /** The run that wrote this version, when the store records it (custom metadata, a staging file…). */
  readonly run?: RunId | undefined;
}

/** What a store can do natively; the engine and `rekey check` read these honestly, never assume. */
export interface StoreCapabilities {
  /**
   * The current value can be read back. A write-only store (GitHub Actions secrets) cannot: the engine then never
   * calls `read`, `readStaged` or `readPrevious` on it, and learns what it needs from `describe` and the journal.
   */
  readonly readBack: boolean;
  /** Can hold a new value durably without making it current (AWS AWSPENDING, a `.env` sibling file). */
  readonly staging: boolean;
  /** Keeps older versions that can be read back. */
  readonly versions: boolean;
  /** Refuses a write when someone else wrote in between (Vault cas, GCP etags, AWS staging labels). */
  readonly compareAndSwap: boolean;
}

/** What a store says about a value without revealing it: for a write-only store, all that can be known. */
export interface StoredMetadata {
  readonly version: VersionId;
  readonly createdAt?: Date | undefined;
  /** The run that wrote it, when the store records one. */
  readonly run?: RunId | undefined;
}

/** The result of `check`: what a drill needs to know before it mints anything. */
export interface StoreCheck {
  readonly readable: boolean;
  /** true, false, or undefined where the service cannot tell without writing. */
  readonly writable: boolean | undefined;
  /** The current value's fingerprint, when readable. */
  readonly fingerprint?: string | undefined;
  /** Plain words for the person: what is missing and how to grant it. */
  readonly notes: readonly string[];
}

/** One configured store: the methods the engine calls. All are idempotent for a given run. */
export interface SecretStore {
  readonly kind: string;
  readonly capabilities: StoreCapabilities;
  /** The current value. Throws `SecretNotFoundError` when there is none; never returns an empty string for missing. */
  read(ref: StoreRef): Promise<StoredValue>;
  /** The value this run staged or promoted, if the store holds one; for resume. */
  readStaged(ref: StoreRef, run: RunId): Promise<StoredValue | undefined>;
  /** The value that was current before this run promoted, while the store still keeps it; for revoke and rollback. */
  readPrevious(ref: StoreRef, run: RunId): Promise<StoredValue | undefined>;
  /**
   * Before anything is minted: confirm that `stage(ref, value, run, base)` would be accepted now, and write nothing.
   * Throws `CannotStageError` (src/contract/store-errors.ts) naming the obstacle and the fix when it would not: a value staged
   * by another run or rotation, `base` no longer current, a missing or unusable secret, a missing permission where
   * the service can tell without writing. A leftover of this same run is not an obstacle: the run resumes it.
   * Transient failures (throttling, a dropped connection) are thrown as they are (`StoreUnavailableError`).
   */
  canStage(ref: StoreRef, run: RunId, base: VersionId): Promise<void>;
  /**
   * Make `value` durable for this run. `base` is the version the run read as current at its start: a store that
   * would make the value visible at once (Vault, which has no staging) writes only if `base` is still current.
   * A second call for the same run returns the same version and writes nothing new.
   */
  stage(ref: StoreRef, value: Secret, run: RunId, base: VersionId): Promise<VersionId>;
  /**
   * Make the staged version current, keeping the old value as previous. Throws `StoreConflictError` when the
   * current version is neither `base` nor this run's (someone else wrote in between): never clobbers.
   * A no-op when this run's version already is current.
   */
  promote(ref: StoreRef, version: VersionId, run: RunId, base: VersionId): Promise<void>;
  /**
   * Make the previous value current again and discard what this run staged. A no-op when this run changed nothing.
   * Throws `StoreConflictError` when someone else wrote after this run: a rollback never clobbers a newer value.
   * A stage of this run may land after a rollback (a write still in flight when the run gave up): calling rollback
   * again then discards that value too, so a second call is always safe and always leaves nothing of the run staged.
   * `previous` is the old value, handed only to a store that cannot be read back (capabilities.readBack false) and
   * only when another store of the credential still holds it: such a store keeps no previous value to return to, so
   * it writes this one back, or refuses when it is not given.
   */
  rollback(ref: StoreRef, run: RunId, previous?: Secret): Promise<void>;
  /** Drop the previous value after the old key is proven dead. Already gone is success. */
  retire(ref: StoreRef, run: RunId): Promise<void>;
  /**
   * The current value's version, date and run, without the value; undefined when the secret does not exist.
   * Required when `capabilities.readBack` is false; stores that can be read back may omit it.
   */
  describe?(ref: StoreRef): Promise<StoredMetadata | undefined>;
  /**
   * The files this store writes for `ref` (absolute paths: the file itself and its siblings), so that the leak search
   * leaves them out and reports the ones git tracks. Stores that write no local file omit it.
   */
  files?(ref: StoreRef): readonly string[];
  /** Read (never write) and check permissions as far as the service allows. */
  check(ref: StoreRef): Promise<StoreCheck>;
  /**
   * Remove leftovers this store's own writes may have left (temporary files of a write killed before its rename);
   * returns what was removed, for a note. Never touches staged or previous values, nor a write in progress. The
   * engine calls it at the start of every run and resume; stores whose writes leave nothing behind omit it.
   */
  sweep?(ref: StoreRef): Promise<readonly string[]>;
  /** Release connections (gRPC channels) so the process can exit; the engine calls it when a run ends. */
  close?(): Promise<void>;
}

/** The type of one store option, as declared by an adapter and checked by the config loader. */
export type StoreOptionType = 'string' | 'boolean' | 'number' | 'string[]';

/** One option a store entry may carry: its type, a sentence for `rekey config schema` and editors, and its default. */
export interface StoreOption {
  readonly type: StoreOptionType;
  /** What the option does, in one sentence; shown by `rekey config schema` and editors' completion. */
  readonly description: string;
  /** The value used when the option is left out, when there is one; documentation only, the adapter applies it. */
  readonly default?: string | boolean | number | readonly string[] | undefined;
}

/** What the engine gives an adapter when it opens a store. */
export interface StoreContext {
  /** Folder of the rekey.yaml, against which relative paths resolve. */
  readonly baseDir: string;
  /** The environment to take credentials and endpoints from (process.env unless a test says otherwise). */
  readonly env: Readonly<Record<string, string | undefined>>;
  /**
   * The state folder (`stateDir`, `.rekey` beside rekey.yaml by default), for a store that must remember its runs
   * itself because the service keeps no metadata it can write (Doppler). Absent in callers that have no config.
   */
  readonly stateDir?: string | undefined;
}

/**
 * One environment variable a store reads when it opens, for `rekey schedule`: what a scheduler must hand the job.
 * Named only, never valued: the scheduler takes it from its own secret store (a Kubernetes Secret, the repository's
 * secrets, an env file readable by the job's user).
 */
export interface StoreVariable {
  readonly name: string;
  /**
   * `secret`: holds a credential (a token, a key); `setting`: not secret (a region, an address); `file`: the path of a
   * file holding a credential (a service account key), so the file is what the scheduler must provide.
   */
  readonly kind: 'secret' | 'setting' | 'file';
  /** What it is for, in a few words, for the scheduler's comment lines. */
  readonly description: string;
  /** The store can do without it (workload identity, a profile, an option in rekey.yaml): the output says so. */
  readonly optional?: boolean;
}

/** A store adapter module's default export: a plain object, checked with `satisfies SecretStoreAdapter`. */
export interface SecretStoreAdapter {
  readonly kind: string;
  /** One line for `rekey config schema` and errors. */
  readonly summary: string;
  /** Options a store entry may carry besides its ref (`region`, `keepPrevious`, …), described for the schema. */
  readonly options: Readonly<Record<string, StoreOption>>;
  /**
   * Whether `ref` is one this store can address (`./.env#NAME` needs a variable name): the problem in a few words, or
   * undefined. The config loader calls it and points the message at the ref's file:line:col.
   */
  validateRef?(ref: StoreRef): string | undefined;
  /**
   * Whether an entry's options make sense together and with its ref (a variable name an option gives, options that
   * contradict each other), once each has the type it declares: the option at fault and the problem in a few words,
   * or undefined. The config loader points the message at that option's file:line:col.
   */
  validateOptions?(options: Readonly<Record<string, unknown>>, ref: StoreRef): { readonly option: string; readonly problem: string } | undefined;
  /**
   * The environment variables a store entry with these options and this ref reads (credentials, region, address), for
   * `rekey schedule`; the ref, because a name can follow it (dotenvx's key of `.env.production` is
   * DOTENV_PRIVATE_KEY_PRODUCTION). Stores that read none (a .env file, memory) omit it.
   */
  environment?(options: Readonly<Record<string, unknown>>, ref: StoreRef): readonly StoreVariable[];
  /** Open a store for one configured entry. Must not do I/O or import an SDK until a method is called. */
  open(options: Readonly<Record<string, unknown>>, context: StoreContext): SecretStore;
  /**
   * For `rekey rehearse <credential>`: a throw-away stand-in for this entry inside `context.folder`, holding `seed`
   * where the real value is, and the entry that addresses it. It never writes to the real store and never copies the
   * real value (nor an earlier one the store keeps). Stores that omit it are played by the in-memory store, seeded
   * with `seed` (adapters/stores/index.ts).
   */
  rehearsal?(options: Readonly<Record<string, unknown>>, ref: StoreRef, context: RehearsalContext, seed: Secret): RehearsalStandIn;
}

/** Where a rehearsal's stand-ins go: the config's folder, as for `open`, and the rehearsal's throw-away folder. */
export interface RehearsalContext extends StoreContext {
  readonly folder: string;
}

/** What stands in for one store entry during a rehearsal. */
export interface RehearsalStandIn {
  /** The entry the rehearsal opens instead of the real one. */
  readonly kind: string;
  /** Its reference text, `path#field`. */
  readonly ref: string;
  readonly options: Readonly<Record<string, unknown>>;
  /** What stands in, in a few words for the person ("a copy of ./deploy/.env in the rehearsal folder, …"). */
  readonly description: string;
  /** Real files the rehearsal reads and must leave byte for byte as they were: checked before and after. */
  readonly watched: readonly string[];
  /**
   * The values the stand-in holds now: the current one, and the previous one while an overlap keeps it. For the
   * sandbox's webhook receiver, which accepts what a real receiver would load from this store.
   */
  values(): readonly string[];
}

/** Parse `path#field` into a ref for the given kind. */
export function parseRef(kind: string, text: string): StoreRef {
  const hash = text.lastIndexOf('#');
  const path = hash === -1 ? text : text.slice(0, hash);
  const field = hash === -1 ? undefined : text.slice(hash + 1);
  return { kind, path, field, display: `${kind}:${text}` };
}
