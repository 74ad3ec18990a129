/**
 * `rekey rotate [<credential>…] [--due]`: unattended rotation for cron, CronJobs and CI schedules.
 * Credentials rotate with bounded concurrency; a credential whose runbook needs a person (and has no answers)
 * is not failed but reminded. Exit 0 when every due credential rotated or was reminded, 1 when one failed, 3 when
 * one was refused (locked by another run) and none failed.
 */
import type { Config, CredentialConfig } from '../config/types.js';
import type { LastRuns } from '../engine/history.js';
import { ExitCode, InputError } from '../contract/errors.js';
import { credentialOf, interactionFor, openConfig, rotateCredential, type CommandInput, type Globals } from './common.js';

export default async function rotate(input: CommandInput, globals: Globals): Promise<number> {
  const config = await openConfig(globals);
  const ids = (input.args[0] as string[] | undefined) ?? [];
  const due = input.options['due'] === true;
  if (ids.length === 0 && !due)
    throw new InputError('name the credentials to rotate, or pass --due', undefined, `credentials: ${[...config.credentials.keys()].join(', ')}`);
  const concurrency = Number(input.options['concurrency'] ?? 4);
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new InputError('--concurrency must be a whole number of at least 1');
  const json = globals.json === true;
  const { createSink } = await import('../ui/sink.js');
  const { loadRunbook } = await import('../runbook/load.js');
  const { lastRunsOf } = await import('../engine/history.js');
  const { needsPerson } = await import('../contract/runbook.js');
  const sink = createSink(json);

  let selected: CredentialConfig[] = ids.length > 0 ? ids.map((id) => credentialOf(config, id)) : [...config.credentials.values()];
  // Every journal read once, before any run of this command starts: a fleet's --due stays one pass over the history.
  const history = lastRunsOf(
    config.stateDir,
    selected.map((credential) => credential.id),
  );
  if (due) selected = await dueSelection(config, selected, history, input.options['dueUnknown'] === true, json);

  const hasAnswers = typeof input.options['answers'] === 'string';
  // Exit codes of the credentials that did not finish done: a refusal (locked by another run) is 3, not a failure.
  const codes: number[] = [];
  const queue = [...selected];
  const worker = async () => {
    for (let credential = queue.shift(); credential !== undefined; credential = queue.shift()) {
      const runbook = await loadRunbook(credential.runbookFile);
      const human = [...runbook.generate, ...runbook.verify, ...runbook.revoke, ...runbook.verifyRevoked, ...runbook.audit].some(needsPerson);
      if (human && !hasAnswers) {
        const { lastDone } = history.get(credential.id)!;
        const dueDate =
          lastDone?.finishedAt === undefined || credential.maxAgeMs === undefined
            ? 'now'
            : new Date(Date.parse(lastDone.finishedAt) + credential.maxAgeMs).toISOString().slice(0, 10);
        emitLine(
          json,
          { event: 'reminder', credential: credential.id, reason: 'needs a person (dashboard step)', due: dueDate },
          `${credential.id}: needs a person (dashboard step) — run \`rekey drill ${credential.id}\` (due ${dueDate})`,
        );
        continue;
      }
      const interaction = await interactionFor(input.options, sink, false);
      try {
        const { code } = await rotateCredential({ config, credential, mode: 'scheduled', sink, interaction, json, dryRun: input.options['dryRun'] === true });
        if (code !== ExitCode.done) codes.push(code);
      } catch (error) {
        // One credential's refusal (locked elsewhere) or bad answers must not stop the others.
        const { reportError } = await import('./report-error.js');
        codes.push(reportError(error, json));
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, Math.max(1, queue.length)) }, worker));
  return worstCode(codes);
}

/**
 * The credentials `--due` rotates: age known (from the stores, else policy.lastRotated or the journal; src/engine/age.ts)
 * and at least maxAge. An unknown age is skipped as "unknown age" unless `--due-unknown`; no maxAge is never due.
 */
async function dueSelection(
  config: Config,
  credentials: readonly CredentialConfig[],
  history: ReadonlyMap<string, LastRuns>,
  dueUnknown: boolean,
  json: boolean,
): Promise<CredentialConfig[]> {
  const [{ credentialAges, dueness, settleUnknown }, { storeOpener }] = await Promise.all([import('../engine/age.js'), import('./stores.js')]);
  const ages = await credentialAges(credentials, { history, openStores: storeOpener(config) });
  return credentials.filter((credential) => {
    const age = ages.get(credential.id)!;
    const { state, dueAt } = dueness(age, credential.maxAgeMs);
    const facts = { ageSource: age.source, ageFrom: age.from, writtenAt: age.writtenAt?.toISOString(), dueAt: dueAt?.toISOString() };
    if (state === 'due' || (state === 'unknown' && dueUnknown)) return true;
    if (state === 'unknown') {
      const faults = age.notes.filter((note) => note.fault).map((note) => `${note.from}: ${note.problem}`);
      const why = faults.length > 0 ? `the stores did not say (${faults.join('; ')})` : settleUnknown(credential.id);
      emitLine(
        json,
        { event: 'skipped', credential: credential.id, reason: 'unknown age', detail: why, ...facts },
        `${credential.id}: unknown age — ${why}, or pass --due-unknown`,
      );
    } else if (state === 'no-policy')
      emitLine(json, { event: 'skipped', credential: credential.id, reason: 'no maxAge', ...facts }, `${credential.id}: not due (no policy.maxAge)`);
    else emitLine(json, { event: 'skipped', credential: credential.id, reason: 'not due', ...facts }, `${credential.id}: not due`);
    return false;
  });
}

/** One exit code for several credentials: an internal error, then an environment fault, a failure, bad input, a refusal. */
function worstCode(codes: readonly number[]): number {
  for (const code of [ExitCode.internal, ExitCode.environment, ExitCode.failed, ExitCode.badInput, ExitCode.refused]) if (codes.includes(code)) return code;
  return codes.length === 0 ? ExitCode.done : ExitCode.failed;
}

function emitLine(json: boolean, event: Record<string, unknown>, text: string): void {
  process.stdout.write(json ? `${JSON.stringify(event)}\n` : `${text}\n`);
}
