/**
 * Atomic file writes: a temporary file in the same folder, written, fsynced, renamed over the target, and the
 * folder fsynced, so that a crash leaves either the old file or the new one, never half of either.
 * The target's mode is kept; a new file gets the mode asked for (0600 for anything that may hold a secret).
 *
 * A crash between the temporary file's creation and its rename leaves the temporary file, holding the whole new
 * content (a `.env`, a staged key). So that such a leftover can neither be committed nor read by others nor outlive
 * the next run, a temporary file:
 * - is named `.<target name>.<pid>-<host>-<random>.rekey-tmp`, which the README's ignore pattern `*.rekey-tmp`
 *   covers, and which names its writer (pid, and a short hash of the host name) so a sweep can tell a dead writer's
 *   leftover from a live writer's file;
 * - is created with O_EXCL and mode 0600, and gets the target's mode only after its content is fsynced, just before
 *   the rename;
 * - is removed by `sweepTemporaries(target)` (one target's leftovers) or `sweepFolderTemporaries(dir)` (all of a
 *   folder's, for folders only rekey writes in) once its writer is gone.
 */
import { createHash, randomBytes } from 'node:crypto';
import * as nodeFs from 'node:fs';
import { link, open, rename, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { processAlive } from './process-alive.js';
import { parseTemporaryName, TEMPORARY_SUFFIX, type TemporaryName } from './temporary-names.js';

/** The file operations a write uses; tests pass their own to pause a write at a chosen point. */
export type AtomicFileOps = Pick<
  typeof nodeFs,
  'openSync' | 'writeSync' | 'fsyncSync' | 'fchmodSync' | 'fchownSync' | 'closeSync' | 'renameSync' | 'unlinkSync' | 'realpathSync' | 'statSync'
>;

/** How a write behaves beyond its content and mode. */
export interface AtomicWriteOptions {
  /** The file operations to use (node:fs unless a test pauses a write). */
  readonly fs?: AtomicFileOps;
}

/**
 * A temporary file older than this is a leftover whoever wrote it: a write takes milliseconds, so only a crash (or a
 * pid reused after a reboot, or a writer on another host sharing the folder) explains one this old.
 */
export const TEMPORARY_STALE_MS = 10 * 60_000;

/** Who writes a temporary file: its process and the host it runs on. */
export interface TemporaryWriter {
  readonly pid: number;
  readonly host: string;
}

const hostTag = (host: string): string => createHash('sha256').update(host).digest('hex').slice(0, 8);

/** The path of a new temporary file for `path`, beside it, naming its writer (this process unless told). */
export function temporaryPath(path: string, writer: TemporaryWriter = { pid: process.pid, host: hostname() }): string {
  return join(dirname(path), `.${basename(path)}.${writer.pid}-${hostTag(writer.host)}-${randomBytes(6).toString('hex')}${TEMPORARY_SUFFIX}`);
}

/** When a sweep runs, and how old a temporary file must be to count as left over whoever wrote it. */
export interface SweepOptions {
  readonly now?: number;
  readonly staleMs?: number;
}

/**
 * The temporary files this process is writing with asynchronous calls (the audit head's move, src/engine/audit-log.ts):
 * a sweep by another run of the same process, between their creation and their rename, must leave them.
 */
const writing = new Set<string>();

/** Say that this process is writing the temporary file `path` (see `writing`) until the returned function is called. */
export function holdTemporary(path: string): () => void {
  writing.add(basename(path));
  return () => writing.delete(basename(path));
}

/**
 * Whether a temporary file's writer is gone, so removing it cannot break a write in progress: its pid is dead on
 * this host, or it is this very process and not one it is writing (its synchronous writes are never in progress
 * while a sweep runs, and it names its asynchronous ones in `writing`; any other file with our pid was left by an
 * earlier process that had it, as a container's rekey has the same pid run after run), or the file is older than
 * `staleMs`.
 */
function abandoned(parsed: TemporaryName, name: string, mtimeMs: number, options: SweepOptions): boolean {
  if (writing.has(name)) return false;
  if ((options.now ?? Date.now()) - mtimeMs > (options.staleMs ?? TEMPORARY_STALE_MS)) return true;
  if (parsed.pid === undefined || parsed.host !== hostTag(hostname())) return false;
  return parsed.pid === process.pid || !processAlive(parsed.pid);
}

/** Remove the abandoned temporary files in `dir` whose target name passes `forTarget`; returns their paths. */
function sweep(dir: string, forTarget: (target: string) => boolean, options: SweepOptions): string[] {
  let names: string[];
  try {
    names = nodeFs.readdirSync(dir);
  } catch {
    // No folder (or an unreadable one): nothing of ours can be left there that we could remove.
    return [];
  }
  const removed: string[] = [];
  for (const name of names.sort()) {
    const parsed = parseTemporaryName(name);
    if (parsed === undefined || !forTarget(parsed.target)) continue;
    const path = join(dir, name);
    try {
      const stat = nodeFs.lstatSync(path);
      if (!stat.isFile() || !abandoned(parsed, name, stat.mtimeMs, options)) continue;
      nodeFs.unlinkSync(path);
      removed.push(path);
    } catch {
      // Removed meanwhile by another sweep, or not ours to remove: either way nothing to report.
    }
  }
  return removed;
}

/**
 * Remove the temporary files that interrupted writes of `target` left beside it (never a live writer's, never the
 * target or any other file); returns the paths removed. A symlinked target is swept beside the file it points to,
 * where its writes put their temporary files.
 */
export function sweepTemporaries(target: string, options: SweepOptions = {}): string[] {
  let path = target;
  try {
    path = nodeFs.realpathSync(target);
  } catch {
    // Missing target: its temporary files, if any, are beside the path as given.
  }
  const name = basename(path);
  return sweep(dirname(path), (t) => t === name, options);
}

/** Remove every abandoned temporary file in `dir`, for folders only rekey writes in (its state folder); returns them. */
export function sweepFolderTemporaries(dir: string, options: SweepOptions = {}): string[] {
  return sweep(dir, () => true, options);
}

/** Write `content` to `path` atomically, keeping the existing mode or using `newFileMode` for a new file. */
export function writeFileAtomic(target: string, content: string | Uint8Array, newFileMode = 0o600, options: AtomicWriteOptions = {}): void {
  const fs = options.fs ?? nodeFs;
  let path = target;
  let mode = newFileMode;
  let owner: { uid: number; gid: number } | undefined;
  try {
    // A symlinked file stays a link: the file it points to is the one replaced.
    path = fs.realpathSync(target);
    const stat = fs.statSync(path);
    mode = stat.mode & 0o7777;
    owner = { uid: stat.uid, gid: stat.gid };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const dir = dirname(path);
  const temp = temporaryPath(path);
  // O_EXCL and 0600: while the temporary file holds the content, nobody else can read it, and a crash leaves it so.
  const fd = fs.openSync(temp, 'wx', 0o600);
  let closed = false;
  try {
    // Keep the owner where we may (root, or the owner itself); the file is still 0600 and empty.
    if (owner !== undefined && (owner.uid !== process.getuid?.() || owner.gid !== process.getgid?.())) {
      try {
        fs.fchownSync(fd, owner.uid, owner.gid);
      } catch {
        // Not permitted for an ordinary user: the file then belongs to whoever rotated it, as with any editor.
      }
    }
    const bytes = typeof content === 'string' ? Buffer.from(content, 'utf8') : content;
    let offset = 0;
    while (offset < bytes.length) offset += fs.writeSync(fd, bytes, offset, bytes.length - offset);
    fs.fsyncSync(fd);
    // The target's own mode only now, right before the rename; open() applied the umask, so it is always set.
    // The second fsync makes the mode durable with the rename; it is metadata only, and skipped for 0600.
    fs.fchmodSync(fd, mode);
    if (mode !== 0o600) fs.fsyncSync(fd);
    fs.closeSync(fd);
    closed = true;
    fs.renameSync(temp, path);
  } catch (error) {
    // Leave nothing behind, and report the first failure, not one of the clean-up's.
    try {
      if (!closed) fs.closeSync(fd);
    } catch {
      // The descriptor is gone either way.
    }
    try {
      fs.unlinkSync(temp);
    } catch {
      // Already renamed or linked and removed: nothing is left.
    }
    throw error;
  }
  fsyncDir(dir);
}

/**
 * Write a new file (0600) that must never replace one (a report), atomically and durably, on libuv's thread pool, so
 * that its writes and fsyncs do not hold the event loop while other runs of the process go on. Fails with EEXIST when
 * `path` exists: the finished temporary file gets its name by link(), which fails rather than replace a file where
 * rename() would replace it. The temporary file is named to this process's sweeps (`holdTemporary`) until it has its
 * name.
 */
export async function writeNewFileAtomicAsync(path: string, content: string): Promise<void> {
  const temp = temporaryPath(path);
  const release = holdTemporary(temp);
  try {
    const handle = await open(temp, 'wx', 0o600);
    try {
      await handle.writeFile(content, 'utf8');
      await handle.sync();
    } catch (error) {
      await handle.close().catch(() => undefined);
      await unlink(temp).catch(() => undefined);
      throw error;
    }
    await handle.close();
    try {
      await link(temp, path);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'ENOSYS' && code !== 'EOPNOTSUPP') {
        await unlink(temp).catch(() => undefined);
        throw error;
      }
      // No hard links on this file system (some network and FAT mounts): check, then rename. Reports are named after a
      // unique run id, so no two writers race here; the check only keeps an older file from being replaced.
      if (nodeFs.existsSync(path)) {
        await unlink(temp).catch(() => undefined);
        throw Object.assign(new Error(`EEXIST: file already exists, ${path}`), { code: 'EEXIST', path, syscall: 'link' });
      }
      await rename(temp, path);
    }
    await unlink(temp).catch(() => undefined);
  } finally {
    release();
  }
  await fsyncAsync(dirname(path));
}

/** Flush a file's content, or a folder's entries, to disk on libuv's thread pool: `fsyncDir` off the event loop. */
export async function fsyncAsync(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Flush a folder's entries (a rename or a new file) to disk. */
export function fsyncDir(dir: string): void {
  const fd = nodeFs.openSync(dir, 'r');
  try {
    nodeFs.fsyncSync(fd);
  } finally {
    nodeFs.closeSync(fd);
  }
}

/**
 * Whether `path` is one of the temporary files `writeFileAtomic` creates (or created in earlier versions): for the
 * leak search, which leaves them out (they hold what the store holds, and are swept), whatever their target.
 */
export function isAtomicTempFile(path: string): boolean {
  return parseTemporaryName(basename(path)) !== undefined;
}
