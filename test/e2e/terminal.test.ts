/**
 * What rekey sends to a terminal, on the BUILT CLI under `script` (a real pseudo-terminal):
 * - NO_COLOR=1 drops every colour (SGR) code, and only that: the live ticker still redraws its line in place with
 *   cursor control, which https://no-color.org does not cover (see src/ui/style.ts);
 * - TERM=dumb (no cursor addressing) gets plain lines and prompts with no escape sequence at all, typing and rubbing
 *   out included.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { type Sandbox, startSandbox } from '../../src/sandbox/server.js';
import { CLI, envText, removeWorkspaces, workspace } from './helpers.js';

const hasScript = existsSync('/usr/bin/script') && process.platform === 'linux';
const ESC = '\x1b';
// biome-ignore lint/suspicious/noControlCharactersInRegex: the ESC byte is the point: this matches ANSI escape sequences.
const SGR = /\x1b\[[0-9;]*m/;

const sandboxes: Sandbox[] = [];
afterEach(async () => {
  await Promise.all(sandboxes.splice(0).map((s) => s.close()));
});
afterAll(() => removeWorkspaces());

/** Run the CLI on a pseudo-terminal; `answer` may type into it as output arrives. */
function onTerminal(
  args: readonly string[],
  cwd: string,
  env: Record<string, string | undefined>,
  answer?: (output: string, type: (text: string) => void) => void,
): Promise<{ code: number | null; out: string }> {
  const command = [process.execPath, CLI, ...args].map((a) => JSON.stringify(a)).join(' ');
  const childEnv: NodeJS.ProcessEnv = { ...process.env };
  for (const name of Object.keys(childEnv)) if (name.startsWith('REKEY_') || name === 'NO_COLOR' || name === 'FORCE_COLOR') delete childEnv[name];
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined) delete childEnv[name];
    else childEnv[name] = value;
  }
  return new Promise((resolve) => {
    const child = spawn('script', ['-qfec', command, '/dev/null'], { cwd, env: childEnv, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    const type = (text: string) => child.stdin.write(text);
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      answer?.(out, type);
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

async function sandbox(): Promise<Sandbox> {
  const s = await startSandbox({ overlap: 'until-revoked' });
  sandboxes.push(s);
  return s;
}

describe.skipIf(!hasScript)('rekey on a terminal', () => {
  it('NO_COLOR=1: no colour code, but the live ticker still redraws its line (cursor control is not colour)', async () => {
    const ws = workspace({ sandbox: await sandbox() });
    const result = await onTerminal(['rotate', ws.credential, '--config', ws.config], ws.dir, { TERM: 'xterm-256color', NO_COLOR: '1' });
    expect(result.code, result.out).toBe(0);
    expect(SGR.test(result.out), 'a colour code with NO_COLOR').toBe(false);
    expect(result.out).toContain('\r\x1b[K');
    expect(result.out).toContain('done in');
    expect(readFileSync(ws.envFile, 'utf8')).not.toBe(envText(ws.seed));
  });

  it('TERM=dumb: plain lines, one per step, and not one escape sequence', async () => {
    const ws = workspace({ sandbox: await sandbox() });
    const result = await onTerminal(['rotate', ws.credential, '--config', ws.config], ws.dir, { TERM: 'dumb' });
    expect(result.code, result.out).toBe(0);
    expect(result.out.includes(ESC), 'an escape sequence with TERM=dumb').toBe(false);
    expect(result.out).toMatch(/^ {3}✓ mint a new key {2}[\d.]+m?s {2}new key /m);
    expect(result.out).toContain('done in');
    expect(readFileSync(ws.envFile, 'utf8')).not.toBe(envText(ws.seed));
  });

  it('TERM=dumb: prompts echo typing, rub it out with backspaces, and use no escape sequence', async () => {
    // Each key is typed once the screen shows what the one before it did (rekey switches echo off before it draws a
    // prompt, so typing as soon as the prompt shows is safe): no sleeps, and the 60 s timeout is only a backstop.
    let asked = 0;
    let seen = 0;
    let step: 'prompt' | 'star' | 'rubbed' = 'prompt';
    const mint = 'press Enter and the sandbox mints the key';
    const result = await onTerminal(['rehearse', '--runbook', 'github-token'], process.cwd(), { TERM: 'dumb' }, (out, type) => {
      const fresh = out.slice(seen);
      if (step === 'star' && fresh.includes('*')) {
        seen = out.lastIndexOf('*') + 1;
        step = 'rubbed';
        type('\x7f');
      } else if (step === 'rubbed' && fresh.includes('\b \b')) {
        seen = out.length;
        step = 'prompt';
        type('\r');
      } else if (step === 'prompt' && (fresh.includes(mint) || fresh.includes('[y/N]') || fresh.includes('Type yes or no:'))) {
        asked++;
        seen = out.length;
        if (fresh.includes(mint)) {
          // A stray character, rubbed out, then Enter: the sandbox mints the key.
          step = 'star';
          type('x');
        } else {
          type(/show it now[^\n]*$/.test(out) ? 'n\r' : 'y\r');
        }
      }
    });
    expect(result.code, result.out).toBe(0);
    expect(asked).toBeGreaterThanOrEqual(2);
    expect(result.out.includes(ESC), 'an escape sequence with TERM=dumb').toBe(false);
    // The star for the stray character, then backspace, blank, backspace.
    expect(result.out).toContain('*\b \b');
    expect(result.out).toContain('sandbox check: old key');
  }, 90_000);
  it('a value shown on request (the webhook URL) is cleared from the screen after Enter', async () => {
    let seen = 0;
    let shown = false;
    const result = await onTerminal(['rehearse', '--runbook', 'webhook-url-token'], process.cwd(), { TERM: 'xterm-256color' }, (out, type) => {
      const fresh = out.slice(seen);
      if (/show it now, once\? It will not be logged\. \[y\/N\] $/.test(out)) {
        seen = out.length;
        type('y\r');
      } else if (fresh.includes('Press Enter when you have copied it')) {
        seen = out.length;
        shown = true;
        type('\r');
      } else if (fresh.includes('Type yes or no:')) {
        seen = out.length;
        type('yes\r');
      } else if (fresh.includes('press Enter and the sandbox mints the key')) {
        seen = out.length;
        type('\r');
      }
    });
    expect(result.code, result.out).toBe(0);
    expect(shown).toBe(true);
    const after = result.out.slice(result.out.indexOf('Press Enter when you have copied it'));
    // Up over the value and the prompt, clear to the end of the screen, and say so.
    // biome-ignore lint/suspicious/noControlCharactersInRegex: the ESC byte is the point: this matches the cursor moves.
    expect(after).toMatch(/\x1b\[\d+A\r\x1b\[J {3}[^\n]*: shown once and cleared from the screen/);
  }, 90_000);
});
