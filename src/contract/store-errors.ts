/**
 * Typed store errors. Each names the operation and the place, never the value:
 * `promote vault-kv:secret/app#API_KEY: check-and-set mismatch (expected version 7)`.
 */
import { redactor } from './redactor.js';

/** What kind of failure, so that callers decide retry, hint and exit code without parsing messages. */
export type StoreErrorCode = 'not-found' | 'permission' | 'conflict' | 'unavailable' | 'not-supported' | 'invalid' | 'failed';

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

/**
 * The machine lacks what the store needs to connect: a credentials file that is not there or cannot be read (a
 * kubeconfig). An environment fault (exit 5), like a state folder that cannot be written: nothing in rekey.yaml or
 * the service is wrong, and trying again without fixing the machine would fail the same way.
 */
export class StoreEnvironmentError extends StoreError {
  constructor(operation: string, ref: string, detail: string, hint: string) {
    super('unavailable', operation, ref, detail, { hint, retriable: false });
  }
}

/** The store cannot do this at all (a read-only store asked to write): a typed refusal, never a silent success. */
export class NotSupportedError extends StoreError {
  constructor(operation: string, ref: string, detail: string) {
    super('not-supported', operation, ref, detail);
  }
}

/** What keeps a store from taking a new value now; `canStage` names one so the engine and `rekey check` can say why. */
export type StagingObstacle =
  /** Another run (or another rotation tool) has a value staged that is not current: an AWSPENDING label, a sibling file. */
  | 'staged-by-another'
  /** The version the run read as current is no longer current: someone wrote in between. */
  | 'base-moved'
  /** The secret, the file or the variable does not exist (rekey never creates them). */
  | 'missing'
  /** The secret or its current version is deleted, scheduled for deletion, disabled or destroyed. */
  | 'unusable'
  /** The caller may read but not write, or may not read at all. */
  | 'permission'
  /** The store's own limits refuse the write (metadata full, payload too large). */
  | 'limit';

/**
 * A store cannot stage a new value now, found before anything was minted. It names the store, the obstacle and the
 * fix (`hint`, always set), and carries the code a caller maps to an exit code: a conflict, a missing secret, a
 * missing permission or an invalid setup. A transient failure (throttling, a dropped connection) is never this
 * error: it stays a `StoreUnavailableError`, since trying again may succeed.
 */
export class CannotStageError extends StoreError {
  readonly obstacle: StagingObstacle;
  /** For `staged-by-another`: the rekey run whose value is staged, when the store records it (AWS cannot tell). */
  readonly run: string | undefined;
  constructor(obstacle: StagingObstacle, ref: string, detail: string, hint: string, options: { cause?: unknown; run?: string } = {}) {
    super(CODE_OF[obstacle], 'pre-flight', ref, `cannot stage: ${detail}`, { hint, ...(options.cause === undefined ? {} : { cause: options.cause }) });
    this.obstacle = obstacle;
    this.run = options.run;
  }

  /** The same refusal for an error met while looking (a denied read, a missing secret); other errors are returned as they are. */
  static from(error: unknown, ref: string): unknown {
    if (!(error instanceof StoreError) || error instanceof CannotStageError) return error;
    const obstacle: StagingObstacle | undefined =
      error.code === 'not-found' ? 'missing' : error.code === 'permission' ? 'permission' : error.code === 'conflict' ? 'base-moved' : undefined;
    if (obstacle === undefined) return error;
    const detail = error.message.startsWith(`${error.operation} ${error.ref}: `)
      ? error.message.slice(error.operation.length + error.ref.length + 3)
      : error.message;
    return new CannotStageError(obstacle, ref, detail, error.hint ?? DEFAULT_HINT[obstacle], { cause: error });
  }
}

const CODE_OF: Readonly<Record<StagingObstacle, StoreErrorCode>> = {
  'staged-by-another': 'conflict',
  'base-moved': 'conflict',
  missing: 'not-found',
  unusable: 'failed',
  permission: 'permission',
  limit: 'invalid',
};

const DEFAULT_HINT: Readonly<Record<StagingObstacle, string>> = {
  'staged-by-another': 'finish or roll back the other run first',
  'base-moved': 'someone else changed the secret since this run read it; start a new run',
  missing: 'create the secret (rekey never creates one), or fix the ref in rekey.yaml',
  unusable: 'restore or enable the secret first',
  permission: 'grant the identity rekey runs as the permissions the store adapter documents',
  limit: 'make room in the store first',
};

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
