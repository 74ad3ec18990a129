/**
 * Short-lived locks, for work that takes milliseconds and must not interleave across processes: rewriting a `.env`
 * (two credentials in one file), appending to the audit log's hash chain (two processes reading the same tail would
 * both write record N+1). The holder reads, writes, fsyncs and lets go.
 *
 * The lock is the one protocol of ./lock-file.ts (see its header for why it is race-free): a holder's file is
 * published whole with link(2), a stale one (its holder dead on this host, older than `staleMs`, or empty and older
 * than 5 s) is replaced by a new generation rather than moved away, and release removes only the releaser's own
 * file. Waiting backs off with jitter and is bounded (one loop, `claims`, for the synchronous and the asynchronous
 * caller, on the back-off of ./lock-file.ts); then `FileLockBusyError` names the holder.
 */
import { hostname } from 'node:os';
import { backOff, inspectLockFile, releaseLock, sleepSync, tryLock, type JudgedLock, type LockClaim, type LockFs, type LockOptions } from './lock-file.js';
import { wholeSeconds } from './time.js';

export interface FileLockOptions {
  /** How long to wait for another holder (default 10 s). */
  readonly waitMs?: number;
  /** A lock older than this is left over, whoever holds it (default 60 s: the work takes milliseconds). */
  readonly staleMs?: number;
  /** When the lock's folder does not exist: run the work without a lock (it will report the missing file itself). */
  readonly unlockedIfNoFolder?: boolean;
  /** The fs calls of the lock, for tests (default node:fs). */
  readonly fs?: LockFs;
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
    const who =
      holder.pid === undefined
        ? 'a process that is starting'
        : `pid ${holder.pid} on ${holder.host}${holder.since === undefined ? '' : `, since ${holder.since}`}`;
    super(`${path} is held by ${who}; gave up after ${wholeSeconds(waitedMs)}`);
    this.name = 'FileLockBusyError';
  }

  /** True when the holder runs on another host, where rekey cannot tell whether it is alive. */
  get remote(): boolean {
    return this.holder.host !== undefined && this.holder.host !== hostname();
  }
}

/** The lock-file options of a short lock. */
function lockOptions(options: FileLockOptions): LockOptions {
  return { staleMs: options.staleMs ?? 60_000, ...(options.fs === undefined ? {} : { fs: options.fs }) };
}

/** One attempt: the lock is ours, the folder is missing, or someone alive holds it. */
function attempt(path: string, options: FileLockOptions): LockClaim | 'no-folder' | JudgedLock {
  const result = tryLock(path, lockOptions(options));
  if (result === 'no-folder') {
    if (options.unlockedIfNoFolder === true) return 'no-folder';
    throw Object.assign(new Error(`ENOENT: no such file or directory, lock folder of ${path}`), { code: 'ENOENT', syscall: 'open', path });
  }
  return 'held' in result ? result.held : result.busy;
}

function busyError(path: string, busy: JudgedLock, waitMs: number): FileLockBusyError {
  return new FileLockBusyError(path, { pid: busy.holder.pid, host: busy.holder.host, since: busy.holder.since }, waitMs);
}

/**
 * The one wait loop of both kinds of caller: try, and while someone alive holds the lock, yield the pause to take
 * before the next try (the back-off of ./lock-file.ts); returns the claim, or 'no-folder', or throws
 * FileLockBusyError once the wait is spent. The caller only sleeps, blocking or with await.
 */
function* claims(path: string, options: FileLockOptions): Generator<number, LockClaim | 'no-folder', void> {
  const waitMs = options.waitMs ?? 10_000;
  const pauses = backOff({ budgetMs: waitMs, firstMs: 1, maxMs: 50, jitter: true });
  for (;;) {
    const result = attempt(path, options);
    if (result === 'no-folder' || 'ino' in result) return result;
    const pause = pauses.next();
    if (pause.done === true) throw busyError(path, result, waitMs);
    yield pause.value;
  }
}

/** Run `work` holding the lock file `path`, waiting with `await` for another holder. */
export async function withFileLock<T>(path: string, work: () => Promise<T>, options: FileLockOptions = {}): Promise<T> {
  const tries = claims(path, options);
  let step = tries.next();
  while (step.done !== true) {
    const ms = step.value;
    await new Promise((wake) => setTimeout(wake, ms));
    step = tries.next();
  }
  if (step.value === 'no-folder') return work();
  const claim = step.value;
  try {
    return await work();
  } finally {
    releaseLock(claim);
  }
}

/** Run `work` holding the lock file `path`, for synchronous callers: a wait blocks the thread (milliseconds). */
export function withFileLockSync<T>(path: string, work: () => T, options: FileLockOptions = {}): T {
  const tries = claims(path, options);
  let step = tries.next();
  while (step.done !== true) {
    sleepSync(step.value);
    step = tries.next();
  }
  if (step.value === 'no-folder') return work();
  const claim = step.value;
  try {
    return work();
  } finally {
    releaseLock(claim);
  }
}

/**
 * Remove a short lock left by a dead holder (a process killed during an append or a rewrite), where no later write
 * would take it over: the lock is taken and let go at once, through the same take-over rules, so a live holder's lock
 * is never touched. Returns the files removed.
 */
export function clearStaleFileLock(path: string, options: FileLockOptions = {}): string[] {
  const found = inspectLockFile(path, lockOptions(options));
  if (found.state !== 'stale') return [];
  const taken = tryLock(path, lockOptions(options));
  if (taken === 'no-folder' || !('held' in taken)) return [];
  releaseLock(taken.held);
  return taken.held.replaced.map((r) => r.file);
}
