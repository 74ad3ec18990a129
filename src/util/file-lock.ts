/**
 * A short-lived lock file for work that takes milliseconds and must not interleave across processes (appending to
 * the audit log's hash chain: two processes reading the same tail would both write record N+1). Synchronous, so that
 * synchronous callers can use it: the holder does a read, a write and an fsync, then lets go.
 *
 * The lock is `<file>.lock`, created with O_EXCL (mode 0600) and holding pid, host and time. A lock whose holder is
 * dead (same host) or that is older than `staleMs` is taken over: renamed aside and checked, so that of several
 * waiters taking over at once only one wins. Waiting is bounded; then a clear error names the holder.
 */
import { closeSync, linkSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { processAlive } from './process-alive.js';

export interface FileLockOptions {
  /** How long to wait for another holder (default 10 s). */
  readonly waitMs?: number;
  /** A lock older than this is left over whoever holds it (default 60 s: the work takes milliseconds). */
  readonly staleMs?: number;
}

const pause = new Int32Array(new SharedArrayBuffer(4));
const sleepSync = (ms: number): void => void Atomics.wait(pause, 0, 0, ms);

/** Run `work` holding `<file>.lock`; the lock is removed however `work` ends. */
export function withFileLockSync<T>(file: string, work: () => T, options: FileLockOptions = {}): T {
  const path = `${file}.lock`;
  const waitMs = options.waitMs ?? 10_000;
  const staleMs = options.staleMs ?? 60_000;
  const mine = JSON.stringify({ pid: process.pid, host: hostname(), since: new Date().toISOString() });
  const deadline = performance.now() + waitMs;
  let delay = 1;
  for (;;) {
    let fd: number | undefined;
    try {
      fd = openSync(path, 'wx', 0o600);
      writeSync(fd, mine);
      break;
    } catch (error) {
      if (fd !== undefined) {
        closeSync(fd);
        fd = undefined;
        unlinkSync(path);
        throw error;
      }
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
    const held = holderOf(path);
    if (held === undefined) continue;
    if (held.stale(staleMs)) {
      takeOver(path, held.text);
      continue;
    }
    if (performance.now() >= deadline) {
      throw new Error(`${file} is locked by ${held.who} (${path}); gave up after ${Math.round(waitMs / 1000)}s — if that process is gone, remove ${path}`);
    }
    sleepSync(delay + Math.random() * delay);
    delay = Math.min(delay * 2, 50);
  }
  try {
    return work();
  } finally {
    try {
      if (readFileSync(path, 'utf8') === mine) unlinkSync(path);
    } catch {
      // Gone already (taken over as stale): nothing of ours to remove.
    }
  }
}

function holderOf(path: string): { text: string; who: string; stale(staleMs: number): boolean } | undefined {
  let text: string;
  let ageMs: number;
  try {
    ageMs = Date.now() - statSync(path).mtimeMs;
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  let holder: { pid?: unknown; host?: unknown } = {};
  try {
    holder = JSON.parse(text) as typeof holder;
  } catch {
    // Empty or torn: its creator is writing it this instant, or died doing so (then age decides).
  }
  const pid = typeof holder.pid === 'number' ? holder.pid : undefined;
  const host = typeof holder.host === 'string' ? holder.host : undefined;
  return {
    text,
    who: pid === undefined ? 'a process that is starting' : `pid ${pid} on ${host}`,
    stale: (staleMs) => ageMs > staleMs || (pid === undefined ? ageMs > 5_000 : host === hostname() && !processAlive(pid)),
  };
}

/** Remove a stale lock unless it changed since it was judged: renamed aside, compared, put back if it was not it. */
function takeOver(path: string, judged: string): void {
  const aside = `${path}.stale-${process.pid}-${Math.random().toString(36).slice(2)}`;
  try {
    renameSync(path, aside);
  } catch {
    return; // Another waiter took it over first: look again.
  }
  try {
    if (readFileSync(aside, 'utf8') !== judged) {
      try {
        linkSync(aside, path);
      } catch {
        // A new holder has it by now.
      }
    }
  } finally {
    unlinkSync(aside);
  }
}
