/**
 * Reading a file only when it is a regular file, for every file rekey reads without being told to read that very
 * path: a `.env`, a config or runbook found in a repository, a cache entry, a journal, the audit log, the history
 * index. A FIFO at the path would block the open (and the whole process, timers included) until a writer came; a
 * link to /dev/zero would be read forever. Opened without waiting and checked on the descriptor, either is refused
 * with an error whose code is ENOTREGULAR, which callers word (plainReason, the stores' fsError) or count as damage.
 */
import { closeSync, constants, fstatSync, openSync, readFileSync, type Stats } from 'node:fs';

/** How such a file is opened for reading: without waiting. O_NONBLOCK changes nothing for a regular file. */
export const READ_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK;

/** The error for a path that is not a regular file (a FIFO, a device, a socket, a folder). */
export function notRegularFile(path: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${path} is not a regular file`), { code: 'ENOTREGULAR', syscall: 'open', path });
}

/** Whether an error is notRegularFile's. */
export const isNotRegularFile = (error: unknown): boolean => (error as NodeJS.ErrnoException | undefined)?.code === 'ENOTREGULAR';

/**
 * Open `path` for reading if it is a regular file (`extraFlags`: O_NOFOLLOW, say), with its state read from the
 * descriptor; the caller closes `fd`. Throws notRegularFile's error for anything else, the system's error otherwise.
 */
export function openRegularSync(path: string, extraFlags = 0): { fd: number; stats: Stats } {
  const fd = openSync(path, READ_FLAGS | extraFlags);
  let stats: Stats | undefined;
  try {
    stats = fstatSync(fd);
  } finally {
    if (stats?.isFile() !== true) closeSync(fd);
  }
  if (!stats.isFile()) throw notRegularFile(path);
  return { fd, stats };
}

/** A regular file, read whole (see openRegularSync). */
export function readRegularFileSync(path: string): Buffer {
  const { fd } = openRegularSync(path);
  try {
    return readFileSync(fd);
  } finally {
    closeSync(fd);
  }
}
