/**
 * `rekey incident <credential> --since <time> [--revoke-first]`: the leak job. The shortest time until the leaked key
 * is proven dead, then where it leaked and what it did. It is the drill (the same checks of every store and dry read of
 * the old value, the same screen, prompts and answers file) in run mode `incident`:
 *  - `--since` (required) starts the audit window (`{{ run.since }}` in runbook audit steps); a bad or future time is
 *    refused (exit 2) before anything starts;
 *  - `--revoke-first` (the one exception to I2, docs/design.md#i2-no-early-revoke) revokes and proves the old key dead right after the new key is
 *    staged, before roll out and verify; the order is journaled, so `rekey resume` keeps it, and `rekey rollback`
 *    refuses such a run once the revoke began;
 *  - the moment the old key is proven dead is printed, emitted as an `old.dead` event and put in the report;
 *  - the leak search (src/leak-search/) finds the old value in the working tree and the git history of the
 *    repository around rekey.yaml, by value, in memory, and reports locations only;
 *  - the screen and the report end with the responder's checklist (src/report/checklist.ts).
 */
import type { CredentialConfig } from '../config/types.js';
import type { EngineEvent, EventSink } from '../contract/events.js';
import type { Runbook } from '../contract/runbook.js';
import type { RunSummary } from '../engine/summary.js';
import { credentialOf, openConfig, type CommandInput, type Globals } from './common.js';

export default async function incident(input: CommandInput, globals: Globals): Promise<number> {
  // --since first: a bad or future time is refused before the config is read or anything starts.
  const [{ parseSince }, { localTime, span }] = await Promise.all([import('../engine/incident.js'), import('../util/time.js')]);
  const now = new Date();
  const since = parseSince(String(input.options['since'] ?? ''), now);
  let revokeFirst = input.options['revokeFirst'] === true;

  const { withBudget, drillInteraction, runDrill } = await import('./drill.js');
  const config = await openConfig(globals);
  const credential = withBudget(credentialOf(config, String(input.args[0])), input.options['budget']);
  const { loadRunbook } = await import('../runbook/load.js');
  const runbook = await loadRunbook(credential.runbookFile);
  const json = globals.json === true;
  const { sink: inner, interaction } = await drillInteraction({ answers: input.options['answers'], json });
  const sink = await incidentSink(inner, json);
  if (json) {
    (sink as { emit(event: EngineEvent | IncidentStarted): void }).emit({
      event: 'incident.started',
      credential: credential.id,
      since: since.toISOString(),
      revokeFirst,
    });
  } else {
    const { styler } = await import('../ui/style.js');
    const s = styler(process.stdout);
    process.stdout.write(
      `${s.red(s.bold('INCIDENT'))} · ${s.bold(credential.id)} · leaked since ${localTime(since, now)} (${span(now.getTime() - since.getTime())} ago)\n`,
    );
  }
  // Time to dead first: where the runbook can revoke early, say what that costs and ask (a terminal), or say it exists.
  const offer = revokeFirst ? undefined : revokeFirstOffer(runbook, credential);
  if (offer !== undefined) {
    const terminal = !json && typeof input.options['answers'] !== 'string' && interaction.canAsk && process.stdout.isTTY === true;
    if (terminal) {
      process.stdout.write(`${offer.join('\n')}\n`);
      revokeFirst = await interaction.confirm('revoke-first', 'Revoke the old key first (--revoke-first)?');
      process.stdout.write(
        revokeFirst
          ? '   revoke first: the old key is revoked right after the new one is staged\n\n'
          : '   the safe order: roll out and verify, then revoke\n\n',
      );
    } else {
      inner.emit({
        event: 'note',
        level: 'info',
        message:
          'the safe order: roll out and verify, then revoke. `--revoke-first` revokes the old key right after the new one is staged, so it is ' +
          'dead sooner, but consumers still on it fail until roll out is done, and there is no rollback once the revoke began',
      });
    }
  }

  const { code, summary } = await runDrill({ config, credential, runbook, mode: 'incident', sink, interaction, json, since, revokeFirst });
  if (!json && summary !== undefined) await printChecklist(summary);
  return code;
}

/**
 * The incident screen ends as its report does: with the responder's checklist (--json has the report's path instead).
 * (`rekey resume` of an incident run prints it too.)
 */
export async function printChecklist(summary: RunSummary): Promise<void> {
  const [{ checklistLines, responderChecklist }, { redactor }] = await Promise.all([import('../report/checklist.js'), import('../contract/redactor.js')]);
  const lines = checklistLines(responderChecklist(summary));
  if (lines.length > 0) process.stdout.write(`\n${redactor.scrub(lines.join('\n'))}\n`);
}

/**
 * What `--revoke-first` costs, in the runbook's own terms, for the person deciding: undefined where it changes nothing
 * (overlap none: the mint is the revoke) or the runbook has no revoke step to move.
 */
export function revokeFirstOffer(runbook: Runbook, credential: CredentialConfig): string[] | undefined {
  if (runbook.overlap === 'none' || runbook.revoke.length === 0) return undefined;
  const consumers = credential.rollout.map((hook) => hook.name);
  const meanwhile =
    runbook.overlap === 'expiring'
      ? 'the old key expires at once instead of after its overlap'
      : 'both keys work until the revoke, so nothing breaks in the safe order';
  return [
    `   Time to dead: in the safe order the old key stays live until the new one is rolled out and verified (${meanwhile}).`,
    '   --revoke-first revokes it right after the new key is minted and staged, before roll out. What that costs:',
    `   - from the revoke until roll out and verify are done, everything still on the old key fails${
      consumers.length === 0 ? '' : ` (until ${consumers.join(', ')} ${consumers.length === 1 ? 'has' : 'have'} run)`
    }: an outage;`,
    '   - once the revoke began there is no rollback: a failure is fixed forward with `rekey resume`, never undone.',
  ];
}

type IncidentStarted = { event: 'incident.started'; credential: string; since: string; revokeFirst: boolean };

/**
 * The sink of an incident run: the engine's own events as usual, and the incident's on the text screen:
 * `old key …9f2c proven dead at 17:03:31 (1:02 after start)`. With --json every event passes through as NDJSON.
 * (`rekey resume` of an incident run uses it too.)
 */
export async function incidentSink(inner: EventSink, json: boolean): Promise<EventSink> {
  if (json) return inner;
  const [{ styler }, { formatClock, localTime }, { findingLine, leakFindings }] = await Promise.all([
    import('../ui/style.js'),
    import('../util/time.js'),
    import('../leak-search/index.js'),
  ]);
  const s = styler(process.stdout);
  const line = (text: string) => {
    const printer = inner as EventSink & { line?: (text: string) => void };
    if (typeof printer.line === 'function') printer.line(text);
    else process.stdout.write(`${text}\n`);
  };
  // The leak search's findings, ranked, shown under its step's line: worst first, each with what to do.
  let ranked: string[] = [];
  return {
    emit(event: EngineEvent): void {
      if (event.event === 'old.dead') {
        const at = new Date(event.at);
        const how =
          event.basis === 'pre-run'
            ? ' · already rejected at the pre-run check: it was revoked before this run'
            : event.basis === 'mint'
              ? ' · right after the mint, the new key accepted as a control'
              : event.control === 'accepted'
                ? ' · the new key accepted as a control'
                : '';
        line(
          `   ${s.green(s.bold(`old key ${event.mask ?? event.fingerprint ?? ''} proven dead`))} at ${localTime(at, new Date(), true)} ` +
            `(${formatClock(event.afterStartMs)} after start)${how}`,
        );
        return;
      }
      if (event.event === 'leak.search') {
        // The step's own line says the summary; the ranked places follow it.
        ranked = 'notSearched' in event.leak ? [] : leakFindings(event.leak).map((f) => `      ${s.bold(findingLine(f))} · to do: ${f.todo}`);
        return;
      }
      inner.emit(event);
      if (event.event === 'step.done' && event.step === 'leak-search') {
        for (const text of ranked) line(text);
        ranked = [];
      }
    },
  };
}
