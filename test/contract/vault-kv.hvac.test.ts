/**
 * The fake Vault checked by hvac (the Python client, written by others than the fake's author): the mount preflight,
 * KV v1 beside KV v2, sys/health and custom_metadata, as test/fakes/vault-kv-hvac-check.py asserts them. Skipped,
 * with the reason in its name, where no python3 can import hvac (`apt-get install python3-hvac`).
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startVaultServer, type RunningVaultServer } from '../fakes/vault-kv-server.js';

const SCRIPT = join(import.meta.dirname, '../fakes/vault-kv-hvac-check.py');

/** The first python3 that can import hvac (the Debian package installs it for /usr/bin/python3 only). */
const python = ['python3', '/usr/bin/python3'].find((candidate) => spawnSync(candidate, ['-c', 'import hvac'], { stdio: 'ignore' }).status === 0);

let server: RunningVaultServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe('the fake Vault, as hvac sees it', () => {
  it.skipIf(python === undefined)(
    `answers hvac as Vault does${python === undefined ? ' (SKIPPED: no python3 with hvac)' : ''}`,
    async () => {
      server = await startVaultServer();
      server.model.enableKv('team/secrets');
      server.model.put('team/secrets', 'web/app', { API_KEY: 'rk_canary_hvac_1', REGION: 'eu' });
      server.model.enableKv('legacy', '', 1);
      server.model.putV1('legacy', 'web/app', { API_KEY: 'rk_canary_hvac_2' });
      const stranger = server.model.addToken([{ path: 'secret/data/*', capabilities: ['read'] }]);
      // Asynchronous: the fake server answers from this process.
      const { spawn } = await import('node:child_process');
      const child = spawn(python!, [SCRIPT, server.url, server.model.rootToken, stranger], { stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
      const status = await new Promise<number | null>((resolve) => child.on('close', resolve));
      expect(output).not.toContain('FAIL');
      expect(status, output).toBe(0);
      expect(output.match(/^ok /gm)?.length).toBe(11);
    },
    30_000,
  );
});
