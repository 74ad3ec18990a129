/**
 * Running a rotation: take the credential's lock, open its stores, reduce the journal of a resumed run (verifying its
 * chain), plan, walk. The parts, one job each:
 *   plan.ts      (pure) credential + runbook + stores + mode -> typed steps; overlap none and revoke-first are plans
 *   reduce.ts    (pure) journal records -> run state; the one place a journal's chain is verified
 *   handlers.ts  one handler per step kind, each idempotent for a run
 *   walker.ts    runs a plan: journals intents and outcomes, emits events, times steps
 *   policy.ts    (pure) a failed step -> roll back, fix forward, or stop resumable
 *
 * Invariants held here (tests name them):
 *   I1 no lost secret — the new value is staged in the stores before the mint step counts as done; a minting call is
 *      journaled as an intent first, so a crash inside it is known on resume; the old value stays current or previous
 *      in every store until retire, which runs only after the old key is proven dead; a rollback discards the new key
 *      while the stores still hold it.
 *   I2 no early revoke — revoke comes after verify; a failure before it rolls back (or, with overlap none, stops for a
 *      fix forward, since minting already killed the old key). The one exception is an incident run with
 *      --revoke-first, a different plan.
 *   I4 one run per credential — the lock (lock.ts) is held for the whole run, resume and rollback included.
 *   I5 idempotent steps — every step can run again; resume never mints a second key without saying so.
 */
import { hostname } from 'node:os';
import { existsSync } from 'node:fs';
import { ForeignRunError, RefusedError } from '../contract/errors.js';
import { CannotStageError } from '../contract/store-errors.js';
import { mints } from '../contract/runbook.js';
import { clearStaleFileLock } from '../util/file-lock.js';
import { ensureStateDir, sweepStateDir } from '../util/state-dir.js';
import { auditFile } from './audit-log.js';
import { RunContext, type OpenStore, type PreRead, type RunOptions } from './context.js';
import { readStores, refuseOrphanedMint } from './handlers.js';
import { openRunsOf } from './history.js';
import { Journal, journalFile, readJournal, readVerifiedJournal } from './journal.js';
import { acquireLock } from './lock.js';
import { RecentRotationError, refuseInsideShortWindow } from './recent.js';
import { planRun } from './plan.js';
import { stepsNeedingOld } from './needs-old.js';
import { reduceJournal, type RunState } from './reduce.js';
import { newRunId } from './run-id.js';
import type { RunSummary } from './summary.js';
import { finish, rollback, walk } from './walker.js';

export type { RunOptions } from './context.js';
export type { IncidentEvent, IncidentSummary, LeakRecord, RunSummary, TimelineEntry } from './summary.js';

/** Run (or resume) one rotation. Resolves with the summary when done; throws RotationFailedError otherwise. */
/** State folders this process has swept (see `sweepOnce`). */
const swept = new Set<string>();

/**
 * Sweep the state folder of leftovers once per process, not at every run of a fleet: the leftovers are those of
 * writers that died, and they were there when the process began; this process's own writes remove their temporary
 * files themselves or hold them from sweeps while they wait. A process that dies meanwhile leaves its files to the
 * next process's sweep. (Eight folder listings a run, the runs folder a thousand journals long, at every rotation.)
 */
function sweepOnce(stateDir: string): string[] {
  if (swept.has(stateDir)) return [];
  const removed = sweepStateDir(stateDir);
  swept.add(stateDir);
  return removed;
}

export async function executeRun(options: RunOptions): Promise<RunSummary> {
  // A state folder that cannot be created is a configuration error (exit 2), found before the journal and the lock.
  // A dry run writes nothing, not even the state folder.
  if (options.dryRun !== true) await ensureStateDir(options.config);
  return withRun(options, async (ctx) => {
    // Under the lock, so that two runs started together cannot both find the window empty.
    if (!ctx.resumed && options.allowRecent !== true && (options.mode === 'scheduled' || options.mode === 'drill')) {
      try {
        await refuseInsideShortWindow(options.config.stateDir, options.credential.id);
      } catch (error) {
        // A dry run writes nothing, so it is not refused: it says what a real run would meet.
        if (options.dryRun !== true || !(error instanceof RecentRotationError)) throw error;
        ctx.emit({ event: 'note', level: 'warn', message: `a real run would be refused now: ${error.message}`, run: ctx.run });
      }
    }
    refuseUnknownOld(ctx);
    if (!ctx.resumed) await refuseWhileUnfinished(ctx);
    else await refuseOrphanedMint(ctx);
    if (!ctx.resumed) {
      // A store that cannot be read now is the pre-flight step's to report (it asks again, and fails as a step).
      ctx.preread = await readStores(ctx).catch(() => undefined);
      if (ctx.preread !== undefined && options.mode === 'scheduled') refuseForeignStaged(ctx, ctx.preread);
    }
    await start(ctx);
    return walk(ctx, planFor(ctx));
  });
}

/** The plan of a run. */
function planFor(ctx: RunContext) {
  return planRun({
    runbook: ctx.options.runbook,
    stores: ctx.stores.map((s) => s.ref.display),
    readBack: ctx.stores.map((s) => s.store.capabilities.readBack),
    hooks: ctx.options.credential.rollout.map((h) => h.name),
    mode: ctx.options.mode,
    revokeFirst: ctx.revokeFirst,
  });
}

/**
 * Hold the credential's lock, open the stores, reduce a resumed run's journal, and run `body`; the lock is released
 * and the stores closed however it ends. The journal is read only under the lock, so two resumes of one run cannot
 * both act on it.
 */
async function withRun<T>(
  options: RunOptions,
  body: (ctx: RunContext) => Promise<T>,
  admit: (ctx: RunContext, state: RunState) => RunState = resumable,
): Promise<T> {
  const run = options.resume ?? newRunId();
  // A dry run only reads, so it neither takes the lock (a run in progress may go on) nor opens a journal.
  const dry = options.dryRun === true;
  if (dry && options.resume !== undefined) throw new RefusedError('a dry run starts nothing: it cannot resume a run', 'run `rekey resume` without --dry-run');
  const lock = dry ? undefined : acquireLock(options.config.stateDir, options.credential.id, run);
  let stores: OpenStore[] = [];
  let journal: Journal | undefined;
  try {
    journal = dry ? undefined : new Journal(options.config.stateDir, run);
    const ctx = new RunContext(options, run, journal);
    // Said before run.started: the note carries its run, so an NDJSON reader can group it with the run's lines.
    if (lock?.tookOverNote !== undefined) ctx.emit({ event: 'note', level: 'warn', message: lock.tookOverNote, run });
    // Leftovers of interrupted writes in the state folder go first, whatever the run then turns out to be.
    const removed = dry ? [] : [...sweepOnce(options.config.stateDir), ...clearStaleFileLock(`${auditFile(options.config.stateDir)}.lock`)];
    if (options.resume !== undefined) ctx.seed(admit(ctx, reduceJournal(run, readVerifiedJournal(options.config.stateDir, run))));
    stores = await options.openStores(options.credential);
    ctx.stores = stores;
    if (!dry) await sweepLeftovers(ctx, removed);
    return await body(ctx);
  } finally {
    // Before the lock goes: the next holder of the lock may append to this run's journal (a resume).
    await journal?.close();
    lock?.release();
    await Promise.allSettled(stores.map(({ store }) => store.close?.()));
  }
}

/**
 * Remove what interrupted writes left beside each store's files (temporary files holding a whole `.env` or a staged
 * key, a rewrite lock), after the state folder's own (`removed`). Only files whose writer is dead are removed, and
 * the person is told which.
 */
async function sweepLeftovers(ctx: RunContext, removed: string[]): Promise<void> {
  for (const { store, ref } of ctx.stores) removed.push(...((await store.sweep?.(ref)) ?? []));
  if (removed.length > 0)
    ctx.note('info', `removed ${removed.length === 1 ? 'a file' : `${removed.length} files`} left by an interrupted write: ${removed.join(', ')}`);
}

/** A resumed run's state, refused when it is not this credential's or has nothing left to do. */
function resumable(ctx: RunContext, state: RunState): RunState {
  if (state.credential !== ctx.options.credential.id) throw new RefusedError(`run ${ctx.run} rotates ${state.credential}, not ${ctx.options.credential.id}`);
  if (state.finished !== undefined && state.finished.result !== 'failed') {
    const hint =
      state.finished.result === 'done'
        ? 'nothing to resume'
        : `start a new rotation instead; \`rekey rollback ${ctx.run}\` again removes anything it left staged`;
    throw new RefusedError(`run ${ctx.run} already finished: ${state.finished.result}`, hint);
  }
  return state;
}

/**
 * A scheduled run never mints over a value that a run of another machine left staged (src/engine/adopt.ts): a store
 * whose canStage names a run that this state folder has no journal of refuses the run before it begins, with the
 * command that adopts it. Other refusals are the pre-flight step's, which reports them as a step.
 */
function refuseForeignStaged(ctx: RunContext, pre: PreRead): void {
  const foreign = new Map<string, string[]>();
  pre.staging.forEach((answer, i) => {
    if (!(answer instanceof CannotStageError) || answer.obstacle !== 'staged-by-another' || answer.run === undefined) return;
    if (existsSync(journalFile(ctx.options.config.stateDir, answer.run))) return;
    foreign.set(answer.run, [...(foreign.get(answer.run) ?? []), ctx.stores[i]!.ref.display]);
  });
  const [first] = foreign;
  if (first !== undefined) throw new ForeignRunError(first[0], first[1], ctx.options.config.stateDir);
}

/** Journal the run's start (or its resumption), and say what kind of run this is. */
async function start(ctx: RunContext): Promise<void> {
  const { runbook, credential, mode } = ctx.options;
  if (ctx.dryRun) {
    // Nothing is journaled: a dry run leaves no run behind for `status`, `log` or `resume` to find.
  } else if (ctx.state === undefined) {
    const started = await ctx.journal!.append({
      type: 'run.started',
      credential: credential.id,
      runbook: runbook.name,
      overlap: runbook.overlap,
      mode,
      pid: process.pid,
      host: hostname(),
      ...(ctx.options.since ? { since: ctx.options.since.toISOString() } : {}),
      // The chosen order is part of the run: a resume keeps it whatever its command line says.
      ...(ctx.revokeFirst ? { revokeFirst: true } : {}),
    });
    ctx.startedAt = started.at;
  } else {
    await ctx.append({ type: 'run.resumed', pid: process.pid });
  }
  ctx.emit({
    event: 'run.started',
    credential: credential.id,
    run: ctx.run,
    mode,
    runbook: runbook.name,
    overlap: runbook.overlap,
    resumed: ctx.resumed,
    budgetMs: credential.budgetMs,
    stores: credential.stores.map((s) => s.ref.display),
  });
  if (ctx.dryRun)
    ctx.note(
      'info',
      'dry run: the stores are read, the provider checks the old key and every store says whether it could stage; ' +
        'nothing is minted, written, journaled or reported, and nothing is asked of you',
    );
  if (ctx.overlap === 'none' && !ctx.resumed) {
    ctx.note('warn', `overlap none: minting the new ${runbook.title} key kills the old one at once; the outage window runs until roll out and verify are done`);
  }
  if (ctx.revokeFirst) {
    ctx.note(
      'warn',
      'revoke first (--revoke-first): the old key is revoked and proven dead right after the new key is staged, before roll out ' +
        'and verify; consumers still on the old key fail until roll out and verify are done, and there is no rollback after the ' +
        'revoke (a failure is fixed forward with `rekey resume`)',
    );
  } else if (ctx.options.revokeFirst === true && ctx.overlap === 'none' && !ctx.resumed) {
    ctx.note('info', '--revoke-first changes nothing for overlap none: minting the new key already kills the old one');
  }
  if (mode === 'incident' && runbook.verifyRevoked.length === 0) {
    ctx.note('warn', `runbook ${runbook.name} has no step that checks the old key is rejected: rekey cannot prove it dead, so check it by hand`);
  }
  resumeWindow(ctx);
}

/**
 * A window that an interrupted attempt opened (overlap none: from the mint step's start; revoke-first: from the
 * revoke's start), taken up again from the reduced journal: closed, with its length known, if a step after verify had
 * started; else still open, and this attempt closes it. Either way the report states the whole window.
 */
/** A window the journal knows only from its step's start: the revoke's, a person's prompt's, or the minting call's. */
function stepBasis(ctx: RunContext): 'revoke' | 'prompt' | 'call' {
  if (ctx.revokeFirst) return 'revoke';
  return ctx.options.runbook.generate.some((step) => mints(step) && step.kind === 'prompt') ? 'prompt' : 'call';
}

function resumeWindow(ctx: RunContext): void {
  const state = ctx.state;
  if (state?.windowOpenedAt === undefined) return;
  if (state.windowClosedMs !== undefined) {
    ctx.window.ms = state.windowClosedMs;
    ctx.window.basis = state.windowBasis ?? stepBasis(ctx);
    return;
  }
  // On this process's clock: the window opened (now − elapsed) ago. A journal without a window.opened record counts
  // it from the step's start: an upper bound.
  ctx.window.start = performance.now() - (Date.now() - Date.parse(state.windowOpenedAt));
  ctx.window.basis = state.windowBasis ?? stepBasis(ctx);
  ctx.emit({ event: 'outage.started', at: state.windowOpenedAt, basis: ctx.window.basis });
  ctx.note(
    'warn',
    ctx.revokeFirst
      ? 'revoke first: the old key was revoked before the interruption; consumers still on it fail until roll out and verify are done: finish them now'
      : `the outage window has been open since ${state.windowOpenedAt} (the interrupted attempt's mint): finish roll out and verify now`,
  );
}

/**
 * With only write-only stores the old value cannot be known. A runbook that needs it (a step using `{{ old }}`: a
 * check of the old key, a revoke call) would fail half-way, after the mint; so refuse before anything is minted or
 * journaled. Refused (exit 3), not bad input (exit 2): the config and the runbook are each valid, it is this pairing
 * that rekey will not rotate.
 */
function refuseUnknownOld(ctx: RunContext): void {
  if (ctx.stores.some(({ store }) => store.capabilities.readBack)) return;
  const needing = stepsNeedingOld(ctx.options.runbook);
  if (needing.length === 0) return;
  throw new RefusedError(
    `${ctx.options.credential.id}: none of its stores can be read back (${ctx.stores.map((s) => s.ref.display).join(', ')}), so the old value is unknown, ` +
      `and runbook ${ctx.options.runbook.name} needs it ({{ old }}) in: ${needing.join(', ')}`,
    'add a store that can be read back (a .env, a secret manager) beside the write-only one; nothing was minted',
  );
}

/**
 * I1: a new run must not start while an earlier run of this credential that did not finish still keeps a staged or
 * previous value in a store. The stores would refuse to stage the new key only after it was minted, stranding it in
 * memory; with overlap none that mint would also kill the key that is current. So refuse before anything.
 */
async function refuseWhileUnfinished(ctx: RunContext): Promise<void> {
  const { stateDir } = ctx.options.config;
  // Only this credential's unfinished runs, from the history index: reading every journal of the state folder on every
  // rotation made a fleet quadratic. Each is read again here, in full, before the stores are asked about it.
  for (const run of await openRunsOf(stateDir, ctx.options.credential.id, ctx.dryRun ? 'never' : 'rebuilt')) {
    if (run === ctx.run) continue;
    let records: ReturnType<typeof readJournal>;
    try {
      records = readJournal(stateDir, run);
    } catch {
      // A damaged journal of some run is that run's problem (`rekey status` names it), not a reason to stop this one.
      continue;
    }
    const first = records[0];
    if (first?.type !== 'run.started' || first.credential !== ctx.options.credential.id) continue;
    const last = records.findLast((r) => r.type === 'run.finished' || r.type === 'run.resumed');
    if (last?.type === 'run.finished' && last.result !== 'failed') continue;
    const noRollback = ctx.overlap === 'none' || first.revokeFirst === true;
    for (const { store, ref } of ctx.stores) {
      // A write-only store cannot be read: its metadata says whether the unfinished run wrote the current value.
      const held = store.capabilities.readBack
        ? ((await store.readStaged(ref, run).catch(() => undefined)) ?? (await store.readPrevious(ref, run).catch(() => undefined)))
        : (await store.describe?.(ref).catch(() => undefined))?.run === run
          ? true
          : undefined;
      if (held === undefined) continue;
      throw new RefusedError(
        `run ${run} of ${ctx.options.credential.id} did not finish and still keeps a value in ${ref.display}: a new run would mint a key the store cannot take`,
        `finish that run with \`rekey resume ${run}\`${noRollback ? '' : ` or undo it with \`rekey rollback ${run}\``}`,
      );
    }
  }
}

/**
 * Roll back a run by id (`rekey rollback`): only while the old key has not been revoked, and never for overlap none.
 * A run that was rolled back already is cleaned up again (a store write that landed after its rollback is undone).
 */
export async function rollbackRun(options: RunOptions & { resume: string }): Promise<RunSummary> {
  const run = options.resume;
  const records = readVerifiedJournal(options.config.stateDir, run);
  if (records.length === 0) throw new RefusedError(`no journal for run ${run}`);
  if (options.runbook.overlap === 'none') {
    throw new RefusedError(
      `run ${run} uses runbook ${options.runbook.name} with overlap none: the old key died when the new one was minted, so rollback would restore a dead key`,
      `fix forward: rekey resume ${run}`,
    );
  }
  const state = reduceJournal(run, records);
  if (state.revoking && state.revokeFirst) {
    throw new RefusedError(
      `run ${run} revoked the old key first (incident --revoke-first): the old key is revoked, so rollback would restore a dead key`,
      `fix forward: rekey resume ${run}`,
    );
  }
  if (state.revoking)
    throw new RefusedError(`run ${run} has already started revoking the old key, so rolling back to it is not safe`, `fix forward: rekey resume ${run}`);
  if (state.finished?.result === 'done') throw new RefusedError(`run ${run} finished: the rotation is done`, 'nothing to roll back');
  const cleanupOnly = state.finished?.result === 'rolled-back';
  // Rollback takes any run the checks above let through, a rolled-back one included (to clean up after it).
  return withRun(
    options,
    async (ctx) => {
      await ctx.append({ type: 'run.resumed', pid: process.pid });
      await rollback(ctx, cleanupOnly ? 'cleaning up after an earlier rollback' : 'rollback requested', { cleanupOnly });
      return await finish(ctx, 'rolled-back');
    },
    (_ctx, reduced) => reduced,
  );
}
