/** `rekey log [run]`: the runs, newest first; or one run's journal step by step. A journal that fails its check is flagged. */
import { ExitCode, InputError } from '../contract/errors.js';
import { openConfig, type CommandInput, type Globals } from './common.js';

export default async function log(input: CommandInput, globals: Globals): Promise<number> {
  const config = await openConfig(globals);
  const json = globals.json === true;
  const run = input.args[0] as string | undefined;
  if (run !== undefined) {
    const { readJournal, verifyJournal } = await import('../engine/journal.js');
    // Every readable record is shown; from the first one that fails the check on, each is marked untrusted.
    const records = readJournal(config.stateDir, run);
    const check = verifyJournal(config.stateDir, run);
    if (records.length === 0 && check.ok) throw new InputError(`no run ${run} in ${config.stateDir}`, undefined, 'see `rekey log` for run ids');
    const firstBad = check.ok ? Infinity : check.seq;
    for (const [index, r] of records.entries()) {
      const untrusted = index + 1 >= firstBad;
      if (json) process.stdout.write(`${JSON.stringify(untrusted ? { ...r, untrusted: true } : r)}\n`);
      else {
        const { seq, at, type, prev: _p, hash: _h, key: _k, mac: _m, ...rest } = r as unknown as Record<string, unknown>;
        process.stdout.write(
          `${untrusted ? '?' : ' '}${String(seq).padStart(2)} ${String(at)} ${String(type).padEnd(13)} ${Object.entries(rest)
            .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
            .join(' ')}\n`,
        );
      }
    }
    if (!check.ok) {
      if (json)
        process.stdout.write(
          `${JSON.stringify({ event: 'journal.damaged', run, file: check.file, line: check.line, seq: check.seq, problem: check.problem })}\n`,
        );
      else
        process.stdout.write(
          `! ${check.file}:${check.line}: ${check.problem}\n! this journal cannot be trusted from record ${check.seq} on (marked ?): rekey will ` +
            `not resume or roll back run ${run}\n`,
        );
    }
    return ExitCode.done;
  }
  const { allRuns } = await import('../engine/history.js');
  const runs = allRuns(config.stateDir);
  for (const r of runs) {
    if (json) process.stdout.write(`${JSON.stringify({ event: 'run', ...r })}\n`);
    else
      process.stdout.write(
        `${r.run}  ${r.credential.padEnd(20)} ${r.mode.padEnd(9)} ${r.result.padEnd(11)} ` +
          `${r.damaged === undefined ? (r.error ?? '') : `journal cannot be trusted: ${r.damaged}`}\n`,
      );
  }
  if (!json && runs.length === 0) process.stdout.write('no runs yet\n');
  return ExitCode.done;
}
