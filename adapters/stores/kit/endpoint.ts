/**
 * What the stores of one process share per service endpoint (an AWS region and account, a GCP project, a Vault
 * address): one client, so that a fleet run reuses its connections (one TLS handshake per endpoint, not one per
 * credential, and no idle socket left per credential at the end), and one write limiter, so that every worker's writes
 * together stay under the service's quota instead of each being throttled in turn.
 */
import { type LazyClient, lazyClient } from './lazy-client.js';

/** A store's handle on the client of its endpoint: taken on first use, given back by `release` (the store's close). */
export interface SharedClient<T> {
  get(): Promise<T>;
  /** This store is done with the client; the last user's release closes it once it has stayed unused for a moment. */
  release(): Promise<void>;
}

interface Entry {
  readonly client: LazyClient<unknown>;
  users: number;
  idle: ReturnType<typeof setTimeout> | undefined;
}

const clients = new Map<string, Entry>();

/**
 * How long a client nobody holds is kept before it is closed. In a fleet run one credential's stores close just before
 * the next credential's open: the pause keeps the connections warm across that gap. The timer does not hold the process
 * open (it is unref'd, and so are an HTTP agent's idle sockets), so a single run exits when it is done.
 */
export const IDLE_CLOSE_MS = 2_000;

/**
 * The client for `key` (a string naming the endpoint and the identity: two stores with the same key may share one
 * client), built by `build` when the process has none, closed with `dispose`.
 */
export function sharedClient<T>(key: string, build: () => Promise<T>, dispose?: (client: T) => unknown): SharedClient<T> {
  let entry: Entry | undefined;
  return {
    get() {
      if (entry === undefined) {
        entry = clients.get(key);
        if (entry === undefined) {
          entry = { client: lazyClient<unknown>(build, dispose as ((client: unknown) => unknown) | undefined), users: 0, idle: undefined };
          clients.set(key, entry);
        }
        entry.users++;
        if (entry.idle !== undefined) clearTimeout(entry.idle);
        entry.idle = undefined;
      }
      return entry.client.get() as Promise<T>;
    },
    async release() {
      const held = entry;
      entry = undefined;
      if (held === undefined || --held.users > 0) return;
      held.idle = setTimeout(() => {
        if (held.users > 0) return;
        if (clients.get(key) === held) clients.delete(key);
        void held.client.reset();
      }, IDLE_CLOSE_MS);
      held.idle.unref();
    },
  };
}

/** Close every shared client now, held or not (the end of a process, tests). */
export async function closeSharedClients(): Promise<void> {
  const all = [...clients.values()];
  clients.clear();
  for (const entry of all) if (entry.idle !== undefined) clearTimeout(entry.idle);
  await Promise.all(all.map((entry) => entry.client.reset()));
}
