/**
 * The run journal, `.rekey/runs/<run-id>.jsonl`: append-only, fsynced per record, hash-chained, holding
 * fingerprints and version ids and never a value. It is what `rekey resume` continues from.
 */
import { mkdirSync } from 'node:fs';
import { ChainWriter, readChain, type ChainedRecord } from './chain.js';
import { journalFile, runsDir } from './jsonl-files.js';
import type { Mode } from './types.js';

/** Journal record types. */
export type JournalEvent =
  | { type: 'run.started'; credential: string; runbook: string; overlap: string; mode: Mode; pid: number; host: string; since?: string; revokeFirst?: boolean }
  | { type: 'run.resumed'; pid: number }
  | { type: 'step.started'; phase: string; step: string; kind?: string }
  | { type: 'step.done'; phase: string; step: string; kind?: string; ms: number; human?: boolean; waitMs?: number; data?: Record<string, unknown> }
  | { type: 'step.failed'; phase: string; step: string; kind?: string; ms: number; error: string }
  // Written right before a call that may mint a key at the provider, and right after the provider returned one (its
  // fingerprint, before it is staged): a resume that finds an intent without a staged value knows a key may exist
  // that rekey does not hold.
  | { type: 'mint.intent'; step: string; repeat: 'local' | 'idempotent' | 'adapter' | 'person' | 'unsafe' }
  | { type: 'mint.minted'; fingerprint: string }
  | { type: 'run.finished'; result: 'done' | 'failed' | 'rolled-back'; error?: string };

export type JournalRecord = ChainedRecord & JournalEvent;

export { journalFile, listRuns, runsDir } from './jsonl-files.js';

/** Read a run's journal. */
export function readJournal(stateDir: string, run: string): JournalRecord[] {
  return readChain(journalFile(stateDir, run)) as JournalRecord[];
}

/**
 * Test hook: `REKEY_TEST_KILL_AFTER_RECORD=N` makes the process SIGKILL itself right after record N is fsynced,
 * so tests can stop a real run at every journal boundary in turn. It only ever ends the process.
 */
function killHook(): ((seq: number) => void) | undefined {
  const after = Number(process.env['REKEY_TEST_KILL_AFTER_RECORD']);
  if (!Number.isInteger(after) || after <= 0) return undefined;
  return (seq) => {
    if (seq === after) process.kill(process.pid, 'SIGKILL');
  };
}

/** Opens (or continues) a run's journal for writing. */
export class Journal {
  readonly #writer: ChainWriter;

  constructor(stateDir: string, readonly run: string) {
    mkdirSync(runsDir(stateDir), { recursive: true, mode: 0o700 });
    this.#writer = new ChainWriter(journalFile(stateDir, run), 0o600, killHook());
  }

  get file(): string {
    return this.#writer.file;
  }

  append(event: JournalEvent): JournalRecord {
    return this.#writer.append(event) as JournalRecord;
  }

  records(): JournalRecord[] {
    return this.#writer.records() as JournalRecord[];
  }
}
