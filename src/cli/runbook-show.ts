/**
 * `rekey runbook show <name> [--format md]`: a runbook's steps, or the written runbook a team keeps. A name is looked
 * up as `rekey runbook list` does (the config's `runbooks:` folders, then the built-in ones), so a team's own runbooks
 * render like the built-in ones; a path is read as it is.
 */
import { existsSync } from 'node:fs';
import { ExitCode } from '../contract/errors.js';
import type { CommandInput, Globals } from './common.js';

export default async function runbookShow(input: CommandInput, globals: Globals): Promise<number> {
  const { builtInRunbookDir, loadRunbook, resolveRunbook } = await import('../runbook/load.js');
  const { renderRunbook } = await import('../runbook/render.js');
  const dirs = [builtInRunbookDir()];
  if (globals.config !== undefined || existsSync('rekey.yaml')) {
    const { openConfig } = await import('./open-config.js');
    dirs.unshift(...(await openConfig(globals)).runbookDirs.slice(0, -1));
  }
  const runbook = await loadRunbook(resolveRunbook(String(input.args[0]), dirs, process.cwd()));
  process.stdout.write(renderRunbook(runbook, input.options['format'] === 'md' ? 'md' : 'text'));
  return ExitCode.done;
}
