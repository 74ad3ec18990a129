/** `rekey status`: every credential's age against its policy, and its last run (from the journals). */
// Start-up matters here (a quick command, often run by scripts): this module is imported only when `status` runs,
// so it imports statically what it needs (one module graph loads faster than a chain of import() calls), and it
// opens the config with ./open-config.js, as every command does, without loading common.js and what that needs.
import { lastRunsOf } from '../engine/history.js';
import { formatAge, formatClock } from '../util/time.js';
import { ExitCode } from '../contract/errors.js';
import { locksOf } from './locks-of.js';
import { openConfig } from './open-config.js';
import type { CommandInput, Globals } from './common.js';

export default async function status(_input: CommandInput, globals: Globals): Promise<number> {
  const config = await openConfig(globals);
  // Each journal is read once (by its ends), newest first, until every credential has its last run and last done run.
  const history = lastRunsOf(config.stateDir, config.credentials.keys());
  const locks = await locksOf(config.stateDir, config.credentials.keys());
  const rows = [...config.credentials.values()].map((credential) => {
    const { lastDone, last } = history.get(credential.id)!;
    const lock = locks.get(credential.id) ?? { status: { state: 'free' as const }, text: undefined };
    const ageMs = lastDone?.finishedAt === undefined ? undefined : Date.now() - Date.parse(lastDone.finishedAt);
    const maxAge = credential.maxAgeMs;
    let due = 'unknown (never rotated by rekey)';
    if (ageMs !== undefined && maxAge !== undefined) due = ageMs >= maxAge ? `overdue ${formatAge(ageMs - maxAge)}` : `in ${formatAge(maxAge - ageMs)}`;
    return {
      credential: credential.id,
      runbook: credential.runbookName,
      age: ageMs === undefined ? '—' : formatAge(ageMs),
      policy: maxAge === undefined ? '—' : formatAge(maxAge),
      due,
      overdue: ageMs === undefined || (maxAge !== undefined && ageMs >= maxAge),
      lastRun: last === undefined ? '—' : `${last.startedAt.slice(0, 10)} ${last.result}${last.ms === undefined ? '' : ` (${formatClock(last.ms)})`}`,
      lastRunId: last?.run,
      lock: lock.status,
      lockNote: lock.text,
      damaged: last?.damaged,
      // A run that stopped half-way may hold a new key in some stores, or (overlap none) a dead old one: say so. A
      // journal that fails its check is named with its first bad line: rekey will not act on it.
      attention:
        last?.damaged !== undefined
          ? `the journal of run ${last.run} cannot be trusted (${last.damaged}): rekey will not resume or roll back that run; check the stores and ` +
            `the provider by hand, and see \`rekey log ${last.run}\``
          : last !== undefined && (last.result === 'failed' || last.result === 'interrupted')
            ? `run ${last.run} ${last.result === 'failed' ? `failed${last.error === undefined ? '' : ` (${last.error})`}` : 'was interrupted'}: ` +
              `finish it with \`rekey resume ${last.run}\`, or see \`rekey log ${last.run}\``
            : undefined,
    };
  });
  if (globals.json === true) {
    for (const { lockNote: _note, ...row } of rows) process.stdout.write(`${JSON.stringify({ event: 'status', ...row })}\n`);
    return ExitCode.done;
  }
  const header = { credential: 'credential', runbook: 'runbook', age: 'age', policy: 'policy', due: 'due', lastRun: 'last run' };
  const cols = ['credential', 'runbook', 'age', 'policy', 'due', 'lastRun'] as const;
  const width = Object.fromEntries(cols.map((c) => [c, Math.max(header[c].length, ...rows.map((r) => r[c].length))]));
  const line = (r: Record<(typeof cols)[number], string>) =>
    cols
      .map((c) => r[c].padEnd(width[c]!))
      .join('  ')
      .trimEnd();
  process.stdout.write(`${line(header)}\n`);
  for (const row of rows) process.stdout.write(`${line(row)}\n`);
  for (const row of rows) {
    if (row.attention !== undefined) process.stdout.write(`! ${row.credential}: ${row.attention}\n`);
    if (row.lockNote !== undefined) process.stdout.write(`! ${row.credential}: ${row.lockNote}\n`);
  }
  return ExitCode.done;
}
