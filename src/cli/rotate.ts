/**
 * `rekey rotate [<credential>…] [--due]`: unattended rotation for cron, CronJobs and CI schedules.
 * Credentials rotate with bounded concurrency. Each ends as one outcome: rotated; reminded (its runbook needs a person
 * and there are no answers: under --due a reminder, not a failure); skipped (not due, unknown age, or locked by a live
 * run); or failed (rolled back, resumable, refused, bad input, environment fault).
 *
 * Output: one credential prints its run as `drill` does. Several print every line after `[credential]`, aligned (as
 * `docker compose` prefixes its services' lines), and end with one tally naming the runs to look at; with --json, every
 * line carries its credential, run and time (see ndjsonLine), and the tally is the last line.
 *
 * Exit: 0 when nothing failed (skipped and reminded credentials are not failures); otherwise the worst code of the
 * failed ones. A person who names one credential without --due asked for that one: locked is refused (3), and one that
 * needs a person is bad input (2: pass --answers or run `rekey drill`).
 */
import type { Config, CredentialConfig, NotifyChannelConfig } from '../config/types.js';
import type { LastRuns } from '../engine/history.js';
import type { CredentialAge } from '../engine/age.js';
import { ExitCode, ForeignRunError, InputError } from '../contract/errors.js';
import { keepHeapSmall } from '../util/heap.js';
import type { RunSummary } from '../engine/run.js';
import type { Runbook } from '../contract/runbook.js';
import { credentialOf, interactionFor, openConfig, rotateCredential, type CommandInput, type Globals } from './common.js';

/**
 * Why a credential was left out of this pass: its age is under the policy, its age is unknown, it has no policy, a
 * live run holds it, or its last rotation finished less than ten minutes ago (src/engine/recent.ts).
 */
export type SkipReason = 'not due' | 'unknown age' | 'no maxAge' | 'locked' | 'rotated recently';

/** A credential the selection left out, with why (`detail`: more words for the line, such as who holds the lock). */
export interface Skipped {
  readonly credential: string;
  readonly reason: SkipReason;
  readonly detail?: string;
  /** Where its age came from, for --json (ageSource, ageFrom, writtenAt, dueAt). */
  readonly facts?: Readonly<Record<string, string | undefined>>;
}

/** Why a credential failed, for the tally: the run's end when it ran, else the kind of error that stopped it. */
type FailReason =
  | 'rolled back'
  | 'resumable'
  | 'failed'
  | 'needs a person'
  | 'unfinished in the stores'
  | 'refused'
  | 'bad input'
  | 'environment fault'
  | 'internal error';

type Outcome =
  // findings: rotated, but a person answered no to an audit check (exit 6 when nothing worse happened).
  | { readonly credential: string; readonly outcome: 'rotated'; readonly run: string | undefined; readonly findings?: boolean }
  | { readonly credential: string; readonly outcome: 'reminded'; readonly next: string }
  | { readonly credential: string; readonly outcome: 'skipped'; readonly reason: SkipReason; readonly detail?: string; readonly run?: string }
  | {
      readonly credential: string;
      readonly outcome: 'failed';
      readonly reason: FailReason;
      readonly code: number;
      readonly run?: string;
      readonly next?: string;
    };

export default async function rotate(input: CommandInput, globals: Globals): Promise<number> {
  keepHeapSmall();
  const started = performance.now();
  const config = await openConfig(globals);
  const ids = (input.args[0] as string[] | undefined) ?? [];
  const due = input.options['due'] === true;
  if (ids.length === 0 && !due)
    throw new InputError('name the credentials to rotate, or pass --due', undefined, `credentials: ${[...config.credentials.keys()].join(', ')}`);
  // --due-unknown widens --due's selection; alone it would be ignored in silence, and the person would think it acted.
  if (input.options['dueUnknown'] === true && !due)
    throw new InputError('--due-unknown only works with --due', undefined, 'run `rekey rotate --due --due-unknown`');
  const concurrency = Number(input.options['concurrency'] ?? 16);
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new InputError('--concurrency must be a whole number of at least 1');
  const json = globals.json === true;
  const dryRun = input.options['dryRun'] === true;
  // --audit-stdout: stdout carries the audit records alone, as NDJSON, for a log pipeline; the text for people goes to
  // stderr. With --json the records are on stdout already, among the other events.
  const auditStdout = input.options['auditStdout'] === true && !json;
  const textOut = auditStdout ? process.stderr : process.stdout;
  const allowRecent = input.options['allowRecent'] === true;
  const [
    { createSink, credentialPrefixes, ndjsonLine, TextSink },
    { loadRunbook },
    { lastRunsOf },
    { needsPerson },
    { LockedError },
    { describeError },
    { RecentRotationError },
  ] = await Promise.all([
    import('../ui/sink.js'),
    import('../runbook/load.js'),
    import('../engine/history.js'),
    import('../contract/runbook.js'),
    import('../engine/lock.js'),
    import('./report-error.js'),
    import('../engine/recent.js'),
  ]);

  const requested: CredentialConfig[] = ids.length > 0 ? ids.map((id) => credentialOf(config, id)) : [...config.credentials.values()];
  // Several credentials: their lines interleave, so each says whose it is, and one tally ends the run. One
  // credential's run prints as it always did (its lines need no name), with a tally only under --due, for the log.
  const fleet = requested.length > 1;
  // A person asked for this one credential: a lock or a missing person is an error, not a skip or a reminder.
  const asked = ids.length === 1 && !due;
  const prefixes = credentialPrefixes(
    requested.map((c) => c.id),
    textOut,
  );
  const prefixOf = (id: string): string | undefined => (fleet ? prefixes.get(id) : undefined);
  const outcomes: Outcome[] = [];

  /** One line about a credential from this command (not its run): NDJSON, or text after its prefix (`id: ` alone). */
  const say = (credential: string, event: { event: string } & Record<string, unknown>, text: string, stream = textOut) => {
    if (json) process.stdout.write(ndjsonLine(event, { credential }));
    else stream.write(prefixLines(prefixOf(credential) ?? `${credential}: `, text));
  };
  const skip = (skipped: Skipped, holder?: import('../engine/lock.js').LockHolder) => {
    outcomes.push({ outcome: 'skipped', ...skipped, ...(holder?.run === undefined ? {} : { run: holder.run }) });
    const words = skipped.detail === undefined ? skipped.reason : `${skipped.reason} ${skipped.detail}`;
    say(
      skipped.credential,
      { event: 'skipped', credential: skipped.credential, reason: skipped.reason, detail: skipped.detail, holder, ...skipped.facts },
      `skipped: ${words}`,
    );
  };
  // What the notifications say about each credential besides its outcome: its run's summary, or the error that stopped it.
  const told = new Map<string, { summary?: Told | undefined; message?: string; hint?: string | undefined; runbook?: Runbook }>();
  const fail = (credential: string, error: unknown, reason?: FailReason, next?: string) => {
    const { code, message, hint } = describeError(error);
    told.set(credential, { ...told.get(credential), message, hint });
    outcomes.push({ credential, outcome: 'failed', reason: reason ?? failReason(code), code, ...(next === undefined ? {} : { next }) });
    if (json) process.stdout.write(ndjsonLine({ event: 'error', code, message, hint }, { credential }));
    else if (!fleet) process.stderr.write(`rekey: ${message}\n${hint === undefined ? '' : `  hint: ${hint}\n`}`);
    else process.stderr.write(prefixLines(prefixOf(credential)!, `${message}${hint === undefined ? '' : `\n  hint: ${hint}`}`));
  };

  // Every journal read once, before any run of this command starts: a fleet's --due stays one pass over the history.
  const history = await lastRunsOf(
    config.stateDir,
    requested.map((credential) => credential.id),
    { write: dryRun ? 'never' : 'changed' },
  );
  // When each selected credential fell due, from its stores' age (not the journal: a fresh machine has none).
  const dueAt = new Map<string, Date | undefined>();

  const hasAnswers = typeof input.options['answers'] === 'string';
  const rotateOne = async (credential: CredentialConfig) => {
    const runbook = await loadRunbook(credential.runbookFile);
    const human = [...runbook.generate, ...runbook.verify, ...runbook.revoke, ...runbook.verifyRevoked, ...runbook.audit].some(needsPerson);
    // A dry run asks nothing, so a credential named on the command line needs no person for it (under --due: reminded).
    if (human && !hasAnswers && (due || !dryRun)) {
      const next = `rekey drill ${credential.id}`;
      if (!due) {
        // Named on the command line: rotating it unattended cannot be done, and saying "reminded" would hide that.
        const error = new InputError(
          `${credential.id} needs a person (runbook ${runbook.name} has a dashboard step), and \`rekey rotate\` runs unattended`,
          undefined,
          `run \`${next}\` at a terminal, or pass --answers <file> to answer its steps`,
        );
        fail(credential.id, error, 'needs a person');
        return;
      }
      // An unknown age selected by --due-unknown has no date: it is due now.
      const dueDate = dueAt.get(credential.id)?.toISOString().slice(0, 10) ?? 'now';
      told.set(credential.id, { runbook });
      outcomes.push({ credential: credential.id, outcome: 'reminded', next });
      say(
        credential.id,
        { event: 'reminder', credential: credential.id, reason: 'needs a person (dashboard step)', due: dueDate },
        `needs a person (dashboard step) — run \`${next}\` (due ${dueDate})`,
      );
      return;
    }
    // A value staged by a run this machine has no journal of (docs/design.md, "Unfinished runs found in the stores"):
    // never mint over it, never act on it alone (that run may be alive elsewhere); say what the person can run.
    const prefix = prefixOf(credential.id);
    const options = { credential: credential.id, ...(prefix === undefined ? {} : { prefix }) };
    const sink = auditStdout ? auditOnStdout(new TextSink(process.stderr, options), credential.id, ndjsonLine) : createSink(json, options);
    const interaction = await interactionFor(input.options, sink, false);
    const { code, summary } = await rotateCredential({
      config,
      credential,
      mode: 'scheduled',
      sink,
      interaction,
      json,
      dryRun,
      ...(allowRecent ? { allowRecent } : {}),
      ...(prefix === undefined ? {} : { linePrefix: prefix }),
      ...(auditStdout ? { out: process.stderr } : {}),
    });
    // Only what the notifications name: a fleet's thousand whole summaries (timelines, findings) would be kept to the end.
    told.set(credential.id, { summary: summary === undefined ? undefined : toldOf(summary) });
    outcomes.push(
      code === ExitCode.done || code === ExitCode.findings
        ? { credential: credential.id, outcome: 'rotated', run: summary?.run, ...(code === ExitCode.findings ? { findings: true } : {}) }
        : ranAndFailed(credential.id, code, summary),
    );
  };

  // Under --due the queue fills as the stores tell each credential's age: a due credential starts rotating while the
  // ages of the others are still being asked (a thousand, eight at a time, took seconds in which nothing rotated).
  const queue: CredentialConfig[] = due ? [] : [...requested];
  let selecting = false;
  let selected: Promise<void> = Promise.resolve();
  const waiting: (() => void)[] = [];
  const wakeAll = () => {
    for (const resolve of waiting.splice(0)) resolve();
  };
  const next = async (): Promise<CredentialConfig | undefined> => {
    for (;;) {
      const credential = queue.shift();
      if (credential !== undefined || !selecting) return credential;
      await new Promise<void>((resolve) => waiting.push(resolve));
    }
  };
  if (due) {
    selecting = true;
    selected = dueSelection(config, requested, history, input.options['dueUnknown'] === true, {
      due: (credential, at) => {
        dueAt.set(credential.id, at);
        queue.push(credential);
        wakeAll();
      },
      skipped: skip,
    })
      .then(() => undefined)
      .finally(() => {
        selecting = false;
        wakeAll();
      });
    // Awaited once the workers are done (below); until then, a failure must not count as unhandled.
    selected.catch(() => undefined);
  }
  const worker = async () => {
    for (let credential = await next(); credential !== undefined; credential = await next()) {
      try {
        await rotateOne(credential);
      } catch (error) {
        // One credential's trouble must not stop the others. A live run holding the lock is that run's business: a
        // scheduled pass skips the credential and names the holder; a person who asked for this one is refused (3).
        if (error instanceof LockedError && !asked) skip({ credential: credential.id, reason: 'locked', detail: holderWords(error.holder) }, error.holder);
        // Another machine's run left a value staged: the engine refused before the run began (src/engine/run.ts).
        else if (error instanceof ForeignRunError) fail(credential.id, error, 'unfinished in the stores', `rekey resume ${error.run} --from-stores`);
        // Rotated minutes ago: a scheduled pass leaves it (it is not due anyway); a person who named it is refused (3).
        else if (error instanceof RecentRotationError && !asked) {
          skip({
            credential: credential.id,
            reason: 'rotated recently',
            detail: `(run ${error.run} finished ${error.finishedAt.toISOString()}; not again within 10 minutes)`,
            facts: { finishedAt: error.finishedAt.toISOString(), lastRun: error.run },
          });
        } else fail(credential.id, error);
      }
    }
  };
  await Promise.all(Array.from({ length: due ? concurrency : Math.min(concurrency, Math.max(1, queue.length)) }, worker));
  // A failure to ask the ages at all (not one store's: those are unknown ages) fails the command, as before.
  await selected;

  const order = new Map(requested.map((c, i) => [c.id, i]));
  outcomes.sort((a, b) => order.get(a.credential)! - order.get(b.credential)!);
  const worst = worstCode(outcomes.flatMap((o) => (o.outcome === 'failed' ? [o.code] : [])));
  const exit = worst === ExitCode.done && outcomes.some((o) => o.outcome === 'rotated' && o.findings === true) ? ExitCode.findings : worst;
  // A dry run tells no one: nothing happened. Delivery never changes `exit` (src/notify/index.ts).
  if (!dryRun && config.notify !== undefined && config.notify.length > 0) {
    const report = (delivery: import('../notify/index.js').Delivery) => {
      const { credential, run, channel, kind, attempts, error } = delivery;
      if (json) process.stdout.write(ndjsonLine({ event: delivery.ok ? 'notify.sent' : 'notify.failed', channel, kind, attempts, error }, { credential, run }));
      else if (!delivery.ok)
        process.stderr.write(
          prefixLines(
            prefixOf(credential) ?? `${credential}: `,
            `notify: the ${kind} message was not delivered to ${channel} after ${attempts} attempt${attempts === 1 ? '' : 's'}: ${error} ` +
              '(the rotation is not affected)',
          ),
        );
    };
    await notifyOutcomes(config.notify, outcomes, told, dueAt, config.credentials, report);
  }
  if (fleet || due) {
    const seconds = Math.round(performance.now() - started) / 1000;
    if (json) process.stdout.write(ndjsonLine(tallyEvent(outcomes, seconds, exit, dryRun)));
    else textOut.write(await tallyText(outcomes, seconds, dryRun, prefixOf, textOut));
  }
  return exit;
}

/** A run that ended other than done: how it ended, and the command that shows or finishes it. */
function ranAndFailed(credential: string, code: number, summary: RunSummary | undefined): Outcome {
  const run = summary?.run;
  if (summary === undefined || run === undefined) return { credential, outcome: 'failed', reason: failReason(code), code };
  if (summary.result === 'rolled-back') return { credential, outcome: 'failed', reason: 'rolled back', code, run, next: `rekey log ${run}` };
  if (summary.resumable) return { credential, outcome: 'failed', reason: 'resumable', code, run, next: `rekey resume ${run}` };
  return { credential, outcome: 'failed', reason: code === ExitCode.environment ? 'environment fault' : 'failed', code, run, next: `rekey log ${run}` };
}

function failReason(code: number): FailReason {
  switch (code) {
    case ExitCode.badInput:
      return 'bad input';
    case ExitCode.refused:
      return 'refused';
    case ExitCode.environment:
      return 'environment fault';
    case ExitCode.internal:
      return 'internal error';
    default:
      return 'failed';
  }
}

/** Who holds a lock, as its file says: `by run R (pid 4121 on cron-7f9c, since …)`. */
function holderWords(holder: import('../engine/lock.js').LockHolder): string {
  if (holder.starting || holder.pid === undefined) return 'by a run that is starting right now';
  const since = holder.since === undefined ? '' : `, since ${holder.since}`;
  return `by run ${holder.run ?? '(unknown)'} (pid ${holder.pid}${holder.host === undefined ? '' : ` on ${holder.host}`}${since})`;
}

/** How many of each outcome, and of each reason within skipped and failed. */
function counts(outcomes: readonly Outcome[]) {
  const of = (outcome: Outcome['outcome']) => outcomes.filter((o) => o.outcome === outcome);
  const reasons = (list: readonly Outcome[]) => {
    const by = new Map<string, number>();
    for (const o of list) if ('reason' in o) by.set(o.reason, (by.get(o.reason) ?? 0) + 1);
    return by;
  };
  const skipped = of('skipped');
  const failed = of('failed');
  return { rotated: of('rotated').length, reminded: of('reminded').length, skipped, failed, skippedBy: reasons(skipped), failedBy: reasons(failed) };
}

/** The tally as the last NDJSON line: counts by outcome and reason, and every credential's outcome with its run. */
function tallyEvent(outcomes: readonly Outcome[], seconds: number, exit: number, dryRun: boolean): { event: string } & Record<string, unknown> {
  const c = counts(outcomes);
  return {
    event: 'tally',
    ...(dryRun ? { dryRun: true } : {}),
    rotated: c.rotated,
    reminded: c.reminded,
    skipped: { total: c.skipped.length, ...Object.fromEntries(c.skippedBy) },
    failed: { total: c.failed.length, ...Object.fromEntries(c.failedBy) },
    seconds,
    exit,
    credentials: outcomes.map(({ code: _code, ...o }: Outcome & { code?: number }) => o),
  };
}

/**
 * The tally for a person: one line of counts, then one line for each credential to look at (reminded, locked,
 * failed), after its prefix, with the command that shows or finishes its run.
 */
async function tallyText(
  outcomes: readonly Outcome[],
  seconds: number,
  dryRun: boolean,
  prefixOf: (id: string) => string | undefined,
  out: NodeJS.WriteStream,
): Promise<string> {
  const [{ styler }, { formatDuration }] = await Promise.all([import('../ui/style.js'), import('../util/time.js')]);
  const s = styler(out);
  const c = counts(outcomes);
  const detail = (by: Map<string, number>) => (by.size === 0 ? '' : ` (${[...by].map(([reason, n]) => `${n} ${reason}`).join(', ')})`);
  const failed = `failed ${c.failed.length}${detail(c.failedBy)}`;
  const head = [
    `${dryRun ? 'would rotate' : 'rotated'} ${c.rotated}`,
    `reminded ${c.reminded}`,
    `skipped ${c.skipped.length}${detail(c.skippedBy)}`,
    c.failed.length > 0 ? s.red(failed) : failed,
    formatDuration(seconds * 1000),
  ].join(' · ');
  const lines = [`\n${head}\n`];
  for (const o of outcomes) {
    const prefix = prefixOf(o.credential) ?? `${o.credential}: `;
    if (o.outcome === 'reminded') lines.push(`${prefix}reminded: needs a person — run \`${o.next}\`\n`);
    else if (o.outcome === 'skipped' && o.reason === 'locked') lines.push(`${prefix}skipped: locked ${o.detail ?? ''}\n`);
    else if (o.outcome === 'failed') lines.push(`${prefix}${s.red(`failed, ${o.reason}`)}${o.next === undefined ? '' : `: \`${o.next}\``}\n`);
  }
  return lines.join('');
}

/** Every line of a text after the prefix; blank lines dropped (they would carry no credential). */
function prefixLines(prefix: string, text: string): string {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => `${prefix}${line}\n`)
    .join('');
}

/**
 * The credentials `--due` rotates: age known (from the stores, else policy.lastRotated or the journal; src/engine/age.ts)
 * and at least maxAge. An unknown age is skipped as "unknown age" unless `--due-unknown`; no maxAge is never due.
 */
export async function dueSelection(
  config: Config,
  credentials: readonly CredentialConfig[],
  history: ReadonlyMap<string, LastRuns>,
  dueUnknown: boolean,
  /** Told of each credential as soon as its age is known: due (to rotate now) or skipped. */
  on: { due?: (credential: CredentialConfig, dueAt: Date | undefined) => void; skipped?: (skipped: Skipped) => void } = {},
): Promise<{ due: CredentialConfig[]; skipped: Skipped[]; dueAt: Map<string, Date | undefined> }> {
  const [{ credentialAges, dueness, settleUnknown }, { storeOpener }] = await Promise.all([import('../engine/age.js'), import('./stores.js')]);
  const due = new Set<string>();
  const skipped = new Map<string, Skipped>();
  const dueAts = new Map<string, Date | undefined>();
  const classify = (credential: CredentialConfig, age: CredentialAge) => {
    const { state, dueAt } = dueness(age, credential.maxAgeMs);
    const facts = { ageSource: age.source, ageFrom: age.from, writtenAt: age.writtenAt?.toISOString(), dueAt: dueAt?.toISOString() };
    dueAts.set(credential.id, dueAt);
    let skip: Skipped | undefined;
    if (state === 'due' || (state === 'unknown' && dueUnknown)) {
      due.add(credential.id);
      on.due?.(credential, dueAt);
      return;
    }
    if (state === 'unknown') {
      const faults = age.notes.filter((note) => note.fault).map((note) => `${note.from}: ${note.problem}`);
      const why = faults.length > 0 ? `the stores did not say (${faults.join('; ')})` : settleUnknown(credential.id);
      skip = { credential: credential.id, reason: 'unknown age', detail: `— ${why}, or pass --due-unknown`, facts };
    } else {
      skip = { credential: credential.id, reason: state === 'no-policy' ? 'no maxAge' : 'not due', facts };
    }
    skipped.set(credential.id, skip);
    on.skipped?.(skip);
  };
  await credentialAges(credentials, { history, openStores: storeOpener(config) }, 8, classify);
  // In the config's order, whatever order the stores answered in.
  return {
    due: credentials.filter((c) => due.has(c.id)),
    skipped: credentials.flatMap((c) => (skipped.has(c.id) ? [skipped.get(c.id)!] : [])),
    dueAt: dueAts,
  };
}

/** One exit code for several credentials: an internal error, then an environment fault, a failure, bad input, a refusal. */
function worstCode(codes: readonly number[]): number {
  for (const code of [ExitCode.internal, ExitCode.environment, ExitCode.failed, ExitCode.badInput, ExitCode.refused]) if (codes.includes(code)) return code;
  return codes.length === 0 ? ExitCode.done : ExitCode.failed;
}

/** What a notification says of a run (notifyOutcomes): masks and fingerprints, never a value. */
type Told = Pick<RunSummary, 'run' | 'error' | 'hint' | 'oldFingerprint' | 'newFingerprint' | 'oldMask' | 'newMask'>;

function toldOf(summary: RunSummary): Told {
  const { run, error, hint, oldFingerprint, newFingerprint, oldMask, newMask } = summary;
  return { run, error, hint, oldFingerprint, newFingerprint, oldMask, newMask };
}

/**
 * Tell the `notify:` channels what this pass did: a failure for each credential that failed, a reminder (with the
 * runbook's dashboard steps and the `rekey drill` command) for each due one that needs a person, `overdue` for a due
 * credential a live run's lock kept from rotating, and a success for each rotated one (sent only to channels that
 * list `success`). Messages are built from the outcomes and the runs' summaries: masks and fingerprints, no value.
 */
async function notifyOutcomes(
  channels: readonly NotifyChannelConfig[],
  outcomes: readonly Outcome[],
  told: ReadonlyMap<string, { summary?: Told | undefined; message?: string; hint?: string | undefined; runbook?: Runbook }>,
  dueAt: ReadonlyMap<string, Date | undefined>,
  credentials: Config['credentials'],
  report: (delivery: import('../notify/index.js').Delivery) => void,
): Promise<void> {
  const [notify, { render }] = await Promise.all([import('../notify/index.js'), import('../runbook/template.js')]);
  const notifier = notify.createNotifier(channels, { env: process.env, report });
  for (const o of outcomes) {
    const facts = told.get(o.credential) ?? {};
    const summary = facts.summary;
    const due = dueAt.get(o.credential)?.toISOString();
    const keys = {
      fingerprints: { old: summary?.oldFingerprint, new: summary?.newFingerprint },
      masks: { old: summary?.oldMask, new: summary?.newMask },
    };
    if (o.outcome === 'failed') {
      notifier.send(
        notify.failureMessage({
          credential: o.credential,
          run: o.run ?? summary?.run,
          reason: o.reason,
          error: facts.message ?? summary?.error,
          hint: facts.hint ?? summary?.hint,
          next: o.next,
          dueAt: due,
          ...(summary === undefined ? {} : keys),
        }),
      );
    } else if (o.outcome === 'reminded' && facts.runbook !== undefined) {
      const credential = credentials.get(o.credential)!;
      notifier.send(
        notify.reminderMessage({
          credential: o.credential,
          title: facts.runbook.title,
          dueAt: due,
          steps: personSteps(facts.runbook, credential, render),
        }),
      );
    } else if (o.outcome === 'skipped' && o.reason === 'locked' && dueAt.has(o.credential)) {
      notifier.send(notify.overdueMessage({ credential: o.credential, dueAt: due, why: `locked ${o.detail ?? ''}`.trim(), run: o.run }));
    } else if (o.outcome === 'rotated') {
      notifier.send(notify.successMessage({ credential: o.credential, run: o.run, ...keys }));
    }
  }
  await notifier.settle();
}

/**
 * A runbook's steps for a person (its prompts), with their instructions rendered from the credential's inputs. A
 * template that needs a key (`{{ old }}`, `{{ new }}`) is not rendered: the step is named without its words.
 */
function personSteps(
  runbook: Runbook,
  credential: CredentialConfig,
  renderTemplate: typeof import('../runbook/template.js').render,
): import('../notify/index.js').PersonStep[] {
  const vars = { inputs: credential.inputs, run: { id: '', since: '', started: '' }, credential: credential.id };
  const rendered = (template: string | undefined, render: (t: string) => { text: string; secret: boolean }) => {
    if (template === undefined) return undefined;
    try {
      const out = render(template);
      return out.secret ? undefined : out.text;
    } catch {
      return undefined;
    }
  };
  return [...runbook.generate, ...runbook.verify, ...runbook.revoke, ...runbook.verifyRevoked, ...runbook.audit].flatMap((step) =>
    step.kind === 'prompt'
      ? [
          {
            name: step.name,
            instructions: rendered(step.message, (t) => renderTemplate(t, vars)),
            url: rendered(step.url, (t) => renderTemplate(t, vars)),
          },
        ]
      : [],
  );
}

/**
 * A sink for --audit-stdout: the run's lines for people go to `text` (on stderr), and each audit record, as written
 * (hash, prev and seal included), is one NDJSON line on stdout, stamped with its credential, run and time.
 */
function auditOnStdout(
  text: import('../contract/events.js').EventSink,
  credential: string,
  ndjsonLine: typeof import('../ui/sink.js').ndjsonLine,
): import('../contract/events.js').EventSink {
  return {
    emit(event) {
      if (event.event === 'audit.record') process.stdout.write(ndjsonLine(event, { credential, run: event.run }));
      text.emit(event);
    },
  };
}
