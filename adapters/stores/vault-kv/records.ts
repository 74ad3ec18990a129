/** The runs rekey records in a secret's custom_metadata, so that a resumed run finds the version it wrote. */
import { createHash } from 'node:crypto';
import type { RunId, StoreRef } from '../../../src/contract/store.js';
import { StoreError } from '../../../src/contract/store-errors.js';

/** Rekey keeps at most this many run entries per secret in `custom_metadata`; older ones are pruned. */
export const MAX_RUN_ENTRIES = 8;
/** Vault's own limits on `custom_metadata`. */
export const CUSTOM_METADATA_LIMITS = { keys: 64, keyBytes: 128, valueBytes: 512 } as const;

export const ENTRY_PREFIX = 'rekey:';
/** The tag recorded for a field that was not in the secret. */
export const ABSENT = '-';

/** What rekey records about one run in `custom_metadata`. */
export interface RunEntry {
  readonly run: RunId;
  /** The version current when the run wrote; the run's own version is `base + 1`. */
  readonly base: number;
  /** Tag of the value this run writes. */
  readonly new: string;
  /** Tag of the value that was current (`base`), to recognise the rollback's write. */
  readonly old: string;
  readonly at: string;
  /** The version that was current when this run started its rollback; the rollback wrote `rollback + 1`. */
  readonly rollback?: number | undefined;
}

/** The custom_metadata key of one run's entry: `rekey:<run>:<field>`, hashed when longer than Vault allows. */
export function entryKey(run: RunId, field: string): string {
  const plain = `${ENTRY_PREFIX}${run}:${field}`;
  if (Buffer.byteLength(plain, 'utf8') <= CUSTOM_METADATA_LIMITS.keyBytes && !/[^\x20-\x7e]/.test(plain)) return plain;
  return `${ENTRY_PREFIX}${createHash('sha256').update(`${run}\n${field}`).digest('hex').slice(0, 32)}`;
}

/** A run's tag of a value: 16 hex digits of SHA-256 over the run id and the value, never the value itself. */
export function tag(run: RunId, value: string): string {
  return createHash('sha256').update(`rekey vault-kv\n${run}\n${value}`, 'utf8').digest('hex').slice(0, 16);
}

export function entryOf(custom: Record<string, string>, run: RunId, field: string): RunEntry | undefined {
  const entry = parseEntry(custom[entryKey(run, field)]);
  return entry?.run === run ? entry : undefined;
}

export function entriesOf(custom: Record<string, string>, field: string): RunEntry[] {
  return Object.entries(custom)
    .filter(([key]) => key.startsWith(ENTRY_PREFIX))
    .map(([, value]) => parseEntry(value))
    .filter((e): e is RunEntry => e !== undefined && entryKey(e.run, field) in custom);
}

export function parseEntry(text: string | undefined): RunEntry | undefined {
  if (text === undefined) return undefined;
  try {
    const raw = JSON.parse(text) as Record<string, unknown>;
    if (typeof raw['run'] !== 'string' || !Number.isInteger(raw['base']) || typeof raw['new'] !== 'string' || typeof raw['old'] !== 'string') return undefined;
    return {
      run: raw['run'],
      base: raw['base'] as number,
      new: raw['new'],
      old: raw['old'],
      at: typeof raw['at'] === 'string' ? raw['at'] : '',
      rollback: Number.isInteger(raw['rollback']) ? (raw['rollback'] as number) : undefined,
    };
  } catch {
    return undefined;
  }
}

/**
 * custom_metadata with `entry` set under `key`: every key that is not rekey's is kept, and the oldest rekey entries
 * are dropped so that at most MAX_RUN_ENTRIES remain and the whole map fits Vault's 64 keys.
 */
export function withEntry(operation: string, ref: StoreRef, custom: Record<string, string>, key: string, entry: RunEntry): Record<string, string> {
  const value = JSON.stringify(entry);
  const others = Object.entries(custom).filter(([k]) => !k.startsWith(ENTRY_PREFIX));
  // How many earlier rekey entries may stay besides this one.
  const keep = Math.min(MAX_RUN_ENTRIES, CUSTOM_METADATA_LIMITS.keys - others.length) - 1;
  if (keep < 0) {
    throw new StoreError(
      'invalid',
      operation,
      ref.display,
      `custom_metadata already holds ${others.length} keys of its own; rekey needs one of Vault's ${CUSTOM_METADATA_LIMITS.keys}`,
      {
        hint: 'remove a custom_metadata key from this secret',
      },
    );
  }
  const earlier = Object.entries(custom)
    .filter(([k]) => k.startsWith(ENTRY_PREFIX) && k !== key)
    .map(([k, v]) => ({ key: k, value: v, at: parseEntry(v)?.at ?? '' }))
    .sort((a, b) => (a.at === b.at ? a.key.localeCompare(b.key) : a.at.localeCompare(b.at)));
  const kept = keep === 0 ? [] : earlier.slice(-keep);
  return Object.fromEntries([...others, ...kept.map((e) => [e.key, e.value] as const), [key, value]]);
}
