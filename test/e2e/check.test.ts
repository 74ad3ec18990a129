/**
 * `rekey check` on the BUILT CLI asks every store whether it could stage a new value now, and fails (exit 1) when one
 * could not, naming the obstacle and the fix (defect 5 of issue 8): before, a value staged by another run was a note
 * and the exit code was 0, so a drill or a cron job went on to mint a key it could not roll out.
 */
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { VARIABLE, fingerprint, rekeyIn, removeWorkspaces, sandboxPool, show, workspace } from './helpers.js';

const startPooled = sandboxPool();
afterAll(() => removeWorkspaces());
const sandbox = () => startPooled({ overlap: 'until-revoked' });

const OTHER_RUN = '20261124T030000Z-bbbbbb';
const STAGED = 'rk_canary_STAGED_BY_OTHER_0f1e2d3c4b5a69788796';

/** A staged sibling file left by another run, in the format the dotenv store writes (see adapters/stores/dotenv/files.ts). */
function leaveStaged(dir: string, base: string): void {
  const record = {
    rekey: 'dotenv-staged',
    run: OTHER_RUN,
    variable: VARIABLE,
    base,
    version: fingerprint(STAGED),
    value: STAGED,
    stagedAt: new Date().toISOString(),
  };
  writeFileSync(join(dir, `.env.${VARIABLE}.rekey-staged`), `${JSON.stringify(record, null, 2)}\n`, { mode: 0o600 });
}

describe('rekey check', () => {
  it('exits 0 when every store can stage now', async () => {
    const ws = workspace({ sandbox: await sandbox() });
    const result = await rekeyIn(ws, ['check']);
    expect(result.code, show(result)).toBe(0);
    expect(result.stdout + result.stderr).not.toContain('CANNOT stage');
  });

  it('fails with exit 1 when another run has a value staged, naming the run and how to clear it, no value shown (defect 5)', async () => {
    const ws = workspace({ sandbox: await sandbox() });
    leaveStaged(ws.dir, fingerprint(ws.seed));
    const result = await rekeyIn(ws, ['check']);
    expect(result.code, show(result)).toBe(1);
    const out = result.stdout + result.stderr;
    expect(out).toContain('CANNOT stage');
    expect(out).toContain(`rekey rollback ${OTHER_RUN}`);
    expect(out).not.toContain(STAGED);
    expect(out).not.toContain(ws.seed);
  });

  it('the drill stops at its checks, before anything is minted, when a store cannot stage (defect 5)', async () => {
    const s = await sandbox();
    const ws = workspace({ sandbox: s });
    leaveStaged(ws.dir, fingerprint(ws.seed));
    const minted = s.stats.minted;
    const result = await rekeyIn(ws, ['drill', ws.credential]);
    expect(result.code, show(result)).toBe(1);
    expect(result.stdout + result.stderr).toContain('CANNOT stage');
    expect(s.stats.minted).toBe(minted);
    expect(s.isActive(ws.seed)).toBe(true);
  });

  it('--json reports canStage false on the store.checked event and exits 1 (defect 5)', async () => {
    const ws = workspace({ sandbox: await sandbox() });
    leaveStaged(ws.dir, fingerprint(ws.seed));
    const result = await rekeyIn(ws, ['check', '--json']);
    expect(result.code, show(result)).toBe(1);
    const events = result.stdout
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    const checked = events.find((e) => e['event'] === 'store.checked');
    expect(checked, result.stdout).toMatchObject({ credential: ws.credential, readable: true, canStage: false });
    expect((checked!['notes'] as string[]).join(' ')).toContain(OTHER_RUN);
    expect(result.stdout).not.toContain(STAGED);
  });
});

describe('rekey check of a .env shared by several credentials', () => {
  it('says a note about the file (its 0644 mode) once, not once per credential', async () => {
    const s = await sandbox();
    const ws = workspace({ sandbox: s });
    const variables = ['KEY_A', 'KEY_B', 'KEY_C'];
    writeFileSync(ws.envFile, variables.map((v, i) => `${v}=${s.mintKey(`acct-${i}`)}\n`).join(''));
    chmodSync(ws.envFile, 0o644);
    const credentials = variables.flatMap((v, i) => [
      `  cred-${i}:`,
      '    runbook: sandbox',
      `    inputs: { baseUrl: "${s.url}", account: acct-${i} }`,
      '    stores:',
      `      - dotenv: ./.env#${v}`,
    ]);
    writeFileSync(ws.config, ['credentials:', ...credentials, ''].join('\n'));
    const result = await rekeyIn(ws, ['check']);
    expect(result.code, show(result)).toBe(0);
    expect(result.stdout.match(/has mode 0644/g), show(result)).toHaveLength(1);
    expect(result.stdout.match(/a note as above/g), show(result)).toHaveLength(2);
  });
});
