/** `rekey log [run]`: the runs, newest first; or one run's journal step by step. */
import { ExitCode, RefusedError } from '../util/errors.js';
import { openConfig, type CommandInput, type Globals } from './common.js';

export default async function log(input: CommandInput, globals: Globals): Promise<number> {
  const config = await openConfig(globals);
  const json = globals.json === true;
  const run = input.args[0] as string | undefined;
  if (run !== undefined) {
    const { readJournal } = await import('../engine/journal.js');
    const records = readJournal(config.stateDir, run);
    if (records.length === 0) throw new RefusedError(`no run ${run}`, 'see `rekey log` for run ids');
    for (const r of records) {
      if (json) process.stdout.write(`${JSON.stringify(r)}\n`);
      else {
        const { seq, at, type, prev: _p, hash: _h, ...rest } = r as unknown as Record<string, unknown>;
        process.stdout.write(`${String(seq).padStart(3)} ${String(at)} ${String(type).padEnd(13)} ${Object.entries(rest).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(' ')}\n`);
      }
    }
    return ExitCode.done;
  }
  const { allRuns } = await import('../engine/history.js');
  const runs = allRuns(config.stateDir);
  for (const r of runs) {
    if (json) process.stdout.write(`${JSON.stringify({ event: 'run', ...r })}\n`);
    else process.stdout.write(`${r.run}  ${r.credential.padEnd(20)} ${r.mode.padEnd(9)} ${r.result.padEnd(11)} ${r.error ?? ''}\n`);
  }
  if (!json && runs.length === 0) process.stdout.write('no runs yet\n');
  return ExitCode.done;
}
