/**
 * One sandbox credential held in Doppler (the local Doppler API server, test/fakes/doppler-server.ts) and a .env,
 * rotated by the built CLI, killed mid-run and resumed: both stores must end on the new value, one key minted (I1, I5).
 * Doppler has no staging, so it is written in the second wave, with the promotions: `rekey plan` says so.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startSandbox, type Sandbox } from '../../src/sandbox/server.js';
import { type RunningDopplerServer, startDopplerServer } from '../fakes/doppler-server.js';

const CLI = join(import.meta.dirname, '../../dist/src/cli/main.js');

interface World {
  dir: string;
  sandbox: Sandbox;
  doppler: RunningDopplerServer;
  seed: string;
  env: NodeJS.ProcessEnv;
  close(): Promise<void>;
}

async function world(): Promise<World> {
  const dir = mkdtempSync(join(tmpdir(), 'rekey-doppler-e2e-'));
  const sandbox = await startSandbox({ overlap: 'until-revoked' });
  const doppler = await startDopplerServer();
  const seed = sandbox.mintKey('demo');
  // Seeded through the side doors, never through the adapter under test.
  doppler.model.seed('web', 'prd', { API_KEY: seed, LOG_LEVEL: 'info' });
  const token = doppler.model.addToken({ kind: 'service', project: 'web', config: 'prd', access: 'read/write' });
  writeFileSync(join(dir, '.env'), `# app settings\nAPI_KEY=${seed}\nLOG_LEVEL=info\n`, { mode: 0o600 });
  writeFileSync(
    join(dir, 'rekey.yaml'),
    [
      'credentials:',
      '  web-key:',
      '    runbook: sandbox',
      `    inputs: { baseUrl: "${sandbox.url}", account: demo }`,
      '    stores:',
      '      - doppler: web/prd#API_KEY',
      `        apiHost: ${doppler.url}`,
      '      - dotenv: ./.env#API_KEY',
      '',
    ].join('\n'),
  );
  const env = { ...process.env, DOPPLER_TOKEN: token, NO_COLOR: '1' };
  return {
    dir,
    sandbox,
    doppler,
    seed,
    env,
    async close() {
      await Promise.all([sandbox.close(), doppler.close()]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

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

const values = (w: World) => ({
  doppler: w.doppler.model.value('web', 'prd', 'API_KEY'),
  dotenv: /^API_KEY=(.*)$/m.exec(readFileSync(join(w.dir, '.env'), 'utf8'))?.[1],
});

let current: World | undefined;
afterEach(async () => {
  await current?.close();
  current = undefined;
});

describe('a credential in Doppler and a .env', () => {
  it('rekey plan lists Doppler among the stores written directly, in the second wave', async () => {
    current = await world();
    const plan = await rekey(current, ['plan', 'web-key']);
    expect(plan.status, plan.stdout + plan.stderr).toBe(0);
    const lines = plan.stdout.split('\n');
    const staged = lines.findIndex((l) => l.includes('stage the new key in dotenv:./.env#API_KEY'));
    const direct = lines.findIndex((l) => l.includes('write the new key to doppler:web/prd#API_KEY') && l.includes('no staging'));
    expect(staged, plan.stdout).toBeGreaterThan(-1);
    expect(direct, plan.stdout).toBeGreaterThan(staged);
  });

  it('I1/I5: killed after Doppler took the new value and before the .env did, resume ends with both on it and one key minted', async () => {
    // Learn from a full run, on a world of its own, where the mint step ends: by then Doppler, which has no staging,
    // holds the new value, and the .env only has it staged beside the file.
    current = await world();
    const probe = current;
    const full = await rekey(probe, ['rotate', 'web-key']);
    expect(full.status, full.stdout + full.stderr).toBe(0);
    expect(full.stdout + full.stderr).not.toContain(probe.seed);
    const fresh = values(probe);
    expect(fresh.doppler).toBe(fresh.dotenv);
    expect(fresh.doppler).not.toBe(probe.seed);
    const runs = readdirSync(join(probe.dir, '.rekey', 'runs'));
    const records = readFileSync(join(probe.dir, '.rekey', 'runs', runs[0]!), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { seq: number; type: string; step?: string; store?: string });
    const dopplerWritten = records.find((r) => r.type === 'step.done' && r.step === 'mint');
    expect(dopplerWritten, JSON.stringify(records.map((r) => [r.seq, r.type, r.step]))).toBeDefined();
    await probe.close();

    current = await world();
    const w = current;
    const minted = w.sandbox.stats.minted;
    const killed = await rekey(w, ['rotate', 'web-key'], { REKEY_TEST_KILL_AFTER_RECORD: String(dopplerWritten!.seq) });
    expect(killed.signal).toBe('SIGKILL');
    const between = values(w);
    expect(between.doppler).not.toBe(w.seed);
    expect(between.dotenv).toBe(w.seed);
    const run = readdirSync(join(w.dir, '.rekey', 'runs'))[0]!.replace(/\.jsonl$/, '');
    const resumed = await rekey(w, ['resume', run]);
    expect(resumed.status, resumed.stdout + resumed.stderr).toBe(0);
    const after = values(w);
    expect(after.dotenv).toBe(after.doppler);
    expect(after.doppler).toBe(between.doppler);
    expect(w.sandbox.isActive(after.doppler!)).toBe(true);
    expect(w.sandbox.isActive(w.seed)).toBe(false);
    expect(w.sandbox.stats.minted - minted).toBe(1);
    expect(w.doppler.model.value('web', 'prd', 'LOG_LEVEL')).toBe('info');
  });
});
