/**
 * The `prompt` step: instructions for a person, an optional hidden capture of the new value (validated against
 * the runbook's pattern and refused when it equals the old value), an optional confirmation, and an optional
 * secret shown only on explicit request.
 */
import { Secret } from '../../secret/secret.js';
import { render, renderSecret } from '../template.js';
import { secretPattern, type PromptStep } from '../types.js';
import { StepFailedError, type StepContext, type StepOutcome } from './context.js';

export async function runPrompt(step: PromptStep, ctx: StepContext): Promise<StepOutcome> {
  const { interaction, runbook } = ctx;
  if (!interaction.canAsk) {
    throw new StepFailedError(step.id, `${step.name}: this step needs a person`, `run it from a terminal (rekey drill), or give the answer with --answers <file> (key "${step.id}")`);
  }
  interaction.instruct(step.id, render(step.message, ctx.vars).text, step.url === undefined ? undefined : render(step.url, ctx.vars).text);
  if (step.reveal !== undefined) {
    const value = renderSecret(step.reveal, ctx.vars);
    await interaction.offerReveal(step.id, step.name, value instanceof Secret ? value : new Secret(value));
  }
  let minted: Secret | undefined;
  if (step.capture) {
    // The runbook's pattern, or the credential's own where the key format is an input (an unconfirmed format).
    let pattern: RegExp | undefined;
    try {
      pattern = secretPattern(runbook, ctx.vars.inputs);
    } catch (error) {
      throw new StepFailedError(step.id, `${step.name}: ${(error as Error).message}`, (error as { hint?: string }).hint);
    }
    const old = ctx.vars.old;
    const value = await interaction.askSecret(step.id, 'Paste the new key (hidden)', (candidate) => {
      const trimmed = candidate.trim();
      if (trimmed === '') return 'nothing was pasted';
      if (pattern !== undefined && !pattern.test(trimmed)) return `that does not look like a ${runbook.title} key${runbook.secret.description === undefined ? '' : ` (${runbook.secret.description})`}`;
      if (old !== undefined && old.reveal() === trimmed) return 'that is the old key: request a new one in the dashboard first';
      return undefined;
    });
    minted = new Secret(value.trim());
  }
  if (step.confirm !== undefined) {
    const yes = await interaction.confirm(step.id, render(step.confirm, ctx.vars).text);
    if (!yes) throw new StepFailedError(step.id, `${step.name}: not confirmed`, 'answer yes once it is done; the run stops here and `rekey resume` continues it');
  }
  return { minted, detail: minted !== undefined ? `captured ${minted.mask}` : step.confirm !== undefined ? 'confirmed' : 'shown' };
}
