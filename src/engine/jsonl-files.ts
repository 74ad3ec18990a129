/**
 * The JSON-lines files of the state folder, for reading without the writer (src/engine/chain.ts): where run journals
 * live, and reading a file by its ends, so that finding its first or last records costs the same for a file of ten
 * lines as for one of a million: the audit log's last record (to chain the next one to), a journal's first record
 * and its last `run.finished` / `run.resumed` (for `status` and `log`). It loads only node:fs and node:path, since
 * `status` loads it at start-up.
 *
 * Lines are what `readChain` sees: split on `\n`; a blank line (`line.trim() === ''`) is skipped.
 */
import { closeSync, fstatSync, readdirSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { StateFileError } from '../contract/errors.js';
import { openRegularSync } from '../util/regular-file.js';

/** The folder holding run journals. */
export function runsDir(stateDir: string): string {
  return join(stateDir, 'runs');
}

/** The journal file of a run. */
export function journalFile(stateDir: string, run: string): string {
  return join(runsDir(stateDir), `${run}.jsonl`);
}

/** Every run id with a journal, oldest first; none without a runs folder, a StateFileError when it cannot be read. */
export function listRuns(stateDir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(runsDir(stateDir));
  } catch (error) {
    // No runs folder, or a file where it or the state folder should be: no runs to read (writing one says why not).
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return [];
    throw new StateFileError('list the runs in', runsDir(stateDir), error);
  }
  return names
    .filter((f) => f.endsWith('.jsonl'))
    .map((f) => f.slice(0, -6))
    .sort();
}

/** What a chained file that is not a regular file (src/util/regular-file.ts) counts as: damage, as if it had been edited. */
export const NOT_REGULAR = 'not a regular file (a link to a device, a FIFO): the state folder was tampered with there';

const CHUNK = 8192;
const NEWLINE = 0x0a;

/** A file opened for reading by its ends. A file that fits in one chunk is read once, by one read, for both ends. */
export class JsonlEnds {
  /** The file's first bytes, once read. */
  #head: Buffer | undefined;
  #size: number | undefined;

  private constructor(
    readonly file: string,
    private readonly fd: number,
  ) {}

  /** Open a file for reading by its ends; undefined when it does not exist. Close it with `close()`. */
  static open(file: string): JsonlEnds | undefined {
    try {
      return new JsonlEnds(file, openRegularSync(file).fd);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  close(): void {
    closeSync(this.fd);
  }

  #readAt(start: number, length: number): Buffer {
    const buffer = Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const n = readSync(this.fd, buffer, done, length - done, start + done);
      if (n === 0) break;
      done += n;
    }
    return done === length ? buffer : buffer.subarray(0, done);
  }

  /** The first chunk; when it comes back short it is the whole file, and no stat is needed for the size. */
  #first(): Buffer {
    if (this.#head === undefined) {
      this.#head = this.#readAt(0, CHUNK);
      if (this.#head.length < CHUNK) this.#size = this.#head.length;
    }
    return this.#head;
  }

  /** The file's size when it was first needed (a file being appended to is read up to there). */
  get size(): number {
    this.#size ??= fstatSync(this.fd).size;
    return this.#size;
  }

  /** Bytes [start, end): from the first chunk when they lie in it. */
  #read(start: number, end: number): Buffer {
    const head = this.#first();
    if (end <= head.length) return head.subarray(start, end);
    const bytes = this.#readAt(start, end - start);
    if (bytes.length < end - start) throw new Error(`${this.file} shrank while being read`);
    return bytes;
  }

  /** The first non-blank line; undefined when there is none. */
  firstLine(): string | undefined {
    let pending = this.#first();
    let pos = pending.length;
    for (;;) {
      for (let newline = pending.indexOf(NEWLINE); newline !== -1; newline = pending.indexOf(NEWLINE)) {
        const line = pending.toString('utf8', 0, newline);
        if (line.trim() !== '') return line;
        pending = pending.subarray(newline + 1);
      }
      // After the first chunk, so that a file that fits in it needs no stat.
      if (pos >= this.size) break;
      const end = Math.min(pos + CHUNK, this.size);
      pending = Buffer.concat([pending, this.#read(pos, end)]);
      pos = end;
    }
    const line = pending.toString('utf8');
    return line.trim() === '' ? undefined : line;
  }

  /**
   * Visit the non-blank lines from the last one backwards until `visit` returns true; the file is read in chunks from
   * its end, so a visit that stops early reads only the tail.
   */
  fromEnd(visit: (line: string) => boolean | undefined): void {
    this.#first();
    let pos = this.size;
    // Bytes from `pos` on not yet visited: the end of a line that begins before `pos`. They hold no newline.
    let carry: Buffer = Buffer.alloc(0);
    while (pos > 0) {
      const start = Math.max(0, pos - CHUNK);
      const chunk = this.#read(start, pos);
      pos = start;
      const buffer = carry.length === 0 ? chunk : Buffer.concat([chunk, carry]);
      let end = buffer.length;
      for (let i = chunk.length - 1; i >= 0; i--) {
        if (buffer[i] !== NEWLINE) continue;
        const line = buffer.toString('utf8', i + 1, end);
        if (line.trim() !== '' && visit(line) === true) return;
        end = i;
      }
      carry = buffer.subarray(0, end);
    }
    const line = carry.toString('utf8');
    if (line.trim() !== '') visit(line);
  }
}
