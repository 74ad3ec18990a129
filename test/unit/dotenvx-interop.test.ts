/**
 * Interoperability with the dotenvx CLI itself (@dotenvx/dotenvx 2.38.2, node_modules/.bin/dotenvx): files made by
 * `dotenvx encrypt` are read by rekey, values rekey writes are read by `dotenvx get`, and every byte of the file but
 * the rotated token survives. The CLI runs in the test's folder with no DOTENV_* of the test process in its
 * environment, so it finds its keys where an app would: in `.env.keys` beside the file, or in the variable given.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDotenvxStore } from '../../adapters/stores/dotenvx/index.js';
import { Secret } from '../../src/contract/secret.js';
import { parseRef } from '../../src/contract/store.js';

const DOTENVX = resolve(import.meta.dirname, '../../node_modules/.bin/dotenvx');
const RUN = '20261202T151500Z-0c0c0c';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'rekey-dotenvx-interop-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** `dotenvx <args>` in the test folder; stdout. */
async function dotenvx(args: readonly string[], env: Record<string, string> = {}): Promise<string> {
  const clean: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) if (!name.startsWith('DOTENV')) clean[name] = value;
  const { stdout } = await promisify(execFile)(DOTENVX, [...args], { cwd: dir, env: { ...clean, ...env }, timeout: 30_000 });
  return stdout;
}

/** Rotate one variable through the store: read, canStage, stage, promote, as the engine does. */
async function rotate(store: ReturnType<typeof openDotenvxStore>, text: string, value: string): Promise<void> {
  const ref = parseRef('dotenvx', text);
  const base = (await store.read(ref)).version;
  await store.canStage(ref, RUN, base);
  const version = await store.stage(ref, new Secret(value), RUN, base);
  await store.promote(ref, version, RUN, base);
}

describe('dotenvx interop', () => {
  it('dotenvx encrypts, rekey reads every value as it was written in the clear', async () => {
    const values: Record<string, string> = {
      API_KEY: 'fake-api-key-0123456789abcdef',
      SPACED: 'two words and a # hash',
      UNICODE: 'clé-ünïcode-✓',
      QUOTES: 'it "is" quoted',
    };
    writeFileSync(
      join(dir, '.env'),
      `API_KEY=${values['API_KEY']}\nSPACED="${values['SPACED']}"\nUNICODE=${values['UNICODE']}\nQUOTES='${values['QUOTES']}'\n`,
    );
    await dotenvx(['encrypt']);
    expect(readFileSync(join(dir, '.env'), 'utf8')).toMatch(/^DOTENV_PUBLIC_KEY="0[23][0-9a-f]{64}"$/m);
    const store = openDotenvxStore({}, { baseDir: dir, env: {} });
    for (const [name, value] of Object.entries(values)) {
      expect(readFileSync(join(dir, '.env'), 'utf8')).not.toContain(value);
      expect((await store.read(parseRef('dotenvx', `./.env#${name}`))).value.reveal(), name).toBe(value);
    }
  });

  it('dotenvx encrypt -f secure/.env from the folder above: rekey finds the keys file the public key line points to', async () => {
    mkdirSync(join(dir, 'secure'));
    writeFileSync(join(dir, 'secure', '.env'), 'API_KEY=sk_live_pointed_0123456789\n');
    await dotenvx(['encrypt', '-f', 'secure/.env']);
    expect(readFileSync(join(dir, 'secure', '.env'), 'utf8')).toMatch(/^DOTENV_PUBLIC_KEY="[0-9a-f]+" # -fk \.\.\/\.env\.keys$/m);
    const store = openDotenvxStore({}, { baseDir: dir, env: {} });
    expect((await store.read(parseRef('dotenvx', './secure/.env#API_KEY'))).value.reveal()).toBe('sk_live_pointed_0123456789');
  });

  it('rekey writes, dotenvx get reads the new value (and the old one kept as NAME_PREVIOUS), with .env.keys beside the file', async () => {
    writeFileSync(join(dir, '.env'), 'API_KEY=sk_old_0123456789\n');
    await dotenvx(['encrypt']);
    const store = openDotenvxStore({ keepPrevious: true }, { baseDir: dir, env: {} });
    // A $ expression, a command substitution, quotes and a backslash: dotenvx must hand back these very bytes.
    const fresh = ['sk_new_$HOME_$', '{USER}_$(id)_"q"\'s\\n'].join('');
    await rotate(store, './.env#API_KEY', fresh);
    expect(await dotenvx(['get', 'API_KEY'])).toBe(`${fresh}\n`);
    expect(await dotenvx(['get', 'API_KEY_PREVIOUS'])).toBe('sk_old_0123456789\n');
    // dotenvx decrypt turns the whole file back into plaintext with the same key: rekey's ciphertext is dotenvx's.
    await dotenvx(['decrypt']);
    expect(readFileSync(join(dir, '.env'), 'utf8')).toContain('API_KEY_PREVIOUS=sk_old_0123456789');
  });

  it('a .env.production with plain and encrypted variables keeps every byte but the token; the key comes from DOTENV_PRIVATE_KEY_PRODUCTION', async () => {
    writeFileSync(
      join(dir, '.env.production'),
      '# billing\nexport API_KEY="k1 value"\nPLAIN=keep me  # note\r\nOTHER=x\n\n#API_KEY=commented\nLAST=no-final-newline',
    );
    await dotenvx(['encrypt', '-f', '.env.production', '-k', 'API_KEY', '-k', 'OTHER']);
    const keys = readFileSync(join(dir, '.env.keys'), 'utf8');
    const privateKey = /^DOTENV_PRIVATE_KEY_PRODUCTION=([0-9a-f]{64})$/m.exec(keys)![1]!;
    // A server has the variable and no keys file.
    unlinkSync(join(dir, '.env.keys'));
    const before = readFileSync(join(dir, '.env.production'), 'latin1');
    const store = openDotenvxStore({}, { baseDir: dir, env: { DOTENV_PRIVATE_KEY_PRODUCTION: privateKey } });
    await rotate(store, './.env.production#API_KEY', 'sk_rotated_fedcba9876543210');
    const after = readFileSync(join(dir, '.env.production'), 'latin1');
    // Only the quoted token of API_KEY changed: the text around it, byte for byte (CRLF, comments, no final newline).
    const token = /^export API_KEY="(encrypted:[A-Za-z0-9+/=]+)"$/m;
    const [oldToken, newToken] = [token.exec(before)![1]!, token.exec(after)![1]!];
    expect(newToken).not.toBe(oldToken);
    expect(after).toBe(before.replace(oldToken, newToken));
    const env = { DOTENV_PRIVATE_KEY_PRODUCTION: privateKey };
    expect(await dotenvx(['get', 'API_KEY', '-f', '.env.production'], env)).toBe('sk_rotated_fedcba9876543210\n');
    expect(await dotenvx(['get', 'OTHER', '-f', '.env.production'], env)).toBe('x\n');
    expect(await dotenvx(['get', 'PLAIN', '-f', '.env.production'], env)).toBe('keep me\n');
  });
});
