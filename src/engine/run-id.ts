import { randomBytes } from 'node:crypto';

/** A new run id: UTC time to the second plus six hex digits, e.g. `20261124T024512Z-3fa9c1`; sorts by time. */
export function newRunId(now = new Date()): string {
  const stamp = now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  return `${stamp}-${randomBytes(3).toString('hex')}`;
}
