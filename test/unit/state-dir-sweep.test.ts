/**
 * `sweepStateDir` (issue 8, defect 7): temporary files that a killed writer left in the state folder (the audit
 * head's, a report's, anything written through src/util/atomic-file.ts there) are removed at the start of the next
 * run, once their writer is dead; the journal, the audit log and its head, reports and locks are never touched.
 *
 * The kills are deterministic: a child process writes through the built atomic-file module and is SIGKILLed while
 * paused before its rename (test/support/kill-mid-write.ts).
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TEMPORARY_STALE_MS } from '../../src/util/atomic-file.js';
import { sweepStateDir } from '../../src/util/state-dir.js';
import { killMidWrite, pauseMidWrite } from '../support/kill-mid-write.js';

const CANARY = 'canary_state_dir_sweep_b7e2c9d41f0a6358';

let stateDir: string;
beforeEach(() => {
  stateDir = join(mkdtempSync(join(tmpdir(), 'rekey-state-sweep-')), '.rekey');
  for (const sub of ['runs', 'reports', 'locks']) mkdirSync(join(stateDir, sub), { recursive: true });
});
afterEach(() => {
  rmSync(join(stateDir, '..'), { recursive: true, force: true });
});

/** Every file under the state folder, relative to it, with its content. */
function snapshot(): Map<string, string> {
  const files = new Map<string, string>();
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else files.set(relative(stateDir, path), readFileSync(path, 'latin1'));
    }
  };
  walk(stateDir);
  return files;
}

describe('sweepStateDir (defect 7)', () => {
  it('removes the temporary files of killed writes in the state folder and its reports, keeps every real file byte for byte (defect 7)', async () => {
    const real: Record<string, string> = {
      'audit.jsonl': '{"seq":1}\n',
      'audit.head': '{"seq":1,"hash":"ab"}\n',
      'audit.jsonl.lock': '{"pid":1}',
      'runs/20261124T024512Z-aaaaaa.jsonl': '{"seq":1}\n',
      'reports/20261124T024512Z-aaaaaa-api.md': '# report\n',
      'locks/api.lock': '{"run":"20261124T024512Z-aaaaaa"}',
    };
    for (const [path, text] of Object.entries(real)) writeFileSync(join(stateDir, path), text, { mode: 0o600 });
    await killMidWrite(join(stateDir, 'audit.head'), CANARY);
    await killMidWrite(join(stateDir, 'reports', '20261124T024513Z-bbbbbb-api.md'), CANARY);
    // One left by an earlier rekey version (no writer in its name), long ago.
    const legacy = join(stateDir, '.audit.head.a1b2c3d4e5f6.tmp');
    writeFileSync(legacy, '{}\n', { mode: 0o600 });
    const long = new Date(Date.now() - TEMPORARY_STALE_MS - 60_000);
    utimesSync(legacy, long, long);
    expect(snapshot().size).toBe(Object.keys(real).length + 3);
    const removed = sweepStateDir(stateDir);
    expect(removed).toHaveLength(3);
    expect(removed).toContain(legacy);
    expect(Object.fromEntries(snapshot())).toEqual(real);
  });

  it("keeps a live writer's temporary file (another rekey writing its report this instant) (defect 7)", async () => {
    const writer = await pauseMidWrite(join(stateDir, 'reports', '20261124T024513Z-bbbbbb-api.md'), CANARY);
    try {
      expect(sweepStateDir(stateDir)).toEqual([]);
      expect(readdirSync(join(stateDir, 'reports'))).toHaveLength(1);
    } finally {
      await writer.kill();
    }
    expect(sweepStateDir(stateDir)).toHaveLength(1);
    expect(readdirSync(join(stateDir, 'reports'))).toEqual([]);
  });

  it('a state folder that does not exist yet sweeps nothing and throws nothing', () => {
    expect(sweepStateDir(join(stateDir, 'not-yet'))).toEqual([]);
  });
});

describe('sweepStateDir and the temporary files of lock publications', () => {
  it("removes a killed writer's lock temporary (the audit lock's, a run lock's), keeps a live writer's and the locks", async () => {
    const { spawn } = await import('node:child_process');
    // A pid that is surely dead: a child that has exited and been reaped.
    const dead = spawn(process.execPath, ['-e', '0']);
    await new Promise((done) => dead.on('close', done));
    const live = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)'], { stdio: 'ignore' });
    try {
      const killed = [join(stateDir, `audit.jsonl.lock.tmp-${dead.pid}-784b00662d55`), join(stateDir, 'locks', `api.lock.tmp-${dead.pid}-0a1b2c3d4e5f`)];
      const inProgress = join(stateDir, 'locks', `web.lock.tmp-${live.pid}-112233445566`);
      for (const path of [...killed, inProgress]) writeFileSync(path, '{"pid":1}', { mode: 0o600 });
      writeFileSync(join(stateDir, 'locks', 'api.lock'), JSON.stringify({ pid: live.pid }), { mode: 0o600 });
      const removed = sweepStateDir(stateDir);
      expect(removed.sort()).toEqual([...killed].sort());
      const left = snapshot();
      expect([...left.keys()].sort()).toEqual([join('locks', 'api.lock'), join('locks', `web.lock.tmp-${live.pid}-112233445566`)].sort());
    } finally {
      live.kill('SIGKILL');
    }
  });
});
