/**
 * Specifications for the dotenv store beyond the shared contract: a rotation changes exactly one value's bytes,
 * keeps the file's mode, owner and links, leaves only 0600 sibling files, and finishes after a crash anywhere.
 *
 * Every expected file text here is written by hand from the input, never computed with the adapter's own parser.
 */
import { chmodSync, chownSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import dotenvAdapter, { openDotenvStore, type DotenvHooks, type DotenvOptions, type DotenvStep } from '../../adapters/stores/dotenv/index.js';
import { Secret } from '../../src/contract/secret.js';
import { parseRef, type SecretStore, type StoreRef } from '../../src/contract/store.js';
import { StoreError } from '../../src/contract/store-errors.js';

const RUN = '20261124T024512Z-aaaaaa';
const OTHER_RUN = '20261124T030000Z-bbbbbb';
const OLD = 'sp_live_OLD0123456789abcdef';
const NEW = 'sp_live_NEW9f8e7d6c5b4a3210';

/** A realistic hand-kept .env: comments (with non-ASCII), blanks, export, every quoting style, no final newline. */
const LINES = [
  '# Streampixel deployment — edited by hand and by rekey',
  '',
  'export NODE_ENV=production',
  "APP_NAME='pixel streamer'   # single-quoted, trailing comment",
  'DATABASE_URL="postgres://app@db.internal:5432/app?sslmode=require"',
  'GREETING="héllo\\nworld"',
  `# STREAMPIXEL_API_KEY=sp_live_commented_out_key`,
  `STREAMPIXEL_API_KEY = ${OLD}  # rotated 2026-01-01`,
  'STREAMPIXEL_API_KEY_V2=sp_live_unrelated_v2_value',
  '',
  '  INDENTED=yes',
  'WEBHOOK_URL=https://hooks.example.com/T000/B000#fragment',
  'EMPTY=',
  'LAST=value-without-newline',
];
const KEY_LINE = 7;
const ORIGINAL = LINES.join('\n');

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'rekey-dotenv-format-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function seed(text: string, name = '.env', mode = 0o600): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  chmodSync(path, mode);
  return path;
}
const contents = (name = '.env'): string => readFileSync(join(dir, name), 'utf8');
const open = (options: DotenvOptions = {}, hooks?: DotenvHooks): SecretStore => openDotenvStore(options, { baseDir: dir, env: {} }, hooks);
const refTo = (variable: string, name = '.env'): StoreRef => parseRef('dotenv', `./${name}#${variable}`);
const crashAfter = (wanted: DotenvStep): DotenvHooks => ({
  afterStep(_operation, step) {
    if (step === wanted) throw new Error(`simulated crash after ${step}`);
  },
});
const failureOf = async (promise: Promise<unknown>): Promise<StoreError> => {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(StoreError);
  return error as StoreError;
};

/** Stage and promote `value` for `variable` in a freshly seeded file; returns the store and ref for more steps. */
async function rotate(text: string, variable: string, value: string, options: DotenvOptions = {}, name = '.env') {
  seed(text, name);
  const store = open(options);
  const ref = refTo(variable, name);
  const base = (await store.read(ref)).version;
  const version = await store.stage(ref, new Secret(value), RUN, base);
  await store.promote(ref, version, RUN, base);
  return { store, ref, base, version };
}

describe('dotenv format: a rotation changes exactly one value', () => {
  it('keeps every other byte: comments, blanks, export, quoting, spacing around =, the trailing comment, no final newline', async () => {
    await rotate(ORIGINAL, 'STREAMPIXEL_API_KEY', NEW);
    const expected = [...LINES];
    expected[KEY_LINE] = `STREAMPIXEL_API_KEY = ${NEW}  # rotated 2026-01-01`;
    expect(contents()).toBe(expected.join('\n'));
  });

  it('keeps CRLF line endings and a missing final newline', async () => {
    await rotate(LINES.join('\r\n'), 'STREAMPIXEL_API_KEY', NEW);
    const expected = [...LINES];
    expected[KEY_LINE] = `STREAMPIXEL_API_KEY = ${NEW}  # rotated 2026-01-01`;
    expect(contents()).toBe(expected.join('\r\n'));
  });

  it('keeps a final newline and a byte order mark when the variable is on the first line', async () => {
    await rotate(`\uFEFFSTREAMPIXEL_API_KEY=${OLD}\nOTHER=1\n`, 'STREAMPIXEL_API_KEY', NEW);
    expect(contents()).toBe(`\uFEFFSTREAMPIXEL_API_KEY=${NEW}\nOTHER=1\n`);
  });

  it('keeps an export prefix and double quotes', async () => {
    await rotate(`A=1\nexport STREAMPIXEL_API_KEY="${OLD}"\nB=2\n`, 'STREAMPIXEL_API_KEY', NEW);
    expect(contents()).toBe(`A=1\nexport STREAMPIXEL_API_KEY="${NEW}"\nB=2\n`);
  });

  it('keeps single quotes and the comment after them', async () => {
    await rotate(`STREAMPIXEL_API_KEY='${OLD}' # from the dashboard\n`, 'STREAMPIXEL_API_KEY', NEW);
    expect(contents()).toBe(`STREAMPIXEL_API_KEY='${NEW}' # from the dashboard\n`);
  });

  it('changes the last of duplicate assignments, the one dotenv readers use, and reads it', async () => {
    seed(`STREAMPIXEL_API_KEY=sp_live_shadowed_first_value\nX=1\nSTREAMPIXEL_API_KEY=${OLD}\n`);
    expect((await open().read(refTo('STREAMPIXEL_API_KEY'))).value.reveal()).toBe(OLD);
    await rotate(`STREAMPIXEL_API_KEY=sp_live_shadowed_first_value\nX=1\nSTREAMPIXEL_API_KEY=${OLD}\n`, 'STREAMPIXEL_API_KEY', NEW);
    expect(contents()).toBe(`STREAMPIXEL_API_KEY=sp_live_shadowed_first_value\nX=1\nSTREAMPIXEL_API_KEY=${NEW}\n`);
  });

  it('reads values as dotenv readers do: a URL fragment is not a comment, escapes in double quotes are decoded', async () => {
    seed(ORIGINAL);
    const store = open();
    expect((await store.read(refTo('WEBHOOK_URL'))).value.reveal()).toBe('https://hooks.example.com/T000/B000#fragment');
    expect((await store.read(refTo('APP_NAME'))).value.reveal()).toBe('pixel streamer');
    expect((await store.read(refTo('GREETING'))).value.reveal()).toBe('héllo\nworld');
    expect((await store.read(refTo('INDENTED'))).value.reveal()).toBe('yes');
    expect((await store.read(refTo('NODE_ENV'))).value.reveal()).toBe('production');
    expect((await store.read(refTo('STREAMPIXEL_API_KEY'))).value.reveal()).toBe(OLD);
    expect((await store.read(refTo('LAST'))).value.reveal()).toBe('value-without-newline');
  });

  it('reads a multi-line double-quoted value and keeps it byte for byte when another variable rotates', async () => {
    const pem = 'PRIVATE_KEY="-----BEGIN KEY-----\nMIIBcontent\\twith tab\n-----END KEY-----"';
    const text = `${pem}\nSTREAMPIXEL_API_KEY=${OLD}\n`;
    seed(text);
    expect((await open().read(refTo('PRIVATE_KEY'))).value.reveal()).toBe('-----BEGIN KEY-----\nMIIBcontent\twith tab\n-----END KEY-----');
    await rotate(text, 'STREAMPIXEL_API_KEY', NEW);
    expect(contents()).toBe(`${pem}\nSTREAMPIXEL_API_KEY=${NEW}\n`);
  });

  it('writes a value with a newline into a double-quoted slot as \\n, and reads it back', async () => {
    const { store, ref } = await rotate('CERT="old-line-1\\nold-line-2"\n', 'CERT', 'new-line-1\nnew-line-2');
    expect(contents()).toBe('CERT="new-line-1\\nnew-line-2"\n');
    expect((await store.read(ref)).value.reveal()).toBe('new-line-1\nnew-line-2');
  });

  it('quotes a new value that a bare slot cannot hold in single quotes, which no reader expands', async () => {
    const value = 'sp live $HOME #not-a-comment 0123456789';
    const { store, ref } = await rotate(`STREAMPIXEL_API_KEY=${OLD} # note\n`, 'STREAMPIXEL_API_KEY', value);
    expect(contents()).toBe(`STREAMPIXEL_API_KEY='${value}' # note\n`);
    expect((await store.read(ref)).value.reveal()).toBe(value);
  });

  it("moves a value containing ' from single to double quotes", async () => {
    const value = "it's-a-key-0123456789abcdef";
    const { store, ref } = await rotate(`STREAMPIXEL_API_KEY='${OLD}'\n`, 'STREAMPIXEL_API_KEY', value);
    expect(contents()).toBe(`STREAMPIXEL_API_KEY="${value}"\n`);
    expect((await store.read(ref)).value.reveal()).toBe(value);
  });

  it('escapes a value that fits no portable style in double quotes, and reads it back exactly', async () => {
    const value = `a'b\\c"d-0123456789`;
    const { store, ref } = await rotate(`STREAMPIXEL_API_KEY=${OLD}\n`, 'STREAMPIXEL_API_KEY', value);
    expect(contents()).toBe(`STREAMPIXEL_API_KEY="a'b\\\\c\\"d-0123456789"\n`);
    expect((await store.read(ref)).value.reveal()).toBe(value);
  });

  it('fills an empty value that sits right before a comment without swallowing the comment', async () => {
    const { store, ref } = await rotate('TOKEN= # fill me\nB=2\n', 'TOKEN', NEW);
    expect(contents()).toBe(`TOKEN= ${NEW} # fill me\nB=2\n`);
    expect((await store.read(ref)).value.reveal()).toBe(NEW);
  });

  it('rollback restores the file byte for byte, even when the promote had to change the quoting', async () => {
    const { store, ref } = await rotate(ORIGINAL, 'STREAMPIXEL_API_KEY', 'needs quoting 0123456789abcdef');
    expect(contents()).toContain(`STREAMPIXEL_API_KEY = 'needs quoting 0123456789abcdef'  # rotated 2026-01-01`);
    await store.rollback(ref, RUN);
    expect(contents()).toBe(ORIGINAL);
    expect(readdirSync(dir)).toEqual(['.env']);
  });

  it('never touches a commented-out assignment or a variable whose name only starts the same', async () => {
    await rotate(ORIGINAL, 'STREAMPIXEL_API_KEY', NEW);
    expect(contents()).toContain('# STREAMPIXEL_API_KEY=sp_live_commented_out_key\n');
    expect(contents()).toContain('STREAMPIXEL_API_KEY_V2=sp_live_unrelated_v2_value\n');
  });

  it('keeps a line another writer added between stage and promote', async () => {
    seed(`STREAMPIXEL_API_KEY=${OLD}\n`);
    const store = open();
    const ref = refTo('STREAMPIXEL_API_KEY');
    const base = (await store.read(ref)).version;
    const version = await store.stage(ref, new Secret(NEW), RUN, base);
    writeFileSync(join(dir, '.env'), `STREAMPIXEL_API_KEY=${OLD}\nADDED_BY_A_PERSON=1\n`);
    await store.promote(ref, version, RUN, base);
    expect(contents()).toBe(`STREAMPIXEL_API_KEY=${NEW}\nADDED_BY_A_PERSON=1\n`);
  });
});

describe('dotenv files: modes, owners, links and sibling files', () => {
  it('keeps the mode 0640 of the .env after a rotation, a rollback and a retire', async () => {
    const path = seed(ORIGINAL, '.env', 0o640);
    const store = open({ keepPrevious: true });
    const ref = refTo('STREAMPIXEL_API_KEY');
    const base = (await store.read(ref)).version;
    const version = await store.stage(ref, new Secret(NEW), RUN, base);
    await store.promote(ref, version, RUN, base);
    expect(statSync(path).mode & 0o777).toBe(0o640);
    await store.retire(ref, RUN);
    expect(statSync(path).mode & 0o777).toBe(0o640);
    await rotate(ORIGINAL, 'LAST', 'next-value-0123456789');
    chmodSync(path, 0o640);
    await open().rollback(refTo('LAST'), RUN);
    expect(statSync(path).mode & 0o777).toBe(0o640);
    expect(contents()).toBe(ORIGINAL);
  });

  it('creates the staging and previous files beside the .env with mode 0600, even next to a 0644 file', async () => {
    seed(ORIGINAL, '.env', 0o644);
    const store = open();
    const ref = refTo('STREAMPIXEL_API_KEY');
    const base = (await store.read(ref)).version;
    const version = await store.stage(ref, new Secret(NEW), RUN, base);
    const staged = join(dir, '.env.STREAMPIXEL_API_KEY.rekey-staged');
    expect(statSync(staged).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(staged, 'utf8'))).toMatchObject({ rekey: 'dotenv-staged', run: RUN, base, version, value: NEW });
    await store.promote(ref, version, RUN, base);
    const previous = join(dir, '.env.STREAMPIXEL_API_KEY.rekey-previous');
    expect(statSync(previous).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(previous, 'utf8'))).toMatchObject({ rekey: 'dotenv-previous', run: RUN, value: OLD, base, version });
    expect(readdirSync(dir).sort()).toEqual(['.env', '.env.STREAMPIXEL_API_KEY.rekey-previous']);
  });

  it('names sibling files of a file that is not hidden with a leading dot', async () => {
    seed(`STREAMPIXEL_API_KEY=${OLD}\n`, 'app.env');
    const store = open();
    const ref = refTo('STREAMPIXEL_API_KEY', 'app.env');
    await store.stage(ref, new Secret(NEW), RUN, (await store.read(ref)).version);
    expect(readdirSync(dir).sort()).toEqual(['.app.env.STREAMPIXEL_API_KEY.rekey-staged', 'app.env']);
  });

  it('leaves no temporary or sibling file behind after stage, promote and retire', async () => {
    const { store, ref } = await rotate(ORIGINAL, 'STREAMPIXEL_API_KEY', NEW, { keepPrevious: true });
    await store.retire(ref, RUN);
    expect(readdirSync(dir)).toEqual(['.env']);
  });

  it.skipIf(process.getuid?.() !== 0)('gives the rewritten .env its owner and group back', async () => {
    const path = seed(ORIGINAL, '.env', 0o640);
    chownSync(path, 1234, 5678);
    const store = open();
    const ref = refTo('STREAMPIXEL_API_KEY');
    const base = (await store.read(ref)).version;
    await store.promote(ref, await store.stage(ref, new Secret(NEW), RUN, base), RUN, base);
    expect(statSync(path)).toMatchObject({ uid: 1234, gid: 5678 });
  });

  it('rewrites the file a symlinked .env points to and keeps the link', async () => {
    mkdirSync(join(dir, 'shared'));
    writeFileSync(join(dir, 'shared', 'prod.env'), `STREAMPIXEL_API_KEY=${OLD}\n`);
    symlinkSync(join(dir, 'shared', 'prod.env'), join(dir, '.env'));
    const store = open();
    const ref = refTo('STREAMPIXEL_API_KEY');
    const base = (await store.read(ref)).version;
    await store.promote(ref, await store.stage(ref, new Secret(NEW), RUN, base), RUN, base);
    expect(lstatSync(join(dir, '.env')).isSymbolicLink()).toBe(true);
    expect(readFileSync(join(dir, 'shared', 'prod.env'), 'utf8')).toBe(`STREAMPIXEL_API_KEY=${NEW}\n`);
    expect(readdirSync(join(dir, 'shared'))).toEqual(['prod.env']);
  });
});

describe('dotenv keepPrevious: NAME_PREVIOUS during the overlap', () => {
  it('adds NAME_PREVIOUS=<old> right after the variable, shaped like its line, and retire removes it', async () => {
    const { store, ref } = await rotate(ORIGINAL, 'STREAMPIXEL_API_KEY', NEW, { keepPrevious: true });
    const during = [...LINES];
    during.splice(KEY_LINE, 1, `STREAMPIXEL_API_KEY = ${NEW}  # rotated 2026-01-01`, `STREAMPIXEL_API_KEY_PREVIOUS = ${OLD}`);
    expect(contents()).toBe(during.join('\n'));
    expect((await store.read(refTo('STREAMPIXEL_API_KEY_PREVIOUS'))).value.reveal()).toBe(OLD);
    await store.retire(ref, RUN);
    const after = [...LINES];
    after[KEY_LINE] = `STREAMPIXEL_API_KEY = ${NEW}  # rotated 2026-01-01`;
    expect(contents()).toBe(after.join('\n'));
    await store.retire(ref, RUN);
    expect(contents()).toBe(after.join('\n'));
  });

  it('keeps export, CRLF and the missing final newline when the variable is the last line', async () => {
    const { store, ref } = await rotate(`A=1\r\nexport LAST="${OLD}"`, 'LAST', NEW, { keepPrevious: true });
    expect(contents()).toBe(`A=1\r\nexport LAST="${NEW}"\r\nexport LAST_PREVIOUS="${OLD}"`);
    await store.retire(ref, RUN);
    expect(contents()).toBe(`A=1\r\nexport LAST="${NEW}"`);
  });

  it('overwrites an existing NAME_PREVIOUS in place, and a rollback puts its old token back', async () => {
    const text = `KEY_PREVIOUS='sp_live_much_older_value'\nKEY=${OLD}\n`;
    const { store, ref } = await rotate(text, 'KEY', NEW, { keepPrevious: true });
    expect(contents()).toBe(`KEY_PREVIOUS=${OLD}\nKEY=${NEW}\n`);
    await store.rollback(ref, RUN);
    expect(contents()).toBe(text);
  });

  it('rollback drops the NAME_PREVIOUS it added and restores the original file', async () => {
    const { store, ref } = await rotate(ORIGINAL, 'STREAMPIXEL_API_KEY', NEW, { keepPrevious: true });
    await store.rollback(ref, RUN);
    expect(contents()).toBe(ORIGINAL);
  });

  it('retire leaves a NAME_PREVIOUS that someone changed since the promote', async () => {
    const { store, ref } = await rotate(`KEY=${OLD}\n`, 'KEY', NEW, { keepPrevious: true });
    writeFileSync(join(dir, '.env'), `KEY=${NEW}\nKEY_PREVIOUS=set-by-a-person-0123\n`);
    await store.retire(ref, RUN);
    expect(contents()).toBe(`KEY=${NEW}\nKEY_PREVIOUS=set-by-a-person-0123\n`);
    expect(readdirSync(dir)).toEqual(['.env']);
  });
});

describe('dotenv previousVariable: the old value under a name the user chooses', () => {
  it('keeps the old value as NAME_OLD right after the variable, and retire removes it', async () => {
    const { store, ref } = await rotate(`# keys\nX_API_KEY=${OLD}\nREGION=eu\n`, 'X_API_KEY', NEW, { previousVariable: 'X_API_KEY_OLD' });
    expect(contents()).toBe(`# keys\nX_API_KEY=${NEW}\nX_API_KEY_OLD=${OLD}\nREGION=eu\n`);
    await store.retire(ref, RUN);
    expect(contents()).toBe(`# keys\nX_API_KEY=${NEW}\nREGION=eu\n`);
  });

  it('rotates NAME_NEW with NAME_OLD as its pair: an existing NAME_OLD line is overwritten, and a rollback restores both', async () => {
    const text = `X_API_KEY_NEW=${OLD}\nX_API_KEY_OLD=sp_live_much_older_value\n`;
    const { store, ref } = await rotate(text, 'X_API_KEY_NEW', NEW, { previousVariable: 'X_API_KEY_OLD' });
    expect(contents()).toBe(`X_API_KEY_NEW=${NEW}\nX_API_KEY_OLD=${OLD}\n`);
    await store.rollback(ref, RUN);
    expect(contents()).toBe(text);
  });

  it('the adapter refuses a previousVariable that is not a variable name, or is the rotated variable, or contradicts keepPrevious', () => {
    const ref = refTo('X_API_KEY');
    expect(dotenvAdapter.validateOptions({ previousVariable: 'X_API_KEY_OLD' }, ref)).toBeUndefined();
    expect(dotenvAdapter.validateOptions({ previousVariable: 'X-API-KEY-OLD' }, ref)).toEqual({
      option: 'previousVariable',
      problem: 'X-API-KEY-OLD is not a variable name (a letter or _, then letters, digits and _)',
    });
    expect(dotenvAdapter.validateOptions({ previousVariable: 'X_API_KEY' }, ref)?.problem).toContain('the variable being rotated');
    expect(dotenvAdapter.validateOptions({ previousVariable: 'X_API_KEY_OLD', keepPrevious: false }, ref)?.option).toBe('keepPrevious');
  });
});

describe('dotenv crash recovery (I1, I5): a second call finishes what a crash interrupted', () => {
  const finalText = (() => {
    const lines = [...LINES];
    lines.splice(KEY_LINE, 1, `STREAMPIXEL_API_KEY = ${NEW}  # rotated 2026-01-01`, `STREAMPIXEL_API_KEY_PREVIOUS = ${OLD}`);
    return lines.join('\n');
  })();

  for (const step of ['previous-written', 'env-written'] as const) {
    it(`a promote that crashed after ${step} is finished by a second promote`, async () => {
      seed(ORIGINAL);
      const ref = refTo('STREAMPIXEL_API_KEY');
      const crashing = open({ keepPrevious: true }, crashAfter(step));
      const base = (await crashing.read(ref)).version;
      const version = await crashing.stage(ref, new Secret(NEW), RUN, base);
      await expect(crashing.promote(ref, version, RUN, base)).rejects.toThrow(/simulated crash/);
      // The old value is durable somewhere at the crash: in the .env or in the previous file (I1).
      const durable = contents().includes(OLD) || readFileSync(join(dir, '.env.STREAMPIXEL_API_KEY.rekey-previous'), 'utf8').includes(OLD);
      expect(durable).toBe(true);

      const resumed = open({ keepPrevious: true });
      expect((await resumed.readStaged(ref, RUN))?.value.reveal()).toBe(NEW);
      await resumed.promote(ref, version, RUN, base);
      expect(contents()).toBe(finalText);
      expect(readdirSync(dir).sort()).toEqual(['.env', '.env.STREAMPIXEL_API_KEY.rekey-previous']);
      expect((await resumed.readPrevious(ref, RUN))?.value.reveal()).toBe(OLD);
      expect((await resumed.readStaged(ref, RUN))?.value.reveal()).toBe(NEW);
    });
  }

  it('a promote that crashed after writing the previous file can be rolled back instead', async () => {
    seed(ORIGINAL);
    const ref = refTo('STREAMPIXEL_API_KEY');
    const crashing = open({}, crashAfter('previous-written'));
    const base = (await crashing.read(ref)).version;
    const version = await crashing.stage(ref, new Secret(NEW), RUN, base);
    await expect(crashing.promote(ref, version, RUN, base)).rejects.toThrow(/simulated crash/);
    await open().rollback(ref, RUN);
    expect(contents()).toBe(ORIGINAL);
    expect(readdirSync(dir)).toEqual(['.env']);
  });

  it('a promote left behind by hand (previous and staging files, .env untouched) is finished by promote', async () => {
    seed(`STREAMPIXEL_API_KEY=${OLD}\n`);
    const ref = refTo('STREAMPIXEL_API_KEY');
    const store = open();
    const base = (await store.read(ref)).version;
    const version = await store.stage(ref, new Secret(NEW), RUN, base);
    // What a promote interrupted after its first step leaves on disk, written by hand in the documented format.
    writeFileSync(
      join(dir, '.env.STREAMPIXEL_API_KEY.rekey-previous'),
      JSON.stringify({
        rekey: 'dotenv-previous',
        run: RUN,
        variable: 'STREAMPIXEL_API_KEY',
        base,
        version,
        value: OLD,
        token: Buffer.from(OLD).toString('base64'),
        keepPrevious: false,
        previousVariableToken: null,
        promotedAt: new Date().toISOString(),
      }),
      { mode: 0o600 },
    );
    await open().promote(ref, version, RUN, base);
    expect(contents()).toBe(`STREAMPIXEL_API_KEY=${NEW}\n`);
    expect(readdirSync(dir).sort()).toEqual(['.env', '.env.STREAMPIXEL_API_KEY.rekey-previous']);
  });

  for (const step of ['env-restored', 'staged-removed'] as const) {
    it(`a rollback that crashed after ${step} is finished by a second rollback`, async () => {
      seed(ORIGINAL);
      const ref = refTo('STREAMPIXEL_API_KEY');
      const store = open({ keepPrevious: true });
      const base = (await store.read(ref)).version;
      const version = await store.stage(ref, new Secret(NEW), RUN, base);
      // Leave the staging file in place too, as a promote that crashed after rewriting the .env would.
      await expect(open({ keepPrevious: true }, crashAfter('env-written')).promote(ref, version, RUN, base)).rejects.toThrow(/simulated crash/);
      await expect(open({}, crashAfter(step)).rollback(ref, RUN)).rejects.toThrow(/simulated crash/);
      await open().rollback(ref, RUN);
      expect(contents()).toBe(ORIGINAL);
      expect(readdirSync(dir)).toEqual(['.env']);
    });
  }

  it('a retire that crashed after removing NAME_PREVIOUS is finished by a second retire', async () => {
    const { ref } = await rotate(ORIGINAL, 'STREAMPIXEL_API_KEY', NEW, { keepPrevious: true });
    await expect(open({ keepPrevious: true }, crashAfter('previous-variable-removed')).retire(ref, RUN)).rejects.toThrow(/simulated crash/);
    expect(readdirSync(dir).sort()).toEqual(['.env', '.env.STREAMPIXEL_API_KEY.rekey-previous']);
    await open({ keepPrevious: true }).retire(ref, RUN);
    const after = [...LINES];
    after[KEY_LINE] = `STREAMPIXEL_API_KEY = ${NEW}  # rotated 2026-01-01`;
    expect(contents()).toBe(after.join('\n'));
    expect(readdirSync(dir)).toEqual(['.env']);
  });
});

describe('dotenv staging and conflicts', () => {
  it('a second stage by the same run returns the same version and leaves the staging file as it was', async () => {
    seed(ORIGINAL);
    const ref = refTo('STREAMPIXEL_API_KEY');
    const base = (await open().read(ref)).version;
    const first = await open().stage(ref, new Secret(NEW), RUN, base);
    const staged = join(dir, '.env.STREAMPIXEL_API_KEY.rekey-staged');
    const before = readFileSync(staged, 'utf8');
    expect(await open().stage(ref, new Secret(NEW), RUN, base)).toBe(first);
    expect(readFileSync(staged, 'utf8')).toBe(before);
    expect(contents()).toBe(ORIGINAL);
  });

  it("refuses to stage over another run's staged value, with a hint and no value in the message", async () => {
    seed(ORIGINAL);
    const ref = refTo('STREAMPIXEL_API_KEY');
    const base = (await open().read(ref)).version;
    await open().stage(ref, new Secret(NEW), OTHER_RUN, base);
    const error = await failureOf(open().stage(ref, new Secret('sp_live_THIRD_value_0123456789'), RUN, base));
    expect(error.code).toBe('conflict');
    expect(error.message).toContain(OTHER_RUN);
    expect(error.hint).toContain(`rekey rollback ${OTHER_RUN}`);
    expect(error.message).not.toMatch(/sp_live_(NEW|OLD|THIRD)/);
  });

  it('refuses to stage while another run still keeps its previous value (it has not retired)', async () => {
    const { version } = await rotate(ORIGINAL, 'STREAMPIXEL_API_KEY', NEW);
    const error = await failureOf(open().stage(refTo('STREAMPIXEL_API_KEY'), new Secret('sp_live_THIRD_value_0123456789'), OTHER_RUN, version));
    expect(error.code).toBe('conflict');
    expect(error.message).toContain(RUN);
  });

  it('refuses to stage when the current value is no longer the base', async () => {
    seed(ORIGINAL);
    const error = await failureOf(open().stage(refTo('STREAMPIXEL_API_KEY'), new Secret(NEW), RUN, '0000000000000000'));
    expect(error.code).toBe('conflict');
    expect(readdirSync(dir)).toEqual(['.env']);
  });

  it('refuses to stage the value that is already current', async () => {
    seed(ORIGINAL);
    const ref = refTo('STREAMPIXEL_API_KEY');
    const base = (await open().read(ref)).version;
    expect((await failureOf(open().stage(ref, new Secret(OLD), RUN, base))).code).toBe('invalid');
  });

  it('readStaged after a promote is the current value while it is ours, and nothing once someone else wrote', async () => {
    const { store, ref, version } = await rotate(`KEY=${OLD}\n`, 'KEY', NEW);
    expect(await store.readStaged(ref, RUN)).toMatchObject({ version, run: RUN });
    writeFileSync(join(dir, '.env'), 'KEY=sp_live_written_by_a_person_01\n');
    expect(await store.readStaged(ref, RUN)).toBeUndefined();
  });

  it('a rollback refused because of a later write keeps the previous file, so a person can still recover the old value', async () => {
    const { store, ref } = await rotate(`KEY=${OLD}\n`, 'KEY', NEW);
    writeFileSync(join(dir, '.env'), 'KEY=sp_live_written_by_a_person_01\n');
    const error = await failureOf(store.rollback(ref, RUN));
    expect(error.code).toBe('conflict');
    expect(error.hint).toContain('.env.KEY.rekey-previous');
    expect(contents()).toBe('KEY=sp_live_written_by_a_person_01\n');
    expect((await store.readPrevious(ref, RUN))?.value.reveal()).toBe(OLD);
  });
});

describe('dotenv errors and check', () => {
  it('reports a missing variable as not-found naming the file and the variable, never an empty value', async () => {
    seed('OTHER=1\nEMPTY_BUT_SET=\n');
    const error = await failureOf(open().read(refTo('STREAMPIXEL_API_KEY')));
    expect(error.code).toBe('not-found');
    expect(error.message).toContain('.env');
    expect(error.message).toContain('STREAMPIXEL_API_KEY');
    expect((await open().read(refTo('EMPTY_BUT_SET'))).value.reveal()).toBe('');
  });

  it('reports a missing file as not-found naming the file', async () => {
    const error = await failureOf(open().read(parseRef('dotenv', './deploy/none.env#KEY')));
    expect(error.code).toBe('not-found');
    expect(error.message).toContain(join(dir, 'deploy', 'none.env'));
  });

  it('refuses a ref without a variable name', async () => {
    seed(ORIGINAL);
    const error = await failureOf(open().read(parseRef('dotenv', './.env')));
    expect(error.code).toBe('invalid');
    expect(error.message).toContain('#');
  });

  it('refuses to read a variable whose quoting is broken, and does not quote the line', async () => {
    seed(`KEY="${OLD}\nB=2\n`);
    const error = await failureOf(open().read(refTo('KEY')));
    expect(error.code).toBe('invalid');
    expect(error.message).toContain('line 1');
    expect(error.message).not.toContain(OLD);
    expect((await open().read(refTo('B'))).value.reveal()).toBe('2');
  });

  it('check warns that a 0644 file is readable by others, and writes nothing', async () => {
    const path = seed(ORIGINAL, '.env', 0o644);
    const before = statSync(path).mtimeMs;
    const check = await open().check(refTo('STREAMPIXEL_API_KEY'));
    expect(check).toMatchObject({ readable: true, writable: true, fingerprint: new Secret(OLD).fingerprint });
    expect(check.notes.join('\n')).toMatch(/mode 0644.*readable by other users/);
    expect(readdirSync(dir)).toEqual(['.env']);
    expect(statSync(path).mtimeMs).toBe(before);
    expect(contents()).toBe(ORIGINAL);
  });

  it('check of a 0600 file has no mode warning, and names duplicates and leftover run files', async () => {
    seed(`KEY=sp_live_first_value_000\nKEY=${OLD}\n`);
    const ref = refTo('KEY');
    expect((await open().check(ref)).notes).toEqual([expect.stringMatching(/set 2 times.*line 2/)]);
    await open().stage(ref, new Secret(NEW), OTHER_RUN, (await open().read(ref)).version);
    expect((await open().check(ref)).notes.join('\n')).toContain(`.env.KEY.rekey-staged holds a staged value from run ${OTHER_RUN}`);
  });

  it('the adapter declares its kind, options and honest capabilities', () => {
    expect(dotenvAdapter.kind).toBe('dotenv');
    expect(dotenvAdapter.options).toEqual({
      keepPrevious: { type: 'boolean', description: expect.stringContaining('_PREVIOUS'), default: false },
      previousVariable: { type: 'string', description: expect.stringContaining('NAME_OLD') },
    });
    expect(dotenvAdapter.open({}, { baseDir: dir, env: {} }).capabilities).toEqual({ readBack: true, staging: true, versions: false, compareAndSwap: true });
  });
});
