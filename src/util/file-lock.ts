/**
 * Short-lived lock files, for work that takes milliseconds and must not interleave across processes: rewriting a
 * `.env` (two credentials in one file), appending to the audit log's hash chain (two processes reading the same tail
 * would both write record N+1). The holder reads, writes, fsyncs and lets go.
 *
 * A lock is a file created with O_EXCL (mode 0600) holding pid, host, time and a token. A lock whose holder is dead
 * (same host), that is older than `staleMs`, or that is still empty after 5 s (its creator died filling it) is taken
 * over: renamed aside and compared, so that of several waiters taking over at once only one wins. Waiting backs off
 * with jitter and is bounded; then `FileLockBusyError` names the holder. The lock is removed however the work ends,
 * and only if it is still ours.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, linkSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { processAlive } from './process-alive.js';

export interface FileLockOptions {
  /** How long to wait for another holder (default 10 s). */
  readonly waitMs?: number;
  /** A lock older than this is left over, whoever holds it (default 60 s: the work takes milliseconds). */
  readonly staleMs?: number;
  /** When the lock's folder does not exist: run the work without a lock (it will report the missing file itself). */
  readonly unlockedIfNoFolder?: boolean;
}

/** Who holds a lock, as its file says. */
export interface LockHolder {
  readonly pid: number | undefined;
  readonly host: string | undefined;
  readonly since: string | undefined;
}

/** Another process held the lock for longer than the wait. */
export class FileLockBusyError extends Error {
  constructor(
    readonly path: string,
    readonly holder: LockHolder,
    readonly waitedMs: number,
  ) {
    const who = holder.pid === undefined ? 'a process that is starting' : `pid ${holder.pid} on ${holder.host}${holder.since === undefined ? '' : `, since ${holder.since}`}`;
    super(`${path} is held by ${who}; gave up after ${Math.round(waitedMs / 1000)}s`);
    this.name = 'FileLockBusyError';
  }

  /** True when the holder runs on another host, where rekey cannot tell whether it is alive. */
  get remote(): boolean {
    return this.holder.host !== undefined && this.holder.host !== hostname();
  }
}

const UNWRITTEN_MS = 5_000;

/** One attempt: the lock is ours (`'held'`), free to try again at once (`'again'`), or held by someone alive. */
function attempt(path: string, mine: string, options: FileLockOptions): 'held' | 'again' | 'no-folder' | LockHolder {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'wx', 0o600);
    writeSync(fd, mine);
    return 'held';
  } catch (error) {
    if (fd !== undefined) {
      // Created but not filled (a full disk): leave nothing behind.
      closeSync(fd);
      fd = undefined;
      unlinkSync(path);
      throw error;
    }
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && options.unlockedIfNoFolder === true) return 'no-folder';
    if (code !== 'EEXIST') throw error;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  let text: string;
  let ageMs: number;
  try {
    ageMs = Date.now() - statSync(path).mtimeMs;
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'again';
    throw error;
  }
  let parsed: { pid?: unknown; host?: unknown; since?: unknown } = {};
  try {
    parsed = JSON.parse(text) as typeof parsed;
  } catch {
    // Empty or torn: its creator is writing it this instant, or died doing so (then its age decides).
  }
  const holder: LockHolder = {
    pid: typeof parsed.pid === 'number' ? parsed.pid : undefined,
    host: typeof parsed.host === 'string' ? parsed.host : undefined,
    since: typeof parsed.since === 'string' ? parsed.since : undefined,
  };
  const stale = ageMs > (options.staleMs ?? 60_000) || (holder.pid === undefined ? ageMs > UNWRITTEN_MS : holder.host === hostname() && !processAlive(holder.pid));
  if (!stale) return holder;
  takeOver(path, text);
  return 'again';
}

/** Remove a stale lock unless it changed since it was judged: renamed aside, compared, put back if it was not it. */
function takeOver(path: string, judged: string): void {
  const aside = `${path}.stale-${process.pid}-${randomBytes(4).toString('hex')}`;
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

function release(path: string, mine: string): void {
  try {
    if (readFileSync(path, 'utf8') === mine) unlinkSync(path);
  } catch {
    // Gone already (taken over as stale): nothing of ours to remove.
  }
}

function holderText(): string {
  return JSON.stringify({ pid: process.pid, host: hostname(), since: new Date().toISOString(), token: randomBytes(8).toString('hex') });
}

/** Run `work` holding the lock file `path`, waiting with `await` for another holder. */
export async function withFileLock<T>(path: string, work: () => Promise<T>, options: FileLockOptions = {}): Promise<T> {
  const mine = holderText();
  const waitMs = options.waitMs ?? 10_000;
  const deadline = performance.now() + waitMs;
  for (let delay = 2; ; delay = Math.min(delay * 2, 100)) {
    const result = attempt(path, mine, options);
    if (result === 'no-folder') return work();
    if (result === 'held') break;
    if (result === 'again') continue;
    const left = deadline - performance.now();
    if (left <= 0) throw new FileLockBusyError(path, result, waitMs);
    await new Promise((wake) => setTimeout(wake, Math.min(left, delay + Math.random() * delay)));
  }
  try {
    return await work();
  } finally {
    release(path, mine);
  }
}

const pause = new Int32Array(new SharedArrayBuffer(4));

/** Run `work` holding the lock file `path`, for synchronous callers: a wait blocks the thread (milliseconds). */
export function withFileLockSync<T>(path: string, work: () => T, options: FileLockOptions = {}): T {
  const mine = holderText();
  const waitMs = options.waitMs ?? 10_000;
  const deadline = performance.now() + waitMs;
  for (let delay = 1; ; delay = Math.min(delay * 2, 50)) {
    const result = attempt(path, mine, options);
    if (result === 'no-folder') return work();
    if (result === 'held') break;
    if (result === 'again') continue;
    const left = deadline - performance.now();
    if (left <= 0) throw new FileLockBusyError(path, result, waitMs);
    Atomics.wait(pause, 0, 0, Math.min(left, delay + Math.random() * delay));
  }
  try {
    return work();
  } finally {
    release(path, mine);
  }
}
