/**
 * Proving the old key dead: the runbook's verifyRevoked http checks asked with the old key, each answer classified
 * (src/runbook/steps/rejection.ts: only the documented rejection is dead; a 403, an HTML page, a timeout or a 5xx is
 * unknown), and the same check asked with the new key as a control. If the endpoint rejects the new key the same way,
 * it is down or misconfigured, and the proof is void: never "proven dead".
 */
import type { HttpStep, Runbook, TemplateVars } from '../contract/runbook.js';
import type { Secret } from '../contract/secret.js';
import type { ProviderCall } from '../contract/steps.js';

/** What a proof needs of a run (RunContext has it all). */
export interface DeadCheckContext {
  readonly options: { readonly runbook: Runbook };
  readonly old: Secret | undefined;
  readonly newValue: Secret | undefined;
  readonly roundTrips: number[];
  vars(): TemplateVars;
  /** Note the requests a proof made as rekey's own calls, with what they were for (RunContext keeps them for the report). */
  logCalls?(calls: readonly ProviderCall[], purpose: string): void;
}

/** What the checks proved: `dead` only with the documented rejection and (when a new key exists) a passing control. */
export interface DeadProof {
  readonly state: 'dead' | 'alive' | 'unknown' | 'void';
  /** For people and the journal; never a value. */
  readonly detail: string;
  /** The control with the new key: `accepted`, or `none` when there is no new key yet (the pre-run check). */
  readonly control: 'accepted' | 'none' | 'rejected' | 'unknown';
}

/**
 * Prove the old key dead with every http check of verifyRevoked. `quick`: one request per check and key, nothing
 * asked again (the pre-run check, the proof right after an overlap-none mint, the once-a-second poll of a drill), so
 * it never delays the run by more than a round trip. Otherwise each check is asked again while the key still answers
 * (the step's `retry:`, for propagation) or the answer is unknown (bounded, with back-off). `control`: also present
 * the new key to the same checks. `steps`: only these checks. Undefined when the runbook has no http check of the old key.
 */
export async function proveDead(
  ctx: DeadCheckContext,
  options: { quick: boolean; control: boolean; steps?: readonly HttpStep[]; purpose?: string },
): Promise<DeadProof | undefined> {
  const checks = options.steps ?? ctx.options.runbook.verifyRevoked.filter((step): step is HttpStep => step.kind === 'http');
  if (checks.length === 0 || ctx.old === undefined) return undefined;
  const { probe, UNKNOWN_ATTEMPTS } = await import('../runbook/steps/rejection.js');
  const attempts = (step: HttpStep) =>
    options.quick
      ? { propagationAttempts: 1, unknownAttempts: 1 }
      : { propagationAttempts: step.retry?.attempts ?? 1, unknownAttempts: Math.max(UNKNOWN_ATTEMPTS, step.retry?.attempts ?? 1) };
  const asked = async (purpose: string, ask: (calls: ProviderCall[]) => ReturnType<typeof probe>) => {
    const calls: ProviderCall[] = [];
    try {
      return await ask(calls);
    } finally {
      ctx.logCalls?.(calls, purpose);
    }
  };
  const details: string[] = [];
  for (const step of checks) {
    // The control (the same request with the new key where the old one was) goes side by side with the check of the
    // old key: neither depends on the other's answer, so the proof costs one round trip, not two. Its answer is only
    // read once the old key's is the documented rejection.
    const newValue = options.control ? ctx.newValue : undefined;
    const pending =
      newValue === undefined
        ? undefined
        : asked('its control of the new key', (calls) =>
            probe(step, { ...ctx.vars(), old: newValue }, { want: 'alive', ...attempts(step), roundTrips: ctx.roundTrips, calls }),
          );
    // Settled now, so that a proof that ends early (alive, unknown) leaves no rejection unhandled.
    const controlled = pending?.then(
      (answer) => ({ answer }),
      (error: unknown) => ({ error }),
    );
    const old = await asked(options.purpose ?? 'its proof that the old key is dead', (calls) =>
      probe(step, ctx.vars(), { want: 'dead', ...attempts(step), roundTrips: ctx.roundTrips, calls }),
    );
    // A proof that ends here still waits for its control, so that every call it made is logged before it returns.
    if (old.state !== 'dead') await controlled;
    const tries = old.attempts > 1 ? ` after ${old.attempts} attempts` : '';
    if (old.state === 'alive') return { state: 'alive', detail: `${step.name}: the old key is still accepted (${old.why})${tries}`, control: 'none' };
    if (old.state === 'unknown') {
      return {
        state: 'unknown',
        detail: `${step.name}: unknown${tries}, never the documented rejection (${old.seen || old.why}): the old key is not proven dead`,
        control: 'none',
      };
    }
    const proof = `${old.why}${tries}`;
    if (newValue === undefined || controlled === undefined) {
      details.push(proof);
      continue;
    }
    const settled = await controlled;
    if ('error' in settled) throw settled.error;
    const control = settled.answer;
    if (control.state === 'dead') {
      return {
        state: 'void',
        detail:
          `${step.name}: the proof is void: the same endpoint rejects the new key ${newValue.mask} too (${control.why}), so it is down or ` +
          'misconfigured, and its rejection of the old key proves nothing',
        control: 'rejected',
      };
    }
    if (control.state === 'unknown') {
      return {
        state: 'unknown',
        detail:
          `${step.name}: the old key got ${proof}, but the control with the new key got no usable answer (${control.seen || control.why}): ` +
          'the old key is not proven dead',
        control: 'unknown',
      };
    }
    details.push(`${proof}; control: the new key gets ${control.why.replace(': the key is accepted', '')}`);
  }
  return { state: 'dead', detail: details.join(' · '), control: options.control && ctx.newValue !== undefined ? 'accepted' : 'none' };
}
