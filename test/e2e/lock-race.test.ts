/**
 * The locks under real concurrency: ten processes released at one instant by a barrier (each waits for a file to
 * appear) race for the same stale run lock, round after round (defect 2), and ten processes append to one audit log
 * through a stale append lock at once. Nothing here is timed: overlap is read from the order of lines the processes
 * append (O_APPEND) to one file, so a loaded machine can slow the test down but not make it pass or fail.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { verifyAudit } from '../../src/engine/audit-log.js';
import { readChain } from '../../src/engine/chain.js';
import { ROOT } from './helpers.js';

const CONTENDERS = 10;
const ROUNDS = 30;
const LOCK = join(ROOT, 'dist/src/engine/lock.js');
const AUDIT = join(ROOT, 'dist/src/engine/audit-log.js');

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'rekey-lock-race-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
  await new Promise((exited) => child.on('exit', exited));
  return child.pid!;
}

/** Start a node child running `script` (ESM) with `args`; resolves with its exit code and stderr. */
function child(script: string, args: readonly string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((done) => {
    const proc = spawn(process.execPath, ['--input-type=module', '-e', script, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    proc.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    proc.on('close', (code) => done({ code, stderr }));
  });
}

/** Wait (polling, no deadline of its own: the test's timeout is the bound) until `condition` holds. */
async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((wake) => setTimeout(wake, 2));
}

// Each round: wait for the barrier file, try the lock, and report. The holder stays inside until the other nine
// have reported (with no time limit of its own: a holder that left early would let a slow contender in legitimately,
// and the round would have two holders), then says so, lets go, and says that too.
const contender = `
  import fs from 'node:fs';
  const { acquireLock } = await import(${JSON.stringify(LOCK)});
  const [stateDir, me, rounds, log, barrier] = process.argv.slice(1);
  const pause = new Int32Array(new SharedArrayBuffer(4));
  const fd = fs.openSync(log, 'a');
  const say = (text) => fs.writeSync(fd, text + '\\n');
  fs.writeFileSync(barrier + '/ready-' + me, '');
  const reportsOf = (round) =>
    fs.readFileSync(log, 'utf8').split('\\n').filter((l) => / (refused|enter) /.test(' ' + l) && l.split(' ')[1] === String(round)).length;
  for (let round = 0; round < Number(rounds); round++) {
    while (!fs.existsSync(barrier + '/go-' + round)) Atomics.wait(pause, 0, 0, 1);
    let lock;
    try {
      lock = acquireLock(stateDir, 'api', 'run-' + me + '-' + round);
    } catch (error) {
      if (error.name !== 'RefusedError') throw error;
      say('refused ' + round + ' ' + me);
      continue;
    }
    say('enter ' + round + ' ' + me + ' ' + (lock.tookOver?.pid ?? '-'));
    while (reportsOf(round) < ${CONTENDERS}) Atomics.wait(pause, 0, 0, 2);
    say('leave ' + round + ' ' + me);
    lock.release();
    say('released ' + round + ' ' + me);
  }
`;

describe('locks under ten processes at one instant (defect 2)', () => {
  it(`ten processes taking over one stale run lock at the same instant, ${ROUNDS} rounds: exactly one holds each round, never two at once (defect ` +
    `2)`, async () => {
    expect(existsSync(LOCK), 'build first: npx tsc -p tsconfig.build.json').toBe(true);
    const stateDir = join(dir, 'state');
    const locks = join(stateDir, 'locks');
    const barrier = join(dir, 'barrier');
    const log = join(dir, 'log');
    mkdirSync(locks, { recursive: true });
    mkdirSync(barrier);
    writeFileSync(log, '');
    const dead = await deadPid();
    const children = Array.from({ length: CONTENDERS }, (_, i) => child(contender, [stateDir, `c${i}`, String(ROUNDS), log, barrier]));
    const lines = () =>
      readFileSync(log, 'utf8')
        .split('\n')
        .filter((l) => l !== '');
    await until(() => readdirSync(barrier).filter((f) => f.startsWith('ready-')).length === CONTENDERS);
    for (let round = 0; round < ROUNDS; round++) {
      // The last round left nothing: the holder removed the stale file and its own, the others their own. (This test
      // once cleared the folder itself while the last holder was still letting go; ext4 gave the next holder's file
      // the freed inode, and the late release removed it: the defect src/util/lock-file.ts now guards against.)
      expect(readdirSync(locks), `before round ${round}`).toEqual([]);
      // A run of this credential was killed holding the lock: every contender finds it stale.
      writeFileSync(join(locks, 'api.lock'), JSON.stringify({ pid: dead, host: hostname(), run: `killed-${round}`, since: new Date().toISOString() }), {
        mode: 0o600,
      });
      writeFileSync(join(barrier, `go-${round}`), '');
      await until(
        () => lines().filter((l) => (l.startsWith('refused ') || l.startsWith('released ')) && l.split(' ')[1] === String(round)).length >= CONTENDERS,
      );
    }
    const results = await Promise.all(children);
    expect(results.map((r) => r.stderr).filter((s) => s !== '')).toEqual([]);
    expect(results.map((r) => r.code)).toEqual(Array(CONTENDERS).fill(0));

    const inside = new Set<string>();
    const overlaps: string[] = [];
    const holders = new Map<number, string[]>();
    const tookOver = new Set<string>();
    for (const line of lines()) {
      const [what, round, who, previous] = line.split(' ');
      if (what === 'enter') {
        if (inside.size > 0) overlaps.push(`round ${round}: ${who} entered while ${[...inside].join(', ')} held the lock`);
        inside.add(who!);
        holders.set(Number(round), [...(holders.get(Number(round)) ?? []), who!]);
        tookOver.add(previous!);
      } else if (what === 'leave') inside.delete(who!);
    }
    expect(overlaps).toEqual([]);
    expect(Array.from({ length: ROUNDS }, (_, r) => holders.get(r)?.length ?? 0)).toEqual(Array(ROUNDS).fill(1));
    // Every holder took over the killed run's lock and said so.
    expect([...tookOver]).toEqual([String(dead)]);
    expect(readdirSync(locks)).toEqual([]);
  }, 60_000);

  it('ten processes appending to one audit log at once, through a stale append lock, keep one unbroken chain', async () => {
    expect(existsSync(AUDIT), 'build first: npx tsc -p tsconfig.build.json').toBe(true);
    const stateDir = join(dir, 'state');
    const barrier = join(dir, 'go');
    mkdirSync(stateDir);
    writeFileSync(join(stateDir, 'audit.jsonl.lock'), JSON.stringify({ pid: await deadPid(), host: hostname(), since: new Date().toISOString() }), {
      mode: 0o600,
    });
    const appender = `
      import fs from 'node:fs';
      const { appendAudit } = await import(${JSON.stringify(AUDIT)});
      const [stateDir, me, barrier] = process.argv.slice(1);
      const pause = new Int32Array(new SharedArrayBuffer(4));
      fs.writeFileSync(barrier + '-ready-' + me, '');
      while (!fs.existsSync(barrier)) Atomics.wait(pause, 0, 0, 1);
      for (let n = 0; n < 20; n++) await appendAudit(stateDir, { credential: 'c' + me, run: 'run-' + me, mode: 'scheduled', phase: 'verify', result: 'done' });
    `;
    const children = Array.from({ length: CONTENDERS }, (_, i) => child(appender, [stateDir, String(i), barrier]));
    // Let them all start and spin on the barrier, then release them together.
    await until(() => readdirSync(dir).filter((f) => f.startsWith('go-ready-')).length === CONTENDERS);
    writeFileSync(barrier, '');
    const results = await Promise.all(children);
    expect(results.map((r) => r.stderr).filter((s) => s !== '')).toEqual([]);
    expect(verifyAudit(stateDir)).toEqual({ ok: true, records: CONTENDERS * 20 });
    expect(readChain(join(stateDir, 'audit.jsonl')).map((r) => r.seq)).toEqual(Array.from({ length: CONTENDERS * 20 }, (_, i) => i + 1));
    expect(readdirSync(stateDir).sort()).toEqual(['audit.head', 'audit.jsonl']);
  }, 60_000);
});
