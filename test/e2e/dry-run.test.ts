/**
 * `rekey rotate --dry-run` (issue 9, "Dry run in the engine"): the reads run for real, every write is shown as
 * "would …", and nothing is written anywhere — no store, no mint at the provider, no journal, no audit record, no
 * report. Enforced by the walker, so the test checks the world, not the engine's word for it.
 */
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ACCOUNT, VARIABLE, fingerprint, rekeyIn, removeWorkspaces, sandboxPool, show, workspace } from './helpers.js';

const sandbox = sandboxPool();
afterEach(removeWorkspaces);

/** Every file under a folder with its size and modification time. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of readdirSync(dir, { recursive: true, encoding: 'utf8' })) {
    const s = statSync(join(dir, f));
    out[f] = s.isDirectory() ? 'dir' : `${s.size}:${s.mtimeMs}:${readFileSync(join(dir, f), 'utf8')}`;
  }
  return out;
}

describe('rekey rotate --dry-run', () => {
  it('reads the stores and checks the old key, shows each write as "would …", and writes nothing anywhere', async () => {
    const s = await sandbox();
    const ws = workspace({ sandbox: s });
    // A first real rotation, so the state folder exists with a journal, an audit log and a report to keep unchanged.
    const real = await rekeyIn(ws, ['rotate', ws.credential]);
    expect(real.code, show(real)).toBe(0);
    const before = snapshot(ws.dir);
    const keysBefore = s.keys(ACCOUNT).map((k) => `${k.id}:${k.status}`);
    const checksBefore = s.stats.checks;
    const dry = await rekeyIn(ws, ['rotate', ws.credential, '--dry-run']);
    expect(dry.code, show(dry)).toBe(0);
    expect(dry.stdout).toContain('dry run');
    expect(dry.stdout).toMatch(/would mint a new key/);
    expect(dry.stdout).toMatch(/would make current in dotenv:/);
    expect(dry.stdout).toMatch(/would revoke the old key/);
    // The reads happened: the provider was asked about the current key.
    expect(s.stats.checks).toBeGreaterThan(checksBefore);
    // Nothing was minted or revoked, and not one byte changed on disk (journal, audit log, reports, .env, locks).
    expect(s.keys(ACCOUNT).map((k) => `${k.id}:${k.status}`)).toEqual(keysBefore);
    expect(snapshot(ws.dir)).toEqual(before);
  }, 60_000);

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
    expect(dry.code, show(dry)).toBe(1);
    expect(dry.stdout + dry.stderr).toMatch(/cannot stage|staged by another/i);
    expect(s.keys(ACCOUNT).filter((k) => k.mintedBy === 'http')).toEqual([]);
    expect(snapshot(ws.dir)).toEqual(before);
  }, 60_000);
});
