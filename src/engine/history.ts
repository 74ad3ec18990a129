/** What the journals say about past runs: for `status`, `log` and `rotate --due`. */
import { listRuns, readJournal, type JournalRecord } from './journal.js';

export interface RunInfo {
  readonly run: string;
  readonly credential: string;
  readonly mode: string;
  readonly runbook: string;
  readonly startedAt: string;
  readonly finishedAt: string | undefined;
  /** `done`, `failed`, `rolled-back`, or `interrupted` when the journal stops without an end. */
  readonly result: string;
  readonly ms: number | undefined;
  readonly error: string | undefined;
}

/** Summarise one journal. */
export function runInfo(stateDir: string, run: string): RunInfo | undefined {
  const records = readJournal(stateDir, run);
  const first = records[0];
  if (first === undefined || first.type !== 'run.started') return undefined;
  const finished = records.findLast((r): r is JournalRecord & { type: 'run.finished' } => r.type === 'run.finished');
  // A resumed run that finished later counts from its last end, and a failure followed by a resume is not the end.
  const lastResume = records.findLastIndex((r) => r.type === 'run.resumed');
  const finishedAfterResume = finished !== undefined && records.indexOf(finished) > lastResume ? finished : undefined;
  return {
    run,
    credential: first.credential,
    mode: first.mode,
    runbook: first.runbook,
    startedAt: first.at,
    finishedAt: finishedAfterResume?.at,
    result: finishedAfterResume?.result ?? 'interrupted',
    ms: finishedAfterResume === undefined ? undefined : Date.parse(finishedAfterResume.at) - Date.parse(first.at),
    error: finishedAfterResume?.error,
  };
}

/** Every run, newest first. */
export function allRuns(stateDir: string): RunInfo[] {
  return listRuns(stateDir)
    .reverse()
    .map((run) => runInfo(stateDir, run))
    .filter((info): info is RunInfo => info !== undefined);
}

/** The newest run of a credential that finished `done`, and the newest run of any result. */
export function lastRuns(stateDir: string, credential: string): { lastDone: RunInfo | undefined; last: RunInfo | undefined } {
  const runs = allRuns(stateDir).filter((r) => r.credential === credential);
  return { lastDone: runs.find((r) => r.result === 'done'), last: runs[0] };
}
