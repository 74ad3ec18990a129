/**
 * `rekey rotate --dry-run` and `rekey drill --dry-run` (issue 9, "Dry run in the engine"): the reads run for real,
 * every write (and every step of the person's) is shown as "would …", and nothing is written anywhere — no store, no
 * mint at the provider, no journal, no audit record, no report, no state folder, no lock. A dry run writes not even a
 * marked record of itself: `rekey log` and `status` never see it. Enforced by the walker, so the tests check the
 * world, not the engine's word for it: every file of the project folder and of the config folder (paths, sizes,
 * modification times, content hashes; a folder's mtime catches a file made and removed again), the write logs of the
 * wire fakes of AWS Secrets Manager, GCP Secret Manager and Vault, and the sandbox provider's mint count.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type Sandbox, startSandbox } from '../../src/sandbox/server.js';
import { start as startAws, type RunningSecretsManager } from '../fakes/aws-secrets-manager-server.js';
import { start as startGcp } from '../fakes/gcp-secret-manager-server.js';
import { startVaultServer, type RunningVaultServer } from '../fakes/vault-kv-server.js';
import { ACCOUNT, CLI, VARIABLE, fingerprint, rekeyIn, removeWorkspaces, sandboxPool, show, workspace } from './helpers.js';

const sandbox = sandboxPool();
afterEach(removeWorkspaces);

/** Every entry under a folder: path → kind, size, mtime and (for a file) the SHA-256 of its bytes. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = { '.': `dir:${lstatSync(dir).mtimeMs}` };
  for (const f of readdirSync(dir, { recursive: true, encoding: 'utf8' })) {
    const s = lstatSync(join(dir, f));
    out[f] = s.isDirectory()
      ? `dir:${s.mtimeMs}`
      : `${s.size}:${s.mtimeMs}:${s.mode}:${createHash('sha256')
          .update(readFileSync(join(dir, f)))
          .digest('hex')}`;
  }
  return out;
}

/**
 * Read-only calls of each service, from its documentation: Secrets Manager's Get/Describe/List actions
 * (https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_Operations.html), Secret Manager's get, access,
 * list and testIamPermissions methods (https://cloud.google.com/secret-manager/docs/reference/rpc/google.cloud.secretmanager.v1),
 * and for Vault any GET or LIST, plus POST sys/capabilities-self, which only reports the token's capabilities
 * (https://developer.hashicorp.com/vault/api-docs/system/capabilities-self).
 */
const AWS_READS = new Set(['GetSecretValue', 'DescribeSecret', 'ListSecretVersionIds', 'BatchGetSecretValue', 'GetResourcePolicy']);
const GCP_READS = new Set(['GetSecret', 'GetSecretVersion', 'AccessSecretVersion', 'ListSecretVersions', 'TestIamPermissions']);
const vaultRead = (r: { method: string; path: string }) =>
  r.method === 'GET' || r.method === 'LIST' || (r.method === 'POST' && r.path === 'sys/capabilities-self');

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

/** One sandbox credential in AWS, GCP, Vault and a .env at once (as four-stores.test.ts), seeded through side doors. */
async function world(): Promise<World> {
  const dir = mkdtempSync(join(tmpdir(), 'rekey-dry-'));
  const s = await startSandbox({ overlap: 'until-revoked' });
  const [aws, gcp, vault] = await Promise.all([startAws(), startGcp(), startVaultServer()]);
  const seed = s.mintKey('demo');
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
      `    inputs: { baseUrl: "${s.url}", account: demo }`,
      '    stores:',
      '      - aws-secrets-manager: prod/web#API_KEY',
      '        region: us-east-1',
      `        endpoint: ${aws.url}`,
      `      - gcp-secret-manager: ${secret}#API_KEY`,
      `        endpoint: 127.0.0.1:${gcp.port}`,
      '      - vault-kv: secret/web/app#api_key',
      `        address: ${vault.url}`,
      '      - dotenv: ./.env#API_KEY',
      '',
    ].join('\n'),
  );
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    AWS_ACCESS_KEY_ID: 'AKIDEXAMPLEREKEYTEST',
    AWS_SECRET_ACCESS_KEY: 'example-secret-for-local-fake',
    VAULT_TOKEN: vault.model.rootToken,
    GOOGLE_CLOUD_PROJECT: PROJECT,
    METADATA_SERVER_DETECTION: 'none',
    NO_COLOR: '1',
  };
  for (const name of Object.keys(env)) if (name.startsWith('REKEY_')) delete env[name];
  return {
    dir,
    sandbox: s,
    aws,
    gcp,
    vault,
    seed,
    env,
    async close() {
      await Promise.all([s.close(), aws.close(), gcp.close(), vault.close()]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The built CLI in the world's folder, without blocking: the fakes answer from this process. */
function run(w: World, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args, '--config', join(w.dir, 'rekey.yaml')], { cwd: w.dir, env: w.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** What the world holds and has been asked, taken before and after a dry run. */
function state(w: World) {
  return {
    files: snapshot(w.dir),
    config: snapshot(process.env['XDG_CONFIG_HOME']!),
    mints: { ...w.sandbox.stats.mintsByAccount },
    keys: w.sandbox.keys('demo').map((k) => `${k.id}:${k.status}`),
    aws: Object.fromEntries(w.aws.model.requestsByOperation),
    gcp: Object.fromEntries(w.gcp.model.calls),
    vault: w.vault.model.log.length,
    values: {
      aws: w.aws.model.stages('prod/web'),
      awsCurrent: w.aws.model.secretString('prod/web'),
      vault: w.vault.model.version('secret', 'web/app'),
    },
  };
}

/** The calls of `after` beyond those of `before`, per operation. */
function added(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(after).flatMap(([op, n]) => (n > (before[op] ?? 0) ? [[op, n - (before[op] ?? 0)]] : [])));
}

let current: World | undefined;
afterEach(async () => {
  await current?.close();
  current = undefined;
});

describe('a dry run writes nothing anywhere: four stores, the state folder, the provider', () => {
  it.each(['rotate', 'drill'])(
    '%s --dry-run reads every store and checks the old key, and changes not one byte or record',
    async (command) => {
      current = await world();
      const w = current;
      // A real rotation first, so that the state folder holds a journal, an audit log and a report to keep unchanged.
      const real = await run(w, ['rotate', 'web-key']);
      expect(real.code, real.stdout + real.stderr).toBe(0);
      const before = state(w);
      const checks = w.sandbox.stats.checks;

      const dry = await run(w, [command, 'web-key', '--dry-run']);
      expect(dry.code, dry.stdout + dry.stderr).toBe(0);
      expect(dry.stdout).toContain('dry run');
      expect(dry.stdout).toMatch(/would mint a new key/);
      expect(dry.stdout).toMatch(/would make current in aws-secrets-manager:/);
      expect(dry.stdout).toMatch(/would revoke the old key/);
      const after = state(w);

      // The reads happened: every store was read and the provider was asked about the current key.
      expect(w.sandbox.stats.checks).toBeGreaterThan(checks);
      const aws = added(before.aws, after.aws);
      const gcp = added(before.gcp, after.gcp);
      const vault = w.vault.model.log.slice(before.vault);
      expect(aws['GetSecretValue'] ?? 0).toBeGreaterThan(0);
      expect(gcp['AccessSecretVersion'] ?? 0).toBeGreaterThan(0);
      expect(vault.some((r) => r.method === 'GET' && r.path === 'secret/data/web/app')).toBe(true);
      // Only reads were sent to the stores.
      expect(Object.keys(aws).filter((op) => !AWS_READS.has(op))).toEqual([]);
      expect(Object.keys(gcp).filter((op) => !GCP_READS.has(op))).toEqual([]);
      expect(vault.filter((r) => !vaultRead(r))).toEqual([]);
      // Nothing minted or revoked, no store changed, and not one file made, changed or removed.
      expect(after.mints).toEqual(before.mints);
      expect(after.keys).toEqual(before.keys);
      expect(after.values).toEqual(before.values);
      expect(after.files).toEqual(before.files);
      expect(after.config).toEqual(before.config);
    },
    90_000,
  );
});

describe('rekey drill --dry-run of a runbook with a person in it', () => {
  it('shows the person\'s steps as "would ask you to …", asks nothing (no terminal, no answers), and mints nothing', async () => {
    const s = await sandbox({ overlap: 'none', keyPrefix: 'sk_' });
    const ws = workspace({ sandbox: s });
    // The same workspace, on the Streampixel runbook (overlap none) with the sandbox speaking its dialect.
    writeFileSync(
      ws.config,
      [
        'credentials:',
        `  ${ws.credential}:`,
        '    runbook: streampixel',
        `    inputs: { baseUrl: "${s.url}/pixelStripeApi", userId: ${ACCOUNT}, projectId: p-1 }`,
        '    stores:',
        `      - dotenv: ./.env#${VARIABLE}`,
        '',
      ].join('\n'),
    );
    const before = { files: snapshot(ws.dir), config: snapshot(process.env['XDG_CONFIG_HOME']!), mints: { ...s.stats.mintsByAccount } };
    const dry = await rekeyIn(ws, ['drill', ws.credential, '--dry-run']);
    expect(dry.code, show(dry)).toBe(0);
    expect(dry.stdout).toContain('dry run');
    expect(dry.stdout).toMatch(/old key …\w{4} works/);
    expect(dry.stdout).toContain('would ask you to request a new API key in the dashboard');
    expect(dry.stdout).toContain('would ask you to check recent activity');
    // Nothing was asked: no hidden prompt, no yes/no question.
    expect(dry.stdout).not.toContain('Paste the new key');
    expect(dry.stdout).not.toContain('[y/N]');
    expect(s.stats.checks).toBe(1);
    expect(s.isActive(ws.seed)).toBe(true);
    expect(s.stats.mintsByAccount).toEqual(before.mints);
    expect(snapshot(ws.dir)).toEqual(before.files);
    expect(snapshot(process.env['XDG_CONFIG_HOME']!)).toEqual(before.config);
  }, 60_000);
});

describe('rekey rotate --dry-run where the real run would fail', () => {
  it('fails, writing nothing, where the real run would fail before minting (a store that cannot stage)', async () => {
    const s = await sandbox();
    const ws = workspace({ sandbox: s });
    // Another run's staged value beside the .env, in the format the dotenv store writes: the store cannot stage now.
    const other = 'sbx_canary_staged_by_another_run_00000000000';
    const record = {
      rekey: 'dotenv-staged',
      run: '20261124T030000Z-bbbbbb',
      variable: VARIABLE,
      base: fingerprint(ws.seed),
      version: fingerprint(other),
      value: other,
      stagedAt: new Date().toISOString(),
    };
    writeFileSync(join(ws.dir, `.env.${VARIABLE}.rekey-staged`), `${JSON.stringify(record, null, 2)}\n`, { mode: 0o600 });
    const before = snapshot(ws.dir);
    const dry = await rekeyIn(ws, ['rotate', ws.credential, '--dry-run']);
    // A run this machine has no journal of: refused as `unfinished in the stores` (exit 3), as the real run would be.
    expect(dry.code, show(dry)).toBe(3);
    expect(dry.stdout + dry.stderr).toContain('run 20261124T030000Z-bbbbbb left a value staged in');
    expect(s.keys(ACCOUNT).filter((k) => k.mintedBy === 'http')).toEqual([]);
    expect(snapshot(ws.dir)).toEqual(before);
  }, 60_000);
});
