/**
 * The audit log, `.rekey/audit.jsonl` (mode 0600): one hash-chained record per phase outcome — who, when,
 * credential, run, fingerprints, result. A head file remembers the last record so that cutting records off the
 * end is caught as well as altering one in the middle.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { userInfo, hostname } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic } from '../util/atomic-file.js';
import { ChainWriter, readChain, verifyChain, type ChainedRecord } from './chain.js';

export interface AuditEntry {
  readonly credential: string;
  readonly run: string;
  readonly mode: string;
  readonly phase: string;
  readonly result: 'done' | 'failed' | 'rolled-back' | 'skipped';
  readonly fingerprints?: { old?: string | undefined; new?: string | undefined };
  readonly detail?: string;
}

export function auditFile(stateDir: string): string {
  return join(stateDir, 'audit.jsonl');
}

function headFile(stateDir: string): string {
  return join(stateDir, 'audit.head');
}

/** Append one audit record (and move the head). */
export function appendAudit(stateDir: string, entry: AuditEntry): ChainedRecord {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const writer = new ChainWriter(auditFile(stateDir), 0o600);
  let who = 'unknown';
  try {
    who = `${userInfo().username}@${hostname()}`;
  } catch {
    // A container without a passwd entry has no user name; the uid still says who.
    who = `uid ${process.getuid?.() ?? '?'}@${hostname()}`;
  }
  const record = writer.append({ who, ...entry });
  writeFileAtomic(headFile(stateDir), `${JSON.stringify({ seq: record.seq, hash: record.hash })}\n`, 0o600);
  return record;
}

/** Check the audit log; the first broken record, or undefined when intact. */
export function verifyAudit(stateDir: string): { ok: true; records: number } | { ok: false; seq: number; line: number; problem: string } {
  const records = readChain(auditFile(stateDir));
  const broken = verifyChain(records);
  if (broken !== undefined) return { ok: false, ...broken };
  let head: { seq: number; hash: string } | undefined;
  try {
    head = JSON.parse(readFileSync(headFile(stateDir), 'utf8')) as { seq: number; hash: string };
  } catch {
    head = undefined;
  }
  const last = records.at(-1);
  if (head !== undefined && (last === undefined || last.seq < head.seq)) {
    return { ok: false, seq: (last?.seq ?? 0) + 1, line: records.length + 1, problem: `record ${(last?.seq ?? 0) + 1} to ${head.seq} were removed from the end` };
  }
  if (head !== undefined && last !== undefined && last.seq === head.seq && last.hash !== head.hash) {
    return { ok: false, seq: last.seq, line: records.length, problem: 'the last record was replaced' };
  }
  return { ok: true, records: records.length };
}

/** Audit records, oldest first. */
export function readAudit(stateDir: string): ChainedRecord[] {
  return readChain(auditFile(stateDir));
}
