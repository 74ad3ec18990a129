/**
 * The `prompt` step: instructions for a person, an optional hidden capture of the new value (validated against
 * the runbook's pattern and refused when it equals the old value), an optional confirmation, and an optional
 * secret shown only on explicit request.
 */
import { Secret } from '../../contract/secret.js';
import { render, renderSecret } from '../template.js';
import { secretPattern, type PromptStep } from '../../contract/runbook.js';
import { NotConfirmedError, StepFailedError, type StepContext, type StepOutcome } from '../../contract/steps.js';

export async function runPrompt(step: PromptStep, ctx: StepContext): Promise<StepOutcome> {
  const { interaction, runbook } = ctx;
  if (!interaction.canAsk) {
    throw new StepFailedError(
      step.id,
      `${step.name}: this step needs a person`,
      `run it from a terminal (rekey drill), or give the answer with --answers <file> (key "${step.id}")`,
    );
  }
  // A person reads the audit window's start in local time ("14:05 your time (3 months ago)"), not as ISO 8601.
  const text = ctx.vars.run.sinceText === undefined ? ctx.vars : { ...ctx.vars, run: { ...ctx.vars.run, since: ctx.vars.run.sinceText } };
  interaction.instruct(step.id, render(step.message, text).text, step.url === undefined ? undefined : render(step.url, ctx.vars).text);
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
    const shape = (candidate: string): string | undefined => {
      const trimmed = candidate.trim();
      if (trimmed === '') return 'nothing was pasted';
      if (pattern !== undefined && !pattern.test(trimmed))
        return `that does not look like a ${runbook.title} key${runbook.secret.description === undefined ? '' : ` (${runbook.secret.description})`}`;
      if (old !== undefined && old.reveal() === trimmed) return 'that is the old key: request a new one in the dashboard first';
      return undefined;
    };
    // A key of the right shape can still be wrong (a character short, another account's): the provider is asked before
    // anything is written, and a rejected key is asked for again. With overlap none the old key is dead by now, so a
    // wrong key written to the stores would leave nothing that works.
    const rejected = new Set<string>();
    for (;;) {
      const candidate = new Secret((await interaction.askSecret(step.id, 'Paste the new key (hidden)', shape)).trim());
      const problem = await ctx.checkNew?.(candidate);
      if (problem === undefined) {
        minted = candidate;
        break;
      }
      if (rejected.has(candidate.reveal()) || rejected.size >= 4) {
        throw new StepFailedError(
          step.id,
          `${step.name}: ${problem}`,
          'nothing was written; copy the whole key again from the dashboard and start again — a new drill takes the key you paste, and does not ' +
            'ask for another',
        );
      }
      rejected.add(candidate.reveal());
      ctx.note(`the key ${candidate.mask} is refused: ${problem}; nothing was written — paste it again`);
    }
  }
  if (step.confirm !== undefined) {
    const yes = await interaction.confirm(step.id, render(step.confirm, text).text);
    if (!yes)
      throw new NotConfirmedError(step.id, `${step.name}: not confirmed`, 'answer yes once it is done; the run stops here and `rekey resume` continues it');
  }
  return { minted, detail: minted !== undefined ? `captured ${minted.mask}` : step.confirm !== undefined ? 'confirmed' : 'shown' };
}
