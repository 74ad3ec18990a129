/**
 * The audit log, `.rekey/audit.jsonl` (mode 0600): one hash-chained record per phase outcome — who, when,
 * credential, run, fingerprints, result. A head file remembers the last record so that cutting records off the
 * end is caught as well as altering one in the middle.
 *
 * Cost of an append, whatever the log's length: the log's tail is read to chain to its last record (never the head,
 * which may lag), the record is written and fsynced (1 fsync) before the caller goes on, and the head is moved by an
 * atomic rename that is not fsynced. `syncAuditHead`, once at the end of a run, makes the head durable (2 fsyncs).
 * Since each record is durable before the head names it, a crash can leave the head behind the log (which verify
 * accepts: the next append moves it) but never ahead of it (which verify reports as records cut off the end).
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { userInfo, hostname } from 'node:os';
import { join } from 'node:path';
import { fsyncDir, temporaryPath } from '../util/atomic-file.js';
import { ChainWriter, readChain, verifyChain, type ChainedRecord } from './chain.js';
import { withFileLockSync } from '../util/file-lock.js';

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

let whoAmI: string | undefined;
function who(): string {
  if (whoAmI !== undefined) return whoAmI;
  try {
    whoAmI = `${userInfo().username}@${hostname()}`;
  } catch {
    // A container without a passwd entry has no user name; the uid still says who.
    whoAmI = `uid ${process.getuid?.() ?? '?'}@${hostname()}`;
  }
  return whoAmI;
}

/** Append one audit record, fsynced before this returns, and move the head (not fsynced: see `syncAuditHead`). */
export function appendAudit(stateDir: string, entry: AuditEntry): ChainedRecord {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  // Runs of other credentials, in other processes, append to the same chain: reading its tail and writing the next
  // record is one step under a lock, or two of them would both write record N+1.
  return withFileLockSync(`${auditFile(stateDir)}.lock`, () => {
    const writer = new ChainWriter(auditFile(stateDir), 0o600);
    const record = writer.append({ who: who(), ...entry });
    moveHead(stateDir, record);
    return record;
  });
}

/**
 * Point the head at a record that is already durable in the log: a new file renamed over the old one, so that a
 * reader sees the old head or the new one, never a mix. Not fsynced (a head that lags after a power cut is allowed);
 * a head left empty by one reads as no head, which verify does not report either.
 */
function moveHead(stateDir: string, record: ChainedRecord): void {
  const head = headFile(stateDir);
  // Named as atomic-file names temporary files, so that one left by a kill here is removed by sweepStateDir.
  const temp = temporaryPath(head);
  writeFileSync(temp, `${JSON.stringify({ seq: record.seq, hash: record.hash })}\n`, { mode: 0o600, flag: 'wx' });
  try {
    renameSync(temp, head);
  } catch (error) {
    unlinkSync(temp);
    throw error;
  }
}

/** Make the head durable (its content and its rename): once per run, after the run's last audit record. */
export function syncAuditHead(stateDir: string): void {
  let fd: number;
  try {
    fd = openSync(headFile(stateDir), 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  fsyncDir(stateDir);
}

/** Check the audit log; the first broken record, or undefined when intact. */
export function verifyAudit(stateDir: string): { ok: true; records: number } | { ok: false; seq: number; line: number; problem: string } {
  // The head first, then the log: a run appending meanwhile can only make the log longer than the head read here
  // (each record is durable before the head moves to it), never shorter.
  let head: { seq: number; hash: string } | undefined;
  try {
    head = JSON.parse(readFileSync(headFile(stateDir), 'utf8')) as { seq: number; hash: string };
  } catch {
    head = undefined;
  }
  const records = readChain(auditFile(stateDir));
  const broken = verifyChain(records);
  if (broken !== undefined) return { ok: false, ...broken };
  const last = records.at(-1);
  if (head !== undefined && (last === undefined || last.seq < head.seq)) {
    return { ok: false, seq: (last?.seq ?? 0) + 1, line: records.length + 1, problem: (last?.seq ?? 0) + 1 === head.seq ? `record ${head.seq} was removed from the end` : `records ${(last?.seq ?? 0) + 1} to ${head.seq} were removed from the end` };
  }
  if (head !== undefined && last !== undefined && last.seq === head.seq && last.hash !== head.hash) {
    return { ok: false, seq: last.seq, line: records.length, problem: `the last record (${last.seq}) was replaced` };
  }
  return { ok: true, records: records.length };
}

/** Audit records, oldest first. */
export function readAudit(stateDir: string): ChainedRecord[] {
  return readChain(auditFile(stateDir));
}
