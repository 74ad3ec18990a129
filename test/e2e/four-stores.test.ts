/**
 * One sandbox credential held in all four stores at once — AWS Secrets Manager, GCP Secret Manager and Vault KV v2
 * through their wire-level local servers, plus a .env — rotated by the built CLI, killed between two store
 * promotions, and resumed: every store must end on the new value (I1, I5).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startSandbox, type Sandbox } from '../../src/sandbox/server.js';
import { start as startAws, type RunningSecretsManager } from '../fakes/aws-secrets-manager-server.js';
import { start as startGcp } from '../fakes/gcp-secret-manager-server.js';
import { startVaultServer, type RunningVaultServer } from '../fakes/vault-kv-server.js';

const CLI = join(import.meta.dirname, '../../dist/src/cli/main.js');
const PROJECT = 'rekey-e2e';

interface World {
  dir: string;
  sandbox: Sandbox;
  aws: RunningSecretsManager;
  gcp: Awaited<ReturnType<typeof startGcp>>;
  vault: RunningVaultServer;
  seed: string;
  env: NodeJS.ProcessEnv;
  close(): Promise<void>;
}

async function world(): Promise<World> {
  const dir = mkdtempSync(join(tmpdir(), 'rekey-four-'));
  const sandbox = await startSandbox({ overlap: 'until-revoked' });
  const aws = await startAws();
  const gcp = await startGcp();
  const vault = await startVaultServer();
  const seed = sandbox.mintKey('demo');
  // Seed every store through its side door, never through the adapter under test.
  aws.model.createSecret({ Name: 'prod/web', SecretString: JSON.stringify({ API_KEY: seed, DB_HOST: 'db.internal' }) });
  const secret = `projects/${PROJECT}/secrets/web`;
  await gcp.model.createSecret({ parent: `projects/${PROJECT}`, secretId: 'web', secret: { replication: { automatic: {} } } as never });
  await gcp.model.addSecretVersion({ parent: secret, payload: { data: Buffer.from(JSON.stringify({ API_KEY: seed, REGION: 'eu' })) } });
  await gcp.model.updateSecret({ secret: { name: secret, versionAliases: { current: '1' } } as never, updateMask: { paths: ['version_aliases'] } });
  vault.model.put('secret', 'web/app', { api_key: seed, owner: 'team-a' });
  writeFileSync(join(dir, '.env'), `# app settings\nexport API_KEY="${seed}"\nLOG_LEVEL=info\n`, { mode: 0o600 });
  writeFileSync(
    join(dir, 'rekey.yaml'),
    [
      'credentials:',
      '  web-key:',
      '    runbook: sandbox',
      `    inputs: { baseUrl: "${sandbox.url}", account: demo }`,
      '    stores:',
      `      - aws-secrets-manager: prod/web#API_KEY`,
      `        region: us-east-1`,
      `        endpoint: ${aws.url}`,
      `      - gcp-secret-manager: ${secret}#API_KEY`,
      `        endpoint: 127.0.0.1:${gcp.port}`,
      `      - vault-kv: secret/web/app#api_key`,
      `        address: ${vault.url}`,
      `      - dotenv: ./.env#API_KEY`,
      '',
    ].join('\n'),
  );
  const env = {
    ...process.env,
    AWS_ACCESS_KEY_ID: 'AKIDEXAMPLEREKEYTEST',
    AWS_SECRET_ACCESS_KEY: 'example-secret-for-local-fake',
    VAULT_TOKEN: vault.model.rootToken,
    GOOGLE_CLOUD_PROJECT: PROJECT,
    METADATA_SERVER_DETECTION: 'none',
    NO_COLOR: '1',
  };
  return {
    dir,
    sandbox,
    aws,
    gcp,
    vault,
    seed,
    env,
    async close() {
      await Promise.all([sandbox.close(), aws.close(), gcp.close(), vault.close()]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Run the built CLI without blocking: the fake servers answer from this same process. */
function rekey(
  w: World,
  args: string[],
  extra: NodeJS.ProcessEnv = {},
): Promise<{ status: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args, '--config', join(w.dir, 'rekey.yaml')], {
      env: { ...w.env, ...extra },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('close', (status, signal) => resolve({ status, signal, stdout, stderr }));
  });
}

/** Every store's current value, read through the side doors. */
async function currentValues(w: World): Promise<Record<string, string>> {
  const aws = JSON.parse(w.aws.model.getSecretValue({ SecretId: 'prod/web' })['SecretString'] as string) as Record<string, string>;
  const gcpSecret = await w.gcp.model.getSecret({ name: `projects/${PROJECT}/secrets/web` });
  const alias = (gcpSecret as { versionAliases?: Record<string, string | number> }).versionAliases?.['current'];
  const gcp = await w.gcp.model.accessSecretVersion({ name: `projects/${PROJECT}/secrets/web/versions/${alias}` });
  const gcpData = JSON.parse(Buffer.from((gcp as { payload: { data: Buffer } }).payload.data).toString('utf8')) as Record<string, string>;
  const vault = w.vault.model.version('secret', 'web/app') as Record<string, string>;
  const dotenv = /API_KEY="([^"]+)"/.exec(readFileSync(join(w.dir, '.env'), 'utf8'))![1]!;
  expect(aws['DB_HOST']).toBe('db.internal');
  expect(gcpData['REGION']).toBe('eu');
  expect(vault['owner']).toBe('team-a');
  return { aws: aws['API_KEY']!, gcp: gcpData['API_KEY']!, vault: vault['api_key']!, dotenv };
}

let current: World | undefined;
afterEach(async () => {
  await current?.close();
  current = undefined;
});

describe('a credential in AWS, GCP, Vault and .env at once', () => {
  it('rotates in all four stores, keeping every other field, and the sandbox accepts only the new key', async () => {
    current = await world();
    const w = current;
    const result = await rekey(w, ['rotate', 'web-key']);
    expect(result.stderr).not.toContain(w.seed);
    expect(result.status, result.stdout + result.stderr).toBe(0);
    const values = await currentValues(w);
    const fresh = values['dotenv']!;
    expect(fresh).not.toBe(w.seed);
    expect(values).toEqual({ aws: fresh, gcp: fresh, vault: fresh, dotenv: fresh });
    expect(w.sandbox.isActive(fresh)).toBe(true);
    expect(w.sandbox.isActive(w.seed)).toBe(false);
    expect(result.stdout).not.toContain(fresh);
  });

  it('I1/I5: killed between two store promotions, resume ends with every store on the new value and one key minted', async () => {
    // First learn where the first promotion is journaled, from a full run on a world of its own.
    current = await world();
    const probe = current;
    expect((await rekey(probe, ['rotate', 'web-key'])).status).toBe(0);
    const runs = readdirSync(join(probe.dir, '.rekey', 'runs'));
    const records = readFileSync(join(probe.dir, '.rekey', 'runs', runs[0]!), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { seq: number; type: string; step?: string });
    const firstPromoted = records.find((r) => r.type === 'step.done' && r.step?.startsWith('promote:'))!;
    const promotedAfter = records.filter((r) => r.type === 'step.done' && r.step?.startsWith('promote:')).at(-1)!;
    expect(firstPromoted.seq).toBeLessThan(promotedAfter.seq);
    await probe.close();

    current = await world();
    const w = current;
    const minted = w.sandbox.stats.minted;
    const killed = await rekey(w, ['rotate', 'web-key'], { REKEY_TEST_KILL_AFTER_RECORD: String(firstPromoted.seq) });
    expect(killed.signal).toBe('SIGKILL');
    // Between the promotions some stores may already hold the new value; none may have lost both values.
    const run = readdirSync(join(w.dir, '.rekey', 'runs'))[0]!.replace(/\.jsonl$/, '');
    const resumed = await rekey(w, ['resume', run]);
    expect(resumed.status, resumed.stdout + resumed.stderr).toBe(0);
    const values = await currentValues(w);
    const fresh = values['dotenv']!;
    expect(new Set(Object.values(values))).toEqual(new Set([fresh]));
    expect(fresh).not.toBe(w.seed);
    expect(w.sandbox.isActive(fresh)).toBe(true);
    expect(w.sandbox.isActive(w.seed)).toBe(false);
    expect(w.sandbox.stats.minted - minted).toBe(1);
  });
});
