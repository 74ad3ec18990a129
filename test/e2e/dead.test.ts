/**
 * `rekey incident`: time to dead first, and "dead" means dead, end to end on the BUILT CLI against the sandbox:
 * - overlap none: the old key is proven dead right after the mint (the journal has the proof before the first store
 *   is made current), and never before the sandbox's own record of its death;
 * - a key the provider already rejects at the pre-run check: said, `old.dead` emitted then (before the mint), reported;
 * - each fault the sandbox plays on the check (403, an HTML page, 503, no answer) leaves the old key "unknown", never
 *   "proven dead": the run says so and fails, resumable, and a resume once the fault is gone proves it;
 * - an endpoint that rejects the new key too: the proof right after the mint is void, not "proven dead";
 * - the offer of `--revoke-first`: on a pseudo-terminal it says what the early revoke costs and takes a typed answer
 *   (Enter alone is no answer); without a terminal the order is kept and the option named.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Sandbox } from '../../src/sandbox/server.js';
import { ACCOUNT, CLI, envValue, journal, onlyRun, rekeyIn, removeWorkspaces, reports, ROOT, sandboxPool, show, workspace, type Workspace } from './helpers.js';

const sandbox = sandboxPool();
const folders: string[] = [];
afterAll(() => {
  removeWorkspaces();
  for (const dir of folders) rmSync(dir, { recursive: true, force: true });
});

/** NDJSON lines of a --json run. */
function events(stdout: string): Record<string, unknown>[] {
  return stdout
    .trim()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

function incidentReport(ws: Workspace): string {
  const written = [...reports(ws)].filter(([name]) => name.endsWith('-incident.md'));
  expect(written).toHaveLength(1);
  return written[0]![1];
}

/** The built-in sandbox runbook with a 1 s timeout on its check of the old key, in a folder of its own. */
function fastRunbook(): string {
  const dir = mkdtempSync(join(tmpdir(), 'rekey-dead-runbook-'));
  folders.push(dir);
  const text = readFileSync(join(ROOT, 'runbooks/sandbox.yaml'), 'utf8')
    .replace('name: sandbox\n', 'name: sandbox-fast\n')
    .replace(/(verifyRevoked:[\s\S]*?expect: \[401\]\n)/, '$1      timeout: 1s\n');
  expect(text).toContain('      timeout: 1s\n');
  writeFileSync(join(dir, 'sandbox-fast.yaml'), text);
  return dir;
}

async function revoke(s: Sandbox, key: string): Promise<void> {
  const response = await fetch(`${s.url}/v1/keys/self`, { method: 'DELETE', headers: { authorization: `Bearer ${key}` } });
  expect(response.status).toBe(204);
}

describe('rekey incident: time to dead first', () => {
  it('overlap none: proven dead right after the mint, before any store is made current, and not before the key died', async () => {
    const s = await sandbox({ overlap: 'none' });
    const ws = workspace({ sandbox: s, runbook: 'sandbox-none' });
    const result = await rekeyIn(ws, ['--json', 'incident', ws.credential, '--since', '2h']);
    expect(result.code, show(result)).toBe(0);
    const all = events(result.stdout);
    const dead = all.find((e) => e['event'] === 'old.dead')!;
    expect(dead).toMatchObject({ basis: 'mint', control: 'accepted', mask: `…${ws.seed.slice(-4)}` });
    const names = all.map((e) => `${e['event']}:${e['step'] ?? ''}`);
    expect(names.indexOf('old.dead:')).toBeLessThan(names.indexOf('step.started:promote:0'));
    expect(names.filter((n) => n === 'old.dead:')).toHaveLength(1);
    // The journal holds the proof before the first store write of roll out.
    const rows = journal(ws, onlyRun(ws));
    const proof = rows.findIndex((r) => r.type === 'step.done' && r['step'] === 'prove-dead');
    expect(proof).toBeGreaterThan(0);
    expect(rows[proof]!['data']).toEqual({ dead: true });
    expect(proof).toBeLessThan(rows.findIndex((r) => r.type === 'step.started' && r['step'] === 'promote:0'));
    // The sandbox's own record: the old key died at the mint, and the proof is not earlier than that.
    const old = s.keys(ACCOUNT).find((k) => k.matches(ws.seed))!;
    expect(old.status).toBe('revoked');
    expect(Date.parse(String(dead['at']))).toBeGreaterThanOrEqual(Date.parse(old.revokedAt!));
    expect(incidentReport(ws)).toContain('right after the mint (overlap none: the mint is the revoke)');
  }, 60_000);

  it('already rejected at the pre-run check (revoked before the run): said, old.dead then, before the mint; reported', async () => {
    const s = await sandbox({ overlap: 'until-revoked' });
    const ws = workspace({ sandbox: s, runbook: 'sandbox' });
    await revoke(s, ws.seed);
    const json = await rekeyIn(ws, ['--json', 'incident', ws.credential, '--since', '2h']);
    expect(json.code, show(json)).toBe(0);
    const all = events(json.stdout);
    const dead = all.findIndex((e) => e['event'] === 'old.dead');
    expect(all[dead]).toMatchObject({ basis: 'pre-run', control: 'none' });
    expect(dead).toBeLessThan(all.findIndex((e) => e['event'] === 'step.started' && e['step'] === 'mint'));
    expect(all.filter((e) => e['event'] === 'old.dead')).toHaveLength(1);
    const note = all.find((e) => e['event'] === 'note' && String(e['message']).includes('already rejects the leaked key'));
    expect(note, json.stdout).toBeDefined();
    expect(incidentReport(ws)).toContain('already rejected at the pre-run check, before anything was minted');
    expect(s.isActive(envValue(ws)!)).toBe(true);

    // On screen, in words.
    const s2 = await sandbox({ overlap: 'until-revoked' });
    const ws2 = workspace({ sandbox: s2, runbook: 'sandbox' });
    await revoke(s2, ws2.seed);
    const text = await rekeyIn(ws2, ['incident', ws2.credential, '--since', '2h']);
    expect(text.code, show(text)).toBe(0);
    expect(text.stdout).toMatch(/old key …\w{4} proven dead at \d\d:\d\d:\d\d \(\d+:\d\d after start\) · already rejected at the pre-run check/);
    expect(text.stdout).toContain('already dead (401 · error.code invalid_api_key)');
  }, 60_000);

  it('without a terminal the safe order is kept, and --revoke-first is named with its cost', async () => {
    const s = await sandbox({ overlap: 'until-revoked' });
    const ws = workspace({ sandbox: s, runbook: 'sandbox' });
    const result = await rekeyIn(ws, ['incident', ws.credential, '--since', '2h']);
    expect(result.code, show(result)).toBe(0);
    expect(result.stdout).toContain('`--revoke-first` revokes the old key right after the new one is staged');
    expect(result.stdout).toContain('there is no rollback once the revoke began');
    expect(journal(ws, onlyRun(ws))[0]!['revokeFirst']).toBeUndefined();
  }, 60_000);
});

describe('rekey incident: "dead" means dead', () => {
  it.each(['forbidden', 'html', 'server-error', 'timeout'] as const)(
    'a %s answer to the check of the old key: unknown, never proven dead; resume proves it once the fault is gone',
    async (mode) => {
      const s = await sandbox({ overlap: 'until-revoked', checkFault: { mode } });
      const ws = workspace({ sandbox: s, runbook: 'sandbox-fast', runbooks: fastRunbook() });
      const result = await rekeyIn(ws, ['incident', ws.credential, '--since', '2h']);
      expect(result.code, show(result)).toBe(1);
      const out = `${result.stdout}\n${result.stderr}`;
      expect(out).not.toContain('proven dead at');
      expect(out).toContain('never the documented rejection');
      expect(out).toContain('the old key is not proven dead');
      // Asked again, bounded: as often as the runbook's retry allows (5 attempts), all faulted.
      expect(s.faulted).toBe(5);
      const report = incidentReport(ws);
      expect(report).toMatch(/\| proven dead at \| \*\*not proven\*\*: provider rejects the old key: unknown after 5 attempts/);
      expect(s.isActive(ws.seed)).toBe(false);

      // The fault passes: resume asks again and proves it, with the new key as a control.
      s.checkFault = undefined;
      const resumed = await rekeyIn(ws, ['resume', onlyRun(ws)]);
      expect(resumed.code, show(resumed)).toBe(0);
      expect(resumed.stdout).toMatch(/old key …\w{4} proven dead at/);
    },
    90_000,
  );

  it('the endpoint rejects the new key too: the proof right after the mint is void, and nothing says "proven dead"', async () => {
    const s = await sandbox({ overlap: 'none', rejectMintedOverHttp: true });
    const ws = workspace({ sandbox: s, runbook: 'sandbox-none' });
    const result = await rekeyIn(ws, ['--json', 'incident', ws.credential, '--since', '2h']);
    // Verify then fails too (the new key is rejected), so the run stops, to be fixed forward.
    expect(result.code, show(result)).toBe(1);
    const all = events(result.stdout);
    expect(all.some((e) => e['event'] === 'old.dead')).toBe(false);
    const proof = all.find((e) => e['event'] === 'step.done' && e['step'] === 'prove-dead')!;
    expect(String(proof['detail'])).toContain('the proof is void: the same endpoint rejects the new key');
    expect(incidentReport(ws)).toContain('**not proven**');
  }, 60_000);
});

const hasScript = existsSync('/usr/bin/script') && process.platform === 'linux';

/** Run the CLI on a pseudo-terminal (util-linux `script`); `answer` types into it as output arrives. */
function onTerminal(
  args: readonly string[],
  cwd: string,
  answer: (output: string, type: (text: string) => void) => void,
): Promise<{ code: number | null; out: string }> {
  const command = [process.execPath, CLI, ...args].map((a) => JSON.stringify(a)).join(' ');
  const env: NodeJS.ProcessEnv = { ...process.env, TERM: 'dumb' };
  for (const name of Object.keys(env)) if (name.startsWith('REKEY_') || name === 'FORCE_COLOR') delete env[name];
  return new Promise((resolve) => {
    const child = spawn('script', ['-qfec', command, '/dev/null'], { cwd, env, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      answer(out, (text) => child.stdin.write(text));
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

describe.skipIf(!hasScript)('rekey incident on a terminal: the offer of --revoke-first', () => {
  it('says what it costs, takes no default (Enter alone asks again), and "yes" revokes before roll out', async () => {
    const s = await sandbox({ overlap: 'until-revoked' });
    const ws = workspace({ sandbox: s, runbook: 'sandbox' });
    let typed = 0;
    const result = await onTerminal(['incident', ws.credential, '--since', '2h', '--config', ws.config], ws.dir, (out, type) => {
      if (typed === 0 && out.includes('(--revoke-first)? Type yes or no:')) {
        typed = 1;
        type('\r');
      } else if (typed === 1 && out.includes('There is no default: type yes or no:')) {
        typed = 2;
        type('yes\r');
      }
    });
    expect(result.code, result.out).toBe(0);
    expect(typed).toBe(2);
    expect(result.out).toContain('--revoke-first revokes it right after the new key is minted and staged, before roll out');
    expect(result.out).toContain('everything still on the old key fails');
    expect(result.out).toContain('once the revoke began there is no rollback');
    expect(journal(ws, onlyRun(ws))[0]!['revokeFirst']).toBe(true);
    // The sandbox's own log: the old key was revoked before the new key's first check.
    const log = s.activity(ACCOUNT);
    const oldId = s.keys(ACCOUNT).find((k) => k.matches(ws.seed))!.id;
    const freshId = s.keys(ACCOUNT).find((k) => k.mintedBy === 'http')!.id;
    expect(log.findIndex((e) => e.keyId === oldId && e.action === 'revoke')).toBeLessThan(log.findIndex((e) => e.keyId === freshId && e.action === 'whoami'));
  }, 60_000);

  it('"no" keeps the safe order', async () => {
    const s = await sandbox({ overlap: 'until-revoked' });
    const ws = workspace({ sandbox: s, runbook: 'sandbox' });
    let typed = false;
    const result = await onTerminal(['incident', ws.credential, '--since', '2h', '--config', ws.config], ws.dir, (out, type) => {
      if (!typed && out.includes('(--revoke-first)? Type yes or no:')) {
        typed = true;
        type('no\r');
      }
    });
    expect(result.code, result.out).toBe(0);
    expect(result.out).toContain('the safe order: roll out and verify, then revoke');
    expect(journal(ws, onlyRun(ws))[0]!['revokeFirst']).toBeUndefined();
  }, 60_000);
});
