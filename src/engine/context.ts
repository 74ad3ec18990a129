/**
 * What one run holds while it runs: its options, its open stores and journal, the values it has in memory (as
 * `Secret`, never printed) and the facts the handlers build on. The durable truth is the journal and the stores; a
 * resumed run's context is seeded from the reduced journal (reduce.ts), and values are read back from the stores.
 */
import type { Config, CredentialConfig } from '../config/types.js';
import type { Secret } from '../contract/secret.js';
import { ProviderUnreachableError, StepFailedError, type Interaction, type ProviderCall, type StepOutcome } from '../contract/steps.js';
import type { TemplateVars } from '../contract/runbook.js';
import type { HttpStep, Runbook, Step } from '../contract/runbook.js';
import type { SecretStore, StoredMetadata, StoredValue, StoreRef, VersionId } from '../contract/store.js';
import { RotationFailedError } from '../contract/errors.js';
import { appendAudit, auditRecordEvent } from './audit-log.js';
import type { EngineEvent, EventSink } from '../contract/events.js';
import type { Journal, JournalEvent } from './journal.js';
import type { RunState } from './reduce.js';
import type { LeakRecord, RunSummary, TimelineEntry } from './summary.js';
import type { DeadBasis, Mode, RunResult, WindowBasis } from '../contract/run.js';
import { ago, localTime } from '../util/time.js';

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
   * Incident only (the one exception to I2, docs/design.md#i2-no-early-revoke): revoke and prove the old key dead right after the new key is minted
   * and staged, before roll out and verify. No effect for overlap none, where the mint already kills the old key.
   * A resumed run takes the order from its journal, never from here.
   */
  readonly revokeFirst?: boolean;
  /**
   * Resume only: the person has dealt with a key the interrupted attempt may have minted without rekey receiving it
   * (they revoked it at the provider, or checked there is none), so minting again is safe.
   */
  readonly mintAgain?: boolean;
  /**
   * Rotate even though the credential's last rotation finished less than ten minutes ago (src/engine/recent.ts); the
   * window holds for scheduled and drill runs only, never for an incident.
   */
  readonly allowRecent?: boolean;
  /**
   * Dry run: read-only steps run for real (the stores are read, the provider checks the old key, every store says
   * whether it could stage now); every step that would write is shown as "would …" and not run. Nothing is journaled,
   * audited or reported, and no temporary file is swept. Enforced by the walker, not by each handler.
   */
  readonly dryRun?: boolean;
  /**
   * Opens the stores of a credential. The CLI hands in the store registry's opener, so that the engine imports no
   * adapter and works with any store the registry knows. The run closes what it returns.
   */
  readonly openStores: (credential: CredentialConfig) => Promise<OpenStore[]>;
  /** Write reports here instead of the state folder's reports/. */
  readonly writeReport?: (summary: RunSummary) => Promise<string | undefined>;
}

export interface OpenStore {
  readonly store: SecretStore;
  readonly ref: StoreRef;
}

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export function hintOf(error: unknown): string | undefined {
  const hint = (error as { hint?: unknown } | undefined)?.hint;
  return typeof hint === 'string' ? hint : undefined;
}

/** The outage window (overlap none) or revoke-first window, on this process's clock. */
export interface RunWindow {
  /** performance.now() when it opened (for a resumed run: now minus the time since the first attempt opened it). */
  start: number | undefined;
  /** Its length once closed. */
  ms: number | undefined;
  /** What it was counted from (the report says measured or at most). */
  basis?: WindowBasis | undefined;
}

/** What every store holds now, and whether each could stage a new value over it: the pre-flight's questions. */
export interface PreRead {
  readonly readings: ReadonlyArray<StoredValue | StoredMetadata>;
  /** Each store's answer to canStage: undefined when it can stage, else the error it gave. */
  readonly staging: readonly unknown[];
}

export class RunContext {
  readonly started = performance.now();
  readonly timeline: TimelineEntry[] = [];
  readonly roundTrips: number[] = [];
  /** What steps found for the report (audit activity, checklist answers), by step id; journal records are elsewhere. */
  readonly findings: Record<string, unknown> = {};
  /** Every request this attempt made to the provider (no value, no query): the report leaves them out of its activity. */
  readonly calls: ProviderCall[] = [];
  readonly interaction: Interaction;
  readonly window: RunWindow = { start: undefined, ms: undefined };
  /** When the run began (a resumed run: when its first attempt began). */
  startedAt = new Date().toISOString();
  stores: OpenStore[] = [];
  old: Secret | undefined;
  newValue: Secret | undefined;
  oldFp: string | undefined;
  newFp: string | undefined;
  base: VersionId[] = [];
  /** What the stores said just before a new run began (readStores, handlers.ts): the pre-flight's reads, not made twice. */
  preread: PreRead | undefined;
  staged: VersionId[] = [];
  /** The old value's age as far as rekey can tell (the last rotation it finished, or the stores' date). */
  oldSince: string | undefined;
  /** The leak's start (incident --since), journaled so a resume keeps it. */
  leakSince: string | undefined;
  revokeFirst: boolean;
  provenDeadAt: string | undefined;
  deadAfterMs: number | undefined;
  /** What proved the old key dead first: the pre-run check, the check right after an overlap-none mint, or verify-revoked. */
  deadBasis: DeadBasis | undefined;
  /** Why the old key is not proven dead, when a check said so: unknown answers, a void proof, a key still accepted. */
  deadProblem: string | undefined;
  leak: LeakRecord | undefined;
  /** Time spent with a prompt open; the timeline splits steps by it. */
  waitedMs = 0;
  /** The reduced journal of a resumed run. */
  state: RunState | undefined;

  constructor(
    readonly options: RunOptions,
    readonly run: string,
    /** Undefined for a dry run, which journals nothing. */
    readonly journal: Journal | undefined,
  ) {
    this.revokeFirst = options.mode === 'incident' && options.revokeFirst === true && options.runbook.overlap !== 'none';
    this.leakSince = options.since?.toISOString();
    this.interaction = this.#timed(options.interaction);
  }

  get resumed(): boolean {
    return this.state !== undefined;
  }

  get overlap(): string {
    return this.options.runbook.overlap;
  }

  /** Seed the facts from a resumed run's reduced journal. */
  seed(state: RunState): void {
    this.state = state;
    this.revokeFirst = state.revokeFirst;
    this.startedAt = state.startedAt;
    this.leakSince = state.since ?? this.leakSince;
    this.oldSince = state.oldSince;
    this.oldFp = state.oldFp;
    this.base = [...state.base];
    this.newFp = state.newFp;
    this.staged = [...state.staged];
    this.leak = state.leak;
  }

  emit(event: EngineEvent): void {
    this.options.sink.emit(event);
  }

  note(level: 'info' | 'warn', message: string): void {
    this.emit({ event: 'note', level, message });
  }

  get dryRun(): boolean {
    return this.options.dryRun === true;
  }

  /** Append to the journal, on disk when this resolves (a dry run journals nothing). */
  async append(event: JournalEvent, options: { durable?: boolean } = {}): Promise<void> {
    await this.journal?.append(event, options);
  }

  /** The interaction, with the time each question stays open added to `waitedMs`. */
  #timed(inner: Interaction): Interaction {
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

  /**
   * Open the run's window, unless it is open or was closed already: now, or at `at` (a performance.now() moment, such as
   * when the poll that saw the old key rejected was answered). The moment and its basis are journaled, so a resumed
   * run counts the window from the same moment.
   */
  async openWindow(basis: WindowBasis, at = performance.now()): Promise<void> {
    if (this.window.start !== undefined || this.window.ms !== undefined) return;
    this.window.start = at;
    this.window.basis = basis;
    const iso = new Date(Date.now() - (performance.now() - at)).toISOString();
    // A window opened at its step's start (the prompt's, the minting call's, the revoke's) is known from that step's
    // journal record; one opened at another moment (the observed rejection, the key's arrival, the pre-run check) is
    // journaled, so a resume counts from the same moment.
    this.emit({ event: 'outage.started', at: iso, basis });
    if (basis === 'rejected' || basis === 'arrival' || basis === 'before-run')
      await this.append({ type: 'window.opened', openedAt: iso, basis }, { durable: false });
  }

  /** Close the window (roll out and verify are done). */
  closeWindow(): void {
    if (this.window.start === undefined || this.window.ms !== undefined) return;
    this.window.ms = performance.now() - this.window.start;
    this.emit({ event: 'outage.ended', ms: this.window.ms });
  }

  /** The window's length so far (or its final length). */
  windowMs(): number | undefined {
    return this.window.ms ?? (this.window.start !== undefined ? performance.now() - this.window.start : undefined);
  }

  /**
   * The start of the audit window: when the leak began (incident --since); else since the old key came to be;
   * else (nothing known) the run's start.
   */
  windowStart(): string | undefined {
    return this.leakSince ?? this.oldSince;
  }

  /** The audit window's start for a person: local time, readable; or what is known when no date is. */
  windowStartText(): string {
    const since = this.windowStart();
    if (since === undefined) return 'as far back as the log goes (rekey does not know when the old key was created: no store keeps a date)';
    const relative = ago(since);
    return `${localTime(new Date(since))} your time${relative.startsWith('on ') ? '' : ` (${relative})`}`;
  }

  vars(): TemplateVars {
    return {
      new: this.newValue,
      old: this.old,
      inputs: this.options.credential.inputs,
      // Unknown: a URL asks for everything (the epoch) rather than "since the run began".
      run: { id: this.run, since: this.windowStart() ?? new Date(0).toISOString(), sinceText: this.windowStartText(), started: this.startedAt },
      credential: this.options.credential.id,
    };
  }

  /** Append an audit record, and put it on the event stream too (NDJSON for log pipelines: a copy off this disk). */
  async audit(phase: string, result: 'done' | 'failed' | 'rolled-back', detail?: string): Promise<void> {
    if (this.dryRun) return;
    const record = await appendAudit(this.options.config.stateDir, {
      credential: this.options.credential.id,
      run: this.run,
      mode: this.options.mode,
      phase,
      result,
      fingerprints: { old: this.oldFp, new: this.newFp },
      ...(detail === undefined ? {} : { detail }),
    });
    this.emit(auditRecordEvent(record) as unknown as Extract<EngineEvent, { event: 'audit.record' }>);
  }

  /** The stores whose values can be read back; a write-only store is never asked for a value (StoreCapabilities). */
  get readableStores(): OpenStore[] {
    return this.stores.filter(({ store }) => store.capabilities.readBack);
  }

  /**
   * The old value where some store can be read back (needOld), else undefined: with only write-only stores the old
   * value is unknown, and steps that need `{{ old }}` were refused before the run began (refuseUnknownOld, run.ts).
   */
  async oldIfKnowable(): Promise<Secret | undefined> {
    if (this.old === undefined && this.readableStores.length === 0) return undefined;
    return this.needOld();
  }

  /** The old value, recovered from the stores that can be read back (current before promote, previous after). */
  async needOld(): Promise<Secret> {
    if (this.old !== undefined) return this.old;
    if (this.readableStores.length === 0) {
      throw new RotationFailedError(
        'the old value is unknown: none of the stores can be read back',
        'a step that needs {{ old }} cannot run with only write-only stores; add a store that can be read back',
      );
    }
    for (const { store, ref } of this.readableStores) {
      for (const read of [() => store.read(ref), () => store.readPrevious(ref, this.run)]) {
        const found = await read().catch(() => undefined);
        if (found !== undefined && found.value.fingerprint === this.oldFp) {
          this.old = found.value;
          return found.value;
        }
      }
    }
    throw new RotationFailedError(
      `the old value (${this.oldFp}) is in none of the stores any more`,
      'it was retired or overwritten outside this run; check the stores by hand',
    );
  }

  /** The new value, recovered from the stores where this run staged or promoted it. */
  async needNew(): Promise<Secret> {
    if (this.newValue !== undefined) return this.newValue;
    const found = await this.findStaged(this.newFp);
    if (found !== undefined) {
      this.newValue = found;
      return found;
    }
    if (this.readableStores.length === 0) {
      throw new RotationFailedError(
        `the new value (${this.newFp}) was written only to stores that cannot be read back, so this resumed run cannot recover it`,
        'check the stores by hand (`rekey check` shows which run wrote them) and start a new run',
      );
    }
    throw new RotationFailedError(
      `the new value (${this.newFp}) is in none of the stores`,
      'it was removed from the stores outside this run; check them by hand',
    );
  }

  /** A value this run staged or made current in any store (matching `fingerprint` when given). */
  async findStaged(fingerprint?: string): Promise<Secret | undefined> {
    for (const { store, ref } of this.readableStores) {
      const staged = (await store.readStaged(ref, this.run).catch(() => undefined))?.value;
      if (staged !== undefined && (fingerprint === undefined || staged.fingerprint === fingerprint)) return staged;
      if (fingerprint === undefined) continue;
      const current = (await store.read(ref).catch(() => undefined))?.value;
      if (current !== undefined && current.fingerprint === fingerprint) return current;
    }
    return undefined;
  }

  async runbookStep(step: Step, purpose: string = this.#callPurpose ?? this.#purposeOf(step)): Promise<StepOutcome> {
    const { runStep } = await import('../runbook/steps/index.js');
    const calls: ProviderCall[] = [];
    const ctx = {
      vars: this.vars(),
      runbook: this.options.runbook,
      interaction: this.interaction,
      roundTrips: this.roundTrips,
      note: (message: string) => this.note('info', message),
      checkNew: (candidate: Secret) => this.checkCandidate(candidate),
      calls,
    };
    try {
      return await runStep(step, ctx, this.options.config.baseDir);
    } finally {
      this.calls.push(...calls.map((call) => ({ ...call, purpose })));
    }
  }

  /** The requests a proof of death made (dead.ts), as rekey's own calls; a check in progress names their purpose. */
  logCalls(calls: readonly ProviderCall[], purpose: string): void {
    this.calls.push(...calls.map((call) => ({ ...call, purpose: this.#callPurpose ?? purpose })));
  }

  /** What the calls being made are for, while a check runs a step of another section (the old key through verify). */
  #callPurpose: string | undefined;

  /** A runbook step's calls in words, by the section that holds it. */
  #purposeOf(step: Step): string {
    const { runbook } = this.options;
    const sections: Array<[readonly Step[], string]> = [
      [runbook.generate, 'its mint of the new key'],
      [runbook.verify, 'its verify of the new key'],
      [runbook.revoke, 'its revoke of the old key'],
      [runbook.verifyRevoked, 'its proof that the old key is dead'],
      [runbook.audit, 'its read of the activity'],
      [runbook.discard, 'its discard of the new key'],
    ];
    return sections.find(([steps]) => steps.some((s) => s.id === step.id))?.[1] ?? `its step ${step.id}`;
  }

  /** Run `body` with every provider call it makes described as `purpose`. */
  async #asPurpose<T>(purpose: string, body: () => Promise<T>): Promise<T> {
    const saved = this.#callPurpose;
    this.#callPurpose = purpose;
    try {
      return await body();
    } finally {
      this.#callPurpose = saved;
    }
  }

  /**
   * Run the runbook's HTTP checks of the new key with `value` standing in as {{ new }}; throws the first failure.
   * False when the runbook has none.
   */
  async checkAsNew(value: Secret): Promise<boolean> {
    const checks = this.options.runbook.verify.filter((step): step is HttpStep => step.kind === 'http');
    if (checks.length === 0) return false;
    const saved = this.newValue;
    this.newValue = value;
    const purpose =
      this.oldFp !== undefined && value.fingerprint === this.oldFp
        ? 'its check of the old key before the run'
        : saved?.fingerprint === value.fingerprint
          ? undefined
          : 'its check of the pasted key';
    try {
      for (const step of checks) await (purpose === undefined ? this.runbookStep(step) : this.#asPurpose(purpose, () => this.runbookStep(step)));
      return true;
    } finally {
      this.newValue = saved;
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
      return `${this.options.runbook.title} rejects it (${messageOf(error)})`;
    }
  }

  /**
   * Whether the provider rejects the old key now with the runbook's documented rejection (a key already revoked): each
   * verify-revoked check asked once, as dead.ts classifies it (a 403, an HTML page, a 5xx or a timeout is not dead).
   */
  async oldKeyAlreadyDead(): Promise<boolean> {
    return (await this.oldKeyNow('its check whether the old key is already dead')) === 'dead';
  }

  /** The old key's state by one ask of each verify-revoked check (dead.ts): undefined when there is no check. */
  async oldKeyNow(purpose: string): Promise<'dead' | 'alive' | 'unknown' | 'void' | undefined> {
    const { proveDead } = await import('./dead.js');
    return (await proveDead(this, { quick: true, control: false, purpose }))?.state;
  }

  /** The summary of the run as it stands. */
  summary(result: RunResult, error: string | undefined, hint: string | undefined, resumable: boolean, incident: RunSummary['incident']): RunSummary {
    return {
      run: this.run,
      credential: this.options.credential.id,
      runbook: this.options.runbook.name,
      overlap: this.options.runbook.overlap,
      mode: this.options.mode,
      result,
      ms: performance.now() - this.started,
      budgetMs: this.options.credential.budgetMs,
      outageMs: this.windowMs(),
      outageBasis: this.window.basis,
      oldFingerprint: this.oldFp,
      newFingerprint: this.newFp,
      oldMask: this.old?.mask,
      newMask: this.newValue?.mask,
      timeline: this.timeline,
      findings: this.findings,
      calls: this.calls,
      error,
      hint,
      resumable,
      resumed: this.resumed,
      startedAt: this.startedAt,
      stores: this.options.credential.stores.map((s) => s.ref.display),
      roundTrips: this.roundTrips,
      incident,
    };
  }
}
