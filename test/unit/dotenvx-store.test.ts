/**
 * The dotenvx store beyond the shared contract: the plaintext never reaches disk (I3), the keys it needs are refused
 * clearly when missing or wrong (naming where it looked, never a key or a value), a value still in the clear is not
 * overwritten, `$` survives dotenvx's expansion, and what the leak search is told to leave out.
 */
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decrypt } from 'eciesjs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import dotenvx, { openDotenvxStore } from '../../adapters/stores/dotenvx/index.js';
import { Secret } from '../../src/contract/secret.js';
import { parseRef, type StoreRef } from '../../src/contract/store.js';
import { CannotStageError, StoreError } from '../../src/contract/store-errors.js';
import { filesHolding, keyPair, seal } from './dotenvx-fixture.js';

const RUN = '20261202T150000Z-d0e1f2';
const OLD = 'rk_canary_OLD_dotenvx_5c1e9a7f3b2d4e60';
const NEW = 'rk_canary_NEW_dotenvx_a8b7c6d5e4f30211';
const PREVIOUS_OLDER = 'rk_canary_OLDER_dotenvx_0f1e2d3c4b5a6978';

let dir: string;
let pair: { publicKey: string; privateKey: string };
const ref: StoreRef = parseRef('dotenvx', './.env.production#API_KEY');
const file = () => join(dir, '.env.production');
const open = (options: { keepPrevious?: boolean; keysFile?: string } = {}, env: Record<string, string> = {}, hooks = {}) =>
  openDotenvxStore(options, { baseDir: dir, env }, hooks);

/** What dotenvx encrypt writes: the public key, then the variables; the private key goes to .env.keys. */
function seed(lines: readonly string[], options: { keys?: boolean; publicKey?: string | null } = {}): void {
  const publicKey = options.publicKey === undefined ? pair.publicKey : options.publicKey;
  const header = publicKey === null ? [] : [`DOTENV_PUBLIC_KEY_PRODUCTION="${publicKey}"`, ''];
  writeFileSync(file(), [...header, ...lines, ''].join('\n'), { mode: 0o600 });
  if (options.keys !== false) writeFileSync(join(dir, '.env.keys'), `DOTENV_PRIVATE_KEY_PRODUCTION=${pair.privateKey}\n`, { mode: 0o600 });
}

/** The plaintext of a variable, decrypted here with eciesjs and the test's key: the file as an app would read it. */
function plainOf(name: string): string {
  const line = readFileSync(file(), 'utf8')
    .split('\n')
    .findLast((l) => l.startsWith(`${name}=`));
  const token = line!.slice(name.length + 1).replace(/^['"]|['"]$/g, '');
  expect(token.startsWith('encrypted:'), `${name} is written encrypted`).toBe(true);
  return Buffer.from(decrypt(pair.privateKey, Buffer.from(token.slice('encrypted:'.length), 'base64'))).toString('utf8');
}

const errorOf = async (promise: Promise<unknown>): Promise<StoreError> => {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(StoreError);
  const message = `${(error as StoreError).message} ${(error as StoreError).hint ?? ''}`;
  for (const secret of [OLD, NEW, pair.privateKey]) expect(message).not.toContain(secret);
  return error as StoreError;
};

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'rekey-dotenvx-store-'));
  pair = keyPair();
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('dotenvx: the plaintext never reaches disk (I3)', () => {
  it('after every durable step of stage, promote (keeping NAME_PREVIOUS), rollback, stage again, promote and retire', async () => {
    seed([`API_KEY=${seal(pair.publicKey, OLD)}`, `API_KEY_PREVIOUS=${seal(pair.publicKey, PREVIOUS_OLDER)}`, 'REGION=eu-west-1']);
    const seen: string[] = [];
    const inspect = (operation: string, step: string) => {
      for (const value of [OLD, NEW, PREVIOUS_OLDER]) {
        const holding = filesHolding(dir, value);
        expect(holding, `${value} on disk after ${operation}/${step}`).toEqual([]);
      }
      seen.push(`${operation}/${step}`);
    };
    const store = open({ keepPrevious: true }, {}, { afterStep: inspect });
    const base = (await store.read(ref)).version;
    await store.canStage(ref, RUN, base);
    await store.stage(ref, new Secret(NEW), RUN, base);
    await store.promote(ref, new Secret(NEW).fingerprint, RUN, base);
    expect(plainOf('API_KEY')).toBe(NEW);
    expect(plainOf('API_KEY_PREVIOUS')).toBe(OLD);
    await store.rollback(ref, RUN);
    expect(plainOf('API_KEY')).toBe(OLD);
    expect(plainOf('API_KEY_PREVIOUS')).toBe(PREVIOUS_OLDER);
    const again = '20261202T160000Z-a1a1a1';
    await store.stage(ref, new Secret(NEW), again, base);
    await store.promote(ref, new Secret(NEW).fingerprint, again, base);
    await store.retire(ref, again);
    expect(plainOf('API_KEY')).toBe(NEW);
    expect(readFileSync(file(), 'utf8')).not.toContain('API_KEY_PREVIOUS=');
    // The steps were really observed (the hook ran at each of them), and the folder is clean at the end.
    expect(seen).toEqual(
      expect.arrayContaining(['stage/staged-written', 'promote/previous-written', 'promote/env-written', 'rollback/env-restored', 'retire/previous-removed']),
    );
    expect(readdirSync(dir).sort()).toEqual(['.env.keys', '.env.production']);
  });

  it('the staged file holds a ciphertext that the file’s key pair opens, not the value', async () => {
    seed([`API_KEY=${seal(pair.publicKey, OLD)}`]);
    const store = open();
    await store.stage(ref, new Secret(NEW), RUN, (await store.read(ref)).version);
    const staged = JSON.parse(readFileSync(join(dir, '.env.production.API_KEY.rekey-staged'), 'utf8')) as { value: string };
    expect(staged.value.startsWith('encrypted:')).toBe(true);
    expect(Buffer.from(decrypt(pair.privateKey, Buffer.from(staged.value.slice(10), 'base64'))).toString()).toBe(NEW);
    expect((await open().readStaged(ref, RUN))?.value.reveal()).toBe(NEW);
  });
});

describe('dotenvx: keys', () => {
  it('a file without its public key: stage and canStage refuse, naming the file and the key, and write nothing', async () => {
    seed([`API_KEY=${seal(pair.publicKey, OLD)}`], { publicKey: null });
    const store = open();
    const base = (await store.read(ref)).version;
    const refused = await errorOf(store.canStage(ref, RUN, base));
    expect(refused).toBeInstanceOf(CannotStageError);
    expect(refused.message).toContain(`${file()} has no DOTENV_PUBLIC_KEY_PRODUCTION`);
    expect(refused.hint).toContain('dotenvx encrypt');
    const stage = await errorOf(store.stage(ref, new Secret(NEW), RUN, base));
    expect(stage.code).toBe('invalid');
    expect(stage.message).toContain('has no DOTENV_PUBLIC_KEY_PRODUCTION');
    expect(readdirSync(dir).sort()).toEqual(['.env.keys', '.env.production']);
  });

  it('no private key anywhere: read fails as a permission error naming the variable and the keys file it looked at', async () => {
    seed([`API_KEY=${seal(pair.publicKey, OLD)}`], { keys: false });
    const error = await errorOf(open().read(ref));
    expect(error.code).toBe('permission');
    expect(error.message).toContain('environment variable DOTENV_PRIVATE_KEY_PRODUCTION: not set');
    expect(error.message).toContain(`${join(dir, '.env.keys')}: no such file`);
    expect(error.hint).toContain('DOTENV_PRIVATE_KEY_PRODUCTION');
  });

  it('reads with the private key from the environment alone (no .env.keys), as dotenvx run does on a server', async () => {
    seed([`API_KEY=${seal(pair.publicKey, OLD)}`], { keys: false });
    const store = open({}, { DOTENV_PRIVATE_KEY_PRODUCTION: pair.privateKey });
    expect((await store.read(ref)).value.reveal()).toBe(OLD);
    await store.canStage(ref, RUN, (await store.read(ref)).version);
  });

  it('a wrong private key: a permission error naming where the key came from, never the key', async () => {
    seed([`API_KEY=${seal(pair.publicKey, OLD)}`], { keys: false });
    const other = keyPair();
    const error = await errorOf(open({}, { DOTENV_PRIVATE_KEY_PRODUCTION: other.privateKey }).read(ref));
    expect(error.code).toBe('permission');
    expect(error.message).toContain('the private key from environment variable DOTENV_PRIVATE_KEY_PRODUCTION does not decrypt API_KEY');
    expect(error.message).not.toContain(other.privateKey);
  });

  it('a private key that opens the value but not the public key in the file: canStage refuses before the mint', async () => {
    // The file says another pair's public key: what rekey would write, its key could not read back.
    seed([`API_KEY=${seal(pair.publicKey, OLD)}`], { publicKey: keyPair().publicKey });
    const store = open();
    const base = (await store.read(ref)).version;
    const error = await errorOf(store.canStage(ref, RUN, base));
    expect(error).toBeInstanceOf(CannotStageError);
    expect(error.code).toBe('permission');
    expect(error.message).toContain('belongs to the DOTENV_PUBLIC_KEY_PRODUCTION');
  });

  it('a value that is not a ciphertext after the prefix is invalid, not a key problem', async () => {
    seed(['API_KEY=encrypted:bm90LWEtY2lwaGVydGV4dA==']);
    const error = await errorOf(open().read(ref));
    expect(error.code).toBe('invalid');
    expect(error.message).toContain('is not a dotenvx ciphertext');
  });

  it('the keysFile option names the keys file, relative to rekey.yaml', async () => {
    seed([`API_KEY=${seal(pair.publicKey, OLD)}`], { keys: false });
    writeFileSync(join(dir, 'prod.keys'), `DOTENV_PRIVATE_KEY_PRODUCTION=${pair.privateKey}\n`, { mode: 0o600 });
    const store = dotenvx.open({ keysFile: './prod.keys' }, { baseDir: dir, env: {} });
    expect((await store.read(ref)).value.reveal()).toBe(OLD);
  });
});

describe('dotenvx: values in the clear and values with $', () => {
  it('a variable still in the clear is read as dotenvx reads it, and refused for a stage (rekey never copies a plaintext)', async () => {
    seed([`API_KEY=${OLD}`]);
    const store = open();
    const current = await store.read(ref);
    expect(current.value.reveal()).toBe(OLD);
    const error = await errorOf(store.canStage(ref, RUN, current.version));
    expect(error.message).toContain('API_KEY on line 3 of');
    expect(error.message).toContain('is not encrypted');
    expect(error.hint).toContain(`dotenvx encrypt -f ${file()} -k API_KEY`);
    await errorOf(store.stage(ref, new Secret(NEW), RUN, current.version));
    expect(readdirSync(dir).sort()).toEqual(['.env.keys', '.env.production']);
  });

  it('a new value with a $ is written single-quoted, where dotenvx does not expand it; others keep the line’s quoting', async () => {
    seed([`API_KEY=${seal(pair.publicKey, OLD)}`, `OTHER_KEY="${seal(pair.publicKey, 'other')}"`]);
    const store = open();
    const dollar = ['rk_$HOME_$', '{USER}_$(id)'].join('');
    const base = (await store.read(ref)).version;
    await store.stage(ref, new Secret(dollar), RUN, base);
    await store.promote(ref, new Secret(dollar).fingerprint, RUN, base);
    expect(readFileSync(file(), 'utf8')).toMatch(/^API_KEY='encrypted:[A-Za-z0-9+/=]+'$/m);
    expect(plainOf('API_KEY')).toBe(dollar);
    const other: StoreRef = parseRef('dotenvx', './.env.production#OTHER_KEY');
    const otherBase = (await store.read(other)).version;
    await store.stage(other, new Secret('plain_token_0123456789'), RUN, otherBase);
    await store.promote(other, new Secret('plain_token_0123456789').fingerprint, RUN, otherBase);
    expect(readFileSync(file(), 'utf8')).toMatch(/^OTHER_KEY="encrypted:[A-Za-z0-9+/=]+"$/m);
  });
});

describe('dotenvx hooks', () => {
  it('files: rekey’s own sibling files and lock, not the encrypted .env (searched like any file) nor .env.keys', () => {
    seed([`API_KEY=${seal(pair.publicKey, OLD)}`]);
    expect(open().files!(ref)).toEqual(
      [join(dir, '.env.production.API_KEY.rekey-previous'), join(dir, '.env.production.API_KEY.rekey-staged'), join(dir, '.env.production.rekey-lock')].sort(),
    );
  });

  it('validateRef: the dotenv rule, and dotenvx’s own key variables are not credentials to rotate', () => {
    expect(dotenvx.validateRef(parseRef('dotenvx', './.env#API_KEY'))).toBeUndefined();
    expect(dotenvx.validateRef(parseRef('dotenvx', './.env#API-KEY'))).toContain('is not a variable name');
    expect(dotenvx.validateRef(parseRef('dotenvx', './.env#DOTENV_PUBLIC_KEY'))).toContain("dotenvx's own key variable");
    expect(dotenvx.validateRef(parseRef('dotenvx', './.env.production#DOTENV_PRIVATE_KEY_PRODUCTION'))).toContain("dotenvx's own key variable");
  });

  it('check: says where the private key comes from, and warns about a keys file other users can read', async () => {
    seed([`API_KEY=${seal(pair.publicKey, OLD)}`]);
    chmodSync(join(dir, '.env.keys'), 0o644);
    const result = await open().check(ref);
    expect(result.readable).toBe(true);
    expect(result.notes).toContain(`private key DOTENV_PRIVATE_KEY_PRODUCTION from DOTENV_PRIVATE_KEY_PRODUCTION in ${join(dir, '.env.keys')}`);
    expect(result.notes.join('\n')).toContain(`${join(dir, '.env.keys')} has mode 0644, wider than 0600`);
  });

  it('check: a variable in the clear and a missing public key are notes, not failures', async () => {
    seed([`API_KEY=${OLD}`], { publicKey: null });
    const result = await open().check(ref);
    expect(result.readable).toBe(true);
    expect(result.notes.join('\n')).toContain('has no DOTENV_PUBLIC_KEY_PRODUCTION');
    expect(result.notes.join('\n')).not.toContain(OLD);
  });
});
