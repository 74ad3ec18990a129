/**
 * The reference for the history index (src/engine/history-index.ts): every journal of a state folder read line by line
 * here, without the engine's summariser, and what the index must answer for a credential worked out from that. A torn
 * last line (a kill mid-append) is skipped, as every reader of rekey's skips it.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface OracleRun {
  readonly run: string;
  readonly credential: string;
  readonly at: string;
  /** `done`, `failed`, `rolled-back`, or `interrupted` when no run.finished comes after the last run.resumed. */
  readonly result: string;
  readonly finishedAt: string | undefined;
  /** Not finished, or finished `failed`: the run may still hold a value in a store. */
  readonly open: boolean;
}

export function oracleRuns(stateDir: string): OracleRun[] {
  const dir = join(stateDir, 'runs');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.jsonl'))
    .flatMap((f) => {
      const rows = readFileSync(join(dir, f), 'utf8')
        .split('\n')
        .filter((l) => l.trim() !== '')
        .flatMap((l) => {
          try {
            return [JSON.parse(l) as Record<string, string>];
          } catch {
            return [];
          }
        });
      const first = rows[0];
      if (first?.['type'] !== 'run.started') return [];
      const end = rows.findLast((r) => r['type'] === 'run.finished' || r['type'] === 'run.resumed');
      const done = end?.['type'] === 'run.finished' ? end : undefined;
      return [
        {
          run: f.slice(0, -'.jsonl'.length),
          credential: first['credential']!,
          at: first['at']!,
          result: done?.['result'] ?? 'interrupted',
          finishedAt: done?.['at'],
          open: done === undefined || done['result'] === 'failed',
        },
      ];
    });
}

export interface Expected {
  readonly last: { run: string; result: string; finishedAt: string | undefined } | undefined;
  readonly lastDone: { run: string; result: string; finishedAt: string | undefined } | undefined;
  readonly open: string[];
}

/** Newest run by start time (then id), newest done run, and the open runs (by id) of a credential. */
export function oracleFor(stateDir: string, credential: string): Expected {
  const runs = oracleRuns(stateDir)
    .filter((r) => r.credential === credential)
    .sort((a, b) => b.at.localeCompare(a.at) || b.run.localeCompare(a.run));
  const pick = (r: OracleRun | undefined) => r && { run: r.run, result: r.result, finishedAt: r.finishedAt };
  return {
    last: pick(runs[0]),
    lastDone: pick(runs.find((r) => r.result === 'done')),
    open: runs
      .filter((r) => r.open)
      .map((r) => r.run)
      .sort(),
  };
}
