/**
 * Issue 12, the Vault items, through the BUILT CLI (`npx tsc -p tsconfig.build.json` first) and node-vault against
 * the local Vault API server: `rekey check` finds a mount whose path has slashes without the `mount:` option, and
 * fails with exit 1 and the way out on a KV v1 mount or a Vault before 1.9; a rotation stops at its pre-flight there,
 * before anything is minted or written.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startSandbox, type Sandbox } from '../../src/sandbox/server.js';
import { rekey, show } from '../e2e/helpers.js';
import { startVaultServer, type RunningVaultServer } from '../fakes/vault-kv-server.js';

interface World {
  readonly dir: string;
  readonly sandbox: Sandbox;
  readonly vault: RunningVaultServer;
  readonly seed: string;
  run(args: string[]): ReturnType<typeof rekey>;
}

let open: World | undefined;
afterEach(async () => {
  if (open === undefined) return;
  await Promise.all([open.sandbox.close(), open.vault.close()]);
  rmSync(open.dir, { recursive: true, force: true });
  open = undefined;
});

/** A credential held in a .env and in Vault at `ref`; `seed` puts the same value in Vault through the side door. */
async function world(ref: string, seed: (vault: RunningVaultServer, value: string) => void): Promise<World> {
  const dir = mkdtempSync(join(tmpdir(), 'rekey-vault-cli-'));
  const sandbox = await startSandbox({ overlap: 'until-revoked' });
  const vault = await startVaultServer();
  const value = sandbox.mintKey('demo');
  seed(vault, value);
  writeFileSync(join(dir, '.env'), `API_KEY=${value}\n`, { mode: 0o600 });
  const config = [
    'credentials:',
    '  web-key:',
    '    runbook: sandbox',
    `    inputs: { baseUrl: "${sandbox.url}", account: demo }`,
    '    stores:',
    '      - dotenv: ./.env#API_KEY',
    `      - vault-kv: ${ref}`,
    `        address: ${vault.url}`,
    '',
  ].join('\n');
  writeFileSync(join(dir, 'rekey.yaml'), config, { mode: 0o600 });
  const env = { VAULT_TOKEN: vault.model.rootToken, VAULT_NAMESPACE: undefined, NO_COLOR: '1' };
  open = { dir, sandbox, vault, seed: value, run: (args) => rekey([...args, '--config', join(dir, 'rekey.yaml')], { cwd: dir, env }) };
  return open;
}

describe('rekey check and the pre-flight on Vault mounts and versions (issue 12)', () => {
  it('finds a mount whose path has slashes without the mount option, and passes', async () => {
    const w = await world('team/secrets/web/app#API_KEY', (vault, value) => {
      vault.model.enableKv('team/secrets');
      vault.model.put('team/secrets', 'web/app', { API_KEY: value });
    });
    const result = await w.run(['check']);
    expect(result.code, show(result)).toBe(0);
    expect(w.vault.model.log.map((r) => `${r.method} ${r.path}`)).toContain('GET sys/internal/ui/mounts/team/secrets/web/app');
    expect(w.vault.model.log.map((r) => r.path)).toContain('team/secrets/data/web/app');
  }, 60_000);

  it('refuses a KV v1 mount with exit 1, naming `vault kv enable-versioning`', async () => {
    const w = await world('legacy/web/app#API_KEY', (vault, value) => {
      vault.model.enableKv('legacy', '', 1);
      vault.model.putV1('legacy', 'web/app', { API_KEY: value });
    });
    const result = await w.run(['check']);
    expect(result.code, show(result)).toBe(1);
    const out = result.stdout + result.stderr;
    expect(out).toContain('the mount legacy is KV version 1: rekey needs KV v2');
    expect(out).toContain('vault kv enable-versioning legacy');
    expect(out).not.toContain(w.seed);
    expect(out).not.toMatch(/\n\s+at /);
  }, 60_000);

  it('refuses a Vault before 1.9 with exit 1, and a rotation stops before it mints or writes anything', async () => {
    const w = await world('secret/web/app#API_KEY', (vault, value) => {
      vault.model.serverVersion = '1.8.12';
      vault.model.put('secret', 'web/app', { API_KEY: value });
    });
    const checked = await w.run(['check']);
    expect(checked.code, show(checked)).toBe(1);
    expect(checked.stdout + checked.stderr).toContain('CANNOT stage');
    expect(checked.stdout + checked.stderr).toContain('Vault 1.8.12 is older than 1.9');

    const minted = w.sandbox.stats.minted;
    const rotated = await w.run(['rotate', 'web-key']);
    expect(rotated.code, show(rotated)).not.toBe(0);
    expect(rotated.stdout + rotated.stderr).toContain('Vault 1.8.12 is older than 1.9');
    expect(w.sandbox.stats.minted).toBe(minted);
    expect(w.vault.model.secret('secret', 'web/app')!.currentVersion).toBe(1);
    expect(readFileSync(join(w.dir, '.env'), 'utf8')).toBe(`API_KEY=${w.seed}\n`);
  }, 60_000);
});
