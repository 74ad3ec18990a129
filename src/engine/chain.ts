/**
 * Hash-chained JSON lines, shared by the run journal and the audit log: each record carries the hash of the one
 * before it, so an altered or removed record breaks the chain at a place `verifyChain` can name.
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, fstatSync, fsyncSync, ftruncateSync, openSync, readFileSync, readSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { redactor } from '../secret/redactor.js';
import { fsyncDir } from '../util/atomic-file.js';
import { JsonlEnds } from './jsonl-files.js';

/** The hash of the empty chain's predecessor. */
export const GENESIS = '0'.repeat(64);

export interface ChainedRecord {
  readonly seq: number;
  readonly at: string;
  readonly prev: string;
  readonly hash: string;
  readonly [key: string]: unknown;
}

/** The hash of a record: SHA-256 over its JSON without the `hash` field. */
export function hashRecord(record: Omit<ChainedRecord, 'hash'>): string {
  return createHash('sha256').update(JSON.stringify(record)).digest('hex');
}

/** Records of a chained file, in order; a torn last line (a crash mid-write) is ignored. */
export function readChain(file: string): ChainedRecord[] {
  if (!existsSync(file)) return [];
  const lines = readFileSync(file, 'utf8').split('\n').filter((line) => line.trim() !== '');
  const records: ChainedRecord[] = [];
  for (const [index, line] of lines.entries()) {
    try {
      records.push(JSON.parse(line) as ChainedRecord);
    } catch (error) {
      // Only the very last line can be torn by a crash; anywhere else it is damage that verify reports.
      if (index === lines.length - 1) break;
      throw new Error(`${file}: line ${index + 1} is not valid JSON`, { cause: error });
    }
  }
  return records;
}

/**
 * The last record of a chained file, reading only as much of its end as it takes (a few kB however long the file),
 * by the same rules as `readChain(file).at(-1)`: a torn last line is ignored, and an unparsable line before it is
 * damage. Undefined for a missing or empty file.
 */
export function lastRecord(file: string): ChainedRecord | undefined {
  const ends = JsonlEnds.open(file);
  if (ends === undefined) return undefined;
  try {
    let last: ChainedRecord | undefined;
    let lastLineTorn = false;
    ends.fromEnd((line) => {
      try {
        last = JSON.parse(line) as ChainedRecord;
        return true;
      } catch (error) {
        // The very last line may be torn by a crash mid-write; a bad line before it is damage that verify reports.
        if (lastLineTorn) throw new Error(`${file}: the line before the last is not valid JSON`, { cause: error });
        lastLineTorn = true;
        return false;
      }
    });
    return last;
  } finally {
    ends.close();
  }
}

/** The first problem in a chain, or undefined when it is intact. */
export function verifyChain(records: readonly ChainedRecord[]): { seq: number; line: number; problem: string } | undefined {
  let prev = GENESIS;
  for (const [index, record] of records.entries()) {
    const { hash, ...rest } = record;
    if (record.seq !== index + 1) return { seq: record.seq, line: index + 1, problem: `record ${record.seq} stands where record ${index + 1} should: a record was removed or reordered` };
    if (record.prev !== prev) return { seq: record.seq, line: index + 1, problem: `record ${record.seq} does not follow the record before it: that one was altered or removed` };
    if (hashRecord(rest) !== hash) return { seq: record.seq, line: index + 1, problem: `record ${record.seq} was altered after it was written` };
    prev = hash;
  }
  return undefined;
}

/** An append-only chained file: one fsynced line per record, scrubbed of every known secret before writing. */
export class ChainWriter {
  #seq: number;
  #prev: string;
  #afterAppend: ((seq: number) => void) | undefined;

  constructor(
    readonly file: string,
    private readonly mode = 0o600,
    afterAppend?: (seq: number) => void,
  ) {
    // A crash mid-append can leave a torn last line; the next record must start on a line of its own.
    mendTail(file);
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

  /** Append one record and fsync it before returning. */
  append(fields: Record<string, unknown>): ChainedRecord {
    const body = { seq: this.#seq + 1, at: new Date().toISOString(), ...fields, prev: this.#prev };
    const record = { ...body, hash: hashRecord(body) } as ChainedRecord;
    const line = `${JSON.stringify(record)}\n`;
    // Values never reach these files; if one ever did, refuse rather than write it.
    if (redactor.leaks(line)) throw new Error(`refusing to write a secret value to ${this.file}`);
    const isNew = !existsSync(this.file);
    const fd = openSync(this.file, 'a', this.mode);
    try {
      writeSync(fd, line);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    if (isNew) fsyncDir(dirname(this.file));
    this.#seq = record.seq;
    this.#prev = record.hash;
    this.#afterAppend?.(record.seq);
    return record;
  }
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
