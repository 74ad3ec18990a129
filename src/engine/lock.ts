/**
 * One run per credential (I4): the lock `locks/<credential>.lock` of the state folder, taken with the protocol of
 * src/util/lock-file.ts (published whole with link(2), taken over by a new generation, never by moving the old file).
 * A second run is refused with who holds it; a lock left by a dead process on this host, or an empty lock file an
 * older rekey left while starting, is taken over, and the take-over is said out loud. The lock has no age limit: a
 * run with a person at the prompt may legitimately hold it for hours.
 */
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { RefusedError, StateFileError } from '../contract/errors.js';
import { inspectLockFile, releaseLock, tryLock, UNWRITTEN_MS, type JudgedLock, type LockFs } from '../util/lock-file.js';

interface LockInfo {
  readonly pid: number;
  readonly host: string;
  readonly run: string;
  readonly since: string;
}

export interface HeldLock {
  /** The lock file this run holds (a generation of `locks/<credential>.lock`). */
  readonly file: string;
  /** Set when a stale lock of a dead process was taken over: the dead holder's run and pid. */
  readonly tookOver: LockInfo | undefined;
  /** Set whenever a stale lock was taken over (also an empty one, which names no run): the sentence to show. */
  readonly tookOverNote: string | undefined;
  release(): void;
}

/** The lock's path for a credential: generation 0, the name older rekeys use. */
function lockPath(stateDir: string, credential: string): string {
  return join(stateDir, 'locks', `${credential}.lock`);
}

/**
 * A failed fs call while taking the lock (a full disk, a locks folder made read-only or not ours): a fault of the
 * machine, not a bug and not bad input: exit 5 (StateFileError), naming the operation and the folder, never a value.
 */
function lockFsError(credential: string, path: string, error: unknown): unknown {
  const errno = error as NodeJS.ErrnoException;
  if (typeof errno?.code !== 'string' || errno.syscall === undefined) return error;
  return new StateFileError(`take the lock of credential ${credential} in`, dirname(path), error);
}

/** Who holds a credential's lock, as its lock file says (nothing of it but an empty file while that run starts). */
export interface LockHolder {
  readonly run: string | undefined;
  readonly pid: number | undefined;
  readonly host: string | undefined;
  readonly since: string | undefined;
  /** The lock file is still empty: a run is taking it right now. */
  readonly starting: boolean;
}

/**
 * The credential is locked by a live run: a refusal (exit 3) that also says who holds the lock, so a scheduled pass
 * over many credentials (`rotate --due`) can skip this one and name the holder instead of failing.
 */
export class LockedError extends RefusedError {
  constructor(
    message: string,
    hint: string,
    readonly credential: string,
    readonly holder: LockHolder,
  ) {
    // Its name stays 'RefusedError': it is that refusal, with the holder added, for whoever matches errors by name.
    super(message, hint);
  }
}

function refusal(credential: string, path: string, busy: JudgedLock): RefusedError {
  const { holder } = busy;
  const starting = busy.state === 'starting' || holder.pid === undefined;
  const named: LockHolder = { run: holder.run, pid: holder.pid, host: holder.host, since: holder.since, starting };
  if (starting) {
    return new LockedError(
      `credential ${credential} is locked by a run that is starting right now`,
      `wait for it to finish; see \`rekey status\`. If no run is starting, ${path} is a lock file left empty by a run that died, and the next run takes ` +
        `it over once it is ${UNWRITTEN_MS / 1000}s old`,
      credential,
      named,
    );
  }
  return new LockedError(
    `credential ${credential} is being rotated by run ${holder.run ?? '(unknown)'} (pid ${holder.pid} on ` +
      `${holder.host ?? 'this host'}${holder.since === undefined ? '' : `, since ${holder.since}`})`,
    busy.remote
      ? `that lock belongs to another host; if that run is dead there, remove ${busy.file}`
      : 'wait for it to finish, or stop that process and `rekey resume` its run',
    credential,
    named,
  );
}

/** Take the lock of a credential for a run, or throw RefusedError naming the holder. `fs` is for tests. */
export function acquireLock(stateDir: string, credential: string, run: string, options: { fs?: LockFs } = {}): HeldLock {
  const path = lockPath(stateDir, credential);
  let result: ReturnType<typeof tryLock>;
  try {
    mkdirSync(join(stateDir, 'locks'), { recursive: true, mode: 0o700 });
    result = tryLock(path, { run, ...(options.fs === undefined ? {} : { fs: options.fs }) });
  } catch (error) {
    throw lockFsError(credential, path, error);
  }
  if (result === 'no-folder')
    throw new RefusedError(`credential ${credential}: the lock folder ${join(stateDir, 'locks')} disappeared while taking the lock`, 'try again');
  if ('busy' in result) throw refusal(credential, path, result.busy);
  const claim = result.held;
  // The newest stale generation is the last holder; older ones are what it had replaced itself.
  const last = claim.replaced[0];
  const named = claim.replaced.find((r) => r.holder.pid !== undefined && r.holder.run !== undefined);
  const tookOver: LockInfo | undefined =
    named === undefined ? undefined : { pid: named.holder.pid!, host: named.holder.host ?? '', run: named.holder.run!, since: named.holder.since ?? '' };
  let tookOverNote: string | undefined;
  if (tookOver !== undefined) tookOverNote = `took over a stale lock of run ${tookOver.run} (${named!.reason ?? `pid ${tookOver.pid} is no longer running`})`;
  else if (last !== undefined) tookOverNote = `took over a stale lock (${last.reason ?? 'its holder is gone'})`;
  return {
    file: claim.file,
    tookOver,
    tookOverNote,
    release() {
      releaseLock(claim);
    },
  };
}

/** What `rekey status` and `rekey check` show about a credential's lock. */
export type LockStatus =
  | { readonly state: 'free' }
  | {
      readonly state: 'held';
      readonly file: string;
      readonly run: string | undefined;
      readonly pid: number;
      readonly host: string | undefined;
      readonly since: string | undefined;
      readonly remote: boolean;
    }
  | { readonly state: 'starting'; readonly file: string; readonly ageMs: number }
  | {
      readonly state: 'stale';
      readonly file: string;
      readonly reason: string;
      readonly run: string | undefined;
      readonly pid: number | undefined;
      readonly since: string | undefined;
    }
  | { readonly state: 'unreadable'; readonly file: string; readonly code: string };

/** The lock of a credential, read only (nothing is taken over or removed). */
export function inspectLock(stateDir: string, credential: string): LockStatus {
  let seen: ReturnType<typeof inspectLockFile>;
  try {
    seen = inspectLockFile(lockPath(stateDir, credential));
  } catch (error) {
    // A lock file or folder rekey may not read (a mode changed by hand): an environment fault, shown, not thrown.
    return { state: 'unreadable', file: lockPath(stateDir, credential), code: (error as NodeJS.ErrnoException).code ?? 'I/O error' };
  }
  if (!('file' in seen)) return { state: 'free' };
  const { holder } = seen;
  if (seen.state === 'stale')
    return { state: 'stale', file: seen.file, reason: seen.reason ?? 'its holder is gone', run: holder.run, pid: holder.pid, since: holder.since };
  if (seen.state === 'starting' || holder.pid === undefined) return { state: 'starting', file: seen.file, ageMs: seen.ageMs };
  return { state: 'held', file: seen.file, run: holder.run, pid: holder.pid, host: holder.host, since: holder.since, remote: seen.remote };
}

/** One line about a lock that is not free, for `status` and `check`; undefined when it is free. */
export function describeLock(status: LockStatus): string | undefined {
  switch (status.state) {
    case 'free':
      return undefined;
    case 'held':
      return (
        `locked by run ${status.run ?? '(unknown)'} (pid ${status.pid}${status.remote ? ` on ${status.host}` : ''}` +
        `${status.since === undefined ? '' : `, since ${status.since}`})${status.remote ? '; rekey cannot tell from here whether it still runs' : ''}`
      );
    case 'starting':
      return (
        `locked by a run that is starting right now (an empty lock file, ${Math.round(status.ageMs / 1000)}s old; taken over once it is ` +
        `${UNWRITTEN_MS / 1000}s old)`
      );
    case 'stale':
      return `stale lock${status.run === undefined ? '' : ` of run ${status.run}`} left by a run that died (${status.reason}); the next run takes it over`;
    case 'unreadable':
      return `cannot read the lock ${status.file} (${status.code}); a run cannot take it until rekey can read and write the locks folder`;
  }
}
