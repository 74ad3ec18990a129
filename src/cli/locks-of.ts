/**
 * The run locks of credentials, for `rekey status` and `rekey check`: held (by which run), left by a run that died,
 * or a run that is starting. The lock module is loaded only when the locks folder has a file in it, so that the
 * common case (nothing running) costs `status` one readdir and no module.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { LockStatus } from '../engine/lock.js';

/** Each credential's lock that is not free, with the line to show; credentials whose lock is free are left out. */
export async function locksOf(stateDir: string, credentials: Iterable<string>): Promise<Map<string, { status: LockStatus; text: string | undefined }>> {
  const found = new Map<string, { status: LockStatus; text: string | undefined }>();
  let names: string[];
  try {
    names = readdirSync(join(stateDir, 'locks'));
  } catch {
    // No locks folder (nothing ever ran here) or an unreadable one: nothing to say about locks.
    return found;
  }
  if (names.length === 0) return found;
  const { describeLock, inspectLock } = await import('../engine/lock.js');
  for (const credential of credentials) {
    if (!names.some((name) => name === `${credential}.lock` || name.startsWith(`${credential}.lock.`))) continue;
    const status = inspectLock(stateDir, credential);
    if (status.state !== 'free') found.set(credential, { status, text: describeLock(status) });
  }
  return found;
}
