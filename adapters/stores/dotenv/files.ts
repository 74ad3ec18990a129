/**
 * Where one dotenv ref's files are, and what rekey keeps in them: the `.env` itself, the staged and previous sibling
 * files, the lock file, and the temporary files of atomic writes (named by src/util/atomic-file.ts). The variable
 * name rule lives here, once: the config loader (through the adapter's `validateRef`) and the store use it both.
 */
import { readdirSync, realpathSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { RunId, StoreContext, StoreRef, VersionId } from '../../../src/contract/store.js';
import { SecretNotFoundError, StoreError, StorePermissionError } from '../../../src/contract/store-errors.js';
import { notRegularFile, READ_FLAGS } from '../../../src/util/regular-file.js';
import { temporaryTarget } from '../../../src/util/temporary-names.js';

/** The sibling file that holds a staged value. */
export interface StagedFile {
  readonly rekey: 'dotenv-staged';
  readonly run: RunId;
  readonly variable: string;
  /** Fingerprint of the value current when the run staged. */
  readonly base: VersionId;
  /** Fingerprint of `value`. */
  readonly version: VersionId;
  readonly value: string;
  readonly stagedAt: string;
}

/** The sibling file that keeps the value current before a run promoted, for rollback, revoke and retire. */
export interface PreviousFile {
  readonly rekey: 'dotenv-previous';
  readonly run: RunId;
  readonly variable: string;
  /** Fingerprint of `value`, the value before the run. */
  readonly base: VersionId;
  /** Fingerprint of the value the run promoted. */
  readonly version: VersionId;
  readonly value: string;
  /** The old value's token exactly as it was in the file (base64 of its bytes), for a byte-exact rollback. */
  readonly token: string;
  /** Whether this promote wrote NAME_PREVIOUS. */
  readonly keepPrevious: boolean;
  /** NAME_PREVIOUS's token before this run (base64), or null when it was not set: a rollback puts it back. */
  readonly previousVariableToken: string | null;
  readonly promotedAt: string;
}

/** Where one ref's files are. */
export interface Place {
  readonly display: string;
  readonly file: string;
  readonly dir: string;
  readonly variable: string;
  readonly previousVariable: string;
  readonly stagedFile: string;
  readonly previousFile: string;
}

/**
 * A variable name: a letter or underscore, then letters, digits and underscores. That is a POSIX shell name (IEEE Std
 * 1003.1, Base Definitions 3.216 "Name"), so the file still means the same to `set -a; . ./.env`, docker compose,
 * node's and python's dotenv; NAME_PREVIOUS is one too.
 */
const VARIABLE = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Why `ref` cannot name a variable of a `.env` file, or undefined when it can: the one rule, for config and store. */
export function refProblem(ref: StoreRef): string | undefined {
  if (ref.path === '') return 'the ref has no file path, such as ./deploy/.env#API_KEY';
  if (ref.field === undefined || ref.field === '') return 'a dotenv ref names its variable after "#", such as ./deploy/.env#API_KEY';
  if (!VARIABLE.test(ref.field)) return `${ref.field} is not a variable name (a letter or _, then letters, digits and _)`;
  return undefined;
}

/** The sibling files of `.env` for variable NAME: `.env.NAME.rekey-staged` and `.env.NAME.rekey-previous`. */
export function siblingFiles(file: string, variable: string): { staged: string; previous: string } {
  // Hidden, and named after the file, so that the usual `.env*` ignore patterns already cover them.
  const name = basename(file);
  const stem = join(dirname(file), `${name.startsWith('.') ? '' : '.'}${name}.${variable}`);
  return { staged: `${stem}.rekey-staged`, previous: `${stem}.rekey-previous` };
}

/** The lock file of a .env, beside it: `.env.rekey-lock` (for `app.env`: `.app.env.rekey-lock`). */
export function lockFileOf(file: string): string {
  const name = basename(file);
  return join(dirname(file), `${name.startsWith('.') ? '' : '.'}${name}.rekey-lock`);
}

/**
 * Whether `name` can hold the previous value of the variable `variable` (the `previousVariable` option): a variable
 * name, and another one. The problem in a few words, or undefined.
 */
export function previousVariableProblem(name: string, variable: string | undefined): string | undefined {
  if (!VARIABLE.test(name)) return `${name} is not a variable name (a letter or _, then letters, digits and _)`;
  if (name === variable) return `the previous value cannot be kept in ${name}, the variable being rotated`;
  return undefined;
}

/** `previousVariable` names where the old value is kept during the overlap; NAME_PREVIOUS by default. */
export function placeOf(ref: StoreRef, operation: string, context: StoreContext, previousVariable?: string): Place {
  const problem = refProblem(ref);
  if (problem !== undefined) throw new StoreError('invalid', operation, ref.display, problem);
  const file = resolve(context.baseDir, ref.path);
  const variable = ref.field!;
  const siblings = siblingFiles(file, variable);
  return {
    display: ref.display,
    file,
    dir: dirname(file),
    variable,
    previousVariable: previousVariable ?? `${variable}_PREVIOUS`,
    stagedFile: siblings.staged,
    previousFile: siblings.previous,
  };
}

/** The variable is not assigned in the file. */
export function notSetError(operation: string, place: Pick<Place, 'display' | 'file' | 'variable'>): StoreError {
  return new SecretNotFoundError(operation, place.display, `variable ${place.variable} is not set in ${place.file}`);
}

/** The variable's last assignment has broken quoting: the line is kept, and not read. */
export function malformedError(operation: string, place: Pick<Place, 'display' | 'file' | 'variable'>, line: number): StoreError {
  return new StoreError(
    'invalid',
    operation,
    place.display,
    `variable ${place.variable} on line ${line} of ${place.file} has an unclosed quote or text after its closing quote`,
  );
}

/** A `.env` read whole, refused when it is not a regular file (src/util/regular-file.ts; fsError words it). */
export async function readRegularFile(path: string): Promise<Buffer> {
  const handle = await open(path, READ_FLAGS);
  try {
    if (!(await handle.stat()).isFile()) throw notRegularFile(path);
    return await handle.readFile();
  } finally {
    await handle.close();
  }
}

/** A typed store error for a failed file operation: names the file, never its content. */
export function fsError(operation: string, place: Pick<Place, 'display' | 'file'>, what: string, error: unknown): StoreError {
  if (error instanceof StoreError) return error;
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOTREGULAR' || code === 'EISDIR') {
    return new StoreError('invalid', operation, place.display, `${what} is not a regular file (a folder, a FIFO or a device)`, {
      hint: 'point the ref at a .env file',
    });
  }
  if (code === 'ENOENT') return new SecretNotFoundError(operation, place.display, `${what} does not exist`);
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
    return new StorePermissionError(
      operation,
      place.display,
      `${what}: ${code === 'EROFS' ? 'read-only file system' : 'permission denied'}`,
      `give the user running rekey read and write access to ${place.file} and to its folder (rekey writes a temporary file and sibling files there)`,
    );
  }
  return new StoreError('failed', operation, place.display, `${what}: ${code ?? 'I/O error'}`, { cause: error });
}

/**
 * Every file this store writes for one place: the `.env`, its staged and previous siblings, its lock, and the
 * temporary files of interrupted or running writes of any of them, found by name beside the file (and beside the
 * file a symlinked `.env` points to, where its writes go). Absolute paths; the leak search leaves these out.
 */
export function filesOf(place: Place): string[] {
  const written = [place.file, place.stagedFile, place.previousFile, lockFileOf(place.file)];
  const found = new Set(written);
  let real = place.file;
  try {
    real = realpathSync(place.file);
  } catch {
    // No file yet: its temporary files, if any, are beside the path as given.
  }
  found.add(real);
  const targets = new Set(written.map((path) => basename(path)).concat(basename(real)));
  for (const dir of new Set([place.dir, dirname(real)])) {
    let names: string[] = [];
    try {
      names = readdirSync(dir);
    } catch {
      // No folder: nothing written there yet.
    }
    for (const name of names) {
      const target = temporaryTarget(name);
      if (target !== undefined && targets.has(target)) found.add(join(dir, name));
    }
  }
  return [...found].sort();
}
