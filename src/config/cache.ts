/**
 * A cache of validated configs, so that `rekey status` and other quick commands skip YAML parsing and schema
 * validation (yaml and zod cost ~85 ms to load) when nothing changed. The cache is keyed by the SHA-256 of the
 * config file, of every runbook it resolved (and the names in every runbook folder, since a new file may shadow
 * another), and of rekey's own loader; any change re-validates. It holds no secret: configs hold references only.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFileAtomic } from '../util/atomic-file.js';
import type { Config, CredentialConfig } from './types.js';

interface CacheEntry {
  readonly key: string;
  readonly runbooks: Readonly<Record<string, string>>;
  readonly dirs: Readonly<Record<string, string>>;
  readonly config: Omit<Config, 'credentials'> & { credentials: CredentialConfig[] };
}

const sha = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

function cacheFile(configFile: string): string {
  const base = process.env['XDG_CACHE_HOME'] || join(homedir(), '.cache');
  return join(base, 'rekey', `config-${sha(configFile).slice(0, 24)}.json`);
}

function hashFile(path: string): string {
  try {
    return sha(readFileSync(path));
  } catch {
    return 'missing';
  }
}

function listing(dir: string): string {
  try {
    return sha(readdirSync(dir).sort().join('\n'));
  } catch {
    return 'missing';
  }
}

// The compiled loader stands for rekey's version: a new rekey validates afresh.
const loaderHash = (): string => hashFile(fileURLToPath(new URL('./load.js', import.meta.url)));

/** Load a config through the cache; validates (and refreshes the cache) when anything it depends on changed. */
export async function loadConfigCached(file: string): Promise<Config> {
  const where = cacheFile(file);
  const key = `${hashFile(file)}:${loaderHash()}:${process.cwd()}`;
  try {
    const entry = JSON.parse(readFileSync(where, 'utf8')) as CacheEntry;
    const fresh = entry.key === key && Object.entries(entry.runbooks).every(([path, hash]) => hashFile(path) === hash) && Object.entries(entry.dirs).every(([dir, hash]) => listing(dir) === hash);
    if (fresh) return { ...entry.config, credentials: new Map(entry.config.credentials.map((c) => [c.id, c])) };
  } catch {
    // No cache yet, or unreadable: validate.
  }
  const { loadConfig } = await import('./load.js');
  const config = await loadConfig(file);
  try {
    const credentials = [...config.credentials.values()];
    const entry: CacheEntry = {
      key,
      runbooks: Object.fromEntries(credentials.map((c) => [c.runbookFile, hashFile(c.runbookFile)])),
      dirs: Object.fromEntries(config.runbookDirs.map((dir) => [dir, listing(dir)])),
      config: { ...config, credentials },
    };
    mkdirSync(join(where, '..'), { recursive: true, mode: 0o700 });
    writeFileAtomic(where, JSON.stringify(entry), 0o600);
  } catch {
    // A read-only home (some CI runners) only costs speed.
  }
  return config;
}
