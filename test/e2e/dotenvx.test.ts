/**
 * Issue 12 end to end: a credential held in a dotenvx-encrypted `.env.production` and in a plain `.env` is rotated
 * through the built CLI against the sandbox, SIGKILLed mid-run (after a chosen journal record, the hook the kill
 * harness and the invariant tests use: REKEY_TEST_KILL_AFTER_RECORD) and resumed; at the end the dotenvx CLI decrypts
 * the new key from the file rekey wrote, the old key is dead at the provider, and no plaintext of either key ever sat
 * in the encrypted file's folder. The encrypted file is made by `dotenvx encrypt` itself; the private key reaches rekey
 * and dotenvx as DOTENV_PRIVATE_KEY_PRODUCTION, as on a server. Build first: `npx tsc -p tsconfig.build.json`.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import type { Sandbox } from '../../src/sandbox/server.js';
import {
  chainProblem,
  envValue,
  journal,
  onlyRun,
  ROOT,
  rekeyIn,
  removeWorkspaces,
  sandboxPool,
  show,
  siblingLeftovers,
  VARIABLE,
  workspace,
} from './helpers.js';

const DOTENVX = resolve(ROOT, 'node_modules/.bin/dotenvx');
// Each test spawns the CLI and dotenvx several times: on a loaded machine that is tens of seconds, not a hang.
const sandbox = sandboxPool();
afterAll(removeWorkspaces);

/** `dotenvx <args>` in `cwd`, with only the DOTENV_* variables given (none of the test process's). */
async function dotenvx(cwd: string, args: readonly string[], env: Record<string, string> = {}): Promise<string> {
  const clean: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) if (!name.startsWith('DOTENV')) clean[name] = value;
  return (await promisify(execFile)(DOTENVX, [...args], { cwd, env: { ...clean, ...env }, timeout: 30_000 })).stdout;
}

/** The encrypted file's lines around the key: a plain variable, an encrypted one, comments, a blank line. */
const secureText = (key: string) =>
  ['# billing, production', `${VARIABLE}=${key}`, 'BILLING_REGION=eu-west-1', 'BILLING_WEBHOOK_SECRET=whsec_0123456789', ''].join('\n');

/**
 * A workspace whose credential has two stores: `secure/.env.production` (encrypted by `dotenvx encrypt`, key and
 * webhook secret encrypted, the region plain) and the plain `.env` of the helpers. Returns the private key.
 */
async function twoStores(s: Sandbox) {
  const ws = workspace({ sandbox: s });
  const secure = join(ws.dir, 'secure');
  mkdirSync(secure);
  writeFileSync(join(secure, '.env.production'), secureText(ws.seed), { mode: 0o600 });
  await dotenvx(secure, ['encrypt', '-f', '.env.production', '-k', VARIABLE, '-k', 'BILLING_WEBHOOK_SECRET']);
  const privateKey = /^DOTENV_PRIVATE_KEY_PRODUCTION=([0-9a-f]{64})$/m.exec(readFileSync(join(secure, '.env.keys'), 'utf8'))![1]!;
  // As on a server: the key in the environment, no keys file beside the .env.
  unlinkSync(join(secure, '.env.keys'));
  const config = readFileSync(ws.config, 'utf8').replace(
    `      - dotenv: ./.env#${VARIABLE}`,
    `      - dotenvx: ./secure/.env.production#${VARIABLE}\n      - dotenv: ./.env#${VARIABLE}`,
  );
  writeFileSync(ws.config, config);
  const env = { DOTENV_PRIVATE_KEY_PRODUCTION: privateKey };
  const encrypted = () => readFileSync(join(secure, '.env.production'), 'utf8');
  /** Every file of the encrypted .env's folder holding `key` in the clear. */
  const clearIn = (key: string) => readdirSync(secure).filter((name) => readFileSync(join(secure, name), 'latin1').includes(key));
  return { ws, secure, env, encrypted, clearIn, before: encrypted() };
}

/** The line of the encrypted file that holds the key, cut out: what must be the same before and after. */
const withoutKeyLine = (text: string) => text.replace(new RegExp(`^${VARIABLE}=encrypted:[A-Za-z0-9+/=]+$`, 'm'), `${VARIABLE}=…`);

describe('dotenvx store end to end (issue 12)', () => {
  it('rotates a key held in an encrypted .env and a plain .env; dotenvx get decrypts the new key; the file keeps its other bytes', async () => {
    const s = await sandbox();
    const { ws, secure, env, encrypted, clearIn, before } = await twoStores(s);
    expect(clearIn(ws.seed)).toEqual([]);
    const result = await rekeyIn(ws, ['rotate', ws.credential], { env });
    expect(result.code, show(result)).toBe(0);
    const fresh = envValue(ws)!;
    expect(fresh).not.toBe(ws.seed);
    expect(await dotenvx(secure, ['get', VARIABLE, '-f', '.env.production'], env)).toBe(`${fresh}\n`);
    expect(await dotenvx(secure, ['get', 'BILLING_WEBHOOK_SECRET', '-f', '.env.production'], env)).toBe('whsec_0123456789\n');
    expect(withoutKeyLine(encrypted())).toBe(withoutKeyLine(before));
    expect(clearIn(fresh)).toEqual([]);
    expect(clearIn(ws.seed)).toEqual([]);
    expect(s.isActive(fresh)).toBe(true);
    expect(s.isActive(ws.seed)).toBe(false);
  }, 90_000);

  it('without the private key, the run is refused before any mint, naming the variable and where rekey looked', async () => {
    const s = await sandbox();
    const { ws } = await twoStores(s);
    const minted = s.stats.minted;
    const result = await rekeyIn(ws, ['rotate', ws.credential], { env: { DOTENV_PRIVATE_KEY_PRODUCTION: undefined } });
    expect(result.code, show(result)).not.toBe(0);
    expect(result.stderr + result.stdout).toContain('DOTENV_PRIVATE_KEY_PRODUCTION');
    expect(result.stderr + result.stdout).toContain('.env.keys');
    expect(result.stderr + result.stdout).not.toContain(ws.seed);
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect(s.stats.minted).toBe(minted);
  }, 60_000);

  it('killed mid-run (once the key is staged, once the encrypted store promoted, after verify) and resumed: dotenvx get decrypts the new key', async () => {
    // One uninterrupted run shows where the boundaries are; each kill then lands right after one of those records.
    const probe = await sandbox();
    const first = await twoStores(probe);
    expect((await rekeyIn(first.ws, ['rotate', first.ws.credential], { env: first.env })).code).toBe(0);
    const rows = journal(first.ws, onlyRun(first.ws));
    const doneAt = (step: string) => rows.findIndex((r) => r.type === 'step.done' && r['step'] === step) + 1;
    // The mint step ends once its key is staged in both stores; the stores promote in parallel.
    const points = { 'minted and staged': doneAt('mint'), 'encrypted store promoted': doneAt('promote:0'), 'verify done': doneAt('verify:whoami') };
    for (const [at, n] of Object.entries(points))
      expect(n, `${at} is a record of the run: ${rows.map((r) => r['step'] ?? r.type).join(', ')}`).toBeGreaterThan(0);

    for (const [at, n] of Object.entries(points)) {
      const s = await sandbox();
      const { ws, secure, env, encrypted, clearIn, before } = await twoStores(s);
      const minted = s.stats.minted;
      const killed = await rekeyIn(ws, ['rotate', ws.credential], { env: { ...env, REKEY_TEST_KILL_AFTER_RECORD: String(n) } });
      expect(killed.signal, `${at}\n${show(killed)}`).toBe('SIGKILL');
      // At the instant of the kill, no key of this run is in the clear beside the encrypted file (I3).
      expect(clearIn(ws.seed), at).toEqual([]);
      const run = onlyRun(ws);
      const resumed = await rekeyIn(ws, ['resume', run], { env });
      expect(resumed.code, `${at}\n${show(resumed)}`).toBe(0);
      const fresh = envValue(ws)!;
      expect(fresh, at).not.toBe(ws.seed);
      expect(await dotenvx(secure, ['get', VARIABLE, '-f', '.env.production'], env), at).toBe(`${fresh}\n`);
      expect(withoutKeyLine(encrypted()), at).toBe(withoutKeyLine(before));
      expect(clearIn(fresh), at).toEqual([]);
      expect(s.isActive(fresh), `${at}: new key accepted`).toBe(true);
      expect(s.isActive(ws.seed), `${at}: old key rejected`).toBe(false);
      expect(s.stats.minted - minted, `${at}: keys minted`).toBe(1);
      expect(siblingLeftovers(ws), at).toEqual([]);
      expect(readdirSync(secure).sort(), at).toEqual(['.env.production']);
      expect(chainProblem(journal(ws, run)), at).toBeUndefined();
    }
  }, 240_000);
});
