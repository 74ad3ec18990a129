/**
 * `rekey rehearse`: a full rotation through all five phases against the built-in sandbox provider and a
 * throw-away `.env` in a temporary folder (named on screen, removed unless --keep), so it never touches the
 * user's own files. It is the quick start, and the way to practise.
 *
 * `rekey rehearse --runbook streampixel` (any runbook with a `rehearsal:` block) runs the real drill of that runbook —
 * the same prompts, checks and timeline — against the sandbox set to the runbook's overlap and speaking its check
 * dialect (the runbook's baseUrl input points at the sandbox, with the dialect's path prefix). Human steps are answered
 * by the person or by `--answers`; where the drill would have the person request a key in a dashboard, the sandbox
 * mints one when they press Enter (or the answers file says `yes`), and a confirmed revoke step revokes the old key in
 * the sandbox. A runbook that cannot be played by the sandbox (aws-iam-access-key) is refused with exit 2.
 *
 * `rekey rehearse <credential>` rehearses the person's own credential from rekey.yaml (rehearse-credential.ts).
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Secret } from '../contract/secret.js';
import { ExitCode } from '../contract/errors.js';
import { rotateCredential, type CommandInput, type Globals } from './common.js';
import { ACCOUNT, fillSandbox, generatedSeed, rehearsalSink, sandboxActor, sandboxMints, settleRehearsal } from './rehearsal-kit.js';

export default async function rehearse(input: CommandInput, globals: Globals): Promise<number> {
  const { InputError } = await import('../contract/errors.js');
  const credential = input.args[0];
  if (typeof credential === 'string') {
    const other = typeof input.options['runbook'] === 'string' ? '--runbook' : input.options['overlap'] !== 'until-revoked' ? '--overlap' : undefined;
    if (other !== undefined)
      throw new InputError(
        `rekey rehearse ${credential} takes the runbook and its overlap from rekey.yaml: ${other} is for a rehearsal without a credential`,
        undefined,
        `\`rekey rehearse ${credential}\`, or \`rekey rehearse ${other} …\` alone`,
      );
    return (await import('./rehearse-credential.js')).rehearseCredential(credential, input, globals);
  }
  if (input.options['hooks'] === false)
    throw new InputError('--no-hooks is for `rekey rehearse <credential>`: the sandbox rehearsals run no rollout hook', undefined, 'drop --no-hooks');
  // Checked before anything starts, as every duration is (exit 2).
  const { budgetOption } = await import('./drill.js');
  const budgetMs = budgetOption(input.options['budget']);
  if (typeof input.options['runbook'] === 'string') return rehearseRunbook(input.options['runbook'], input, globals, budgetMs);
  const overlap = input.options['overlap'] === 'none' ? 'none' : 'until-revoked';
  const keep = input.options['keep'] === true;
  const json = globals.json === true;
  const [{ startSandbox }, { loadConfig }, { createSink }, { noInteraction }, { storeCatalog }] = await Promise.all([
    import('../sandbox/server.js'),
    import('../config/load.js'),
    import('../ui/sink.js'),
    import('../ui/interaction.js'),
    import('./stores.js'),
  ]);
  const folder = mkdtempSync(join(tmpdir(), 'rekey-rehearsal-'));
  const sandbox = await startSandbox({ overlap });
  let finished = false;
  try {
    const seed = new Secret(sandbox.mintKey('demo'));
    const envFile = join(folder, '.env');
    writeFileSync(
      envFile,
      `# A throw-away .env for a rekey rehearsal.\nexport APP_NAME="rehearsal"\nSANDBOX_API_KEY=${seed.reveal()}\n\n# Other settings are kept byte ` +
        `for byte.\nLOG_LEVEL=info\n`,
      { mode: 0o600 },
    );
    const configFile = join(folder, 'rekey.yaml');
    const runbook = overlap === 'none' ? 'sandbox-none' : 'sandbox';
    writeFileSync(
      configFile,
      '# Written by rekey rehearse: one credential, held in a throw-away .env, rotated against the local sandbox.\n' +
        `credentials:\n  sandbox-demo:\n    runbook: ${runbook}\n    inputs:\n      baseUrl: ${sandbox.url}\n      account: demo\n` +
        '    stores:\n      - dotenv: ./.env#SANDBOX_API_KEY\n    policy:\n      maxAge: 30d\n      budget: 5m\n',
      { mode: 0o600 },
    );
    if (!json)
      process.stdout.write(
        `rehearsal in ${folder}${keep ? '' : ' (removed afterwards; keep it with --keep)'}\nsandbox provider at ${sandbox.url} · seeded key ` +
          `${seed.mask} in .env\n\n`,
      );
    const config = await loadConfig(configFile, storeCatalog);
    const configured = config.credentials.get('sandbox-demo')!;
    const credential = budgetMs === undefined ? configured : { ...configured, budgetMs };
    const sink = createSink(json);
    const { code, summary } = await rotateCredential({ config, credential, mode: 'rehearsal', sink: rehearsalSink(sink), interaction: noInteraction(), json });
    finished = summary?.result === 'done';
    if (summary?.result === 'done') {
      const proof = `sandbox check: old key ${seed.mask} ${sandbox.isActive(seed.reveal()) ? 'STILL ACTIVE' : 'rejected'} · new key ${summary.newMask} in .env`;
      process.stdout.write(
        json
          ? `${JSON.stringify({ event: 'rehearsal.checked', oldActive: sandbox.isActive(seed.reveal()), folder: keep ? folder : undefined })}\n`
          : `\n${proof}\n`,
      );
    }
    if (keep && !json) process.stdout.write(`kept: ${folder} (rekey.yaml, .env, .rekey/runs, .rekey/reports)\n`);
    return code === ExitCode.done ? ExitCode.done : code;
  } finally {
    await sandbox.close();
    settleRehearsal(folder, json, keep, finished);
  }
}

/** `rekey rehearse --runbook <name>`: the runbook's own drill, with the sandbox playing the provider. */
async function rehearseRunbook(name: string, input: CommandInput, globals: Globals, budgetMs: number | undefined): Promise<number> {
  const keep = input.options['keep'] === true;
  const json = globals.json === true;
  const [
    { startSandbox },
    { loadConfig },
    { builtInRunbookDir, loadRunbook, resolveRunbook },
    { InputError },
    { drillInteraction, runDrill },
    { ensureAnswerable },
    { randomBytes },
    { storeCatalog },
  ] = await Promise.all([
    import('../sandbox/server.js'),
    import('../config/load.js'),
    import('../runbook/load.js'),
    import('../contract/errors.js'),
    import('./drill.js'),
    import('./answers-check.js'),
    import('node:crypto'),
    import('./stores.js'),
  ]);
  const runbook = await loadRunbook(resolveRunbook(name, [builtInRunbookDir()], process.cwd()));
  const plan = runbook.rehearsal;
  if (plan.unsupported !== undefined) {
    throw new InputError(
      `runbook ${runbook.name} cannot be rehearsed against the sandbox: ${plan.unsupported.trim()}`,
      undefined,
      'rehearse another runbook (`rekey runbook list`), or plain `rekey rehearse` for the quick start',
    );
  }
  // Keys a person would fetch from a dashboard come from the sandbox; a value rekey generates itself needs no provider.
  const { sandboxKeys, minting } = sandboxMints(runbook);

  const folder = mkdtempSync(join(tmpdir(), `rekey-rehearsal-${runbook.name}-`));
  // The sandbox's webhook receiver (src/sandbox/webhooks.ts) holds what a real one would load from this .env: the
  // variable and, during the overlap, NAME_PREVIOUS. It reads them at each delivery; the rehearsal's .env is one
  // rekey wrote itself (NAME=value lines), so a line match is enough.
  const webhookSecrets = (): string[] => {
    const text = readFileSync(join(folder, '.env'), 'utf8');
    return [plan.variable, `${plan.variable}_PREVIOUS`].flatMap((name) => new RegExp(`^${name}=(.*)$`, 'm').exec(text)?.[1]?.trim() ?? []);
  };
  const sandbox = await startSandbox({ overlap: runbook.overlap, keyPrefix: plan.keyPrefix, webhookSecrets });
  let finished = false;
  try {
    const seed = new Secret(sandboxKeys ? sandbox.mintKey(ACCOUNT) : generatedSeed(minting, randomBytes));
    const fill = (text: string) => fillSandbox(text, sandbox.url);
    const inputs = Object.entries(plan.inputs)
      .map(([key, value]) => `      ${key}: ${JSON.stringify(fill(value))}\n`)
      .join('');
    const variable = plan.variable;
    writeFileSync(join(folder, '.env'), `# A throw-away .env for a rekey rehearsal of runbook ${runbook.name}.\n${variable}=${seed.reveal()}\n`, {
      mode: 0o600,
    });
    const configFile = join(folder, 'rekey.yaml');
    writeFileSync(
      configFile,
      `# Written by rekey rehearse --runbook ${runbook.name}: the runbook's drill against the local sandbox and a throw-away .env.\n` +
        `credentials:\n  ${runbook.name}-rehearsal:\n    runbook: ${JSON.stringify(runbook.file)}\n` +
        (inputs === '' ? '' : `    inputs:\n${inputs}`) +
        `    stores:\n      - dotenv: ./.env#${variable}\n${plan.keepPrevious ? '        keepPrevious: true\n' : ''}` +
        `    policy:\n      budget: 5m\n`,
      { mode: 0o600 },
    );
    const config = await loadConfig(configFile, storeCatalog);
    const configured = config.credentials.get(`${runbook.name}-rehearsal`)!;
    const credential = budgetMs === undefined ? configured : { ...configured, budgetMs };

    let sinkRef: import('../contract/events.js').EventSink | undefined;
    const note = (message: string) => sinkRef?.emit({ event: 'note', level: 'info', message: `rehearsal: ${message}` });
    const actor = sandboxActor({ sandboxUrl: sandbox.url, runbook, seed, sandboxKeys, note });
    const { sink, interaction } = await drillInteraction({ answers: input.options['answers'], json, rehearsal: actor });
    sinkRef = sink;
    (interaction as Partial<import('../ui/interaction.js').AnswersInteraction>).refuseUnknownSteps?.(runbook);
    ensureAnswerable(runbook, interaction, true);

    if (json) {
      const started = { event: 'rehearsal.started', runbook: runbook.name, overlap: runbook.overlap, sandbox: sandbox.url, folder: keep ? folder : undefined };
      process.stdout.write(`${JSON.stringify(started)}\n`);
    } else {
      const dialect = plan.inputs['baseUrl'] === undefined ? '' : ` at ${fill(plan.inputs['baseUrl'])}`;
      process.stdout.write(
        `REHEARSAL of runbook ${runbook.name} (overlap ${runbook.overlap}) — nothing real is touched.\n` +
          (sandboxKeys ? `The local sandbox plays ${runbook.title}${dialect}; ` : '') +
          `a throw-away .env in ${folder}${keep ? '' : ' (removed afterwards; keep it with --keep)'} holds ${variable} (seeded ${seed.mask}).\n` +
          (sandboxKeys && minting?.kind === 'prompt'
            ? 'When the drill asks for the new key, press Enter: the sandbox mints it, as the dashboard would. Dashboard steps you confirm are ' +
              'done in the sandbox.\n'
            : '') +
          '\n',
      );
    }
    const { code, summary } = await runDrill({ config, credential, runbook, mode: 'rehearsal', sink: rehearsalSink(sink), interaction, json });
    finished = summary?.result === 'done';
    if (summary?.result === 'done') {
      const env = readFileSync(join(folder, '.env'), 'utf8');
      // The new key as the .env holds it now, checked with the sandbox like any client would present it.
      const fresh = new RegExp(`^${variable}=(.*)$`, 'm').exec(env)?.[1]?.trim();
      const oldActive = sandboxKeys ? sandbox.isActive(seed.reveal()) : undefined;
      const newActive = sandboxKeys && fresh !== undefined ? sandbox.isActive(fresh) : undefined;
      const previousLeft = new RegExp(`^${variable}_PREVIOUS=`, 'm').test(env);
      if (json) {
        process.stdout.write(`${JSON.stringify({ event: 'rehearsal.checked', oldActive, newActive, previousLeft, folder: keep ? folder : undefined })}\n`);
      } else {
        const proof = sandboxKeys
          ? `sandbox check: old key ${seed.mask} ${oldActive ? 'STILL ACTIVE' : 'rejected'} · new key ${summary.newMask} in .env ` +
            `${newActive ? 'active' : 'NOT ACTIVE'}`
          : `rehearsal check: .env holds the new value ${summary.newMask}` +
            `${plan.keepPrevious ? ` · ${variable}_PREVIOUS ${previousLeft ? 'STILL SET' : 'dropped'}` : ''}`;
        process.stdout.write(`\n${proof}\n`);
      }
    }
    if (keep && !json) process.stdout.write(`kept: ${folder} (rekey.yaml, .env, .rekey/runs, .rekey/reports)\n`);
    return code;
  } finally {
    await sandbox.close();
    settleRehearsal(folder, json, keep, finished);
  }
}
