/**
 * The dotenv adapter's hooks, which keep what only this store knows inside it: `validateRef` (the variable name
 * rule, the same one the store applies at run time), `files` (every file it writes for a ref, so the leak search
 * can leave them out without naming the store kind), and `describe` (a .env has no dates: the version only).
 */
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import dotenv, { openDotenvStore } from '../../adapters/stores/dotenv/index.js';
import { fingerprint } from '../../src/contract/mask.js';
import { Secret } from '../../src/contract/secret.js';
import { parseRef } from '../../src/contract/store.js';
import { killMidWrite } from '../support/kill-mid-write.js';

const RUN = '20261124T024512Z-6b6b6b';
const OLD = 'sk_live_old_0123456789abcdef';
const NEW = 'sk_live_new_fedcba9876543210';
const CANARY = 'sk_live_CANARY_dotenv_hooks_9f2e4a1c7b3d5e60';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'rekey-dotenv-hooks-'));
  writeFileSync(join(dir, '.env'), `API_KEY=${OLD}\nOTHER_KEY=other_0123456789\n`, { mode: 0o600 });
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const open = () => openDotenvStore({ keepPrevious: true }, { baseDir: dir, env: {} });
const ref = (text: string) => parseRef('dotenv', text);

describe('dotenv validateRef', () => {
  it('accepts a file and a shell variable name', () => {
    for (const text of ['./.env#API_KEY', 'deploy/app.env#_TOKEN2', '.env#a']) expect(dotenv.validateRef(ref(text)), text).toBeUndefined();
  });

  it('refuses what a shell could not source: a leading digit, a dash, a dot; and a ref without a variable or a file', () => {
    expect(dotenv.validateRef(ref('./.env#1KEY'))).toContain('is not a variable name');
    expect(dotenv.validateRef(ref('./.env#API-KEY'))).toContain('is not a variable name');
    expect(dotenv.validateRef(ref('./.env#api.key'))).toContain('is not a variable name');
    expect(dotenv.validateRef(ref('./.env'))).toContain('names its variable after "#"');
    expect(dotenv.validateRef(ref('#API_KEY'))).toContain('no file path');
  });

  it('is the rule the store applies at run time: a ref the config would refuse, the store refuses with the same words', async () => {
    const bad = ref('./.env#API-KEY');
    const problem = dotenv.validateRef(bad);
    expect(problem).toBeDefined();
    await expect(open().read(bad)).rejects.toThrow(problem!);
  });
});

describe('dotenv files', () => {
  it("lists the .env, the ref's staged and previous files and the lock, as absolute paths, and no other variable's", async () => {
    const files = open().files!(ref('./.env#API_KEY'));
    expect(files).toEqual(
      [join(dir, '.env'), join(dir, '.env.API_KEY.rekey-staged'), join(dir, '.env.API_KEY.rekey-previous'), join(dir, '.env.rekey-lock')].sort(),
    );
  });

  it('includes the staged file a stage wrote, and the temporary file a killed write left beside the .env', async () => {
    const store = open();
    const before = new Set(readdirSync(dir));
    await store.stage(ref('./.env#API_KEY'), new Secret(NEW), RUN, fingerprint(OLD));
    await killMidWrite(join(dir, '.env'), CANARY);
    const written = readdirSync(dir).filter((name) => !before.has(name));
    expect(written).toHaveLength(2);
    const files = store.files!(ref('./.env#API_KEY'));
    for (const name of written) expect(files).toContain(join(dir, name));
    // Another .env in the same folder is not this ref's.
    writeFileSync(join(dir, 'other.env'), 'X=1\n');
    expect(files).not.toContain(join(dir, 'other.env'));
  });
});

describe('dotenv describe', () => {
  it("gives the current value's version (its fingerprint) and no date, and nothing for a variable that is not set", async () => {
    const store = open();
    const described = await store.describe!(ref('./.env#API_KEY'));
    expect(described).toEqual({ version: fingerprint(OLD) });
    expect(await store.describe!(ref('./.env#MISSING_KEY'))).toBeUndefined();
  });
});
