/**
 * What a scheduler or a script asks before and around `rotate --due`: `status --exit-code` (0 nothing due, 10 due or
 * overdue, as `terraform plan -detailed-exitcode` exits 2 for changes), `plan --due` (what the pass would do, nothing
 * written), `--due-unknown` refused without `--due`, and a reminder dated from the stores' age, not the journal.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type CliResult, envValue, rekeyIn, removeWorkspaces, sandboxPool, show, workspace } from './helpers.js';

const DAY = 86_400_000;
const sandbox = sandboxPool();
afterAll(removeWorkspaces);
const ndjson = (result: CliResult) =>
  result.stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, unknown>);

/** A workspace with `fresh-key` (rotated 1 day ago by the person's word) and, optionally, a Streampixel one 100 days old. */
async function fleet(options: { overdue: boolean }) {
  const s = await sandbox({ overlap: 'until-revoked' });
  const ws = workspace({ sandbox: s, credential: 'fresh-key' });
  const oneDayAgo = new Date(Date.now() - DAY).toISOString().slice(0, 10);
  let config = readFileSync(ws.config, 'utf8').replace('maxAge: 30d', `maxAge: 30d\n      lastRotated: ${oneDayAgo}`);
  // 2026-08-01 + 90d = 2026-10-30: the reminder's due date, from policy.lastRotated (this machine has no journal).
  if (options.overdue) {
    writeFileSync(join(ws.dir, 'sp.env'), `STREAMPIXEL_API_KEY=${'sk_'.padEnd(40, 'x')}\n`, { mode: 0o600 });
    config +=
      `  streampixel-prod:\n    runbook: streampixel\n    inputs: { userId: u, projectId: p, baseUrl: ${s.url}/pixelStripeApi }\n` +
      '    stores: [{ dotenv: ./sp.env#STREAMPIXEL_API_KEY }]\n    policy: { maxAge: 90d, lastRotated: 2026-08-01 }\n';
  }
  writeFileSync(ws.config, config);
  return { s, ws };
}

describe('rekey status --exit-code', () => {
  it('exits 0 when nothing is due, and without --exit-code whatever is due', async () => {
    const { ws } = await fleet({ overdue: false });
    const status = await rekeyIn(ws, ['status', '--exit-code']);
    expect(status.code, show(status)).toBe(0);
    const json = await rekeyIn(ws, ['--json', 'status', '--exit-code']);
    expect(json.code, show(json)).toBe(0);
    expect(ndjson(json)).toEqual([expect.objectContaining({ credential: 'fresh-key', state: 'ok' })]);
  });

  it('exits 10 when a credential is overdue, in text and in --json; plain `status` still exits 0', async () => {
    const { ws } = await fleet({ overdue: true });
    const status = await rekeyIn(ws, ['status', '--exit-code']);
    expect(status.code, show(status)).toBe(10);
    expect(status.stdout).toMatch(/^streampixel-prod\s+streampixel\s+\d+d\s+policy\.lastRotated\s+90d\s+overdue \d+d/m);
    const json = await rekeyIn(ws, ['--json', 'status', '--exit-code']);
    expect(json.code, show(json)).toBe(10);
    expect(ndjson(json)).toContainEqual(expect.objectContaining({ credential: 'streampixel-prod', state: 'due', dueAt: '2026-10-30T00:00:00.000Z' }));
    const plain = await rekeyIn(ws, ['status']);
    expect(plain.code, show(plain)).toBe(0);
  });
});

describe('rekey plan --due', () => {
  it('says what `rotate --due` would do for every credential, and writes nothing', async () => {
    const { ws } = await fleet({ overdue: true });
    const before = readFileSync(join(ws.dir, 'sp.env'), 'utf8');
    const plan = await rekeyIn(ws, ['plan', '--due']);
    expect(plan.code, show(plan)).toBe(0);
    expect(plan.stdout).toMatch(/^fresh-key {9}would skip: not due · due \d{4}-\d\d-\d\d$/m);
    expect(plan.stdout).toContain('streampixel-prod  would remind: needs a person (dashboard step) · due 2026-10-30 — run `rekey drill streampixel-prod`');
    expect(plan.stdout).toContain('would rotate 0 · remind 1 · skip 1');
    const json = await rekeyIn(ws, ['--json', 'plan', '--due']);
    expect(ndjson(json)).toEqual([
      expect.objectContaining({ event: 'plan.due', credential: 'fresh-key', action: 'skip', reason: 'not due', ageSource: 'policy.lastRotated' }),
      expect.objectContaining({ event: 'plan.due', credential: 'streampixel-prod', action: 'remind', dueAt: '2026-10-30T00:00:00.000Z' }),
    ]);
    expect(existsSync(ws.stateDir)).toBe(false);
    expect(readFileSync(join(ws.dir, 'sp.env'), 'utf8')).toBe(before);
  });

  it('a credential with no age is skipped, and --due-unknown plans it as a rotation', async () => {
    const s = await sandbox();
    const ws = workspace({ sandbox: s });
    const plan = await rekeyIn(ws, ['--json', 'plan', '--due']);
    expect(ndjson(plan)).toEqual([expect.objectContaining({ credential: ws.credential, action: 'skip', reason: expect.stringMatching(/^unknown age/) })]);
    const told = await rekeyIn(ws, ['--json', 'plan', '--due', '--due-unknown']);
    expect(ndjson(told)).toEqual([expect.objectContaining({ credential: ws.credential, action: 'rotate', next: `rekey plan ${ws.credential}` })]);
    expect(existsSync(ws.stateDir)).toBe(false);
  });

  it('refuses a credential named beside --due, and --due-unknown without --due (exit 2)', async () => {
    const ws = workspace({ sandbox: await sandbox() });
    const named = await rekeyIn(ws, ['plan', '--due', ws.credential]);
    expect(named.code, show(named)).toBe(2);
    expect(named.stderr).toContain('--due plans every credential: name none');
    const alone = await rekeyIn(ws, ['plan', ws.credential, '--due-unknown']);
    expect(alone.code, show(alone)).toBe(2);
  });
});

describe('rotate --due: the usage it refuses and the reminder it sends', () => {
  it('refuses --due-unknown without --due (exit 2), touching nothing', async () => {
    const ws = workspace({ sandbox: await sandbox() });
    const result = await rekeyIn(ws, ['rotate', ws.credential, '--due-unknown']);
    expect(result.code, show(result)).toBe(2);
    expect(result.stderr).toContain('--due-unknown only works with --due');
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect(readFileSync(ws.envFile, 'utf8')).toContain(ws.seed);
    expect(existsSync(ws.stateDir)).toBe(false);
  });

  it("dates a reminder from the credential's age (policy.lastRotated + maxAge) on a machine without a journal", async () => {
    const { ws } = await fleet({ overdue: true });
    const pass = await rekeyIn(ws, ['--json', 'rotate', '--due']);
    expect(pass.code, show(pass)).toBe(0);
    expect(ndjson(pass)).toContainEqual(expect.objectContaining({ event: 'reminder', credential: 'streampixel-prod', due: '2026-10-30' }));
  });
});

describe('rotate --audit-stdout', () => {
  it('stdout carries only the audit records, as written to the audit log, stamped; the text for people is on stderr', async () => {
    const s = await sandbox();
    const ws = workspace({ sandbox: s });
    const result = await rekeyIn(ws, ['rotate', '--due', '--due-unknown', '--audit-stdout']);
    expect(result.code, show(result)).toBe(0);
    const lines = ndjson(result);
    const log = readFileSync(join(ws.stateDir, 'audit.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(log.length).toBeGreaterThan(2);
    expect(lines.map((l) => l['event'])).toEqual(log.map(() => 'audit.record'));
    expect(lines.map((l) => l['hash'])).toEqual(log.map((r) => r['hash']));
    for (const line of lines)
      expect(line).toMatchObject({ credential: ws.credential, run: log[0]!['run'], time: expect.stringMatching(/Z$/), prev: expect.any(String) });
    expect(result.stderr).toContain(`rekey · ${ws.credential} · runbook sandbox`);
    expect(result.stderr).toMatch(/^rotated 1 · reminded 0 · skipped 0 · failed 0 · /m);
    expect(result.stdout).not.toContain(ws.seed);
    expect(result.stdout).not.toContain(envValue(ws)!);
  });
});
