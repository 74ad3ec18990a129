/**
 * The dotenvx key pair's names and where the private key is looked for, as dotenvx 2.38.2 names them
 * (src/lib/conventions/keynames.js, src/lib/conventions/environment.js; README "DOTENV_PRIVATE_KEY_PRODUCTION=key run").
 * The expected names are written out from dotenvx's rules, not computed.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { placeOf } from '../../adapters/stores/dotenv/files.js';
import { parseDotenv } from '../../adapters/stores/dotenv/format.js';
import { findPrivateKeys, keyNamesOf, keysFilesOf } from '../../adapters/stores/dotenvx/keys.js';
import { parseRef } from '../../src/contract/store.js';

const empty = parseDotenv(Buffer.from('A=1\n'));

describe('dotenvx key names', () => {
  it.each([
    ['.env', 'DOTENV_PUBLIC_KEY', 'DOTENV_PRIVATE_KEY'],
    ['.env.production', 'DOTENV_PUBLIC_KEY_PRODUCTION', 'DOTENV_PRIVATE_KEY_PRODUCTION'],
    ['.env.production.local', 'DOTENV_PUBLIC_KEY_PRODUCTION_LOCAL', 'DOTENV_PRIVATE_KEY_PRODUCTION_LOCAL'],
    ['.env.ci.eu.extra', 'DOTENV_PUBLIC_KEY_CI_EU', 'DOTENV_PRIVATE_KEY_CI_EU'],
    ['.env.staging.txt', 'DOTENV_PUBLIC_KEY_STAGING', 'DOTENV_PRIVATE_KEY_STAGING'],
  ])('%s without a key line: %s / %s, from the file name', (name, publicKeyName, privateKeyName) => {
    expect(keyNamesOf(join('/srv/app', name), empty)).toEqual({ publicKeyName, privateKeyName });
  });

  it("the file's own DOTENV_PUBLIC_KEY… line names the pair, whatever the file is called", () => {
    const doc = parseDotenv(Buffer.from('# app\nDOTENV_PUBLIC_KEY_BILLING="02ab"\nA=1\n'));
    expect(keyNamesOf('/srv/app/.env.production', doc)).toEqual({
      publicKeyName: 'DOTENV_PUBLIC_KEY_BILLING',
      privateKeyName: 'DOTENV_PRIVATE_KEY_BILLING',
    });
  });
});

describe('dotenvx private key lookup', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'rekey-dotenvx-keys-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const names = { publicKeyName: 'DOTENV_PUBLIC_KEY_PRODUCTION', privateKeyName: 'DOTENV_PRIVATE_KEY_PRODUCTION' };
  const place = () => placeOf(parseRef('dotenvx', './.env.production#API_KEY'), 'read', { baseDir: dir, env: {} });

  it('looks at .env.keys beside the .env, then where the public key line points (-fk), unless a keys file is named', () => {
    const plain = parseDotenv(Buffer.from('DOTENV_PUBLIC_KEY_PRODUCTION="02ab"\nA=1\n'));
    expect(keysFilesOf(place(), undefined, plain, names)).toEqual([join(dir, '.env.keys')]);
    // What dotenvx 2.38.2 writes for `dotenvx encrypt -f secure/.env.production` run from the folder above.
    const pointed = parseDotenv(Buffer.from('DOTENV_PUBLIC_KEY_PRODUCTION="02ab" # -fk ../.env.keys\nA=1\n'));
    expect(keysFilesOf(place(), undefined, pointed, names)).toEqual([join(dir, '.env.keys'), join(dir, '..', '.env.keys')]);
    expect(keysFilesOf(place(), '/etc/rekey/.env.keys', pointed, names)).toEqual(['/etc/rekey/.env.keys']);
  });

  it('offers the environment variable first, then the keys file, each of a comma-separated list', async () => {
    writeFileSync(join(dir, '.env.keys'), 'DOTENV_PRIVATE_KEY=other\nDOTENV_PRIVATE_KEY_PRODUCTION="ccc"\n');
    const found = await findPrivateKeys(names, { DOTENV_PRIVATE_KEY_PRODUCTION: 'aaa, bbb' }, [join(dir, '.env.keys')]);
    expect(found.candidates).toEqual([
      { key: 'aaa', source: 'environment variable DOTENV_PRIVATE_KEY_PRODUCTION' },
      { key: 'bbb', source: 'environment variable DOTENV_PRIVATE_KEY_PRODUCTION' },
      { key: 'ccc', source: `DOTENV_PRIVATE_KEY_PRODUCTION in ${join(dir, '.env.keys')}` },
    ]);
  });

  it('says where it looked when there is no key: the variable unset, the file missing or without the name', async () => {
    const missing = await findPrivateKeys(names, {}, [join(dir, '.env.keys')]);
    expect(missing.candidates).toEqual([]);
    expect(missing.looked).toEqual(['environment variable DOTENV_PRIVATE_KEY_PRODUCTION: not set', `${join(dir, '.env.keys')}: no such file`]);
    writeFileSync(join(dir, '.env.keys'), 'DOTENV_PRIVATE_KEY=only-the-dev-key\n');
    const other = await findPrivateKeys(names, { DOTENV_PRIVATE_KEY_PRODUCTION: '' }, [join(dir, '.env.keys')]);
    expect(other.candidates).toEqual([]);
    expect(other.looked).toEqual(['environment variable DOTENV_PRIVATE_KEY_PRODUCTION: empty', `${join(dir, '.env.keys')}: no DOTENV_PRIVATE_KEY_PRODUCTION`]);
    // The other environment's key is never quoted.
    expect(other.looked.join(' ')).not.toContain('only-the-dev-key');
  });
});
