/**
 * `rekey runbook test <file>`: lint a runbook (src/runbook/lint.ts: every template variable declared, every check
 * with a documented rejection, no secret in a printed URL; each problem at file:line:col, exit 2), check that every
 * http step reaches a dialect the sandbox speaks once the rehearsal inputs point it there, then run it end to end with
 * `rekey rehearse --runbook <file>`: the sandbox plays the provider with the runbook's overlap, every prompt is
 * answered yes (a capture is minted by the sandbox), and the drill's timeline is printed.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ExitCode, InputErrors } from '../contract/errors.js';
import type { CommandInput, Globals } from './common.js';

export default async function runbookTest(input: CommandInput, globals: Globals): Promise<number> {
  const { builtInRunbookDir, resolveRunbook } = await import('../runbook/load.js');
  const { lintRunbook } = await import('../runbook/lint.js');
  const file = resolveRunbook(String(input.args[0]), [builtInRunbookDir()], process.cwd());
  const { runbook, errors } = await lintRunbook(file);
  if (runbook === undefined) throw new InputErrors(errors);
  const json = globals.json === true;
  const checks = runbook.verify.filter((step) => step.kind === 'http').length;
  say(
    json,
    { event: 'runbook.linted', name: runbook.name, checks },
    `lint: ${runbook.name} is clean — templates declared, ${checks} check${checks === 1 ? '' : 's'} with a documented rejection, no secret in a printed URL`,
  );
  if (runbook.rehearsal.unsupported !== undefined) {
    say(json, { event: 'runbook.untested', reason: runbook.rehearsal.unsupported.trim() }, `no rehearsal: ${runbook.rehearsal.unsupported.trim()}`);
    return ExitCode.done;
  }
  const { ensureDialects, fillSandbox } = await import('./rehearsal-kit.js');
  // A placeholder for the sandbox's URL: the check only reads where each step's URL would lead.
  const SANDBOX = 'http://127.0.0.1:1';
  const inputs = Object.fromEntries(Object.entries(runbook.rehearsal.inputs).map(([key, value]) => [key, fillSandbox(value, SANDBOX)]));
  await ensureDialects(runbook, inputs, SANDBOX);
  say(
    json,
    { event: 'runbook.rehearsing', name: runbook.name, overlap: runbook.overlap },
    `rehearsal: the sandbox plays the provider (overlap ${runbook.overlap}); every prompt is answered yes\n`,
  );

  const { answerableSteps } = await import('../ui/interaction.js');
  const folder = mkdtempSync(join(tmpdir(), 'rekey-runbook-test-'));
  try {
    const answers = join(folder, 'answers.yaml');
    const ids = [...new Set(answerableSteps(runbook).map((step) => step.id))];
    writeFileSync(answers, ids.map((id) => `${JSON.stringify(id)}: yes\n`).join(''), { mode: 0o600 });
    const { default: rehearse } = await import('./rehearse.js');
    return await rehearse({ args: [], options: { runbook: file, answers, keep: input.options['keep'], budget: input.options['budget'] } }, globals);
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
}

function say(json: boolean, event: Record<string, unknown>, text: string): void {
  process.stdout.write(json ? `${JSON.stringify(event)}\n` : `${text}\n`);
}
