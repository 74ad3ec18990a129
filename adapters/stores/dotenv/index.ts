/**
 * `.env` file store: one variable of a dotenv file, rewritten atomically with every other byte kept.
 *
 * ```yaml
 * stores:
 *   - dotenv: ./deploy/.env#STREAMPIXEL_API_KEY   # path relative to rekey.yaml, then the variable name
 *     keepPrevious: true                          # optional: STREAMPIXEL_API_KEY_PREVIOUS=<old> during the overlap
 *     previousVariable: STREAMPIXEL_API_KEY_OLD   # optional: that name instead of NAME_PREVIOUS (implies keepPrevious)
 * ```
 *
 * A `.env` file has no versions, so the version id of a value is its fingerprint, and compare-and-swap compares
 * fingerprints. Staging and the overlap live in two sibling files in the same folder, mode 0600, so that a crash
 * anywhere leaves a state the next call finishes (I1, I5):
 *
 * - `.env.NAME.rekey-staged` (for `app.env`: `.app.env.NAME.rekey-staged`) — JSON: the run, the base fingerprint,
 *   the new value and its fingerprint, the time. Written by `stage`, removed by `promote` and `rollback`.
 * - `.env.NAME.rekey-previous` — JSON: the run, the old value, the exact bytes of its old token (so a rollback
 *   restores the line byte for byte), the fingerprint promoted, the time. Written by `promote` before the `.env` is
 *   touched, removed by `rollback` and `retire`.
 *
 * The file is handled as bytes, so that only the value's token changes (format.ts); where the files are, the variable
 * name rule and what the sibling files hold are in files.ts.
 *
 * Every write goes through a temporary file beside its target (`.<name>.<pid>-<host>-<random>.rekey-tmp`, see
 * src/util/atomic-file.ts); `sweep` removes those a killed writer left, at the start of the next run or resume.
 *
 * Several credentials may live in one file and rotate at the same time (two runs, two processes). Every rewrite of the
 * file (read, edit, rename) is made under a lock file beside it, `.env.rekey-lock` (see `withEnvLock`, and src/util/file-lock.ts), held for the
 * few milliseconds of the rewrite; the check that the file did not change since it was read stays as a second line
 * of defence, for writers that do not take the lock (a person with an editor).
 */
import { chownSync, constants, lstatSync, readFileSync, realpathSync, statSync, unlinkSync } from 'node:fs';
import { access, readFile, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fingerprint } from '../../../src/contract/mask.js';
import { Secret } from '../../../src/contract/secret.js';
import type { SecretStore, SecretStoreAdapter, StoreCheck, StoreContext, StoreRef, VersionId } from '../../../src/contract/store.js';
import { CannotStageError, SecretNotFoundError, StoreConflictError, StoreError } from '../../../src/contract/store-errors.js';
import { fsyncDir, sweepTemporaries, writeFileAtomic } from '../../../src/util/atomic-file.js';
import { clearStaleFileLock, FileLockBusyError, withFileLock } from '../../../src/util/file-lock.js';
import { describeDotenv } from './describe.js';
import {
  filesOf,
  fsError,
  lockFileOf,
  malformedError,
  notSetError,
  type Place,
  placeOf as placeIn,
  type PreviousFile,
  previousVariableProblem,
  readRegularFile,
  refProblem,
  siblingFiles,
  type StagedFile,
} from './files.js';
import {
  type DotenvDocument,
  type DotenvEntry,
  encodeValue,
  insertAfter,
  lastEntry,
  parseDotenv,
  type QuoteStyle,
  removeEntry,
  replaceToken,
  setValue,
} from './format.js';
import { rehearseDotenv } from './rehearsal.js';

export { lockFileOf, siblingFiles };

/** The points between the steps of a write, where a crash can happen; tests inject crashes there. */
export type DotenvStep =
  | 'staged-written'
  | 'previous-written'
  | 'env-written'
  | 'staged-removed'
  | 'env-restored'
  | 'previous-variable-removed'
  | 'previous-removed';

/** Test hooks: `afterStep` runs after each durable step and may throw to play a crash right there. */
export interface DotenvHooks {
  afterStep?(operation: string, step: DotenvStep): void;
  /** How long to wait for another writer's lock on the file before giving up (default LOCK_WAIT_MS). */
  lockWaitMs?: number;
}

/** Options of a dotenv store entry. */
export interface DotenvOptions {
  readonly keepPrevious?: boolean;
  /** The variable that keeps the old value during the overlap (implies keepPrevious); NAME_PREVIOUS by default. */
  readonly previousVariable?: string | undefined;
}

/** A rewrite takes milliseconds; a writer waits this long for another one before it gives up. */
export const LOCK_WAIT_MS = 10_000;
/** A lock this old is left over whoever holds it (a pid reused after a reboot, a host that died): it is taken over. */
export const LOCK_STALE_MS = 120_000;

/**
 * How a value is spelled on disk: in the .env's token and in the `value` of the staged and previous files. The plain
 * store keeps values as they are; the dotenvx store (../dotenvx/) keeps them encrypted, so that the plaintext never
 * reaches disk. Whatever the spelling, a version is the fingerprint of the decoded value (an encryption is
 * randomised: two spellings of one value differ), and a stored spelling is copied, never re-encoded, from the staged
 * file to the .env and from the .env to the previous file and NAME_PREVIOUS, so rollback and retire compare spellings.
 */
export interface ValueCodec {
  /** The value `stored` spells; `doc` loads the .env, for a codec whose keys are named in it. */
  decode(operation: string, place: Place, stored: string, doc: () => Promise<DotenvDocument>): Promise<string>;
  /** The spelling to keep on disk for a new value, in the .env `doc`. */
  encode(operation: string, place: Place, value: string, doc: DotenvDocument): Promise<string>;
  /** What `canStage` checks beyond the plain store (the keys a stage and a read-back need): throws a StoreError. */
  preflight?(operation: string, place: Place, doc: DotenvDocument): Promise<void>;
  /** Notes for `check`: where the keys come from, what is wrong with them. */
  notes?(place: Place, doc: DotenvDocument): Promise<string[]>;
  /**
   * The quoting to write a stored spelling in at promote, where the entry's `old` style is not right for it (default:
   * `chooseStyle`): readers that expand `$` in a decrypted value, but not in a single-quoted one, need the quotes.
   */
  styleOf?(operation: string, place: Place, stored: string, old: QuoteStyle, doc: DotenvDocument): Promise<QuoteStyle>;
}

/** The plain .env: values are kept as they are. */
const PLAIN: ValueCodec = {
  decode: async (_operation, _place, stored) => stored,
  encode: async (_operation, _place, value) => value,
};

/** Open a dotenv store. `hooks` are for tests only; configuration cannot reach them. */
export function openDotenvStore(options: DotenvOptions, context: StoreContext, hooks: DotenvHooks = {}): SecretStore {
  return openEnvFileStore('dotenv', PLAIN, options, context, hooks);
}

/**
 * A store over one variable of a .env-shaped file, whose values `codec` spells on disk: the plain dotenv store, and the
 * dotenvx store that reuses its editing, locking, atomic writes and staged/previous files with encrypted values.
 */
export function openEnvFileStore(kind: string, codec: ValueCodec, options: DotenvOptions, context: StoreContext, hooks: DotenvHooks = {}): SecretStore {
  const keepPrevious = options.keepPrevious === true || options.previousVariable !== undefined;
  const placeOf = (ref: StoreRef, operation: string, ctx: StoreContext): Place => placeIn(ref, operation, ctx, options.previousVariable);
  const after = (operation: string, step: DotenvStep): void => hooks.afterStep?.(operation, step);
  const lockWaitMs = hooks.lockWaitMs ?? LOCK_WAIT_MS;

  /**
   * Run `work` (a read, edit and rename of the .env) holding the file's lock: created with O_EXCL, mode 0600, naming
   * this pid and host. Another writer's lock is waited for, with backoff, for at most `lockWaitMs`; a lock whose holder
   * is dead (same host), or that is very old, is taken over. The lock is removed when `work` ends, however it ends.
   */
  const withEnvLock = async <T>(operation: string, place: Place, work: () => Promise<T>): Promise<T> => {
    let target = place.file;
    try {
      // A symlinked .env is locked beside the file it points at, where every writer of that file meets.
      target = realpathSync(place.file);
    } catch {
      // Missing: `work` reports it as it does without a lock.
    }
    const path = lockFileOf(target);
    try {
      // No folder: the .env is missing too, and `work` says so in its own words.
      return await withFileLock(path, work, { waitMs: lockWaitMs, staleMs: LOCK_STALE_MS, unlockedIfNoFolder: true });
    } catch (error) {
      if (error instanceof FileLockBusyError) {
        throw new StoreConflictError(
          operation,
          place.display,
          `${place.file} is being rewritten by another writer (${error.message})`,
          error.remote ? `run the command again; if that process is gone, remove ${path}` : 'run the command again',
        );
      }
      if (error instanceof StoreError) throw error;
      // The lock file itself could not be made or read (a read-only folder): say which file.
      if ((error as NodeJS.ErrnoException).syscall !== undefined && String((error as NodeJS.ErrnoException).path ?? '').startsWith(path))
        throw fsError(operation, place, `lock file ${path}`, error);
      throw error;
    }
  };

  const loadEnv = async (operation: string, place: Place): Promise<{ bytes: Buffer; doc: DotenvDocument }> => {
    let bytes: Buffer;
    try {
      bytes = await readRegularFile(place.file);
    } catch (error) {
      throw fsError(operation, place, `file ${place.file}`, error);
    }
    return { bytes, doc: parseDotenv(bytes) };
  };

  const entryOf = (operation: string, place: Place, doc: DotenvDocument): DotenvEntry => {
    const entry = lastEntry(doc, place.variable);
    if (entry === undefined) throw notSetError(operation, place);
    if (entry.malformed) throw malformedError(operation, place, entry.line);
    return entry;
  };

  const readSibling = async <T extends StagedFile | PreviousFile>(operation: string, place: Place, path: string, kind: T['rekey']): Promise<T | undefined> => {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw fsError(operation, place, `file ${path}`, error);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    const record = parsed as Partial<T> | undefined;
    if (record?.rekey !== kind || typeof record.run !== 'string' || typeof record.value !== 'string' || record.variable !== place.variable) {
      // Never quote the content: it holds a secret.
      throw new StoreError('invalid', operation, place.display, `${path} is not a rekey ${kind} file for ${place.variable}`, {
        hint: 'move it away if it was edited by hand',
      });
    }
    return record as T;
  };

  const writeSibling = (operation: string, place: Place, path: string, record: StagedFile | PreviousFile): void => {
    try {
      // A new sibling file is created 0600 whatever the .env's mode: it holds a secret and nobody else needs it.
      writeFileAtomic(path, `${JSON.stringify(record, null, 2)}\n`, 0o600);
    } catch (error) {
      throw fsError(operation, place, `file ${path}`, error);
    }
  };

  const removeSibling = (operation: string, place: Place, path: string): void => {
    try {
      unlinkSync(path);
      fsyncDir(dirname(path));
    } catch (error) {
      // Already gone is success: every step may run again after a crash.
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw fsError(operation, place, `file ${path}`, error);
    }
  };

  /** Rewrite the .env atomically, keeping its mode and owner; refuses if the file changed since it was read. */
  const writeEnv = (operation: string, place: Place, expected: Buffer, text: string): void => {
    try {
      // A symlinked .env (to a shared config folder, say) stays a link: the file it points at is rewritten.
      const target = realpathSync(place.file);
      const before = statSync(target);
      // Narrows the window in which another writer (a second credential in the same file, a person) could be
      // overwritten to the few microseconds between this read and the rename; it cannot close it entirely.
      if (!readFileSync(target).equals(expected)) {
        throw new StoreConflictError(operation, place.display, `${place.file} changed while rekey was rewriting it`, 'run the command again');
      }
      writeFileAtomic(target, Buffer.from(text, 'latin1'));
      restoreOwner(target, before.uid, before.gid);
    } catch (error) {
      throw fsError(operation, place, `file ${place.file}`, error);
    }
  };

  const currentOf = async (operation: string, place: Place) => {
    const { bytes, doc } = await loadEnv(operation, place);
    const entry = entryOf(operation, place, doc);
    const value = await codec.decode(operation, place, entry.value, async () => doc);
    return { bytes, doc, entry, value, version: fingerprint(value) };
  };
  /** A sibling file's value, decoded against the .env it belongs to (loaded only when the codec asks). */
  const decodeSibling = (operation: string, place: Place, stored: string): Promise<string> =>
    codec.decode(operation, place, stored, async () => (await loadEnv(operation, place)).doc);

  const store: SecretStore = {
    kind,
    capabilities: { readBack: true, staging: true, versions: false, compareAndSwap: true },

    async read(ref) {
      const place = placeOf(ref, 'read', context);
      const { value, version } = await currentOf('read', place);
      return { value: new Secret(value), version };
    },

    async describe(ref) {
      // A .env keeps no date and no run: the version (the value's fingerprint) is all there is to say.
      try {
        // The plain .env's describe() is its own module, which `rekey status` loads without the rest of the store.
        if (codec === PLAIN) return describeDotenv(ref, context);
        return { version: (await currentOf('describe', placeOf(ref, 'describe', context))).version };
      } catch (error) {
        if (error instanceof SecretNotFoundError) return undefined;
        throw error;
      }
    },

    files(ref) {
      return filesOf(placeOf(ref, 'files', context));
    },

    async readStaged(ref, run) {
      const operation = 'read staged';
      const place = placeOf(ref, operation, context);
      const staged = await readSibling<StagedFile>(operation, place, place.stagedFile, 'dotenv-staged');
      if (staged?.run === run) {
        return { value: new Secret(await decodeSibling(operation, place, staged.value)), version: staged.version, run, createdAt: new Date(staged.stagedAt) };
      }
      const previous = await readSibling<PreviousFile>(operation, place, place.previousFile, 'dotenv-previous');
      if (previous?.run !== run) return undefined;
      const { value, version } = await currentOf(operation, place);
      return version === previous.version ? { value: new Secret(value), version, run, createdAt: new Date(previous.promotedAt) } : undefined;
    },

    async readPrevious(ref, run) {
      const operation = 'read previous';
      const place = placeOf(ref, operation, context);
      const previous = await readSibling<PreviousFile>(operation, place, place.previousFile, 'dotenv-previous');
      if (previous?.run !== run) return undefined;
      return { value: new Secret(await decodeSibling(operation, place, previous.value)), version: previous.base };
    },

    async canStage(ref, run, base) {
      const operation = 'pre-flight';
      let place: Place;
      let current: VersionId;
      let staged: StagedFile | undefined;
      let previous: PreviousFile | undefined;
      try {
        place = placeOf(ref, operation, context);
        const loaded = await currentOf(operation, place);
        current = loaded.version;
        await codec.preflight?.(operation, place, loaded.doc);
        staged = await readSibling<StagedFile>(operation, place, place.stagedFile, 'dotenv-staged');
        previous = await readSibling<PreviousFile>(operation, place, place.previousFile, 'dotenv-previous');
      } catch (error) {
        throw CannotStageError.from(error, ref.display);
      }
      // The checks of stage, in its order, without writing: this run's own sibling files mean "resume".
      if (staged?.run === run) return;
      if (staged === undefined && previous?.run === run) return;
      if (staged !== undefined) {
        throw new CannotStageError(
          'staged-by-another',
          place.display,
          `run ${staged.run} has already staged a value in ${place.stagedFile}`,
          `finish that run (rekey resume ${staged.run}) or roll it back (rekey rollback ${staged.run}); delete the file only if that run is abandoned`,
          { run: staged.run },
        );
      }
      if (previous !== undefined) {
        throw new CannotStageError(
          'staged-by-another',
          place.display,
          `run ${previous.run} promoted and still keeps the value before it in ${place.previousFile}`,
          `let that run retire its previous value (rekey resume ${previous.run}) or roll it back (rekey rollback ${previous.run}) first`,
          { run: previous.run },
        );
      }
      if (current !== base) {
        throw new CannotStageError(
          'base-moved',
          place.display,
          `current value has fingerprint ${current}, expected ${base}`,
          'the file changed since this run read it; start a new run',
        );
      }
      // Stage writes a sibling file and promote renames a temporary file over the .env: both need the folder and the
      // file writable. Root passes these checks whatever the mode bits say, as it passes the writes themselves.
      for (const [path, what] of [
        [place.dir, `cannot create files in ${place.dir}`],
        [place.file, `${place.file} is not writable by this user`],
      ] as const) {
        const writable = await access(path, constants.W_OK).then(
          () => true,
          () => false,
        );
        if (!writable) {
          throw new CannotStageError(
            'permission',
            place.display,
            what,
            `give the user running rekey write access to ${place.file} and to its folder (rekey writes a temporary file and sibling files there)`,
          );
        }
      }
    },

    async stage(ref, value, run, base) {
      const operation = 'stage';
      const place = placeOf(ref, operation, context);
      const { doc, version: current } = await currentOf(operation, place);
      const staged = await readSibling<StagedFile>(operation, place, place.stagedFile, 'dotenv-staged');
      if (staged !== undefined) {
        if (staged.run !== run) {
          throw new StoreConflictError(
            operation,
            place.display,
            `run ${staged.run} has already staged a value in ${place.stagedFile}`,
            `finish that run (rekey resume ${staged.run}) or roll it back (rekey rollback ${staged.run}); delete the file only if that run is abandoned`,
          );
        }
        if (staged.version !== value.fingerprint)
          throw new StoreConflictError(operation, place.display, `this run already staged a different value (fingerprint ${staged.version})`);
        return staged.version;
      }
      const previous = await readSibling<PreviousFile>(operation, place, place.previousFile, 'dotenv-previous');
      if (previous !== undefined) {
        if (previous.run === run && previous.version === value.fingerprint) return previous.version;
        if (previous.run === run)
          throw new StoreConflictError(operation, place.display, `this run already promoted a different value (fingerprint ${previous.version})`);
        throw new StoreConflictError(
          operation,
          place.display,
          `run ${previous.run} promoted and still keeps the value before it in ${place.previousFile}`,
          `let that run retire its previous value (rekey resume ${previous.run}) or roll it back first`,
        );
      }
      // With fingerprints as versions, a new value equal to the old one would look promoted before it was.
      if (value.fingerprint === current) throw new StoreError('invalid', operation, place.display, 'the new value is the same as the current one');
      if (current !== base) throw new StoreConflictError(operation, place.display, `current value has fingerprint ${current}, expected ${base}`);
      writeSibling(operation, place, place.stagedFile, {
        rekey: 'dotenv-staged',
        run,
        variable: place.variable,
        base,
        version: value.fingerprint,
        value: await codec.encode(operation, place, value.reveal(), doc),
        stagedAt: new Date().toISOString(),
      });
      after(operation, 'staged-written');
      return value.fingerprint;
    },

    async promote(ref, version, run, base) {
      const operation = 'promote';
      const place = placeOf(ref, operation, context);
      return withEnvLock(operation, place, async () => {
        const { bytes, doc, entry, version: current } = await currentOf(operation, place);
        const staged = await readSibling<StagedFile>(operation, place, place.stagedFile, 'dotenv-staged');
        let previous = await readSibling<PreviousFile>(operation, place, place.previousFile, 'dotenv-previous');
        if (previous !== undefined && previous.run !== run) {
          throw new StoreConflictError(
            operation,
            place.display,
            `run ${previous.run} still keeps its previous value in ${place.previousFile}`,
            `let that run retire (rekey resume ${previous.run}) or roll it back first`,
          );
        }
        if (current === version) {
          // Already current (a second promote, or a crash after the .env was rewritten): finish the leftover step.
          if (staged?.run === run) {
            removeSibling(operation, place, place.stagedFile);
            after(operation, 'staged-removed');
          }
          return;
        }
        if (staged?.run !== run || staged.version !== version) {
          throw new StoreConflictError(operation, place.display, `version ${version} was not staged by this run`, 'stage the value again in this run first');
        }
        if (previous === undefined) {
          if (current !== base)
            throw new StoreConflictError(operation, place.display, `current value has fingerprint ${current}, expected ${base} or ${version}`);
          const previousEntry = keepPrevious ? lastEntry(doc, place.previousVariable) : undefined;
          previous = {
            rekey: 'dotenv-previous',
            run,
            variable: place.variable,
            base: current,
            version,
            value: entry.value,
            token: Buffer.from(doc.text.slice(entry.valueStart, entry.valueEnd), 'latin1').toString('base64'),
            keepPrevious,
            previousVariableToken:
              previousEntry === undefined ? null : Buffer.from(doc.text.slice(previousEntry.valueStart, previousEntry.valueEnd), 'latin1').toString('base64'),
            promotedAt: new Date().toISOString(),
          };
          // The old value is made durable beside the file before the file loses it (I1).
          writeSibling(operation, place, place.previousFile, previous);
          after(operation, 'previous-written');
        } else if (current !== previous.base) {
          throw new StoreConflictError(operation, place.display, `current value has fingerprint ${current}, expected ${previous.base} or ${version}`);
        }
        let text =
          codec.styleOf === undefined
            ? setValue(doc, entry, staged.value)
            : replaceToken(doc, entry, encodeValue(await codec.styleOf(operation, place, staged.value, entry.style, doc), staged.value));
        if (previous.keepPrevious) {
          const next = parseDotenv(Buffer.from(text, 'latin1'));
          const oldToken = Buffer.from(previous.token, 'base64').toString('latin1');
          const existing = lastEntry(next, place.previousVariable);
          // The old token is reused byte for byte: it already is a valid spelling of the old value.
          text =
            existing === undefined
              ? insertAfter(next, lastEntry(next, place.variable)!, place.previousVariable, oldToken)
              : replaceToken(next, existing, oldToken);
        }
        writeEnv(operation, place, bytes, text);
        after(operation, 'env-written');
        removeSibling(operation, place, place.stagedFile);
        after(operation, 'staged-removed');
      });
    },

    async rollback(ref, run) {
      const operation = 'rollback';
      const place = placeOf(ref, operation, context);
      return withEnvLock(operation, place, async () => {
        const staged = await readSibling<StagedFile>(operation, place, place.stagedFile, 'dotenv-staged');
        const previous = await readSibling<PreviousFile>(operation, place, place.previousFile, 'dotenv-previous');
        const stagedOurs = staged?.run === run;
        if (previous?.run === run) {
          const { bytes, doc, entry, version: current } = await currentOf(operation, place);
          if (current === previous.version) {
            let text = replaceToken(doc, entry, Buffer.from(previous.token, 'base64').toString('latin1'));
            if (previous.keepPrevious) {
              const next = parseDotenv(Buffer.from(text, 'latin1'));
              const kept = lastEntry(next, place.previousVariable);
              if (kept !== undefined && !kept.malformed && kept.value === previous.value) {
                text =
                  previous.previousVariableToken === null
                    ? removeEntry(next, kept)
                    : replaceToken(next, kept, Buffer.from(previous.previousVariableToken, 'base64').toString('latin1'));
              }
            }
            writeEnv(operation, place, bytes, text);
            after(operation, 'env-restored');
          } else if (current !== previous.base) {
            throw new StoreConflictError(
              operation,
              place.display,
              `the value was changed after this run promoted (fingerprint ${current}); rollback will not overwrite it`,
              `decide by hand which value should be current; the value before this run is kept in ${place.previousFile}`,
            );
          }
        }
        if (stagedOurs) {
          removeSibling(operation, place, place.stagedFile);
          after(operation, 'staged-removed');
        }
        if (previous?.run === run) {
          removeSibling(operation, place, place.previousFile);
          after(operation, 'previous-removed');
        }
      });
    },

    async retire(ref, run) {
      const operation = 'retire';
      const place = placeOf(ref, operation, context);
      return withEnvLock(operation, place, async () => {
        const previous = await readSibling<PreviousFile>(operation, place, place.previousFile, 'dotenv-previous');
        if (previous?.run !== run) return;
        if (previous.keepPrevious) {
          let loaded: { bytes: Buffer; doc: DotenvDocument } | undefined;
          try {
            loaded = await loadEnv(operation, place);
          } catch (error) {
            if (!(error instanceof SecretNotFoundError)) throw error;
          }
          if (loaded !== undefined) {
            // Only the NAME_PREVIOUS lines holding the value this run kept: anything else there is not ours to drop.
            let doc = loaded.doc;
            let changed = false;
            for (
              let kept = lastMatching(doc, place.previousVariable, previous.value);
              kept !== undefined;
              kept = lastMatching(doc, place.previousVariable, previous.value)
            ) {
              doc = parseDotenv(Buffer.from(removeEntry(doc, kept), 'latin1'));
              changed = true;
            }
            if (changed) {
              writeEnv(operation, place, loaded.bytes, doc.text);
              after(operation, 'previous-variable-removed');
            }
          }
        }
        removeSibling(operation, place, place.previousFile);
        after(operation, 'previous-removed');
      });
    },

    async check(ref) {
      return checkPlace(ref, context, store, codec);
    },

    async sweep(ref) {
      const place = placeOf(ref, 'sweep', context);
      // The .env's temporary files are beside the file it points to when it is a link (writeFileAtomic writes
      // there); the sibling files' are beside them. Another variable's files are its own credential's to sweep.
      // The rewrite lock of a writer killed mid-rewrite is left over too, where no later rewrite takes it over.
      return [
        ...sweepTemporaries(place.file),
        ...sweepTemporaries(place.stagedFile),
        ...sweepTemporaries(place.previousFile),
        ...clearStaleFileLock(lockFileOf(place.file), { staleMs: LOCK_STALE_MS }),
      ];
    },
  };
  return store;
}

function lastMatching(doc: DotenvDocument, key: string, value: string): DotenvEntry | undefined {
  for (let i = doc.entries.length - 1; i >= 0; i -= 1) {
    const entry = doc.entries[i]!;
    if (entry.key === key && !entry.malformed && entry.value === value) return entry;
  }
  return undefined;
}

/** Give a rewritten file its old owner back: the atomic rename replaced it with a file owned by this process. */
function restoreOwner(path: string, uid: number, gid: number): void {
  const now = statSync(path);
  if (now.uid === uid && now.gid === gid) return;
  try {
    chownSync(path, uid, gid);
  } catch {
    // Only root (or the owner, for its own groups) may chown; `check` warns about this before a run.
  }
}

async function checkPlace(ref: StoreRef, context: StoreContext, store: SecretStore, codec: ValueCodec): Promise<StoreCheck> {
  const notes: string[] = [];
  let place: Place;
  try {
    place = placeIn(ref, 'check', context);
  } catch (error) {
    return { readable: false, writable: undefined, notes: [(error as Error).message] };
  }
  let readable = false;
  let version: string | undefined;
  try {
    version = (await store.read(ref)).version;
    readable = true;
  } catch (error) {
    if (!(error instanceof StoreError)) throw error;
    notes.push(error.hint === undefined ? error.message : `${error.message} (${error.hint})`);
  }
  const canWrite = async (path: string): Promise<boolean> =>
    access(path, constants.W_OK).then(
      () => true,
      () => false,
    );
  const fileStat = await stat(place.file).catch(() => undefined);
  const dirWritable = await canWrite(place.dir);
  const fileWritable = fileStat !== undefined && (await canWrite(place.file));
  if (fileStat !== undefined && !fileWritable) notes.push(`${place.file} is not writable by this user`);
  if (!dirWritable) notes.push(`cannot create files in ${place.dir}: rekey writes a temporary file and its staging and previous files there`);
  if (fileStat !== undefined) {
    const mode = fileStat.mode & 0o777;
    if ((mode & 0o077) !== 0) {
      const who = (mode & 0o044) !== 0 ? 'readable by other users' : 'open to other users';
      notes.push(`${place.file} has mode 0${mode.toString(8)}, wider than 0600: the file is ${who}; rekey keeps the mode, consider chmod 600`);
    }
    const uid = process.getuid?.();
    const groups = [process.getgid?.(), ...(process.getgroups?.() ?? [])];
    if (uid !== undefined && uid !== 0 && (fileStat.uid !== uid || !groups.includes(fileStat.gid))) {
      // The rename replaces the file with one this user created; only root may always give owner and group back.
      notes.push(`${place.file} belongs to another user or group, which a rewrite by this user cannot keep: run rekey as the file's owner or as root`);
    }
    if (lstatSync(place.file).isSymbolicLink()) notes.push(`${place.file} is a symbolic link; rekey rewrites the file it points to and keeps the link`);
    const bytes = await readRegularFile(place.file).catch(() => undefined);
    const doc = bytes === undefined ? undefined : parseDotenv(bytes);
    if (readable && doc !== undefined) {
      const count = doc.entries.filter((e) => e.key === place.variable).length;
      if (count > 1)
        notes.push(
          `${place.variable} is set ${count} times in ${place.file}; the last one (line ${lastEntry(doc, place.variable)!.line}) wins and is the ` +
            `one rekey changes`,
        );
    }
    if (doc !== undefined) notes.push(...((await codec.notes?.(place, doc)) ?? []));
  }
  for (const [path, what] of [
    [place.stagedFile, 'a staged value'],
    [place.previousFile, 'the value before its promote'],
  ] as const) {
    const text = await readFile(path, 'utf8').catch(() => undefined);
    if (text === undefined) continue;
    let run = 'an unknown run';
    try {
      run = `run ${String((JSON.parse(text) as { run?: unknown }).run)}`;
    } catch {
      // A damaged sibling file still counts as a leftover; its content is never quoted.
    }
    notes.push(`${path} holds ${what} from ${run}`);
  }
  return { readable, writable: fileStat === undefined ? false : fileWritable && dirWritable, fingerprint: version, notes };
}

export default {
  kind: 'dotenv',
  summary: 'one variable in a .env file, rewritten atomically with every other byte kept',
  options: {
    keepPrevious: { type: 'boolean', description: 'keep the old value as NAME_PREVIOUS in the file during the overlap, until retire', default: false },
    previousVariable: {
      type: 'string',
      description: 'keep the old value under this variable name during the overlap, until retire (such as NAME_OLD); implies keepPrevious',
    },
  },
  validateRef: refProblem,
  validateOptions(options, ref) {
    const name = options['previousVariable'];
    if (typeof name !== 'string') return undefined;
    const problem = previousVariableProblem(name, ref.field);
    if (problem !== undefined) return { option: 'previousVariable', problem };
    if (options['keepPrevious'] === false)
      return { option: 'keepPrevious', problem: 'keepPrevious: false contradicts previousVariable, which keeps the old value' };
    return undefined;
  },
  open(options, context) {
    const previousVariable = typeof options['previousVariable'] === 'string' ? options['previousVariable'] : undefined;
    return openDotenvStore({ keepPrevious: options['keepPrevious'] === true, previousVariable }, context);
  },
  rehearsal: rehearseDotenv,
} satisfies SecretStoreAdapter;
