/**
 * Defect 7 end to end: temporary files that an interrupted write left (the whole `.env`, the audit head) are removed
 * at the start of the next run and of a resume, so no copy of a secret stays on disk, and the person is told.
 * The leftovers are made for real: a child writes through rekey's atomic writer and is SIGKILLed before the rename.
 */
import { mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { killMidWrite } from '../support/kill-mid-write.js';
import { onlyRun, rekeyIn, removeWorkspaces, sandboxPool, show, siblingLeftovers, workspace } from './helpers.js';

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
    expect(rotated.stdout).toMatch(/removed 2 temporary files left by an interrupted write/);
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
    expect(resumed.stdout).toMatch(/removed a temporary file left by an interrupted write/);
    expect(holdingCanary(ws.dir)).toEqual([]);
    expect(siblingLeftovers(ws)).toEqual([]);
  }, 60_000);
});
