/**
 * The store registry: the adapters by kind, and the one function that opens a credential's stores. Each adapter is
 * imported only when a configuration names it, so that `rekey --help` and `rekey status` never load an SDK. The CLI
 * hands this registry to the config loader and the engine, which import nothing from adapters/. Adding a store: an
 * adapter (a file, or a folder with an index.ts) in this folder and one line here (see CONTRIBUTING).
 */
import { readdirSync } from 'node:fs';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SecretStore, SecretStoreAdapter, StoreContext, StoreRef } from '../../src/contract/store.js';

type Loader = () => Promise<{ default: SecretStoreAdapter }>;

const loaders: Readonly<Record<string, Loader>> = {
  dotenv: () => import('./dotenv/index.js'),
  dotenvx: () => import('./dotenvx/index.js'),
  memory: () => import('./memory.js'),
  'aws-secrets-manager': () => import('./aws-secrets-manager/index.js'),
  'gcp-secret-manager': () => import('./gcp-secret-manager/index.js'),
  'vault-kv': () => import('./vault-kv/index.js'),
  'github-actions-secrets': () => import('./github-actions-secrets/index.js'),
  'kubernetes-secret': () => import('./kubernetes-secret/index.js'),
  doppler: () => import('./doppler/index.js'),
};

/** Every store kind rekey knows, for validation and suggestions. */
export const storeKinds: readonly string[] = Object.keys(loaders);

/** The adapter for a kind; throws for an unknown kind (config validation catches those first). */
export async function loadStoreAdapter(kind: string): Promise<SecretStoreAdapter> {
  const load = loaders[kind];
  if (load === undefined) throw new Error(`unknown store kind ${kind}`);
  return (await load()).default;
}

/**
 * The files of a kind's adapter (`<kind>.js`, or every file of its `<kind>/` folder), for the config cache: a release
 * that changes an adapter's options or ref rules re-validates cached configs.
 */
export function storeModuleFiles(kind: string): readonly string[] {
  if (!Object.hasOwn(loaders, kind)) return [];
  const here = dirname(fileURLToPath(import.meta.url));
  const extension = extname(fileURLToPath(import.meta.url));
  const folder = join(here, kind);
  try {
    return readdirSync(folder, { recursive: true, encoding: 'utf8' })
      .filter((name) => name.endsWith(extension))
      .sort()
      .map((name) => join(folder, name));
  } catch {
    return [join(here, `${kind}${extension}`)];
  }
}

/** One configured store entry, as the config loader types it. */
export interface StoreEntryToOpen {
  readonly ref: StoreRef;
  readonly options: Readonly<Record<string, unknown>>;
}

/** An open store, with the ref it was configured for. */
export interface OpenedStore {
  readonly store: SecretStore;
  readonly ref: StoreRef;
}

/**
 * Open every store of a credential, in the order configured. When one cannot be opened, those already open are
 * closed before the first failure is thrown, so that no client is left running.
 */
export async function openStores(entries: readonly StoreEntryToOpen[], context: StoreContext): Promise<OpenedStore[]> {
  const settled = await Promise.allSettled(
    entries.map(async (entry) => ({ store: (await loadStoreAdapter(entry.ref.kind)).open(entry.options, context), ref: entry.ref })),
  );
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed === undefined) return settled.map((s) => (s as PromiseFulfilledResult<OpenedStore>).value);
  await Promise.allSettled(settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value.store.close?.()] : [])));
  throw failed.reason;
}
