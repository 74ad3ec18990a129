/**
 * Replacing the history index's file (src/engine/history-index-file.ts): the write-back of what a reader learned, and
 * the mark the journal's write path takes before a run is resumed. Its own module, so that `status`, which writes the
 * index only when it learned something, loads the lock and the temporary-file code only then.
 */
import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { StateFileError } from '../contract/errors.js';
import { fsyncDir, temporaryPath } from '../util/atomic-file.js';
import { withFileLockSync } from '../util/file-lock.js';
import { checkingKey, seal } from './chain-key.js';
import {
  claimedCredential,
  emptyIndex,
  fileFingerprint,
  indexFile,
  indexLockFile as lockFile,
  journalFingerprint,
  readIndexFile,
  type IndexBody,
} from './history-index-file.js';

/** The file's text: the seal (`-` without a chain key), a newline, the body's JSON. */
function indexText(body: IndexBody): string {
  const key = checkingKey();
  const json = JSON.stringify({ ...body, key: key?.id ?? null });
  return `${key === undefined ? '-' : seal(key, json)}\n${json}`;
}

/** Replace the index file by a temporary file and a rename; fsynced only when `durable`. */
function replaceIndexFile(stateDir: string, body: IndexBody, durable: boolean): void {
  const file = indexFile(stateDir);
  const temp = temporaryPath(file);
  const fd = openSync(temp, 'wx', 0o600);
  try {
    const bytes = Buffer.from(indexText(body), 'utf8');
    for (let done = 0; done < bytes.length; ) done += writeSync(fd, bytes, done, bytes.length - done);
    if (durable) fsyncSync(fd);
  } catch (error) {
    closeSync(fd);
    unlinkSync(temp);
    throw error;
  }
  closeSync(fd);
  try {
    renameSync(temp, file);
  } catch (error) {
    unlinkSync(temp);
    throw error;
  }
  if (durable) fsyncDir(stateDir);
}

/**
 * Write a refreshed index, unless the file changed since it was read as `readId` (a mark, or another reader's index:
 * theirs stays, this one's knowledge is only lost, not wrong). A cache: a state folder that cannot be written (read-only,
 * full, locked for long) keeps its index as it was. Returns the new file's fingerprint, or undefined when not written.
 */
export function writeIndexIfUnchanged(stateDir: string, body: IndexBody, readId: string): string | undefined {
  try {
    return withFileLockSync(
      lockFile(stateDir),
      () => {
        if (fileFingerprint(indexFile(stateDir)) !== readId) return undefined;
        replaceIndexFile(stateDir, body, false);
        return fileFingerprint(indexFile(stateDir));
      },
      { waitMs: 2_000 },
    );
  } catch {
    return undefined;
  }
}

/**
 * Mark a run as about to be resumed, durably, before its `run.resumed` record is appended (src/engine/journal.ts):
 * until its journal changes, every reader reads that journal rather than the index's summary of it. The one call of the
 * journal's write path into the index. A mark that cannot be written stops the resume (a StateFileError, exit 5): the
 * index would otherwise say the run finished while its journal says it goes on.
 */
export function markResuming(stateDir: string, run: string): void {
  const credential = claimedCredential(stateDir, run);
  // A journal without a readable first record is no run that can be resumed: the verified read refuses it.
  if (credential === undefined) return;
  const fp = journalFingerprint(stateDir, run);
  try {
    withFileLockSync(lockFile(stateDir), () => {
      const current = readIndexFile(stateDir).body;
      // No index (or one not to be trusted): a file of marks only, so that a reader rebuilding meanwhile cannot put back
      // an index without this mark (it replaces only the file it read), and the next reader rebuilds with it.
      const body = current ?? emptyIndex(false);
      body.marks[run] = { credential, fp };
      replaceIndexFile(stateDir, body, true);
    });
  } catch (error) {
    throw new StateFileError('mark the resumed run in', indexFile(stateDir), error);
  }
}
