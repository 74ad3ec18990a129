/**
 * The store registry as the commands hand it on: its kinds and adapters to the config loader, its opener to the
 * engine and to `rekey check`. The one module of the CLI that imports adapters/stores/, so that neither the config
 * nor the engine does (see .dependency-cruiser.cjs).
 */
import {
  adoptDescribed,
  describedRecord,
  describersCode,
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
import '../../adapters/stores/dotenv/describe.js';
import '../../adapters/stores/dotenv/files.js';
import '../../adapters/stores/dotenv/format.js';
import '../contract/store-errors.js';
import '../util/temporary-names.js';
import { basename, dirname, join } from 'node:path';
import { cacheFile, CACHE_MAX_AGE_DAYS, CACHE_MAX_ENTRIES, pruneConfigCache, readCacheFile, writeCacheFile } from '../config/cache.js';
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

/** The shape of the describers' cache file: another is ignored (and replaced). */
const DESCRIBED_CACHE_VERSION = 1;

/** The describers' cache file of a config, by the config's absolute path (config.file is as the person named it). */
const describedCacheFile = (config: Config): string => cacheFile(join(config.baseDir, basename(config.file)), 'describe');

/**
 * Who reads: user, group and groups. A file's state (its times move on chmod and chown) cannot say whether another
 * reader may open it, so what one reader learned is not handed to another (the same user with other groups, sudo).
 */
const reader = (): string => [process.getuid?.(), process.getgid?.(), ...(process.getgroups?.() ?? []).sort((a, b) => a - b)].join(':');

/**
 * What the stores' describers learned of a config's stores when `rekey status` last asked (a `.env` describer: each
 * file's state, and per variable the config names its fingerprint or its absence), kept beside the config cache (the
 * same folder, the same trust: a file only this user writes, never a value), so that the next `status` over a fleet
 * checks each `.env`'s state (open, fstat) instead of reading and parsing it; an entry counts only while its file is
 * unchanged. A missing or unreadable cache only costs the reads.
 */
export async function adoptDescribedCache(config: Config): Promise<void> {
  let kept: unknown;
  try {
    const file = JSON.parse(readCacheFile(describedCacheFile(config)) ?? 'null') as { v?: unknown; code?: unknown; reader?: unknown; kinds?: unknown } | null;
    if (file?.v === DESCRIBED_CACHE_VERSION && file.reader === reader() && file.code === (await describersCode())) kept = file.kinds;
  } catch {
    // None yet, or not ours to read: the stores are read.
  }
  await adoptDescribed(kept);
}

/** Keep what the describers learned for the next `status`, if it is new (see adoptDescribedCache). */
export async function keepDescribedCache(config: Config): Promise<void> {
  const kinds = describedRecord();
  if (kinds === undefined) return;
  const where = describedCacheFile(config);
  try {
    await writeCacheFile(where, JSON.stringify({ v: DESCRIBED_CACHE_VERSION, code: await describersCode(), reader: reader(), kinds }));
    pruneConfigCache(dirname(where), where, Date.now(), CACHE_MAX_AGE_DAYS, CACHE_MAX_ENTRIES, 'describe');
  } catch {
    // A read-only home (some CI runners) only costs speed.
  }
}
