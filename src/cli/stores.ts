/**
 * The store registry as the commands hand it on: its kinds and adapters to the config loader, its opener to the
 * engine and to `rekey check`. The one module of the CLI that imports adapters/stores/, so that neither the config
 * nor the engine does (see .dependency-cruiser.cjs).
 */
import {
  type DescribingNowStore,
  type DescribingStore,
  loadStoreAdapter,
  openDescribers,
  openDescribersNow,
  openStores,
  rehearsalStores,
  storeKinds,
  storeModuleFiles,
} from '../../adapters/stores/index.js';
// The `.env` describer (the quick start's store, and most local configs') and what it imports, read with the registry
// rather than one after the other: Node's loader reads a module's imports only once it has read the module, and
// `rekey status` loads this one to describe the stores (~2 ms of it).
import { adoptDescribedFiles, describedFilesRecord } from '../../adapters/stores/dotenv/describe.js';
import '../../adapters/stores/dotenv/files.js';
import '../../adapters/stores/dotenv/format.js';
import '../contract/store-errors.js';
import '../util/temporary-names.js';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cacheFile, CACHE_MAX_AGE_DAYS, CACHE_MAX_ENTRIES, pruneConfigCache } from '../config/cache.js';
import type { Config, CredentialConfig, StoreCatalog } from '../config/types.js';
import type { StoreRef } from '../contract/store.js';
import type { OpenStore } from '../engine/context.js';

/** The store kinds and their adapters, for validating rekey.yaml and for `rekey config schema`. */
export const storeCatalog: StoreCatalog = { kinds: storeKinds, adapter: loadStoreAdapter, moduleFiles: storeModuleFiles };

/** Opens a credential's stores, relative to the config's folder and with this process's environment. */
export function storeOpener(config: Config): (credential: CredentialConfig) => Promise<OpenStore[]> {
  return (credential) => openStores(credential.stores, { baseDir: config.baseDir, env: process.env, stateDir: config.stateDir });
}

/** Opens a credential's stores to describe them only (`rekey status`: the ages), loading as little of each adapter as it can. */
export function describerOpener(config: Config): (credential: CredentialConfig) => Promise<{ store: DescribingStore; ref: StoreRef }[]> {
  return (credential) => openDescribers(credential.stores, { baseDir: config.baseDir, env: process.env, stateDir: config.stateDir });
}

/** Opens a credential's stores to describe them at once, when every one can (a `.env`); undefined otherwise (see describerOpener). */
export function describerOpenerNow(config: Config): (credential: CredentialConfig) => { store: DescribingNowStore; ref: StoreRef }[] | undefined {
  return (credential) => openDescribersNow(credential.stores, { baseDir: config.baseDir, env: process.env, stateDir: config.stateDir });
}

/** The stand-ins for a credential's stores in `rekey rehearse <credential>` (see adapters/stores/index.ts). */
export const rehearsalStoresOf = rehearsalStores;

/** The shape of the `.env` cache file: another is ignored (and replaced). */
const DOTENV_CACHE_VERSION = 1;
/** The modules whose code decides what a `.env` holds (parse, last assignment, fingerprint), relative to this one. */
const DESCRIBERS = ['../../adapters/stores/dotenv/describe', '../../adapters/stores/dotenv/format', '../contract/mask'];
// This module's own extension: .js when built, .ts when the tests run the sources.
const EXT = extname(fileURLToPath(import.meta.url));

/** The code that described the files, by SHA-256: what another version of it found is read again, not trusted. */
function describersHash(): string {
  const hash = createHash('sha256');
  for (const module of DESCRIBERS) hash.update(readFileSync(fileURLToPath(new URL(`${module}${EXT}`, import.meta.url))));
  return hash.digest('hex');
}

/** The cache file of the config's `.env` files, by the config's absolute path (config.file is as the person named it). */
const dotenvCacheFile = (config: Config): string => cacheFile(join(config.baseDir, basename(config.file)), 'dotenv');

/**
 * What a config's `.env` files held when `rekey status` last described them, kept beside the config cache (the same
 * folder, the same trust: a file only this user writes, holding fingerprints and file states, never a value), so that
 * the next `status` over a fleet stats each file instead of reading it. Each entry is used only while its file's
 * state is the one read (see adoptDescribedFiles). A missing or unreadable cache only costs the reads.
 */
export function adoptDotenvCache(config: Config): void {
  let record: unknown;
  try {
    const kept = JSON.parse(readFileSync(dotenvCacheFile(config), 'utf8')) as { v?: unknown; code?: unknown; files?: unknown };
    if (kept.v === DOTENV_CACHE_VERSION && kept.code === describersHash()) record = kept.files;
  } catch {
    // None yet, or not ours to read: the files are read.
  }
  adoptDescribedFiles(record);
}

/** Keep what this process learned of the config's `.env` files for the next `status`, if it differs (see adoptDotenvCache). */
export async function keepDotenvCache(config: Config): Promise<void> {
  const record = describedFilesRecord();
  if (record === undefined) return;
  const where = dotenvCacheFile(config);
  try {
    const { writeFileAtomic } = await import('../util/atomic-file.js');
    mkdirSync(dirname(where), { recursive: true, mode: 0o700 });
    writeFileAtomic(where, JSON.stringify({ v: DOTENV_CACHE_VERSION, code: describersHash(), files: record }), 0o600);
    pruneConfigCache(dirname(where), where, Date.now(), CACHE_MAX_AGE_DAYS, CACHE_MAX_ENTRIES, 'dotenv');
  } catch {
    // A read-only home (some CI runners) only costs speed.
  }
}
