/**
 * Typed store errors. Each names the operation and the place, never the value:
 * `promote vault-kv:secret/app#API_KEY: check-and-set mismatch (expected version 7)`.
 */
import { redactor } from '../secret/redactor.js';

/** What kind of failure, so that callers decide retry, hint and exit code without parsing messages. */
export type StoreErrorCode =
  | 'not-found'
  | 'permission'
  | 'conflict'
  | 'unavailable'
  | 'not-supported'
  | 'invalid'
  | 'failed';

/** Base of all store errors: `${operation} ${ref}: ${detail}`, cleaned of request ids and values. */
export class StoreError extends Error {
  readonly code: StoreErrorCode;
  readonly operation: string;
  readonly ref: string;
  readonly hint: string | undefined;
  /** True for throttling and 5xx: worth a retry with backoff. */
  readonly retriable: boolean;

  constructor(code: StoreErrorCode, operation: string, ref: string, detail: string, options: { hint?: string; retriable?: boolean; cause?: unknown } = {}) {
    super(`${operation} ${ref}: ${sanitizeDetail(detail)}`);
    this.name = new.target.name;
    this.code = code;
    this.operation = operation;
    this.ref = ref;
    this.hint = options.hint;
    this.retriable = options.retriable ?? code === 'unavailable';
    // The cause is kept off the enumerable properties so that it is never serialised with the error.
    if (options.cause !== undefined) Object.defineProperty(this, 'cause', { value: options.cause, enumerable: false });
  }
}

/** The secret (or the field of a JSON secret) does not exist. */
export class SecretNotFoundError extends StoreError {
  constructor(operation: string, ref: string, detail = 'not found', hint?: string) {
    super('not-found', operation, ref, detail, hint === undefined ? {} : { hint });
  }
}

/** The caller lacks a permission. */
export class StorePermissionError extends StoreError {
  constructor(operation: string, ref: string, detail = 'permission denied', hint?: string) {
    super('permission', operation, ref, detail, hint === undefined ? {} : { hint });
  }
}

/** Someone else wrote in between (cas mismatch, etag mismatch, a staging label held by another run). */
export class StoreConflictError extends StoreError {
  constructor(operation: string, ref: string, detail: string, hint?: string) {
    super('conflict', operation, ref, detail, hint === undefined ? {} : { hint });
  }
}

/** Throttling, a 5xx or a dropped connection: retriable. */
export class StoreUnavailableError extends StoreError {
  constructor(operation: string, ref: string, detail: string, cause?: unknown) {
    super('unavailable', operation, ref, detail, { retriable: true, cause });
  }
}

/** The store cannot do this at all (a read-only store asked to write): a typed refusal, never a silent success. */
export class NotSupportedError extends StoreError {
  constructor(operation: string, ref: string, detail: string) {
    super('not-supported', operation, ref, detail);
  }
}

// Request ids, AWS signatures and bearer tokens are noise at best and sensitive at worst.
const NOISE: ReadonlyArray<[RegExp, string]> = [
  [/\b(request[- ]?id|x-amzn-requestid|x-amz-id-2|x-request-id)\b[\s:="']*[\w-]+/gi, '$1 [removed]'],
  [/\b(Signature|X-Amz-Signature|X-Amz-Credential|X-Amz-Security-Token)=[^&\s]+/gi, '$1=[removed]'],
  [/\b(Bearer|Bot|Basic)\s+[A-Za-z0-9._~+/=-]{8,}/g, '$1 [removed]'],
  [/\b(hvs|hvb|s)\.[A-Za-z0-9]{20,}/g, '[removed vault token]'],
];

/** Remove request ids, signatures, tokens and every known secret value from a message. */
export function sanitizeDetail(detail: string): string {
  let out = detail;
  for (const [pattern, replacement] of NOISE) out = out.replace(pattern, replacement);
  return redactor.scrub(out);
}
