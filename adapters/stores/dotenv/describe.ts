/**
 * The plain `.env` store's describe(), on its own: `rekey status` describes every credential's stores, and loads this
 * module (through the registry's describers, adapters/stores/index.ts) rather than the whole store, whose writers,
 * locks and rehearsal it does not need. The store (./index.ts) answers describe() with it too.
 *
 * A .env keeps no date and no run: the version (the value's fingerprint) is all there is to say. Each file is read
 * and parsed once for all its variables, and again only when it changed since (inode, size, modification and change
 * times), so that a thousand credentials in one file cost one parse, not a thousand; only fingerprints are kept, never
 * a value. The read is synchronous: a .env is a small local file, and the promise API's round trips through the
 * thread pool (open, stat, read, close) cost several times the read itself, a thousand times over.
 */
import { closeSync, readSync, type Stats } from 'node:fs';
import { extname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fingerprint } from '../../../src/contract/mask.js';
import type { StoreContext, StoredMetadata, StoreRef, VersionId } from '../../../src/contract/store.js';
import { SecretNotFoundError, StoreError } from '../../../src/contract/store-errors.js';
import { openRegularSync } from '../../../src/util/regular-file.js';
import { fsError, malformedError, type Place, refProblem } from './files.js';
import { parseDotenv } from './format.js';

type Where = Pick<Place, 'display' | 'file' | 'variable'>;

/** What describe() says of a variable: its value's fingerprint, or the line of its broken quoting. Never a value. */
type Described = { readonly version: VersionId; readonly malformedLine?: undefined } | { readonly version?: undefined; readonly malformedLine: number };

/**
 * A file changed this recently before it was read could change again within the same tick of a coarse file clock (2 s
 * on FAT) at the same size, unseen: it is read again next time rather than trusted from memory, as git treats
 * "racily clean" files.
 */
const RACY_MS = 2_000;

/**
 * A .env file as describe() last read it: its identity and state then (idOf), and its variables; `null` for one asked
 * for and not in the file. Complete when read here; an earlier process's record (adoptDescribedFiles) holds only the
 * variables that process asked for, and a variable it does not hold is read from the file.
 */
interface DescribedFile {
  readonly id: string;
  readonly variables: ReadonlyMap<string, Described | null>;
  readonly complete: boolean;
}

/** The .env files described in this process, and those an earlier process described (adoptDescribedFiles). */
const describedFiles = new Map<string, DescribedFile>();
/** Of describedFiles, those adopted from an earlier process and not described since. */
const adopted = new Set<string>();
/** The variables described in this process since adoptDescribedFiles(), by file: what describedFilesRecord() keeps. */
const asked = new Map<string, Set<string>>();
/** Whether what is known changed since adoptDescribedFiles(): an entry kept from a read, or one found out of date. */
let changedSinceAdopted = false;

/** The plain .env store's describe(): undefined when the file or the variable does not exist. */
export function describeDotenv(ref: StoreRef, context: StoreContext): StoredMetadata | undefined {
  const operation = 'describe';
  const problem = refProblem(ref);
  if (problem !== undefined) throw new StoreError('invalid', operation, ref.display, problem);
  // Only what a message names: the sibling files' names (placeOf) are not worked out, as nothing here reads them.
  const place: Where = { display: ref.display, file: resolve(context.baseDir, ref.path), variable: ref.field! };
  let described: Described | undefined;
  try {
    described = describedVariable(operation, place);
  } catch (error) {
    if (error instanceof SecretNotFoundError) return undefined;
    throw error;
  }
  if (described === undefined) return undefined;
  if (described.malformedLine !== undefined) throw malformedError(operation, place, described.malformedLine);
  return { version: described.version };
}

/** A variable of a plain .env, by its last assignment (as the store reads it); undefined when the file has none. */
function describedVariable(operation: string, place: Where): Described | undefined {
  const names = asked.get(place.file) ?? new Set<string>();
  asked.set(place.file, names.add(place.variable));
  adopted.delete(place.file);
  const known = describedFiles.get(place.file);
  const usable = known !== undefined && (known.complete || known.variables.has(place.variable));
  let id: string;
  let racy: boolean;
  let bytes: Buffer;
  let fd: number | undefined;
  try {
    // Opened, then its state read from the descriptor: one path lookup, and the state is that of the bytes read. The
    // open is also what proves this reader may read the file now, and what makes an NFS client ask the server for the
    // file's current attributes (close-to-open), where a stat alone may answer from its cache for up to a minute.
    // Times in fractional milliseconds (sub-microsecond steps today): BigInt nanoseconds cost more than they tell here.
    const { fd: opened, stats: s } = openRegularSync(place.file);
    fd = opened;
    id = idOf(s);
    // Read before, here or by an earlier process (adoptDescribedFiles): trusted while the file's state is the same.
    if (usable && known.id === id) return known.variables.get(place.variable) ?? undefined;
    if (known !== undefined) {
      describedFiles.delete(place.file);
      changedSinceAdopted = true;
    }
    racy = !keepable(s, Date.now());
    // Read to the size just seen (readFileSync would look it up again): a file that grew since is read again next time.
    bytes = Buffer.allocUnsafeSlow(s.size);
    let got = 0;
    while (got < bytes.length) {
      const n = readSync(fd, bytes, got, bytes.length - got, got);
      if (n === 0) break;
      got += n;
    }
    bytes = bytes.subarray(0, got);
  } catch (error) {
    // Gone, unreadable, not a file: what was known of it goes too, and the error says what is wrong.
    if (describedFiles.delete(place.file)) changedSinceAdopted = true;
    throw fsError(operation, place, `file ${place.file}`, error);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  const variables = new Map<string, Described>();
  // In file order, so that a name's last assignment is the one kept (as lastEntry).
  for (const entry of parseDotenv(bytes).entries)
    variables.set(entry.key, entry.malformed ? { malformedLine: entry.line } : { version: fingerprint(entry.value) });
  if (!racy) {
    describedFiles.set(place.file, { id, variables, complete: true });
    changedSinceAdopted = true;
  }
  return variables.get(place.variable);
}

/**
 * Whether what was read of a file may be trusted later while its state is the same: it was read well after its last
 * change (RACY_MS), and its file clock is not a coarse one (see describedVariable).
 */
export function keepable(s: Pick<Stats, 'ctimeMs' | 'mtimeMs'>, nowMs: number): boolean {
  // The change time, which every write moves and no one can set back (the modification time can be). A time in whole
  // seconds is that of a coarse file clock (FAT, HFS+, ext4 with small inodes, some network file systems), or of a
  // modification time someone set: under a coarse clock a same-size rewrite within the second, or a clock ahead of
  // the file server's, would go unseen, so such a file is read every time.
  return nowMs - s.ctimeMs > RACY_MS && s.ctimeMs % 1000 !== 0 && s.mtimeMs % 1000 !== 0;
}

/** A file's identity and state: device, inode, size, modification and change times. */
const idOf = (s: Stats): string => `${s.dev}:${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}`;

/**
 * What describe() knew of .env files, for another process (adoptDescribedFiles): by file, its state when read and the
 * variables asked for, each a fingerprint, the line of its broken quoting, or null (not in the file). Never a value;
 * and no variable no one asked for, so that a fingerprint of another secret in the same file is never written down.
 */
export type DescribedFilesRecord = Record<string, { id: string; variables: Record<string, { version: string } | { malformedLine: number } | null> }>;

/**
 * Take what an earlier process learned of .env files (describedFilesRecord()), so that `rekey status` over a fleet
 * opens each file and checks its state rather than reading, parsing and fingerprinting it: an entry is used only while
 * its file's device, inode, size and both times are as they were when it was read (and it was read well after its last
 * change, on a clock finer than a second: see keepable), else the file is read. An entry of the wrong shape is left
 * out; so is a file this process knows.
 */
export function adoptDescribedFiles(record: unknown): void {
  changedSinceAdopted = false;
  asked.clear();
  // What an earlier adoption brought and no describe() checked goes: only what this process saw is known here.
  for (const file of adopted) describedFiles.delete(file);
  adopted.clear();
  if (typeof record !== 'object' || record === null) return;
  for (const [file, entry] of Object.entries(record as Record<string, unknown>)) {
    const e = entry as { id?: unknown; variables?: unknown } | null;
    if (typeof e?.id !== 'string' || typeof e.variables !== 'object' || e.variables === null || describedFiles.has(file)) continue;
    const variables = new Map<string, Described | null>();
    let whole = true;
    for (const [name, v] of Object.entries(e.variables as Record<string, { version?: unknown; malformedLine?: unknown } | null>)) {
      if (v === null) variables.set(name, null);
      else if (typeof v?.version === 'string') variables.set(name, { version: v.version as VersionId });
      else if (Number.isInteger(v?.malformedLine)) variables.set(name, { malformedLine: v.malformedLine as number });
      else whole = false;
    }
    if (!whole) continue;
    describedFiles.set(file, { id: e.id, variables, complete: false });
    adopted.add(file);
  }
}

/**
 * What this process learned of the .env files it described since adoptDescribedFiles(), for the next process; or,
 * unless `always`, undefined when that is what was adopted (no file read, none adopted and left undescribed).
 */
export function describedFilesRecord(always = false): DescribedFilesRecord | undefined {
  if (!always && !changedSinceAdopted && adopted.size === 0) return undefined;
  const record: DescribedFilesRecord = {};
  for (const [file, names] of asked) {
    const known = describedFiles.get(file);
    if (known === undefined) continue;
    const variables: DescribedFilesRecord[string]['variables'] = {};
    for (const name of names) if (known.variables.has(name) || known.complete) variables[name] = known.variables.get(name) ?? null;
    record[file] = { id: known.id, variables };
  }
  return record;
}

/** This module and those it describes with (parse, file errors, fingerprint): a change to one discards what was kept. */
function deciders(): string[] {
  const here = fileURLToPath(import.meta.url);
  return [here, ...['./files', './format', '../../../src/contract/mask'].map((m) => fileURLToPath(new URL(`${m}${extname(here)}`, import.meta.url)))];
}

/** The registry's describer of the kind (adapters/stores/index.ts): a store that only describes. */
export default {
  atOnce: true,
  memory: { adopt: adoptDescribedFiles, record: describedFilesRecord, files: deciders() },
  open: (_options: Readonly<Record<string, unknown>>, context: StoreContext) => ({
    describe: async (ref: StoreRef) => describeDotenv(ref, context),
    describeNow: (ref: StoreRef) => describeDotenv(ref, context),
  }),
};
