/**
 * What the Doppler store remembers of its runs. Doppler keeps no metadata on a secret that an API token can write
 * (the Vault store uses custom_metadata, the AWS store a staging label), so the record lives in rekey's state folder,
 * beside the journal that a resume needs anyway: one small JSON file per secret, `doppler/<hash>.json`, holding per run
 * the tags of the old and new values (16 hex digits of SHA-256 over the run id and the value: no value, and nothing
 * that says anything about another run's values). The values themselves stay in Doppler: its config logs keep every
 * version ("Versioning", Retention: https://docs.doppler.com/docs/versioning), which is where readPrevious finds the old one.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunId } from '../../../src/contract/store.js';
import { sweepTemporaries, writeFileAtomic } from '../../../src/util/atomic-file.js';

/** Rekey keeps at most this many runs per secret; older ones are pruned. */
export const MAX_RUNS = 8;

export interface RunRecord {
  readonly run: RunId;
  /** The version (value fingerprint) current when the run wrote. */
  readonly base: string;
  /** Tag of the value this run writes. */
  readonly new: string;
  /** Tag of the value that was current, to recognise it in the config logs and after a rollback. */
  readonly old: string;
  readonly at: string;
  /** The run was rolled back: its value is no longer what it staged. */
  readonly rolledBack?: boolean | undefined;
}

interface RecordFile {
  readonly rekey: 'doppler-runs';
  readonly secret: string;
  readonly runs: RunRecord[];
}

/** A run's tag of a value, never the value itself. */
export function tag(run: RunId, value: string): string {
  return createHash('sha256').update(`rekey doppler\n${run}\n${value}`, 'utf8').digest('hex').slice(0, 16);
}

/** The records of one secret (`project/config#NAME`) in a state folder. */
export class RunRecords {
  readonly path: string;

  constructor(
    stateDir: string,
    private readonly secret: string,
  ) {
    this.path = join(stateDir, 'doppler', `${createHash('sha256').update(secret).digest('hex').slice(0, 24)}.json`);
  }

  all(): RunRecord[] {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    const parsed = JSON.parse(text) as Partial<RecordFile>;
    if (parsed.rekey !== 'doppler-runs' || parsed.secret !== this.secret || !Array.isArray(parsed.runs)) return [];
    return parsed.runs.filter((r) => typeof r?.run === 'string' && typeof r.new === 'string' && typeof r.old === 'string');
  }

  get(run: RunId): RunRecord | undefined {
    return this.all().find((r) => r.run === run);
  }

  /** Record (or replace) a run's entry, durably (an atomic write) before the write it stands for. */
  put(record: RunRecord): void {
    const runs = [...this.all().filter((r) => r.run !== record.run), record].slice(-MAX_RUNS);
    mkdirSync(join(this.path, '..'), { recursive: true, mode: 0o700 });
    writeFileAtomic(this.path, `${JSON.stringify({ rekey: 'doppler-runs', secret: this.secret, runs } satisfies RecordFile)}\n`);
  }

  /** Temporaries of a record write killed before its rename. */
  sweep(): string[] {
    return sweepTemporaries(this.path);
  }
}
