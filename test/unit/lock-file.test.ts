/**
 * The lock protocol of src/util/lock-file.ts through its injected fs: a contender's `LockFs` stops it before one
 * chosen call while other contenders (with the plain fs) run, so each step of the protocol is raced on purpose.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { backOff, nodeLockFs, releaseLock, tryLock, type LockClaim, type LockFs } from '../../src/util/lock-file.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'rekey-lock-file-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const path = () => join(dir, 'api.lock');

async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
  await new Promise((exited) => child.on('exit', exited));
  return child.pid!;
}

const deadHolder = (pid: number, run: string) => JSON.stringify({ pid, host: hostname(), run, since: '2026-11-24T00:00:00.000Z' });

/** node:fs, except that the first call named `name` runs `meanwhile` first. */
function stoppedBefore(name: keyof LockFs, meanwhile: () => void): LockFs & { fired: boolean } {
  const gated = { ...nodeLockFs, fired: false } as LockFs & { fired: boolean };
  const original = nodeLockFs[name] as (...args: unknown[]) => unknown;
  (gated as unknown as Record<string, unknown>)[name] = (...args: unknown[]) => {
    if (!gated.fired) {
      gated.fired = true;
      meanwhile();
    }
    return original(...args);
  };
  return gated;
}

function take(run: string, fs?: LockFs): LockClaim {
  const result = tryLock(path(), { run, ...(fs === undefined ? {} : { fs }) });
  if (result === 'no-folder' || 'busy' in result) throw new Error(`${run} did not get the lock: ${JSON.stringify(result)}`);
  return result.held;
}

describe('lock-file protocol, raced step by step', () => {
  it('a slow contender that publishes a low generation after others moved on backs off, and removes only its own file', async () => {
    const dead = await deadPid();
    writeFileSync(path(), deadHolder(dead, 'killed'), { mode: 0o600 });
    let c: LockClaim | undefined;
    // A judged generation 0 stale and is stopped before it links generation 1. Meanwhile B takes the lock (1) and
    // dies holding it; C takes over (2) and sweeps 0 and 1. So A's link of generation 1 succeeds, below C's.
    const slow = stoppedBefore('linkSync', () => {
      const b = take('b');
      writeFileSync(b.file, deadHolder(dead, 'b'));
      c = take('c');
    });
    const a = tryLock(path(), { run: 'a', fs: slow });
    expect(slow.fired).toBe(true);
    expect(a).toMatchObject({ busy: { state: 'live', holder: { run: 'c' } } });
    expect(c!.file).toBe(`${path()}.2`);
    expect(c!.replaced.map((r) => r.holder.run)).toEqual(['b']);
    expect(readdirSync(dir)).toEqual(['api.lock.2']);
    expect(JSON.parse(readFileSync(c!.file, 'utf8'))).toMatchObject({ run: 'c', pid: process.pid });
    releaseLock(c!);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('a contender that finds a live lower generation after linking waits, then backs off to the holder', async () => {
    writeFileSync(path(), deadHolder(await deadPid(), 'killed'), { mode: 0o600 });
    let b: LockClaim | undefined;
    // A judged 0 stale and is stopped before linking 1; meanwhile B takes over (1) and releases, and C takes the
    // free lock (0). A's link of 1 succeeds, above C's live 0: A must not hold.
    const slow = stoppedBefore('linkSync', () => {
      releaseLock(take('b'));
      b = take('c');
    });
    const a = tryLock(path(), { run: 'a', fs: slow, settleMs: 20 });
    expect(slow.fired).toBe(true);
    expect(a).toMatchObject({ busy: { holder: { run: 'c' } } });
    expect(readdirSync(dir)).toEqual(['api.lock']);
    releaseLock(b!);
  });

  it('the holder sweeps temporary files left by dead writers, and never a lock file that is live', async () => {
    const dead = await deadPid();
    writeFileSync(`${path()}.tmp-${dead}-abcdef`, 'half a holder');
    const claim = take('a');
    expect(readdirSync(dir)).toEqual(['api.lock']);
    expect(tryLock(path(), { run: 'b' })).toMatchObject({ busy: { holder: { run: 'a' } } });
    releaseLock(claim);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('a lock file is never empty, even when written as slowly as possible: it appears only whole', () => {
    const seen: string[] = [];
    // Look at the lock's name between every two fs calls of the writer.
    const watching = new Proxy(nodeLockFs, {
      get(target, name: keyof LockFs) {
        const original = target[name] as (...args: unknown[]) => unknown;
        return (...args: unknown[]) => {
          try {
            seen.push(readFileSync(path(), 'utf8'));
          } catch {
            // Not there yet.
          }
          return original(...args);
        };
      },
    });
    const claim = take('a', watching);
    expect(seen.length).toBeGreaterThan(0);
    for (const text of seen) expect(JSON.parse(text)).toMatchObject({ run: 'a' });
    releaseLock(claim);
  });

  // ext4 gives a freed inode number to the next file created: seen in the ten-process race, where a holder whose
  // file had been removed released and removed the next holder's file, which then had two holders beside each other.
  // The fs here reports one inode for every file, as a folder that reuses inodes at once does.
  const oneInode: LockFs = {
    ...nodeLockFs,
    statSync: (file) => ({ ...nodeLockFs.statSync(file), ino: 7 }),
    fstatSync: (fd) => ({ ...nodeLockFs.fstatSync(fd), ino: 7 }),
  };

  it("a holder whose file was removed by someone else releases without removing the next holder's file, though it has the same inode", () => {
    const a = take('a', oneInode);
    rmSync(a.file);
    const b = take('b', oneInode);
    expect(b.file).toBe(a.file);
    releaseLock(a);
    expect(JSON.parse(readFileSync(b.file, 'utf8'))).toMatchObject({ run: 'b' });
    expect(tryLock(path(), { run: 'c', fs: oneInode })).toMatchObject({ busy: { state: 'live', holder: { run: 'b' } } });
    releaseLock(b);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('a stale file that is replaced by a live one between its judgement and its removal is left alone, and the contender does not hold', async () => {
    const dead = await deadPid();
    writeFileSync(path(), deadHolder(dead, 'killed'), { mode: 0o600 });
    // A publishes generation 1 and judges 0 stale a second time (step 3); right after that read, and before A removes
    // 0, 0 is replaced by a live holder's file (the lease of a short lock taken over meanwhile). Removing it now would
    // put A beside that holder.
    const live = JSON.stringify({ pid: process.pid, host: hostname(), run: 'b', since: new Date().toISOString(), token: 'b0' });
    let reads = 0;
    let fired = false;
    const slow: LockFs = {
      ...oneInode,
      readFileSync: (file) => {
        const text = nodeLockFs.readFileSync(file);
        if (file === path() && ++reads === 2) {
          fired = true;
          rmSync(path());
          writeFileSync(path(), live, { mode: 0o600 });
        }
        return text;
      },
    };
    const a = tryLock(path(), { run: 'a', fs: slow, settleMs: 5 });
    expect(fired).toBe(true);
    expect(a).toMatchObject({ busy: { state: 'live', holder: { run: 'b' } } });
    expect(readdirSync(dir)).toEqual(['api.lock']);
    expect(readFileSync(path(), 'utf8')).toBe(live);
  });
});

describe('backOff: the one back-off of every lock wait', () => {
  const take = (gen: Generator<number, void, void>, n: number) => Array.from({ length: n }, () => gen.next().value);

  it('doubles from the first pause to the cap', () => {
    expect(take(backOff({ budgetMs: 60_000, firstMs: 1, maxMs: 20, jitter: false }), 7)).toEqual([1, 2, 4, 8, 16, 20, 20]);
  });

  it('with jitter, each pause lies in [d, 2d)', () => {
    const pauses = take(backOff({ budgetMs: 60_000, firstMs: 2, maxMs: 8, jitter: true }), 5) as number[];
    [2, 4, 8, 8, 8].forEach((d, i) => {
      expect(pauses[i]).toBeGreaterThanOrEqual(d);
      expect(pauses[i]).toBeLessThan(2 * d);
    });
  });

  it('a spent budget ends the wait at once', () => {
    expect([...backOff({ budgetMs: 0, firstMs: 1, maxMs: 20, jitter: false })]).toEqual([]);
  });
});
