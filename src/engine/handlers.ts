/**
 * One handler per step kind. A handler does the step's work through the stores, the runbook's step interpreters and
 * the rollout hooks, and returns what the journal keeps of it (fingerprints, version ids; never a value). Each first
 * checks whether its work is already done, so running it again after a crash is harmless (I5).
 */
import { runHook } from '../runbook/steps/hook.js';
import { NotConfirmedError, ProviderUnreachableError, StepFailedError, type StepOutcome } from '../contract/steps.js';
import { mints, type Step } from '../contract/runbook.js';
import type { Secret } from '../contract/secret.js';
import type { SecretStore, StoredMetadata, StoredValue, StoreRef, VersionId } from '../contract/store.js';
import { SecretNotFoundError } from '../contract/store-errors.js';
import { RefusedError, RotationFailedError } from '../contract/errors.js';
import { formatClock } from '../util/duration.js';
import { messageOf, type PreRead, type RunContext } from './context.js';
import { checkAuditAppendable } from './audit-log.js';
import { lastRuns } from './history.js';
import { NOT_READ_BACK, type PlannedStep, type StepKind } from './plan.js';
import type { MintRepeat } from './reduce.js';
import type { LeakRecord } from './summary.js';

export interface StepResult {
  readonly detail?: string | undefined;
  readonly data?: Record<string, unknown> | undefined;
  /** Done, with a finding to act on: shown as a warning, never a ✓, and counted in the exit code. */
  readonly finding?: boolean;
}

export type Handler = (ctx: RunContext, step: PlannedStep) => Promise<StepResult | undefined>;

/** Stores, staged side by side, where some writes failed: the error of the first, and where the value did land. */
export class StageFailedError extends RotationFailedError {
  constructor(
    message: string,
    readonly landed: readonly number[],
    hint?: string,
  ) {
    super(message, hint);
    this.name = 'StageFailedError';
  }
}

/**
 * How safe it is to make the runbook's minting call again when an interruption left its outcome unknown:
 * `local` (random bytes: nothing at the provider), `idempotent` (an HTTP mint with an `Idempotency-Key` header built
 * from the run id: the provider answers a repeat with the same key, as Stripe documents for idempotent requests),
 * `adapter` (a step adapter finds its own earlier work, as aws-iam does by tag), `person` (a prompt: the person is
 * asked to paste the key they already requested), `unsafe` (a repeat would mint a second key).
 */
export function mintRepeat(steps: readonly Step[]): MintRepeat {
  const minting = steps.filter(mints);
  if (minting.some((s) => s.kind === 'prompt')) return 'person';
  if (minting.length === 0 || minting.every((s) => s.kind === 'generate')) return 'local';
  if (minting.every((s) => s.kind === 'uses' || s.kind === 'generate')) return 'adapter';
  const idempotent = (s: Step) =>
    s.kind === 'http' && Object.entries(s.headers).some(([name, value]) => name.toLowerCase() === 'idempotency-key' && /\{\{\s*run\.id\s*\}\}/.test(value));
  if (minting.every((s) => s.kind === 'generate' || s.kind === 'uses' || idempotent(s))) return 'idempotent';
  return 'unsafe';
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/**
 * Since when the current value has been in use, as far as rekey can tell: the end of the last rotation of this
 * credential that rekey finished (other than this run), else the oldest creation date a store gives its current
 * version. Undefined when neither is known.
 */
async function oldValueSince(ctx: RunContext, values: readonly StoredMetadata[]): Promise<string | undefined> {
  // The stores first: the current version's date is when the old key was written, on any machine (the oldest copy
  // counts: the key was exposed from the first write). Then what the person said (policy.lastRotated), then this
  // machine's journal. Else unknown: never the run's own start.
  const dates = values.map((v) => v.createdAt?.getTime()).filter((t): t is number => t !== undefined && Number.isFinite(t));
  if (dates.length > 0) return new Date(Math.min(...dates)).toISOString();
  if (ctx.options.credential.lastRotated !== undefined) return ctx.options.credential.lastRotated;
  const { lastDone } = await lastRuns(ctx.options.config.stateDir, ctx.options.credential.id, ctx.dryRun ? 'never' : 'rebuilt');
  if (lastDone?.finishedAt !== undefined && lastDone.run !== ctx.run) return lastDone.finishedAt;
  return undefined;
}

/**
 * Ask the stores the pre-flight's questions: what they hold (stores that can be read back give the old value; a
 * write-only store gives what its metadata says, the version to stage against and its date, never a value:
 * capabilities.readBack, src/contract/store.ts), then whether each could stage over it, side by side. Asked once per new
 * run, before it is journaled, so that a scheduled pass can refuse a value another machine's run left staged without
 * starting a run (refuseForeignStaged, run.ts), and the pre-flight step takes the same answers.
 */
export async function readStores(ctx: RunContext): Promise<PreRead> {
  // Each store asks whether it can stage as soon as its own read is back, not once the slowest store's is.
  const asked = await Promise.all(
    ctx.stores.map(async ({ store, ref }) => {
      const reading = await (store.capabilities.readBack ? store.read(ref) : describeOrThrow(store, ref));
      const refusal = await store.canStage(ref, ctx.run, reading.version).then(
        () => undefined,
        (error: unknown) => error,
      );
      return { reading, refusal };
    }),
  );
  return { readings: asked.map((a) => a.reading), staging: asked.map((a) => a.refusal) };
}

const preflight: Handler = async (ctx) => {
  const { stores } = ctx;
  // Asked just before the run began (a new run), or now (a resumed one, or when that first asking failed).
  const pre = ctx.preread ?? (await readStores(ctx));
  ctx.preread = undefined;
  const { readings } = pre;
  const isValue = (r: StoredValue | StoredMetadata): r is StoredValue => 'value' in r;
  const values = readings.filter(isValue);
  const fingerprints = new Set(values.map((v) => v.value.fingerprint));
  if (fingerprints.size > 1) {
    const list = readings.flatMap((v, i) => (isValue(v) ? [`${stores[i]!.ref.display} ${v.value.fingerprint}`] : [])).join(', ');
    throw new RotationFailedError(
      `the stores disagree on the current value: ${list}`,
      'an earlier run may have stopped half-way: `rekey status` and `rekey resume` it, or make the stores agree',
    );
  }
  // A run refuses to extend an audit log that was cut or altered at its end: find that now, not after the mint.
  checkAuditAppendable(ctx.options.config.stateDir);
  ctx.old = values[0]?.value;
  ctx.oldFp = ctx.old?.fingerprint;
  ctx.oldSince = await oldValueSince(ctx, readings);
  ctx.base = readings.map((v) => v.version);
  // Every store confirms it can take the new value now, before anything is minted: a store that refuses only at stage
  // time would strand a minted key (and with overlap none the mint has already killed the current one).
  const refusal = pre.staging.find((answer) => answer !== undefined);
  if (refusal !== undefined) throw refusal;
  const writeOnly = stores.filter(({ store }) => !store.capabilities.readBack).map(({ ref }) => ref.display);
  if (ctx.old === undefined) {
    // No store can be read back: the old value is unknown. runRotation refused already if a step needs {{ old }}.
    return {
      detail: `${plural(stores.length, 'store')} can take the new key · none can be read back (${writeOnly.join(', ')}): the old key is unknown, not checked`,
      data: { old: undefined, base: ctx.base },
    };
  }
  const old = ctx.old;
  const { runbook } = ctx.options;
  let detail = values.length === 1 ? `1 store holds ${old.mask} (${ctx.oldFp})` : `${values.length} stores agree on ${old.mask} (${ctx.oldFp})`;
  if (writeOnly.length > 0) detail += ` · ${writeOnly.join(', ')} write-only, not read`;
  // The runbook's own checks, run with the old key, prove the check itself works before anything is minted.
  try {
    if (await ctx.checkAsNew(old)) detail += ` · old key ${old.mask} works`;
  } catch (error) {
    if (error instanceof ProviderUnreachableError) {
      throw new RotationFailedError(
        `could not reach ${runbook.title} to check the old key ${old.mask}: ${messageOf(error)}`,
        'nothing was minted; check the network and the runbook inputs (baseUrl), then run again',
      );
    }
    if (ctx.options.mode === 'incident') {
      // A leaked key may be dead already (GitHub's secret scanning revokes the tokens it finds): only the documented
      // rejection says so (dead.ts), and then the time to dead is now. Asked once: this never delays the rotation.
      const { proveDead } = await import('./dead.js');
      const proof = await proveDead(ctx, { quick: true, control: false, purpose: 'its check whether the old key is already dead' });
      if (proof?.state === 'dead') {
        detail += ` · old key ${old.mask} already dead (${proof.detail})`;
        if (ctx.overlap === 'none') await ctx.openWindow('before-run');
        const requested = ctx.overlap === 'none' ? ', or a new key was requested (paste that one)' : '';
        ctx.note(
          'warn',
          `${runbook.title} already rejects the leaked key ${old.mask} with its documented answer: it was revoked before this run ` +
            `(GitHub's secret scanning, for one, revokes the tokens it finds)${requested}. rekey still rotates, so that the stores hold a working key`,
        );
        return { detail, data: { old: ctx.oldFp, base: ctx.base, ...(ctx.oldSince === undefined ? {} : { since: ctx.oldSince }), alreadyDead: true } };
      }
      detail += ` · the check refuses the old key ${old.mask}, but that is not its documented rejection, so it is not known dead (${
        proof?.detail ?? messageOf(error)
      })`;
    } else if (ctx.overlap === 'none' && (await ctx.oldKeyAlreadyDead())) {
      // Someone already requested a new key (which killed this one): the outage is on; go on and take that key.
      detail += ` · old key ${old.mask} already dead`;
      await ctx.openWindow('before-run');
      ctx.note(
        'warn',
        `the provider already rejects the old key ${old.mask} as revoked: a new key was requested before this run (the outage began then). Paste that ` +
          `key; do not request another`,
      );
    } else {
      throw new RotationFailedError(
        `the runbook's check, run with the old key ${old.mask}, failed: ${messageOf(error)}`,
        'nothing was minted; fix the runbook inputs (or the check) first, since the new key would be checked the same way',
      );
    }
  }
  return { detail, data: { old: ctx.oldFp, base: ctx.base, ...(ctx.oldSince === undefined ? {} : { since: ctx.oldSince }) } };
};

/** A write-only store's metadata for the current value; a secret it does not hold is missing, as `read` would say. */
async function describeOrThrow(store: SecretStore, ref: StoreRef): Promise<StoredMetadata> {
  const found = await store.describe?.(ref);
  if (found === undefined) throw new SecretNotFoundError('describe', ref.display, 'not found (a write-only store must hold the secret before a rotation)');
  return found;
}

/** Where a person finds the runbook's keys: its title, and its dashboard where the runbook names one. */
function providerPlace(ctx: RunContext): string {
  const { title, dashboard } = ctx.options.runbook;
  return dashboard === undefined ? title : `${title} (${dashboard})`;
}

/** An interrupted mint in words: when it was sent, and what it may have done. */
function interruptedMint(when: string, mintedFp: string | undefined): { when: string; what: string } {
  return { when, what: mintedFp === undefined ? `may have minted a key at ${when}` : `minted a key (${mintedFp}) at ${when}` };
}

/**
 * Run the runbook's generate steps and journal the fingerprint of what they minted (not fsynced on its own: a kill
 * keeps the record, and a power cut that loses it leaves the intent, which resume treats as the same unknown outcome;
 * the staging writes right after are what must be durable). Undefined when the steps minted nothing.
 */
async function runMintingSteps(ctx: RunContext, options: { openWindow: boolean }): Promise<Secret | undefined> {
  let minted: Secret | undefined;
  for (const step of ctx.options.runbook.generate) {
    const watch = options.openWindow && ctx.overlap === 'none' && mints(step) ? watchOldKey(ctx, step) : undefined;
    let outcome: StepOutcome;
    try {
      outcome = await ctx.runbookStep(step);
    } finally {
      await watch?.stop();
    }
    if (outcome.minted !== undefined) minted = outcome.minted;
  }
  if (minted !== undefined) await ctx.append({ type: 'mint.minted', fingerprint: minted.fingerprint }, { durable: false });
  return minted;
}

/** Never poll the old key faster than this: Discord bans after 10,000 invalid requests in 10 minutes. */
export const OLD_KEY_POLL_MS = 1000;

/**
 * Overlap none: the old key dies when the person clicks in the dashboard (or the API call mints), somewhere while the
 * minting step runs. Where the runbook can check the old key (its verify-revoked checks, side-effect free) and the
 * step is a person's, the key is polled once a second while the prompt is open. The key died between the last poll
 * that saw it accepted and the first that saw it rejected; the window opens at the earlier of the two (when that
 * last accepting poll was sent, or the prompt's opening if none did), so it is at most one poll too long and never
 * short. When the step ends the key is asked once more; if it still answers, the window opens at the new key's
 * arrival (at most). With no check to poll, or an API call that mints, the window opens at the step's start: an upper
 * bound, never an under-count.
 */
function watchOldKey(ctx: RunContext, step: Step): { stop(): Promise<void> } | undefined {
  if (ctx.window.start !== undefined || ctx.window.ms !== undefined) return undefined;
  const pollable = ctx.old !== undefined && ctx.options.runbook.verifyRevoked.some((s) => s.kind === 'http') && !ctx.options.dryRun;
  if (step.kind !== 'prompt' || !pollable) {
    // A window opened at a step's start journals nothing (the step's own record says when), so nothing to wait for.
    void ctx.openWindow(step.kind === 'prompt' ? 'prompt' : 'call');
    return undefined;
  }
  let stopped = false;
  let wake: (() => void) | undefined;
  // The moment before which the key was last seen alive: the prompt's opening until a poll answers "accepted".
  let lastAlive = performance.now();
  const ask = async (): Promise<boolean> => {
    const sent = performance.now();
    const state = await ctx.oldKeyNow('its poll of the old key while the prompt was open');
    if (state === 'alive') lastAlive = sent;
    return state === 'dead';
  };
  const poll = async () => {
    while (!stopped) {
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, OLD_KEY_POLL_MS).unref();
      });
      if (stopped) return;
      if (await ask()) {
        if (!stopped) await ctx.openWindow('rejected', lastAlive);
        return;
      }
    }
  };
  const polling = poll();
  return {
    async stop() {
      stopped = true;
      wake?.();
      await polling;
      if (ctx.window.start !== undefined) return;
      // The key arrived between two polls: ask once more (the answer is at most a round trip late).
      if (await ask()) await ctx.openWindow('rejected', lastAlive);
      else await ctx.openWindow('arrival');
    },
  };
}

/**
 * Before a resumed run does anything: an interrupted minting call whose key no store holds, and whose repeat would
 * mint a second live key (not idempotent, overlap not none), is refused with the orphan named, until the person says
 * they dealt with it (`--mint-again`). Refused, exit 3, with nothing written.
 */
export async function refuseOrphanedMint(ctx: RunContext): Promise<void> {
  const state = ctx.state;
  if (state?.mint.intentAt === undefined || state.done.has('mint') || ctx.options.mintAgain === true) return;
  if ((state.mint.repeat ?? 'unsafe') !== 'unsafe' || ctx.overlap === 'none') return;
  if ((await ctx.findStaged(state.mint.mintedFp)) !== undefined) return;
  const { when, what } = interruptedMint(state.mint.intentAt, state.mint.mintedFp);
  throw new RefusedError(
    `run ${ctx.run}: the interrupted attempt ${what} that rekey never received, and ${ctx.options.runbook.title} ` +
      `mints a new key on every call: minting again ` +
      `could leave two live keys`,
    `look for a key created at ${when} in ${providerPlace(ctx)} and revoke it, then \`rekey resume ${ctx.run} --mint-again\``,
  );
}

/**
 * A resumed mint whose earlier attempt may have reached the provider: adopt the value if a store holds it, else decide
 * from the runbook whether minting again is safe. Never mints a second key without saying so (I5).
 */
async function resumeMint(ctx: RunContext): Promise<void> {
  const state = ctx.state;
  if (state === undefined || !(state.started.has('mint') || state.mint.intentAt !== undefined)) return;
  const adopted = await ctx.findStaged(state.mint.mintedFp);
  if (adopted !== undefined) {
    ctx.newValue = adopted;
    ctx.note('info', `found the key this run minted before it was interrupted (${adopted.fingerprint}); not minting another`);
    return;
  }
  if (state.mint.intentAt === undefined) return;
  const writeOnly = ctx.stores.filter(({ store }) => !store.capabilities.readBack).map(({ ref }) => ref.display);
  // An idempotent mint asked again returns the same key (checked against the journaled fingerprint in `mint`), so a
  // value staged in a write-only store is that key: go on. Any other mint would make a second key.
  if (state.mint.mintedFp !== undefined && writeOnly.length > 0 && (state.mint.repeat ?? 'unsafe') !== 'idempotent') {
    // The key was minted and may already be staged in a store that cannot be read back; a stage is idempotent per
    // run, so a second key would be "staged" as the first and the stores would hold a key rekey no longer has.
    throw new RefusedError(
      `run ${ctx.run}: the interrupted attempt minted a key (${state.mint.mintedFp}) that may be staged in ${writeOnly.join(', ')}, which cannot be read ` +
        'back, and no other store holds it',
      `undo it with \`rekey rollback ${ctx.run}\` where the runbook allows, or revoke that key in ${providerPlace(ctx)} and start a new run`,
    );
  }
  const repeat = state.mint.repeat ?? 'unsafe';
  const { what } = interruptedMint(state.mint.intentAt, state.mint.mintedFp);
  if (repeat === 'person') {
    ctx.note(
      'warn',
      `the interrupted attempt ${what} that no store holds: if you already requested a new key for this run, paste that same key; requesting another ` +
        `would mint a second one`,
    );
  } else if (repeat === 'idempotent') {
    ctx.note('info', `the interrupted attempt ${what}; asking again with the same idempotency key returns that key, not a second one`);
  } else if (repeat === 'adapter') {
    ctx.note('info', `the interrupted attempt ${what}; the step adapter finds its own earlier key before creating one`);
  } else if (repeat === 'unsafe' && ctx.overlap === 'none') {
    ctx.note(
      'warn',
      `the interrupted attempt ${what} that no store holds; minting again kills it (overlap none), so the outage goes on until this attempt's key ` +
        `is rolled out`,
    );
  } else if (repeat === 'unsafe') {
    ctx.note('warn', `minting again (--mint-again): you have dealt with the key the interrupted attempt ${what}`);
  }
}

const mint: Handler = async (ctx) => {
  const { runbook } = ctx.options;
  const old = await ctx.oldIfKnowable();
  await resumeMint(ctx);
  if (ctx.newValue === undefined) {
    // The intent goes in the journal before any call that may mint: a crash from here on leaves a record that a key
    // may exist that rekey does not hold, and resume decides from it (resumeMint).
    await ctx.append({ type: 'mint.intent', step: 'mint', repeat: mintRepeat(runbook.generate) });
    const minted = await runMintingSteps(ctx, { openWindow: true });
    if (minted === undefined) throw new RotationFailedError('the generate steps produced no new value');
    ctx.newValue = minted;
    // A resumed idempotent mint must get back the key the interrupted attempt journaled: a write-only store may hold
    // that one already. Another key means the provider's idempotency window has passed.
    const journaled = ctx.state?.mint.mintedFp;
    if (journaled !== undefined && minted.fingerprint !== journaled && ctx.stores.some(({ store }) => !store.capabilities.readBack)) {
      throw new RotationFailedError(
        `asked again, ${runbook.title} returned another key (${minted.fingerprint}) than the interrupted attempt minted (${journaled}), which a ` +
          'write-only store may hold',
        `revoke the earlier key (${journaled}) in ${providerPlace(ctx)} and check the write-only store holds the current value, then start a new run`,
      );
    }
    if (runbook.secret.pattern !== undefined && !runbook.secret.pattern.test(minted.reveal())) {
      throw new RotationFailedError(`the new value ${minted.mask} does not match the runbook's secret pattern`);
    }
    if (old !== undefined && minted.equals(old)) {
      ctx.newValue = undefined;
      throw new RotationFailedError('the new value is the same as the old one', 'the provider returned the old key: nothing was changed');
    }
  }
  const newValue = ctx.newValue;
  ctx.newFp = newValue.fingerprint;
  // Two waves, from the stores' capabilities: first every store that can stage (the value held, not yet current), then
  // the stores without staging, whose write makes the value current at once (Vault). A failure in the first wave so
  // leaves nothing visible to readers. Within a wave the writes go side by side, and every write settles before
  // anything is decided: a rollback must never start while a write is still in flight, or that write lands after it
  // and leaves this run's value staged (I1, I5).
  const settled: PromiseSettledResult<VersionId>[] = [];
  for (const staging of [true, false]) {
    const wave = ctx.stores.flatMap(({ store }, i) => (store.capabilities.staging === staging ? [i] : []));
    const results = await Promise.allSettled(wave.map((i) => ctx.stores[i]!.store.stage(ctx.stores[i]!.ref, newValue, ctx.run, ctx.base[i]!)));
    wave.forEach((i, k) => {
      settled[i] = results[k]!;
    });
    if (results.some((r) => r.status === 'rejected')) break;
  }
  const failed = settled.map((s, i) => [s, i] as const).filter((e): e is [PromiseRejectedResult, number] => e[0]?.status === 'rejected');
  if (failed.length > 0) {
    const landed = settled.flatMap((s, i) => (s?.status === 'fulfilled' ? [i] : []));
    const list = failed.map(([s, i]) => `${ctx.stores[i]!.ref.display}: ${messageOf(s.reason)}`).join('; ');
    const held = landed.length === 0 ? 'no store holds it' : `it is staged in ${landed.map((i) => ctx.stores[i]!.ref.display).join(', ')}`;
    throw new StageFailedError(
      `could not stage the new key ${newValue.mask} (${newValue.fingerprint}): ${list}; ${held}`,
      landed,
      (failed[0]![0].reason as { hint?: string }).hint,
    );
  }
  ctx.staged = settled.map((s) => (s as PromiseFulfilledResult<VersionId>).value);
  const direct = ctx.stores.filter(({ store }) => !store.capabilities.staging).map(({ ref }) => ref.display);
  const after = direct.length === 0 || direct.length === ctx.stores.length ? '' : ` (${direct.join(', ')}: no staging, written after the others held it)`;
  return {
    detail: `new key ${newValue.mask} (${newValue.fingerprint}) staged in ${plural(ctx.stores.length, 'store')}${after}`,
    data: { new: ctx.newFp, staged: ctx.staged },
  };
};

/**
 * Rollback of a run interrupted inside its minting call, whose key rekey never received: where the mint is
 * idempotent, asking again returns that key (or mints one, if the first call never arrived), so it can be discarded.
 * Elsewhere say plainly that a key may be live at the provider.
 */
export async function recoverMint(ctx: RunContext): Promise<void> {
  const intent = ctx.state?.mint;
  if (ctx.newValue !== undefined || ctx.newFp !== undefined || intent?.intentAt === undefined) return;
  if (intent.repeat === 'idempotent') {
    const minted = await runMintingSteps(ctx, { openWindow: false });
    if (minted !== undefined) {
      ctx.newValue = minted;
      ctx.newFp = minted.fingerprint;
      ctx.note(
        'info',
        `asked ${ctx.options.runbook.title} again with this run's idempotency key: it returned the key the interrupted attempt minted ` +
          `(${minted.fingerprint}), to discard`,
      );
    }
  } else if (intent.repeat !== 'local') {
    ctx.note(
      'warn',
      `the interrupted attempt may have minted a key at ${intent.intentAt} that rekey never received: ` +
        `look for it in ${ctx.options.runbook.title} and revoke it`,
    );
  }
}

const promote: Handler = async (ctx, step) => {
  const i = step.store!;
  const { store, ref } = ctx.stores[i]!;
  await store.promote(ref, ctx.staged[i]!, ctx.run, ctx.base[i]!);
  return { detail: ref.kind };
};

const hook: Handler = async (ctx, step) => {
  await ctx.needNew();
  const j = step.hook!;
  const outcome = await runHook({ id: step.id, ...ctx.options.credential.rollout[j]! }, ctx.vars(), ctx.options.config.baseDir, (m) => ctx.note('info', m));
  return { detail: outcome.detail };
};

const readback: Handler = async (ctx) => {
  const readable = ctx.stores.filter(({ store }) => store.capabilities.readBack);
  const values = await Promise.all(readable.map(({ store, ref }) => store.read(ref)));
  const wrong = values.map((v, i) => [v, readable[i]!] as const).filter(([v]) => v.value.fingerprint !== ctx.newFp);
  if (wrong.length > 0)
    throw new RotationFailedError(`${wrong.map(([v, s]) => `${s.ref.display} holds ${v.value.fingerprint}`).join(', ')}, expected ${ctx.newFp}`);
  const writeOnly = ctx.stores.filter(({ store }) => !store.capabilities.readBack).map(({ ref }) => ref.display);
  const agree = values.length === 1 ? 'the store holds' : `${values.length} stores agree on`;
  return { detail: `${agree} ${ctx.newFp}${writeOnly.length === 0 ? '' : ` · ${writeOnly.join(', ')} ${NOT_READ_BACK}`}` };
};

const verify: Handler = async (ctx, step) => {
  await ctx.needNew();
  const outcome = await ctx.runbookStep(step.step!);
  // Where no store can be read back there is no read-back step: the report says so beside the check relied on.
  const unread = ctx.stores.every(({ store }) => !store.capabilities.readBack) ? ` · ${ctx.stores.map((s) => s.ref.display).join(', ')} ${NOT_READ_BACK}` : '';
  return { detail: `new key ${ctx.newValue!.mask}: ${outcome.detail ?? 'ok'}${unread}` };
};

const revoke: Handler = async (ctx, step) => {
  await ctx.oldIfKnowable();
  await ctx.needNew();
  return { detail: (await ctx.runbookStep(step.step!)).detail };
};

const verifyRevoked: Handler = async (ctx, step) => {
  const old = await ctx.oldIfKnowable();
  await ctx.needNew();
  const check = step.step!;
  if (check.kind !== 'http' || old === undefined) {
    const outcome = await ctx.runbookStep(check);
    return { detail: `old key${old === undefined ? '' : ` ${old.mask}`} rejected (${outcome.detail ?? 'ok'}) — dead` };
  }
  // Only the documented rejection, with the new key accepted by the same endpoint as a control, proves it (dead.ts).
  const { proveDead } = await import('./dead.js');
  const proof = (await proveDead(ctx, { quick: false, control: true, steps: [check] }))!;
  if (proof.state === 'dead') return { detail: `old key ${old.mask} rejected (${proof.detail}) — dead`, data: { control: proof.control } };
  ctx.deadProblem = proof.detail;
  if (proof.state === 'void' && ctx.provenDeadAt !== undefined) {
    // An earlier proof (the pre-run check, the check right after the mint) asked the same endpoint: void too.
    ctx.note('warn', `the earlier "proven dead" at ${ctx.provenDeadAt} is void as well: the endpoint that gave it rejects the new key too`);
    ctx.provenDeadAt = undefined;
    ctx.deadAfterMs = undefined;
    ctx.deadBasis = undefined;
  }
  throw new StepFailedError(
    check.id,
    proof.detail,
    proof.state === 'alive'
      ? `revoke the old key ${old.mask} at ${providerPlace(ctx)}, then \`rekey resume ${ctx.run}\` proves it dead`
      : `the old key ${old.mask} may still work: check it in ${providerPlace(ctx)}; \`rekey resume ${ctx.run}\` asks the provider again`,
  );
};

/**
 * Incident, overlap none: the mint was the revoke, so the old key is proven dead right after it, before roll out and
 * verify. Asked once (with the new key as a control), so the outage is not made longer by more than a round trip; a
 * key not proven dead here is asked again, with retries, by the verify-revoked steps.
 */
const proveDeadAfterMint: Handler = async (ctx) => {
  const old = await ctx.oldIfKnowable();
  await ctx.needNew();
  if (ctx.provenDeadAt !== undefined) return { detail: `already proven dead at the pre-run check (${ctx.provenDeadAt})`, data: { dead: false } };
  const { proveDead } = await import('./dead.js');
  const proof = old === undefined ? undefined : await proveDead(ctx, { quick: true, control: true });
  if (proof?.state === 'dead') return { detail: `old key ${old!.mask} rejected (${proof.detail}) — dead`, data: { dead: true } };
  return {
    detail: `not proven yet (${proof?.detail ?? 'the old value is unknown'}); the verify-revoked checks ask again after verify`,
    data: { dead: false },
  };
};

/**
 * The leak search of an incident (src/leak-search/). Its findings (paths, lines, commit ids; never the value) are
 * journaled with the step, so a resume after retire reuses them. It never fails the run: an incident must not stop on
 * a search.
 */
const leakSearch: Handler = async (ctx) => {
  const { describeLeak, searchLeak } = await import('../leak-search/index.js');
  const old = await ctx.needOld().catch(() => undefined);
  let leak: LeakRecord;
  let summary: string;
  if (old === undefined && ctx.readableStores.length === 0) {
    summary = 'skipped: none of the stores can be read back, so the old value is unknown and there is nothing to search for';
    leak = { notSearched: summary };
  } else if (old === undefined) {
    summary = `skipped: the old value (${ctx.oldFp}) is in none of the stores any more, so there is nothing to search for`;
    leak = { notSearched: summary };
  } else {
    const { config } = ctx.options;
    // The files each store writes for its ref (its own knowledge, SecretStore.files): they hold values on purpose.
    const exclude = [config.stateDir, ...ctx.stores.flatMap(({ store, ref }) => store.files?.(ref) ?? [])];
    try {
      leak = await searchLeak({ folder: config.baseDir, value: old, exclude });
      summary = describeLeak(leak as Awaited<ReturnType<typeof searchLeak>>);
    } catch (error) {
      summary = `failed: ${messageOf(error)}`;
      leak = { notSearched: summary };
    }
  }
  ctx.leak = leak;
  await ctx.audit('leak-search', 'done', summary);
  ctx.emit({ event: 'leak.search', credential: ctx.options.credential.id, run: ctx.run, summary, leak });
  return { detail: summary, data: { leak } };
};

const retire: Handler = async (ctx, step) => {
  const { store, ref } = ctx.stores[step.store!]!;
  await store.retire(ref, ctx.run);
  return { detail: ref.kind };
};

const auditWindow: Handler = async (ctx) => {
  const { localTime, span } = await import('./incident.js');
  const since = new Date(ctx.windowStart() ?? ctx.startedAt);
  const now = new Date();
  return {
    detail:
      `${localTime(since, now)} → ${localTime(now, now)} (${span(now.getTime() - since.getTime())}): every use of the old key ` +
      `${ctx.old?.mask ?? ctx.oldFp ?? ''} in this window is suspect`,
    data: { since: since.toISOString(), until: now.toISOString() },
  };
};

const audit: Handler = async (ctx, step) => {
  const runbookStep = step.step!;
  // By now retire has dropped the old value from the stores (as it should), so a resumed run cannot read it back:
  // audit steps go on without it (one whose template needs {{ old }} says so when it renders).
  await ctx.needOld().catch(() => undefined);
  await ctx.needNew();
  let outcome: StepOutcome;
  try {
    outcome = await ctx.runbookStep(runbookStep);
  } catch (error) {
    if (!(error instanceof NotConfirmedError)) throw error;
    // "No" to an audit checklist is a finding, not a failed rotation: the key is rotated and the old one is dead
    // either way. It goes in the report and the audit log, and the person is told what to do next.
    const since = ctx.windowStart();
    ctx.note(
      'warn',
      `${runbookStep.name}: answered no — activity you don't recognise since ${ctx.windowStartText()} is a leak to investigate: ` +
        `\`rekey incident ${ctx.options.credential.id} ` +
        `--since <when it began>\` rotates again and searches where it leaked`,
    );
    outcome = {
      detail: 'answered no: activity not recognised, see the report',
      record: { confirmed: false, finding: 'the person did not confirm this check: activity they do not recognise, to investigate', since },
    };
  }
  if (outcome.record !== undefined) ctx.findings[runbookStep.id] = outcome.record;
  const finding = (outcome.record as { confirmed?: unknown } | undefined)?.confirmed === false;
  return {
    detail: outcome.detail,
    data: outcome.record === undefined ? undefined : { recorded: Object.keys(outcome.record) },
    ...(finding ? { finding: true } : {}),
  };
};

/** Discard the unused new key at the provider, while rekey still holds it (from memory or the stores). */
const discard: Handler = async (ctx, step) => {
  const newValue = await ctx.needNew().catch(() => undefined);
  if (newValue === undefined) {
    throw new RotationFailedError(
      `cannot discard the new key (${ctx.newFp ?? 'fingerprint unknown'}): rekey no longer holds it`,
      `revoke it in ${providerPlace(ctx)} by hand: it is live and in no store`,
    );
  }
  return { detail: (await ctx.runbookStep(step.step!)).detail };
};

const restore: Handler = async (ctx, step) => {
  const { store, ref } = ctx.stores[step.store!]!;
  // A write-only store keeps no previous value: it is handed the old one, from the stores that can be read back.
  const previous = store.capabilities.readBack ? undefined : await ctx.oldIfKnowable().catch(() => undefined);
  await store.rollback(ref, ctx.run, previous);
  return { detail: ref.kind };
};

const rollbackHook: Handler = async (ctx, step) => {
  const old = await ctx.needOld();
  const j = step.hook!;
  const outcome = await runHook({ id: step.id, ...ctx.options.credential.rollout[j]! }, { ...ctx.vars(), new: old }, ctx.options.config.baseDir, (m) =>
    ctx.note('info', m),
  );
  return { detail: outcome.detail };
};

/** The handler of every step kind. */
export const handlers: Readonly<Record<StepKind, Handler>> = {
  preflight,
  mint,
  'prove-dead': proveDeadAfterMint,
  promote,
  hook,
  readback,
  verify,
  revoke,
  'verify-revoked': verifyRevoked,
  'leak-search': leakSearch,
  retire,
  'audit-window': auditWindow,
  audit,
  discard,
  restore,
  'rollback-hook': rollbackHook,
};

/** `old key proven dead at <time> (1:02 after start)`, for incident audit records. */
export function deadDetail(ctx: RunContext): string | undefined {
  if (ctx.options.mode !== 'incident' || ctx.provenDeadAt === undefined || ctx.deadAfterMs === undefined) return undefined;
  return `old key proven dead at ${ctx.provenDeadAt} (${formatClock(ctx.deadAfterMs)} after start)`;
}
