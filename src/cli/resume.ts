/**
 * `rekey resume <run>`: continue a run from its journal; each step checks the real state before acting.
 *
 * `rekey resume --all`: every unfinished run, one after another: for each credential of the config, its newest run
 * when that run failed or was interrupted (an older unfinished run that a newer one followed is history, not work:
 * a new run cannot start while an older one holds a value in a store, see refuseWhileUnfinished). A journal that fails
 * its check is not resumed (rekey never acts on one) and counts as refused. Lines are prefixed with the credential,
 * and a tally ends the pass, as `rotate --due` does; the exit code is the worst of the runs'. `--last`: only the newest
 * of those runs. Neither finds a run that nothing finished, on a machine with no journal: see docs/design.md
 * ("Unfinished runs found in the stores").
 */
import type { Config } from '../config/types.js';
import { ExitCode, InputError, RefusedError } from '../contract/errors.js';
import { credentialOf, interactionFor, openConfig, rotateCredential, runStart, type CommandInput, type Globals } from './common.js';

export default async function resume(input: CommandInput, globals: Globals): Promise<number> {
  const config = await openConfig(globals);
  const all = input.options['all'] === true;
  const last = input.options['last'] === true;
  const named = input.args[0] as string | undefined;
  if ((all || last) && named !== undefined) throw new InputError(`name a run or pass --${all ? 'all' : 'last'}, not both`);
  if (all && last) throw new InputError('--all and --last exclude each other');
  if (named === undefined && !all && !last) throw new InputError('name the run to resume, or pass --all or --last', undefined, 'see `rekey log` for run ids');
  if (input.options['fromStores'] === true) {
    if (named === undefined) throw new InputError('--from-stores adopts one run: name it', undefined, 'the run id is in the message of `rekey rotate`');
    await adopt(config, named);
  }
  if (named !== undefined) return (await resumeOne(config, named, input, globals)).code;
  return resumeMany(config, input, globals, last);
}

/**
 * `--from-stores`: a run this machine has no journal of, whose value a store holds staged: find its credential (the
 * credential whose stores name it), and write its journal from what the stores say (src/engine/adopt.ts), so that it
 * resumes as any run. The person's word that no rekey still runs it elsewhere is the reason to do this.
 */
async function adopt(config: Config, run: string): Promise<void> {
  const [{ adoptRun, foreignRuns }, { storeOpener }, { listRuns }, { loadRunbook }] = await Promise.all([
    import('../engine/adopt.js'),
    import('./stores.js'),
    import('../engine/journal.js'),
    import('../runbook/load.js'),
  ]);
  if (listRuns(config.stateDir).includes(run)) return;
  const { ensureStateDir } = await import('../util/state-dir.js');
  await ensureStateDir(config);
  for (const credential of config.credentials.values()) {
    const stores = await storeOpener(config)(credential);
    try {
      if (!(await foreignRuns(config.stateDir, stores)).some((f) => f.run === run)) continue;
      const runbook = await loadRunbook(credential.runbookFile);
      await adoptRun({ stateDir: config.stateDir, credential: credential.id, runbook, stores, run });
      return;
    } finally {
      await Promise.allSettled(stores.map(({ store }) => store.close?.()));
    }
  }
  throw new RefusedError(`no store of ${config.file} holds a value staged by run ${run}`, 'see `rekey status`, and `rekey log` for the runs journaled here');
}

/** Resume one run; `prefix` puts the credential before each line when several runs share the screen. */
async function resumeOne(config: Config, run: string, input: CommandInput, globals: Globals, prefix?: string) {
  const first = await runStart(config, run);
  const credential = credentialOf(config, first.credential);
  const json = globals.json === true;
  const { createSink } = await import('../ui/sink.js');
  const inner = createSink(json, { credential: credential.id, ...(prefix === undefined ? {} : { prefix }) });
  const interaction = await interactionFor(input.options, inner, first.mode === 'drill' || first.mode === 'incident');
  // An incident run shows its own lines (the old key proven dead) on resume too.
  const sink = first.mode === 'incident' ? await (await import('./incident.js')).incidentSink(inner, json) : inner;
  const since = first.since === undefined ? undefined : new Date(first.since);
  const outcome = await rotateCredential({
    config,
    credential,
    mode: first.mode,
    sink,
    interaction,
    json,
    resume: run,
    ...(since ? { since } : {}),
    mintAgain: input.options['mintAgain'] === true,
    ...(prefix === undefined ? {} : { linePrefix: prefix }),
  });
  // A resumed incident ends as a fresh one does: with the responder's checklist (one run on the screen only).
  if (first.mode === 'incident' && !json && prefix === undefined && outcome.summary !== undefined)
    await (await import('./incident.js')).printChecklist(outcome.summary);
  return outcome;
}

type Outcome =
  | { credential: string; run: string; outcome: 'resumed' }
  | { credential: string; run: string; outcome: 'failed'; reason: string; code: number; next?: string }
  | { credential: string; run: string; outcome: 'skipped'; reason: 'locked'; detail: string };

async function resumeMany(config: Config, input: CommandInput, globals: Globals, newestOnly: boolean): Promise<number> {
  const started = performance.now();
  const json = globals.json === true;
  const [{ lastRunsOf }, { credentialPrefixes, ndjsonLine }, { LockedError }, { describeError }] = await Promise.all([
    import('../engine/history.js'),
    import('../ui/sink.js'),
    import('../engine/lock.js'),
    import('./report-error.js'),
  ]);
  const history = await lastRunsOf(config.stateDir, config.credentials.keys(), { write: 'changed' });
  let unfinished = [...history.values()]
    .flatMap(({ last }) => (last !== undefined && ['failed', 'interrupted', 'damaged'].includes(last.result) ? [last] : []))
    // Oldest first by when each run started (ms): two run ids of one second sort by their random part, not by time.
    .sort((a, b) => a.startedAt.localeCompare(b.startedAt) || a.run.localeCompare(b.run));
  if (newestOnly) unfinished = unfinished.slice(-1);
  if (unfinished.length === 0) {
    if (json) process.stdout.write(ndjsonLine({ event: 'tally', resumed: 0, failed: { total: 0 }, skipped: { total: 0 }, exit: 0, runs: [] }));
    else process.stdout.write(`nothing to resume: no run of ${config.file} stopped half-way in ${config.stateDir}\n`);
    return ExitCode.done;
  }
  const fleet = unfinished.length > 1;
  const prefixes = credentialPrefixes(
    unfinished.map((r) => r.credential),
    process.stdout,
  );
  const prefixOf = (id: string) => (fleet ? prefixes.get(id) : undefined);
  const outcomes: Outcome[] = [];
  const say = (credential: string, run: string, event: { event: string } & Record<string, unknown>, text: string) => {
    if (json) process.stdout.write(ndjsonLine(event, { credential, run }));
    else process.stderr.write(`${prefixOf(credential) ?? `${credential}: `}${text}\n`);
  };
  // One after another: each holds its credential's lock, and a person reading the output follows one run at a time.
  for (const info of unfinished) {
    const { credential, run } = info;
    if (info.result === 'damaged') {
      const error = new RefusedError(
        `the journal of run ${run} cannot be trusted (${info.damaged}): rekey will not resume it`,
        `check the stores and the provider by hand; see \`rekey log ${run}\``,
      );
      const { code, message, hint } = describeError(error);
      outcomes.push({ credential, run, outcome: 'failed', reason: 'refused', code, next: `rekey log ${run}` });
      say(credential, run, { event: 'error', code, message, hint }, `${message}\n  hint: ${hint}`);
      continue;
    }
    try {
      const { code, summary } = await resumeOne(config, run, input, globals, prefixOf(credential));
      if (code === ExitCode.done) outcomes.push({ credential, run, outcome: 'resumed' });
      else {
        const reason = summary?.result === 'rolled-back' ? 'rolled back' : summary?.resumable === true ? 'resumable' : 'failed';
        outcomes.push({ credential, run, outcome: 'failed', reason, code, next: reason === 'resumable' ? `rekey resume ${run}` : `rekey log ${run}` });
      }
    } catch (error) {
      if (error instanceof LockedError) {
        const detail = `by run ${error.holder.run ?? '(unknown)'} (pid ${error.holder.pid ?? '?'})`;
        outcomes.push({ credential, run, outcome: 'skipped', reason: 'locked', detail });
        say(credential, run, { event: 'skipped', reason: 'locked', holder: error.holder }, `skipped: locked ${detail}`);
        continue;
      }
      const { code, message, hint } = describeError(error);
      outcomes.push({ credential, run, outcome: 'failed', reason: code === ExitCode.refused ? 'refused' : 'failed', code, next: `rekey log ${run}` });
      say(credential, run, { event: 'error', code, message, hint }, `${message}${hint === undefined ? '' : `\n  hint: ${hint}`}`);
    }
  }
  const codes = outcomes.flatMap((o) => (o.outcome === 'failed' ? [o.code] : []));
  const exit = [ExitCode.internal, ExitCode.environment, ExitCode.failed, ExitCode.badInput, ExitCode.refused].find((c) => codes.includes(c)) ?? ExitCode.done;
  const seconds = Math.round(performance.now() - started) / 1000;
  const failed = outcomes.filter((o) => o.outcome === 'failed');
  const byReason = new Map<string, number>();
  for (const o of failed) byReason.set(o.reason, (byReason.get(o.reason) ?? 0) + 1);
  const resumed = outcomes.filter((o) => o.outcome === 'resumed').length;
  const skipped = outcomes.filter((o) => o.outcome === 'skipped').length;
  if (json) {
    process.stdout.write(
      ndjsonLine({
        event: 'tally',
        resumed,
        failed: { total: failed.length, ...Object.fromEntries(byReason) },
        skipped: { total: skipped, ...(skipped > 0 ? { locked: skipped } : {}) },
        seconds,
        exit,
        runs: outcomes.map(({ code: _code, ...o }: Outcome & { code?: number }) => o),
      }),
    );
  } else {
    const { formatDuration } = await import('../util/time.js');
    const reasons = byReason.size === 0 ? '' : ` (${[...byReason].map(([r, n]) => `${n} ${r}`).join(', ')})`;
    const lines = [
      `\nresumed ${resumed} · skipped ${skipped}${skipped > 0 ? ' (locked)' : ''} · failed ${failed.length}${reasons} · ${formatDuration(seconds * 1000)}\n`,
    ];
    for (const o of failed) lines.push(`${prefixOf(o.credential) ?? `${o.credential}: `}failed, ${o.reason}${o.next === undefined ? '' : `: \`${o.next}\``}\n`);
    process.stdout.write(lines.join(''));
  }
  return exit;
}
