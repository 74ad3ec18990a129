/**
 * `rekey rehearse`: a full rotation through all five phases against the built-in sandbox provider and a
 * throw-away `.env` in a temporary folder (named on screen, removed unless --keep), so it never touches the
 * user's own files. It is the quick start, and the way to practise.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Secret } from '../secret/secret.js';
import { ExitCode } from '../util/errors.js';
import { rotateCredential, type CommandInput, type Globals } from './common.js';

export default async function rehearse(input: CommandInput, globals: Globals): Promise<number> {
  const overlap = input.options['overlap'] === 'none' ? 'none' : 'until-revoked';
  const keep = input.options['keep'] === true;
  const json = globals.json === true;
  const [{ startSandbox }, { loadConfig }, { createSink }, { noInteraction }] = await Promise.all([
    import('../sandbox/server.js'),
    import('../config/load.js'),
    import('../ui/sink.js'),
    import('../ui/interaction.js'),
  ]);
  const folder = mkdtempSync(join(tmpdir(), 'rekey-rehearsal-'));
  const sandbox = await startSandbox({ overlap });
  try {
    const seed = new Secret(sandbox.mintKey('demo'));
    const envFile = join(folder, '.env');
    writeFileSync(envFile, `# A throw-away .env for a rekey rehearsal.\nexport APP_NAME="rehearsal"\nSANDBOX_API_KEY=${seed.reveal()}\n\n# Other settings are kept byte for byte.\nLOG_LEVEL=info\n`, { mode: 0o600 });
    const configFile = join(folder, 'rekey.yaml');
    const runbook = overlap === 'none' ? 'sandbox-none' : 'sandbox';
    writeFileSync(
      configFile,
      `# Written by rekey rehearse: one credential, held in a throw-away .env, rotated against the local sandbox.\ncredentials:\n  sandbox-demo:\n    runbook: ${runbook}\n    inputs:\n      baseUrl: ${sandbox.url}\n      account: demo\n    stores:\n      - dotenv: ./.env#SANDBOX_API_KEY\n    policy:\n      maxAge: 30d\n      budget: 5m\n`,
      { mode: 0o600 },
    );
    if (!json) process.stdout.write(`rehearsal in ${folder}${keep ? '' : ' (removed afterwards; keep it with --keep)'}\nsandbox provider at ${sandbox.url} · seeded key ${seed.mask} in .env\n\n`);
    const config = await loadConfig(configFile);
    const credential = config.credentials.get('sandbox-demo')!;
    const sink = createSink(json);
    const { code, summary } = await rotateCredential({ config, credential, mode: 'rehearsal', sink, interaction: noInteraction(), json });
    if (summary?.result === 'done') {
      const proof = `sandbox check: old key ${seed.mask} ${sandbox.isActive(seed.reveal()) ? 'STILL ACTIVE' : 'rejected'} · new key ${summary.newMask} in .env`;
      process.stdout.write(json ? `${JSON.stringify({ event: 'rehearsal.checked', oldActive: sandbox.isActive(seed.reveal()), folder: keep ? folder : undefined })}\n` : `\n${proof}\n`);
    }
    if (keep && !json) process.stdout.write(`kept: ${folder} (rekey.yaml, .env, .rekey/runs, .rekey/reports)\n`);
    return code === ExitCode.done ? ExitCode.done : code;
  } finally {
    await sandbox.close();
    if (!keep) rmSync(folder, { recursive: true, force: true });
  }
}
