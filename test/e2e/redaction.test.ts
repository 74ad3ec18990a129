/**
 * Defect 12 (issue 8), end to end: a rollout hook that fails and prints the new key TRANSFORMED — the
 * `Authorization: Basic base64(user:KEY)` header that `curl -v -u user:KEY` shows, a 20-character prefix, base64url
 * and hex — must not get any of those forms into rekey's stdout, stderr, journal, audit log, report, or any file left
 * in the workspace (I3). The built CLI runs as a child against the sandbox provider; the hook hands the key it
 * received to the test through a file outside the workspace, so that the test knows the canary.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { allFiles, audit, journalText, onlyRun, reports, rekeyIn, removeWorkspaces, sandboxPool, show, VARIABLE, workspace } from './helpers.js';

const sandbox = sandboxPool();
const outside = mkdtempSync(join(tmpdir(), 'rekey-e2e-canary-'));
afterAll(() => {
  removeWorkspaces();
  rmSync(outside, { recursive: true, force: true });
});

// Three lines on stderr (rekey quotes a failing hook's last three), the same on stdout, then exit 1.
const hookScript = [
  "const f=require('fs');const k=process.env.NEW_KEY||'';",
  'f.writeFileSync(process.env.CANARY_FILE,k);',
  "const lines=['* Authorization: Basic '+Buffer.from('user:'+k).toString('base64'),",
  "'hex '+Buffer.from(k).toString('hex'),",
  "'key '+k.slice(0,20)+'... b64url '+Buffer.from(k).toString('base64url')];",
  "console.log(lines.join('\\n'));console.error(lines.join('\\n'));process.exit(1);",
].join('');

/** The forms of the key the hook printed, each of which must be nowhere. */
function forms(key: string): Record<string, string> {
  return {
    key,
    'the last 8 characters': key.slice(-8),
    'base64(user:key)': Buffer.from(`user:${key}`).toString('base64'),
    // The part of that header that the key alone determines (bytes 1 on: 'user:' is 5 bytes, so the key starts at 2 mod 3).
    'base64(user:key), the key’s part': Buffer.from(`user:${key}`).toString('base64').slice(8, 60),
    'base64(key)': Buffer.from(key).toString('base64').replace(/=+$/, ''),
    'base64url(key)': Buffer.from(key).toString('base64url'),
    'hex(key)': Buffer.from(key).toString('hex'),
    '20-character prefix': key.slice(0, 20),
  };
}

describe('I3: a failing hook that prints the key transformed leaks none of its forms (defect 12)', () => {
  // until-revoked: the run rolls back, and the hook's key is discarded. none: the old key died at the mint, so the
  // run is fixed forward and stops failed, with the hook's output in the audit record's detail too.
  for (const [overlap, runbook] of [
    ['until-revoked', 'sandbox'],
    ['none', 'sandbox-none'],
  ] as const) {
    it(`overlap ${overlap}: base64 of user:key, base64url, hex and a 20-character prefix are scrubbed from output, journal, audit, report and ` +
      `every file`, async () => {
      const s = await sandbox({ overlap });
      const canaryFile = join(outside, `new-key-${overlap}`);
      const ws = workspace({
        sandbox: s,
        runbook,
        rollout: [{ name: 'restart workers', exec: ['node', '-e', hookScript], env: { NEW_KEY: '{{ new }}', CANARY_FILE: canaryFile } }],
      });
      const rotated = await rekeyIn(ws, ['rotate', ws.credential]);
      expect(rotated.code, show(rotated)).toBe(1);
      const json = await rekeyIn(ws, ['--json', 'log', onlyRun(ws)]);
      const status = await rekeyIn(ws, ['status']);

      const key = readFileSync(canaryFile, 'utf8');
      expect(key).toMatch(/^sbx_[0-9a-f]{40}$/);
      // until-revoked rolled back, so the .env holds the key it started with; with none the .env is the store that
      // holds the live new key, the one file where it belongs.
      if (overlap === 'until-revoked') expect(readFileSync(ws.envFile, 'utf8')).toContain(`${VARIABLE}=${ws.seed}\n`);
      else expect(readFileSync(ws.envFile, 'utf8')).toContain(`${VARIABLE}=${key}\n`);

      const places = new Map<string, string>([
        ['rotate stdout', rotated.stdout],
        ['rotate stderr', rotated.stderr],
        ['log --json', json.stdout + json.stderr],
        ['status', status.stdout + status.stderr],
      ]);
      for (const [path, text] of allFiles(ws.dir)) if (overlap === 'until-revoked' || path !== ws.envFile) places.set(path, text);
      expect([...places.keys()].some((p) => p.endsWith('audit.jsonl'))).toBe(true);
      expect([...places.keys()].some((p) => p.includes('/runs/') && p.endsWith('.jsonl'))).toBe(true);
      expect([...places.keys()].some((p) => p.includes('/reports/'))).toBe(true);
      for (const [place, text] of places) {
        for (const [form, canary] of Object.entries(forms(key))) expect(text.includes(canary), `${place} holds ${form}`).toBe(false);
      }

      // Redacted, not omitted: the hook's output is quoted in the error, with each form replaced by the key's mask.
      const redacted = `[redacted …${key.slice(-4)}]`;
      const quoted = `Authorization: Basic ${redacted}`;
      const journalled = journalText(ws, onlyRun(ws));
      expect(rotated.stdout + rotated.stderr).toContain(quoted);
      expect(journalled).toContain(quoted);
      expect(journalled).toContain(`hex ${redacted}`);
      expect(journalled).toContain(`key ${redacted}`);
      expect([...reports(ws).values()].some((report) => report.includes(quoted))).toBe(true);
      if (overlap === 'none') expect(audit(ws).some((row) => String(row['detail']).includes(quoted))).toBe(true);
    }, 60_000);
  }
});
