/**
 * GitHub's failures mapped to the typed store errors, with the permission to grant and GitHub's own wait.
 *
 * From "Troubleshooting the REST API" and "Rate limits for the REST API"
 * (https://docs.github.com/en/rest/using-the-rest-api/troubleshooting-the-rest-api,
 * https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api):
 * - 401: bad credentials (a wrong, expired or revoked token);
 * - 403 or 429 with `x-ratelimit-remaining: 0`: the primary limit, until the epoch second in `x-ratelimit-reset`;
 *   403 or 429 with `retry-after`: a secondary limit, for that many seconds; a secondary limit without either header:
 *   wait at least a minute;
 * - another 403, or a 404 for a repository, environment or organisation: the token may not see it (GitHub answers 404
 *   rather than admit that a private resource exists);
 * - 422: the request was refused (a stale key_id, a value too large, a full scope);
 * - 5xx and dropped connections: worth another try.
 */
import type { StoreRef } from '../../../src/contract/store.js';
import { StoreError, StorePermissionError, StoreUnavailableError } from '../../../src/contract/store-errors.js';
import { GitHubHttpError } from './client.js';
import { type Scope, scopeWords } from './refs.js';

/** The longest wait for a rate limit that a call sits out before it gives up and says when to try again. */
export const MAX_RATE_WAIT_MS = 60_000;
/** GitHub's advice for a secondary limit that names no wait: at least a minute. */
const SECONDARY_DEFAULT_MS = 60_000;

/** The token is not set: the store cannot call GitHub at all. */
export class MissingTokenError extends Error {
  constructor(readonly variable: string) {
    super(`no GitHub token: ${variable} is not set`);
    this.name = 'MissingTokenError';
  }
}

/** How long GitHub asks to wait before the next request, when `error` is a rate limit; undefined otherwise. */
export function rateLimitWaitMs(error: unknown, now = Date.now()): number | undefined {
  if (!(error instanceof GitHubHttpError) || (error.status !== 403 && error.status !== 429)) return undefined;
  const { retryAfter, remaining, reset } = error.rate;
  if (retryAfter !== undefined && /^\d+$/.test(retryAfter.trim())) return Number(retryAfter.trim()) * 1000;
  if (remaining === '0' && reset !== undefined && /^\d+$/.test(reset.trim())) return Math.max(0, Number(reset.trim()) * 1000 - now);
  if (error.status === 429 || /rate limit/i.test(error.githubMessage)) return SECONDARY_DEFAULT_MS;
  return undefined;
}

/** The permissions a token needs to write this scope's secrets, in GitHub's words for each kind of token. */
export function permissionHint(scope: Scope, tokenVariable: string): string {
  const where = scopeWords(scope);
  const grant =
    scope.type === 'organization'
      ? 'a fine-grained token with the organisation permission "Secrets: read and write", a classic token with admin:org (and repo for private ' +
        'repositories), or a GitHub App with the organisation "Secrets" permission (read and write)'
      : scope.type === 'environment'
        ? 'a fine-grained token with the repository permission "Environments: read and write", a classic token with repo, or a GitHub App with ' +
          'the "Environments" permission (read and write)'
        : 'a fine-grained token with the repository permission "Secrets: read and write", a classic token with repo, or a GitHub App with the ' +
          '"Secrets" permission (read and write)';
  return `the token in ${tokenVariable} needs access to the ${where}: ${grant}`;
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'UND_ERR_SOCKET']);

function networkCode(error: unknown): string | undefined {
  if (!(error instanceof Error)) return undefined;
  if (error.name === 'TimeoutError' || error.name === 'AbortError') return 'timeout';
  const cause = (error as { cause?: { code?: unknown } }).cause;
  const code = typeof cause?.code === 'string' ? cause.code : (error as { code?: unknown }).code;
  return typeof code === 'string' && (NETWORK_CODES.has(code) || code.startsWith('UND_ERR')) ? code : undefined;
}

/**
 * A StoreError for any failure of a GitHub call. The original error is never kept as the cause: a fetch failure may
 * hold the request, whose headers carry the token.
 */
export function toStoreError(error: unknown, operation: string, ref: StoreRef, scope: Scope, tokenVariable: string, now = Date.now()): StoreError {
  if (error instanceof StoreError) return error;
  if (error instanceof MissingTokenError) {
    return new StorePermissionError(
      operation,
      ref.display,
      error.message,
      `set ${tokenVariable} to a GitHub token (or name another variable with the store's token option); ${permissionHint(scope, tokenVariable)}`,
    );
  }
  if (error instanceof GitHubHttpError) {
    const said = error.githubMessage === '' ? '' : ` (GitHub: ${error.githubMessage})`;
    const wait = rateLimitWaitMs(error, now);
    if (wait !== undefined) {
      const until = new Date(now + wait).toISOString().replace(/\.\d+Z$/, 'Z');
      if (wait <= MAX_RATE_WAIT_MS) return new StoreUnavailableError(operation, ref.display, `rate limited by GitHub until ${until}${said}`);
      return new StoreError('unavailable', operation, ref.display, `rate limited by GitHub until ${until}${said}`, {
        retriable: false,
        hint: `try again after ${until}; the REST API allows 5,000 requests an hour per token, 1,000 for a GitHub Actions GITHUB_TOKEN`,
      });
    }
    if (error.status === 401) {
      return new StorePermissionError(
        operation,
        ref.display,
        `bad credentials (HTTP 401)${said}`,
        `the token in ${tokenVariable} is wrong, expired or revoked: set a valid one`,
      );
    }
    if (error.status === 403) {
      return new StorePermissionError(operation, ref.display, `permission denied (HTTP 403)${said}`, permissionHint(scope, tokenVariable));
    }
    if (error.status === 404) {
      return new StorePermissionError(
        operation,
        ref.display,
        `the ${scopeWords(scope)} does not exist or the token cannot see it (GitHub answers 404 for both)`,
        `check the ref in rekey.yaml; ${permissionHint(scope, tokenVariable)}`,
      );
    }
    if (error.status === 422) return new StoreError('invalid', operation, ref.display, `GitHub refused the request (HTTP 422)${said}`);
    if (error.status >= 500 || error.status === 408) return new StoreUnavailableError(operation, ref.display, `GitHub answered HTTP ${error.status}${said}`);
    return new StoreError('failed', operation, ref.display, `GitHub answered HTTP ${error.status}${said}`);
  }
  const code = networkCode(error);
  if (code !== undefined) return new StoreUnavailableError(operation, ref.display, `could not reach GitHub (${code})`);
  return new StoreError('failed', operation, ref.display, error instanceof Error ? error.message : String(error));
}
