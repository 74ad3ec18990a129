/**
 * Defect 7 end to end: temporary files that an interrupted write left (the whole `.env`, the audit head) are removed
 * at the start of the next run and of a resume, so no copy of a secret stays on disk, and the person is told.
 * The leftovers are made for real: a child writes through rekey's atomic writer and is SIGKILLed before the rename.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { killMidWrite } from '../support/kill-mid-write.js';
import { ROOT, onlyRun, rekeyIn, removeWorkspaces, sandboxPool, show, siblingLeftovers, workspace } from './helpers.js';

const sandbox = sandboxPool();
afterEach(removeWorkspaces);

const CANARY = 'sbx_canary_leftover_5f0c2e9d7a1b4c3e8f6a';

/** Every file under a folder whose content holds the canary. */
function holdingCanary(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => {
    const path = join(dir, f);
    return statSync(path).isFile() && readFileSync(path, 'utf8').includes(CANARY);
  });
}

describe('temporary files of an interrupted write are removed by the next run (defect 7)', () => {
  it('at the start of a rotation', async () => {
    const s = await sandbox();
    const ws = workspace({ sandbox: s });
    await killMidWrite(ws.envFile, CANARY);
    mkdirSync(ws.stateDir, { recursive: true });
    await killMidWrite(join(ws.stateDir, 'audit.head'), CANARY);
    expect(holdingCanary(ws.dir).length).toBe(2);
    const rotated = await rekeyIn(ws, ['rotate', ws.credential]);
    expect(rotated.code, show(rotated)).toBe(0);
    expect(rotated.stdout).toMatch(/removed 2 files left by an interrupted write/);
    expect(holdingCanary(ws.dir)).toEqual([]);
    expect(siblingLeftovers(ws)).toEqual([]);
  }, 60_000);

  it('at the start of a resume', async () => {
    const s = await sandbox();
    const ws = workspace({ sandbox: s });
    // Record 9: the promote is done.
    const killed = await rekeyIn(ws, ['rotate', ws.credential], { env: { REKEY_TEST_KILL_AFTER_RECORD: '9' } });
    expect(killed.signal, show(killed)).toBe('SIGKILL');
    await killMidWrite(ws.envFile, CANARY);
    const resumed = await rekeyIn(ws, ['resume', onlyRun(ws)]);
    expect(resumed.code, show(resumed)).toBe(0);
    expect(resumed.stdout).toMatch(/removed a file left by an interrupted write/);
    expect(holdingCanary(ws.dir)).toEqual([]);
    expect(siblingLeftovers(ws)).toEqual([]);
  }, 60_000);
});

/** A process that takes a short lock through rekey's own module and is killed while holding it. */
function diesHolding(lock: string): void {
  const module = pathToFileURL(join(ROOT, 'dist/src/util/file-lock.js')).href;
  const child = spawnSync(process.execPath, [
    '--input-type=module',
    '-e',
    `const m = await import(${JSON.stringify(module)}); m.withFileLockSync(${JSON.stringify(lock)}, () => process.kill(process.pid, 'SIGKILL'));`,
  ]);
  expect(child.signal).toBe('SIGKILL');
}

describe('locks of a writer killed while holding them are cleared by the next command that runs', () => {
  it('the audit append lock, even by a resume that finds its run already finished (nothing else would take it over)', async () => {
    const s = await sandbox();
    const ws = workspace({ sandbox: s });
    const rotated = await rekeyIn(ws, ['rotate', ws.credential]);
    expect(rotated.code, show(rotated)).toBe(0);
    const auditLock = join(ws.stateDir, 'audit.jsonl.lock');
    diesHolding(auditLock);
    expect(existsSync(auditLock)).toBe(true);
    const again = await rekeyIn(ws, ['resume', onlyRun(ws)]);
    expect(again.code, show(again)).toBe(3);
    expect(again.stderr).toContain('already finished');
    expect(existsSync(auditLock)).toBe(false);
    expect(readdirSync(ws.stateDir).filter((f) => f.includes('.lock'))).toEqual([]);
    expect(readdirSync(join(ws.stateDir, 'locks'))).toEqual([]);
  }, 60_000);

  it('the .env rewrite lock', async () => {
    const s = await sandbox();
    const ws = workspace({ sandbox: s });
    const envLock = join(ws.dir, '.env.rekey-lock');
    diesHolding(envLock);
    const rotated = await rekeyIn(ws, ['rotate', ws.credential]);
    expect(rotated.code, show(rotated)).toBe(0);
    expect(existsSync(envLock)).toBe(false);
    expect(siblingLeftovers(ws)).toEqual([]);
  }, 60_000);
});
