/**
 * What `rekey status` and `rekey check` say about a credential's run lock (defect 3: they said nothing), and that a
 * lock file left empty by a run killed while taking it no longer wedges the credential: once it is a few seconds
 * old the next rotation takes it over.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { envValue, rekeyIn, removeWorkspaces, sandboxPool, show, workspace, type CliResult, type Workspace } from './helpers.js';

const sandbox = sandboxPool();
afterAll(removeWorkspaces);
const sleepers: ChildProcess[] = [];
afterEach(() => {
  for (const sleeper of sleepers.splice(0)) sleeper.kill();
});

const RUN = '20261124T024512Z-abcdef';
const lockOf = (ws: Workspace) => join(ws.stateDir, 'locks', `${ws.credential}.lock`);
const ndjson = (result: CliResult) =>
  result.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);

function plant(ws: Workspace, text: string, ageMs = 0): void {
  mkdirSync(join(ws.stateDir, 'locks'), { recursive: true });
  writeFileSync(lockOf(ws), text, { mode: 0o600 });
  const at = new Date(Date.now() - ageMs);
  utimesSync(lockOf(ws), at, at);
}

async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
  await new Promise((exited) => child.on('exit', exited));
  return child.pid!;
}

describe('status and check show the run lock (defect 3)', () => {
  it('a lock held by a live run: who holds it, since when', async () => {
    const ws = workspace({ sandbox: await sandbox() });
    const sleeper = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
    sleepers.push(sleeper);
    plant(ws, JSON.stringify({ pid: sleeper.pid, host: hostname(), run: RUN, since: '2026-11-24T02:45:12.000Z' }));
    const status = await rekeyIn(ws, ['status']);
    expect(status.code, show(status)).toBe(0);
    expect(status.stdout).toContain(`! ${ws.credential}: locked by run ${RUN} (pid ${sleeper.pid}, since 2026-11-24T02:45:12.000Z)`);
    expect(ndjson(await rekeyIn(ws, ['--json', 'status']))).toEqual([
      expect.objectContaining({ event: 'status', lock: expect.objectContaining({ state: 'held', run: RUN, pid: sleeper.pid }) }),
    ]);
    const check = await rekeyIn(ws, ['check']);
    expect(check.code, show(check)).toBe(0);
    expect(`${check.stdout}${check.stderr}`).toContain(`${ws.credential}: locked by run ${RUN} (pid ${sleeper.pid}`);
    expect(ndjson(await rekeyIn(ws, ['--json', 'check']))).toContainEqual(
      expect.objectContaining({ event: 'lock.checked', credential: ws.credential, state: 'held', run: RUN }),
    );
  });

  it('a lock left by a run that died: stale, and the next run takes it over', async () => {
    const ws = workspace({ sandbox: await sandbox() });
    const dead = await deadPid();
    plant(ws, JSON.stringify({ pid: dead, host: hostname(), run: RUN, since: '2026-11-24T02:45:12.000Z' }));
    const status = await rekeyIn(ws, ['status']);
    expect(status.stdout).toContain(
      `! ${ws.credential}: stale lock of run ${RUN} left by a run that died (pid ${dead} is no longer running); the next run takes it over`,
    );
    const check = await rekeyIn(ws, ['check']);
    expect(check.code, show(check)).toBe(0);
    expect(`${check.stdout}${check.stderr}`).toContain('the next run takes it over');
  });

  it('an empty lock file: a run starting while it is fresh, stale once old, and taken over by the next rotation (defect 3)', async () => {
    const s = await sandbox();
    const ws = workspace({ sandbox: s });
    plant(ws, '');
    const fresh = await rekeyIn(ws, ['status']);
    expect(fresh.stdout).toMatch(new RegExp(`! ${ws.credential}: locked by a run that is starting right now \\(an empty lock file, \\d+s old`));
    const refused = await rekeyIn(ws, ['rotate', ws.credential]);
    expect(refused.code, show(refused)).toBe(3);
    expect(refused.stderr).toContain('is locked by a run that is starting right now');

    plant(ws, '', 60_000);
    const old = await rekeyIn(ws, ['status']);
    expect(old.stdout).toMatch(new RegExp(`! ${ws.credential}: stale lock left by a run that died \\(an empty lock file, left \\d+s ago`));
    const rotated = await rekeyIn(ws, ['rotate', ws.credential]);
    expect(rotated.code, show(rotated)).toBe(0);
    expect(s.isActive(envValue(ws)!)).toBe(true);
    expect(readdirSync(join(ws.stateDir, 'locks'))).toEqual([]);
    const after = await rekeyIn(ws, ['status']);
    expect(after.stdout).not.toContain('lock');
  });
});
