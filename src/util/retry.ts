/**
 * Retries with exponential backoff and jitter for throttling, 5xx and dropped connections. Store adapters wrap
 * each service call in `withRetry` and turn SDK errors into `StoreError`s first; only `retriable` ones are retried.
 * The SDKs' own retries must be off (`maxAttempts: 1`) so that attempts do not multiply.
 */
export interface RetryOptions {
  /** Retries after the first attempt. */
  readonly retries?: number;
  /** First delay in milliseconds; doubles with each retry, with full jitter. */
  readonly minTimeout?: number;
  readonly maxTimeout?: number;
  /** Which errors are worth another attempt; by default those with `retriable: true`. */
  readonly shouldRetry?: (error: unknown) => boolean;
}

/** Whether an error says of itself that it is worth a retry. */
export function isRetriable(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { retriable?: unknown }).retriable === true;
}

/** Run `fn`, retrying retriable failures with backoff and jitter (p-retry, imported when first needed). */
export async function withRetry<T>(fn: () => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const { default: pRetry, AbortError } = await import('p-retry');
  const shouldRetry = options.shouldRetry ?? isRetriable;
  return pRetry(
    async () => {
      try {
        return await fn();
      } catch (error) {
        // AbortError stops p-retry at once and hands back the original error.
        if (!shouldRetry(error)) throw new AbortError(error as Error);
        throw error;
      }
    },
    {
      retries: options.retries ?? 4,
      minTimeout: options.minTimeout ?? 100,
      maxTimeout: options.maxTimeout ?? 5_000,
      randomize: true,
    },
  );
}
