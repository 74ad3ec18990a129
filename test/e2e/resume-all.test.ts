/**
 * `rekey resume --all` and `--last`: every credential's unfinished run (killed half-way), one after another, with a
 * tally as `rotate --due` ends; the lock a killed run left is taken over, and that note names its run in NDJSON.
 */
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Sandbox } from '../../src/sandbox/server.js';
import { type CliResult, envValue, rekeyIn, removeWorkspaces, runIds, sandboxPool, show, type Workspace, workspace } from './helpers.js';

const sandbox = sandboxPool();
afterAll(removeWorkspaces);
const ndjson = (result: CliResult) =>
  result.stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
/** Killed right after journal record 9 (the promote is done): mid-run, holding its lock. */
const KILL = { REKEY_TEST_KILL_AFTER_RECORD: '9' };

function addCredential(ws: Workspace, s: Sandbox, id: string): string {
  const seed = s.mintKey(id);
  writeFileSync(join(ws.dir, `${id}.env`), `KEY=${seed}\n`, { mode: 0o600 });
  appendFileSync(ws.config, `  ${id}:\n    runbook: sandbox\n    inputs: { baseUrl: ${s.url}, account: ${id} }\n    stores: [{ dotenv: ./${id}.env#KEY }]\n`);
  return seed;
}
const keyOf = (ws: Workspace, id: string) => /^KEY=(.*)$/m.exec(readFileSync(join(ws.dir, `${id}.env`), 'utf8'))![1]!;

describe('rekey resume --all', () => {
  it("finishes every credential's interrupted run, one after another, and a second pass finds nothing", async () => {
    const s = await sandbox({ overlap: 'until-revoked' });
    const ws = workspace({ sandbox: s, credential: 'api' });
    const billingSeed = addCredential(ws, s, 'billing');
    addCredential(ws, s, 'done-key');
    const done = await rekeyIn(ws, ['rotate', 'done-key']);
    expect(done.code, show(done)).toBe(0);
    for (const id of ['api', 'billing']) expect((await rekeyIn(ws, ['rotate', id], { env: KILL })).signal).toBe('SIGKILL');
    const runs = runIds(ws);
    expect(runs).toHaveLength(3);

    const pass = await rekeyIn(ws, ['resume', '--all']);
    expect(pass.code, show(pass)).toBe(0);
    expect(pass.stdout).toMatch(/^\[api\]\s+rekey · api · runbook sandbox .* · resumed$/m);
    expect(pass.stdout).toMatch(/^\[billing\]\s+rekey · billing · /m);
    expect(pass.stdout).toMatch(/^resumed 2 · skipped 0 · failed 0 · /m);
    expect(s.isActive(envValue(ws)!)).toBe(true);
    expect(s.isActive(ws.seed)).toBe(false);
    expect(s.isActive(keyOf(ws, 'billing'))).toBe(true);
    expect(s.isActive(billingSeed)).toBe(false);
    // Nothing new was started: the same journals, finished.
    expect(runIds(ws)).toEqual(runs);

    const again = await rekeyIn(ws, ['resume', '--all']);
    expect(again.code, show(again)).toBe(0);
    expect(again.stdout).toContain('nothing to resume');
  }, 60_000);

  it('--last resumes only the newest; the take-over of its stale lock is a note that names the run in NDJSON', async () => {
    const s = await sandbox({ overlap: 'until-revoked' });
    const ws = workspace({ sandbox: s, credential: 'api' });
    addCredential(ws, s, 'billing');
    expect((await rekeyIn(ws, ['rotate', 'api'], { env: KILL })).signal).toBe('SIGKILL');
    const older = runIds(ws)[0]!;
    expect((await rekeyIn(ws, ['rotate', 'billing'], { env: KILL })).signal).toBe('SIGKILL');
    const newer = runIds(ws).find((r) => r !== older)!;

    const last = await rekeyIn(ws, ['--json', 'resume', '--last']);
    expect(last.code, show(last)).toBe(0);
    const events = ndjson(last);
    const note = events.find((e) => e['event'] === 'note' && String(e['message']).startsWith('took over a stale lock'));
    expect(note).toMatchObject({ credential: 'billing', run: newer, time: expect.any(String) });
    expect(events.indexOf(note!)).toBeLessThan(events.findIndex((e) => e['event'] === 'run.started'));
    expect(events.filter((e) => e['event'] === 'run.started').map((e) => e['run'])).toEqual([newer]);
    expect(events.at(-1)).toMatchObject({ event: 'tally', resumed: 1, exit: 0, runs: [{ credential: 'billing', run: newer, outcome: 'resumed' }] });
    // The older run is still unfinished, and --all now finds it alone.
    const rest = await rekeyIn(ws, ['--json', 'resume', '--all']);
    expect(ndjson(rest).at(-1)).toMatchObject({ event: 'tally', resumed: 1, runs: [{ credential: 'api', run: older, outcome: 'resumed' }] });
  }, 60_000);

  it('a run and --all together, or nothing at all, is a usage error (exit 2)', async () => {
    const ws = workspace({ sandbox: await sandbox() });
    const both = await rekeyIn(ws, ['resume', '20261202T050000Z-1a2b3c', '--all']);
    expect(both.code, show(both)).toBe(2);
    const none = await rekeyIn(ws, ['resume']);
    expect(none.code, show(none)).toBe(2);
    expect(none.stderr).toContain("error: missing required argument 'run' (or pass --all or --last)");
  });
});
