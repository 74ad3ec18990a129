import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import dotenv from '../../adapters/stores/dotenv/index.js';
import { parseRef } from '../../src/contract/store.js';
import { storeContract } from './suite.js';

const initial = 'rk_canary_INITIAL_4b1d7e2a9c8f3e6d';

storeContract('dotenv', async () => {
  const baseDir = mkdtempSync(join(tmpdir(), 'rekey-dotenv-contract-'));
  mkdirSync(join(baseDir, 'deploy'));
  const file = join(baseDir, 'deploy', '.env');
  // Seeded by a raw write: the adapter under test never sets up its own assertions.
  writeFileSync(file, `# deploy settings\nexport NODE_ENV=production\nAPI_KEY=${initial}  # rotated by rekey\nREGION='eu-west-1'\n`, { mode: 0o600 });
  const open = () => dotenv.open({}, { baseDir, env: {} });
  return {
    store: open(),
    reopen: open,
    ref: parseRef('dotenv', './deploy/.env#API_KEY'),
    missingRef: parseRef('dotenv', './deploy/missing.env#API_KEY'),
    initial,
    async concurrentWrite(ref, value) {
      // Another writer edits the line by hand, bypassing the adapter.
      const text = readFileSync(file, 'utf8');
      const line = new RegExp(`^${ref.field!}=.*$`, 'm');
      if (!line.test(text)) throw new Error(`no ${ref.field!} line to overwrite`);
      writeFileSync(file, text.replace(line, `${ref.field!}=${value}`));
    },
    async snapshot() {
      // Every file in the folder, by name and content: a staged sibling, a lock or a temporary file would show.
      const dir = join(baseDir, 'deploy');
      return readdirSync(dir)
        .sort()
        .map((name) => [name, readFileSync(join(dir, name), 'utf8')]);
    },
    async close() {
      rmSync(baseDir, { recursive: true, force: true });
    },
  };
});
