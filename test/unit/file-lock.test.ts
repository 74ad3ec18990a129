/**
 * The short locks (the .env rewrite, the audit append), raced deterministically through their public API: one
 * waiter is stopped between two fs calls (test/support/fs-gate.ts) while others take, hold or release the lock.
 * However it interleaves, no two works run at once (defect 2), and a lock that was never filled in is taken over once
 * it is old, never held forever (defect 3).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileLockBusyError, withFileLock, withFileLockSync } from '../../src/util/file-lock.js';
import { gateFs, pauseOnce, type FsHook } from '../support/fs-gate.js';

let dir: string;
let ungate: (() => void) | undefined;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'rekey-file-lock-'));
});
afterEach(() => {
  ungate?.();
  ungate = undefined;
  rmSync(dir, { recursive: true, force: true });
});

const lockPath = () => join(dir, 'audit.jsonl.lock');
const touchesLock = (args: readonly unknown[]) => typeof args[0] === 'string' && args[0].startsWith(lockPath());

async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
  await new Promise((exited) => child.on('exit', exited));
  return child.pid!;
}

function gate(...hooks: FsHook[]): void {
  ungate = gateFs((name, args, phase) => {
    for (const hook of hooks) hook(name, args, phase);
  });
}

/** Who is inside a lock's work right now, and the most that ever were at once. */
function occupancy() {
  const inside = new Set<string>();
  let most = 0;
  const entered: string[] = [];
  return {
    enter(who: string) {
      inside.add(who);
      entered.push(who);
      most = Math.max(most, inside.size);
    },
    leave(who: string) {
      inside.delete(who);
    },
    get most() {
      return most;
    },
    entered,
  };
}

/** An async holder that enters at once (if it can) and stays until `let go` is called. */
function holder(name: string, room: ReturnType<typeof occupancy>, options = {}) {
  let letGo!: () => void;
  const gate = new Promise<void>((resolve) => (letGo = resolve));
  const done = withFileLock(
    lockPath(),
    async () => {
      room.enter(name);
      await gate;
      room.leave(name);
    },
    { waitMs: 5_000, ...options },
  );
  return { done, letGo: () => letGo() };
}

describe('short locks: never two works at once (defect 2)', () => {
  it('a waiter that judged a lock stale, then was stopped, neither removes the new holder nor opens a gap for a third (defect 2)', async () => {
    writeFileSync(lockPath(), JSON.stringify({ pid: await deadPid(), host: hostname(), since: '2026-11-24T00:00:00.000Z' }), { mode: 0o600 });
    const room = occupancy();
    const others: Array<ReturnType<typeof holder>> = [];
    // A reads the dead holder's lock and is stopped; B takes it over and holds. A's next step on the lock (a link,
    // in either design) is stopped too, and C tries meanwhile.
    const first = pauseOnce(
      (name, args, phase) => name === 'readFileSync' && phase === 'after' && touchesLock(args),
      () => others.push(holder('B', room)),
    );
    const second = pauseOnce(
      (name, args, phase) => first.fired() && name === 'linkSync' && phase === 'before' && touchesLock(args.slice(1)),
      () => others.push(holder('C', room)),
    );
    gate(first.hook, second.hook);
    let a: unknown;
    try {
      withFileLockSync(lockPath(), () => room.enter('A'), { waitMs: 200 });
    } catch (error) {
      a = error;
    }
    ungate!();
    ungate = undefined;
    expect(first.fired() && second.fired()).toBe(true);
    expect(room.most).toBe(1);
    expect(a).toBeInstanceOf(FileLockBusyError);
    for (const other of others) other.letGo();
    await Promise.all(others.map((o) => o.done));
    expect(room.entered.sort()).toEqual(['B', 'C']);
    expect(room.most).toBe(1);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('a holder that outlived staleMs and lets go late never removes the lock of the one that took it over', async () => {
    const room = occupancy();
    let b: ReturnType<typeof holder> | undefined;
    // A's work ends after its lock looked left over (aged past staleMs); B takes it over just as A lets go.
    const late = pauseOnce(
      (name, args, phase) => room.entered.length > 0 && name === 'unlinkSync' && phase === 'before' && touchesLock(args),
      () => (b = holder('B', room, { staleMs: 1_000 })),
    );
    gate(late.hook);
    withFileLockSync(
      lockPath(),
      () => {
        room.enter('A');
        for (const name of readdirSync(dir)) utimesSync(join(dir, name), new Date(Date.now() - 3_600_000), new Date(Date.now() - 3_600_000));
        room.leave('A');
      },
      { staleMs: 1_000 },
    );
    ungate!();
    ungate = undefined;
    expect(late.fired()).toBe(true);
    expect(room.entered).toEqual(['A', 'B']);
    // B still holds: a third waiter must not get in while it does.
    let third = false;
    await expect(
      withFileLock(
        lockPath(),
        async () => {
          third = true;
        },
        { waitMs: 100, staleMs: 1_000 },
      ),
    ).rejects.toBeInstanceOf(FileLockBusyError);
    expect(third).toBe(false);
    b!.letGo();
    await b!.done;
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe('short locks: a lock that was never filled in (defect 3)', () => {
  it('an empty lock is waited for while fresh and taken over once it is older than a few seconds', () => {
    writeFileSync(lockPath(), '', { mode: 0o600 });
    expect(() => withFileLockSync(lockPath(), () => 1, { waitMs: 50 })).toThrow(FileLockBusyError);
    const old = new Date(Date.now() - 10_000);
    utimesSync(lockPath(), old, old);
    expect(withFileLockSync(lockPath(), () => 2, { waitMs: 50 })).toBe(2);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('a failed write of the holder (a full disk) leaves no lock behind', () => {
    let thrown: unknown;
    const full = pauseOnce(
      (name, args, phase) => name === 'writeSync' && phase === 'before' && typeof args[0] === 'number',
      () => {
        throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
      },
    );
    gate(full.hook);
    try {
      withFileLockSync(lockPath(), () => 1);
    } catch (error) {
      thrown = error;
    }
    ungate!();
    ungate = undefined;
    expect(full.fired()).toBe(true);
    expect((thrown as NodeJS.ErrnoException).code).toBe('ENOSPC');
    expect(readdirSync(dir)).toEqual([]);
    expect(withFileLockSync(lockPath(), () => 3)).toBe(3);
  });
});
