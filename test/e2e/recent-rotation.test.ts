/**
 * Never rotate one secret twice inside a short window (src/engine/recent.ts): AWS advises at most one PutSecretValue
 * per secret every 10 minutes. A second rotation of a credential whose last rotation finished minutes ago is refused
 * (exit 3) and mints nothing, unless --allow-recent; `rotate --due` skips it (exit 0); a rolled-back run does not
 * hold back the retry.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { refuseInsideShortWindow, RecentRotationError, SHORT_WINDOW_MS } from '../../src/engine/recent.js';
import { type Sandbox, startSandbox } from '../../src/sandbox/server.js';
import { envValue, rekeyIn, removeWorkspaces, runIds, show, workspace } from './helpers.js';

const sandboxes: Sandbox[] = [];
async function sandbox(options: Parameters<typeof startSandbox>[0] = {}): Promise<Sandbox> {
  const started = await startSandbox(options);
  sandboxes.push(started);
  return started;
}
afterEach(async () => {
  await Promise.all(sandboxes.splice(0).map((s) => s.close()));
});
afterAll(() => removeWorkspaces());

describe('the short window after a rotation', () => {
  it('a second rotate minutes after the first is refused (exit 3), mints nothing, and says until when; --allow-recent rotates', async () => {
    const s = await sandbox();
    const ws = workspace({ sandbox: s });
    const first = await rekeyIn(ws, ['rotate', ws.credential]);
    expect(first.code, show(first)).toBe(0);
    const current = envValue(ws)!;
    const [run] = runIds(ws);

    const second = await rekeyIn(ws, ['rotate', ws.credential]);
    expect(second.code, show(second)).toBe(3);
    expect(second.stderr).toContain(`${ws.credential} was rotated less than a minute ago`);
    expect(second.stderr).toContain(`run ${run}`);
    expect(second.stderr).toContain('--allow-recent');
    // Nothing minted, nothing written: the key rotated a moment ago is still the one in use, and no run was started.
    expect(envValue(ws)).toBe(current);
    expect(s.isActive(current)).toBe(true);
    expect(runIds(ws)).toHaveLength(1);

    // The engine's own clock: eleven minutes later the window is closed.
    await expect(refuseInsideShortWindow(ws.stateDir, ws.credential)).rejects.toThrow(RecentRotationError);
    await expect(refuseInsideShortWindow(ws.stateDir, ws.credential, Date.now() + SHORT_WINDOW_MS + 60_000)).resolves.toBeUndefined();

    const forced = await rekeyIn(ws, ['rotate', ws.credential, '--allow-recent']);
    expect(forced.code, show(forced)).toBe(0);
    expect(envValue(ws)).not.toBe(current);
    expect(runIds(ws)).toHaveLength(2);
  });

  it('rotate --due skips a credential rotated minutes ago, even when its policy says it is due, and exits 0', async () => {
    const s = await sandbox();
    const ws = workspace({ sandbox: s });
    const first = await rekeyIn(ws, ['rotate', ws.credential]);
    expect(first.code, show(first)).toBe(0);
    const current = envValue(ws)!;
    // A policy so short that the credential is due again at once: only the window holds it back.
    writeFileSync(ws.config, readFileSync(ws.config, 'utf8').replace('maxAge: 30d', 'maxAge: 1s'));
    await new Promise((resolve) => setTimeout(resolve, 1100));

    const due = await rekeyIn(ws, ['--json', 'rotate', '--due']);
    expect(due.code, show(due)).toBe(0);
    const events = due.stdout
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(events).toContainEqual(expect.objectContaining({ event: 'skipped', credential: ws.credential, reason: 'rotated recently' }));
    expect(events.at(-1)).toMatchObject({ event: 'tally', rotated: 0, failed: { total: 0 }, skipped: { total: 1, 'rotated recently': 1 } });
    expect(envValue(ws)).toBe(current);
    expect(runIds(ws)).toHaveLength(1);
  });

  it('a rotation that failed and was rolled back does not hold back the retry', async () => {
    // Verify fails for every key minted over HTTP: the run rolls back to the old key.
    const s = await sandbox({ rejectMintedOverHttp: true });
    const ws = workspace({ sandbox: s });
    const failed = await rekeyIn(ws, ['rotate', ws.credential]);
    expect(failed.code, show(failed)).toBe(1);
    expect(envValue(ws)).toBe(ws.seed);

    s.rejectMintedOverHttp = false;
    const retry = await rekeyIn(ws, ['rotate', ws.credential]);
    expect(retry.code, show(retry)).toBe(0);
    expect(envValue(ws)).not.toBe(ws.seed);
  });
});
