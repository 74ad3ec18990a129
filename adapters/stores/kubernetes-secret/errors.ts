/**
 * Kubernetes API errors mapped to the typed store errors. The API answers a failure with a `Status` object
 * (`{kind: "Status", status: "Failure", reason, code, message}`; API reference, "Status"): 403 Forbidden names the verb
 * and the resource, 404 NotFound, 409 Conflict for a stale resourceVersion, 422 Invalid for a refused change (an
 * immutable Secret's data: "field is immutable"), 429 and 5xx worth a retry.
 */
import type { StoreRef } from '../../../src/contract/store.js';
import { SecretNotFoundError, StoreConflictError, StoreError, StorePermissionError, StoreUnavailableError } from '../../../src/contract/store-errors.js';

/** What a call needs, for the hint on a 403. */
export interface Need {
  readonly verb: string;
  readonly namespace: string;
  readonly name: string;
}

const RETRIABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'ECONNABORTED',
  'EPIPE',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_SOCKET',
]);

/** The fields of a Status object, from an ApiException's body (an object, or its JSON text). */
export function statusOf(error: unknown): { code: number | undefined; reason: string; message: string } {
  const record = typeof error === 'object' && error !== null ? (error as Record<string, unknown>) : {};
  const code = typeof record['code'] === 'number' ? record['code'] : undefined;
  let body = record['body'];
  if (typeof body === 'string') {
    try {
      body = JSON.parse(body) as unknown;
    } catch {
      body = undefined;
    }
  }
  const status = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {};
  return {
    code,
    reason: typeof status['reason'] === 'string' ? status['reason'] : '',
    message: typeof status['message'] === 'string' ? status['message'] : '',
  };
}

/** The Node error code of a failure without an answer (node-fetch keeps it on the error or on its cause). */
function networkCode(error: unknown): string | undefined {
  for (let e = error, depth = 0; typeof e === 'object' && e !== null && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
  }
  return undefined;
}

/** The Role rule a call needs, in words for a hint. */
export function roleHint(need: Need, verbs = `"get", "update"`): string {
  return (
    `grant the identity rekey runs as a Role in namespace ${need.namespace} with verbs ${verbs} on resource "secrets" ` +
    `(resourceNames: ["${need.name}"]), bound by a RoleBinding`
  );
}

/**
 * A StoreError for any failure of a Kubernetes call. The original error is never kept as the cause: client-node's
 * ApiException prints its headers, and a request error may hold the request with its bearer token.
 */
export function toStoreError(error: unknown, operation: string, ref: StoreRef, need: Need): StoreError {
  if (error instanceof StoreError) return error;
  const status = statusOf(error);
  const said = status.message === '' ? '' : `: ${status.message}`;
  const where = `Secret ${need.namespace}/${need.name}`;
  if (status.code !== undefined) {
    if (status.code === 404) {
      return new SecretNotFoundError(operation, ref.display, `${where} not found`, 'create the Secret (rekey never creates one), or fix the ref in rekey.yaml');
    }
    if (status.code === 401) {
      return new StorePermissionError(
        operation,
        ref.display,
        'the cluster refused the credentials (401 Unauthorized)',
        "check the kubeconfig's user: a token that expired, or a client certificate the cluster does not trust",
      );
    }
    if (status.code === 403) {
      return new StorePermissionError(operation, ref.display, `forbidden (needs "${need.verb}" on ${where})${said}`, roleHint(need));
    }
    if (status.code === 409) {
      return new StoreConflictError(
        operation,
        ref.display,
        `${where} changed since it was read (409 Conflict on its resourceVersion)`,
        'another writer changed the Secret; read it again before rotating',
      );
    }
    if (status.code === 422 && /immutable/i.test(status.message)) return immutableError(operation, ref, need);
    if (status.code === 429 || status.code >= 500)
      return new StoreUnavailableError(operation, ref.display, `the Kubernetes API answered ${status.code}${said}`);
    if (status.code === 400 || status.code === 422) return new StoreError('invalid', operation, ref.display, `the Kubernetes API refused the request${said}`);
    return new StoreError('failed', operation, ref.display, `the Kubernetes API answered ${status.code}${said}`);
  }
  const code = networkCode(error);
  if (code !== undefined && RETRIABLE_CODES.has(code)) return new StoreUnavailableError(operation, ref.display, `cannot reach the Kubernetes API (${code})`);
  if (code !== undefined) return new StoreError('unavailable', operation, ref.display, `Kubernetes call failed (${code})`, { retriable: false });
  // An unknown failure: its message is kept, cleaned of tokens and known values by StoreError.
  return new StoreError('failed', operation, ref.display, `Kubernetes call failed: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`);
}

/** The refusal for a Secret marked `immutable: true`, whose data can never change again. */
export function immutableError(operation: string, ref: StoreRef, need: Need): StoreError {
  return new StoreError('invalid', operation, ref.display, `Secret ${need.namespace}/${need.name} is immutable (immutable: true): its data cannot change`, {
    hint: 'an immutable Secret can only be deleted and created again: create a new Secret without immutable, or point rekey.yaml at a mutable one',
  });
}
