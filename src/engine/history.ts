/**
 * What the journals say about past runs: for `status`, `log` and `rotate --due`.
 *
 * A run's summary needs only the two ends of its journal: the first record (`run.started`: credential, mode,
 * runbook, start) and, from the end backwards, the last `run.finished` or `run.resumed`, whichever comes later. So a
 * journal is read by its ends (src/engine/jsonl-files.ts), once per command, and `status` stops reading journals as
 * soon as every credential it shows has its newest run and its newest done run. This module loads no more than
 * node:fs, for `status` to start fast.
 */
import type { JournalRecord } from './journal.js';
import { journalFile, JsonlEnds, listRuns } from './jsonl-files.js';

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

type Started = JournalRecord & { type: 'run.started' };
type Finished = JournalRecord & { type: 'run.finished' };

/**
 * Summarise one journal. A resumed run that finished later counts from its last end, and a failure followed by a
 * resume is not the end: the result is that of the last `run.finished` only if no `run.resumed` follows it.
 * Lines are read as `readChain` reads them: a torn last line is ignored, and any other line read that is not JSON is
 * damage (an error, as `readJournal` would raise).
 */
export function runInfo(stateDir: string, run: string): RunInfo | undefined {
  const file = journalFile(stateDir, run);
  const ends = JsonlEnds.open(file);
  if (ends === undefined) return undefined;
  try {
    const first = startOf(ends);
    if (first === undefined) return undefined;
    const finished = lastEnd(ends);
    return {
      run,
      credential: first.credential,
      mode: first.mode,
      runbook: first.runbook,
      startedAt: first.at,
      finishedAt: finished?.at,
      result: finished?.result ?? 'interrupted',
      ms: finished === undefined ? undefined : Date.parse(finished.at) - Date.parse(first.at),
      error: finished?.error,
    };
  } finally {
    ends.close();
  }
}

/** The journal's first record when it is a `run.started`. */
function startOf(ends: JsonlEnds): Started | undefined {
  const line = ends.firstLine();
  if (line === undefined) return undefined;
  let first: JournalRecord;
  try {
    first = JSON.parse(line) as JournalRecord;
  } catch (error) {
    // The only line of a journal may be torn by a crash (no run yet); a bad first line with more after it is damage.
    let lines = 0;
    ends.fromEnd(() => ++lines > 1);
    if (lines <= 1) return undefined;
    throw new Error(`${ends.file}: line 1 is not valid JSON`, { cause: error });
  }
  return first?.type === 'run.started' ? (first as Started) : undefined;
}

/** The last `run.finished`, unless a `run.resumed` comes after it (then the run has not ended since its resume). */
function lastEnd(ends: JsonlEnds): Finished | undefined {
  let finished: Finished | undefined;
  let lastLine = true;
  ends.fromEnd((line) => {
    let record: JournalRecord;
    try {
      record = JSON.parse(line) as JournalRecord;
    } catch (error) {
      // Only the last line may be torn by a crash mid-write.
      if (!lastLine) throw new Error(`${ends.file}: a line near the end is not valid JSON`, { cause: error });
      lastLine = false;
      return false;
    }
    lastLine = false;
    if (record?.type === 'run.finished') finished = record as Finished;
    return record?.type === 'run.finished' || record?.type === 'run.resumed';
  });
  return finished;
}

/** Every run, newest first. */
export function allRuns(stateDir: string): RunInfo[] {
  return listRuns(stateDir)
    .reverse()
    .map((run) => runInfo(stateDir, run))
    .filter((info): info is RunInfo => info !== undefined);
}

export interface LastRuns {
  /** The newest run that finished `done`. */
  readonly lastDone: RunInfo | undefined;
  /** The newest run of any result. */
  readonly last: RunInfo | undefined;
}

/**
 * For each credential, its newest run that finished `done` and its newest run: journals newest first, each read
 * once (by its ends), stopping as soon as every credential asked for has both.
 */
export function lastRunsOf(stateDir: string, credentials: Iterable<string>): Map<string, LastRuns> {
  const found = new Map<string, { lastDone: RunInfo | undefined; last: RunInfo | undefined }>();
  for (const credential of credentials) found.set(credential, { lastDone: undefined, last: undefined });
  let open = [...found.values()].filter((f) => f.lastDone === undefined).length;
  const runs = listRuns(stateDir);
  for (let i = runs.length - 1; i >= 0 && open > 0; i--) {
    const info = runInfo(stateDir, runs[i]!);
    if (info === undefined) continue;
    const entry = found.get(info.credential);
    if (entry === undefined || entry.lastDone !== undefined) continue;
    entry.last ??= info;
    if (info.result === 'done') {
      entry.lastDone = info;
      open--;
    }
  }
  return found;
}

/** The newest run of a credential that finished `done`, and the newest run of any result. */
export function lastRuns(stateDir: string, credential: string): LastRuns {
  return lastRunsOf(stateDir, [credential]).get(credential)!;
}
