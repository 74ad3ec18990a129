/**
 * The store registry: the adapters by kind, and the one function that opens a credential's stores. Each adapter is
 * imported only when a configuration names it, so that `rekey --help` and `rekey status` never load an SDK. The CLI
 * hands this registry to the config loader and the engine, which import nothing from adapters/. Adding a store: a
 * file in this folder and one line here (see CONTRIBUTING).
 */
import type { SecretStore, SecretStoreAdapter, StoreContext, StoreRef } from '../../src/contract/store.js';

type Loader = () => Promise<{ default: SecretStoreAdapter }>;

const loaders: Readonly<Record<string, Loader>> = {
  dotenv: () => import('./dotenv.js'),
  memory: () => import('./memory.js'),
  'aws-secrets-manager': () => import('./aws-secrets-manager.js'),
  'gcp-secret-manager': () => import('./gcp-secret-manager.js'),
  'vault-kv': () => import('./vault-kv.js'),
};

/** Every store kind rekey knows, for validation and suggestions. */
export const storeKinds: readonly string[] = Object.keys(loaders);

/** The adapter for a kind; throws for an unknown kind (config validation catches those first). */
export async function loadStoreAdapter(kind: string): Promise<SecretStoreAdapter> {
  const load = loaders[kind];
  if (load === undefined) throw new Error(`unknown store kind ${kind}`);
  return (await load()).default;
}

/** The file URL of a kind's adapter module (named after its kind, with this module's extension), for the config cache. */
export function storeModuleUrl(kind: string): string | undefined {
  return Object.hasOwn(loaders, kind) ? new URL(`./${kind}${import.meta.url.slice(import.meta.url.lastIndexOf('.'))}`, import.meta.url).href : undefined;
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
