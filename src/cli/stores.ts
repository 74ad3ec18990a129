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
import '../../adapters/stores/dotenv/describe.js';
import '../../adapters/stores/dotenv/files.js';
import '../../adapters/stores/dotenv/format.js';
import '../contract/store-errors.js';
import '../util/temporary-names.js';
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
