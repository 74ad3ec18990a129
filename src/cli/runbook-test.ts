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
import { ExitCode, InputError, InputErrors } from '../contract/errors.js';
import type { Runbook } from '../contract/runbook.js';
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
  await ensureDialects(runbook);
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

/**
 * Every http step must reach a route of the sandbox once the rehearsal inputs are filled in: a step that would call
 * the real provider, or a path no dialect answers, is refused at its line before anything runs.
 */
async function ensureDialects(runbook: Runbook): Promise<void> {
  const { sandboxRoutes } = await import('../sandbox/dialects.js');
  const { matchRoute } = await import('../sandbox/routes.js');
  const SANDBOX = 'http://127.0.0.1:1';
  const inputs: Record<string, string> = {};
  for (const [key, spec] of Object.entries(runbook.inputs)) if (spec.default !== undefined) inputs[key] = spec.default;
  for (const [key, value] of Object.entries(runbook.rehearsal.inputs)) {
    inputs[key] = value.replace(/\{\{\s*sandbox\.url\s*\}\}/g, SANDBOX).replace(/\{\{\s*sandbox\.account\s*\}\}/g, 'rehearsal');
  }
  const problems: InputError[] = [];
  const sections = [runbook.generate, runbook.verify, runbook.revoke, runbook.verifyRevoked, runbook.audit, runbook.discard];
  for (const step of sections.flat()) {
    if (step.kind !== 'http') continue;
    const url = step.url.replace(/\{\{\s*([A-Za-z_][\w.-]*)\s*\}\}/g, (_m, name: string) =>
      name.startsWith('inputs.') ? (inputs[name.slice(7)] ?? '') : name === 'new' || name === 'old' ? 'x' : 'rehearsal',
    );
    if (!url.startsWith(`${SANDBOX}/`)) {
      problems.push(
        new InputError(
          `step ${step.id}: in a rehearsal it would call ${url.split('?')[0]!.replace(/^(https?:\/\/[^/]+).*$/, '$1')}, not the sandbox`,
          step.source,
          'under rehearsal.inputs:, point the input that opens its URL at "{{ sandbox.url }}" (plus the dialect\'s path)',
        ),
      );
      continue;
    }
    const path = new URL(url).pathname;
    const matched = matchRoute(step.method, path, sandboxRoutes);
    if (matched.route === undefined)
      problems.push(
        new InputError(
          `step ${step.id}: the sandbox speaks no dialect at ${step.method} ${path}`,
          step.source,
          `the sandbox answers: ${[...new Set(sandboxRoutes.map((r) => `${r.method} ${r.pattern}`))].join(', ')}`,
        ),
      );
  }
  if (problems.length > 0) throw new InputErrors(problems);
}
