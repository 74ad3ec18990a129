/** Doppler's HTTP failures mapped to the typed store errors of src/contract/store-errors.ts, never with a token or a value. */
import type { StoreRef } from '../../../src/contract/store.js';
import { SecretNotFoundError, StoreError, StorePermissionError, StoreUnavailableError } from '../../../src/contract/store-errors.js';

/** A failed Doppler call: its status (undefined when no reply came), Doppler's `messages`, and Retry-After in seconds. */
export class DopplerHttpError extends Error {
  constructor(
    readonly status: number | undefined,
    readonly messages: readonly string[],
    readonly retryAfter: number | undefined,
    readonly network?: string,
  ) {
    super(
      status === undefined
        ? `cannot reach Doppler (${network ?? 'network error'})`
        : `Doppler answered ${status}${messages.length > 0 ? `: ${messages.join('; ')}` : ''}`,
    );
    this.name = 'DopplerHttpError';
  }
}

/** No token in the environment variable the store reads: a setup fault, named with the variable. */
export class MissingTokenError extends Error {
  constructor(readonly variable: string) {
    super(`no Doppler token: set ${variable}`);
    this.name = 'MissingTokenError';
  }
}

const WRITE_HINT = 'use a service token with read/write access to this config, or a service account with write access to it';

/** The typed error for any failure of a Doppler call. */
export function toStoreError(error: unknown, operation: string, ref: StoreRef, where: string): StoreError {
  if (error instanceof StoreError) return error;
  if (error instanceof MissingTokenError) {
    return new StoreError('invalid', operation, ref.display, error.message, { hint: `export ${error.variable}=dp.st.… (a service token of the config)` });
  }
  if (!(error instanceof DopplerHttpError)) {
    return new StoreError('failed', operation, ref.display, `Doppler call failed: ${error instanceof Error ? error.message : String(error)}`);
  }
  const said = error.messages.length > 0 ? ` (${error.messages.join('; ')})` : '';
  switch (error.status) {
    case undefined:
      return new StoreUnavailableError(operation, ref.display, error.message);
    case 401:
      return new StorePermissionError(
        operation,
        ref.display,
        `Doppler refused the token${said}`,
        'set DOPPLER_TOKEN (or the variable the token option names) to a valid Doppler token: a service token of this config, or a service account token',
      );
    case 403:
      return new StorePermissionError(operation, ref.display, `the token may not ${operation === 'read' ? 'read' : 'use'} ${where}${said}`, WRITE_HINT);
    case 404:
      return new SecretNotFoundError(
        operation,
        ref.display,
        `${where} not found${said}`,
        'check the project and config in the ref (project/config#NAME), and that the secret exists',
      );
    case 429:
      return new StoreUnavailableError(
        operation,
        ref.display,
        `Doppler's rate limit was reached${error.retryAfter === undefined ? '' : ` (retry after ${error.retryAfter}s)`}`,
      );
    default:
      if (error.status >= 500) return new StoreUnavailableError(operation, ref.display, `Doppler answered ${error.status}${said}`);
      if (error.status === 400) return new StoreError('invalid', operation, ref.display, `Doppler refused the request${said}`);
      return new StoreError('failed', operation, ref.display, `Doppler answered ${error.status}${said}`);
  }
}
