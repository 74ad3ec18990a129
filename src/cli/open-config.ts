/**
 * Opening rekey.yaml for a command, through the config cache. Its own small module, so that `rekey status` (which
 * avoids common.ts for start-up) and every other command open the config the same way.
 */
import { loadConfigCached } from '../config/cache.js';
import { findConfigFile } from '../config/find.js';
import type { Config, StoreCatalog } from '../config/types.js';

/** The store catalog, imported only when the config must be validated (a cold or stale cache). */
export async function lazyStoreCatalog(): Promise<StoreCatalog> {
  return (await import('./stores.js')).storeCatalog;
}

/** Load the config named by --config or found in the working directory. */
export function openConfig(globals: { readonly config?: string | undefined }): Promise<Config> {
  return loadConfigCached(findConfigFile(globals.config), lazyStoreCatalog);
}
