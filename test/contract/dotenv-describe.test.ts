/**
 * The .env store's describe(), which `rekey status` calls for every credential: a file shared by many credentials is
 * read once per process, yet a change to it (even one made in the same instant) is always seen. What one process
 * learned is handed to the next (adoptDescribedFiles / describedFilesRecord): trusted while the file is unchanged,
 * never a value, never a variable no one asked for.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import describer, { adoptDescribedFiles, describedFilesRecord, keepable } from '../../adapters/stores/dotenv/describe.js';
import dotenv from '../../adapters/stores/dotenv/index.js';
import { fingerprint } from '../../src/contract/mask.js';
import { parseRef } from '../../src/contract/store.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'rekey-dotenv-describe-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const ref = (variable: string) => parseRef('dotenv', `./shared.env#${variable}`);
/** Written, then dated a minute back (at a quarter second: a whole second would look like a coarse file clock). */
function writeOld(text: string): void {
  const file = join(dir, 'shared.env');
  writeFileSync(file, text, { mode: 0o600 });
  const past = Math.floor(Date.now() / 1000) - 60 + 0.25;
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

describe('dotenv describe(): what one process leaves the next', () => {
  const file = () => join(dir, 'shared.env');
  const idOf = (path: string) => {
    const s = statSync(path);
    return `${s.dev}:${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}`;
  };
  const now = () => describer.open({}, { baseDir: dir, env: {} });
  /** A record that says the file holds `version` for A_KEY: not what the file holds, so that using it shows. */
  const planted = (version: string, id = idOf(file())) => ({ [file()]: { id, variables: { A_KEY: { version } } } });
  // A file is kept only when read well after its change time, which no one can set back: the clock is moved a minute
  // on instead (Date only), so that a file written here is old enough.
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 60_000);
  });
  afterEach(() => vi.useRealTimers());

  it('uses what an earlier process found while the file is unchanged, and reads it once it changed (same size, mtime set back)', () => {
    writeOld('A_KEY=alpha\n');
    adoptDescribedFiles(planted('0123456789abcdef'));
    expect(now().describeNow(ref('A_KEY'))).toEqual({ version: '0123456789abcdef' });
    expect(describedFilesRecord()).toBeUndefined();
    adoptDescribedFiles(planted('0123456789abcdef'));
    writeOld('A_KEY=omega\n');
    expect(now().describeNow(ref('A_KEY'))).toEqual({ version: fingerprint('omega') });
    expect(describedFilesRecord()).toEqual({ [file()]: { id: idOf(file()), variables: { A_KEY: { version: fingerprint('omega') } } } });
  });

  it('reads the file for a variable the record does not hold, and for a file that became unreadable or vanished', () => {
    writeOld('A_KEY=alpha\nB_KEY=beta\n');
    adoptDescribedFiles(planted('0123456789abcdef'));
    expect(now().describeNow(ref('B_KEY'))).toEqual({ version: fingerprint('beta') });
    // Read whole: A_KEY now comes from the file, not from the record.
    expect(now().describeNow(ref('A_KEY'))).toEqual({ version: fingerprint('alpha') });
    adoptDescribedFiles(planted('0123456789abcdef'));
    // chmod moves the change time: the record no longer matches, and the read says what is wrong (as root it reads).
    chmodSync(file(), 0o000);
    if (process.getuid?.() !== 0) expect(() => now().describeNow(ref('A_KEY'))).toThrow(/permission|EACCES/i);
    else expect(now().describeNow(ref('A_KEY'))).toEqual({ version: fingerprint('alpha') });
    adoptDescribedFiles(planted('0123456789abcdef'));
    rmSync(file());
    expect(now().describeNow(ref('A_KEY'))).toBeUndefined();
    // And what was kept of the vanished file is not handed on.
    expect(describedFilesRecord()).toEqual({});
  });

  it('keeps only the variables asked for (another secret of the file leaves no fingerprint), and a variable that is not there as null', () => {
    writeOld('A_KEY=alpha\nOTHER_SECRET=hunter2-canary\nBROKEN="open\n');
    adoptDescribedFiles(undefined);
    now().describeNow(ref('A_KEY'));
    now().describeNow(ref('MISSING_KEY'));
    expect(() => now().describeNow(ref('BROKEN'))).toThrow(/unclosed quote/);
    const record = describedFilesRecord()!;
    expect(record).toEqual({
      [file()]: { id: idOf(file()), variables: { A_KEY: { version: fingerprint('alpha') }, MISSING_KEY: null, BROKEN: { malformedLine: 3 } } },
    });
    const text = JSON.stringify(record);
    expect(text).not.toContain('OTHER_SECRET');
    expect(text).not.toContain(fingerprint('hunter2-canary'));
    expect(text).not.toContain('hunter2');
    // Handed on, each answer is the same without a read: the broken line too.
    adoptDescribedFiles(JSON.parse(text));
    expect(now().describeNow(ref('MISSING_KEY'))).toBeUndefined();
    expect(() => now().describeNow(ref('BROKEN'))).toThrow(/line 3 .*unclosed quote/);
    expect(now().describeNow(ref('A_KEY'))).toEqual({ version: fingerprint('alpha') });
  });

  it('does not keep a file read within moments of its last change (a coarse clock could hide the next one)', () => {
    vi.useRealTimers();
    writeFileSync(file(), 'A_KEY=alpha\n', { mode: 0o600 });
    adoptDescribedFiles(undefined);
    expect(now().describeNow(ref('A_KEY'))).toEqual({ version: fingerprint('alpha') });
    // Nothing learned that can be kept: nothing to write (a file on a coarse clock would rewrite the cache each time).
    expect(describedFilesRecord()).toBeUndefined();
    expect(describedFilesRecord(true)).toEqual({});
    // A kept entry the file no longer matches is dropped: written once without it, then nothing more to write.
    adoptDescribedFiles({ [file()]: { id: 'an-older-state', variables: { A_KEY: { version: '0123456789abcdef' } } } });
    expect(now().describeNow(ref('A_KEY'))).toEqual({ version: fingerprint('alpha') });
    expect(describedFilesRecord()).toEqual({});
    adoptDescribedFiles({});
    expect(now().describeNow(ref('A_KEY'))).toEqual({ version: fingerprint('alpha') });
    expect(describedFilesRecord()).toBeUndefined();
  });

  it('keeps what was read well after its last change, on a file clock finer than a second only', () => {
    const now = 1_800_000_000_000;
    expect(keepable({ ctimeMs: now - 5_000.25, mtimeMs: now - 9_000.5 }, now)).toBe(true);
    // Changed a moment before the read: a same-size write in the same tick could follow unseen.
    expect(keepable({ ctimeMs: now - 1_000.25, mtimeMs: now - 9_000.5 }, now)).toBe(false);
    // Whole seconds: a coarse file clock (FAT, HFS+, ext4 with 128-byte inodes, some NFS servers), or a time set.
    expect(keepable({ ctimeMs: now - 5_000, mtimeMs: now - 9_000 }, now)).toBe(false);
    expect(keepable({ ctimeMs: now - 5_000, mtimeMs: now - 9_000.5 }, now)).toBe(false);
    expect(keepable({ ctimeMs: now - 5_000.5, mtimeMs: now - 9_000 }, now)).toBe(false);
    // A change time ahead of this clock (a file server's clock ahead, or ours set back): not kept.
    expect(keepable({ ctimeMs: now + 10_000.5, mtimeMs: now }, now)).toBe(false);
  });

  it('leaves out an entry of the wrong shape, and drops files no longer described', () => {
    writeOld('A_KEY=alpha\n');
    const other = join(dir, 'gone.env');
    adoptDescribedFiles({
      [file()]: { id: idOf(file()), variables: { A_KEY: { version: 42 } } },
      [other]: { id: 'x', variables: {} },
      nonsense: 'text',
    });
    expect(now().describeNow(ref('A_KEY'))).toEqual({ version: fingerprint('alpha') });
    const record = describedFilesRecord()!;
    expect(Object.keys(record)).toEqual([file()]);
    // Nothing read, one adopted file not described: still a record to write, without that file.
    adoptDescribedFiles(record);
    expect(now().describeNow(ref('A_KEY'))).toEqual({ version: fingerprint('alpha') });
    expect(describedFilesRecord()).toBeUndefined();
    adoptDescribedFiles({ ...record, [other]: { id: 'x', variables: {} } });
    now().describeNow(ref('A_KEY'));
    expect(Object.keys(describedFilesRecord()!)).toEqual([file()]);
  });
});
