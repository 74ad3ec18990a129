/**
 * What the journals say about past runs: for `status`, `log` and `rotate --due`.
 *
 * Each journal is read once per command, in full, and checked as `resume` checks it (src/engine/journal.ts): its
 * chain and seals. A journal that fails the check is summarised as `damaged`, naming the first bad line, and never
 * counts as a finished rotation (so a forged `done` cannot make a credential look fresh); the other journals are
 * unaffected. `status` stops reading journals as soon as every credential it shows has its newest run and its newest
 * done run, so it reads only the few newest journals; a rotation reads only its own credential's
 * (`runsOf`). This module loads node:fs, node:crypto and the chain checker.
 */
import { JsonlEnds, journalFile, listRuns } from './jsonl-files.js';
import { verifyJournal, type JournalRecord } from './journal.js';

/**
 * The credential of each run seen by this process, from its journal's first record (`run.started`), by state folder and
 * run id. A journal's first record never changes once written, so each is read once per process, and only its first
 * line: a fleet's thousand rotations then look through the runs folder's listing, not through every journal, to find
 * the runs of their own credential (which its lock keeps still while it runs). Unchecked, as `readJournal` is: it only
 * chooses which journals to read and check in full.
 */
const credentialOfRun = new Map<string, string | null>();

function claimedCredential(stateDir: string, run: string): string | undefined {
  const key = `${stateDir}\0${run}`;
  const known = credentialOfRun.get(key);
  if (known !== undefined) return known ?? undefined;
  const file = JsonlEnds.open(journalFile(stateDir, run));
  if (file === undefined) return undefined;
  let line: string | undefined;
  try {
    line = file.firstLine();
  } catch {
    return undefined;
  } finally {
    file.close();
  }
  if (line === undefined) return undefined;
  let first: unknown;
  try {
    first = JSON.parse(line);
  } catch {
    // A first line still being written (or damaged) is not remembered: the next look reads it again.
    return undefined;
  }
  const record = first as { type?: unknown; credential?: unknown } | null;
  const credential = record?.type === 'run.started' && typeof record.credential === 'string' ? record.credential : null;
  credentialOfRun.set(key, credential);
  return credential ?? undefined;
}

/** The runs of one credential, oldest first, by what each journal's first record says (see `claimedCredential`). */
export function runsOf(stateDir: string, credential: string): string[] {
  return listRuns(stateDir).filter((run) => claimedCredential(stateDir, run) === credential);
}

export interface RunInfo {
  readonly run: string;
  readonly credential: string;
  readonly mode: string;
  readonly runbook: string;
  readonly startedAt: string;
  readonly finishedAt: string | undefined;
  /** `done`, `failed`, `rolled-back`, `interrupted` when the journal stops without an end, or `damaged`. */
  readonly result: string;
  readonly ms: number | undefined;
  readonly error: string | undefined;
  /** Why the journal cannot be trusted (`line 7 (record 7): …`), when it fails its check. */
  readonly damaged: string | undefined;
}

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
 * and checked once, stopping as soon as every credential asked for has both. A damaged journal can be a credential's
 * newest run (so that `status` flags it), never its newest done run.
 */
export function lastRunsOf(stateDir: string, credentials: Iterable<string>): Map<string, LastRuns> {
  const found = new Map<string, { lastDone: RunInfo | undefined; last: RunInfo | undefined }>();
  for (const credential of credentials) found.set(credential, { lastDone: undefined, last: undefined });
  let open = [...found.values()].filter((f) => f.lastDone === undefined).length;
  const runs = listRuns(stateDir);
  for (let i = runs.length - 1; i >= 0 && open > 0; i--) {
    // A journal this process has seen already is read again only when it is of a credential asked for; one it has not
    // seen is read (once) in full, and remembered.
    const key = `${stateDir}\0${runs[i]!}`;
    const known = credentialOfRun.get(key);
    if (known === null || (known !== undefined && found.get(known)?.lastDone !== undefined) || (known !== undefined && !found.has(known))) continue;
    const info = runInfo(stateDir, runs[i]!);
    if (info === undefined) continue;
    if (info.damaged === undefined) credentialOfRun.set(key, info.credential);
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
