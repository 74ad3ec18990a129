/** `rekey rollback <run>`: restore the previous value wherever the overlap allows it. */
import { ExitCode } from '../contract/errors.js';
import { credentialOf, runStart, interactionFor, openConfig, type CommandInput, type Globals } from './common.js';

export default async function rollback(input: CommandInput, globals: Globals): Promise<number> {
  const config = await openConfig(globals);
  const run = String(input.args[0]);
  const first = await runStart(config, run);
  const credential = credentialOf(config, first.credential);
  const json = globals.json === true;
  const [{ createSink }, { loadRunbook }, { rollbackRun }, { writeReport }, { storeOpener }] = await Promise.all([
    import('../ui/sink.js'),
    import('../runbook/load.js'),
    import('../engine/run.js'),
    import('../report/report.js'),
    import('./stores.js'),
  ]);
  const sink = createSink(json);
  const runbook = await loadRunbook(credential.runbookFile);
  const interaction = await interactionFor({}, sink, true);
  await rollbackRun({
    config,
    credential,
    runbook,
    mode: first.mode,
    sink,
    interaction,
    resume: run,
    openStores: storeOpener(config),
    writeReport: (s) => writeReport(config.stateDir, s),
  });
  return ExitCode.done;
}
