/**
 * The store contract for the dotenvx store, on a `.env.production` encrypted as dotenvx writes it: the public key in
 * the file, the private key in the `.env.keys` beside it. The file is seeded by a raw write whose ciphertexts come from
 * eciesjs directly (the library dotenvx uses), not from the adapter; test/unit/dotenvx-interop.test.ts checks the
 * same format against the dotenvx CLI itself.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encrypt, PrivateKey } from 'eciesjs';
import dotenvx from '../../adapters/stores/dotenvx/index.js';
import { parseRef } from '../../src/contract/store.js';
import { storeContract } from './suite.js';

const initial = 'rk_canary_INITIAL_9e2f4a7c1b3d5e60';

/** `encrypted:<base64>` as dotenvx spells it, made without the adapter. */
const seal = (publicKey: string, value: string) => `encrypted:${Buffer.from(encrypt(publicKey, Buffer.from(value))).toString('base64')}`;

storeContract('dotenvx', async () => {
  const baseDir = mkdtempSync(join(tmpdir(), 'rekey-dotenvx-contract-'));
  const dir = join(baseDir, 'deploy');
  mkdirSync(dir);
  const file = join(dir, '.env.production');
  const pair = new PrivateKey();
  const publicKey = pair.publicKey.toHex(true);
  writeFileSync(
    file,
    [
      '#/-------------------[DOTENV_PUBLIC_KEY]--------------------/',
      `DOTENV_PUBLIC_KEY_PRODUCTION="${publicKey}"`,
      '',
      '# .env.production',
      `export NODE_ENV=${seal(publicKey, 'production')}`,
      `API_KEY="${seal(publicKey, initial)}"  # rotated by rekey`,
      "REGION='eu-west-1'",
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  writeFileSync(join(dir, '.env.keys'), `# .env.production\nDOTENV_PRIVATE_KEY_PRODUCTION=${pair.toHex()}\n`, { mode: 0o600 });
  const open = () => dotenvx.open({}, { baseDir, env: {} });
  // Without the keys file (another folder) nor the variable, every read is a missing private key: a denial.
  const denied = dotenvx.open({ keysFile: './nowhere/.env.keys' }, { baseDir, env: {} });
  return {
    store: open(),
    reopen: open,
    ref: parseRef('dotenvx', './deploy/.env.production#API_KEY'),
    missingRef: parseRef('dotenvx', './deploy/missing.env#API_KEY'),
    initial,
    denied: { store: denied, ref: parseRef('dotenvx', './deploy/.env.production#API_KEY') },
    async concurrentWrite(ref, value) {
      // Another writer (dotenvx set, a person) replaces the line, bypassing the adapter.
      const text = readFileSync(file, 'utf8');
      const line = new RegExp(`^${ref.field!}=.*$`, 'm');
      if (!line.test(text)) throw new Error(`no ${ref.field!} line to overwrite`);
      writeFileSync(file, text.replace(line, `${ref.field!}=${seal(publicKey, value)}`));
    },
    async snapshot() {
      // Every file in the folder, by name and content: a staged sibling, a lock or a temporary file would show.
      return readdirSync(dir)
        .sort()
        .map((name) => [name, readFileSync(join(dir, name), 'utf8')]);
    },
    async close() {
      rmSync(baseDir, { recursive: true, force: true });
    },
  };
});
