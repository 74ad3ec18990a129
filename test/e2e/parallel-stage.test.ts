/**
 * Defect 4: stages run side by side, and one store's failure must not start the rollback while another store's write
 * is still in flight (that write would land after the rollback and leave this run's value staged). Made deterministic:
 * the AWS fake holds the PutSecretValue before its effect while the Vault fake refuses the write; the test checks that
 * nothing is undone while the AWS write is held, then lets it land, and the rollback must clean it up.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startSandbox } from '../../src/sandbox/server.js';
import { start as startAws } from '../fakes/aws-secrets-manager-server.js';
import { startVaultServer } from '../fakes/vault-kv-server.js';

const CLI = join(import.meta.dirname, '../../dist/src/cli/main.js');
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((c) => c()));
});

describe('a stage that fails in one store while another store is still writing (defect 4)', () => {
  it('waits for the write in flight, then rolls it back: no AWSPENDING left, the old key current and alive', async () => {
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
    writeFileSync(
      join(dir, 'rekey.yaml'),
      [
        'credentials:',
        '  web-key:',
        '    runbook: sandbox',
        `    inputs: { baseUrl: "${sandbox.url}", account: demo }`,
        '    stores:',
        '      - aws-secrets-manager: prod/web#API_KEY',
        '        region: us-east-1',
        `        endpoint: ${aws.url}`,
        '      - vault-kv: secret/web/app#api_key',
        `        address: ${vault.url}`,
        '',
      ].join('\n'),
    );
    const gate = aws.model.hold('PutSecretValue', 'before-effect');
    // Vault refuses the data write with a permission error (not retried), as a token without `update` gets.
    vault.model.failNext(1, 403, (r) => r.method !== 'GET' && r.path.includes('/data/'));
    const child = spawn(process.execPath, [CLI, 'rotate', 'web-key', '--config', join(dir, 'rekey.yaml')], {
      env: {
        ...process.env,
        AWS_ACCESS_KEY_ID: 'AKIDEXAMPLEREKEYTEST',
        AWS_SECRET_ACCESS_KEY: 'example-secret-for-local-fake',
        VAULT_TOKEN: vault.model.rootToken,
        NO_COLOR: '1',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    const exited = new Promise<number | null>((done) => child.on('close', (code) => done(code)));
    await gate.reached;
    // Give the failed Vault write every chance to trigger an early rollback, then check none began.
    for (let i = 0; i < 50 && !output.includes('could not stage'); i++) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 200));
    expect(aws.model.count('UpdateSecretVersionStage'), output).toBe(0);
    expect(output).not.toContain('rolling back');
    gate.release();
    const code = await exited;
    expect(code, output).toBe(1);
    expect(output).toContain('rolled back');
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
});
