/**
 * `rekey drill <credential>`: a timed rotation with a person at the keyboard. Before anything is minted every store is
 * checked and the old value read; then one screen walks the five phases with a running clock against the budget, the
 * current step's instructions and dashboard URL, and (overlap none) a live outage-window timer; at the end, the
 * timeline chart (the person's time and rekey's), the outage window, the totals against the budget and the report.
 * `rekey rehearse --runbook <name>` runs the same drill against the sandbox (see rehearse.ts), and `rekey incident` runs
 * it in incident mode (see incident.ts).
 */
import type { Config, CredentialConfig } from '../config/types.js';
import type { Mode } from '../contract/run.js';
import type { RunSummary } from '../engine/run.js';
import type { Interaction } from '../contract/steps.js';
import type { Runbook } from '../contract/runbook.js';
import type { EngineEvent, EventSink } from '../contract/events.js';
import type { RehearsalActor } from '../ui/interaction.js';
import { ExitCode, InputError, RotationFailedError } from '../contract/errors.js';
import { durationProblem, parseDuration } from '../util/duration.js';
import { formatSeconds } from '../util/time.js';
import { credentialOf, openConfig, type CommandInput, type Globals } from './common.js';
import { ensureAnswerable } from './answers-check.js';
import { checkStores } from './check.js';

export default async function drill(input: CommandInput, globals: Globals): Promise<number> {
  const config = await openConfig(globals);
  const credential = withBudget(credentialOf(config, String(input.args[0])), input.options['budget']);
  const { loadRunbook } = await import('../runbook/load.js');
  const runbook = await loadRunbook(credential.runbookFile);
  const json = globals.json === true;
  const { sink, interaction } = await drillInteraction({ answers: input.options['answers'], json });
  const dryRun = input.options['dryRun'] === true;
  const allowRecent = input.options['allowRecent'] === true;
  const flags = { ...(dryRun ? { dryRun } : {}), ...(allowRecent ? { allowRecent } : {}) };
  return (await runDrill({ config, credential, runbook, mode: 'drill', sink, interaction, json, ...flags })).code;
}

/** The credential with `--budget` applied. */
export function withBudget(credential: CredentialConfig, budget: unknown): CredentialConfig {
  const budgetMs = budgetOption(budget);
  return budgetMs === undefined ? credential : { ...credential, budgetMs };
}

/** `--budget` in milliseconds, undefined when it is not given; anything but a positive duration is bad input (exit 2). */
export function budgetOption(budget: unknown): number | undefined {
  if (typeof budget !== 'string') return undefined;
  const budgetMs = parseDuration(budget);
  if (budgetMs === undefined || budgetMs <= 0)
    throw new InputError(`--budget ${budget}: ${durationProblem(budget) ?? 'expected a duration such as 5m or 120s'}`);
  return budgetMs;
}

/** The sink and the interaction of a drill: answers file first, then the terminal, with the live clock on prompts. */
export async function drillInteraction(args: {
  answers: unknown;
  json: boolean;
  rehearsal?: RehearsalActor;
}): Promise<{ sink: EventSink; interaction: Interaction }> {
  const [{ createSink, TextSink }, { answersInteraction, terminalInteraction }] = await Promise.all([import('../ui/sink.js'), import('../ui/interaction.js')]);
  const sink = createSink(args.json);
  const status = sink instanceof TextSink && sink.live ? () => sink.status() : undefined;
  // With --json, stdout carries NDJSON: prompts go to stderr.
  const terminal = terminalInteraction(sink, { status, rehearsal: args.rehearsal, out: args.json ? process.stderr : process.stdout });
  const interaction = typeof args.answers === 'string' ? await answersInteraction(args.answers, sink, terminal, { rehearsal: args.rehearsal }) : terminal;
  return { sink, interaction };
}

/** Check the stores, run the rotation, and draw the end of the drill. Shared by `drill` and `rehearse --runbook`. */
export async function runDrill(args: {
  config: Config;
  credential: CredentialConfig;
  runbook: Runbook;
  mode: Mode;
  sink: EventSink;
  interaction: Interaction;
  json: boolean;
  /** Incident: start of the audit window (when the leak began). */
  since?: Date;
  /** Incident: revoke the old key before roll out (see RunOptions.revokeFirst). */
  revokeFirst?: boolean;
  /**
   * The engine's dry run (RunOptions.dryRun), as `rotate --dry-run`: the stores are checked and read and the provider
   * checks the old key; every other step, the person's included, is shown as "would …" and not run or asked.
   */
  dryRun?: boolean;
  /** Drill even inside the short window after the last rotation (src/engine/recent.ts). */
  allowRecent?: boolean;
}): Promise<{ code: number; summary: RunSummary | undefined }> {
  const { config, credential, runbook, sink, json } = args;
  // A pattern given as an input must be a valid expression before anyone requests a key.
  const { secretPattern } = await import('../contract/runbook.js');
  secretPattern(runbook, credential.inputs);
  // An answers file for this one runbook: a step id it does not have is a typo (rotate may share a file, so not there).
  (args.interaction as Partial<import('../ui/interaction.js').AnswersInteraction>).refuseUnknownSteps?.(runbook);
  // A dry run asks nobody anything: it needs neither a terminal nor answers (the key to paste does not exist yet).
  if (args.dryRun !== true) ensureAnswerable(runbook, args.interaction, args.mode === 'rehearsal');

  // A drill never mints a key it cannot roll out: every store is read and checked first.
  const started = performance.now();
  const notes: EngineEvent[] = [];
  const checked = await checkStores(config, [credential], json ? sink : { emit: (event) => notes.push(event) }, json);
  if (!json) {
    if (checked === ExitCode.done) {
      const unknown = notes.filter((e) => e.event === 'note' && e.message.includes('write not checkable')).length;
      const n = credential.stores.length;
      process.stdout.write(
        `checks: ${n} store${n === 1 ? '' : 's'} readable${unknown === n ? '' : ' and writable'}` +
          `${unknown > 0 && unknown < n ? ` (${unknown} cannot tell writable without writing)` : ''}  ${formatSeconds(performance.now() - started)}\n\n`,
      );
    } else {
      for (const event of notes) sink.emit(event);
    }
  }
  if (checked !== ExitCode.done) return { code: checked, summary: undefined };

  const [{ executeRun }, { writeReport }, { storeOpener }] = await Promise.all([
    import('../engine/run.js'),
    import('../report/report.js'),
    import('./stores.js'),
  ]);
  let summary: RunSummary;
  let code: number = ExitCode.done;
  const { onInterrupt } = await import('./common.js');
  const interrupt = onInterrupt(sink);
  try {
    summary = await executeRun({
      config,
      credential,
      runbook,
      mode: args.mode,
      interaction: args.interaction,
      sink: interrupt.sink,
      openStores: storeOpener(config),
      ...(args.since === undefined ? {} : { since: args.since }),
      ...(args.revokeFirst === true ? { revokeFirst: true } : {}),
      ...(args.dryRun === true ? { dryRun: true } : {}),
      ...(args.allowRecent === true ? { allowRecent: true } : {}),
      writeReport: (s) => writeReport(config.stateDir, s),
    });
  } catch (error) {
    const failed = (error as RotationFailedError & { summary?: RunSummary }).summary;
    if (!(error instanceof RotationFailedError) || failed === undefined) throw error;
    summary = failed;
    code = ExitCode.failed;
  } finally {
    interrupt.stop();
  }
  // Rotated, but a person answered no to an audit check: activity to investigate (exit 6, as documented).
  if (code === ExitCode.done && (await import('../engine/summary.js')).openFindings(summary).length > 0) code = ExitCode.findings;
  if (!json) {
    const [{ timelineChart }, { styler }] = await Promise.all([import('../ui/sink.js'), import('../ui/style.js')]);
    // What to do next after a failure is on screen already: the sink prints the run's hint with its last line.
    const chart = timelineChart(summary, styler(process.stdout), 40, process.stdout.columns || 80);
    if (chart.length > 0) process.stdout.write(`\n${chart.join('\n')}\n`);
  }
  return { code, summary };
}
