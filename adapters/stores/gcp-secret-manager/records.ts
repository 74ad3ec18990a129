/** The runs rekey records in a secret's annotations, so that a resumed run finds the version it added. */
import { createHash } from 'node:crypto';
import type { RunId } from '../../../src/contract/store.js';

import { type GcpSecretInfo, gcloudSecretFlags } from './client.js';

/** What a run records on the secret before it adds a version, and updates as it goes. */
export interface RunRecord {
  readonly v: 1;
  readonly run: RunId;
  readonly field?: string | undefined;
  /** Fingerprint of the new value (the field's value, or the whole payload). */
  readonly fp: string;
  /** Fingerprint of the old value, to recognise a rollback's restoring version. */
  readonly baseFp?: string | undefined;
  /** The version that was current when the run staged. */
  readonly base: number;
  /** The newest version number when the record was written: the run's version is newer. */
  readonly after: number;
  /** The run's version, once known for certain (from promote or rollback on). */
  readonly version?: number | undefined;
  /** The version a rollback added to give `latest` readers the old value back. */
  readonly restore?: number | undefined;
  readonly state: 'staged' | 'promoted' | 'rolled-back';
}

export const RECORD_PREFIX = 'rekey.';
/** Records of older runs are pruned beyond this many, to stay far below the 16 KiB annotation limit. */
export const RECORDS_KEPT = 16;
export const ANNOTATION_KEY = /^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$/;

/**
 * The annotation key for a run (and field). Keys must be 1–63 characters, alphanumeric at both ends, with `-`,
 * `_`, `.` between; run ids and field names that do not fit are hashed.
 */
export function recordKey(run: RunId, field: string | undefined): string {
  const plain = /^[A-Za-z0-9_-]+$/;
  if (plain.test(run) && (field === undefined || plain.test(field))) {
    const key = field === undefined ? `${RECORD_PREFIX}${run}` : `${RECORD_PREFIX}${run}.${field}`;
    if (ANNOTATION_KEY.test(key)) return key;
  }
  return `${RECORD_PREFIX}h.${createHash('sha256')
    .update(`${run}#${field ?? ''}`)
    .digest('hex')
    .slice(0, 40)}`;
}

export function parseRecord(text: string | undefined): RunRecord | undefined {
  if (text === undefined) return undefined;
  try {
    const value = JSON.parse(text) as Partial<RunRecord>;
    if (value?.v !== 1 || typeof value.run !== 'string' || typeof value.fp !== 'string' || typeof value.base !== 'number' || typeof value.after !== 'number') {
      return undefined;
    }
    return value as RunRecord;
  } catch {
    return undefined;
  }
}

export function readRecord(secret: GcpSecretInfo, run: RunId, field: string | undefined): RunRecord | undefined {
  const record = parseRecord(secret.annotations[recordKey(run, field)]);
  return record !== undefined && record.run === run && record.field === field ? record : undefined;
}

/** The annotations with `record` set, other annotations kept, and the oldest rekey records pruned. */
export function withRecord(annotations: Readonly<Record<string, string>>, record: RunRecord): Record<string, string> {
  const key = recordKey(record.run, record.field);
  const next: Record<string, string> = { ...annotations, [key]: JSON.stringify(record) };
  const others = Object.entries(next)
    .filter(([k]) => k !== key && k.startsWith(RECORD_PREFIX))
    .map(([k, v]) => ({ k, run: parseRecord(v)?.run ?? '' }))
    .sort((a, b) => (a.run < b.run ? 1 : a.run > b.run ? -1 : 0));
  for (const { k } of others.slice(RECORDS_KEPT - 1)) delete next[k];
  return next;
}

/** How to clear another run's staged version: finish it, roll it back, or (abandoned) disable the version. */
export function stagedByAnotherHint(other: { run: RunId; version: number }, name: string): string {
  return (
    `finish that run (rekey resume ${other.run}) or roll it back (rekey rollback ${other.run}); if it is abandoned, disable its version: ` +
    `gcloud secrets versions disable ${other.version} ${gcloudSecretFlags(name)}`
  );
}
