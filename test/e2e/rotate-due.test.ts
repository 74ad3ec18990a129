/**
 * `rekey rotate --due`, the scheduled job (cron, a CronJob, a CI schedule): it rotates what is due, leaves what is not,
 * sends a reminder for what needs a person, exits 0 when nothing failed, and run again at once does nothing more.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { rekeyIn, removeWorkspaces, runIds, sandboxPool, show, workspace } from './helpers.js';

const sandbox = sandboxPool();
afterAll(removeWorkspaces);

describe('rekey rotate --due', () => {
  it('rotates the due credential, skips the fresh one, reminds about the one needing a person; a second pass rotates nothing', async () => {
    const s = await sandbox({ overlap: 'until-revoked' });
    const ws = workspace({ sandbox: s, credential: 'fresh-key' });
    // A second sandbox credential in its own .env, and a Streampixel one (a dashboard step: a person is needed).
    const dueSeed = s.mintKey('due-account');
    writeFileSync(join(ws.dir, 'due.env'), `DUE_KEY=${dueSeed}\n`, { mode: 0o600 });
    writeFileSync(join(ws.dir, 'sp.env'), `STREAMPIXEL_API_KEY=${'sk_'.padEnd(40, 'x')}\n`, { mode: 0o600 });
    const config = readFileSync(ws.config, 'utf8').replace(/maxAge: 30d/, 'maxAge: 1d');
    writeFileSync(
      ws.config,
      `${config}  due-key:\n    runbook: sandbox\n    inputs: { baseUrl: ${s.url}, account: due-account }\n    stores: [{ dotenv: ./due.env#DUE_KEY }]\n  ` +
        `  policy: { maxAge: 1d }\n` +
        `  streampixel-prod:\n    runbook: streampixel\n    inputs: { userId: u, projectId: p, baseUrl: ${s.url}/pixelStripeApi }\n    stores: [{ dotenv: ` +
        `./sp.env#STREAMPIXEL_API_KEY }]\n`,
    );
    // fresh-key was rotated just now: not due for a day.
    const first = await rekeyIn(ws, ['rotate', 'fresh-key']);
    expect(first.code, show(first)).toBe(0);
    const freshAfterFirst = readFileSync(ws.envFile, 'utf8');

    const pass = await rekeyIn(ws, ['--json', 'rotate', '--due']);
    expect(pass.code, show(pass)).toBe(0);
    const events = pass.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(events).toContainEqual(expect.objectContaining({ event: 'skipped', credential: 'fresh-key', reason: 'not due' }));
    expect(events).toContainEqual(expect.objectContaining({ event: 'reminder', credential: 'streampixel-prod' }));
    expect(events).toContainEqual(expect.objectContaining({ event: 'run.finished', credential: 'due-key', result: 'done' }));
    expect(events.filter((e) => e['event'] === 'run.started').map((e) => e['credential'])).toEqual(['due-key']);
    const dueNow = /^DUE_KEY=(.*)$/m.exec(readFileSync(join(ws.dir, 'due.env'), 'utf8'))![1]!;
    expect(dueNow).not.toBe(dueSeed);
    expect(s.isActive(dueNow)).toBe(true);
    expect(s.isActive(dueSeed)).toBe(false);
    expect(readFileSync(ws.envFile, 'utf8')).toBe(freshAfterFirst);
    expect(readFileSync(join(ws.dir, 'sp.env'), 'utf8')).toContain('sk_xxx');

    // Idempotent from a scheduler's point of view: the next pass finds nothing due among what rekey can rotate alone.
    const runsBefore = runIds(ws).length;
    const again = await rekeyIn(ws, ['rotate', '--due']);
    expect(again.code, show(again)).toBe(0);
    expect(runIds(ws)).toHaveLength(runsBefore);
    expect(again.stdout).toMatch(/due-key: not due/);
    expect(again.stdout).toMatch(/streampixel-prod: needs a person \(dashboard step\) — run `rekey drill streampixel-prod`/);
  });
});
