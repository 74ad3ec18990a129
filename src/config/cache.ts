/**
 * A cache of validated configs, so that `rekey status` and other quick commands skip YAML parsing and schema
 * validation (yaml and zod cost ~85 ms to load) when nothing changed. The cache is keyed by the SHA-256 of the
 * config file, of every runbook it resolved (and the names in every runbook folder, since a new file may shadow
 * another), by rekey's version (package.json), by the content of every module that validates (the config and
 * runbook loaders and schemas, the validator, the duration grammar) and of each store adapter's module that the
 * config names (its options are checked there: a release that changes only an adapter must not serve a stale
 * "valid" config); any change re-validates. It holds no secret: configs hold references only.
 *
 * Entries are pruned when a new one is written, never on the warm path: an entry not used for CACHE_MAX_AGE_DAYS
 * goes, and beyond CACHE_MAX_ENTRIES the least recently used go. "Used" is the later of the file's mtime (written)
 * and atime (read), at no cost to a read: the kernel moves atime on a read at most once a day (relatime, Linux's
 * default). Where atime is not kept (noatime), an entry in daily use but unchanged for that long may be pruned once,
 * which costs one validation.
 */
import { createHash } from 'node:crypto';
import { closeSync, constants, lstatSync, mkdirSync, readFileSync, readdirSync, type Stats, statSync, unlinkSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isNotRegularFile, openRegularSync, readRegularFileSync } from '../util/regular-file.js';
import { temporaryTarget } from '../util/temporary-names.js';
import { rekeyVersion } from '../util/version.js';
import type { Config, CredentialConfig, StoreCatalog } from './types.js';

/** An entry not used for this long is removed when another one is written. */
export const CACHE_MAX_AGE_DAYS = 30;
/** At most this many entries are kept (the most recently used). */
export const CACHE_MAX_ENTRIES = 32;
const DAY_MS = 86_400_000;

interface CacheEntry {
  readonly key: string;
  /** The store adapters' module files that validated the entry, by SHA-256. */
  readonly adapters?: Readonly<Record<string, string>>;
  readonly runbooks: Readonly<Record<string, string>>;
  readonly dirs: Readonly<Record<string, string>>;
  readonly config: Omit<Config, 'credentials'> & { credentials: CredentialConfig[] };
}

const sha = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

/** The folder of the config cache: `$XDG_CACHE_HOME/rekey`, else `~/.cache/rekey`. */
export function cacheDir(): string {
  return join(process.env['XDG_CACHE_HOME'] || join(homedir(), '.cache'), 'rekey');
}

/**
 * What the cache keeps, one file per config and kind: `config`, the validated config (here); `describe`, what the
 * stores' describers learned when `rekey status` last asked them (src/cli/stores.ts).
 */
export type CacheKind = 'config' | 'describe';

/**
 * Whether the cache folder may be trusted: a folder of this user that no one else may write, in folders no one else
 * may write either (as ssh's StrictModes asks of ~/.ssh and the folders above it). A cache entry decides what rekey
 * runs (a cached config names hooks' commands), and a cache folder may be shared: XDG_CACHE_HOME=/tmp on a CI runner,
 * a home folder made group-writable, rekey run as root with someone's HOME. An untrusted folder is neither read nor
 * written: it only costs speed. On Windows, which has no such modes, every folder is taken as it is.
 */
export function trustedCacheDir(dir: string): boolean {
  if (process.getuid === undefined) return true;
  let s: Stats | undefined;
  try {
    s = statSync(dir, { throwIfNoEntry: false });
    if (s?.isDirectory() !== true || !ownedAndClosed(s)) return false;
    // Every folder above it too: one another user may write in (without the sticky bit, as /tmp has) lets them move
    // this one away and put their own in its place. Owned by this user or by root.
    for (let up = dirname(dir), below = dir; up !== below; below = up, up = dirname(up)) {
      const parent = statSync(up);
      if ((parent.uid !== 0 && parent.uid !== process.getuid()) || ((parent.mode & 0o022) !== 0 && (parent.mode & 0o1000) === 0)) return false;
    }
  } catch {
    return false;
  }
  return true;
}

/** Owned by this user and writable by no one else (where there are users and modes: not on Windows). */
const ownedAndClosed = (s: Stats): boolean => process.getuid === undefined || (s.uid === process.getuid() && (s.mode & 0o022) === 0);

/**
 * A cache file's text, or undefined when there is none to trust: not in a trusted folder (trustedCacheDir), not a
 * regular file (opened without following a link, or waiting on a FIFO put there), not this user's, or writable by
 * others.
 */
export function readCacheFile(path: string): string | undefined {
  if (!trustedCacheDir(dirname(path))) return undefined;
  let fd: number | undefined;
  try {
    const opened = openRegularSync(path, constants.O_NOFOLLOW);
    fd = opened.fd;
    return ownedAndClosed(opened.stats) ? readFileSync(fd, 'utf8') : undefined;
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * Write a cache file (0600, atomically) in its folder (created 0700), if that folder can be trusted. Whatever is at
 * the path and is not this user's own regular 0600 file (a link, a file of another mode) is removed first, so that
 * the write neither follows it nor keeps its mode. Throws when it cannot write: callers treat that as "no cache".
 */
export async function writeCacheFile(path: string, text: string): Promise<void> {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (!trustedCacheDir(dir)) throw new Error(`${dir} is not a folder only this user may write`);
  const old = lstatSync(path, { throwIfNoEntry: false });
  if (old !== undefined && !(old.isFile() && ownedAndClosed(old) && (old.mode & 0o777) === 0o600)) unlinkSync(path);
  const { writeFileAtomic } = await import('../util/atomic-file.js');
  writeFileAtomic(path, text, 0o600);
}

/** The cache file of a kind for a config file. */
export function cacheFile(configFile: string, kind: CacheKind = 'config'): string {
  return join(cacheDir(), `${kind}-${sha(configFile).slice(0, 24)}.json`);
}

const ENTRIES: Record<CacheKind, RegExp> = { config: /^config-[0-9a-f]{24}\.json$/, describe: /^describe-[0-9a-f]{24}\.json$/ };

/**
 * Remove entries of a kind not used for `maxAgeDays` and, beyond `maxEntries`, the least recently used; also their
 * temporary files left by an interrupted write more than a day ago. `keep` (the entry just written) always stays.
 * Only files named as this cache names them are touched; one that vanishes meanwhile (another rekey pruning) is no
 * error.
 */
export function pruneConfigCache(
  dir: string,
  keep?: string,
  now = Date.now(),
  maxAgeDays = CACHE_MAX_AGE_DAYS,
  maxEntries = CACHE_MAX_ENTRIES,
  kind: CacheKind = 'config',
): string[] {
  const entry = ENTRIES[kind];
  // What a write cut short by a crash leaves: a temporary file of an entry (named by src/util/temporary-names.ts, a
  // module apart from the writer, so that the warm path, which never writes, does not load it).
  const isTemporaryEntry = (name: string): boolean => entry.test(temporaryTarget(name) ?? '');
  const removed: string[] = [];
  const entries: { path: string; usedMs: number }[] = [];
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return removed;
  }
  const remove = (path: string) => {
    try {
      unlinkSync(path);
      removed.push(path);
    } catch {
      // Gone already, or not ours to remove.
    }
  };
  for (const name of names) {
    const isEntry = entry.test(name);
    if (!isEntry && !isTemporaryEntry(name)) continue;
    const path = join(dir, name);
    if (path === keep) continue;
    let usedMs: number;
    try {
      const stat = statSync(path);
      usedMs = isEntry ? Math.max(stat.mtimeMs, stat.atimeMs) : stat.mtimeMs;
    } catch {
      continue;
    }
    if (!isEntry) {
      if (now - usedMs > DAY_MS) remove(path);
    } else if (now - usedMs > maxAgeDays * DAY_MS) remove(path);
    else entries.push({ path, usedMs });
  }
  const room = Math.max(0, maxEntries - (keep === undefined ? 0 : 1));
  if (entries.length > room) {
    entries.sort((a, b) => b.usedMs - a.usedMs);
    for (const { path } of entries.slice(room)) remove(path);
  }
  return removed;
}

/** A file's SHA-256; 'missing' when it cannot be read, 'not-a-file' for a FIFO or a device (never waited on or read). */
function hashFile(path: string): string {
  try {
    return sha(readRegularFileSync(path));
  } catch (error) {
    return isNotRegularFile(error) ? 'not-a-file' : 'missing';
  }
}

function listing(dir: string): string {
  try {
    return sha(readdirSync(dir).sort().join('\n'));
  } catch {
    return 'missing';
  }
}

// This module's own extension: .js when built, .ts when the tests run the sources.
const EXT = extname(fileURLToPath(import.meta.url));
/** The modules whose code decides whether a config is valid, relative to this one. */
const VALIDATORS = ['./load', './schema', '../runbook/load', '../runbook/schema', '../util/validate', '../util/duration'];
const validatorsHash = (): string => sha(VALIDATORS.map((m) => hashFile(fileURLToPath(new URL(`${m}${EXT}`, import.meta.url)))).join(':'));

/** rekey's version, for the cache key: a config validated by another version is validated again. */
const versionForKey = (): string => rekeyVersion() ?? 'unknown';

export interface ConfigCacheOptions {
  /** rekey's version as the cache key takes it (default: package.json's); tests give another. */
  readonly version?: string;
}

/**
 * Load a config through the cache; validates (and refreshes the cache) when anything it depends on changed. The
 * store catalog is asked for only then, so that a warm start loads no part of the store registry.
 */
export async function loadConfigCached(file: string, catalog: () => Promise<StoreCatalog>, options: ConfigCacheOptions = {}): Promise<Config> {
  const where = cacheFile(file);
  const key = `${hashFile(file)}:${options.version ?? versionForKey()}:${validatorsHash()}:${process.cwd()}`;
  try {
    const entry = JSON.parse(readCacheFile(where) ?? 'null') as CacheEntry;
    const fresh =
      entry.key === key &&
      entry.adapters !== undefined &&
      Object.entries(entry.adapters).every(([path, hash]) => hashFile(path) === hash) &&
      Object.entries(entry.runbooks).every(([path, hash]) => hashFile(path) === hash) &&
      Object.entries(entry.dirs).every(([dir, hash]) => listing(dir) === hash);
    if (fresh) return { ...entry.config, credentials: new Map(entry.config.credentials.map((c) => [c.id, c])) };
  } catch {
    // No cache yet, or unreadable: validate.
  }
  const { loadConfig } = await import('./load.js');
  const stores = await catalog();
  const config = await loadConfig(file, stores);
  try {
    const credentials = [...config.credentials.values()];
    const kinds = new Set(credentials.flatMap((c) => c.stores.map((s) => s.ref.kind)));
    const modules = [...kinds].flatMap((kind) => stores.moduleFiles?.(kind) ?? []);
    const entry: CacheEntry = {
      key,
      adapters: Object.fromEntries(modules.map((path) => [path, hashFile(path)])),
      runbooks: Object.fromEntries(credentials.map((c) => [c.runbookFile, hashFile(c.runbookFile)])),
      dirs: Object.fromEntries(config.runbookDirs.map((dir) => [dir, listing(dir)])),
      config: { ...config, credentials },
    };
    await writeCacheFile(where, JSON.stringify(entry));
    pruneConfigCache(dirname(where), where);
  } catch {
    // A read-only home (some CI runners) only costs speed.
  }
  return config;
}
