/**
 * A run killed after staging its key, on a machine whose state folder is then thrown away (a pod without a volume, a
 * CI runner): the next scheduled pass, with a fresh state folder, finds the run from the stores (the .env's staged
 * sibling file names its run), does not mint over it, and names the command that finishes it; `rekey resume <run>
 * --from-stores` adopts it from the stores and finishes it: the staged key is the one made current, the old one dies.
 */
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type CliResult, envValue, rekeyIn, removeWorkspaces, runIds, sandboxPool, show, siblingLeftovers, workspace } from './helpers.js';

const sandbox = sandboxPool();
afterAll(removeWorkspaces);
const ndjson = (result: CliResult) =>
  result.stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
/** Killed right after journal record 7: the mint step is done, the new key is staged beside the .env, nothing promoted. */
const AFTER_STAGING = { REKEY_TEST_KILL_AFTER_RECORD: '7' };

describe('unfinished runs found in the stores', () => {
  it('a fresh state folder: the pass does not mint over the staged key, names the run, and --from-stores finishes it', async () => {
    const s = await sandbox({ overlap: 'until-revoked' });
    const ws = workspace({ sandbox: s });
    const killed = await rekeyIn(ws, ['rotate', ws.credential], { env: AFTER_STAGING });
    expect(killed.signal, show(killed)).toBe('SIGKILL');
    const [run] = runIds(ws);
    const staged = readdirSync(ws.dir).filter((f) => f.includes('rekey-staged'));
    expect(staged).toHaveLength(1);
    const stagedText = readFileSync(join(ws.dir, staged[0]!), 'utf8');
    // The sibling file's own fields (adapters/stores/dotenv/files.ts, StagedFile), read as JSON, not through rekey.
    const stagedFile = JSON.parse(stagedText) as { run: string; value: string };
    expect(stagedFile.run).toBe(run);
    const stagedKey = stagedFile.value;
    expect(stagedKey).not.toBe(ws.seed);
    expect(s.isActive(stagedKey)).toBe(true);
    rmSync(ws.stateDir, { recursive: true, force: true });
    const keysBefore = s.keys('e2e').length;

    const pass = await rekeyIn(ws, ['--json', 'rotate', '--due', '--due-unknown']);
    expect(pass.code, show(pass)).toBe(3);
    const events = ndjson(pass);
    expect(events).toContainEqual(
      expect.objectContaining({
        event: 'error',
        credential: ws.credential,
        message: expect.stringContaining(`run ${run} left a value staged in dotenv:./.env#`),
      }),
    );
    expect(events.at(-1)).toMatchObject({
      event: 'tally',
      exit: 3,
      credentials: [{ credential: ws.credential, outcome: 'failed', reason: 'unfinished in the stores', next: `rekey resume ${run} --from-stores` }],
    });
    // Nothing minted, nothing written: the .env and the staged file are as the killed run left them.
    expect(s.keys('e2e')).toHaveLength(keysBefore);
    expect(envValue(ws)).toBe(ws.seed);
    expect(readFileSync(join(ws.dir, staged[0]!), 'utf8')).toBe(stagedText);
    expect(events.some((e) => e['event'] === 'run.started')).toBe(false);

    // A plain resume has no journal to go on; --from-stores adopts the run and finishes it.
    const plain = await rekeyIn(ws, ['resume', run!]);
    expect(plain.code, show(plain)).toBe(3);
    const adopted = await rekeyIn(ws, ['resume', run!, '--from-stores']);
    expect(adopted.code, show(adopted)).toBe(0);
    expect(adopted.stdout).toMatch(/rekey · sandbox-key · runbook sandbox .* · resumed/);
    expect(envValue(ws)).toBe(stagedKey);
    expect(s.isActive(stagedKey)).toBe(true);
    expect(s.isActive(ws.seed)).toBe(false);
    expect(s.keys('e2e')).toHaveLength(keysBefore);
    expect(siblingLeftovers(ws)).toEqual([]);
    expect(runIds(ws)).toEqual([run]);

    const next = await rekeyIn(ws, ['--json', 'rotate', '--due']);
    expect(next.code, show(next)).toBe(0);
    expect(ndjson(next).at(-1)).toMatchObject({ event: 'tally', failed: { total: 0 } });
  }, 60_000);

  it('--from-stores for a run no store names is refused (exit 3)', async () => {
    const ws = workspace({ sandbox: await sandbox() });
    const result = await rekeyIn(ws, ['resume', '20261202T050000Z-1a2b3c', '--from-stores']);
    expect(result.code, show(result)).toBe(3);
    expect(result.stderr).toContain('no store of rekey.yaml holds a value staged by run 20261202T050000Z-1a2b3c');
  });
});
