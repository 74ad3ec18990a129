/**
 * The state folder (`stateDir` in rekey.yaml; `.rekey` beside it by default), made ready before a run writes its lock
 * and journal there. A folder that cannot be created or written is a mistake in the configuration or the machine, not
 * a bug: a file in the way is bad input (exit 2) naming the config file, the line of `stateDir` and the path; a
 * folder the machine will not let rekey write (permission denied, read-only file system, a full disk) is an
 * environment fault (StateFileError, exit 5) naming the same.
 */
import { accessSync, constants, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative } from 'node:path';
import { sweepFolderTemporaries } from './atomic-file.js';
import { sweepLockTemporaries } from './lock-file.js';
import { InputError, StateFileError } from '../contract/errors.js';

/** Create the state folder (mode 0700) if needed and make sure this user can write in it. */
export async function ensureStateDir(config: { readonly file: string; readonly stateDir: string }): Promise<void> {
  try {
    mkdirSync(config.stateDir, { recursive: true, mode: 0o700 });
    accessSync(config.stateDir, constants.W_OK | constants.X_OK);
    ignoreInGit(config.stateDir);
  } catch (error) {
    throw await stateDirError(config, error as NodeJS.ErrnoException);
  }
}

/**
 * The state folder keeps journals, reports and the audit log: none of it belongs in a repository (a journal names
 * fingerprints and store paths; a commit of it is noise at best). A `.gitignore` of `*` inside the folder keeps git
 * from ever offering it, wherever `stateDir` points and whether or not the project is a repository yet, without
 * touching the project's own ignore files (the convention of tool caches such as `.pytest_cache`). Written once; a
 * person's edit of it is kept.
 */
function ignoreInGit(stateDir: string): void {
  const file = join(stateDir, '.gitignore');
  if (existsSync(file)) return;
  try {
    writeFileSync(file, "# Written by rekey: its state folder (journals, reports, the audit log) is this machine's, not the repository's.\n*\n", {
      mode: 0o600,
      flag: 'wx',
    });
  } catch {
    // Best effort: another run wrote it first, or the disk is full or read-only, in which case the journal's own write
    // says so next, naming its file.
  }
}

/** The folders of the state folder that rekey writes files in through src/util/atomic-file.ts (or may, later). */
const STATE_SUBFOLDERS = ['', 'reports', 'runs', 'locks'];

/**
 * Remove the temporary files that writes killed before their rename left in the state folder (the audit head's, a
 * report's, a lock's publication: the audit log's lock, a run lock) once their writer is dead; returns the paths
 * removed. Every such file in these folders is rekey's, and nothing else is touched. The engine calls it at the start of every run and resume.
 */
export function sweepStateDir(stateDir: string): string[] {
  return STATE_SUBFOLDERS.flatMap((sub) => {
    const dir = join(stateDir, sub);
    return [...sweepFolderTemporaries(dir), ...sweepLockTemporaries(dir)];
  });
}

/** A path as a person typed it, more or less: relative to the working folder when it is inside it. */
function shown(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel === '' ? '.' : rel.startsWith('..') || isAbsolute(rel) ? path : rel;
}

/** The part of the path in the way: the nearest part that exists, when it is a file (ENOTDIR, EEXIST), the usual mistake. */
function fileInTheWay(stateDir: string): string | undefined {
  for (let path = stateDir; ; path = dirname(path)) {
    let isDir: boolean | undefined;
    try {
      isDir = statSync(path).isDirectory();
    } catch {
      isDir = undefined;
    }
    if (isDir === false) return `${shown(path)} is a file, not a folder`;
    if (isDir === true || dirname(path) === path) return undefined;
  }
}

async function stateDirError(config: { readonly file: string; readonly stateDir: string }, error: NodeJS.ErrnoException): Promise<InputError | StateFileError> {
  const inTheWay = fileInTheWay(config.stateDir);
  const path = shown(config.stateDir);
  // The line of `stateDir`, read again from the file: this path is rare, and the loaded config keeps no positions.
  let location: { file: string; line: number; column: number } | undefined;
  try {
    const { parseYaml } = await import('./yaml-source.js');
    const source = await parseYaml(readFileSync(config.file, 'utf8'), config.file);
    const data = source.data as Record<string, unknown> | null;
    if (data !== null && typeof data === 'object' && 'stateDir' in data) location = source.locate(['stateDir']);
  } catch {
    // The file moved or changed since it was loaded: the message still names it.
  }
  if (inTheWay === undefined) {
    // The machine refuses (permission, read-only, full): an environment fault, with where the folder is configured.
    const where =
      location === undefined ? `the default: .rekey beside ${basename(config.file)}` : `stateDir at ${location.file}:${location.line}:${location.column}`;
    return new StateFileError(`create or write the state folder (${where})`, path, error);
  }
  const why = inTheWay;
  if (location !== undefined) {
    return new InputError(
      `stateDir: cannot create the state folder ${path}: ${why}`,
      location,
      'point stateDir at a folder rekey can create and write: runs, locks, the audit log and reports are kept there',
    );
  }
  return new InputError(
    `${config.file}: cannot create the state folder ${path} (the default: .rekey beside ${basename(config.file)}): ${why}`,
    undefined,
    `set  stateDir: <folder>  in ${config.file} to a folder rekey can create and write`,
  );
}
