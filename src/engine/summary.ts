/**
 * What a run produces for the screen, the report and the benchmarks: its summary and its timeline. Plain data; the
 * walker fills it, the report and the UI read it.
 */
import type { EngineEvent, LeakRecord } from '../contract/events.js';
import type { DeadBasis, Mode, Phase, RunResult, WindowBasis } from '../contract/run.js';
import type { RunbookResponse } from '../contract/runbook.js';
import type { ProviderCall } from '../contract/steps.js';

/** One step as it happened, for the timeline and the report. */
export interface TimelineEntry {
  readonly phase: Phase;
  readonly step: string;
  readonly name: string;
  readonly human: boolean;
  readonly startMs: number;
  readonly ms: number;
  /** Of `ms`, the time spent waiting for the person (a prompt open); the rest is rekey's own. 0 for machine steps. */
  readonly waitMs: number;
  readonly result: 'done' | 'failed' | 'skipped';
  readonly detail: string | undefined;
  /** Done, but what it recorded is a finding to act on (a person answered no to an audit check). */
  readonly finding?: boolean;
}

export interface RunSummary {
  readonly run: string;
  readonly credential: string;
  readonly runbook: string;
  readonly overlap: string;
  readonly mode: Mode;
  readonly result: RunResult;
  readonly ms: number;
  readonly budgetMs: number;
  readonly outageMs: number | undefined;
  /** What the window was counted from: measured (`rejected`) or an upper bound (see WindowBasis). */
  readonly outageBasis?: WindowBasis | undefined;
  readonly oldFingerprint: string | undefined;
  readonly newFingerprint: string | undefined;
  readonly oldMask: string | undefined;
  readonly newMask: string | undefined;
  readonly timeline: readonly TimelineEntry[];
  readonly findings: Readonly<Record<string, unknown>>;
  /** The requests this attempt made to the provider, so the report can leave them out of the provider's activity. */
  readonly calls?: readonly ProviderCall[];
  readonly error: string | undefined;
  readonly hint: string | undefined;
  readonly resumable: boolean;
  /** This run was resumed: `ms` and the timeline are this attempt's; `startedAt` is the first attempt's start. */
  readonly resumed: boolean;
  readonly startedAt: string;
  readonly stores: readonly string[];
  readonly roundTrips: readonly number[];
  /** Incident runs: when the leak began, when the old key was proven dead, where it leaked. */
  readonly incident?: IncidentSummary | undefined;
  report?: string | undefined;
}

export type { LeakRecord } from '../contract/events.js';

export interface IncidentSummary {
  /** Start of the audit window: when the leak began (ISO). */
  readonly since: string;
  /** End of the audit window: when the run finished (ISO). */
  readonly until: string;
  /** The old key was revoked before roll out (--revoke-first). */
  readonly revokeFirst: boolean;
  /** --revoke-first was asked for but changes nothing (overlap none). */
  readonly revokeFirstMoot: boolean;
  /** Whether the runbook has a step that proves the old key dead (a check expecting a rejection). */
  readonly provable: boolean;
  /** When the old key was proven dead (ISO), and how long after the run started. */
  readonly provenDeadAt: string | undefined;
  readonly deadAfterMs: number | undefined;
  /** What proved it first (DeadBasis), and why it is not proven when a check said so (unknown, void, still accepted). */
  readonly deadBasis: DeadBasis | undefined;
  readonly deadProblem: string | undefined;
  /** Revoke-first: from the start of the revoke until roll out and verify were done (consumers fail meanwhile). */
  readonly revokeWindowMs: number | undefined;
  readonly leak: LeakRecord | undefined;
  /** The runbook's part of the responder's checklist (`respond:`), and the provider's name for it. */
  readonly respond?: RunbookResponse | undefined;
  readonly provider?: string;
}

/** The events only an incident run emits (part of EngineEvent; rendered by `rekey incident`, printed as-is with --json). */
export type IncidentEvent = Extract<EngineEvent, { event: 'old.dead' | 'leak.search' }>;

/** The audit checks a person answered no to (step ids): findings to investigate, shown first and in the exit code. */
export function openFindings(summary: Pick<RunSummary, 'findings'>): string[] {
  return Object.entries(summary.findings)
    .filter(([, record]) => (record as { confirmed?: unknown }).confirmed === false)
    .map(([step]) => step);
}
