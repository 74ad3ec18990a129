/**
 * The history index under kill -9 (issue 10, "No history scans per rotation"): `rekey rotate` and `rekey resume` of one
 * credential SIGKILLed at seeded moments — right after a chosen journal record is fsynced (before any reader has seen
 * it), or after a chosen delay — over and over. After every command, killed or not:
 * - the index, as the killed process left it or rebuilt, answers what the journals say (test/support/journal-oracle.ts
 *   reads them line by line): the credential's newest run, newest done run, and unfinished runs;
 * - a `rekey status` run beside the command (at a seeded moment) writes the index while the run is under way;
 * - the engine's decisions are the same with the index and without it: the unfinished runs that block a new run
 *   (`refuseWhileUnfinished`), the end of the last done run that dates the old value (`oldValueSince`), and what
 *   `rekey status` prints (run once on the index as it is, once with it deleted).
 * Build first: `npx tsc -p tsconfig.build.json`.
 */
import { existsSync, rmSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { forgetHistoryIndex, lastRuns, openRunsOf } from '../../src/engine/history-index.js';
import { indexFile } from '../../src/engine/history-index-file.js';
import { oracleFor, oracleRuns } from '../support/journal-oracle.js';
import { mulberry32 } from './kill-harness.js';
import { type CliResult, rekeyIn, removeWorkspaces, sandboxPool, show, type Workspace, workspace } from './helpers.js';

const sandbox = sandboxPool();
afterAll(removeWorkspaces);

const SEED = 20_261_210;
const COMMANDS = 14;

/**
 * One command, killed after journal record `afterRecord` or after `afterMs`, or left to finish; `statusAfterMs` from its
 * start, a `rekey status` runs beside it and writes the index while the run is under way (the run then goes on, or
 * finishes, without a reader seeing it: only the journal's fingerprint tells).
 */
async function command(ws: Workspace, args: string[], kill: { afterRecord?: number; afterMs?: number }, statusAfterMs: number): Promise<CliResult> {
  let timer: NodeJS.Timeout | undefined;
  let beside: Promise<CliResult> | undefined;
  const statusTimer = setTimeout(() => {
    beside = rekeyIn(ws, ['--json', 'status', '--offline']);
  }, statusAfterMs);
  const result = await rekeyIn(ws, ['--json', ...args], {
    env: kill.afterRecord === undefined ? {} : { REKEY_TEST_KILL_AFTER_RECORD: String(kill.afterRecord) },
    timeoutMs: 60_000,
    onSpawn: (pid) => {
      if (kill.afterMs !== undefined) timer = setTimeout(() => process.kill(pid, 'SIGKILL'), kill.afterMs);
    },
  });
  clearTimeout(timer);
  clearTimeout(statusTimer);
  const side = await beside;
  if (side !== undefined) expect(side.code, show(side)).toBe(0);
  return result;
}

/** `rekey status --offline` rows, as decisions: the last run and where the age comes from. */
async function statusRows(ws: Workspace): Promise<unknown[]> {
  const result = await rekeyIn(ws, ['--json', 'status', '--offline']);
  expect(result.code, show(result)).toBe(0);
  return result.stdout
    .trim()
    .split('\n')
    .map((line) => {
      const row = JSON.parse(line) as Record<string, unknown>;
      // The age moves with the clock between the two runs of status; what it is counted from does not.
      return { lastRunId: row['lastRunId'], lastRun: row['lastRun'], damaged: row['damaged'], writtenAt: row['writtenAt'], ageSource: row['ageSource'] };
    });
}

/** The index's answers for the credential, read as a new process reads them (nothing remembered). */
async function indexAnswers(ws: Workspace) {
  forgetHistoryIndex();
  const { last, lastDone } = await lastRuns(ws.stateDir, ws.credential);
  const pick = (r: typeof last) => r && { run: r.run, result: r.result, finishedAt: r.finishedAt };
  return { last: pick(last), lastDone: pick(lastDone), open: await openRunsOf(ws.stateDir, ws.credential) };
}

describe('the history index under kill -9', () => {
  it(`agrees with the journals after every kill, and the engine decides the same with and without it (seed ${SEED})`, async () => {
    const s = await sandbox();
    const ws = workspace({ sandbox: s });
    const random = mulberry32(SEED);
    let kills = 0;
    const landed: string[] = [];
    for (let i = 0; i < COMMANDS; i++) {
      const unfinished = oracleFor(ws.stateDir, ws.credential).open;
      // Resume the newest unfinished run, if any (the path that marks the index before run.resumed); else a new run.
      const args = unfinished.length > 0 ? ['resume', unfinished.at(-1)!] : ['rotate', ws.credential, '--allow-recent'];
      const draw = random();
      const kill =
        i === COMMANDS - 1
          ? {}
          : draw < 0.55
            ? { afterRecord: 1 + Math.floor(random() * 14) }
            : draw < 0.85
              ? { afterMs: 150 + Math.floor(random() * 900) }
              : {};
      const before = oracleRuns(ws.stateDir).length;
      const result = await command(ws, args, kill, 200 + Math.floor(random() * 1_200));
      if (result.signal === 'SIGKILL') kills++;
      landed.push(`${args[0]} ${JSON.stringify(kill)} → ${result.signal ?? result.code}`);

      const expected = oracleFor(ws.stateDir, ws.credential);
      const context = `after command ${i} (${landed.at(-1)}), index ${existsSync(indexFile(ws.stateDir)) ? 'present' : 'missing'}\n${landed.join('\n')}`;
      // The index as the killed process left it (or rebuilt from the journals) says what the journals say.
      expect(await indexAnswers(ws), context).toEqual(expected);
      // status: the same rows from the index as it is and from the journals alone.
      const withIndex = await statusRows(ws);
      // (A command killed before it wrote anything leaves no state folder: nothing to index then.)
      expect(existsSync(indexFile(ws.stateDir)), 'status writes the index it built').toBe(existsSync(ws.stateDir));
      const afterStatus = await indexAnswers(ws);
      rmSync(indexFile(ws.stateDir), { force: true });
      const withoutIndex = await statusRows(ws);
      expect(withIndex, context).toEqual(withoutIndex);
      // What the index now holds (written by that status) still agrees, and agreed before it was deleted.
      expect(afterStatus, context).toEqual(expected);
      expect(await indexAnswers(ws), context).toEqual(expected);
      expect(oracleRuns(ws.stateDir).length).toBeGreaterThanOrEqual(before);
    }
    // Where each kill landed, for the record of what this seed played.
    console.log(landed.join('\n'));
    // The loop must actually kill, and end with the rotation done.
    expect(kills, landed.join('\n')).toBeGreaterThanOrEqual(COMMANDS / 3);
    expect(oracleFor(ws.stateDir, ws.credential).last?.result, landed.join('\n')).toBe('done');
  }, 300_000);
});
