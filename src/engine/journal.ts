/**
 * The run journal, `.rekey/runs/<run-id>.jsonl`: append-only, fsynced per record, hash-chained, holding
 * fingerprints and version ids and never a value. It is what `rekey resume` continues from.
 */
import { mkdirSync } from 'node:fs';
import { JournalBrokenError, StateFileError } from '../contract/errors.js';
import { ChainDamageError, ChainWriter, scanChain, verifyChain, type ChainFileOps, type ChainProblem, type ChainedRecord } from './chain.js';
import { markResuming } from './history-index-write.js';
import { journalFile, runsDir } from './jsonl-files.js';
import type { Mode, WindowBasis } from '../contract/run.js';

/** Journal record types. */
export type JournalEvent =
  | { type: 'run.started'; credential: string; runbook: string; overlap: string; mode: Mode; pid: number; host: string; since?: string; revokeFirst?: boolean }
  | { type: 'run.resumed'; pid: number }
  | { type: 'step.started'; phase: string; step: string; kind?: string }
  | { type: 'step.done'; phase: string; step: string; kind?: string; ms: number; human?: boolean; waitMs?: number; data?: Record<string, unknown> }
  | { type: 'step.failed'; phase: string; step: string; kind?: string; ms: number; error: string }
  // Written right before a call that may mint a key at the provider, and right after the provider returned one (its
  // fingerprint, before it is staged): a resume that finds an intent without a staged value knows a key may exist
  // that rekey does not hold.
  | { type: 'mint.intent'; step: string; repeat: 'local' | 'idempotent' | 'adapter' | 'person' | 'unsafe' }
  | { type: 'mint.minted'; fingerprint: string }
  // The outage (or revoke-first) window opened at `openedAt`, counted from `basis` (WindowBasis): a resumed run counts
  // it from the same moment. Absent in journals of older releases: the mint's (or revoke's) start is used then.
  | { type: 'window.opened'; openedAt: string; basis: WindowBasis }
  | { type: 'run.finished'; result: 'done' | 'failed' | 'rolled-back'; error?: string };

export type JournalRecord = ChainedRecord & JournalEvent;

export { journalFile, listRuns, runsDir } from './jsonl-files.js';

/**
 * A run's journal as far as it can be read, UNCHECKED: the records before the first damaged line, with no check of the
 * chain or its seals. For looking only (which credential a run is of, whether it ended); never act on it: act on
 * `readVerifiedJournal`.
 */
export function readJournal(stateDir: string, run: string): JournalRecord[] {
  return scanChain(journalFile(stateDir, run)).records as JournalRecord[];
}

/** What checking a journal found: its records when intact, else the first bad record and the records before it. */
export type JournalCheck =
  | { readonly ok: true; readonly file: string; readonly records: JournalRecord[] }
  | ({ readonly ok: false; readonly file: string; readonly records: JournalRecord[] } & ChainProblem);

/**
 * When a run began, from its id (`20261124T024512Z-…`, to the second): records of the run cannot have been written
 * before it, whatever their `at` says. Undefined for an id of another shape.
 */
function runBegan(run: string): number | undefined {
  const match = /^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z-/.exec(run);
  if (match === null) return undefined;
  const [, y, mo, d, h, mi, sec] = match.map(Number) as [number, number, number, number, number, number, number];
  return Date.UTC(y, mo - 1, d, h, mi, sec);
}

/**
 * Check a run's journal: every line a record, the hash chain unbroken, every seal valid under this machine's chain key,
 * and no unsealed record where rekey would have sealed one (whether it begins with `run.started` is the caller's to
 * judge). For `status` and `log`,
 * which show a broken journal as damaged and go on; a missing journal is intact and empty.
 */
export function verifyJournal(stateDir: string, run: string): JournalCheck {
  const file = journalFile(stateDir, run);
  const { records, lines, damage } = scanChain(file);
  const journal = records as JournalRecord[];
  const began = runBegan(run);
  const broken = verifyChain(records, { lines, ...(began === undefined ? {} : { notBefore: began }) });
  if (broken !== undefined) return { ok: false, file, records: journal.slice(0, broken.seq - 1), ...broken };
  if (damage !== undefined) return { ok: false, file, records: journal, ...damage };
  return { ok: true, file, records: journal };
}

/**
 * A run's journal, checked before anyone acts on it (resume, rollback): the records when the journal is intact; a
 * JournalBrokenError (refused, exit 3) naming the run, the first bad record's line and number, and the problem
 * otherwise. A missing journal reads as no records (the caller says there is no such run).
 */
export function readVerifiedJournal(stateDir: string, run: string): JournalRecord[] {
  const check = verifyJournal(stateDir, run);
  if (!check.ok) throw new JournalBrokenError(run, check.file, check.line, check.seq, check.problem);
  return check.records;
}

/**
 * Test hook: `REKEY_TEST_KILL_AFTER_RECORD=N` makes the process SIGKILL itself right after record N is fsynced,
 * so tests can stop a real run at every journal boundary in turn. It only ever ends the process.
 */
function killHook(): ((seq: number) => void) | undefined {
  const after = Number(process.env['REKEY_TEST_KILL_AFTER_RECORD']);
  if (!Number.isInteger(after) || after <= 0) return undefined;
  return (seq) => {
    if (seq === after) process.kill(process.pid, 'SIGKILL');
  };
}

/**
 * Opens (or continues) a run's journal for writing. A runs folder or journal that cannot be written throws a
 * StateFileError (an environment fault, exit 5); a journal whose last lines are damaged, a JournalBrokenError.
 */
export class Journal {
  readonly #writer: ChainWriter;

  constructor(
    readonly stateDir: string,
    readonly run: string,
    ops?: ChainFileOps,
  ) {
    const dir = runsDir(stateDir);
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
    } catch (error) {
      throw new StateFileError('create the runs folder', dir, error);
    }
    try {
      this.#writer = new ChainWriter(journalFile(stateDir, run), 0o600, killHook(), ops);
    } catch (error) {
      if (!(error instanceof ChainDamageError)) throw error;
      // The tail reader knows only that a line near the end is bad; the full check names it.
      const check = verifyJournal(stateDir, run);
      throw check.ok ? error : new JournalBrokenError(run, check.file, check.line, check.seq, check.problem);
    }
  }

  get file(): string {
    return this.#writer.file;
  }

  /**
   * Append one record, on disk (fsynced unless `durable: false`) when the promise resolves, the disk's work done off
   * the event loop and grouped with the run's other pending records (ChainWriter.appendAsync); a StateFileError when
   * the disk will not take it. Nothing may act on a record before its append has resolved.
   */
  async append(event: JournalEvent, options: { durable?: boolean } = {}): Promise<JournalRecord> {
    // A run that may look finished goes on: the history index marks it first (src/engine/history-index.ts).
    if (event.type === 'run.resumed') markResuming(this.stateDir, this.run);
    return (await this.#writer.appendAsync(event, options)) as JournalRecord;
  }

  /** Close the journal's file, once what was appended is written (the end of the run). */
  close(): Promise<void> {
    return this.#writer.close();
  }

  /** The journal's records, checked as `readVerifiedJournal` checks them: a broken journal throws JournalBrokenError. */
  records(): JournalRecord[] {
    return readVerifiedJournal(this.stateDir, this.run);
  }
}
