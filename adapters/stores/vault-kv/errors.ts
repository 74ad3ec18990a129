/** Vault errors: HTTP statuses and Node error codes mapped to the typed store errors, with the policy to grant. */
import type { StoreRef } from '../../../src/contract/store.js';
import { SecretNotFoundError, StoreConflictError, StoreError, StorePermissionError, StoreUnavailableError } from '../../../src/contract/store-errors.js';

import { recordOf, responseBodyOf, statusOf } from './reply.js';

/** What a call needs from the token's policy, for the hint on a 403. */
export interface Need {
  readonly capability: string;
  readonly policyPath: string;
  /** The check-and-set version a data write sent, for the conflict message. */
  readonly cas?: number;
}

export const RETRIABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'ECONNABORTED',
  'EPIPE',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ERR_SOCKET_CONNECTION_TIMEOUT',
  'UND_ERR_SOCKET',
]);

/**
 * Vault refused a call for a rate limit quota: HTTP 429, "rate limit quota exceeded", answered before the request
 * reaches any handler, so it had no effect (https://developer.hashicorp.com/vault/docs/concepts/resource-quotas).
 * Retriable, but by the store's pacing loop rather than the plain backoff: the pace must slow down first.
 */
export class VaultRateLimitedError extends StoreUnavailableError {}

/** A connection error (raised as `connect vault-kv: …`) restated for the operation and ref that needed Vault. */
export function renamed(error: StoreError, operation: string, ref: StoreRef): StoreError {
  if (error.operation === operation && error.ref === ref.display) return error;
  const prefix = `${error.operation} ${error.ref}: `;
  const detail = error.message.startsWith(prefix) ? error.message.slice(prefix.length) : error.message;
  switch (error.code) {
    case 'not-found':
      return new SecretNotFoundError(operation, ref.display, detail, error.hint);
    case 'permission':
      return new StorePermissionError(operation, ref.display, detail, error.hint);
    case 'conflict':
      return new StoreConflictError(operation, ref.display, detail, error.hint);
    case 'unavailable':
      return new StoreUnavailableError(operation, ref.display, detail);
    default:
      return new StoreError(error.code, operation, ref.display, detail, error.hint === undefined ? {} : { hint: error.hint });
  }
}

export function vaultMessage(error: unknown): string {
  const errors = recordOf(responseBodyOf(error))?.['errors'];
  const first = Array.isArray(errors) ? errors.find((e): e is string => typeof e === 'string' && e.trim() !== '') : undefined;
  // Vault wraps some messages as "1 error occurred:\n\t* permission denied\n\n".
  return first === undefined
    ? ''
    : first
        .replace(/^\d+ errors? occurred:\s*/, '')
        .replace(/\s*\*\s*/g, ' ')
        .trim();
}

/**
 * A StoreError for any failure of a Vault call. The original error is never kept as the cause: node-vault's and
 * axios's errors hold the request, with the token in its headers and the value in its body.
 */
export function toStoreError(error: unknown, operation: string, ref: StoreRef, need: Need): StoreError {
  if (error instanceof StoreError) return error;
  const status = statusOf(error);
  if (status !== undefined) {
    const message = vaultMessage(error);
    const said = message === '' ? '' : `: ${message}`;
    if (status === 404) return new SecretNotFoundError(operation, ref.display, 'not found');
    if (status === 401 || status === 403) {
      return new StorePermissionError(
        operation,
        ref.display,
        `permission denied (needs "${need.capability}" on ${need.policyPath})`,
        `add "${need.capability}" on path "${need.policyPath}" to the token's Vault policy, or check that the token is valid and not expired`,
      );
    }
    if (status === 400 && /check-and-set/i.test(message)) {
      return new StoreConflictError(
        operation,
        ref.display,
        `check-and-set mismatch (expected version ${need.cas ?? '?'})`,
        'another writer changed the secret; read it again before rotating',
      );
    }
    if (status === 429) return new VaultRateLimitedError(operation, ref.display, `Vault answered 429${said}`);
    if (status === 412 || status >= 500) return new StoreUnavailableError(operation, ref.display, `Vault answered ${status}${said}`);
    if (status === 400) return new StoreError('invalid', operation, ref.display, `Vault refused the request${said}`);
    return new StoreError('failed', operation, ref.display, `Vault answered ${status}${said}`);
  }
  const code = recordOf(error)?.['code'];
  if (typeof code === 'string' && RETRIABLE_CODES.has(code)) return new StoreUnavailableError(operation, ref.display, `cannot reach Vault (${code})`);
  if (typeof code === 'string') return new StoreError('failed', operation, ref.display, `Vault call failed (${code})`);
  // An unknown failure: its message is kept, cleaned of tokens and known values by StoreError.
  return new StoreError('failed', operation, ref.display, `Vault call failed: ${error instanceof Error ? error.message : String(error)}`);
}
