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
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { resolve } from 'node:path';
import { fingerprint } from '../../../src/contract/mask.js';
import type { StoreContext, StoredMetadata, StoreRef, VersionId } from '../../../src/contract/store.js';
import { SecretNotFoundError, StoreError } from '../../../src/contract/store-errors.js';
import { fsError, malformedError, notRegularFile, type Place, READ_FLAGS, refProblem } from './files.js';
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

/** The .env files read by describe() in this process: each file's identity and state when read, and its variables. */
const describedFiles = new Map<string, { readonly id: string; readonly variables: ReadonlyMap<string, Described> }>();

/** The plain .env store's describe(): undefined when the file or the variable does not exist. */
export function describeDotenv(ref: StoreRef, context: StoreContext): StoredMetadata | undefined {
  const operation = 'describe';
  const problem = refProblem(ref);
  if (problem !== undefined) throw new StoreError('invalid', operation, ref.display, problem);
  // Only what a message names: the sibling files' names (placeOf) are not worked out, as nothing here reads them.
  const place: Where = { display: ref.display, file: resolve(context.baseDir, ref.path), variable: ref.field! };
  let described: Described | undefined;
  try {
    described = describedVariables(operation, place).get(place.variable);
  } catch (error) {
    if (error instanceof SecretNotFoundError) return undefined;
    throw error;
  }
  if (described === undefined) return undefined;
  if (described.malformedLine !== undefined) throw malformedError(operation, place, described.malformedLine);
  return { version: described.version };
}

/** Each variable of a plain .env, by its last assignment (as the store reads it). */
function describedVariables(operation: string, place: Where): ReadonlyMap<string, Described> {
  let id: string;
  let racy: boolean;
  let bytes: Buffer;
  let fd: number | undefined;
  try {
    // Opened, then its state read from the descriptor: one path lookup, and the state is that of the bytes read.
    fd = openSync(place.file, READ_FLAGS);
    // Times in fractional milliseconds (sub-microsecond steps today): BigInt nanoseconds cost more than they tell here.
    const s = fstatSync(fd);
    if (!s.isFile()) throw notRegularFile(place.file);
    id = `${s.dev}:${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}`;
    const known = describedFiles.get(place.file);
    if (known?.id === id) return known.variables;
    // The change time, which every write moves and no one can set back (the modification time can be).
    racy = Date.now() - s.ctimeMs <= RACY_MS;
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
    throw fsError(operation, place, `file ${place.file}`, error);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  const variables = new Map<string, Described>();
  // In file order, so that a name's last assignment is the one kept (as lastEntry).
  for (const entry of parseDotenv(bytes).entries)
    variables.set(entry.key, entry.malformed ? { malformedLine: entry.line } : { version: fingerprint(entry.value) });
  if (racy) describedFiles.delete(place.file);
  else describedFiles.set(place.file, { id, variables });
  return variables;
}

/** The registry's describer of the kind (adapters/stores/index.ts): a store that only describes. */
export default {
  atOnce: true,
  open: (_options: Readonly<Record<string, unknown>>, context: StoreContext) => ({
    describe: async (ref: StoreRef) => describeDotenv(ref, context),
    describeNow: (ref: StoreRef) => describeDotenv(ref, context),
  }),
};
