/**
 * Hash-chained JSON lines, shared by the run journal and the audit log: each record carries the hash of the one
 * before it, and is sealed with the chain key (src/engine/chain-key.ts) when this machine has one, so an altered,
 * removed or forged record breaks the chain at a place `verifyChain` (src/engine/chain-check.ts) can name.
 */
import { closeSync, existsSync, fstatSync, fsyncSync, ftruncateSync, openSync, readSync, writeSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { dirname } from 'node:path';
import { redactor } from '../contract/redactor.js';
import { fsyncAsync, fsyncDir } from '../util/atomic-file.js';
import { StateFileError } from '../contract/errors.js';
import { seal, sealingKey } from './chain-key.js';
import { ChainDamageError, GENESIS, hashRecord, scanChainText, type ChainScan, type ChainedRecord } from './chain-check.js';
import { JsonlEnds, NOT_REGULAR } from './jsonl-files.js';
import { isNotRegularFile, readRegularFileSync } from '../util/regular-file.js';

export {
  ChainDamageError,
  GENESIS,
  hashRecord,
  scanChainText,
  verifyChain,
  type ChainProblem,
  type ChainScan,
  type ChainedRecord,
  type VerifyOptions,
} from './chain-check.js';

/** The file operations a writer uses: the real ones, or a test's that fail as a full or read-only disk does. */
export interface ChainFileOps {
  openSync(path: string, flags: string, mode?: number): number;
  writeSync(fd: number, data: Uint8Array): number;
  fsyncSync(fd: number): void;
  closeSync(fd: number): void;
  fstatSync(fd: number): { size: number };
  ftruncateSync(fd: number, length: number): void;
}

/** The real file operations. */
export const nodeFileOps: ChainFileOps = { openSync, writeSync, fsyncSync, closeSync, fstatSync, ftruncateSync };

/** The lines of a chained file (none for a missing file); see `scanChainText`. A file that cannot be read is a StateFileError. */
export function scanChain(file: string): ChainScan {
  let text: string;
  try {
    text = readRegularFileSync(file).toString('utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { records: [], lines: [], damage: undefined };
    if (isNotRegularFile(error)) return { records: [], lines: [], damage: { seq: 1, line: 1, problem: NOT_REGULAR } };
    throw new StateFileError('read', file, error);
  }
  return scanChainText(text);
}

/** Records of a chained file, in order; a torn last line (a crash mid-write) is ignored, any other bad line throws ChainDamageError. */
export function readChain(file: string): ChainedRecord[] {
  const { records, damage } = scanChain(file);
  if (damage !== undefined) throw new ChainDamageError(file, damage.line, damage.problem);
  return records;
}

/**
 * The last record of a chained file, reading only as much of its end as it takes (a few kB however long the file),
 * by the same rules as `readChain(file).at(-1)`: a torn last line is ignored, and an unparsable line before it is
 * damage (ChainDamageError). Undefined for a missing or empty file.
 */
export function lastRecord(file: string): ChainedRecord | undefined {
  let ends: JsonlEnds | undefined;
  try {
    ends = JsonlEnds.open(file);
  } catch (error) {
    if (isNotRegularFile(error)) throw new ChainDamageError(file, 1, NOT_REGULAR);
    throw new StateFileError('read', file, error);
  }
  if (ends === undefined) return undefined;
  try {
    let last: ChainedRecord | undefined;
    let lastLineTorn = false;
    ends.fromEnd((line) => {
      try {
        last = JSON.parse(line) as ChainedRecord;
        return true;
      } catch {
        // The very last line may be torn by a crash mid-write; a bad line before it is damage that verify reports.
        if (lastLineTorn) throw new ChainDamageError(file, 0, 'the line before the last is not valid JSON: the file was damaged or edited there');
        lastLineTorn = true;
        return false;
      }
    });
    return last;
  } finally {
    ends.close();
  }
}

/** A record waiting for its group's write (see `ChainWriter.appendAsync`). */
interface Waiting {
  readonly fields: Record<string, unknown>;
  readonly at: string;
  readonly durable: boolean;
  readonly resolve: (record: ChainedRecord) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * An append-only chained file: one sealed line per record, scrubbed of every known secret before writing, on disk
 * (and fsynced, unless the record says it need not be) before the append returns.
 */
export class ChainWriter {
  #seq: number;
  #prev: string;
  #afterAppend: ((seq: number) => void) | undefined;
  #waiting: Waiting[] = [];
  /** The write under way (or about to start) of the records waiting, until they are all written. */
  #draining: Promise<void> | undefined;
  /** The file is known to exist (a group was written to it): its folder need not be fsynced again. */
  #exists = false;
  /** The file as the last group left it open, and its length then (undefined: ask the file). */
  #open: AppendFile | undefined;
  #size: number | undefined;

  constructor(
    readonly file: string,
    private readonly mode = 0o600,
    afterAppend?: (seq: number) => void,
    private readonly ops: ChainFileOps = nodeFileOps,
  ) {
    // A crash mid-append can leave a torn last line; the next record must start on a line of its own.
    try {
      mendTail(file);
    } catch (error) {
      throw error instanceof ChainDamageError ? error : new StateFileError('mend the torn last line of', file, error);
    }
    // Only the tail is read: appending costs the same however long the file has grown.
    const last = lastRecord(file);
    this.#seq = last?.seq ?? 0;
    this.#prev = last?.hash ?? GENESIS;
    this.#afterAppend = afterAppend;
  }

  /** The records written so far (re-read from disk). */
  records(): ChainedRecord[] {
    return readChain(this.file);
  }

  /** The next record after the last one written: numbered, chained, sealed and hashed; checked for values. */
  #record(fields: Record<string, unknown>, seq: number, prev: string, at = new Date().toISOString()): { record: ChainedRecord; line: string } {
    const key = sealingKey();
    const body = { seq, at, ...fields, prev, ...(key === undefined ? {} : { key: key.id }) };
    const sealed = key === undefined ? body : { ...body, mac: seal(key, JSON.stringify(body)) };
    const record = { ...sealed, hash: hashRecord(sealed) } as ChainedRecord;
    const line = `${JSON.stringify(record)}\n`;
    // Values never reach these files; if one ever did, refuse rather than write it.
    if (redactor.leaks(line)) throw new Error(`refusing to write a secret value to ${this.file}`);
    return { record, line };
  }

  /**
   * Append one record and fsync it before returning, on this thread: for a few records outside a run's hot path (tests,
   * adoption). A disk that is full, read-only or not writable throws a StateFileError, and the file is cut back to
   * where it was, so that a half-written line never stays in the middle.
   */
  append(fields: Record<string, unknown>, options: { durable?: boolean } = {}): ChainedRecord {
    const { record, line } = this.#record(fields, this.#seq + 1, this.#prev);
    const isNew = !existsSync(this.file);
    let fd: number;
    try {
      fd = this.ops.openSync(this.file, 'a', this.mode);
    } catch (error) {
      throw new StateFileError(isNew ? 'create' : 'open for appending', this.file, error);
    }
    let size: number | undefined;
    try {
      size = this.ops.fstatSync(fd).size;
      // A write may stop short (a disk filling up): write the rest until it is all out or the disk says why not.
      const bytes = Buffer.from(line, 'utf8');
      for (let done = 0; done < bytes.length; ) {
        const n = this.ops.writeSync(fd, bytes.subarray(done));
        if (n <= 0) throw Object.assign(new Error('the write made no progress'), { code: 'EIO' });
        done += n;
      }
      // A record whose loss on a power cut is harmless (the next durable record's fsync carries it) skips its own.
      if (options.durable !== false) this.ops.fsyncSync(fd);
    } catch (error) {
      if (size !== undefined) {
        try {
          this.ops.ftruncateSync(fd, size);
        } catch {
          // The next writer mends a torn last line; nothing more can be done here.
        }
      }
      throw new StateFileError('append a record to', this.file, error);
    } finally {
      this.ops.closeSync(fd);
    }
    if (isNew) {
      try {
        fsyncDir(dirname(this.file));
      } catch (error) {
        throw new StateFileError('flush the folder of', this.file, error);
      }
    }
    this.#seq = record.seq;
    this.#prev = record.hash;
    // The file grew behind the open handle's back: its length is asked again before the next group.
    this.#size = undefined;
    this.#afterAppend?.(record.seq);
    return record;
  }

  /**
   * Append one record, resolved once it is on disk (and fsynced, unless `durable: false`), as `append` promises, but
   * with the disk's work off the event loop: the write and the fsync run on libuv's thread pool (fs/promises), so
   * the other runs of a fleet go on meanwhile. Records appended together, or while a write is under way, are
   * grouped: one write takes all of them, in order, with one fsync. A group the disk refuses is cut back off the file
   * and each of its appends rejects with a StateFileError; the records appended after it are chained to what the file
   * holds and written as a group of their own, as the synchronous `append` would have done.
   */
  appendAsync(fields: Record<string, unknown>, options: { durable?: boolean } = {}): Promise<ChainedRecord> {
    return new Promise((resolve, reject) => {
      this.#waiting.push({ fields, at: new Date().toISOString(), durable: options.durable !== false, resolve, reject });
      // The write starts once the current task is done, so appends made together (a group of steps, the records of
      // several runs) go in one write from the start.
      this.#draining ??= Promise.resolve().then(() => this.#drain());
    });
  }

  async #drain(): Promise<void> {
    try {
      while (this.#waiting.length > 0) {
        // With a hook after each record (the crash tests' kill after record N), one record per write: a kill at every
        // record boundary is then a state the tests can reach, and each grouped state is one of them (a group cut
        // short by a crash leaves a prefix of its records, and a torn line that the next writer mends).
        const group = this.#afterAppend === undefined ? this.#waiting.splice(0) : this.#waiting.splice(0, 1);
        let seq = this.#seq;
        let prev = this.#prev;
        const written: Array<{ waiting: Waiting; record: ChainedRecord }> = [];
        let text = '';
        for (const waiting of group) {
          try {
            const { record, line } = this.#record(waiting.fields, seq + 1, prev, waiting.at);
            seq = record.seq;
            prev = record.hash;
            text += line;
            written.push({ waiting, record });
          } catch (error) {
            waiting.reject(error);
          }
        }
        if (written.length === 0) continue;
        try {
          await this.#writeGroup(
            Buffer.from(text, 'utf8'),
            group.some((w) => w.durable),
          );
        } catch (error) {
          for (const { waiting } of written) waiting.reject(error);
          continue;
        }
        this.#seq = seq;
        this.#prev = prev;
        for (const { waiting, record } of written) {
          this.#afterAppend?.(record.seq);
          waiting.resolve(record);
        }
      }
    } finally {
      this.#draining = undefined;
    }
  }

  /**
   * Write a group of lines to the end of the file (and fsync them); on failure, cut the file back to where it was. The
   * file stays open from one group to the next (a run's journal takes thirty records, one after another), with its
   * length known from what was written, until `close`; after a failure it is opened again.
   */
  async #writeGroup(bytes: Buffer, durable: boolean): Promise<void> {
    const isNew = !this.#exists && !existsSync(this.file);
    if (this.#open === undefined) {
      this.#open = await openAppend(this.file, this.mode, this.ops).catch((error: unknown) => {
        throw new StateFileError(isNew ? 'create' : 'open for appending', this.file, error);
      });
      this.#size = undefined;
    }
    const file = this.#open;
    let size = this.#size;
    try {
      size ??= await file.size();
      for (let done = 0; done < bytes.length; ) {
        const n = await file.write(bytes.subarray(done));
        if (n <= 0) throw Object.assign(new Error('the write made no progress'), { code: 'EIO' });
        done += n;
      }
      if (durable) await file.sync();
      this.#size = size + bytes.length;
    } catch (error) {
      if (size !== undefined) await file.truncate(size).catch(() => undefined);
      this.#open = undefined;
      await file.close().catch(() => undefined);
      throw new StateFileError('append a record to', this.file, error);
    }
    if (isNew) {
      try {
        await fsyncAsync(dirname(this.file));
      } catch (error) {
        throw new StateFileError('flush the folder of', this.file, error);
      }
    }
    this.#exists = true;
  }

  /** Close the file kept open between groups, once the appends made so far are written. */
  async close(): Promise<void> {
    await this.#draining;
    const file = this.#open;
    this.#open = undefined;
    await file?.close().catch(() => undefined);
  }
}

/** A file open for appending, through fs/promises (the thread pool), or through a test's synchronous operations. */
interface AppendFile {
  size(): Promise<number>;
  write(bytes: Uint8Array): Promise<number>;
  sync(): Promise<void>;
  truncate(length: number): Promise<void>;
  close(): Promise<void>;
}

async function openAppend(file: string, mode: number, ops: ChainFileOps): Promise<AppendFile> {
  if (ops === nodeFileOps) {
    const handle = await open(file, 'a', mode);
    return {
      size: async () => (await handle.stat()).size,
      write: async (bytes) => (await handle.write(bytes)).bytesWritten,
      sync: () => handle.sync(),
      truncate: (length) => handle.truncate(length),
      close: () => handle.close(),
    };
  }
  // A test's operations (a disk that fills up, one that refuses to sync) are synchronous: run them as they are.
  const fd = ops.openSync(file, 'a', mode);
  return {
    size: async () => ops.fstatSync(fd).size,
    write: async (bytes) => ops.writeSync(fd, bytes),
    sync: async () => ops.fsyncSync(fd),
    truncate: async (length) => ops.ftruncateSync(fd, length),
    close: async () => ops.closeSync(fd),
  };
}

/**
 * Make a chained file end with a newline before anything is appended. A last line cut short by a crash (its append
 * never returned, so nothing went on from it) is cut off; a complete record that only lacks its newline gets one.
 * Callers hold whatever keeps other writers out (the run lock for a journal, the audit lock for the audit log).
 */
function mendTail(file: string): void {
  let fd: number;
  try {
    fd = openSync(file, 'r+');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  try {
    const size = fstatSync(fd).size;
    if (size === 0) return;
    const lastByte = Buffer.alloc(1);
    readSync(fd, lastByte, 0, 1, size - 1);
    if (lastByte[0] === 0x0a) return;
    // Find the start of the last line, 64 KiB at a time from the end.
    let lineStart = 0;
    for (let end = size; end > 0; ) {
      const start = Math.max(0, end - 65_536);
      const chunk = Buffer.alloc(end - start);
      readSync(fd, chunk, 0, chunk.length, start);
      const newline = chunk.lastIndexOf(0x0a);
      if (newline >= 0) {
        lineStart = start + newline + 1;
        break;
      }
      end = start;
    }
    const tail = Buffer.alloc(size - lineStart);
    readSync(fd, tail, 0, tail.length, lineStart);
    let complete = false;
    try {
      JSON.parse(tail.toString('utf8'));
      complete = true;
    } catch {
      complete = false;
    }
    if (complete) writeSync(fd, '\n', size);
    else ftruncateSync(fd, lineStart);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
