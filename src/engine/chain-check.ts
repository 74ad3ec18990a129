/**
 * Checking a hash-chained JSON-lines file (a run journal or the audit log) without writing anything: parsing its
 * lines, and naming the first record that is out of place, altered, forged or unsealed. Kept apart from the writer
 * (src/engine/chain.ts) so that `status` can check journals while loading little more than node:fs and node:crypto.
 *
 * A record is `{seq, at, …fields, prev, key?, mac?, hash}`:
 * - `hash` is SHA-256 over the record's JSON without `hash` (so tools that know only the plain chain still check it),
 *   and `prev` is the hash of the record before it (64 zeros for the first);
 * - `key` and `mac` are its seal: `mac` is HMAC-SHA-256, under the chain key named by `key`, over the record's JSON
 *   without `hash` and `mac` (src/engine/chain-key.ts). Records written before rekey sealed have neither.
 */
import { createHash } from 'node:crypto';
import { RefusedError } from '../contract/errors.js';
import { checkingKey, sealMatches, type ChainKey } from './chain-key.js';

/** The hash of the empty chain's predecessor. */
export const GENESIS = '0'.repeat(64);

export interface ChainedRecord {
  readonly seq: number;
  readonly at: string;
  readonly prev: string;
  readonly hash: string;
  /** The id of the chain key that sealed the record (absent on records of rekey versions that did not seal). */
  readonly key?: string;
  /** The record's seal (absent with `key`). */
  readonly mac?: string;
  readonly [key: string]: unknown;
}

/** The first problem found in a chained file: the record's number, its line in the file, and what is wrong. */
export interface ChainProblem {
  readonly seq: number;
  readonly line: number;
  readonly problem: string;
}

/** The hash of a record: SHA-256 over its JSON without the `hash` field. */
export function hashRecord(record: Omit<ChainedRecord, 'hash'>): string {
  return createHash('sha256').update(JSON.stringify(record)).digest('hex');
}

/**
 * A line that is not a record, where a record should be: damage or tampering, never a crash (which only tears the
 * last line). Refused (exit 3): rekey does not act on a file it cannot read whole.
 */
export class ChainDamageError extends RefusedError {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly problem: string,
  ) {
    super(
      `${file}${line > 0 ? `:${line}` : ''}: ${problem}`,
      'rekey will not act on a damaged journal or audit log: restore the file from a backup, or move it aside',
    );
    this.name = 'ChainDamageError';
  }
}

/** The lines of a chained file parsed: the records before any damage, their line numbers, and the damage if any. */
export interface ChainScan {
  readonly records: ChainedRecord[];
  /** The file line (from 1) of each record. */
  readonly lines: number[];
  /** The first line that is not a record, unless it is a torn last line (a crash mid-append), which is ignored. */
  readonly damage: ChainProblem | undefined;
}

/** Parse a chained file's text; records after the first damaged line are not returned (nothing after it is trusted). */
export function scanChainText(text: string): ChainScan {
  const all = text.split('\n');
  const numbered = all.map((line, index) => ({ line, number: index + 1 })).filter(({ line }) => line.trim() !== '');
  const records: ChainedRecord[] = [];
  const lines: number[] = [];
  for (const [index, { line, number }] of numbered.entries()) {
    let record: unknown;
    try {
      record = JSON.parse(line);
    } catch {
      // Only the very last line can be torn by a crash; anywhere else it is damage.
      if (index === numbered.length - 1) break;
      return { records, lines, damage: { seq: records.length + 1, line: number, problem: 'the line is not valid JSON: the file was damaged or edited there' } };
    }
    if (record === null || typeof record !== 'object' || Array.isArray(record)) {
      return { records, lines, damage: { seq: records.length + 1, line: number, problem: 'the line is not a record: the file was damaged or edited there' } };
    }
    records.push(record as ChainedRecord);
    lines.push(number);
  }
  return { records, lines, damage: undefined };
}

export interface VerifyOptions {
  /** The key to check seals with; by default this machine's (REKEY_CHAIN_KEY or the key file), if it has one. */
  readonly key?: ChainKey | undefined;
  /** The records were written no earlier than this (a journal's run id says when its run began). */
  readonly notBefore?: number;
  /** The file line of each record, for messages (default: the record's position). */
  readonly lines?: readonly number[];
}

/** The first problem in a chain, or undefined when it is intact (and every seal this machine can check holds). */
export function verifyChain(records: readonly ChainedRecord[], options: VerifyOptions = {}): ChainProblem | undefined {
  const key = 'key' in options ? options.key : checkingKey();
  let prev = GENESIS;
  let sealedSeen = false;
  for (const [index, record] of records.entries()) {
    const line = options.lines?.[index] ?? index + 1;
    const at = (problem: string): ChainProblem => ({ seq: typeof record.seq === 'number' ? record.seq : index + 1, line, problem });
    const { hash, ...rest } = record;
    if (record.seq !== index + 1) return at(`record ${String(record.seq)} stands where record ${index + 1} should: a record was removed or reordered`);
    if (record.prev !== prev) return at(`record ${record.seq} does not follow the record before it: that one was altered or removed`);
    if (hashRecord(rest) !== hash) return at(`record ${record.seq} was altered after it was written`);
    prev = hash;
    if (record.mac !== undefined || record.key !== undefined) {
      const { mac, ...body } = rest;
      if (typeof mac !== 'string' || typeof record.key !== 'string') return at(`record ${record.seq} carries half a seal: it was altered after it was written`);
      if (key === undefined)
        return at(
          `record ${record.seq} is sealed with chain key ${record.key}, and this machine has no chain key to check it with (REKEY_CHAIN_KEY, or ` +
            `the chain.key file of the machine that wrote it)`,
        );
      if (key.id !== record.key)
        return at(
          `record ${record.seq} is sealed with chain key ${record.key}, not with this machine's (${key.id}, from ${key.source}): it cannot be checked here`,
        );
      if (!sealMatches(key, JSON.stringify(body), mac))
        return at(`record ${record.seq} carries a seal that does not match it: it was written or altered by someone without the chain key`);
      sealedSeen = true;
      continue;
    }
    if (sealedSeen) return at(`record ${record.seq} is not sealed though the records before it are: it was added by someone without the chain key`);
    if (key?.since !== undefined) {
      // A record this machine's rekey wrote after it began sealing is sealed. `at` can be forged; a journal's run id
      // cannot be changed without the run's name changing, so it bounds `at` from below.
      const written = Date.parse(record.at);
      const when = Number.isNaN(written) ? Infinity : Math.max(written, options.notBefore ?? -Infinity);
      // Run ids name the second a run began: compare to the second the key was made, or a run begun in that same
      // second would pass for one begun before it.
      if (when >= Math.floor(Date.parse(key.since) / 1000) * 1000)
        return at(
          `record ${record.seq} is not sealed, though rekey has sealed every record on this machine since ${key.since}: it was written by someone ` +
            `without the chain key`,
        );
    }
  }
  return undefined;
}
