/**
 * The config cache (~/.cache/rekey, or $XDG_CACHE_HOME/rekey) is pruned when a new entry is written: entries not used
 * for CACHE_MAX_AGE_DAYS go, the most recently used CACHE_MAX_ENTRIES stay, and the warm path never scans the folder.
 * An entry decides what rekey runs (a config names hooks' commands), so it is read only from a folder and a file of
 * this user's that no one else may write, never through a link or from a FIFO.
 */
import { execFileSync, spawn } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { lazyStoreCatalog } from '../../src/cli/open-config.js';
import type { StoreCatalog } from '../../src/config/types.js';
import { CACHE_MAX_AGE_DAYS, CACHE_MAX_ENTRIES, cacheDir, loadConfigCached, pruneConfigCache } from '../../src/config/cache.js';

const DAY = 86_400_000;
let home: string;
let work: string;
let savedXdg: string | undefined;

beforeEach(() => {
  home = mkdtempSync(join(tmpdir(), 'rekey-cache-home-'));
  work = mkdtempSync(join(tmpdir(), 'rekey-cache-work-'));
  savedXdg = process.env['XDG_CACHE_HOME'];
  process.env['XDG_CACHE_HOME'] = home;
});
afterEach(() => {
  if (savedXdg === undefined) delete process.env['XDG_CACHE_HOME'];
  else process.env['XDG_CACHE_HOME'] = savedXdg;
  rmSync(home, { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
});

function configFile(): string {
  writeFileSync(join(work, '.env'), 'SANDBOX_API_KEY=sk_test_placeholder\n', { mode: 0o600 });
  const file = join(work, 'rekey.yaml');
  const yaml = [
    'credentials:',
    '  api:',
    '    runbook: sandbox',
    '    inputs:',
    '      baseUrl: http://127.0.0.1:9',
    '      account: unit',
    '    stores:',
    '      - dotenv: ./.env#SANDBOX_API_KEY',
    '',
  ];
  writeFileSync(file, yaml.join('\n'), { mode: 0o600 });
  return file;
}

let counter = 0;
/** A file in the cache folder named as the cache names entries, last written `writtenDaysAgo` and read `readDaysAgo`. */
function entry(writtenDaysAgo: number, readDaysAgo = writtenDaysAgo, name = `config-${(counter++).toString(16).padStart(24, '0')}.json`): string {
  mkdirSync(cacheDir(), { recursive: true });
  const path = join(cacheDir(), name);
  writeFileSync(path, '{}', { mode: 0o600 });
  utimesSync(path, new Date(Date.now() - readDaysAgo * DAY), new Date(Date.now() - writtenDaysAgo * DAY));
  return path;
}

describe('config cache pruning', () => {
  it('writing an entry removes entries unused for the max age and old leftovers, and keeps the rest', async () => {
    const stale = entry(CACHE_MAX_AGE_DAYS + 10);
    const readLately = entry(CACHE_MAX_AGE_DAYS + 10, 1); // written long ago, but read yesterday: in use
    const fresh = entry(2);
    const oldTemp = entry(2, 2, '.config-0123456789abcdef01234567.json.a1b2c3d4e5f6.tmp');
    const youngTemp = entry(0, 0, '.config-0123456789abcdef01234567.json.0f0f0f0f0f0f.tmp'); // maybe another writer's
    // Named as src/util/atomic-file.ts names temporary files now (writer's pid and host in the name).
    const oldWriterTemp = entry(2, 2, '.config-0123456789abcdef01234567.json.4242-0a1b2c3d-a1b2c3d4e5f6.rekey-tmp');
    const youngWriterTemp = entry(0, 0, '.config-0123456789abcdef01234567.json.4242-0a1b2c3d-0f0f0f0f0f0f.rekey-tmp');
    const unrelated = entry(400, 400, 'notes.txt');
    const config = await loadConfigCached(configFile(), lazyStoreCatalog);
    expect(config.credentials.has('api')).toBe(true);
    expect(existsSync(stale)).toBe(false);
    expect(existsSync(oldTemp)).toBe(false);
    expect(existsSync(oldWriterTemp)).toBe(false);
    for (const kept of [readLately, fresh, youngTemp, youngWriterTemp, unrelated]) expect(existsSync(kept), kept).toBe(true);
    // The new entry itself is there.
    expect(readdirSync(cacheDir()).filter((n) => /^config-[0-9a-f]{24}\.json$/.test(n))).toHaveLength(3);
  });

  it('the warm path neither rewrites its entry nor prunes', async () => {
    const file = configFile();
    await loadConfigCached(file, lazyStoreCatalog);
    const written = readdirSync(cacheDir()).filter((n) => n.startsWith('config-'));
    expect(written).toHaveLength(1);
    const own = join(cacheDir(), written[0]!);
    utimesSync(own, new Date(Date.now() - DAY), new Date(Date.now() - DAY));
    const before = statSync(own).mtimeMs;
    const stale = entry(CACHE_MAX_AGE_DAYS + 5);
    const again = await loadConfigCached(file, lazyStoreCatalog);
    expect(again.credentials.has('api')).toBe(true);
    expect(statSync(own).mtimeMs).toBe(before);
    expect(existsSync(stale)).toBe(true);
  });

  it('keeps at most the max number of entries, the most recently used, and always the one just written', () => {
    const now = Date.now();
    const paths = [5, 1, 4, 2, 3].map((daysAgo) => entry(daysAgo + 10, daysAgo));
    const keep = entry(20, 20); // the one just written, whatever its times
    const removed = pruneConfigCache(cacheDir(), keep, now, CACHE_MAX_AGE_DAYS, 3);
    // Room for two besides `keep`: the ones read 1 and 2 days ago.
    expect(removed.sort()).toEqual([paths[0]!, paths[2]!, paths[4]!].sort());
    for (const path of [keep, paths[1]!, paths[3]!]) expect(existsSync(path)).toBe(true);
  });

  it('prunes one kind at a time: the entries of the describers never evict a config, nor the reverse', () => {
    const now = Date.now();
    const configs = [1, 2, 3].map((daysAgo) => entry(daysAgo));
    const described = [1, 2, 3, CACHE_MAX_AGE_DAYS + 5].map((daysAgo) =>
      entry(daysAgo, daysAgo, `describe-${(counter++).toString(16).padStart(24, '0')}.json`),
    );
    const removed = pruneConfigCache(cacheDir(), described[0], now, CACHE_MAX_AGE_DAYS, 2, 'describe');
    expect(removed.sort()).toEqual([described[2]!, described[3]!].sort());
    for (const path of configs) expect(existsSync(path)).toBe(true);
    expect(pruneConfigCache(cacheDir(), configs[0], now, CACHE_MAX_AGE_DAYS, 1).sort()).toEqual(configs.slice(1).sort());
    expect(existsSync(described[1]!)).toBe(true);
  });

  it('a missing cache folder is no error, and the defaults are sane', () => {
    expect(pruneConfigCache(join(home, 'nowhere'))).toEqual([]);
    expect(CACHE_MAX_AGE_DAYS).toBeGreaterThanOrEqual(7);
    expect(CACHE_MAX_ENTRIES).toBeGreaterThanOrEqual(8);
  });
});

describe('what keys the cache', () => {
  /** The real catalog, counting how often the loader asks for it (only when it validates), with dotenv's module at `module`. */
  function countingCatalog(module: string): { catalog: () => Promise<StoreCatalog>; validations: () => number } {
    let calls = 0;
    return {
      validations: () => calls,
      catalog: async () => {
        calls++;
        const real = await lazyStoreCatalog();
        return { ...real, moduleFiles: (kind) => (kind === 'dotenv' ? [module] : (real.moduleFiles?.(kind) ?? [])) };
      },
    };
  }

  it('a changed module of a store adapter the config names re-validates (its options may have changed)', async () => {
    const file = configFile();
    const module = join(work, 'dotenv-adapter.js');
    writeFileSync(module, 'export default { options: { path: "string" } };\n');
    const { catalog, validations } = countingCatalog(module);
    await loadConfigCached(file, catalog);
    await loadConfigCached(file, catalog);
    expect(validations()).toBe(1);
    writeFileSync(module, 'export default { options: { path: "string", quote: "boolean" } };\n');
    const config = await loadConfigCached(file, catalog);
    expect(validations()).toBe(2);
    expect(config.credentials.has('api')).toBe(true);
    await loadConfigCached(file, catalog);
    expect(validations()).toBe(2);
  });

  it('another rekey version re-validates', async () => {
    const file = configFile();
    const { catalog, validations } = countingCatalog(join(work, 'none.js'));
    await loadConfigCached(file, catalog, { version: '0.1.0' });
    await loadConfigCached(file, catalog, { version: '0.1.0' });
    expect(validations()).toBe(1);
    await loadConfigCached(file, catalog, { version: '0.2.0' });
    expect(validations()).toBe(2);
  });

  it('the CLI catalog names every file of a store adapter, a folder or a single file', async () => {
    const catalog = await lazyStoreCatalog();
    const folder = catalog.moduleFiles?.('dotenv') ?? [];
    expect(
      folder.map((f) =>
        f
          .replace(/\\/g, '/')
          .replace(/^.*\/adapters\/stores\//, '')
          .replace(/\.(js|ts)$/, ''),
      ),
    ).toEqual(expect.arrayContaining(['dotenv/index', 'dotenv/files', 'dotenv/format']));
    const single = catalog.moduleFiles?.('memory') ?? [];
    expect(single).toHaveLength(1);
    expect(single[0]).toMatch(/\/adapters\/stores\/memory\.(js|ts)$/);
    for (const file of [...folder, ...single]) expect(existsSync(file)).toBe(true);
    expect(catalog.moduleFiles?.('nope')).toEqual([]);
  });
});

describe('config cache trust', () => {
  /** Load once (writing the entry), then rename the credential in the entry: a forged entry, to see whether it is used. */
  async function forged(): Promise<{ file: string; entry: string }> {
    const file = configFile();
    await loadConfigCached(file, lazyStoreCatalog);
    const entry = join(cacheDir(), readdirSync(cacheDir()).find((n) => n.startsWith('config-'))!);
    writeFileSync(entry, readFileSync(entry, 'utf8').replaceAll('"api"', '"forged"'));
    return { file, entry };
  }

  it('an entry in a folder others may write is neither read nor rewritten; the same entry in a closed folder is used', async () => {
    const { file, entry } = await forged();
    const planted = readFileSync(entry, 'utf8');
    chmodSync(cacheDir(), 0o777);
    expect([...(await loadConfigCached(file, lazyStoreCatalog)).credentials.keys()]).toEqual(['api']);
    expect(readFileSync(entry, 'utf8')).toBe(planted);
    chmodSync(cacheDir(), 0o700);
    expect([...(await loadConfigCached(file, lazyStoreCatalog)).credentials.keys()]).toEqual(['forged']);
  });

  it('nor in a folder inside one others may write (they could put their own in its place), unless that one is sticky', async () => {
    const { file } = await forged();
    chmodSync(home, 0o777);
    expect([...(await loadConfigCached(file, lazyStoreCatalog)).credentials.keys()]).toEqual(['api']);
    chmodSync(home, 0o1777);
    expect([...(await loadConfigCached(file, lazyStoreCatalog)).credentials.keys()]).toEqual(['forged']);
    chmodSync(home, 0o700);
  });

  it('an entry others may write is not read, and is written again as a 0600 file', async () => {
    const { file, entry } = await forged();
    chmodSync(entry, 0o666);
    expect([...(await loadConfigCached(file, lazyStoreCatalog)).credentials.keys()]).toEqual(['api']);
    expect(statSync(entry).mode & 0o777).toBe(0o600);
    expect(readFileSync(entry, 'utf8')).not.toContain('"forged"');
  });

  it('a FIFO at the entry is not waited on, and a link is not followed: each is replaced by a 0600 file', async () => {
    const file = configFile();
    await loadConfigCached(file, lazyStoreCatalog);
    const entry = join(cacheDir(), readdirSync(cacheDir()).find((n) => n.startsWith('config-'))!);
    rmSync(entry);
    execFileSync('mkfifo', [entry]);
    // A read that waited on the FIFO would block this process, timers and all: a writer opens it after 15 s so the
    // suite goes on, and the test then fails on its timeout instead of hanging.
    const watchdog = spawn('sh', ['-c', `sleep 15; echo > '${entry}'`], { stdio: 'ignore' });
    try {
      expect([...(await loadConfigCached(file, lazyStoreCatalog)).credentials.keys()]).toEqual(['api']);
    } finally {
      watchdog.kill();
    }
    expect(lstatSync(entry).isFile()).toBe(true);
    const elsewhere = join(work, 'precious');
    writeFileSync(elsewhere, 'not the cache\n', { mode: 0o644 });
    rmSync(entry);
    symlinkSync(elsewhere, entry);
    expect([...(await loadConfigCached(file, lazyStoreCatalog)).credentials.keys()]).toEqual(['api']);
    expect(readFileSync(elsewhere, 'utf8')).toBe('not the cache\n');
    expect(lstatSync(entry).isFile()).toBe(true);
    expect(statSync(entry).mode & 0o777).toBe(0o600);
  }, 10_000);

  it.runIf(process.getuid?.() === 0)("an entry or a folder of another user is not read (root with someone else's HOME)", async () => {
    const { file, entry } = await forged();
    chownSync(entry, 65534, 65534);
    expect([...(await loadConfigCached(file, lazyStoreCatalog)).credentials.keys()]).toEqual(['api']);
    const { entry: again } = await forged();
    chownSync(cacheDir(), 65534, 65534);
    expect([...(await loadConfigCached(file, lazyStoreCatalog)).credentials.keys()]).toEqual(['api']);
    expect(readFileSync(again, 'utf8')).toContain('"forged"');
  });
});
