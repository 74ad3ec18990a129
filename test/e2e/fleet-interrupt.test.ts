/**
 * Ctrl-C (SIGINT) while `rekey rotate` runs several credentials at once: one handler for the process says, once, where
 * every run under way stands and which run to resume, and the process ends at once with exit 130. Against the
 * sandbox with a latency per request, so that the signal lands while every run is inside a provider call.
 */
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { rekeyIn, removeWorkspaces, runIds, sandboxPool, show, waitFor, workspace } from './helpers.js';

const sandbox = sandboxPool();
afterAll(removeWorkspaces);

describe('SIGINT during rotate of several credentials', () => {
  it('exit 130, and every run under way is named once with its credential and `rekey resume`', async () => {
    const s = await sandbox({ latencyMs: 300 });
    const ws = workspace({ sandbox: s, credential: 'key-a' });
    for (const id of ['key-b', 'key-c']) {
      writeFileSync(join(ws.dir, `${id}.env`), `KEY=${s.mintKey(id)}\n`, { mode: 0o600 });
      appendFileSync(
        ws.config,
        `  ${id}:\n    runbook: sandbox\n    inputs: { baseUrl: ${s.url}, account: ${id} }\n    stores: [{ dotenv: ./${id}.env#KEY }]\n`,
      );
    }
    let pid: number | undefined;
    const running = rekeyIn(ws, ['rotate', 'key-a', 'key-b', 'key-c', '--concurrency', '3'], { onSpawn: (p) => (pid = p) });
    // Every run has journaled its start (three journals with a record after run.started) before the signal.
    await waitFor(
      () => runIds(ws).length === 3 && runIds(ws).every((run) => readFileSync(join(ws.stateDir, 'runs', `${run}.jsonl`), 'utf8').includes('\n{')),
      15_000,
    );
    process.kill(pid!, 'SIGINT');
    const stopped = await running;
    expect(stopped.code, show(stopped)).toBe(130);
    expect(stopped.stderr.match(/every step done so far is in the journal/g)).toHaveLength(1);
    for (const run of runIds(ws)) {
      const credential = /"credential":"([^"]+)"/.exec(readFileSync(join(ws.stateDir, 'runs', `${run}.jsonl`), 'utf8'))![1]!;
      expect(stopped.stderr).toMatch(new RegExp(`^  ${credential}: interrupted.*; continue with \`rekey resume ${run}\`$`, 'm'));
    }
    expect(stopped.stderr).not.toMatch(/\n\s+at /);
  });
});
