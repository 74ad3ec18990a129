/**
 * The planner: credential + runbook + stores + mode -> the steps of a run, as typed values. Pure: no I/O, no clock,
 * so the order of a run (and of its rollback) is testable in process and is the same on resume as it was the first
 * time. Overlap `none` and incident `--revoke-first` are different plans, not branches in the walker.
 *
 * A step's `id` is what the journal records; it is stable across versions of a plan (resume matches on it), and
 * nothing reads meaning out of it: the walker and the reducer use `kind`, `store`, `hook` and `step`.
 */
import { mints, needsPerson, type Runbook, type Step } from '../contract/runbook.js';
import type { Mode, Phase } from '../contract/run.js';

/** What a step does; one handler per kind (handlers.ts). */
export type StepKind =
  | 'preflight'
  | 'mint'
  | 'prove-dead'
  | 'promote'
  | 'hook'
  | 'readback'
  | 'verify'
  | 'revoke'
  | 'verify-revoked'
  | 'leak-search'
  | 'retire'
  | 'audit-window'
  | 'audit'
  | 'discard'
  | 'restore'
  | 'rollback-hook';

export interface PlannedStep {
  readonly id: string;
  readonly kind: StepKind;
  readonly phase: Phase;
  readonly name: string;
  /** The step needs the person (a prompt). */
  readonly human: boolean;
  /** Steps sharing a group run side by side (independent store writes); the walker lets every one settle. */
  readonly group?: 'promote' | 'retire' | 'restore' | undefined;
  /** Index into the credential's stores. */
  readonly store?: number | undefined;
  /** Index into the credential's rollout hooks. */
  readonly hook?: number | undefined;
  /** The runbook step this one runs (verify, revoke, verify-revoked, audit, discard, and the mint's steps). */
  readonly step?: Step | undefined;
}

/** A stretch of steps shown under one phase heading. */
export interface Segment {
  readonly phase: Phase;
  /** The phase was headed before (revoke-first splits revoke in two). */
  readonly continued: boolean;
  /** Revoke-first's early revoke: consumers on the old key fail from here until roll out and verify are done. */
  readonly early: boolean;
  readonly steps: readonly PlannedStep[];
}

export interface Plan {
  readonly segments: readonly Segment[];
  /** The stores that cannot be read back (write-only), by display name: verify relies on the provider's check for them. */
  readonly notReadBack: readonly string[];
  /** The step after which the old key counts as proven dead (the last verify-revoked step), if the runbook has one. */
  readonly provesDead: string | undefined;
  /** What opens an outage window: the mint (overlap none), the early revoke (revoke-first), or nothing. */
  readonly window: 'mint' | 'early-revoke' | undefined;
}

export interface PlanInput {
  readonly runbook: Runbook;
  /** The credential's stores, by display name, in declared order. */
  readonly stores: readonly string[];
  /** The credential's rollout hooks, by name. */
  readonly hooks: readonly string[];
  /**
   * Per store (same order as `stores`), whether its value can be read back (`capabilities.readBack`); absent means
   * every store can. A write-only store gets no read back: verify relies on the provider's check for it.
   */
  readonly readBack?: readonly boolean[] | undefined;
  readonly mode: Mode;
  /** Incident --revoke-first (as journaled for a resumed run). Moot for overlap none. */
  readonly revokeFirst: boolean;
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** What a store that cannot be read back relies on instead, in the words of the plan and the report. */
export const NOT_READ_BACK = "cannot be read back: relies on the provider's check";

function readBackName(readable: readonly string[], notReadBack: readonly string[]): string {
  if (notReadBack.length === 0) return 'read every store back';
  return `read ${readable.join(', ')} back (${notReadBack.join(', ')} ${NOT_READ_BACK})`;
}

/** The steps of a run, in the order they run. */
export function planRun(input: PlanInput): Plan {
  const { runbook, stores, hooks, mode } = input;
  const revokeFirst = input.revokeFirst && runbook.overlap !== 'none';
  const runbookSteps = (kind: StepKind, phase: Phase, steps: readonly Step[]): PlannedStep[] =>
    steps.map((step) => ({ id: `${kind}:${step.id}`, kind, phase, name: step.name, human: needsPerson(step), step }));
  const perStore = (kind: 'promote' | 'retire', phase: Phase, name: (display: string) => string): PlannedStep[] =>
    stores.map((display, store) => ({ id: `${kind}:${store}`, kind, phase, name: name(display), human: false, group: kind, store }));

  const generate: PlannedStep[] = [
    { id: 'preflight', kind: 'preflight', phase: 'generate', name: `read ${plural(stores.length, 'store')} and check the old key`, human: false },
    { id: 'mint', kind: 'mint', phase: 'generate', name: runbook.generate.find(mints)?.name ?? 'mint the new key', human: runbook.generate.some(needsPerson) },
    // Incident, overlap none: the mint is the revoke, so the old key is proven dead right after it (asked once, with the
    // new key as a control), not after roll out and verify; the verify-revoked steps ask again, with retries, if not.
    ...(mode === 'incident' && runbook.overlap === 'none' && runbook.verifyRevoked.some((s) => s.kind === 'http')
      ? [{ id: 'prove-dead', kind: 'prove-dead', phase: 'generate', name: 'prove the old key dead (the mint killed it)', human: false } satisfies PlannedStep]
      : []),
  ];
  const rollout: PlannedStep[] = [
    ...perStore('promote', 'rollout', (display) => `make current in ${display}`),
    ...hooks.map((name, hook): PlannedStep => ({ id: `hook:${hook}`, kind: 'hook', phase: 'rollout', name, human: false, hook })),
  ];
  const readable = stores.filter((_, i) => input.readBack?.[i] !== false);
  const notReadBack = stores.filter((_, i) => input.readBack?.[i] === false);
  const verify: PlannedStep[] = [
    ...(readable.length === 0
      ? []
      : [{ id: 'readback', kind: 'readback', phase: 'verify', name: readBackName(readable, notReadBack), human: false } satisfies PlannedStep]),
    ...runbookSteps('verify', 'verify', runbook.verify),
  ];
  const revoke = [...runbookSteps('revoke', 'revoke', runbook.revoke), ...runbookSteps('verify-revoked', 'revoke', runbook.verifyRevoked)];
  // The leak search runs after the old key is proven dead (it never delays that) and before retire, while the stores
  // still hold the old value to search for (so a resume after a crash can still search).
  const tidy: PlannedStep[] = [
    ...(mode === 'incident' ? [{ id: 'leak-search', kind: 'leak-search', phase: 'revoke', name: 'leak search', human: false } satisfies PlannedStep] : []),
    ...perStore('retire', 'revoke', (display) => `drop the old value from ${display}`),
  ];
  const audit: PlannedStep[] = [
    ...(mode === 'incident' ? [{ id: 'audit-window', kind: 'audit-window', phase: 'audit', name: 'audit window', human: false } satisfies PlannedStep] : []),
    // In an incident the provider's activity is the leaked key's, since the leak: the step says so, whatever the
    // runbook calls it for a drill ("activity since the last rotation").
    ...runbookSteps('audit', 'audit', runbook.audit).map((planned) =>
      mode === 'incident' && planned.step?.kind === 'http' && planned.step.record.length > 0 ? { ...planned, name: 'activity since the leak' } : planned,
    ),
  ];
  const segment = (phase: Phase, steps: readonly PlannedStep[], continued = false, early = false): Segment => ({ phase, continued, early, steps });
  const segments = revokeFirst
    ? [
        segment('generate', generate),
        segment('revoke', revoke, false, true),
        segment('rollout', rollout),
        segment('verify', verify),
        segment('revoke', tidy, true),
        segment('audit', audit),
      ]
    : [segment('generate', generate), segment('rollout', rollout), segment('verify', verify), segment('revoke', [...revoke, ...tidy]), segment('audit', audit)];
  return {
    segments,
    notReadBack,
    provesDead: revoke.filter((s) => s.kind === 'verify-revoked').at(-1)?.id,
    window: runbook.overlap === 'none' ? 'mint' : revokeFirst ? 'early-revoke' : undefined,
  };
}

export interface RollbackInput {
  readonly runbook: Runbook;
  readonly stores: readonly string[];
  readonly hooks: readonly string[];
  /** Whether any rollout hook ran (consumers were restarted on the new key and must be restarted on the old one). */
  readonly hooksRan: boolean;
  /** Whether a new key exists at the provider (a mint was attempted) and must be discarded. */
  readonly minted: boolean;
}

/**
 * The steps of a rollback. The unused new key is discarded FIRST, while the stores still hold it: if the provider
 * cannot be reached the rollback stops there with nothing given up, and can be run again (I1). Only once the provider
 * confirms are the stores restored (in reverse order, side by side) and the consumers restarted on the old key.
 */
export function planRollback(input: RollbackInput): PlannedStep[] {
  const discard = input.minted
    ? input.runbook.discard.map(
        (step): PlannedStep => ({ id: `discard:${step.id}`, kind: 'discard', phase: 'verify', name: step.name, human: needsPerson(step), step }),
      )
    : [];
  const restore = input.stores
    .map(
      (display, store): PlannedStep => ({
        id: `rollback:${store}`,
        kind: 'restore',
        phase: 'verify',
        name: `restore the old value in ${display}`,
        human: false,
        group: 'restore',
        store,
      }),
    )
    .reverse();
  const hooks = input.hooksRan
    ? input.hooks.map(
        (name, hook): PlannedStep => ({
          id: `rollback-hook:${hook}`,
          kind: 'rollback-hook',
          phase: 'verify',
          name: `${name} (back on the old key)`,
          human: false,
          hook,
        }),
      )
    : [];
  return [...discard, ...restore, ...hooks];
}

/** Every step of a plan, in order. */
export function stepsOf(plan: Plan): PlannedStep[] {
  return plan.segments.flatMap((s) => s.steps);
}
