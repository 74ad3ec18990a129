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
 *    repository around rekey.yaml, by value, in memory, and reports locations only.
 */
import type { EngineEvent, EventSink } from '../contract/events.js';
import { credentialOf, openConfig, type CommandInput, type Globals } from './common.js';

export default async function incident(input: CommandInput, globals: Globals): Promise<number> {
  // --since first: a bad or future time is refused before the config is read or anything starts.
  const [{ parseSince }, { localTime, span }] = await Promise.all([import('../engine/incident.js'), import('../util/time.js')]);
  const now = new Date();
  const since = parseSince(String(input.options['since'] ?? ''), now);
  const revokeFirst = input.options['revokeFirst'] === true;

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
  return (await runDrill({ config, credential, runbook, mode: 'incident', sink, interaction, json, since, revokeFirst })).code;
}

type IncidentStarted = { event: 'incident.started'; credential: string; since: string; revokeFirst: boolean };

/**
 * The sink of an incident run: the engine's own events as usual, and the incident's on the text screen:
 * `old key …9f2c proven dead at 17:03:31 (1:02 after start)`. With --json every event passes through as NDJSON.
 * (`rekey resume` of an incident run uses it too.)
 */
export async function incidentSink(inner: EventSink, json: boolean): Promise<EventSink> {
  if (json) return inner;
  const [{ styler }, { formatClock, localTime }] = await Promise.all([import('../ui/style.js'), import('../util/time.js')]);
  const s = styler(process.stdout);
  const line = (text: string) => {
    const printer = inner as EventSink & { line?: (text: string) => void };
    if (typeof printer.line === 'function') printer.line(text);
    else process.stdout.write(`${text}\n`);
  };
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
      if (event.event === 'leak.search') return; // the leak search step's own line says it
      inner.emit(event);
    },
  };
}
