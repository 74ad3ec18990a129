/**
 * Whether the person's steps of a runbook can be answered by this run's interaction (a terminal, or an answers
 * file), checked before anything is read or minted. Its own module, used by `drill`, `rehearse` and every rotation,
 * so that the commands that share it do not import each other.
 */
import type { Interaction } from '../contract/steps.js';
import type { Runbook, Step } from '../contract/runbook.js';
import { InputError } from '../contract/errors.js';

/** The steps of a run that wait for an answer: hidden captures and yes/no confirmations (discard only on rollback). */
function personSteps(runbook: Runbook): Array<{ step: Step; kind: 'secret' | 'confirm' }> {
  const steps = [...runbook.generate, ...runbook.verify, ...runbook.revoke, ...runbook.verifyRevoked, ...runbook.audit];
  return steps.flatMap((step) => {
    if (step.kind !== 'prompt') return [];
    const asks: Array<{ step: Step; kind: 'secret' | 'confirm' }> = [];
    if (step.capture) asks.push({ step, kind: 'secret' });
    if (step.confirm !== undefined) asks.push({ step, kind: 'confirm' });
    return asks;
  });
}

/**
 * Refuse (exit 2) before anything is read or minted when a step will need an answer nobody can give: better now than
 * half-way, and for overlap none after the old key has died.
 */
export function ensureAnswerable(runbook: Runbook, interaction: Interaction, rehearsal: boolean): void {
  const needed = personSteps(runbook);
  if (needed.length === 0) return;
  const example = needed
    .map(({ step, kind }) =>
      kind === 'secret'
        ? `  ${step.id}: ${rehearsal ? 'yes                 # the sandbox mints the key' : '{ env: NEW_KEY }    # the pasted key, from the environment'}`
        : `  ${step.id}: yes`,
    )
    .filter((line, i, all) => all.indexOf(line) === i)
    .join('\n');
  if (!interaction.canAsk) {
    throw new InputError(
      `runbook ${runbook.name} has ${needed.length} step${needed.length === 1 ? '' : 's'} for a person, and there is no terminal to ask`,
      undefined,
      `run it in a terminal, or pass --answers <file> with:\n${example}`,
    );
  }
  const answers = interaction as Interaction & { problem?: (id: string, kind: 'secret' | 'confirm') => string | undefined; file?: string };
  // A value shown to the person, to paste into a dashboard (webhook-url-token), needs a screen: an answers file can
  // say "done" but cannot read it, and the dashboard would never get it. A rehearsal has no dashboard to paste into.
  const reveal = [...runbook.generate, ...runbook.verify, ...runbook.revoke, ...runbook.verifyRevoked, ...runbook.audit].find(
    (step) => step.kind === 'prompt' && step.reveal !== undefined,
  );
  if (reveal !== undefined && !rehearsal && answers.problem !== undefined && process.stdin.isTTY !== true) {
    throw new InputError(
      `runbook ${runbook.name} shows you the new value once (step ${reveal.id}: ${reveal.name}), to paste into ` +
        `${runbook.title}'s dashboard, and there is no terminal to show it on`,
      undefined,
      'run it in a terminal (the answers file may still answer the other steps); rekey never writes the value anywhere else',
    );
  }
  if (answers.problem === undefined) return;
  const problems = needed.map(({ step, kind }) => answers.problem!(step.id, kind)).filter((p): p is string => p !== undefined);
  if (problems.length > 0)
    throw new InputError(`${answers.file}: ${problems.join('; ')}`, undefined, `an answers file for runbook ${runbook.name}:\n${example}`);
}
