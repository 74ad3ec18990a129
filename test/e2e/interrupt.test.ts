/**
 * Ctrl-C (SIGINT) while rekey works, not at a prompt: the process stops at once with exit 130 and says where the run
 * stands — the step it was in, whether the outage window is open — and which run to resume; one `rekey resume` then
 * finishes it. Against the sandbox with a latency per request, so that the signal lands inside a provider call.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { envValue, onlyRun, rekeyIn, removeWorkspaces, sandboxPool, show, waitFor, workspace } from './helpers.js';

const sandbox = sandboxPool();
afterAll(removeWorkspaces);

describe('SIGINT during a machine step', () => {
  it.each([
    { command: ['rotate'], runbook: 'sandbox', overlap: 'until-revoked' as const, outage: false },
    { command: ['rotate'], runbook: 'sandbox-none', overlap: 'none' as const, outage: true },
    { command: ['drill'], runbook: 'sandbox', overlap: 'until-revoked' as const, outage: false },
    { command: ['incident', '--since', '2h'], runbook: 'sandbox-none', overlap: 'none' as const, outage: true },
  ])('$command.0, $overlap: exit 130, the step and the run to resume named; resume finishes', async ({ command, runbook, overlap, outage }) => {
    const s = await sandbox({ overlap, latencyMs: 400 });
    const ws = workspace({ sandbox: s, runbook });
    let pid: number | undefined;
    const running = rekeyIn(ws, [command[0]!, ws.credential, ...command.slice(1)], { onSpawn: (p) => (pid = p) });
    // Once the new key is minted, the next provider call is the new key's check (verify): interrupt inside it.
    await waitFor(() => s.stats.minted >= 2, 15_000);
    await new Promise((wake) => setTimeout(wake, 150));
    process.kill(pid!, 'SIGINT');
    const stopped = await running;
    expect(stopped.code, show(stopped)).toBe(130);
    const run = onlyRun(ws);
    expect(stopped.stderr).toMatch(/interrupted during "[^"]+"; every step done so far is in the journal/);
    expect(stopped.stderr).toContain(`rekey resume ${run}`);
    if (outage) expect(stopped.stderr).toContain('The outage window is still open');
    else expect(stopped.stderr).not.toContain('outage');
    expect(stopped.stderr).not.toMatch(/\n\s+at /);

    const resumed = await rekeyIn(ws, ['resume', run]);
    expect(resumed.code, show(resumed)).toBe(0);
    const fresh = envValue(ws)!;
    expect(fresh).not.toBe(ws.seed);
    expect(s.isActive(fresh)).toBe(true);
    expect(s.isActive(ws.seed)).toBe(false);
  });
});
