/**
 * One journal summarised, as `status`, `log` and the history index (src/engine/history-index.ts) see it: its run's
 * credential, start, end and result, checked as `resume` checks it (src/engine/journal.ts: chain and seals), and
 * whether the run may still hold a value in a store, as `refuseWhileUnfinished` judges it. This module loads the
 * journal reader (node:crypto and the chain checker); `status` imports it only when a journal must be read.
 */
import type { RunInfo } from './history-index-file.js';
import { journalFingerprint } from './history-index-file.js';
import { readJournal, verifyJournal, type JournalRecord } from './journal.js';

export type { RunInfo } from './history-index-file.js';

type Started = JournalRecord & { type: 'run.started' };
type Finished = JournalRecord & { type: 'run.finished' };

/**
 * Summarise one journal. A resumed run that finished later counts from its last end, and a failure followed by a
 * resume is not the end: the result is that of the last `run.finished` only if no `run.resumed` follows it. A torn
 * last line (a crash mid-append) is ignored. A journal that fails its check is `damaged`, with the credential, mode
 * and start its first record claims (unchecked, for showing only) when it has one. Undefined for a missing or empty
 * journal, or one that is no run (its intact first record is not `run.started`).
 */
export function runInfo(stateDir: string, run: string): RunInfo | undefined {
  const check = verifyJournal(stateDir, run);
  if (!check.ok) {
    const claimed = check.records[0] as Partial<Started> | undefined;
    return {
      run,
      credential: typeof claimed?.credential === 'string' ? claimed.credential : '?',
      mode: typeof claimed?.mode === 'string' ? claimed.mode : '?',
      runbook: typeof claimed?.runbook === 'string' ? claimed.runbook : '?',
      startedAt: typeof claimed?.at === 'string' ? claimed.at : '?',
      finishedAt: undefined,
      result: 'damaged',
      ms: undefined,
      error: undefined,
      damaged: `line ${check.line}${check.line === check.seq ? '' : ` (record ${check.seq})`}: ${check.problem}`,
    };
  }
  const records = check.records;
  const first = records[0];
  if (first === undefined || first.type !== 'run.started') return undefined;
  const started = first as Started;
  const finished = lastEnd(records);
  return {
    run,
    credential: started.credential,
    mode: started.mode,
    runbook: started.runbook,
    startedAt: started.at,
    finishedAt: finished?.at,
    result: finished?.result ?? 'interrupted',
    ms: finished === undefined ? undefined : Date.parse(finished.at) - Date.parse(started.at),
    error: finished?.error,
    damaged: undefined,
  };
}

/** The last `run.finished`, unless a `run.resumed` comes after it (then the run has not ended since its resume). */
function lastEnd(records: readonly JournalRecord[]): Finished | undefined {
  for (let i = records.length - 1; i >= 0; i--) {
    const record = records[i]!;
    if (record.type === 'run.resumed') return undefined;
    if (record.type === 'run.finished') return record as Finished;
  }
  return undefined;
}

/** A journal as the history index keeps it. */
export interface JournalSummary {
  readonly run: string;
  /** The checked summary; undefined for no run (see `runInfo`). */
  readonly info: RunInfo | undefined;
  /** The credential its first record names, unchecked: the one whose new runs an unfinished run can block. */
  readonly claimed: string | undefined;
  /** Whether the run may still hold a value in a store: it did not finish, or its last end is `failed`. */
  readonly open: boolean;
  /** The journal file's fingerprint, taken before it was read: a change after that shows as another fingerprint. */
  readonly fp: string;
}

/**
 * Summarise a journal for the history index. `open` is judged on the records as far as they can be read, unchecked,
 * as `refuseWhileUnfinished` (src/engine/run.ts) always judged it: a damaged journal may still name a run that staged
 * a value, and that run must still block a new one (a journal that cannot be read at all blocks nothing: its run is
 * `rekey status`'s to name).
 */
export function summarizeJournal(stateDir: string, run: string): JournalSummary {
  const fp = journalFingerprint(stateDir, run);
  const info = runInfo(stateDir, run);
  let records: JournalRecord[] = [];
  try {
    records = readJournal(stateDir, run);
  } catch {
    records = [];
  }
  const first = records[0];
  const claimed = first?.type === 'run.started' ? first.credential : undefined;
  const last = records.findLast((r) => r.type === 'run.finished' || r.type === 'run.resumed');
  const open = claimed !== undefined && !(last?.type === 'run.finished' && last.result !== 'failed');
  return { run, info, claimed, open, fp };
}
