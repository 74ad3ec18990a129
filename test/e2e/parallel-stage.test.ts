/**
 * Defect 4: stages run side by side, and one store's failure must not start the rollback while another store's write
 * is still in flight (that write would land after the rollback and leave this run's value staged). Made deterministic:
 * the AWS fake holds the PutSecretValue before its effect while the GCP fake refuses the new version (both stores can
 * stage, so they are written in the same wave); the test checks that nothing is undone while the AWS write is held,
 * then lets it land, and the rollback must clean it up.
 *
 * And the order the stores' capabilities give: a store without staging (Vault, whose write is current at once) is
 * written only after every store that can stage holds the new value, so a failure there leaves readers untouched.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startSandbox } from '../../src/sandbox/server.js';
import { start as startAws } from '../fakes/aws-secrets-manager-server.js';
import { start as startGcp } from '../fakes/gcp-secret-manager-server.js';
import { startVaultServer } from '../fakes/vault-kv-server.js';

const CLI = join(import.meta.dirname, '../../dist/src/cli/main.js');
const PROJECT = 'rekey-test';
const CLOUD_ENV = {
  AWS_ACCESS_KEY_ID: 'AKIDEXAMPLEREKEYTEST',
  AWS_SECRET_ACCESS_KEY: 'example-secret-for-local-fake',
  GOOGLE_CLOUD_PROJECT: PROJECT,
  METADATA_SERVER_DETECTION: 'none',
  NO_COLOR: '1',
};
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((c) => c()));
});

/** Write a rekey.yaml in `dir` with one sandbox credential, `web-key`, held in `stores` (YAML lines); its path. */
function writeConfig(dir: string, sandboxUrl: string, stores: readonly string[]): string {
  const config = join(dir, 'rekey.yaml');
  writeFileSync(
    config,
    ['credentials:', '  web-key:', '    runbook: sandbox', `    inputs: { baseUrl: "${sandboxUrl}", account: demo }`, '    stores:', ...stores, ''].join('\n'),
  );
  return config;
}

/** Start `rekey rotate web-key`, collecting stdout and stderr together. */
function startRotate(config: string, env: Record<string, string>): { output: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [CLI, 'rotate', 'web-key', '--config', config], {
    env: { ...process.env, ...CLOUD_ENV, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr.on('data', (c: Buffer) => (output += c.toString()));
  return { output: () => output, exited: new Promise((done) => child.on('close', (code) => done(code))) };
}

describe('a stage that fails in one store while another store is still writing (defect 4)', () => {
  it('waits for the write in flight, then rolls it back: no AWSPENDING left, the old key current and alive', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rekey-stage-'));
    const sandbox = await startSandbox({ overlap: 'until-revoked' });
    const aws = await startAws();
    const gcp = await startGcp();
    cleanups.push(async () => {
      await Promise.all([sandbox.close(), aws.close(), gcp.close()]);
      rmSync(dir, { recursive: true, force: true });
    });
    const seed = sandbox.mintKey('demo');
    aws.model.createSecret({ Name: 'prod/web', SecretString: JSON.stringify({ API_KEY: seed }) });
    const secret = `projects/${PROJECT}/secrets/web`;
    gcp.model.seed(secret, [JSON.stringify({ API_KEY: seed })], { aliases: { current: 1 } });
    const config = writeConfig(dir, sandbox.url, [
      '      - aws-secrets-manager: prod/web#API_KEY',
      '        region: us-east-1',
      `        endpoint: ${aws.url}`,
      `      - gcp-secret-manager: ${secret}#API_KEY`,
      `        endpoint: 127.0.0.1:${gcp.port}`,
    ]);
    const gate = aws.model.hold('PutSecretValue', 'before-effect');
    // GCP refuses the new version with PERMISSION_DENIED (gRPC code 7, not retried), as a principal without
    // secretmanager.versions.add gets.
    gcp.model.failNext('AddSecretVersion', 7);
    const { output: seen, exited } = startRotate(config, {});
    await gate.reached;
    // Give the refused GCP write every chance to trigger an early rollback, then check none began.
    for (let i = 0; i < 50 && !seen().includes('could not stage'); i++) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 200));
    expect(aws.model.count('UpdateSecretVersionStage'), seen()).toBe(0);
    expect(seen()).not.toContain('rolling back');
    gate.release();
    const code = await exited;
    expect(code, seen()).toBe(1);
    expect(seen()).toContain('rolled back');
    // The late write landed, and the rollback removed it: nothing of this run is staged.
    const labels = Object.values(aws.model.stages('prod/web')).flat();
    expect(labels.filter((l) => l === 'AWSPENDING')).toEqual([]);
    expect(JSON.parse(aws.model.secretString('prod/web')!)).toEqual({ API_KEY: seed });
    expect(sandbox.isActive(seed)).toBe(true);
    // The new key was discarded at the provider: only the seed is live.
    expect(
      sandbox
        .keys('demo')
        .filter((k) => k.status === 'active')
        .map((k) => k.matches(seed)),
    ).toEqual([true]);
  }, 60_000);

  it('writes a store without staging only after every store that can stage holds the new value', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rekey-stage-'));
    const sandbox = await startSandbox({ overlap: 'until-revoked' });
    const aws = await startAws();
    const vault = await startVaultServer();
    cleanups.push(async () => {
      await Promise.all([sandbox.close(), aws.close(), vault.close()]);
      rmSync(dir, { recursive: true, force: true });
    });
    const seed = sandbox.mintKey('demo');
    aws.model.createSecret({ Name: 'prod/web', SecretString: JSON.stringify({ API_KEY: seed }) });
    vault.model.put('secret', 'web/app', { api_key: seed });
    // Vault first in the file: the order comes from the capabilities, not from the configuration.
    const config = writeConfig(dir, sandbox.url, [
      '      - vault-kv: secret/web/app#api_key',
      `        address: ${vault.url}`,
      '      - aws-secrets-manager: prod/web#API_KEY',
      '        region: us-east-1',
      `        endpoint: ${aws.url}`,
    ]);
    const plan = spawnSync(process.execPath, [CLI, 'plan', 'web-key', '--config', config], {
      env: { ...process.env, ...CLOUD_ENV, VAULT_TOKEN: vault.model.rootToken },
      encoding: 'utf8',
    });
    expect(plan.stdout, plan.stderr).toContain('stage the new key in aws-secrets-manager:prod/web#API_KEY');
    expect(plan.stdout).toContain('then write the new key to vault-kv:secret/web/app#api_key (no staging: current at once)');
    const vaultWrites = () => vault.model.log.filter((r) => r.method !== 'GET' && r.path.includes('/data/')).length;
    const gate = aws.model.hold('PutSecretValue', 'before-effect');
    const { output: seen, exited } = startRotate(config, { VAULT_TOKEN: vault.model.rootToken });
    await gate.reached;
    // While AWS has not yet staged, Vault (whose write would be current at once) must not have been written.
    await new Promise((r) => setTimeout(r, 300));
    expect(vaultWrites(), seen()).toBe(0);
    gate.release();
    expect(await exited, seen()).toBe(0);
    expect(vaultWrites(), seen()).toBeGreaterThan(0);
    expect(seen()).toContain('no staging, written after the others held it');
  }, 60_000);
});
