/**
 * Events the engine emits; the UI renders them live on a terminal, as plain lines, or as NDJSON (--json). The engine
 * owns these types: the UI imports them from here, and nothing in the engine imports the UI.
 */
import type { LeakSearchResult } from './leaks.js';
import type { DeadBasis, Mode, Phase, RunResult, WindowBasis } from './run.js';

/** What the leak search found, as journaled (paths, lines, commit ids; never a value). */
export type LeakRecord = LeakSearchResult | { readonly notSearched: string };

export type EngineEvent =
  | {
      event: 'run.started';
      credential: string;
      run: string;
      mode: Mode;
      runbook: string;
      overlap: string;
      resumed: boolean;
      budgetMs: number;
      stores: string[];
    }
  | { event: 'phase.started'; phase: Phase; continued?: boolean }
  | { event: 'step.started'; phase: Phase; step: string; name: string; human: boolean }
  | {
      event: 'step.done';
      phase: Phase;
      step: string;
      name: string;
      ms: number;
      waitMs: number;
      human: boolean;
      detail: string | undefined;
      skipped?: boolean;
      /** Done, with a finding to act on (an audit check answered no): a warning, never a ✓. */
      finding?: boolean;
    }
  | { event: 'step.failed'; phase: Phase; step: string; name: string; ms: number; error: string; hint: string | undefined }
  // `run`: a note before the run's first event (a lock taken over) names the run itself, since no run.started precedes it.
  | { event: 'note'; level: 'info' | 'warn'; message: string; run?: string }
  | { event: 'instructions'; step: string; message: string; url: string | undefined }
  // `at`: when it opened (ISO; for a resumed run, the first attempt's moment); `basis`: what it was counted from.
  | { event: 'outage.started'; at?: string; basis?: WindowBasis }
  | { event: 'outage.ended'; ms: number }
  // Incident runs: the moment the old key is proven dead, and where the leak search found it (never the value).
  // `basis`: what proved it (DeadBasis); `control`: whether the new key was accepted by the same check (`none`: no new key yet).
  | {
      event: 'old.dead';
      credential: string;
      run: string;
      mask: string | undefined;
      fingerprint: string | undefined;
      at: string;
      afterStartMs: number;
      basis?: DeadBasis;
      control?: 'accepted' | 'none';
    }
  | { event: 'leak.search'; credential: string; run: string; summary: string; leak: LeakRecord }
  // Every audit record as written (hashes and seal included), so a log pipeline keeps a copy of the chain elsewhere.
  | {
      event: 'audit.record';
      seq: number;
      at: string;
      prev: string;
      hash: string;
      who: string;
      credential: string;
      run: string;
      mode: string;
      phase: string;
      result: string;
      fingerprints?: { old?: string | undefined; new?: string | undefined };
      detail?: string;
      key?: string;
      mac?: string;
    }
  | {
      event: 'run.finished';
      credential: string;
      run: string;
      result: RunResult;
      seconds: number;
      outageSeconds: number | undefined;
      report: string | undefined;
      resumable: boolean;
      error: string | undefined;
      hint?: string | undefined;
      /** Audit checks a person answered no to (activity they do not recognise): the step ids, when there are any. */
      findings?: string[];
    };

/**
 * What every NDJSON line carries besides its event (the sink adds it, since one run's events all share it): the
 * credential, the run once it has an id (a line about a credential that did not run, such as a skip, has none), and
 * the time the line was written, ISO 8601 in UTC. The one line about no single credential is the tally that ends
 * `rotate` over several: it lists them all.
 */
export interface EventStamp {
  readonly credential?: string | undefined;
  readonly run?: string | undefined;
  readonly time: string;
}

/** Where engine events go. */
export interface EventSink {
  emit(event: EngineEvent): void;
}
