/**
 * The store kit: what every store adapter needs and none should write again. An adapter imports from here, never from
 * another adapter; nothing outside adapters/stores/ imports it.
 * - `lazyClient`: the SDK client, built (and its SDK imported) on first use, rebuilt after a failed build or a reset.
 * - `sharedClient`: one client per service endpoint for the whole process, whatever the number of stores (endpoint.ts).
 * - `writeLimiter`: one pace of writes per endpoint, under the service's quota, rollbacks served first (write-limiter.ts).
 * - `callService`: one service call with the store's error mapping to the typed errors of src/contract/store-errors.ts,
 *   retriable ones retried with backoff and jitter (src/util/retry.ts).
 * - `casLoop`: read → compute → write-if-unchanged, read again on a conflict, a bounded number of times.
 * - `extractField` / `replaceField`: one field of a JSON secret, every other byte kept (json-field.ts).
 * - `stringOption`: one string option of a store entry, its type checked.
 */
import { StoreError } from '../../../src/contract/store-errors.js';
import { type RetryOptions, withRetry } from '../../../src/util/retry.js';

export { closeSharedClients, type SharedClient, sharedClient } from './endpoint.js';
export { extractField, replaceField } from './json-field.js';
export { type LazyClient, lazyClient } from './lazy-client.js';
export { createWriteLimiter, type WritePriority, type WriteLimiter, type WriteLimiterOptions, writeLimiter } from './write-limiter.js';

/**
 * Run one service call: a failure goes through `mapError` (to a StoreError naming the operation and the ref, never a
 * value), and a mapped error that says it is retriable is tried again with backoff and jitter. The SDK's own retries
 * must be off, so that attempts do not multiply.
 */
export function callService<T>(fn: () => Promise<T>, mapError: (error: unknown) => StoreError, retry?: RetryOptions): Promise<T> {
  return withRetry(async () => {
    try {
      return await fn();
    } catch (error) {
      throw mapError(error);
    }
  }, retry);
}

/**
 * Retries of a write that waits at a limiter: a throttled write slows the limiter and waits its turn again, so the
 * backoff only spreads the retries of a burst; twelve of them outlast any throttle the limiter's halving leaves.
 */
export const WRITE_RETRY: RetryOptions = { retries: 12, minTimeout: 50, maxTimeout: 2_000 };

/** How many times a compare-and-swap is tried from a fresh read before its conflict counts. */
export const CAS_ATTEMPTS = 3;

/** One pass of a compare-and-swap loop. */
export interface CasAttempt {
  /** 1 for the first pass. */
  readonly number: number;
  /**
   * Called with a write's failure: when `again` holds and attempts remain, ends this pass so that the loop reads
   * again; otherwise throws `error` itself. Either way it never returns.
   */
  retryIf(error: unknown, again: boolean): never;
}

/** The signal from `retryIf` to the loop: never escapes `casLoop`. */
class ReadAgain {
  constructor(readonly error: unknown) {}
}

/**
 * A read-modify-write that refuses to clobber: `pass` reads, decides and writes with the store's guard (an etag, a
 * check-and-set version); a write that lost the race calls `retryIf(error, true)` and the loop runs `pass` again
 * from a fresh read, at most `attempts` times in all. Everything else `pass` throws ends the loop as it is.
 */
export async function casLoop<T>(pass: (attempt: CasAttempt) => Promise<T>, attempts = CAS_ATTEMPTS): Promise<T> {
  for (let number = 1; ; number++) {
    const attempt: CasAttempt = {
      number,
      retryIf(error, again) {
        if (again && number < attempts) throw new ReadAgain(error);
        throw error;
      },
    };
    try {
      return await pass(attempt);
    } catch (error) {
      if (!(error instanceof ReadAgain)) throw error;
    }
  }
}

/** One string option of a store entry of `kind`, its type checked (absent or null: undefined). */
export function stringOption(options: Readonly<Record<string, unknown>>, name: string, kind: string): string | undefined {
  const value = options[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new StoreError('invalid', 'open', kind, `option ${name} must be a string`);
  return value;
}
