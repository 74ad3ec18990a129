/**
 * The reducer: a run's journal records -> what the run has done, as plain data. Pure. Resume is "reduce, then walk
 * the plan from there"; rollback reads the same state. Its input is a journal that passed its check
 * (`readVerifiedJournal`: chain, seals, every line a record), read under the run's lock: a forged `step.done` would
 * otherwise make a resume retire a key the provider still accepts.
 */
import type { JournalRecord } from './journal.js';
import type { LeakRecord } from './summary.js';
import type { StepKind } from './plan.js';
import type { Mode, RunResult, WindowBasis } from '../contract/run.js';
import type { VersionId } from '../contract/store.js';
import { RefusedError } from '../contract/errors.js';

/** How safe it is to send a mint again after an interruption left its outcome unknown (see mintRepeat). */
export type MintRepeat = 'local' | 'idempotent' | 'adapter' | 'person' | 'unsafe';

export interface StepDone {
  readonly at: string;
  readonly phase: string;
  readonly data: Readonly<Record<string, unknown>> | undefined;
}

export interface RunState {
  readonly run: string;
  readonly credential: string;
  readonly runbook: string;
  readonly overlap: string;
  readonly mode: Mode;
  readonly startedAt: string;
  /** Incident: when the leak began. */
  readonly since: string | undefined;
  readonly revokeFirst: boolean;
  readonly finished: { readonly result: RunResult; readonly error: string | undefined } | undefined;
  /** Steps done, by id. */
  readonly done: ReadonlyMap<string, StepDone>;
  /** Steps that were started (done or not), by id. */
  readonly started: ReadonlySet<string>;
  /** The old value's fingerprint and the versions read as current at the start (preflight). */
  readonly oldFp: string | undefined;
  readonly base: readonly VersionId[];
  /** The new value's fingerprint and where it was staged (mint). */
  readonly newFp: string | undefined;
  readonly staged: readonly VersionId[];
  /** The mint's intent and outcome: a call with an effect at the provider was (or may have been) made. */
  readonly mint: {
    /** When the last minting call was about to be made, and how safe it is to make again. */
    readonly intentAt: string | undefined;
    readonly repeat: MintRepeat | undefined;
    /** The fingerprint of the value the provider returned, journaled before it was staged. */
    readonly mintedFp: string | undefined;
  };
  /** When the first attempt started the step that opens this run's window (mint for overlap none, the early revoke). */
  readonly windowOpenedAt: string | undefined;
  /** The window's length when it was closed before an interruption (a step after verify had started). */
  readonly windowClosedMs: number | undefined;
  /** What the window was counted from, when a `window.opened` record says (else the step's start: an upper bound). */
  readonly windowBasis: WindowBasis | undefined;
  /** When the old value was written, as the pre-flight learned it (the audit window's start outside an incident). */
  readonly oldSince: string | undefined;
  readonly leak: LeakRecord | undefined;
  /** Some rollout hook ran (consumers may be on the new key). */
  readonly hooksRan: boolean;
  /** A revoke or verify-revoked step was started: the old key may be dead. */
  readonly revoking: boolean;
}

/**
 * The kind of a journaled step. Records written by this version carry it; older journals are read by their ids'
 * prefixes, here and nowhere else.
 */
function kindOf(record: { step: string; kind?: unknown }): StepKind {
  if (typeof record.kind === 'string') return record.kind as StepKind;
  const id = record.step;
  if (id === 'mint' || id === 'preflight' || id === 'readback' || id === 'leak-search' || id === 'audit-window') return id;
  const prefix = id.slice(0, id.indexOf(':'));
  const legacy: Record<string, StepKind> = {
    promote: 'promote',
    hook: 'hook',
    verify: 'verify',
    revoke: 'revoke',
    'verify-revoked': 'verify-revoked',
    retire: 'retire',
    audit: 'audit',
    discard: 'discard',
    rollback: 'restore',
    'rollback-hook': 'rollback-hook',
  };
  return legacy[prefix] ?? 'verify';
}

/** Reduce a run's (verified) journal to its state. Throws RefusedError when there is nothing to reduce. */
export function reduceJournal(run: string, records: readonly JournalRecord[]): RunState {
  const first = records[0];
  if (first === undefined || first.type !== 'run.started') throw new RefusedError(`run ${run} has no journal to resume from`);
  const done = new Map<string, StepDone>();
  const started = new Set<string>();
  let finished: RunState['finished'];
  let oldFp: string | undefined;
  let base: VersionId[] = [];
  let newFp: string | undefined;
  let staged: VersionId[] = [];
  let intentAt: string | undefined;
  let repeat: MintRepeat | undefined;
  let mintedFp: string | undefined;
  let leak: LeakRecord | undefined;
  let hooksRan = false;
  let revoking = false;
  let windowOpenedAt: string | undefined;
  let windowBasis: WindowBasis | undefined;
  let oldSince: string | undefined;
  let lastVerifiedAt: string | undefined;
  let afterVerify = false;
  const opensWindow = (kind: StepKind) =>
    first.overlap === 'none' ? kind === 'mint' : first.revokeFirst === true && (kind === 'revoke' || kind === 'verify-revoked');
  for (const record of records) {
    switch (record.type) {
      case 'step.started': {
        const kind = kindOf(record);
        started.add(record.step);
        if (windowOpenedAt === undefined && opensWindow(kind)) windowOpenedAt = record.at;
        if (kind === 'revoke' || kind === 'verify-revoked') revoking = true;
        if (kind === 'hook') hooksRan = true;
        if (lastVerifiedAt !== undefined && record.phase !== 'verify') afterVerify = true;
        break;
      }
      case 'step.done': {
        const kind = kindOf(record);
        done.set(record.step, { at: record.at, phase: record.phase, data: record.data });
        const data = record.data ?? {};
        if (kind === 'preflight') {
          oldFp = data['old'] as string | undefined;
          oldSince = data['since'] as string | undefined;
          base = (data['base'] as VersionId[] | undefined) ?? [];
        } else if (kind === 'mint') {
          newFp = data['new'] as string | undefined;
          staged = (data['staged'] as VersionId[] | undefined) ?? [];
        } else if (kind === 'leak-search') {
          leak = data['leak'] as LeakRecord | undefined;
        }
        if (record.phase === 'verify' && (kind === 'readback' || kind === 'verify')) {
          lastVerifiedAt = record.at;
          afterVerify = false;
        }
        break;
      }
      case 'mint.intent':
        intentAt = record.at;
        repeat = record.repeat;
        mintedFp = undefined;
        break;
      case 'mint.minted':
        mintedFp = record.fingerprint;
        break;
      case 'window.opened':
        // The measured moment replaces the step's start (the first one counts: a window opens once).
        if (windowBasis === undefined) {
          windowOpenedAt = record.openedAt;
          windowBasis = record.basis;
        }
        break;
      case 'run.finished':
        finished = { result: record.result, error: record.error };
        break;
      case 'run.resumed':
        finished = undefined;
        break;
      default:
        break;
    }
  }
  const windowClosedMs =
    windowOpenedAt !== undefined && lastVerifiedAt !== undefined && afterVerify
      ? Math.max(0, Date.parse(lastVerifiedAt) - Date.parse(windowOpenedAt))
      : undefined;
  return {
    run,
    credential: first.credential,
    runbook: first.runbook,
    overlap: first.overlap,
    mode: first.mode,
    startedAt: first.at,
    since: first.since,
    revokeFirst: first.revokeFirst === true,
    finished,
    done,
    started,
    oldFp,
    base,
    newFp: newFp ?? mintedFp,
    staged,
    mint: { intentAt, repeat, mintedFp },
    windowOpenedAt,
    windowClosedMs,
    windowBasis,
    oldSince,
    leak,
    hooksRan,
    revoking,
  };
}
