/**
 * Issue 10: journal and audit records are written off the event loop, and the records of runs going on side by side
 * share one write and one fsync (src/engine/chain.ts, src/engine/audit-log.ts). The attack: `rekey rotate` of four
 * credentials at once SIGKILLed at a random moment (seeded, so a round names its delay again), then `rekey resume
 * --all`. Whatever the kill cut, every round must end with both hash chains intact, every run finished, each
 * credential's store holding a key the provider accepts, the old key of every rotated credential dead, and nothing
 * left behind (temporary files, locks of dead processes, a second live key).
 */
import { appendFileSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { mulberry32 } from './kill-harness.js';
import { chainProblem, journal, rekeyIn, removeWorkspaces, runIds, sandboxPool, show, siblingLeftovers, waitFor, whoami, workspace } from './helpers.js';

const sandbox = sandboxPool();
afterAll(removeWorkspaces);

const SEED = 20_261_203;
const ROUNDS = 6;
const OTHERS = ['key-b', 'key-c', 'key-d'];

/** Whether a process is alive (signal 0 reaches it). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The value of `KEY=` / `SANDBOX_API_KEY=` in an .env file. */
const valueIn = (file: string) => /^[A-Z_]+=(.*)$/m.exec(readFileSync(file, 'utf8'))?.[1];

describe('SIGKILL during a rotation of four credentials at once, then resume --all (issue 10)', () => {
  it(`every round ends with intact chains, finished runs, live keys in the stores and dead old keys (seed ${SEED}, ${ROUNDS} rounds)`, async () => {
    const random = mulberry32(SEED);
    const landed: string[] = [];
    let kills = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const s = await sandbox({ latencyMs: 30 });
      const ws = workspace({ sandbox: s, credential: 'key-a' });
      const files = new Map([['key-a', ws.envFile]]);
      for (const id of OTHERS) {
        const file = join(ws.dir, `${id}.env`);
        writeFileSync(file, `KEY=${s.mintKey(id)}\n`, { mode: 0o600 });
        appendFileSync(
          ws.config,
          `  ${id}:\n    runbook: sandbox\n    inputs: { baseUrl: ${s.url}, account: ${id} }\n    stores: [{ dotenv: ./${id}.env#KEY }]\n`,
        );
        files.set(id, file);
      }
      const before = new Map([...files].map(([id, file]) => [id, valueIn(file)!]));
      let pid: number | undefined;
      const running = rekeyIn(ws, ['rotate', 'key-a', ...OTHERS, '--concurrency', '4'], { onSpawn: (p) => (pid = p) });
      // Kill once the four journals together hold a seeded number of records (of about 90 in all): by progress, not by
      // time, so that a fast machine does not finish first. Polled, so the kill lands a moment later, wherever the
      // runs then are: inside a call, a group write, between two records.
      const target = 4 + Math.floor(random() * 66);
      const records = () => runIds(ws).reduce((n, run) => n + (readFileSync(join(ws.stateDir, 'runs', `${run}.jsonl`), 'utf8').match(/\n/g)?.length ?? 0), 0);
      await waitFor(() => records() >= target, 30_000, 2);
      let killed = true;
      try {
        process.kill(pid!, 'SIGKILL');
      } catch {
        // It finished first: a round without a kill (counted below, so that a loop of such rounds fails).
        killed = false;
      }
      kills += killed ? 1 : 0;
      await running;
      const cut = runIds(ws).map((run) => journal(ws, run).at(-1)?.type ?? 'nothing');
      landed.push(
        `round ${round}: ${killed ? `killed at ${target}+ records` : 'finished before the kill'} with ${cut.length} runs begun, last records ${cut.join(', ')}`,
      );

      const resumed = await rekeyIn(ws, ['resume', '--all']);
      expect(resumed.code, `${landed.at(-1)}\n${show(resumed)}`).toBe(0);
      // Credentials the kill stopped before their run began are rotated now, as the next scheduled pass would.
      const begun = new Set(runIds(ws).map((run) => journal(ws, run)[0]?.['credential']));
      const notBegun = [...files.keys()].filter((id) => !begun.has(id));
      if (notBegun.length > 0) {
        const rest = await rekeyIn(ws, ['rotate', ...notBegun]);
        expect(rest.code, show(rest)).toBe(0);
      }

      const verify = await rekeyIn(ws, ['audit', 'verify']);
      expect(verify.code, `${landed.at(-1)}\n${show(verify)}`).toBe(0);
      for (const run of runIds(ws)) {
        const rows = journal(ws, run);
        expect(chainProblem(rows), `${landed.at(-1)}: journal of ${run}`).toBeUndefined();
        expect(rows.at(-1)?.type, `${landed.at(-1)}: run ${run}`).toBe('run.finished');
      }
      for (const [id, file] of files) {
        const now = valueIn(file)!;
        expect(await whoami(s, now), `${landed.at(-1)}: ${id}'s stored key`).toBe(200);
        expect(now, `${landed.at(-1)}: ${id} rotated`).not.toBe(before.get(id));
        expect(await whoami(s, before.get(id)!), `${landed.at(-1)}: ${id}'s old key`).toBe(401);
      }
      expect(siblingLeftovers(ws), landed.at(-1)).toEqual([]);
      const stateFiles = readdirSync(ws.stateDir, { recursive: true }).map(String);
      expect(
        stateFiles.filter((f) => f.includes('.rekey-tmp')),
        landed.at(-1),
      ).toEqual([]);
      // A lock may outlive a process killed between its run's end and the lock's release: it names that dead process,
      // so the next run takes it over (test/e2e/lock-status.test.ts); a lock of a live process would block it.
      for (const lock of stateFiles.filter((f) => f.startsWith('locks/'))) {
        const text = readFileSync(join(ws.stateDir, lock), 'utf8');
        const holder = text === '' ? undefined : (JSON.parse(text) as { pid?: number }).pid;
        expect(holder === undefined || !alive(holder), `${landed.at(-1)}: ${lock} holds ${text}`).toBe(true);
      }
    }
    console.log(landed.join('\n'));
    // The kills must land: rounds that all finished first would test nothing.
    expect(kills, landed.join('\n')).toBeGreaterThanOrEqual(ROUNDS - 1);
  }, 300_000);
});
