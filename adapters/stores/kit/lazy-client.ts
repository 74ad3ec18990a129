/** The store kit's lazy client (see index.ts): built on first use, rebuilt after a failed build or a reset. */
export interface LazyClient<T> {
  /** The client, building it when there is none: concurrent first calls share one build. */
  get(): Promise<T>;
  /**
   * Forget the client, so that the next `get` builds a new one: after a failure that may have broken it (a gRPC
   * channel shut down, credentials that expired), or to release it (`close`). `dispose` runs on the forgotten client
   * when it was built; the promise settles once it has, and never rejects.
   */
  reset(): Promise<void>;
}

/**
 * A client built by `build` on first use. `build` imports the SDK itself (a dynamic import()), so that opening a store
 * loads nothing. A build that fails is not kept: the next `get` builds again, so a login refused once (or a
 * network down at the first call) does not fail every later call of the process.
 */
export function lazyClient<T>(build: () => Promise<T>, dispose?: (client: T) => unknown): LazyClient<T> {
  let pending: Promise<T> | undefined;
  return {
    get() {
      if (pending !== undefined) return pending;
      const attempt = build();
      pending = attempt;
      attempt.catch(() => {
        // Only this build is forgotten: a reset and a newer build may have replaced it meanwhile.
        if (pending === attempt) pending = undefined;
      });
      return attempt;
    },
    async reset() {
      const old = pending;
      pending = undefined;
      if (old === undefined || dispose === undefined) return;
      const client = await old.catch(() => undefined);
      if (client !== undefined) await Promise.resolve(dispose(client)).catch(() => undefined);
    },
  };
}
