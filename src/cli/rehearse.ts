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
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Secret } from '../contract/secret.js';
import { ExitCode } from '../contract/errors.js';
import { rotateCredential, type CommandInput, type Globals } from './common.js';

export default async function rehearse(input: CommandInput, globals: Globals): Promise<number> {
  if (typeof input.options['runbook'] === 'string') return rehearseRunbook(input.options['runbook'], input, globals);
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
    const credential = config.credentials.get('sandbox-demo')!;
    const sink = createSink(json);
    const { code, summary } = await rotateCredential({ config, credential, mode: 'rehearsal', sink, interaction: noInteraction(), json });
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

/** The sandbox account a runbook rehearsal rotates (a Streampixel userId, a PayPal client id). */
const ACCOUNT = 'rehearsal';

/** `rekey rehearse --runbook <name>`: the runbook's own drill, with the sandbox playing the provider. */
async function rehearseRunbook(name: string, input: CommandInput, globals: Globals): Promise<number> {
  const keep = input.options['keep'] === true;
  const json = globals.json === true;
  const [
    { startSandbox },
    { loadConfig },
    { builtInRunbookDir, loadRunbook, resolveRunbook },
    { InputError },
    { drillInteraction, runDrill, withBudget },
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
  const minting = runbook.generate.find(
    (step) => step.kind === 'generate' || (step.kind === 'prompt' && step.capture) || (step.kind === 'http' && step.capture !== undefined),
  );
  // Keys a person would fetch from a dashboard come from the sandbox; a value rekey generates itself needs no provider.
  const sandboxKeys = minting?.kind !== 'generate';

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
    const fill = (text: string) => text.replace(/\{\{\s*sandbox\.url\s*\}\}/g, sandbox.url).replace(/\{\{\s*sandbox\.account\s*\}\}/g, ACCOUNT);
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
    const credential = withBudget(config.credentials.get(`${runbook.name}-rehearsal`)!, input.options['budget']);

    // What the person would do in the provider's dashboard, done by the sandbox (over its HTTP API, as a client would).
    const minted: Secret[] = [];
    const revokeSteps = new Set(runbook.revoke.map((step) => step.id));
    const discardSteps = new Set(runbook.discard.map((step) => step.id));
    let sinkRef: import('../contract/events.js').EventSink | undefined;
    const note = (message: string) => sinkRef?.emit({ event: 'note', level: 'info', message: `rehearsal: ${message}` });
    const revokeInSandbox = async (key: Secret) => {
      await fetch(`${sandbox.url}/v1/keys/self`, { method: 'DELETE', headers: { authorization: `Bearer ${key.reveal()}` } }).then((r) => r.arrayBuffer());
    };
    const actor = {
      async mint() {
        // "Rotate key" with an expiry (Stripe) gives the old key an hour; "Request API Key" (overlap none) kills it.
        const body = runbook.overlap === 'expiring' ? { expireOthersInSeconds: 3600 } : {};
        const response = await fetch(`${sandbox.url}/v1/accounts/${ACCOUNT}/keys`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
        const { key } = (await response.json()) as { key: string };
        const secret = new Secret(key);
        minted.push(secret);
        const oldFate =
          runbook.overlap === 'none' ? ', and the old one died with it' : runbook.overlap === 'expiring' ? ' and set the old one to expire in an hour' : '';
        note(`the sandbox minted a new key ${secret.mask} for you${oldFate}`);
        return key;
      },
      async confirmed(stepId: string) {
        if (!sandboxKeys) return;
        if (revokeSteps.has(stepId)) {
          await revokeInSandbox(seed);
          note(`the sandbox ${runbook.overlap === 'expiring' ? 'expired' : 'revoked'} the old key ${seed.mask} for you`);
        } else if (discardSteps.has(stepId) && minted.length > 0) {
          await revokeInSandbox(minted.at(-1)!);
          note(`the sandbox revoked the unused new key ${minted.at(-1)!.mask}`);
        }
      },
    };
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
    const { code, summary } = await runDrill({ config, credential, runbook, mode: 'rehearsal', sink, interaction, json });
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

/** A starting value of the shape a `generate` step makes, for a rehearsal of a runbook that generates its values. */
function generatedSeed(step: import('../contract/runbook.js').Step | undefined, randomBytes: (n: number) => Buffer): string {
  if (step?.kind !== 'generate') return randomBytes(24).toString('hex');
  const bytes = randomBytes(step.bytes);
  return `${step.prefix}${step.encoding === 'hex' ? bytes.toString('hex') : bytes.toString('base64url')}`;
}

/**
 * After a rehearsal: remove its folder (unless --keep), saying so. A rehearsal that did not finish keeps it whatever
 * --keep says: its journal and report are what the person reads to see what went wrong. It cannot be resumed: the
 * sandbox that played the provider is gone.
 */
function settleRehearsal(folder: string, json: boolean, keep: boolean, finished: boolean): void {
  if (keep) return;
  // Refused before a run started (bad answers, no terminal): nothing to read, nothing kept.
  if (!finished && existsSync(join(folder, '.rekey', 'runs'))) {
    if (json) process.stdout.write(`${JSON.stringify({ event: 'rehearsal.kept', folder, reason: 'the rehearsal did not finish' })}\n`);
    else
      process.stdout.write(
        `kept: ${folder} — the rehearsal did not finish: its journal (.rekey/runs) and report are there to read. It cannot be resumed (the ` +
          'sandbox is gone): run the rehearsal again\n',
      );
    return;
  }
  removeRehearsal(folder, json);
}

/** Remove the rehearsal's folder, saying so: the report named above goes with it. */
function removeRehearsal(folder: string, json: boolean): void {
  const reported = existsSync(join(folder, '.rekey', 'reports'));
  rmSync(folder, { recursive: true, force: true });
  if (reported && !json) process.stdout.write(`removed ${folder} with its report; keep them next time with --keep\n`);
}
