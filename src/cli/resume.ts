/** `rekey resume <run>`: continue a run from its journal; each step checks the real state before acting. */
import { credentialOf, runStart, interactionFor, openConfig, rotateCredential, type CommandInput, type Globals } from './common.js';

export default async function resume(input: CommandInput, globals: Globals): Promise<number> {
  const config = await openConfig(globals);
  const run = String(input.args[0]);
  const first = await runStart(config, run);
  const credential = credentialOf(config, first.credential);
  const json = globals.json === true;
  const { createSink } = await import('../ui/sink.js');
  const inner = createSink(json);
  const interaction = await interactionFor(input.options, inner, first.mode === 'drill' || first.mode === 'incident');
  // An incident run shows its own lines (the old key proven dead) on resume too.
  const sink = first.mode === 'incident' ? await (await import('./incident.js')).incidentSink(inner, json) : inner;
  const since = first.since === undefined ? undefined : new Date(first.since);
  return (
    await rotateCredential({
      config,
      credential,
      mode: first.mode,
      sink,
      interaction,
      json,
      resume: run,
      ...(since ? { since } : {}),
      mintAgain: input.options['mintAgain'] === true,
    })
  ).code;
}
