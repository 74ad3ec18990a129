/**
 * `rekey rehearse <credential>`: the drill of the person's own credential from rekey.yaml — its runbook's steps, its
 * prompts, its rollout hooks — with the provider played by the local sandbox and every store replaced by a throw-away
 * stand-in, so that the rehearsed timeline is the real one and nothing real is written or revoked.
 *
 * - The provider: the inputs the runbook's `rehearsal:` block points at the sandbox (its URL, its account) replace the
 *   credential's own; every `http` step must then reach the sandbox (checked before anything starts), the runbook may
 *   run no command of its own, and while the rehearsal runs this process can fetch nothing but the sandbox.
 * - The stores: each adapter's own stand-in (a `.env` is copied into the rehearsal's folder, holding the rehearsal's
 *   key instead of the real one), else the in-memory store seeded with that key. The real files a stand-in was copied
 *   from are compared byte for byte before and after.
 * - The rollout hooks run for real, as configured and in the config's folder: a `kubectl rollout restart` is most of
 *   a real outage. They are named before the run starts, see the rehearsal's key (`{{ new }}`), never the real one,
 *   and `--no-hooks` leaves them out.
 * - The journal, the audit log, the lock and the report go to the rehearsal's folder, which is removed at the end
 *   unless --keep, or kept (and named) when the rehearsal did not finish. Nobody is notified.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Config, CredentialConfig } from '../config/types.js';
import { InputError } from '../contract/errors.js';
import type { EventSink } from '../contract/events.js';
import { Secret } from '../contract/secret.js';
import { parseRef } from '../contract/store.js';
import { credentialOf, openConfig, type CommandInput, type Globals } from './common.js';
import {
  ACCOUNT,
  confineFetch,
  ensureDialects,
  generatedSeed,
  namesSandbox,
  rehearsalSink,
  rehearsedInputs,
  sandboxActor,
  sandboxMints,
  settleRehearsal,
} from './rehearsal-kit.js';

/** Where the sandbox will be, for the checks made before it starts: they only read where each step's URL leads. */
const PLACEHOLDER = 'http://127.0.0.1:1';

/** `rekey rehearse <credential>`: see the file's header. */
export async function rehearseCredential(id: string, input: CommandInput, globals: Globals): Promise<number> {
  const keep = input.options['keep'] === true;
  const json = globals.json === true;
  const hooks = input.options['hooks'] !== false;
  const [{ budgetOption, drillInteraction, runDrill }, { loadRunbook }, { startSandbox }, { ensureAnswerable }, { rehearsalStoresOf }, { randomBytes }] =
    await Promise.all([
      import('./drill.js'),
      import('../runbook/load.js'),
      import('../sandbox/server.js'),
      import('./answers-check.js'),
      import('./stores.js'),
      import('node:crypto'),
    ]);
  const budgetMs = budgetOption(input.options['budget']);
  const config = await openConfig(globals);
  const credential = credentialOf(config, id);
  const runbook = await loadRunbook(credential.runbookFile);
  const plan = runbook.rehearsal;
  if (plan.unsupported !== undefined) {
    throw new InputError(
      `credential ${id} cannot be rehearsed: the sandbox speaks no dialect of its runbook ${runbook.name}: ${plan.unsupported.trim()}`,
      undefined,
      `\`rekey drill ${id} --dry-run\` checks its stores and the old key without writing anything`,
    );
  }
  const hasCalls = [runbook.generate, runbook.verify, runbook.revoke, runbook.verifyRevoked, runbook.audit, runbook.discard]
    .flat()
    .some((s) => s.kind === 'http');
  if (hasCalls && !Object.values(plan.inputs).some(namesSandbox)) {
    throw new InputError(
      `credential ${id} cannot be rehearsed: its runbook ${runbook.name} has no sandbox dialect (no rehearsal: inputs point its provider calls at the sandbox)`,
      undefined,
      `give ${runbook.file} a rehearsal: block (see \`rekey runbook test\`), or \`rekey drill ${id} --dry-run\` to check without writing`,
    );
  }
  await ensureDialects(runbook, rehearsedInputs(runbook, credential.inputs, PLACEHOLDER), PLACEHOLDER, true);

  const { sandboxKeys, minting } = sandboxMints(runbook);
  const folder = mkdtempSync(join(tmpdir(), `rekey-rehearsal-${id.replace(/[^\w.-]/g, '_')}-`));
  let standIns: Awaited<ReturnType<typeof rehearsalStoresOf>> = [];
  // The sandbox's webhook receiver accepts what a real one would load from the stores: the current value and, during
  // an overlap, the previous one.
  const webhookSecrets = () => standIns.flatMap((s) => s.standIn.values());
  const sandbox = await startSandbox({ overlap: runbook.overlap, keyPrefix: plan.keyPrefix, webhookSecrets });
  let finished = false;
  let release: (() => void) | undefined;
  try {
    const seed = new Secret(sandboxKeys ? sandbox.mintKey(ACCOUNT) : generatedSeed(minting, randomBytes));
    const stateDir = join(folder, '.rekey');
    standIns = await rehearsalStoresOf(credential.stores, { baseDir: config.baseDir, env: process.env, stateDir, folder }, seed);
    const watched = [...new Set(standIns.flatMap((s) => s.standIn.watched))];
    const before = new Map(watched.map((file) => [file, digestOf(file)]));
    const inputs = rehearsedInputs(runbook, credential.inputs, sandbox.url);
    const rehearsed: CredentialConfig = {
      ...credential,
      inputs,
      // Named after the store they stand in for, so the timeline reads as the real one will; the header says what each is.
      stores: standIns.map(({ real, standIn }) => ({
        ref: { ...parseRef(standIn.kind, standIn.ref), display: `${real.ref.display} (stand-in)` },
        options: standIn.options,
      })),
      rollout: hooks ? credential.rollout : [],
      ...(budgetMs === undefined ? {} : { budgetMs }),
    };
    // The real config's folder stays the folder hooks run in; everything the run writes goes to the rehearsal's.
    const rehearsal: Config = { ...config, stateDir, credentials: new Map([[id, rehearsed]]), notify: undefined };

    let sinkRef: EventSink | undefined;
    const note = (message: string) => sinkRef?.emit({ event: 'note', level: 'info', message: `rehearsal: ${message}` });
    const actor = sandboxActor({ sandboxUrl: sandbox.url, runbook, seed, sandboxKeys, note });
    const { sink, interaction } = await drillInteraction({ answers: input.options['answers'], json, rehearsal: actor });
    sinkRef = sink;
    (interaction as Partial<import('../ui/interaction.js').AnswersInteraction>).refuseUnknownSteps?.(runbook);
    ensureAnswerable(runbook, interaction, true);

    const redirected = Object.keys(plan.inputs).filter((key) => namesSandbox(plan.inputs[key]!));
    const stores = standIns.map(({ real, standIn }) => ({ store: real.ref.display, standIn: standIn.description }));
    const hookNames = credential.rollout.map((hook) => hook.name);
    if (json) {
      const started = {
        event: 'rehearsal.started',
        credential: id,
        runbook: runbook.name,
        overlap: runbook.overlap,
        sandbox: sandbox.url,
        redirected,
        stores,
        hooks: { run: hooks, names: hookNames, cwd: config.baseDir },
        folder,
      };
      process.stdout.write(`${JSON.stringify(started)}\n`);
    } else {
      process.stdout.write(
        header({ id, runbook, sandboxUrl: sandbox.url, redirected, stores, hookNames, hooks, cwd: config.baseDir, folder, keep, seed, sandboxKeys, minting }),
      );
    }

    release = confineFetch(sandbox.url);
    const { code, summary } = await runDrill({
      config: rehearsal,
      credential: rehearsed,
      runbook,
      mode: 'rehearsal',
      sink: rehearsalSink(sink),
      interaction,
      json,
    });
    release();
    release = undefined;
    finished = summary?.result === 'done';

    // Nothing real is written: the files the stand-ins were copied from are as they were, byte for byte.
    const changed = watched.filter((file) => digestOf(file) !== before.get(file));
    const fresh = standIns[0]?.standIn.values()[0];
    const oldActive = sandboxKeys ? sandbox.isActive(seed.reveal()) : undefined;
    const newActive = sandboxKeys && fresh !== undefined ? sandbox.isActive(fresh) : undefined;
    if (json) {
      const checked = { event: 'rehearsal.checked', result: summary?.result, oldActive, newActive, unchanged: watched.length - changed.length, changed };
      process.stdout.write(`${JSON.stringify(checked)}\n`);
    } else {
      const lines: string[] = [];
      // The new key as the first store's stand-in holds it now, checked with the sandbox as a client would present it.
      const newKey = fresh === undefined ? 'none in the first store' : `${new Secret(fresh).mask} ${newActive ? 'active' : 'NOT ACTIVE'}`;
      if (finished && sandboxKeys) lines.push(`sandbox check: old key ${seed.mask} ${oldActive ? 'STILL ACTIVE' : 'rejected'} · new key ${newKey}`);
      if (watched.length > 0 && changed.length === 0)
        lines.push(`your files: ${watched.length === 1 ? watched[0] : `${watched.length} files`} unchanged (compared byte for byte before and after)`);
      for (const file of changed) lines.push(`CHANGED during the rehearsal: ${file} — rekey wrote only its copy, so something else did (a hook?)`);
      if (lines.length > 0) process.stdout.write(`\n${lines.join('\n')}\n`);
    }
    if (keep && !json) process.stdout.write(`kept: ${folder} (store copies in stores/, .rekey/runs, .rekey/reports)\n`);
    return code;
  } finally {
    release?.();
    await sandbox.close();
    settleRehearsal(folder, json, keep, finished);
  }
}

/** A file's SHA-256, or `missing`: enough to tell that not one byte changed. */
function digestOf(file: string): string {
  return existsSync(file) ? createHash('sha256').update(readFileSync(file)).digest('hex') : 'missing';
}

/** What the rehearsal is about to do, before it does anything: the provider, each store's stand-in, the hooks. */
function header(args: {
  id: string;
  runbook: import('../contract/runbook.js').Runbook;
  sandboxUrl: string;
  redirected: readonly string[];
  stores: ReadonlyArray<{ store: string; standIn: string }>;
  hookNames: readonly string[];
  hooks: boolean;
  cwd: string;
  folder: string;
  keep: boolean;
  seed: Secret;
  sandboxKeys: boolean;
  minting: import('../contract/runbook.js').Step | undefined;
}): string {
  const { runbook } = args;
  const lines = [`REHEARSAL of ${args.id} (runbook ${runbook.name}, overlap ${runbook.overlap}) — nothing real is written or revoked.`];
  if (args.sandboxKeys || args.redirected.length > 0)
    lines.push(
      `The local sandbox at ${args.sandboxUrl} plays ${runbook.title}` +
        `${args.redirected.length === 0 ? '' : ` (input${args.redirected.length === 1 ? '' : 's'} ${args.redirected.join(', ')} point there)`}; rekey calls ` +
        'no other address while the rehearsal runs (your hooks are yours).',
    );
  lines.push(`Stores, each replaced by a throw-away stand-in holding the rehearsal's key ${args.seed.mask}:`);
  for (const { store, standIn } of args.stores) lines.push(`  ${store} → ${standIn}`);
  if (args.hookNames.length > 0 && args.hooks) {
    lines.push(`Rollout hooks run FOR REAL, as configured, in ${args.cwd} — they get the rehearsal's key, never the real one:`);
    lines.push(...args.hookNames.map((name, i) => `  ${i + 1}. ${name}`));
    lines.push('  Leave them out with --no-hooks.');
  } else if (args.hookNames.length > 0) {
    lines.push(`Rollout hooks: left out (--no-hooks): ${args.hookNames.join('; ')}. The timeline has no roll out time of theirs.`);
  }
  lines.push(`Folder: ${args.folder}${args.keep ? '' : ' (removed afterwards unless the rehearsal fails; keep it with --keep)'}`);
  if (args.sandboxKeys && args.minting?.kind === 'prompt')
    lines.push(
      'When the drill asks for the new key, press Enter: the sandbox mints it, as the dashboard would. Dashboard steps you confirm are done in the sandbox.',
    );
  return `${lines.join('\n')}\n\n`;
}
