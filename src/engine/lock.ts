/**
 * One run per credential (I4): a lock file created with O_EXCL. A second run is refused with who holds it;
 * a lock left by a dead process on this host is taken over, and the take-over is said out loud.
 */
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, unlinkSync, writeSync, fsyncSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { RefusedError } from '../util/errors.js';
import { processAlive } from '../util/process-alive.js';

interface LockInfo {
  readonly pid: number;
  readonly host: string;
  readonly run: string;
  readonly since: string;
}

export interface HeldLock {
  readonly file: string;
  /** Set when a stale lock of a dead process was taken over. */
  readonly tookOver: LockInfo | undefined;
  release(): void;
}


/**
 * The holder named in a lock file. A lock created this instant reads as empty until its creator has written it, so
 * an empty or torn read is tried again for a moment: the refusal should name the holder, not "someone".
 */
function readHolder(file: string): LockInfo | undefined {
  for (let attempt = 0; attempt < 20; attempt++) {
    try {
      return JSON.parse(readFileSync(file, 'utf8')) as LockInfo;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
    }
  }
  return undefined;
}

/** Take the lock of a credential for a run, or throw RefusedError naming the holder. */
export function acquireLock(stateDir: string, credential: string, run: string): HeldLock {
  const dir = join(stateDir, 'locks');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, `${credential}.lock`);
  const mine: LockInfo = { pid: process.pid, host: hostname(), run, since: new Date().toISOString() };
  let tookOver: LockInfo | undefined;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(file, 'wx', 0o600);
      writeSync(fd, JSON.stringify(mine));
      fsyncSync(fd);
      closeSync(fd);
      return {
        file,
        tookOver,
        release() {
          try {
            const held = JSON.parse(readFileSync(file, 'utf8')) as LockInfo;
            if (held.pid === mine.pid && held.run === run) unlinkSync(file);
          } catch {
            // Already gone: nothing to release.
          }
        },
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const holder = readHolder(file);
    // Released between our attempt and the read: try again.
    if (holder === undefined && !existsSync(file)) continue;
    if (holder === undefined) {
      throw new RefusedError(`credential ${credential} is locked by a run that is starting right now`, 'wait for it to finish; see `rekey status`');
    }
    if (holder.host === mine.host && !processAlive(holder.pid)) {
      // Rename, not unlink: of two processes racing to take over, only one rename succeeds.
      try {
        renameSync(file, `${file}.stale-${process.pid}`);
        unlinkSync(`${file}.stale-${process.pid}`);
        tookOver = holder;
      } catch {
        // Someone else took it over first; try again, and meet their live lock.
      }
      continue;
    }
    throw new RefusedError(
      `credential ${credential} is being rotated by run ${holder.run} (pid ${holder.pid} on ${holder.host}, since ${holder.since})`,
      holder.host === mine.host ? 'wait for it to finish, or stop that process and `rekey resume` its run' : `that lock belongs to another host; if that run is dead there, remove ${file}`,
    );
  }
  throw new RefusedError(`credential ${credential}: could not take the lock`, 'try again');
}
