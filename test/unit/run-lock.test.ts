/**
 * The per-credential run lock (I4), raced deterministically: one contender is stopped between two fs calls (see
 * test/support/fs-gate.ts) while others run to the end, then let go. Whatever the interleaving, at most one
 * `acquireLock` of a credential holds at a time (defect 2), a lock file with no holder written into it never wedges
 * the credential (defect 3), and a release only ever removes the releaser's own lock.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { acquireLock, inspectLock, type HeldLock } from '../../src/engine/lock.js';
import { RefusedError, StateFileError } from '../../src/contract/errors.js';
import { gateFs, pauseOnce, type FsHook } from '../support/fs-gate.js';

const CRED = 'api';
const RUN_A = '20261124T024512Z-aaaaaa';
const RUN_B = '20261124T024512Z-bbbbbb';
const RUN_C = '20261124T024512Z-cccccc';
const RUN_DEAD = '20261124T000000Z-dddddd';

let stateDir: string;
let ungate: (() => void) | undefined;
beforeEach(() => {
  stateDir = mkdtempSync(join(tmpdir(), 'rekey-run-lock-'));
});
afterEach(() => {
  ungate?.();
  ungate = undefined;
  rmSync(stateDir, { recursive: true, force: true });
});

const locks = () => join(stateDir, 'locks');
const legacy = () => join(locks(), `${CRED}.lock`);
const inLocks = (args: readonly unknown[]) => typeof args[0] === 'string' && args[0].startsWith(locks());

/** A pid that is certainly not running: a child that has exited and been reaped. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
  await new Promise((exited) => child.on('exit', exited));
  return child.pid!;
}

/** A lock as a run of rekey that was killed mid-run left it: its holder written, its process gone. */
function plantDead(pid: number, file = legacy(), run = RUN_DEAD): void {
  mkdirSync(locks(), { recursive: true });
  writeFileSync(file, JSON.stringify({ pid, host: hostname(), run, since: '2026-11-24T00:00:00.000Z' }), { mode: 0o600 });
}

/** `acquireLock`, as a value: the held lock, or the refusal. */
function attempt(run: string): HeldLock | RefusedError {
  try {
    return acquireLock(stateDir, CRED, run);
  } catch (error) {
    if (error instanceof RefusedError) return error;
    throw error;
  }
}

const held = (results: ReadonlyArray<HeldLock | RefusedError>) => results.filter((r): r is HeldLock => !(r instanceof RefusedError));

function gate(...hooks: FsHook[]): void {
  ungate = gateFs((name, args, phase) => {
    for (const hook of hooks) hook(name, args, phase);
  });
}

describe('run lock: one holder per credential, whatever the interleaving (defect 2)', () => {
  it('of two runs taking over one stale lock, the first stopped right after judging it stale, exactly one holds (defect 2)', async () => {
    plantDead(await deadPid());
    let b: HeldLock | RefusedError | undefined;
    // A reads the dead holder's lock and is stopped there; B runs its whole take-over meanwhile.
    const pause = pauseOnce(
      (name, args, phase) => name === 'readFileSync' && phase === 'after' && inLocks(args),
      () => (b = attempt(RUN_B)),
    );
    gate(pause.hook);
    const a = attempt(RUN_A);
    ungate!();
    ungate = undefined;
    expect(pause.fired()).toBe(true);
    const holders = held([a, b!]);
    expect(holders.map((h) => h.tookOver?.run)).toEqual([RUN_DEAD]);
    expect(holders).toHaveLength(1);
    // The loser is told who holds it, and a third run is refused too: the winner's lock is still in place.
    const loser = [a, b!].find((r) => r instanceof RefusedError)!;
    const winnerRun = holders[0] === a ? RUN_A : RUN_B;
    expect(loser.message).toContain(`is being rotated by run ${winnerRun} (pid ${process.pid}`);
    expect(attempt(RUN_C)).toBeInstanceOf(RefusedError);
    holders[0]!.release();
    expect(readdirSync(locks())).toEqual([]);
  });

  it('a run stopped after judging a lock stale does not take the lock a later run took meanwhile (defect 2)', async () => {
    const dead = await deadPid();
    plantDead(dead);
    let c: HeldLock | RefusedError | undefined;
    // While A is stopped: B takes the stale lock over, then dies holding it; C takes B's over. A then goes on with a
    // judgement that is two holders old.
    const pause = pauseOnce(
      (name, args, phase) => name === 'readFileSync' && phase === 'after' && inLocks(args),
      () => {
        const b = attempt(RUN_B);
        if (b instanceof RefusedError) throw b;
        plantDead(dead, b.file, RUN_B);
        c = attempt(RUN_C);
      },
    );
    gate(pause.hook);
    const a = attempt(RUN_A);
    ungate!();
    ungate = undefined;
    expect(pause.fired()).toBe(true);
    expect(c).not.toBeInstanceOf(RefusedError);
    expect((c as HeldLock).tookOver?.run).toBe(RUN_B);
    expect(a).toBeInstanceOf(RefusedError);
    expect((a as RefusedError).message).toContain(`run ${RUN_C}`);
    (c as HeldLock).release();
    expect(readdirSync(locks())).toEqual([]);
  });

  it('a run stopped after judging a lock stale does not take the lock of a run that started after the stale one was released (defect 2)', async () => {
    plantDead(await deadPid());
    let c: HeldLock | RefusedError | undefined;
    const pause = pauseOnce(
      (name, args, phase) => name === 'readFileSync' && phase === 'after' && inLocks(args),
      () => {
        const b = attempt(RUN_B);
        if (b instanceof RefusedError) throw b;
        b.release();
        c = attempt(RUN_C);
      },
    );
    gate(pause.hook);
    const a = attempt(RUN_A);
    ungate!();
    ungate = undefined;
    expect(pause.fired()).toBe(true);
    expect(c).not.toBeInstanceOf(RefusedError);
    expect(a).toBeInstanceOf(RefusedError);
    expect(attempt(RUN_B)).toBeInstanceOf(RefusedError);
    (c as HeldLock).release();
    expect(readdirSync(locks())).toEqual([]);
  });

  it('a release by a run whose lock was taken over never removes the new holder’s lock, even for the same run id (two resumes)', async () => {
    const first = attempt(RUN_A);
    if (first instanceof RefusedError) throw first;
    // The first resume's process looks dead to the next one (killed, say), which takes its lock over.
    plantDead(await deadPid(), first.file, RUN_A);
    const second = attempt(RUN_A);
    if (second instanceof RefusedError) throw second;
    first.release();
    expect(attempt(RUN_B)).toBeInstanceOf(RefusedError);
    second.release();
    expect(attempt(RUN_B)).not.toBeInstanceOf(RefusedError);
  });
});

describe('run lock: a lock file with no holder in it (defect 3)', () => {
  it('an empty lock file older than a few seconds is taken over, and the run is told (defect 3)', () => {
    mkdirSync(locks(), { recursive: true });
    writeFileSync(legacy(), '', { mode: 0o600 });
    const old = new Date(Date.now() - 60_000);
    utimesSync(legacy(), old, old);
    const lock = attempt(RUN_A);
    expect(lock).not.toBeInstanceOf(RefusedError);
    expect((lock as HeldLock).tookOverNote).toMatch(/empty lock file/);
    (lock as HeldLock).release();
    expect(readdirSync(locks())).toEqual([]);
  });

  it('a fresh empty lock file is refused as a run that is starting, then taken over once it is old (defect 3)', () => {
    mkdirSync(locks(), { recursive: true });
    writeFileSync(legacy(), '', { mode: 0o600 });
    const refused = attempt(RUN_A);
    expect(refused).toBeInstanceOf(RefusedError);
    expect((refused as RefusedError).message).toContain('starting right now');
    expect((refused as RefusedError).hint).toContain(legacy());
    const old = new Date(Date.now() - 10_000);
    utimesSync(legacy(), old, old);
    const lock = attempt(RUN_A);
    expect(lock).not.toBeInstanceOf(RefusedError);
    (lock as HeldLock).release();
  });

  it('a lock whose pid is alive but started after the lock was written (a reused pid) is taken over', () => {
    mkdirSync(locks(), { recursive: true });
    // This very process is alive, but the lock says it started at another time: the pid was reused.
    writeFileSync(
      legacy(),
      JSON.stringify({ pid: process.pid, host: hostname(), run: RUN_DEAD, since: '2026-11-24T00:00:00.000Z', start: '1', token: 'theirs' }),
      { mode: 0o600 },
    );
    const lock = attempt(RUN_A);
    expect(lock).not.toBeInstanceOf(RefusedError);
    expect((lock as HeldLock).tookOver?.run).toBe(RUN_DEAD);
    (lock as HeldLock).release();
  });
});

describe('run lock: a full disk while taking it (defect 3)', () => {
  it('fails with a clear error naming the locks folder, leaves no lock file (not even an empty one), and the next run gets it', () => {
    mkdirSync(locks(), { recursive: true });
    const full = pauseOnce(
      (name, args, phase) => name === 'writeSync' && phase === 'before' && typeof args[0] === 'number',
      () => {
        throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', syscall: 'write' });
      },
    );
    gate(full.hook);
    let thrown: unknown;
    try {
      acquireLock(stateDir, CRED, RUN_A);
    } catch (error) {
      thrown = error;
    }
    ungate!();
    ungate = undefined;
    expect(full.fired()).toBe(true);
    // A fault of the machine: exit 5, not bad input.
    expect(thrown).toBeInstanceOf(StateFileError);
    expect((thrown as StateFileError).exitCode).toBe(5);
    expect((thrown as StateFileError).message).toBe(`cannot take the lock of credential ${CRED} in ${locks()}: the disk is full (ENOSPC)`);
    expect(readdirSync(locks())).toEqual([]);
    const lock = attempt(RUN_B);
    expect(lock).not.toBeInstanceOf(RefusedError);
    (lock as HeldLock).release();
  });
});

describe('inspectLock: what status and check show', () => {
  it('names a free, a held, a stale and a starting lock', async () => {
    expect(inspectLock(stateDir, CRED)).toEqual({ state: 'free' });
    const lock = attempt(RUN_A) as HeldLock;
    expect(inspectLock(stateDir, CRED)).toMatchObject({ state: 'held', run: RUN_A, pid: process.pid, host: hostname() });
    lock.release();
    const dead = await deadPid();
    plantDead(dead);
    expect(inspectLock(stateDir, CRED)).toMatchObject({ state: 'stale', run: RUN_DEAD, pid: dead });
    expect(readFileSync(legacy(), 'utf8')).toContain(RUN_DEAD);
    writeFileSync(legacy(), '');
    expect(inspectLock(stateDir, CRED)).toMatchObject({ state: 'starting' });
    const old = new Date(Date.now() - 60_000);
    utimesSync(legacy(), old, old);
    expect(inspectLock(stateDir, CRED)).toMatchObject({ state: 'stale' });
  });
});
