/**
 * The run executor: one loop over the five phases, each a list of steps built from the credential and its
 * runbook. Every step is journaled before and after; a resumed run skips what the journal says is done, and
 * recovers the old and new values from the stores (never from the journal, which holds only fingerprints).
 *
 * Invariants held here (tests name them):
 *   I1 no lost secret — the new value is staged in the stores before the mint step counts as done; the old value
 *      stays current or previous in every store until retire, which runs only after the old key is proven dead.
 *   I2 no early revoke — revoke comes after verify; a failure before it rolls back (or, with overlap none, stops
 *      for a fix forward, since minting already killed the old key). The one exception is an incident run with
 *      --revoke-first: the old key is revoked and proven dead right after the new key is staged (durable, so I1
 *      holds), before roll out; from then on a failure is fixed forward, as with overlap none.
 *   I5 idempotent steps — every step can run again; resume never mints a second key when one is staged.
 */
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import type { Config, CredentialConfig } from '../config/types.js';
import { Secret } from '../secret/secret.js';
import { NotConfirmedError, ProviderUnreachableError, StepFailedError, type Interaction, type StepOutcome } from '../runbook/steps/context.js';
import { runStep } from '../runbook/steps/index.js';
import { runCommand } from '../runbook/steps/exec.js';
import type { TemplateVars } from '../runbook/template.js';
import { mints, needsPerson, type HttpStep, type Runbook, type Step } from '../runbook/types.js';
import type { SecretStore, StoredValue, VersionId } from '../store/contract.js';
import { loadStoreAdapter } from '../../adapters/stores/index.js';
import { RefusedError, RotationFailedError } from '../util/errors.js';
import { ensureStateDir } from '../util/state-dir.js';
import { formatClock } from '../util/duration.js';
import type { EngineEvent, EventSink } from '../ui/events.js';
import { appendAudit, syncAuditHead } from './audit-log.js';
import { lastRuns } from './history.js';
import { Journal, listRuns, readJournal, type JournalRecord } from './journal.js';
import { acquireLock, type HeldLock } from './lock.js';
import { newRunId } from './run-id.js';
import { phases, type Mode, type Phase, type RunResult } from './types.js';

export interface RunOptions {
  readonly config: Config;
  readonly credential: CredentialConfig;
  readonly runbook: Runbook;
  readonly mode: Mode;
  readonly interaction: Interaction;
  readonly sink: EventSink;
  /** Continue this run instead of starting a new one. */
  readonly resume?: string;
  /** Start of the audit window (incident: when the leak began; else the last rotation). */
  readonly since?: Date;
  /**
   * Incident only (DESIGN I2's one exception): revoke and prove the old key dead right after the new key is minted
   * and staged, before roll out and verify. No effect for overlap none, where the mint already kills the old key.
   * A resumed run takes the order from its journal, never from here.
   */
  readonly revokeFirst?: boolean;
  /** Write reports here instead of the state folder's reports/. */
  readonly writeReport?: (summary: RunSummary) => string | undefined;
}

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
  readonly oldFingerprint: string | undefined;
  readonly newFingerprint: string | undefined;
  readonly oldMask: string | undefined;
  readonly newMask: string | undefined;
  readonly timeline: readonly TimelineEntry[];
  readonly records: Readonly<Record<string, unknown>>;
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

/** What the leak search found, as journaled (paths, lines, commit ids; never a value). */
export type LeakRecord = import('./leak-search.js').LeakSearchResult | { readonly notSearched: string };

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
  /** Revoke-first: from the start of the revoke until roll out and verify were done (consumers fail meanwhile). */
  readonly revokeWindowMs: number | undefined;
  readonly leak: LeakRecord | undefined;
}

/** Events of incident runs beyond the engine's own (rendered by `rekey incident`; printed as-is with --json). */
/** The events only an incident run emits (part of EngineEvent). */
export type IncidentEvent = Extract<EngineEvent, { event: 'old.dead' | 'leak.search' }>;

interface Unit {
  readonly phase: Phase;
  readonly id: string;
  readonly name: string;
  readonly human: boolean;
  /** Units sharing a group run concurrently (independent store writes). */
  readonly group?: string;
  run(): Promise<{ detail?: string | undefined; data?: Record<string, unknown> } | void>;
  /** Put what a done unit produced back into the run state on resume. */
  restore?(data: Record<string, unknown> | undefined): void;
}

interface OpenStore {
  readonly store: SecretStore;
  readonly ref: import('../store/contract.js').StoreRef;
}

/** Thrown inside the executor when a step fails, carrying where. */
class UnitFailure extends Error {
  constructor(
    readonly unit: Unit,
    readonly error: unknown,
  ) {
    super(messageOf(error));
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function hintOf(error: unknown): string | undefined {
  const hint = (error as { hint?: unknown } | undefined)?.hint;
  return typeof hint === 'string' ? hint : undefined;
}

/** Run (or resume) one rotation. Resolves with the summary when done; throws RotationFailedError otherwise. */
export async function executeRun(options: RunOptions): Promise<RunSummary> {
  // A state folder that cannot be created is a configuration error (exit 2), found before the journal and the lock.
  await ensureStateDir(options.config);
  const executor = new RunExecutor(options);
  return executor.execute();
}

class RunExecutor {
  readonly run: string;
  readonly journal: Journal;
  readonly started = performance.now();
  /** When the run began, as its journal's run.started record says (a resumed run: when its first attempt began). */
  startedAt: string;
  readonly timeline: TimelineEntry[] = [];
  readonly roundTrips: number[] = [];
  readonly records: Record<string, unknown> = {};
  stores: OpenStore[] = [];
  lock: HeldLock | undefined;
  done = new Map<string, JournalRecord>();
  startedSteps = new Set<string>();
  resumed: boolean;
  oldFp: string | undefined;
  newFp: string | undefined;
  old: Secret | undefined;
  fresh: Secret | undefined;
  base: VersionId[] = [];
  staged: VersionId[] = [];
  outageStart: number | undefined;
  outageMs: number | undefined;
  /** Time spent with a prompt open, waiting for the person (or the answers file); the timeline splits steps by it. */
  waitedMs = 0;
  readonly interaction: Interaction;
  /** The old key is revoked before roll out (incident --revoke-first); a resumed run reads it from its journal. */
  revokeFirst: boolean;
  /** The leak's start given with --since (journaled, so a resume keeps it). */
  leakSince: string | undefined;
  /** When the old value came to be, as far as rekey can tell: the last rotation rekey finished, or the stores' date. */
  oldSince: string | undefined;
  provenDeadAt: string | undefined;
  deadAfterMs: number | undefined;
  leak: LeakRecord | undefined;
  /** A resumed run whose window (outage, revoke-first) is still open: what to say when the walk begins. */
  windowToAnnounce: string | undefined;

  constructor(readonly o: RunOptions) {
    this.resumed = o.resume !== undefined;
    this.revokeFirst = o.mode === 'incident' && o.revokeFirst === true && o.runbook.overlap !== 'none';
    this.run = o.resume ?? newRunId();
    this.journal = new Journal(o.config.stateDir, this.run);
    this.startedAt = new Date().toISOString();
    this.leakSince = o.since?.toISOString();
    this.interaction = this.timedInteraction(o.interaction);
  }

  /** The interaction, with the time each question stays open added to `waitedMs`. */
  timedInteraction(inner: Interaction): Interaction {
    const waiting = async <T>(ask: () => Promise<T>): Promise<T> => {
      const t0 = performance.now();
      try {
        return await ask();
      } finally {
        this.waitedMs += performance.now() - t0;
      }
    };
    return {
      get canAsk() {
        return inner.canAsk;
      },
      instruct: (stepId, message, url) => inner.instruct(stepId, message, url),
      askSecret: (stepId, question, validate) => waiting(() => inner.askSecret(stepId, question, validate)),
      confirm: (stepId, question) => waiting(() => inner.confirm(stepId, question)),
      offerReveal: (stepId, label, value) => waiting(() => inner.offerReveal(stepId, label, value)),
    };
  }

  emit(event: EngineEvent): void {
    this.o.sink.emit(event);
  }

  /** An incident event: sinks that do not know it ignore it (the text screen), --json prints it. */
  emitIncident(event: IncidentEvent): void {
    this.emit(event);
  }

  get overlap(): string {
    return this.o.runbook.overlap;
  }

  async execute(): Promise<RunSummary> {
    const { credential, runbook, config } = this.o;
    this.lock = acquireLock(config.stateDir, credential.id, this.run);
    try {
      if (this.lock.tookOver !== undefined) {
        this.emit({ event: 'note', level: 'warn', message: `took over a stale lock of run ${this.lock.tookOver.run} (pid ${this.lock.tookOver.pid} is no longer running)` });
      }
      this.stores = await Promise.all(
        credential.stores.map(async (entry) => ({ store: (await loadStoreAdapter(entry.ref.kind)).open(entry.options, { baseDir: config.baseDir, env: process.env }), ref: entry.ref })),
      );
      if (!this.resumed) await this.refuseWhileUnfinished();
      this.loadJournal();
      this.emit({ event: 'run.started', credential: credential.id, run: this.run, mode: this.o.mode, runbook: runbook.name, overlap: runbook.overlap, resumed: this.resumed, budgetMs: credential.budgetMs, stores: credential.stores.map((s) => s.ref.display) });
      if (this.overlap === 'none' && !this.resumed) {
        this.emit({ event: 'note', level: 'warn', message: `overlap none: minting the new ${runbook.title} key kills the old one at once; the outage window runs until roll out and verify are done` });
      }
      if (this.revokeFirst) {
        this.emit({ event: 'note', level: 'warn', message: 'revoke first (--revoke-first): the old key is revoked and proven dead right after the new key is staged, before roll out and verify; consumers still on the old key fail until roll out and verify are done, and there is no rollback after the revoke (a failure is fixed forward with `rekey resume`)' });
      } else if (this.o.revokeFirst === true && this.overlap === 'none' && !this.resumed) {
        this.emit({ event: 'note', level: 'info', message: '--revoke-first changes nothing for overlap none: minting the new key already kills the old one' });
      }
      if (this.o.mode === 'incident' && runbook.verifyRevoked.length === 0) {
        this.emit({ event: 'note', level: 'warn', message: `runbook ${runbook.name} has no step that checks the old key is rejected: rekey cannot prove it dead, so check it by hand` });
      }
      return await this.walk();
    } finally {
      this.lock.release();
      await closeStores(this.stores);
    }
  }

  /**
   * I1: a new run must not start while an earlier run of this credential that did not finish still keeps a staged
   * or previous value in a store. The stores would refuse to stage the new key only after it was minted, stranding
   * it in memory; with overlap none that mint would also kill the key that is current. So refuse before anything.
   */
  async refuseWhileUnfinished(): Promise<void> {
    const { stateDir } = this.o.config;
    for (const run of listRuns(stateDir)) {
      if (run === this.run) continue;
      const records = readJournal(stateDir, run);
      const first = records[0];
      if (first?.type !== 'run.started' || first.credential !== this.o.credential.id) continue;
      const last = records.findLast((r) => r.type === 'run.finished' || r.type === 'run.resumed');
      if (last?.type === 'run.finished' && last.result !== 'failed') continue;
      const noRollback = this.overlap === 'none' || first.revokeFirst === true;
      for (const { store, ref } of this.stores) {
        const held = (await store.readStaged(ref, run).catch(() => undefined)) ?? (await store.readPrevious(ref, run).catch(() => undefined));
        if (held === undefined) continue;
        throw new RefusedError(
          `run ${run} of ${this.o.credential.id} did not finish and still keeps a value in ${ref.display}: a new run would mint a key the store cannot take`,
          `finish that run with \`rekey resume ${run}\`${noRollback ? '' : ` or undo it with \`rekey rollback ${run}\``}`,
        );
      }
    }
  }

  /** Read the journal of a resumed run: what is done, and the fingerprints it recorded. */
  loadJournal(): void {
    const records = this.journal.records();
    if (!this.resumed) {
      const started = this.journal.append({
        type: 'run.started',
        credential: this.o.credential.id,
        runbook: this.o.runbook.name,
        overlap: this.o.runbook.overlap,
        mode: this.o.mode,
        pid: process.pid,
        host: hostname(),
        ...(this.o.since ? { since: this.o.since.toISOString() } : {}),
        // The chosen order is part of the run: a resume keeps it whatever its command line says.
        ...(this.revokeFirst ? { revokeFirst: true } : {}),
      });
      this.startedAt = started.at;
      return;
    }
    const first = records[0];
    if (first === undefined || first.type !== 'run.started') throw new RefusedError(`run ${this.run} has no journal to resume from`);
    if (first.credential !== this.o.credential.id) throw new RefusedError(`run ${this.run} rotates ${first.credential}, not ${this.o.credential.id}`);
    this.revokeFirst = first.revokeFirst === true;
    this.startedAt = first.at;
    this.leakSince = first.since ?? this.leakSince;
    const finished = records.findLast((r) => r.type === 'run.finished');
    if (finished !== undefined && finished.type === 'run.finished' && finished.result !== 'failed') {
      throw new RefusedError(`run ${this.run} already finished: ${finished.result}`, finished.result === 'done' ? 'nothing to resume' : 'start a new rotation instead');
    }
    for (const record of records) {
      if (record.type === 'step.started') this.startedSteps.add(record.step);
      if (record.type === 'step.done') this.done.set(record.step, record);
    }
    this.resumeWindow(records);
    this.journal.append({ type: 'run.resumed', pid: process.pid });
  }

  /** The audit checks a person answered no to, for the audit log; undefined when there were none. */
  auditFindings(): string | undefined {
    const open = Object.entries(this.records).filter(([, record]) => (record as { confirmed?: unknown }).confirmed === false).map(([step]) => step);
    return open.length === 0 ? undefined : `not confirmed: ${open.join(', ')} (activity not recognised, to investigate)`;
  }

  /**
   * Run the runbook's HTTP checks of the new key with `value` standing in as {{ new }}; throws the first failure.
   * False when the runbook has none.
   */
  async checkAsNew(value: Secret): Promise<boolean> {
    const checks = this.o.runbook.verify.filter((step): step is HttpStep => step.kind === 'http');
    if (checks.length === 0) return false;
    const saved = this.fresh;
    this.fresh = value;
    try {
      for (const step of checks) await this.runbookStep(step);
      return true;
    } finally {
      this.fresh = saved;
    }
  }

  /** The runbook's checks of the new key, run with a pasted candidate: why the provider rejects it, if it does. */
  async checkCandidate(candidate: Secret): Promise<string | undefined> {
    try {
      await this.checkAsNew(candidate);
      return undefined;
    } catch (error) {
      // Unreachable: the provider said nothing about the key; verify asks again once the key is safely staged.
      if (error instanceof ProviderUnreachableError || !(error instanceof StepFailedError)) return undefined;
      return `${this.o.runbook.title} rejects it (${messageOf(error)})`;
    }
  }

  /** Whether the runbook's prove-dead checks pass with the old key now (a key already revoked): each asked once. */
  async oldKeyAlreadyDead(): Promise<boolean> {
    const checks = this.o.runbook.verifyRevoked.filter((step): step is HttpStep => step.kind === 'http');
    if (checks.length === 0) return false;
    try {
      for (const step of checks) await this.runbookStep({ ...step, retry: undefined });
      return true;
    } catch {
      return false;
    }
  }

  /**
   * A window that an interrupted attempt opened (overlap none: from the mint step's start; revoke-first: from the
   * revoke's start), taken up again on resume from the journal's times: closed, with its length known, if a step after
   * verify had started; else still open, and this attempt closes it. Either way the report states the whole window.
   */
  resumeWindow(records: readonly JournalRecord[]): void {
    const opening =
      this.overlap === 'none'
        ? records.find((r) => r.type === 'step.started' && r.step === 'mint')
        : this.revokeFirst
          ? records.find((r) => r.type === 'step.started' && (r.step.startsWith('revoke:') || r.step.startsWith('prove-dead:')))
          : undefined;
    if (opening === undefined) return;
    const opened = Date.parse(opening.at);
    const lastVerified = records.findLastIndex((r) => r.type === 'step.done' && r.phase === 'verify');
    if (lastVerified !== -1 && records.slice(lastVerified + 1).some((r) => r.type === 'step.started' && r.phase !== 'verify')) {
      this.outageMs = Math.max(0, Date.parse(records[lastVerified]!.at) - opened);
      return;
    }
    // On this process's clock: the window opened (now − elapsed) ago. Announced once the run's header is out (walk).
    this.outageStart = performance.now() - (Date.now() - opened);
    this.windowToAnnounce = this.revokeFirst
      ? 'revoke first: the old key was revoked before the interruption; consumers still on it fail until roll out and verify are done: finish them now'
      : `the outage window has been open since ${opening.at} (the interrupted attempt's mint): finish roll out and verify now`;
  }

  /**
   * The start of the audit window: when the leak began (incident --since); else since the old key came to be — the
   * last rotation rekey finished, or the date the stores give the current version; else (nothing known) the run's start.
   */
  windowStart(): string {
    return this.leakSince ?? this.oldSince ?? this.startedAt;
  }

  vars(): TemplateVars {
    const since = this.windowStart();
    return { new: this.fresh, old: this.old, inputs: this.o.credential.inputs, run: { id: this.run, since, started: this.startedAt }, credential: this.o.credential.id };
  }

  /** The old value, recovered from the stores (current before promote, previous after). */
  async needOld(): Promise<Secret> {
    if (this.old !== undefined) return this.old;
    for (const { store, ref } of this.stores) {
      for (const read of [() => store.read(ref), () => store.readPrevious(ref, this.run)]) {
        const found = await read().catch(() => undefined);
        if (found !== undefined && found.value.fingerprint === this.oldFp) {
          this.old = found.value;
          return found.value;
        }
      }
    }
    throw new RotationFailedError(`the old value (${this.oldFp}) is in none of the stores any more`, 'it was retired or overwritten outside this run; check the stores by hand');
  }

  /** The new value, recovered from the stores where this run staged or promoted it. */
  async needNew(): Promise<Secret> {
    if (this.fresh !== undefined) return this.fresh;
    for (const { store, ref } of this.stores) {
      const found = await store.readStaged(ref, this.run).catch(() => undefined);
      const value = found?.value.fingerprint === this.newFp ? found?.value : (await store.read(ref).catch(() => undefined))?.value;
      if (value !== undefined && value.fingerprint === this.newFp) {
        this.fresh = value;
        return value;
      }
    }
    throw new RotationFailedError(`the new value (${this.newFp}) is in none of the stores`, 'this should not happen: report it, with the journal');
  }

  async runbookStep(step: Step): Promise<StepOutcome> {
    const ctx = {
      vars: this.vars(),
      runbook: this.o.runbook,
      interaction: this.interaction,
      roundTrips: this.roundTrips,
      note: (message: string) => this.emit({ event: 'note', level: 'info', message }),
      checkNew: (candidate: Secret) => this.checkCandidate(candidate),
    };
    return runStep(step, ctx, this.o.config.baseDir);
  }

  /** The steps of this run, in order. */
  plan(): Unit[] {
    const { runbook, credential } = this.o;
    const units: Unit[] = [];
    const stores = this.stores;

    units.push({
      phase: 'generate',
      id: 'preflight',
      name: `read ${stores.length} store${stores.length === 1 ? '' : 's'} and check the old key`,
      human: false,
      run: async () => {
        const values = await Promise.all(stores.map(({ store, ref }) => store.read(ref)));
        const fingerprints = new Set(values.map((v) => v.value.fingerprint));
        if (fingerprints.size > 1) {
          const list = values.map((v, i) => `${stores[i]!.ref.display} ${v.value.fingerprint}`).join(', ');
          throw new RotationFailedError(`the stores disagree on the current value: ${list}`, 'an earlier run may have stopped half-way: `rekey status` and `rekey resume` it, or make the stores agree');
        }
        this.old = values[0]!.value;
        this.oldFp = this.old.fingerprint;
        this.oldSince = oldValueSince(this.o.config.stateDir, this.o.credential.id, this.run, values);
        this.base = values.map((v) => v.version);
        let detail = `${stores.length} store${stores.length === 1 ? '' : 's'} agree on ${this.old.mask} (${this.oldFp})`;
        // The runbook's own checks, run with the old key, prove the check itself works before anything is minted.
        try {
          if (await this.checkAsNew(this.old)) detail += ` · old key ${this.old.mask} works`;
        } catch (error) {
          if (error instanceof ProviderUnreachableError) {
            throw new RotationFailedError(`could not reach ${runbook.title} to check the old key ${this.old.mask}: ${messageOf(error)}`, 'nothing was minted; check the network and the runbook inputs (baseUrl), then run again');
          }
          if (this.o.mode === 'incident') {
            detail += ' · old key already rejected';
          } else if (this.overlap === 'none' && (await this.oldKeyAlreadyDead())) {
            // Someone already requested a new key (which killed this one): the outage is on; go on and take that key.
            detail += ` · old key ${this.old.mask} already dead`;
            this.outageStart = performance.now();
            this.emit({ event: 'outage.started' });
            this.emit({ event: 'note', level: 'warn', message: `the provider already rejects the old key ${this.old.mask} as revoked: a new key was requested before this run (the outage began then). Paste that key; do not request another` });
          } else {
            throw new RotationFailedError(
              `the runbook's check, run with the old key ${this.old.mask}, failed: ${messageOf(error)}`,
              'nothing was minted; fix the runbook inputs (or the check) first, since the new key would be checked the same way',
            );
          }
        }
        return { detail, data: { old: this.oldFp, base: this.base } };
      },
      restore: (data) => {
        this.oldFp = data?.['old'] as string;
        this.base = (data?.['base'] as VersionId[]) ?? [];
        this.oldSince = oldValueSince(this.o.config.stateDir, this.o.credential.id, this.run, []);
      },
    });

    const minting = runbook.generate;
    units.push({
      phase: 'generate',
      id: 'mint',
      name: minting.find(mints)?.name ?? 'mint the new key',
      human: minting.some(needsPerson),
      run: async () => {
        const old = await this.needOld();
        // A crash after staging but before this step's journal record: adopt what the stores hold, never mint twice.
        if (this.startedSteps.has('mint')) {
          const adopted = await this.findStaged();
          if (adopted !== undefined) {
            this.fresh = adopted;
            this.emit({ event: 'note', level: 'info', message: `found the key this run minted before it was interrupted (${adopted.fingerprint}); not minting another` });
          } else if (minting.some(needsPerson)) {
            this.emit({ event: 'note', level: 'warn', message: 'if you already requested a new key for this run before it was interrupted, paste that same key: requesting another would mint a second one' });
          }
        }
        if (this.fresh === undefined) {
          let minted: Secret | undefined;
          for (const step of minting) {
            // Overlap none: the old key dies when the person clicks (or the API call mints), somewhere while this step
            // runs, so the window is counted from the step's start: an upper bound, never an under-count.
            if (this.overlap === 'none' && this.outageStart === undefined && this.outageMs === undefined && mints(step)) {
              this.outageStart = performance.now();
              this.emit({ event: 'outage.started' });
            }
            const outcome = await this.runbookStep(step);
            if (outcome.minted !== undefined) minted = outcome.minted;
          }
          if (minted === undefined) throw new RotationFailedError('the generate steps produced no new value');
          if (runbook.secret.pattern !== undefined && !runbook.secret.pattern.test(minted.reveal())) {
            throw new RotationFailedError(`the new value ${minted.mask} does not match the runbook's secret pattern`);
          }
          if (minted.equals(old)) throw new RotationFailedError('the new value is the same as the old one', 'the provider returned the old key: nothing was changed');
          this.fresh = minted;
        }
        const fresh = this.fresh;
        this.newFp = fresh.fingerprint;
        this.staged = await Promise.all(stores.map(({ store, ref }, i) => store.stage(ref, fresh, this.run, this.base[i]!)));
        return { detail: `new key ${fresh.mask} (${fresh.fingerprint}) staged in ${stores.length} store${stores.length === 1 ? '' : 's'}`, data: { new: this.newFp, staged: this.staged } };
      },
      restore: (data) => {
        this.newFp = data?.['new'] as string;
        this.staged = (data?.['staged'] as VersionId[]) ?? [];
      },
    });

    stores.forEach(({ store, ref }, i) => {
      units.push({
        phase: 'rollout',
        id: `promote:${i}`,
        name: `make current in ${ref.display}`,
        human: false,
        group: 'promote',
        run: async () => {
          await store.promote(ref, this.staged[i]!, this.run, this.base[i]!);
          return { detail: ref.kind };
        },
      });
    });
    credential.rollout.forEach((hook, j) => {
      units.push({
        phase: 'rollout',
        id: `hook:${j}`,
        name: hook.name,
        human: false,
        run: async () => {
          await this.needNew();
          const outcome = await runCommand({ id: `hook:${j}`, ...hook }, this.vars(), this.o.config.baseDir);
          return { detail: outcome.detail };
        },
      });
    });

    units.push({
      phase: 'verify',
      id: 'readback',
      name: 'read every store back',
      human: false,
      run: async () => {
        const values = await Promise.all(stores.map(({ store, ref }) => store.read(ref)));
        const wrong = values.map((v, i) => [v, stores[i]!] as const).filter(([v]) => v.value.fingerprint !== this.newFp);
        if (wrong.length > 0) {
          throw new RotationFailedError(`${wrong.map(([v, s]) => `${s.ref.display} holds ${v.value.fingerprint}`).join(', ')}, expected ${this.newFp}`);
        }
        return { detail: `stores agree on ${this.newFp}` };
      },
    });
    runbook.verify.forEach((step) => {
      units.push({
        phase: 'verify',
        id: `verify:${step.id}`,
        name: step.name,
        human: needsPerson(step),
        run: async () => {
          await this.needNew();
          const outcome = await this.runbookStep(step);
          return { detail: `new key ${this.fresh!.mask}: ${outcome.detail ?? 'ok'}` };
        },
      });
    });

    runbook.revoke.forEach((step) => {
      units.push({
        phase: 'revoke',
        id: `revoke:${step.id}`,
        name: step.name,
        human: needsPerson(step),
        run: async () => {
          await this.needOld();
          await this.needNew();
          const outcome = await this.runbookStep(step);
          return { detail: outcome.detail };
        },
      });
    });
    runbook.verifyRevoked.forEach((step) => {
      units.push({
        phase: 'revoke',
        id: `prove-dead:${step.id}`,
        name: step.name,
        human: needsPerson(step),
        run: async () => {
          const old = await this.needOld();
          await this.needNew();
          const outcome = await this.runbookStep(step);
          return { detail: `old key ${old.mask} rejected (${outcome.detail ?? 'ok'}) — dead` };
        },
      });
    });
    if (this.o.mode === 'incident') units.push(this.leakSearchUnit());
    stores.forEach(({ store, ref }, i) => {
      units.push({
        phase: 'revoke',
        id: `retire:${i}`,
        name: `drop the old value from ${ref.display}`,
        human: false,
        group: 'retire',
        run: async () => {
          await store.retire(ref, this.run);
          return { detail: ref.kind };
        },
      });
    });

    if (this.o.mode === 'incident') {
      units.push({
        phase: 'audit',
        id: 'audit-window',
        name: 'audit window',
        human: false,
        run: async () => {
          const { localTime, span } = await import('./incident.js');
          const since = new Date(this.windowStart());
          const now = new Date();
          return { detail: `${localTime(since, now)} → ${localTime(now, now)} (${span(now.getTime() - since.getTime())}): every use of the old key ${this.old?.mask ?? this.oldFp ?? ''} in this window is suspect`, data: { since: since.toISOString(), until: now.toISOString() } };
        },
      });
    }
    runbook.audit.forEach((step) => {
      units.push({
        phase: 'audit',
        id: `audit:${step.id}`,
        name: step.name,
        human: needsPerson(step),
        run: async () => {
          // By now retire has dropped the old value from the stores (as it should), so a resumed run cannot read it
          // back: audit steps go on without it (one whose template needs {{ old }} says so when it renders).
          await this.needOld().catch(() => undefined);
          await this.needNew();
          let outcome: StepOutcome;
          try {
            outcome = await this.runbookStep(step);
          } catch (error) {
            if (!(error instanceof NotConfirmedError)) throw error;
            // "No" to an audit checklist is a finding, not a failed rotation: the key is rotated and the old one is
            // dead either way. It goes in the report and the audit log, and the person is told what to do next.
            const since = this.windowStart();
            this.emit({ event: 'note', level: 'warn', message: `${step.name}: answered no — activity you don't recognise since ${since} is a leak to investigate: \`rekey incident ${this.o.credential.id} --since <when it began>\` rotates again and searches where it leaked` });
            outcome = { detail: 'answered no: activity not recognised, see the report', record: { confirmed: false, finding: 'the person did not confirm this check: activity they do not recognise, to investigate', since } };
          }
          if (outcome.record !== undefined) this.records[step.id] = outcome.record;
          return { detail: outcome.detail, data: outcome.record === undefined ? undefined : { recorded: Object.keys(outcome.record) } };
        },
      });
    });
    return units;
  }

  /**
   * The leak search of an incident (leak-search.ts). It runs right before retire: after the old key is proven dead
   * (it never delays that), after roll out and verify (it never lengthens a revoke-first window), and while the stores
   * still hold the old value, so a run killed at any point can still search on resume. Its findings (paths, lines,
   * commit ids; never the value) are journaled with the step, so a resume after retire reuses them. It never fails the
   * run: an incident must not stop on a search.
   */
  leakSearchUnit(): Unit {
    return {
      phase: 'revoke',
      id: 'leak-search',
      name: 'leak search',
      human: false,
      run: async () => {
        const { describeLeak, searchLeak } = await import('./leak-search.js');
        const old = await this.needOld().catch(() => undefined);
        let leak: LeakRecord;
        let summary: string;
        if (old === undefined) {
          summary = `skipped: the old value (${this.oldFp}) is in none of the stores any more, so there is nothing to search for`;
          leak = { notSearched: summary };
        } else {
          const { config, credential } = this.o;
          const exclude = [config.stateDir, ...credential.stores.filter((s) => s.ref.kind === 'dotenv').map((s) => resolve(config.baseDir, s.ref.path))];
          try {
            const found = await searchLeak({ folder: config.baseDir, value: old, exclude });
            leak = found;
            summary = describeLeak(found);
          } catch (error) {
            summary = `failed: ${messageOf(error)}`;
            leak = { notSearched: summary };
          }
        }
        this.leak = leak;
        this.audit('leak-search', 'done', summary);
        this.emitIncident({ event: 'leak.search', credential: this.o.credential.id, run: this.run, summary, leak });
        return { detail: summary, data: { leak } };
      },
      restore: (data) => {
        this.leak = data?.['leak'] as LeakRecord | undefined;
      },
    };
  }

  /** The order units run in: the five phases; with revoke-first, revoke and prove-dead right after generate. */
  stages(units: readonly Unit[]): Array<{ phase: Phase; early: boolean; units: Unit[] }> {
    const early = (u: Unit) => u.id.startsWith('revoke:') || u.id.startsWith('prove-dead:');
    const of = (phase: Phase, keep: (u: Unit) => boolean = () => true, isEarly = false) => ({ phase, early: isEarly, units: units.filter((u) => u.phase === phase && keep(u)) });
    if (!this.revokeFirst) return phases.map((phase) => of(phase));
    return [of('generate'), of('revoke', early, true), of('rollout'), of('verify'), of('revoke', (u) => !early(u)), of('audit')];
  }

  /** The old key is proven dead (the last prove-dead step passed, now or before an interruption). */
  async provenDead(step: string): Promise<void> {
    const before = this.done.get(step);
    const at = before?.at ?? new Date().toISOString();
    this.provenDeadAt = at;
    this.deadAfterMs = Math.max(0, Date.parse(at) - Date.parse(this.startedAt));
    if (this.o.mode === 'incident') {
      // A resumed run names the old key by its mask while a store still holds it (else by its fingerprint).
      if (this.old === undefined) await this.needOld().catch(() => undefined);
      this.emitIncident({ event: 'old.dead', credential: this.o.credential.id, run: this.run, mask: this.old?.mask, fingerprint: this.oldFp, at, afterStartMs: this.deadAfterMs });
    }
  }

  /** A value this run staged in any store (for a resumed mint). */
  async findStaged(): Promise<Secret | undefined> {
    for (const { store, ref } of this.stores) {
      const found = await store.readStaged(ref, this.run).catch(() => undefined);
      if (found !== undefined) return found.value;
    }
    return undefined;
  }

  async runUnit(unit: Unit): Promise<void> {
    const previous = this.done.get(unit.id);
    if (previous !== undefined && previous.type === 'step.done') {
      unit.restore?.(previous.data);
      this.timeline.push({ phase: unit.phase, step: unit.id, name: unit.name, human: unit.human, startMs: 0, ms: 0, waitMs: 0, result: 'skipped', detail: 'done before the interruption' });
      this.emit({ event: 'step.done', phase: unit.phase, step: unit.id, name: unit.name, ms: 0, waitMs: 0, human: unit.human, detail: 'done before the interruption', skipped: true });
      return;
    }
    const startMs = performance.now() - this.started;
    this.journal.append({ type: 'step.started', phase: unit.phase, step: unit.id });
    this.emit({ event: 'step.started', phase: unit.phase, step: unit.id, name: unit.name, human: unit.human });
    const t0 = performance.now();
    const waited0 = this.waitedMs;
    let result: Awaited<ReturnType<Unit['run']>>;
    try {
      result = await unit.run();
    } catch (error) {
      const ms = performance.now() - t0;
      const waitMs = Math.min(ms, this.waitedMs - waited0);
      this.journal.append({ type: 'step.failed', phase: unit.phase, step: unit.id, ms: Math.round(ms), error: messageOf(error) });
      this.timeline.push({ phase: unit.phase, step: unit.id, name: unit.name, human: unit.human, startMs, ms, waitMs, result: 'failed', detail: messageOf(error) });
      this.emit({ event: 'step.failed', phase: unit.phase, step: unit.id, name: unit.name, ms, error: messageOf(error), hint: hintOf(error) });
      throw new UnitFailure(unit, error);
    }
    const ms = performance.now() - t0;
    // Units of one group run side by side, but only store writes are grouped and they never ask the person.
    const waitMs = Math.min(ms, this.waitedMs - waited0);
    const detail = result?.detail;
    this.journal.append({ type: 'step.done', phase: unit.phase, step: unit.id, ms: Math.round(ms), ...(unit.human ? { human: true, waitMs: Math.round(waitMs) } : {}), ...(result?.data ? { data: result.data } : {}) });
    this.timeline.push({ phase: unit.phase, step: unit.id, name: unit.name, human: unit.human, startMs, ms, waitMs, result: 'done', detail });
    this.emit({ event: 'step.done', phase: unit.phase, step: unit.id, name: unit.name, ms, waitMs, human: unit.human, detail });
  }

  async walk(): Promise<RunSummary> {
    const units = this.plan();
    const lastProveDead = units.filter((u) => u.id.startsWith('prove-dead:')).at(-1);
    let current: Phase | undefined;
    let early = false;
    if (this.windowToAnnounce !== undefined) {
      this.emit({ event: 'outage.started' });
      this.emit({ event: 'note', level: 'warn', message: this.windowToAnnounce });
    }
    const headed = new Set<Phase>();
    try {
      for (const stage of this.stages(units)) {
        const { phase } = stage;
        current = phase;
        early = stage.early;
        const inPhase = stage.units;
        if (inPhase.length === 0) continue;
        // Revoke-first splits revoke in two: its second part (leak search, retire) is the same phase, continued.
        this.emit({ event: 'phase.started', phase, ...(headed.has(phase) ? { continued: true } : {}) });
        headed.add(phase);
        // Revoke-first: consumers on the old key fail from the revoke until roll out and verify are done.
        if (early && this.outageStart === undefined && inPhase.some((u) => !this.done.has(u.id))) {
          this.outageStart = performance.now();
          this.emit({ event: 'outage.started' });
        }
        for (let i = 0; i < inPhase.length; ) {
          const unit = inPhase[i]!;
          if (unit.group === undefined) {
            await this.runUnit(unit);
            if (unit === lastProveDead) await this.provenDead(unit.id);
            i++;
            continue;
          }
          const group = inPhase.slice(i).filter((u) => u.group === unit.group);
          const settled = await Promise.allSettled(group.map((u) => this.runUnit(u)));
          const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
          if (failed !== undefined) throw failed.reason;
          i += group.length;
        }
        if (phase === 'verify' && this.outageStart !== undefined) {
          this.outageMs = performance.now() - this.outageStart;
          this.emit({ event: 'outage.ended', ms: this.outageMs });
        }
        if (!this.revokeFirst || phase !== 'revoke') this.audit(phase, 'done', phase === 'revoke' ? this.deadDetail() : phase === 'audit' ? this.auditFindings() : undefined);
        else if (early) this.audit('revoke', 'done', `revoked before roll out (--revoke-first) · ${this.deadDetail() ?? 'proven dead'}`);
        else this.audit('retire', 'done');
      }
    } catch (error) {
      const failure = error instanceof UnitFailure ? error : new UnitFailure(units[0]!, error);
      return this.fail(failure, current ?? 'generate', early);
    }
    return this.finish('done');
  }

  /** `old key proven dead at <time> (1:02 after start)`, for incident audit records. */
  deadDetail(): string | undefined {
    if (this.o.mode !== 'incident' || this.provenDeadAt === undefined || this.deadAfterMs === undefined) return undefined;
    return `old key proven dead at ${this.provenDeadAt} (${formatClock(this.deadAfterMs)} after start)`;
  }

  audit(phase: string, result: 'done' | 'failed' | 'rolled-back', detail?: string): void {
    appendAudit(this.o.config.stateDir, {
      credential: this.o.credential.id,
      run: this.run,
      mode: this.o.mode,
      phase,
      result,
      fingerprints: { old: this.oldFp, new: this.newFp },
      ...(detail === undefined ? {} : { detail }),
    });
  }

  /** A step failed: roll back where the overlap allows it, else leave the run resumable. */
  async fail(failure: UnitFailure, phase: Phase, early = false): Promise<never> {
    const minted = this.newFp !== undefined || this.done.has('mint');
    const beforeRevoke = phase === 'generate' || phase === 'rollout' || phase === 'verify';
    // Revoke-first: once the early revoke has begun the old key may be dead, so there is no going back to it.
    const revokedEarly = this.revokeFirst && (early || phase === 'rollout' || phase === 'verify');
    let result: RunResult = 'failed';
    let resumable = true;
    let hint = hintOf(failure.error);
    if (!minted && phase === 'generate') {
      // Nothing minted: nothing to undo beyond any staging, and a new run is as good as a resume.
      resumable = failure.unit.id === 'mint';
    } else if (revokedEarly && early) {
      hint = `revoke first: the old key may already be revoked, and the new key is staged but not yet current; fix the cause and run \`rekey resume ${this.run}\` to prove the old key dead and roll out the new one (no rollback: the old key is being killed)`;
    } else if (revokedEarly) {
      hint = `revoke first: the old key was revoked before roll out, so there is no going back; fix the cause and run \`rekey resume ${this.run}\` to finish rolling out the new key`;
    } else if (beforeRevoke && this.overlap !== 'none') {
      try {
        await this.rollback(`${failure.unit.name} failed`);
        result = 'rolled-back';
        resumable = false;
        hint = `the old key ${this.old?.mask ?? ''} is current again everywhere and still works; fix the cause and rotate again`;
      } catch (error) {
        this.emit({ event: 'note', level: 'warn', message: `rollback did not complete: ${messageOf(error)}` });
        hint = `run \`rekey rollback ${this.run}\` once the cause is fixed`;
      }
    } else if (beforeRevoke) {
      hint = `overlap none: the old key died when the new one was minted, so there is no going back; fix the cause and run \`rekey resume ${this.run}\` to finish rolling out the new key`;
    } else {
      hint = `the new key is live everywhere; fix the cause and run \`rekey resume ${this.run}\` to finish ${phase}`;
    }
    if (result === 'failed') this.audit(phase, 'failed', failure.message);
    const summary = this.finish(result, failure.message, hint, resumable);
    throw Object.assign(new RotationFailedError(`${this.o.credential.id}: ${failure.message}`, hint), { summary });
  }

  /** Restore the old value everywhere, restart consumers, and discard the unused new key. */
  async rollback(reason: string): Promise<void> {
    this.emit({ event: 'note', level: 'warn', message: `rolling back: ${reason}` });
    const stores = [...this.stores].reverse();
    for (const [i, { store, ref }] of stores.entries()) {
      await this.runUnit({ phase: 'verify', id: `rollback:${this.stores.length - 1 - i}`, name: `restore the old value in ${ref.display}`, human: false, run: async () => void (await store.rollback(ref, this.run)) });
    }
    const hooksRan = this.o.credential.rollout.some((_, j) => this.timeline.some((t) => t.step === `hook:${j}` && t.result !== 'failed') || this.done.has(`hook:${j}`));
    if (hooksRan) {
      await this.needOld();
      for (const [j, hook] of this.o.credential.rollout.entries()) {
        await this.runUnit({ phase: 'verify', id: `rollback-hook:${j}`, name: `${hook.name} (back on the old key)`, human: false, run: async () => ({ detail: (await runCommand({ id: `rollback-hook:${j}`, ...hook }, { ...this.vars(), new: this.old }, this.o.config.baseDir)).detail }) });
      }
    }
    if (this.newFp !== undefined) {
      await this.needNew().catch(() => undefined);
      if (this.fresh !== undefined) {
        for (const step of this.o.runbook.discard) {
          await this.runUnit({ phase: 'verify', id: `discard:${step.id}`, name: step.name, human: needsPerson(step), run: async () => ({ detail: (await this.runbookStep(step)).detail }) });
        }
      }
    }
    this.audit('rollback', 'rolled-back', reason);
  }

  /** The incident part of the summary. */
  incidentSummary(): IncidentSummary {
    const revokeWindowMs = !this.revokeFirst ? undefined : (this.outageMs ?? (this.outageStart !== undefined ? performance.now() - this.outageStart : undefined));
    return {
      since: this.windowStart(),
      until: new Date().toISOString(),
      revokeFirst: this.revokeFirst,
      revokeFirstMoot: this.o.revokeFirst === true && this.overlap === 'none',
      provable: this.o.runbook.verifyRevoked.length > 0,
      provenDeadAt: this.provenDeadAt,
      deadAfterMs: this.deadAfterMs,
      revokeWindowMs,
      leak: this.leak,
    };
  }

  finish(result: RunResult, error?: string, hint?: string, resumable = false): RunSummary {
    const ms = performance.now() - this.started;
    this.journal.append({ type: 'run.finished', result, ...(error === undefined ? {} : { error }) });
    const summary: RunSummary = {
      run: this.run,
      credential: this.o.credential.id,
      runbook: this.o.runbook.name,
      overlap: this.o.runbook.overlap,
      mode: this.o.mode,
      result,
      ms,
      budgetMs: this.o.credential.budgetMs,
      outageMs: this.outageMs ?? (this.outageStart !== undefined ? performance.now() - this.outageStart : undefined),
      oldFingerprint: this.oldFp,
      newFingerprint: this.newFp,
      oldMask: this.old?.mask,
      newMask: this.fresh?.mask,
      timeline: this.timeline,
      records: this.records,
      error,
      hint,
      resumable,
      resumed: this.resumed,
      startedAt: this.startedAt,
      stores: this.o.credential.stores.map((s) => s.ref.display),
      roundTrips: this.roundTrips,
      incident: this.o.mode === 'incident' ? this.incidentSummary() : undefined,
    };
    if (result === 'done') this.audit('run', 'done');
    // The run's last audit record is written: make the audit head durable, once per run rather than per record.
    syncAuditHead(this.o.config.stateDir);
    summary.report = this.o.writeReport?.(summary);
    this.emit({ event: 'run.finished', credential: summary.credential, run: this.run, result, seconds: Math.round(ms) / 1000, outageSeconds: summary.outageMs === undefined ? undefined : Math.round(summary.outageMs) / 1000, report: summary.report, resumable, error });
    return summary;
  }
}

/** Close every store that holds connections; a failure to close must not hide the run's own outcome. */
async function closeStores(stores: readonly OpenStore[]): Promise<void> {
  await Promise.allSettled(stores.map(({ store }) => store.close?.()));
}

/** Roll back a run by id (`rekey rollback`): only while the old key has not been revoked, and never for overlap none. */
export async function rollbackRun(options: RunOptions & { resume: string }): Promise<RunSummary> {
  const records = readJournal(options.config.stateDir, options.resume);
  if (records.length === 0) throw new RefusedError(`no journal for run ${options.resume}`);
  if (options.runbook.overlap === 'none') {
    throw new RefusedError(`run ${options.resume} uses runbook ${options.runbook.name} with overlap none: the old key died when the new one was minted, so rollback would restore a dead key`, `fix forward: rekey resume ${options.resume}`);
  }
  const revoking = records.some((r) => (r.type === 'step.started' || r.type === 'step.done') && (r.step.startsWith('revoke:') || r.step.startsWith('prove-dead:')));
  const first = records[0];
  if (revoking && first?.type === 'run.started' && first.revokeFirst === true) {
    throw new RefusedError(
      `run ${options.resume} revoked the old key first (incident --revoke-first): the old key is revoked, so rollback would restore a dead key`,
      `fix forward: rekey resume ${options.resume}`,
    );
  }
  if (revoking) {
    throw new RefusedError(`run ${options.resume} has already started revoking the old key, so rolling back to it is not safe`, `fix forward: rekey resume ${options.resume}`);
  }
  const finished = records.findLast((r) => r.type === 'run.finished');
  if (finished?.type === 'run.finished' && finished.result === 'rolled-back') throw new RefusedError(`run ${options.resume} was already rolled back`);
  const executor = new RunExecutor(options);
  executor.lock = acquireLock(options.config.stateDir, options.credential.id, executor.run);
  try {
    executor.stores = await Promise.all(
      options.credential.stores.map(async (entry) => ({ store: (await loadStoreAdapter(entry.ref.kind)).open(entry.options, { baseDir: options.config.baseDir, env: process.env }), ref: entry.ref })),
    );
    executor.loadJournal();
    for (const unit of executor.plan()) {
      const done = executor.done.get(unit.id);
      if (done?.type === 'step.done') unit.restore?.(done.data);
    }
    await executor.rollback('rollback requested');
    return executor.finish('rolled-back');
  } finally {
    executor.lock.release();
    await closeStores(executor.stores);
  }
}

/**
 * Since when the current value has been in use, as far as rekey can tell: the end of the last rotation of this
 * credential that rekey finished (other than this run), else the oldest creation date a store gives its current
 * version (the .env's has none). Undefined when neither is known.
 */
function oldValueSince(stateDir: string, credential: string, run: string, values: readonly StoredValue[]): string | undefined {
  const { lastDone } = lastRuns(stateDir, credential);
  if (lastDone?.finishedAt !== undefined && lastDone.run !== run) return lastDone.finishedAt;
  const dates = values.map((v) => v.createdAt?.getTime()).filter((t): t is number => t !== undefined && Number.isFinite(t));
  return dates.length === 0 ? undefined : new Date(Math.min(...dates)).toISOString();
}
