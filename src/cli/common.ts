/** Wiring shared by the commands: config, credential lookup, interaction, and one rotation end to end. */
import type { Config, CredentialConfig } from '../config/types.js';
import type { Mode } from '../contract/run.js';
import type { RunSummary } from '../engine/run.js';
import type { Interaction } from '../contract/steps.js';
import type { EventSink } from '../contract/events.js';
import { ExitCode, InputError, RotationFailedError } from '../contract/errors.js';
import { nearest } from '../util/suggest.js';

export interface CommandInput {
  readonly args: readonly unknown[];
  readonly options: Readonly<Record<string, unknown>>;
}

export interface Globals {
  readonly config?: string;
  readonly json?: boolean;
}

/** Load the config named by --config or found in the working directory. */
export async function openConfig(globals: Globals): Promise<Config> {
  const { openConfig: open } = await import('./open-config.js');
  return open(globals);
}

/** The first record of a run's journal, which names its credential and mode; refused when there is none. */
export async function runStart(config: Config, run: string): Promise<import('../engine/journal.js').JournalRecord & { type: 'run.started' }> {
  const { readJournal } = await import('../engine/journal.js');
  const first = readJournal(config.stateDir, run)[0];
  // An id that names no run is a mistyped argument: bad input (2), not a refusal (3) of a run that exists.
  if (first === undefined || first.type !== 'run.started')
    throw new InputError(
      `no run ${run} in ${config.stateDir}`,
      undefined,
      'see `rekey log` for run ids; a run another machine started, whose key a store holds staged, is finished with `rekey resume <run> --from-stores`',
    );
  return first;
}

/** A credential by id, with the nearest id suggested for a typo. */
export function credentialOf(config: Config, id: string): CredentialConfig {
  const credential = config.credentials.get(id);
  if (credential !== undefined) return credential;
  const suggestion = nearest(id, config.credentials.keys());
  throw new InputError(
    `no credential "${id}" in ${config.file}`,
    undefined,
    suggestion !== undefined ? `did you mean "${suggestion}"?` : `credentials: ${[...config.credentials.keys()].join(', ') || '(none)'}`,
  );
}

/** The interaction for a command: answers file first, then the terminal, else nobody. */
export async function interactionFor(options: Readonly<Record<string, unknown>>, sink: EventSink, allowTerminal: boolean): Promise<Interaction> {
  const { answersInteraction, noInteraction, terminalInteraction } = await import('../ui/interaction.js');
  const fallback = allowTerminal ? terminalInteraction(sink) : noInteraction();
  const answers = options['answers'];
  return typeof answers === 'string' ? answersInteraction(answers, sink, fallback) : fallback;
}

/** Run one rotation (or resume one), print its timeline, and return the exit code. */
export async function rotateCredential(args: {
  config: Config;
  credential: CredentialConfig;
  mode: Mode;
  sink: EventSink;
  interaction: Interaction;
  json: boolean;
  resume?: string;
  since?: Date;
  mintAgain?: boolean;
  dryRun?: boolean;
  /** Rotate even inside the short window after the last rotation (src/engine/recent.ts). */
  allowRecent?: boolean;
  /** Put before every line of the timeline chart: a run among several (`rotate` of a fleet) names its credential. */
  linePrefix?: string;
  /** false: leave SIGINT to the caller (the programmatic API: a library must not exit its host's process). */
  handleInterrupt?: boolean;
  /** Where the timeline chart goes (default stdout; stderr when stdout carries only audit records). */
  out?: NodeJS.WriteStream;
}): Promise<{ code: number; summary: RunSummary | undefined }> {
  const [{ executeRun }, { loadRunbook }, { writeReport }, { storeOpener }] = await Promise.all([
    import('../engine/run.js'),
    import('../runbook/load.js'),
    import('../report/report.js'),
    import('./stores.js'),
  ]);
  const runbook = await loadRunbook(args.credential.runbookFile);
  // An answers file that cannot answer every step a person would take is refused (exit 2) before a lock or a journal
  // exists, as `drill` does, instead of failing the run half-way at that step.
  // A dry run asks nothing, so it needs no answers (as `drill --dry-run`).
  if (args.resume === undefined && args.dryRun !== true && 'problem' in args.interaction) {
    const { ensureAnswerable } = await import('./answers-check.js');
    ensureAnswerable(runbook, args.interaction, args.mode === 'rehearsal');
  }
  let summary: RunSummary | undefined;
  let code: number = ExitCode.done;
  const { sink, stop } = args.handleInterrupt === false ? { sink: args.sink, stop: () => {} } : onInterrupt(args.sink);
  try {
    summary = await executeRun({
      config: args.config,
      credential: args.credential,
      runbook,
      mode: args.mode,
      interaction: args.interaction,
      sink,
      openStores: storeOpener(args.config),
      ...(args.resume === undefined ? {} : { resume: args.resume }),
      ...(args.since === undefined ? {} : { since: args.since }),
      ...(args.mintAgain === true ? { mintAgain: true } : {}),
      ...(args.dryRun === true ? { dryRun: true } : {}),
      ...(args.allowRecent === true ? { allowRecent: true } : {}),
      writeReport: (s) => writeReport(args.config.stateDir, s),
    });
  } catch (error) {
    if (!(error instanceof RotationFailedError)) throw error;
    summary = (error as RotationFailedError & { summary?: RunSummary }).summary;
    if (summary === undefined) throw error;
    // Failed (1), or a fault of the environment that stopped the run (5).
    code = (error as { exitCode?: number }).exitCode ?? ExitCode.failed;
  } finally {
    stop();
  }
  if (code === ExitCode.done && (await import('../engine/summary.js')).openFindings(summary).length > 0) code = ExitCode.findings;
  if (!args.json) await printTimeline(summary, args.linePrefix, args.out);
  return { code, summary };
}

/**
 * The timeline chart on screen after a run: the drill's chart (outage window, totals against the budget). With a
 * prefix (one run among several), every line carries it and the blank lines go, as in the sink's prefixed lines.
 */
export async function printTimeline(summary: RunSummary, prefix?: string, out: NodeJS.WriteStream = process.stdout): Promise<void> {
  const [{ timelineChart }, { styler }] = await Promise.all([import('../report/timeline.js'), import('../ui/style.js')]);
  const lines = timelineChart({ ...summary, report: undefined }, styler(out), 40, out.columns || 80);
  if (lines.length === 0) return;
  if (prefix === undefined) out.write(`\n${lines.join('\n')}\n`);
  else
    out.write(
      lines
        .flatMap((line) =>
          line
            .split('\n')
            .filter((l) => l.trim() !== '')
            .map((l) => `${prefix}${l}\n`),
        )
        .join(''),
    );
}

/** Where a run stands, for the interrupt message: its credential and id once started, the step, the outage window. */
interface RunWhere {
  credential?: string;
  run?: string;
  step?: string;
  outage: boolean;
  /** The outage window is open on the provider's word (the old key seen rejected), not only counted from a prompt. */
  outageSeen?: boolean;
  /** Overlap none, and the step that mints the new key (and with it kills the old one) has started and not ended. */
  minting?: boolean;
  overlapNone?: boolean;
}

/** The runs under way in this process (`rotate` runs several at once), for the one SIGINT handler. */
const underWay = new Set<RunWhere>();

/**
 * Ctrl-C while rekey works (a prompt reads it as a key, and says so itself): every step done so far is in the
 * journal, so stop at once (exit 130) and say where each run under way stands and how to go on. One handler for the
 * process, registered while a run is under way: one per run would pass Node's limit of ten listeners (a
 * MaxListenersExceededWarning) when `rotate --concurrency` runs eleven at once, and would print its message once per
 * run. Returns the sink to give the run (it watches the run's events), and `stop()` to call when the run ends.
 */
export function onInterrupt(inner: EventSink): { sink: EventSink; stop: () => void } {
  const where: RunWhere = { outage: false };
  const sink: EventSink = {
    emit(event) {
      if (event.event === 'run.started') {
        where.run = event.run;
        where.credential = event.credential;
        where.overlapNone = event.overlap === 'none';
      } else if (event.event === 'step.started') {
        where.step = event.name;
        if (event.step === 'mint') where.minting = true;
      } else if (event.event === 'step.done' || event.event === 'step.failed') {
        if (event.step === 'mint') where.minting = false;
      } else if (event.event === 'outage.started') {
        where.outage = true;
        where.outageSeen = event.basis !== 'prompt';
      } else if (event.event === 'outage.ended') where.outage = false;
      inner.emit(event);
    },
  };
  if (underWay.size === 0) process.on('SIGINT', interrupted);
  underWay.add(where);
  const stop = () => {
    if (underWay.delete(where) && underWay.size === 0) process.off('SIGINT', interrupted);
  };
  return { sink, stop };
}

const OUTAGE_OPEN = 'The outage window is still open: the old key is dead and the new one is not rolled out everywhere yet.';

/** The truth about the outage at the moment of an interruption, for one run (empty when there is none). */
function outageWords(where: RunWhere): string {
  // At the dashboard prompt of overlap none, unless the provider was seen rejecting the old key, only the person knows
  // whether they clicked: say what follows either way.
  if (where.overlapNone === true && where.minting === true && where.outageSeen !== true)
    return (
      ' If you already requested the new key in the dashboard, the old key is dead and the outage window is open: ' +
      'resume at once and paste that key (do not request another). If you did not, nothing changed.'
    );
  return where.outage ? ` ${OUTAGE_OPEN}` : '';
}

function interrupted(): void {
  const runs = [...underWay];
  if (runs.length === 1) {
    const where = runs[0]!;
    const step = where.step === undefined ? '' : ` during "${where.step}"`;
    const outage = outageWords(where);
    const next = where.run === undefined ? 'nothing was started' : `continue with \`rekey resume ${where.run}\``;
    process.stderr.write(`\ninterrupted${step}; every step done so far is in the journal.${outage} Next: ${next}\n`);
  } else {
    // Several runs at once: one line each, naming its credential, so none is left without its resume command.
    const lines = runs.map((where) => {
      const step = where.step === undefined ? '' : ` during "${where.step}"`;
      const next = where.run === undefined ? 'nothing was started' : `continue with \`rekey resume ${where.run}\``;
      const words = outageWords(where);
      const outage = words === '' ? '' : ` (${words.trim()})`;
      return `  ${where.credential ?? '(starting)'}: interrupted${step}${outage}; ${next}\n`;
    });
    process.stderr.write(`\ninterrupted ${runs.length} runs; every step done so far is in the journal. Next:\n${lines.join('')}`);
  }
  process.exit(ExitCode.interrupted);
}
