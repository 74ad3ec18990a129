/**
 * Atomic file writes: a temporary file in the same folder, written, fsynced, renamed over the target, and the
 * folder fsynced, so that a crash leaves either the old file or the new one, never half of either.
 * The target's mode is kept; a new file gets the mode asked for (0600 for anything that may hold a secret).
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fchmodSync, fchownSync, fsyncSync, openSync, realpathSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/** Write `content` to `path` atomically, keeping the existing mode or using `newFileMode` for a new file. */
export function writeFileAtomic(target: string, content: string | Uint8Array, newFileMode = 0o600): void {
  let path = target;
  let mode = newFileMode;
  let owner: { uid: number; gid: number } | undefined;
  try {
    // A symlinked file stays a link: the file it points to is the one replaced.
    path = realpathSync(target);
    const stat = statSync(path);
    mode = stat.mode & 0o7777;
    owner = { uid: stat.uid, gid: stat.gid };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const dir = dirname(path);
  const temp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  // O_EXCL with the final mode from the start: the content is never readable by others, not even briefly.
  const fd = openSync(temp, 'wx', mode);
  try {
    // open() applies the umask; the file must end with exactly the target's mode.
    fchmodSync(fd, mode);
    // Keep the owner too where we may (root, or the owner itself); the content is not yet in the file.
    if (owner !== undefined && (owner.uid !== process.getuid?.() || owner.gid !== process.getgid?.())) {
      try {
        fchownSync(fd, owner.uid, owner.gid);
      } catch {
        // Not permitted for an ordinary user: the file then belongs to whoever rotated it, as with any editor.
      }
    }
    const bytes = typeof content === 'string' ? Buffer.from(content, 'utf8') : content;
    let offset = 0;
    while (offset < bytes.length) offset += writeSync(fd, bytes, offset, bytes.length - offset);
    fsyncSync(fd);
  } catch (error) {
    closeSync(fd);
    unlinkSync(temp);
    throw error;
  }
  closeSync(fd);
  try {
    renameSync(temp, path);
  } catch (error) {
    unlinkSync(temp);
    throw error;
  }
  fsyncDir(dir);
}

/** Flush a folder's entries (a rename or a new file) to disk. */
export function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
