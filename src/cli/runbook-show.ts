/** `rekey runbook show <name> [--format md]`: a runbook's steps, or the written runbook a team keeps. */
import { ExitCode } from '../contract/errors.js';
import type { CommandInput, Globals } from './common.js';

export default async function runbookShow(input: CommandInput, _globals: Globals): Promise<number> {
  const { builtInRunbookDir, loadRunbook, resolveRunbook } = await import('../runbook/load.js');
  const { renderRunbook } = await import('../runbook/render.js');
  const runbook = await loadRunbook(resolveRunbook(String(input.args[0]), [builtInRunbookDir()], process.cwd()));
  process.stdout.write(renderRunbook(runbook, input.options['format'] === 'md' ? 'md' : 'text'));
  return ExitCode.done;
}
