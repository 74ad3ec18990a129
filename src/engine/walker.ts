/**
 * The walker: runs a plan. Every step is journaled before it starts and after it ends (with what it produced, never
 * a value), shown as events, and timed for the report; a step the journal says is done is skipped. Steps of one group
 * run side by side and all of them settle before anything is decided. When a step fails, the failure policy
 * (policy.ts) says whether to roll back, fix forward or stop, and the walker does that.
 */
import { syncAuditHead } from './audit-log.js';
import { hintOf, messageOf, type RunContext } from './context.js';
import { deadDetail, handlers, recoverMint, StageFailedError, type StepResult } from './handlers.js';
import { planRollback, type Plan, type PlannedStep } from './plan.js';
import { onFailure } from './policy.js';
import { openFindings, type IncidentSummary, type RunSummary } from './summary.js';
import type { DeadBasis, Phase, RunResult } from '../contract/run.js';
import { ExitCode, RotationFailedError, StateFileError } from '../contract/errors.js';
import { StoreEnvironmentError } from '../contract/store-errors.js';

/** A step failed, carrying which. */
export class StepFailure extends Error {
  constructor(
    readonly step: PlannedStep,
    readonly error: unknown,
  ) {
    super(messageOf(error));
    this.name = 'StepFailure';
  }
}

/** A journal write failed around a step: the step is named, the cause kept (a full disk, a read-only folder). */
function journalError(step: PlannedStep, when: 'before' | 'after', error: unknown): Error {
  if (error instanceof StateFileError) return new StateFileError(`${error.op} (${when} "${step.name}")`, error.path, error.cause, error.hint);
  return Object.assign(new Error(`could not write the run journal ${when} "${step.name}": ${messageOf(error)}`, { cause: error }), {
    hint: hintOf(error) ?? 'free space or fix the permissions of the state folder, then `rekey resume` the run',
  });
}

/** The steps a dry run runs for real: they only read (the stores, the provider's answer for the old key). */
const readOnly: ReadonlySet<PlannedStep['kind']> = new Set(['preflight', 'audit-window']);

/**
 * Run one step: skipped when done before; else journaled, run by its handler, journaled again. Resolves with what the
 * journal keeps of it (its data, from the handler or, for a step done before, from the journal).
 */
export async function runStep(ctx: RunContext, step: PlannedStep, options: { force?: boolean } = {}): Promise<Record<string, unknown> | undefined> {
  const before = ctx.state?.done.get(step.id);
  if (before !== undefined && options.force !== true) {
    ctx.timeline.push({
      phase: step.phase,
      step: step.id,
      name: step.name,
      human: step.human,
      startMs: 0,
      ms: 0,
      waitMs: 0,
      result: 'skipped',
      detail: 'done before the interruption',
    });
    ctx.emit({
      event: 'step.done',
      phase: step.phase,
      step: step.id,
      name: step.name,
      ms: 0,
      waitMs: 0,
      human: step.human,
      detail: 'done before the interruption',
      skipped: true,
    });
    return before.data;
  }
  if (ctx.dryRun && !readOnly.has(step.kind)) {
    // A person's step is not asked either (a dry run asks nothing, so it needs no terminal and no answers): it is shown.
    const detail = step.human ? `would ask you to ${step.name}` : `would ${step.name}`;
    ctx.timeline.push({
      phase: step.phase,
      step: step.id,
      name: step.name,
      human: step.human,
      startMs: performance.now() - ctx.started,
      ms: 0,
      waitMs: 0,
      result: 'skipped',
      detail,
    });
    ctx.emit({ event: 'step.done', phase: step.phase, step: step.id, name: step.name, ms: 0, waitMs: 0, human: step.human, detail, skipped: true });
    return undefined;
  }
  const startMs = performance.now() - ctx.started;
  try {
    await ctx.append({ type: 'step.started', phase: step.phase, step: step.id, kind: step.kind });
  } catch (error) {
    throw new StepFailure(step, journalError(step, 'before', error));
  }
  ctx.emit({ event: 'step.started', phase: step.phase, step: step.id, name: step.name, human: step.human });
  const t0 = performance.now();
  const waited0 = ctx.waitedMs;
  let result: StepResult | undefined;
  try {
    result = await handlers[step.kind](ctx, step);
  } catch (error) {
    const ms = performance.now() - t0;
    const waitMs = Math.min(ms, ctx.waitedMs - waited0);
    try {
      await ctx.append({ type: 'step.failed', phase: step.phase, step: step.id, kind: step.kind, ms: Math.round(ms), error: messageOf(error) });
    } catch {
      // The step's own failure is the news; a journal that cannot take the record is reported by the next write.
    }
    ctx.timeline.push({
      phase: step.phase,
      step: step.id,
      name: step.name,
      human: step.human,
      startMs,
      ms,
      waitMs,
      result: 'failed',
      detail: messageOf(error),
    });
    ctx.emit({ event: 'step.failed', phase: step.phase, step: step.id, name: step.name, ms, error: messageOf(error), hint: hintOf(error) });
    throw new StepFailure(step, error);
  }
  const ms = performance.now() - t0;
  // Steps of one group run side by side, but only store writes are grouped and they never ask the person.
  const waitMs = Math.min(ms, ctx.waitedMs - waited0);
  const detail = result?.detail;
  try {
    // Not fsynced on its own: nothing acts on a step's outcome before the next record, which is durable (a step's
    // start, run.finished) and whose fsync carries this one to the disk with it (one file). A power cut that takes
    // it leaves the step unfinished in the journal, and the step runs again on resume, as after a kill between the
    // step's effect and this record: every step is idempotent (docs/design.md).
    await ctx.append(
      {
        type: 'step.done',
        phase: step.phase,
        step: step.id,
        kind: step.kind,
        ms: Math.round(ms),
        ...(step.human ? { human: true, waitMs: Math.round(waitMs) } : {}),
        ...(result?.data ? { data: result.data } : {}),
      },
      { durable: false },
    );
  } catch (error) {
    throw new StepFailure(step, journalError(step, 'after', error));
  }
  const finding = result?.finding === true ? { finding: true } : {};
  ctx.timeline.push({ phase: step.phase, step: step.id, name: step.name, human: step.human, startMs, ms, waitMs, result: 'done', detail, ...finding });
  ctx.emit({ event: 'step.done', phase: step.phase, step: step.id, name: step.name, ms, waitMs, human: step.human, detail, ...finding });
  return result?.data;
}

/** Run steps in order, each group side by side; every member of a group settles before the first failure is thrown. */
export async function runSteps(
  ctx: RunContext,
  steps: readonly PlannedStep[],
  after?: (step: PlannedStep, data: Record<string, unknown> | undefined) => Promise<void>,
  options: { force?: boolean } = {},
): Promise<void> {
  for (let i = 0; i < steps.length; ) {
    const step = steps[i]!;
    if (step.group === undefined) {
      const data = await runStep(ctx, step, options);
      await after?.(step, data);
      i++;
      continue;
    }
    const group = steps.slice(i).filter((s) => s.group === step.group);
    const settled = await Promise.allSettled(group.map((s) => runStep(ctx, s, options)));
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
    i += group.length;
  }
}

/** The audit checks a person answered no to, for the audit log; undefined when there were none. */
function auditFindings(ctx: RunContext): string | undefined {
  const open = openFindings(ctx);
  return open.length === 0 ? undefined : `not confirmed: ${open.join(', ')} (activity not recognised, to investigate)`;
}

/**
 * The old key is proven dead, now or before an interruption: by the pre-run check, by the check right after an
 * overlap-none mint, or by the last verify-revoked step. The first proof's moment stands; later ones do not move it.
 */
async function provenDead(ctx: RunContext, step: string, basis: DeadBasis, control: 'accepted' | 'none'): Promise<void> {
  if (ctx.provenDeadAt !== undefined) return;
  const at = ctx.state?.done.get(step)?.at ?? new Date().toISOString();
  ctx.provenDeadAt = at;
  ctx.deadBasis = basis;
  ctx.deadAfterMs = Math.max(0, Date.parse(at) - Date.parse(ctx.startedAt));
  // Every run says when the old key was proven dead; `rekey incident` shows it as the headline, --json carries it.
  // A resumed run names the old key by its mask while a store still holds it (else by its fingerprint).
  if (ctx.old === undefined) await ctx.needOld().catch(() => undefined);
  ctx.emit({
    event: 'old.dead',
    credential: ctx.options.credential.id,
    run: ctx.run,
    mask: ctx.old?.mask,
    fingerprint: ctx.oldFp,
    at,
    afterStartMs: ctx.deadAfterMs,
    basis,
    control,
  });
}

/** Walk the plan to the end; on a failure, follow the policy. Resolves with the summary when done. */
export async function walk(ctx: RunContext, plan: Plan): Promise<RunSummary> {
  let current: { phase: Phase; early: boolean } = { phase: 'generate', early: false };
  const headed = new Set<Phase>();
  try {
    for (const segment of plan.segments) {
      current = { phase: segment.phase, early: segment.early };
      if (segment.steps.length === 0) continue;
      ctx.emit({ event: 'phase.started', phase: segment.phase, ...(headed.has(segment.phase) ? { continued: true } : {}) });
      headed.add(segment.phase);
      // Revoke-first: consumers on the old key fail from the revoke until roll out and verify are done.
      if (segment.early && plan.window === 'early-revoke' && segment.steps.some((s) => !ctx.state?.done.has(s.id))) await ctx.openWindow('revoke');
      await runSteps(ctx, segment.steps, async (step, data) => {
        if (step.kind === 'preflight' && data?.['alreadyDead'] === true) await provenDead(ctx, step.id, 'pre-run', 'none');
        if (step.kind === 'prove-dead' && data?.['dead'] === true) await provenDead(ctx, step.id, 'mint', 'accepted');
        if (step.id === plan.provesDead) await provenDead(ctx, step.id, 'check', data?.['control'] === 'accepted' ? 'accepted' : 'none');
      });
      if (segment.phase === 'verify') ctx.closeWindow();
      if (!ctx.revokeFirst || segment.phase !== 'revoke')
        await ctx.audit(segment.phase, 'done', segment.phase === 'revoke' ? deadDetail(ctx) : segment.phase === 'audit' ? auditFindings(ctx) : undefined);
      else if (segment.early) await ctx.audit('revoke', 'done', `revoked before roll out (--revoke-first) · ${deadDetail(ctx) ?? 'proven dead'}`);
      else await ctx.audit('retire', 'done');
    }
  } catch (error) {
    // Outside a step only the phase's audit record is written: name that, not some step that had succeeded.
    const failure =
      error instanceof StepFailure
        ? error
        : new StepFailure({ id: 'audit-record', kind: 'audit', phase: current.phase, name: `record ${current.phase} in the audit log`, human: false }, error);
    return fail(ctx, failure, current.phase, current.early);
  }
  return await finish(ctx, 'done');
}

/** A new key is known to exist at the provider: rekey holds it, or journaled its fingerprint. */
function newKeyKnown(ctx: RunContext): boolean {
  return ctx.newValue !== undefined || ctx.newFp !== undefined;
}

/** A step failed: roll back where the overlap allows it, else leave the run resumable. */
async function fail(ctx: RunContext, failure: StepFailure, phase: Phase, early: boolean): Promise<never> {
  const decision = onFailure({
    overlap: ctx.overlap,
    revokeFirst: ctx.revokeFirst,
    phase,
    early,
    minted: newKeyKnown(ctx),
    failedMint: failure.step.kind === 'mint',
  });
  let result: RunResult = 'failed';
  let resumable = true;
  let hint = hintOf(failure.error);
  const lostInMemory = failure.error instanceof StageFailedError && failure.error.landed.length === 0;
  switch (decision.action) {
    case 'stop':
      resumable = decision.resumable;
      break;
    case 'fix-forward':
      if (decision.why === 'revoke-first-early') {
        hint =
          'revoke first: the old key may already be revoked, and the new key is staged but not yet current; fix the cause and ' +
          `run \`rekey resume ${ctx.run}\` to prove the old key dead and roll out the new one (no rollback: the old key is being killed)`;
      } else if (decision.why === 'revoke-first') {
        hint =
          'revoke first: the old key was revoked before roll out, so there is no going back; fix the cause and ' +
          `run \`rekey resume ${ctx.run}\` to finish rolling out the new key`;
      } else if (decision.why === 'overlap-none' && lostInMemory) {
        hint =
          'overlap none: the old key died when the new one was minted, and no store could take the new key, so it is lost when ' +
          `rekey exits; fix the cause and run \`rekey resume ${ctx.run}\`: it mints again (which kills the lost key)`;
      } else if (decision.why === 'overlap-none') {
        hint =
          'overlap none: the old key died when the new one was minted, so there is no going back; fix the cause and ' +
          `run \`rekey resume ${ctx.run}\` to finish rolling out the new key`;
      } else {
        hint = `the new key is live everywhere; fix the cause and run \`rekey resume ${ctx.run}\` to finish ${phase}`;
      }
      break;
    case 'rollback':
      try {
        await rollback(ctx, `${failure.step.name} failed`);
        result = 'rolled-back';
        resumable = false;
        hint = `the old key ${ctx.old?.mask ?? ''} is current again everywhere and still works; fix the cause and rotate again`;
      } catch (error) {
        ctx.note('warn', `rollback did not complete: ${messageOf(error)}`);
        const why = hintOf(error);
        hint = `${why === undefined ? '' : `${why}; `}run \`rekey rollback ${ctx.run}\` once the cause is fixed`;
      }
      break;
  }
  if (result === 'failed') {
    try {
      await ctx.audit(phase, 'failed', failure.message);
    } catch (error) {
      ctx.note('warn', `could not record the failure in the audit log: ${messageOf(error)}`);
    }
  }
  const summary = await finish(ctx, result, failure.message, hint, resumable);
  // A fault of the environment (a full disk, a read-only state folder, a kubeconfig that is not there) keeps its own
  // exit code, and says where.
  const environment = failure.error instanceof StateFileError || failure.error instanceof StoreEnvironmentError;
  const message = environment && !failure.message.includes(`"${failure.step.name}"`) ? `${failure.step.name}: ${failure.message}` : failure.message;
  throw Object.assign(new RotationFailedError(`${ctx.options.credential.id}: ${message}`, hint), {
    summary,
    ...(environment ? { exitCode: ExitCode.environment } : {}),
  });
}

/** Whether a rollout hook ran to completion (consumers were restarted on the new key), now or before. */
function hooksRan(ctx: RunContext): boolean {
  return ctx.options.credential.rollout.some(
    (_, j) => ctx.timeline.some((t) => t.step === `hook:${j}` && t.result === 'done') || ctx.state?.done.has(`hook:${j}`) === true,
  );
}

/**
 * Discard the unused new key, then restore the old value everywhere and restart consumers (planRollback's order).
 * Throws when a step fails: a discard that fails leaves the stores untouched, so nothing is given up.
 */
export async function rollback(ctx: RunContext, reason: string, options: { cleanupOnly?: boolean } = {}): Promise<void> {
  ctx.note('warn', `rolling back: ${reason}`);
  if (options.cleanupOnly !== true) await recoverMint(ctx);
  const minted = options.cleanupOnly !== true && newKeyKnown(ctx);
  if (minted && ctx.options.runbook.discard.length === 0) {
    ctx.note(
      'warn',
      `runbook ${ctx.options.runbook.name} has no discard step: the unused new key ${ctx.newValue?.mask ?? ctx.newFp ?? ''} stays live in ` +
        `${ctx.options.runbook.title} until you revoke it there`,
    );
  }
  const steps = planRollback({
    runbook: ctx.options.runbook,
    stores: ctx.stores.map((s) => s.ref.display),
    hooks: ctx.options.credential.rollout.map((h) => h.name),
    hooksRan: options.cleanupOnly !== true && hooksRan(ctx),
    minted,
  });
  if (minted && ctx.newValue === undefined) await ctx.needNew().catch(() => undefined);
  await runSteps(ctx, steps, undefined, { force: options.cleanupOnly === true });
  await ctx.audit('rollback', 'rolled-back', reason);
}

/** The incident part of the summary. */
function incidentSummary(ctx: RunContext): IncidentSummary {
  return {
    since: ctx.windowStart() ?? ctx.startedAt,
    until: new Date().toISOString(),
    revokeFirst: ctx.revokeFirst,
    revokeFirstMoot: ctx.options.revokeFirst === true && ctx.overlap === 'none',
    provable: ctx.options.runbook.verifyRevoked.length > 0,
    provenDeadAt: ctx.provenDeadAt,
    deadAfterMs: ctx.deadAfterMs,
    deadBasis: ctx.deadBasis,
    deadProblem: ctx.deadProblem,
    revokeWindowMs: ctx.revokeFirst ? ctx.windowMs() : undefined,
    leak: ctx.leak,
    respond: ctx.options.runbook.respond,
    provider: ctx.options.runbook.title,
  };
}

/** Journal the end, write the last audit record and the report, and tell the sink. */
export async function finish(ctx: RunContext, result: RunResult, error?: string, hint?: string, resumable = false): Promise<RunSummary> {
  const summary = ctx.summary(result, error, hint, resumable, ctx.options.mode === 'incident' ? incidentSummary(ctx) : undefined);
  try {
    await ctx.append({ type: 'run.finished', result, ...(error === undefined ? {} : { error }) });
    if (result === 'done') await ctx.audit('run', 'done');
    // The run's last audit record is written: make the audit head durable, once per run rather than per record.
    if (!ctx.dryRun) await syncAuditHead(ctx.options.config.stateDir);
  } catch (writeError) {
    // Every step's outcome is journaled already; what could not be written is the end marker (the run then reads as
    // interrupted, and `rekey resume` finishes it: each step is done and is skipped) or the last audit record.
    ctx.note('warn', `could not record the end of the run: ${messageOf(writeError)}`);
  }
  if (!ctx.dryRun) summary.report = await ctx.options.writeReport?.(summary);
  ctx.emit({
    event: 'run.finished',
    credential: summary.credential,
    run: ctx.run,
    result,
    seconds: Math.round(summary.ms) / 1000,
    outageSeconds: summary.outageMs === undefined ? undefined : Math.round(summary.outageMs) / 1000,
    report: summary.report,
    resumable,
    error,
    ...(hint === undefined ? {} : { hint }),
    ...(openFindings(summary).length === 0 ? {} : { findings: openFindings(summary) }),
  });
  return summary;
}
