/**
 * The .env store's describe(), which `rekey status` calls for every credential: a file shared by many credentials is
 * read once per process, yet a change to it (even one made in the same instant) is always seen.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import describer from '../../adapters/stores/dotenv/describe.js';
import dotenv from '../../adapters/stores/dotenv/index.js';
import { fingerprint } from '../../src/contract/mask.js';
import { parseRef } from '../../src/contract/store.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'rekey-dotenv-describe-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const ref = (variable: string) => parseRef('dotenv', `./shared.env#${variable}`);
/** Written, then dated a minute back: a file old enough to be trusted from memory. */
function writeOld(text: string): void {
  const file = join(dir, 'shared.env');
  writeFileSync(file, text, { mode: 0o600 });
  const past = new Date(Date.now() - 60_000);
  utimesSync(file, past, past);
}

describe('dotenv describe()', () => {
  it('gives each variable of a shared file its own fingerprint, the last assignment winning', async () => {
    writeOld('A_KEY=alpha\nB_KEY="beta gamma"\nA_KEY=alpha2\n');
    const store = dotenv.open({}, { baseDir: dir, env: {} });
    expect(await store.describe!(ref('A_KEY'))).toEqual({ version: fingerprint('alpha2') });
    expect(await store.describe!(ref('B_KEY'))).toEqual({ version: fingerprint('beta gamma') });
    expect(await store.describe!(ref('C_KEY'))).toBeUndefined();
    // The describe-only module status loads says the same.
    expect(await describer.open({}, { baseDir: dir, env: {} }).describe(ref('B_KEY'))).toEqual({ version: fingerprint('beta gamma') });
  });

  it('sees a rewrite of the file, even at the same size and modification time', async () => {
    writeOld('A_KEY=alpha\n');
    const store = dotenv.open({}, { baseDir: dir, env: {} });
    expect(await store.describe!(ref('A_KEY'))).toEqual({ version: fingerprint('alpha') });
    // Same length, mtime set back to the old one: only the change time (and inode) tell.
    writeOld('A_KEY=omega\n');
    expect(await store.describe!(ref('A_KEY'))).toEqual({ version: fingerprint('omega') });
  });

  it('names a broken quote, and says a missing file holds nothing', async () => {
    writeOld('A_KEY="unclosed\n');
    const store = dotenv.open({}, { baseDir: dir, env: {} });
    await expect(store.describe!(ref('A_KEY'))).rejects.toThrow(/line 1 of .*shared\.env has an unclosed quote/);
    rmSync(join(dir, 'shared.env'));
    expect(await store.describe!(ref('A_KEY'))).toBeUndefined();
  });

  it('refuses a FIFO or a folder where the .env should be, at once, in describe() and in read() (a FIFO blocked them forever)', async () => {
    execFileSync('mkfifo', [join(dir, 'shared.env')]);
    mkdirSync(join(dir, 'folder.env'));
    const store = dotenv.open({}, { baseDir: dir, env: {} });
    const now = describer.open({}, { baseDir: dir, env: {} });
    const folder = parseRef('dotenv', './folder.env#A_KEY');
    for (const r of [ref('A_KEY'), folder]) {
      await expect(store.describe!(r)).rejects.toThrow(/is not a regular file/);
      expect(() => now.describeNow(r)).toThrow(/is not a regular file/);
      await expect(store.read(r)).rejects.toMatchObject({ code: 'invalid', message: expect.stringMatching(/is not a regular file/) });
    }
  }, 10_000);
});
