/**
 * The store adapters by kind. Each is imported only when a configuration names it, so that `rekey --help` and
 * `rekey status` never load an SDK. Adding a store: a file in this folder and one line here (see CONTRIBUTING).
 */
import type { SecretStoreAdapter } from '../../src/store/contract.js';

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
