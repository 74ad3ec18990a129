/** `rekey runbook list`: the runbooks rekey knows (built in, and from the config's runbook folders). */
import { existsSync } from 'node:fs';
import { ExitCode } from '../contract/errors.js';
import type { CommandInput, Globals } from './common.js';

export default async function runbookList(_input: CommandInput, globals: Globals): Promise<number> {
  const { builtInRunbookDir, listRunbooks, loadRunbook } = await import('../runbook/load.js');
  const dirs = [builtInRunbookDir()];
  const { openConfig } = await import('./open-config.js');
  if (globals.config !== undefined || existsSync('rekey.yaml')) dirs.unshift(...(await openConfig(globals)).runbookDirs.slice(0, -1));
  const { formatAge } = await import('../util/time.js');
  for (const [name, file] of listRunbooks(dirs)) {
    const runbook = await loadRunbook(file);
    if (globals.json === true)
      process.stdout.write(
        `${JSON.stringify({ event: 'runbook', name, title: runbook.title, overlap: runbook.overlap, rotateEvery: formatAge(runbook.rotateEveryMs), file })}\n`,
      );
    else process.stdout.write(`${name.padEnd(22)} ${runbook.overlap.padEnd(14)} every ${formatAge(runbook.rotateEveryMs).padEnd(5)} ${runbook.title}\n`);
  }
  return ExitCode.done;
}
