/**
 * A credential kept in a write-only store (a store that cannot be read back, as GitHub Actions secrets): the engine
 * never reads it. Beside a `.env`, the rotation reads the `.env`, stages and promotes in both, skips the write-only
 * store's read back (saying it relies on the provider's check) and still runs the provider's verify. As the only
 * store, with a runbook that needs `{{ old }}`, the run is refused (exit 3) before anything is minted.
 *
 * Memory stores live in one process, so the rotations that need a seeded write-only store run the engine in this
 * process (with the real sandbox provider, the real config loader and the store registry); what needs no seeded value
 * (the refusal, `rekey plan`) runs the built CLI.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { memorySpace } from '../../adapters/stores/memory.js';
import { checkStores } from '../../src/cli/check.js';
import { storeCatalog, storeOpener } from '../../src/cli/stores.js';
import { loadConfig } from '../../src/config/load.js';
import type { EngineEvent } from '../../src/contract/events.js';
import { executeRun } from '../../src/engine/run.js';
import { loadRunbook } from '../../src/runbook/load.js';
import { noInteraction } from '../../src/ui/interaction.js';
import { ACCOUNT, envValue, fingerprint, rekeyIn, removeWorkspaces, sandboxPool, show, workspace } from './helpers.js';

const startPooled = sandboxPool();
afterAll(() => removeWorkspaces());
const sandbox = () => startPooled({ overlap: 'until-revoked' });
let spaces = 0;

/** The workspace's rekey.yaml with a write-only memory store added (or standing alone). */
function withWriteOnlyStore(config: string, space: string, alone: boolean): void {
  const text = readFileSync(config, 'utf8');
  const store = `      - memory: app\n        space: ${space}\n        writeOnly: true\n`;
  writeFileSync(config, alone ? text.replace(/ {6}- dotenv: .*\n/, store) : text.replace(/( {6}- dotenv: .*\n)/, `$1${store}`));
}

describe('a write-only store', () => {
  it('beside a .env: rotated without being read, the read back says it relies on the provider check, and check shows its metadata', async () => {
    const s = await sandbox();
    const ws = workspace({ sandbox: s });
    const space = `write-only-e2e-${++spaces}`;
    memorySpace(space).put('app', ws.seed);
    withWriteOnlyStore(ws.config, space, false);
    const config = await loadConfig(ws.config, storeCatalog);
    const credential = config.credentials.get(ws.credential)!;
    const events: EngineEvent[] = [];
    const summary = await executeRun({
      config,
      credential,
      runbook: await loadRunbook(credential.runbookFile),
      mode: 'scheduled',
      interaction: noInteraction(),
      sink: { emit: (e) => events.push(e) },
      openStores: storeOpener(config),
    });
    expect(summary.result, summary.error).toBe('done');
    const fresh = envValue(ws)!;
    expect(fresh).not.toBe(ws.seed);
    // Both stores hold the new key; the provider takes it and rejects the old one.
    expect(memorySpace(space).payload('app')).toBe(fresh);
    expect(s.isActive(fresh)).toBe(true);
    expect(s.isActive(ws.seed)).toBe(false);
    const step = (id: string) => summary.timeline.find((t) => t.step === id);
    expect(step('readback')?.detail).toBe(`the store holds ${fingerprint(fresh)} · memory:app cannot be read back: relies on the provider's check`);
    expect(step('verify:whoami')).toBeDefined();
    expect(step('preflight')?.detail).toContain('memory:app write-only, not read');

    // rekey check: the write-only store is not read, and not a failure: its metadata names the run that wrote it.
    const notes: string[] = [];
    const code = await checkStores(config, [credential], { emit: (e) => (e.event === 'note' ? notes.push(e.message) : undefined) }, false, {
      deferUnfinishedRuns: false,
    });
    expect(code, notes.join('\n')).toBe(0);
    expect(notes.find((n) => n.includes('memory:app'))).toMatch(new RegExp(`write-only: not read back \\(version \\d+, written \\S+ by run ${summary.run}\\)`));
  });

  it('as the only store, with a runbook that needs {{ old }}: refused, exit 3, before anything is minted', async () => {
    const s = await sandbox();
    const ws = workspace({ sandbox: s });
    withWriteOnlyStore(ws.config, 'unused', true);
    const keysBefore = s.keys(ACCOUNT).length;
    const result = await rekeyIn(ws, ['rotate', ws.credential]);
    expect(result.code, show(result)).toBe(3);
    expect(result.stderr).toContain('none of its stores can be read back (memory:app), so the old value is unknown');
    expect(result.stderr).toContain('revoke the old key');
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect(s.keys(ACCOUNT).length).toBe(keysBefore);
  });

  it('rekey plan leaves out the read back of a write-only store and says what verify relies on', async () => {
    const ws = workspace({ sandbox: await sandbox() });
    withWriteOnlyStore(ws.config, 'unused', false);
    const result = await rekeyIn(ws, ['plan', ws.credential]);
    expect(result.code, show(result)).toBe(0);
    expect(result.stdout).toContain('read dotenv:./.env#SANDBOX_API_KEY back and compare fingerprints');
    expect(result.stdout).toContain("memory:app cannot be read back: relies on the provider's check");
    expect(result.stdout).not.toContain('read every store back');
  });
});
