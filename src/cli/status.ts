/**
 * `rekey status`: every credential's age against its policy, where that age comes from, and its last run.
 * The age is read from the stores (src/engine/age.ts): each store's describe(), all credentials at once (bounded),
 * each store given DESCRIBE_TIMEOUT_MS; `--offline` reads no store and takes the age from `policy.lastRotated` and
 * this machine's journals only. A `.env` describe() is a local file read, so a `.env`-only config stays quick.
 */
// Start-up matters here (a quick command, often run by scripts): this module is imported only when `status` runs,
// so it imports statically what it needs (one module graph loads faster than a chain of import() calls), and it
// opens the config with ./open-config.js, as every command does, without loading common.js and what that needs.
import { lastRunsOf } from '../engine/history-index.js';
// The modules deeper down, imported here too: Node's loader reads a module's imports only once it has read the
// module, so a chain five deep (history-index → history-index-file → chain-key → errors) costs five rounds of file
// reads, and named here they are read in one. The store registry too, which `--offline` does not use: read with the
// rest, it costs less than read after (together ~3 ms of every `rekey status`).
import '../engine/history-index-file.js';
import '../engine/chain-key.js';
import '../engine/jsonl-files.js';
import '../config/cache.js';
import '../config/find.js';
import '../util/version.js';
import { credentialAges, dueness, settleUnknown, type CredentialAge } from '../engine/age.js';
import { formatAge, formatClock } from '../util/time.js';
import { ExitCode } from '../contract/errors.js';
import { locksOf } from './locks-of.js';
import { adoptDescribedCache, describerOpener, describerOpenerNow, keepDescribedCache } from './stores.js';
import { openConfig } from './open-config.js';
import type { CommandInput, Globals } from './common.js';
import type { Config } from '../config/types.js';

export default async function status(input: CommandInput, globals: Globals): Promise<number> {
  const config = await openConfig(globals);
  const rows = await statusRows(config, input.options['offline'] === true);
  // --exit-code: 10 when something is due or overdue (as terraform plan -detailed-exitcode), for a CI gate.
  const exitCode = input.options['exitCode'] === true && rows.some((row) => row.state === 'due') ? ExitCode.due : ExitCode.done;
  if (globals.json === true) {
    process.stdout.write(rows.map((row) => `${JSON.stringify(statusEvent(row))}\n`).join(''));
    return exitCode;
  }
  const header = { credential: 'credential', runbook: 'runbook', age: 'age', from: 'age from', policy: 'policy', due: 'due', lastRun: 'last run' };
  const cols = ['credential', 'runbook', 'age', 'from', 'policy', 'due', 'lastRun'] as const;
  const width = Object.fromEntries(cols.map((c) => [c, Math.max(header[c].length, ...rows.map((r) => r[c].length))]));
  const line = (r: Record<(typeof cols)[number], string>) =>
    cols
      .map((c) => r[c].padEnd(width[c]!))
      .join('  ')
      .trimEnd();
  // One write for the whole table: a thousand credentials made a thousand writes.
  const out = [line(header), ...rows.map(line)];
  for (const row of rows) {
    if (row.ageAttention !== undefined) out.push(`! ${row.credential}: ${row.ageAttention}`);
    if (row.attention !== undefined) out.push(`! ${row.credential}: ${row.attention}`);
    if (row.lockNote !== undefined) out.push(`! ${row.credential}: ${row.lockNote}`);
  }
  process.stdout.write(`${out.join('\n')}\n`);
  return exitCode;
}

/** Every credential's row: the words for the table, and the facts for --json (see statusEvent). */
export async function statusRows(config: Config, offline: boolean) {
  // Each journal is read once (by its ends), newest first, until every credential has its last run and last done run.
  const history = await lastRunsOf(config.stateDir, config.credentials.keys(), { write: 'changed' });
  // Stores opened to describe only: for a .env, a module of its own rather than the whole store with its writers.
  const openStores = offline ? undefined : describerOpener(config);
  const openStoresNow = offline ? undefined : describerOpenerNow(config);
  const described = async () => {
    if (!offline) await adoptDescribedCache(config);
    const found = await credentialAges([...config.credentials.values()], { history, openStores, openStoresNow });
    if (!offline) await keepDescribedCache(config);
    return found;
  };
  const [locks, ages] = await Promise.all([locksOf(config.stateDir, config.credentials.keys()), offline ? described() : oneAtATime(described)]);
  const now = Date.now();
  const rows = [...config.credentials.values()].map((credential) => {
    const { last } = history.get(credential.id)!;
    const lock = locks.get(credential.id) ?? { status: { state: 'free' as const }, text: undefined };
    const age = ages.get(credential.id)!;
    const maxAge = credential.maxAgeMs;
    const { state, ageMs, dueAt } = dueness(age, maxAge, now);
    const due =
      state === 'unknown'
        ? 'unknown'
        : state === 'no-policy'
          ? 'no policy'
          : state === 'due'
            ? `overdue ${formatAge(ageMs! - maxAge!)}`
            : `in ${formatAge(maxAge! - ageMs!)}`;
    const faults = age.notes.filter((note) => note.fault);
    return {
      credential: credential.id,
      runbook: credential.runbookName,
      age: ageMs === undefined ? '—' : formatAge(ageMs),
      from: sourceText(age, offline),
      policy: maxAge === undefined ? '—' : formatAge(maxAge),
      due,
      state,
      overdue: state === 'due',
      writtenAt: age.writtenAt?.toISOString(),
      ageMs,
      ageDays: ageMs === undefined ? undefined : Math.floor(ageMs / 86_400_000),
      maxAgeMs: maxAge,
      dueAt: dueAt?.toISOString(),
      ageSource: age.source,
      ageFrom: age.from,
      writtenBy: age.run,
      ageNotes: age.notes,
      ageAttention:
        state === 'unknown'
          ? `age unknown: ${faults.length > 0 ? `the stores did not say (${faults.map((f) => `${f.from}: ${f.problem}`).join('; ')}) — ` : ''}${
              faults.length > 0 ? `set policy.lastRotated in rekey.yaml or run \`rekey rotate ${credential.id}\`` : settleUnknown(credential.id)
            }`
          : faults.length > 0
            ? `the age is from ${age.from ?? age.source}: ${faults.map((f) => `${f.from}: ${f.problem}`).join('; ')}`
            : undefined,
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
  return rows;
}

/**
 * The describers' memory (adoptDescribedCache … keepDescribedCache) is this process's: two statuses at once (the
 * programmatic API's status() of two configs) would each adopt over the other and keep each other's files. One at a
 * time, then.
 */
let describing: Promise<unknown> = Promise.resolve();
function oneAtATime<T>(work: () => Promise<T>): Promise<T> {
  const turn = describing.then(work);
  describing = turn.catch(() => undefined);
  return turn;
}

/**
 * A row as its --json event: ISO dates and numbers (ms, whole days), never "in 89d"; the words are for people. Also
 * what the programmatic API's status() returns (src/api.ts).
 */
export function statusEvent(row: Awaited<ReturnType<typeof statusRows>>[number]) {
  const { lockNote: _note, age: _age, policy: _policy, due: _due, from: _from, ageAttention: _attention, ...rest } = row;
  return { event: 'status' as const, ...rest };
}

/** Where the age comes from, for the table: the store's ref, `policy.lastRotated`, or `journal` (a local cache). */
function sourceText(age: CredentialAge, offline: boolean): string {
  if (age.source === 'store') return age.from!;
  if (age.source === 'journal') return offline ? 'journal (stores not read)' : 'journal';
  if (age.source === 'policy.lastRotated') return 'policy.lastRotated';
  return offline ? 'unknown (stores not read)' : 'unknown';
}
