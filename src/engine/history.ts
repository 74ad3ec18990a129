/**
 * What the journals say about past runs: for `status`, `log`, `rotate --due` and the engine's guards.
 *
 * Each journal is checked as `resume` checks it (src/engine/journal.ts): its chain and seals. A journal that fails the
 * check is summarised as `damaged`, naming the first bad line, and never counts as a finished rotation (so a forged
 * `done` cannot make a credential look fresh); the other journals are unaffected. Questions about a credential's
 * newest runs and its unfinished runs are answered from the history index (src/engine/history-index.ts), which reads
 * only the journals that changed since; `log` reads every journal.
 */
import { claimedCredential } from './history-index-file.js';
import { listRuns } from './jsonl-files.js';
import { runInfo, type RunInfo } from './run-summary.js';

export { lastFinished, lastRuns, lastRunsOf, openRunsOf, type LastRuns } from './history-index.js';
export { runInfo, type RunInfo } from './run-summary.js';

/** Every run, newest first. */
export function allRuns(stateDir: string): RunInfo[] {
  return listRuns(stateDir)
    .reverse()
    .map((run) => runInfo(stateDir, run))
    .filter((info): info is RunInfo => info !== undefined);
}

/** The runs whose journal names this credential, oldest first (unchecked: it only chooses which journals to read). */
export function runsOf(stateDir: string, credential: string): string[] {
  return listRuns(stateDir).filter((run) => claimedCredential(stateDir, run) === credential);
}
