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
import { mkdir, rename, unlink, writeFile } from 'node:fs/promises';
import { userInfo, hostname } from 'node:os';
import { join } from 'node:path';
import { fsyncAsync, holdTemporary, temporaryPath } from '../util/atomic-file.js';
import { AuditLogBrokenError, StateFileError, asStateFileError } from '../contract/errors.js';
import { checkingKey, seal, sealMatches, sealingKey, type ChainKey } from './chain-key.js';
import {
  ChainDamageError,
  ChainWriter,
  lastRecord,
  readChain,
  scanChain,
  verifyChain,
  type ChainFileOps,
  type ChainProblem,
  type ChainedRecord,
} from './chain.js';
import { JsonlEnds } from './jsonl-files.js';
import { isNotRegularFile, readRegularFileSync } from '../util/regular-file.js';
import { withFileLock } from '../util/file-lock.js';

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

/**
 * Append one audit record, fsynced before this returns, and move the head (not fsynced: see `syncAuditHead`). A log
 * that was cut or altered at its end is refused (AuditLogBrokenError, exit 3) rather than extended, since a record
 * chained to what is left would make the cut look intact; a state folder or log that cannot be written throws a
 * StateFileError (exit 5). `ops` lets tests make the disk fail.
 *
 * The runs of a fleet append to one log: records that arrive while a group is being written wait and go in the next
 * group, under one take of the lock, one write, one fsync (on the thread pool, off the event loop) and one move of
 * the head, however many runs they come from. A group the disk refuses fails each of its appends.
 */
export function appendAudit(stateDir: string, entry: AuditEntry, ops?: ChainFileOps): Promise<ChainedRecord> {
  return new Promise((resolve, reject) => {
    let queue = queues.get(stateDir);
    if (queue === undefined) {
      queue = { waiting: [], draining: false };
      queues.set(stateDir, queue);
    }
    queue.waiting.push({ entry: { who: who(), ...entry }, ops, resolve, reject });
    if (!queue.draining) {
      queue.draining = true;
      queueMicrotask(() => void drainAudit(stateDir, queue));
    }
  });
}

interface AuditWaiting {
  readonly entry: Record<string, unknown>;
  readonly ops: ChainFileOps | undefined;
  readonly resolve: (record: ChainedRecord) => void;
  readonly reject: (error: unknown) => void;
}

/** The appends of this process waiting for the audit log, per state folder. */
const queues = new Map<string, { waiting: AuditWaiting[]; draining: boolean }>();

async function drainAudit(stateDir: string, queue: { waiting: AuditWaiting[]; draining: boolean }): Promise<void> {
  try {
    while (queue.waiting.length > 0) {
      // One group per file-operations object: a test's failing disk never takes another append's record with it.
      const ops = queue.waiting[0]!.ops;
      const group = queue.waiting.filter((w) => w.ops === ops);
      queue.waiting = queue.waiting.filter((w) => w.ops !== ops);
      try {
        const records = await appendGroup(stateDir, group, ops);
        group.forEach((w, i) => {
          const record = records[i];
          if (record instanceof Error) w.reject(record);
          else w.resolve(record!);
        });
      } catch (error) {
        for (const w of group) w.reject(error);
      }
    }
  } finally {
    queue.draining = false;
  }
}

/** Write a group of records under the audit lock: each the record written, or the error that refused it. */
async function appendGroup(stateDir: string, group: readonly AuditWaiting[], ops: ChainFileOps | undefined): Promise<Array<ChainedRecord | Error>> {
  try {
    await mkdir(stateDir, { recursive: true, mode: 0o700 });
  } catch (error) {
    throw new StateFileError('create the state folder', stateDir, error);
  }
  const lock = `${auditFile(stateDir)}.lock`;
  // Runs of other credentials, in other processes, append to the same chain: reading its tail and writing the next
  // records is one step under a lock, or two of them would both write record N+1.
  try {
    return await withFileLock(lock, async () => {
      checkAuditAppendable(stateDir);
      const writer = new ChainWriter(auditFile(stateDir), 0o600, undefined, ops);
      const settled = await Promise.allSettled(group.map((w) => writer.appendAsync(w.entry)));
      await writer.close();
      const written = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
      if (written.length > 0) await moveHead(stateDir, written.at(-1)!);
      return settled.map((s) => (s.status === 'fulfilled' ? s.value : asError(s.reason)));
    });
  } catch (error) {
    throw asStateFileError('take the audit lock', lock, error);
  }
}

const asError = (reason: unknown): Error => (reason instanceof Error ? reason : new Error(String(reason)));

/** The head as its file says, or undefined when there is none (missing, or left empty by a power cut). */
interface Head {
  readonly seq: number;
  readonly hash: string;
  readonly key?: string;
  readonly mac?: string;
}

function readHead(stateDir: string): Head | undefined {
  let text: string;
  try {
    text = readRegularFileSync(headFile(stateDir)).toString('utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    // Not a regular file (a link to /dev/zero, a FIFO): no head rekey wrote, which verify reports as a removed head.
    if (isNotRegularFile(error)) return undefined;
    throw new StateFileError('read', headFile(stateDir), error);
  }
  try {
    const head = JSON.parse(text) as Head;
    return typeof head?.seq === 'number' && typeof head.hash === 'string' ? head : undefined;
  } catch {
    // A rename that reached the disk before its content leaves an empty head: that reads as no head.
    return undefined;
  }
}

/** The text a head's seal covers. */
function headText(head: { seq: number; hash: string; key?: string | undefined }): string {
  return `rekey audit.head ${head.seq} ${head.hash} ${head.key ?? ''}`;
}

/** What is wrong with the head itself: a seal that does not hold, or none where the record it names is sealed. */
function headSealProblem(head: Head, named: ChainedRecord | undefined, key: ChainKey | undefined): string | undefined {
  if (head.mac !== undefined || head.key !== undefined) {
    if (typeof head.mac !== 'string' || typeof head.key !== 'string') return 'audit.head carries half a seal: it was altered';
    if (key !== undefined && key.id === head.key && !sealMatches(key, headText(head), head.mac))
      return 'audit.head carries a seal that does not match it: it was written by someone without the chain key';
    return undefined;
  }
  if (named?.mac !== undefined) return `audit.head is not sealed though record ${named.seq} it names is: it was written by someone without the chain key`;
  return undefined;
}

/**
 * The head against the log's end: a head ahead of the log means records were cut off the end; a head naming a record
 * whose hash differs means the record was replaced. A head that lags (a crash before it moved) is no problem. Reads
 * only the log's tail.
 */
function tailProblem(stateDir: string): ChainProblem | undefined {
  const head = readHead(stateDir);
  const file = auditFile(stateDir);
  let last: ChainedRecord | undefined;
  try {
    last = lastRecord(file);
  } catch (error) {
    if (!(error instanceof ChainDamageError)) throw error;
    // The full scan names the line; the tail reader knows only that one near the end is bad.
    const { damage } = scanChain(file);
    return damage ?? { seq: 0, line: 0, problem: 'a line near the end is not valid JSON: the file was damaged or edited there' };
  }
  if (head === undefined) return undefined;
  const lastSeq = last?.seq ?? 0;
  if (lastSeq < head.seq) return cutProblem(lastSeq, head.seq);
  let named: ChainedRecord | undefined = last;
  if (last !== undefined && last.seq > head.seq) {
    // The head lags: find the record it names, a few lines from the end.
    named = undefined;
    const ends = JsonlEnds.open(file);
    try {
      ends?.fromEnd((line) => {
        try {
          const record = JSON.parse(line) as ChainedRecord;
          if (record.seq === head.seq) named = record;
          return record.seq <= head.seq;
        } catch {
          return false;
        }
      });
    } finally {
      ends?.close();
    }
  }
  if (named === undefined || named.hash !== head.hash)
    return {
      seq: head.seq,
      line: head.seq,
      problem: named?.seq === lastSeq ? `the last record (${head.seq}) was replaced` : `record ${head.seq}, which audit.head names, was replaced`,
    };
  const sealProblem = headSealProblem(head, named, checkingKey());
  return sealProblem === undefined ? undefined : { seq: head.seq, line: head.seq, problem: sealProblem };
}

function cutProblem(lastSeq: number, headSeq: number): ChainProblem {
  return {
    seq: lastSeq + 1,
    line: lastSeq + 1,
    problem: lastSeq + 1 === headSeq ? `record ${headSeq} was removed from the end` : `records ${lastSeq + 1} to ${headSeq} were removed from the end`,
  };
}

/**
 * Refuse (AuditLogBrokenError, exit 3) when the audit log was cut or altered at its end, as `appendAudit` does before
 * each record: for the engine to call before anything is minted, so that a run never starts that could not be audited.
 * Reads only the log's tail and the head; nothing is written.
 */
export function checkAuditAppendable(stateDir: string): void {
  const problem = tailProblem(stateDir);
  if (problem !== undefined) throw new AuditLogBrokenError(auditFile(stateDir), problem.line, problem.problem);
}

/**
 * An audit record as an NDJSON event, for the run's --json stream: a log pipeline that keeps these holds a copy of
 * the chain (hashes and seals included) outside the state folder, which shows a cut or a rewrite of the local log.
 */
export function auditRecordEvent(record: ChainedRecord): { event: 'audit.record' } & ChainedRecord {
  return { event: 'audit.record', ...record };
}

/**
 * Point the head at a record that is already durable in the log: a new file renamed over the old one, so that a
 * reader sees the old head or the new one, never a mix. Not fsynced (a head that lags after a power cut is allowed);
 * a head left empty by one reads as no head, which verify does not report either.
 */
async function moveHead(stateDir: string, record: ChainedRecord): Promise<void> {
  const head = headFile(stateDir);
  // Named as atomic-file names temporary files, so that one left by a kill here is removed by sweepStateDir.
  const temp = temporaryPath(head);
  // Sealed with the key that sealed the record, so that a head rewritten to match a cut log shows.
  const key = record.key === undefined ? undefined : sealingKey();
  const body = { seq: record.seq, hash: record.hash, ...(key === undefined ? {} : { key: key.id }) };
  const content = key === undefined ? body : { ...body, mac: seal(key, headText(body)) };
  // Another run of this process may sweep the state folder while the file waits for its rename: it must leave it.
  const release = holdTemporary(temp);
  try {
    try {
      await writeFile(temp, `${JSON.stringify(content)}\n`, { mode: 0o600, flag: 'wx' });
    } catch (error) {
      throw new StateFileError('write', temp, error);
    }
    try {
      await rename(temp, head);
    } catch (error) {
      await unlink(temp).catch(() => undefined);
      throw new StateFileError('move the audit head to', head, error);
    }
  } finally {
    release();
  }
}

/** Make the head durable (its content and its rename): once per run, after the run's last audit record; on the thread pool. */
export async function syncAuditHead(stateDir: string): Promise<void> {
  try {
    await fsyncAsync(headFile(stateDir));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  await fsyncAsync(stateDir);
}

/**
 * Check the audit log: every line a record, the chain unbroken, every seal valid under this machine's chain key, and
 * the head not ahead of the log nor naming a replaced record. The first problem, with its line, or the record count.
 */
export function verifyAudit(stateDir: string): { ok: true; records: number } | { ok: false; seq: number; line: number; problem: string } {
  // The head first, then the log: a run appending meanwhile can only make the log longer than the head read here
  // (each record is durable before the head moves to it), never shorter.
  const head = readHead(stateDir);
  const { records, lines, damage } = scanChain(auditFile(stateDir));
  const key = checkingKey();
  const broken = verifyChain(records, { key, lines });
  if (broken !== undefined) return { ok: false, ...broken };
  if (damage !== undefined) return { ok: false, ...damage };
  const last = records.at(-1);
  if (head !== undefined) {
    const lastSeq = last?.seq ?? 0;
    if (lastSeq < head.seq) {
      const cut = cutProblem(lastSeq, head.seq);
      return { ok: false, ...cut, line: (lines.at(-1) ?? 0) + 1 };
    }
    const named = records[head.seq - 1];
    if (named === undefined || named.hash !== head.hash) {
      const problem = named === last ? `the last record (${head.seq}) was replaced` : `record ${head.seq}, which audit.head names, was replaced`;
      return { ok: false, seq: head.seq, line: lines[head.seq - 1] ?? head.seq, problem };
    }
    const sealProblem = headSealProblem(head, named, key);
    if (sealProblem !== undefined) return { ok: false, seq: head.seq, line: lines[head.seq - 1] ?? head.seq, problem: sealProblem };
  }
  return { ok: true, records: records.length };
}

/** Audit records, oldest first. */
export function readAudit(stateDir: string): ChainedRecord[] {
  return readChain(auditFile(stateDir));
}
