/** GCP Secret Manager errors: gRPC status codes mapped to the typed store errors, with the IAM permission to grant. */
import type { StoreRef } from '../../../src/contract/store.js';
import { SecretNotFoundError, StoreConflictError, StoreError, StorePermissionError, StoreUnavailableError } from '../../../src/contract/store-errors.js';

import { type ClientMethod, PERMISSION_OF, PERMISSION_USE } from './client.js';

export const GRPC = {
  CANCELLED: 1,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;
export const GRPC_NAMES: Record<number, string> = Object.fromEntries(Object.entries(GRPC).map(([name, code]) => [code, name]));

/** A version exists but is disabled or destroyed (FAILED_PRECONDITION): not a conflict, not retriable. */
export class VersionStateError extends StoreError {
  constructor(operation: string, ref: string, detail: string, hint?: string) {
    super('failed', operation, ref, detail, hint === undefined ? {} : { hint });
  }
}

/**
 * Whether the service refused a call for a quota: RESOURCE_EXHAUSTED, gRPC code 8, HTTP 429 ("Quota exceeded for
 * quota metric 'Write requests' and limit 'Write requests per minute' of service 'secretmanager.googleapis.com' …";
 * https://cloud.google.com/apis/design/errors lists RESOURCE_EXHAUSTED as 429, "Either out of resource quota or
 * reaching rate limiting"). A refused call had no effect.
 */
export function isQuotaExceeded(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === GRPC.RESOURCE_EXHAUSTED;
}

/** Turn whatever the client threw into a typed store error that names the operation and the ref, never a value. */
export function toStoreError(error: unknown, operation: string, ref: StoreRef, method: ClientMethod, resource: string): StoreError {
  if (error instanceof StoreError) return error;
  const e = (typeof error === 'object' && error !== null ? error : {}) as { code?: unknown; details?: unknown; message?: unknown };
  const code = typeof e.code === 'number' ? e.code : undefined;
  const raw = typeof e.details === 'string' && e.details !== '' ? e.details : typeof e.message === 'string' ? e.message : '';
  // The service's own words are never copied into a message: a server that echoed a request could hand back a
  // payload, with fields the redactor has never seen. Only what the adapter recognises is kept: the status, a
  // version's state, a permission's name, a quota. The original error stays on `cause` (never serialised).
  const status = code === undefined ? 'error' : (GRPC_NAMES[code] ?? `gRPC status ${code}`);
  const state = /\b(DISABLED|DESTROYED)\b/.exec(raw)?.[1];
  const facts = [state === undefined ? undefined : `version is ${state}`, /quota/i.test(raw) ? 'quota exceeded' : undefined].filter((f) => f !== undefined);
  const detail = facts.length === 0 ? status : `${status}: ${facts.join(', ')}`;
  switch (code) {
    case GRPC.NOT_FOUND:
      return new SecretNotFoundError(operation, ref.display, `${resource} not found (${detail})`);
    case GRPC.PERMISSION_DENIED: {
      // The API not enabled on the project answers PERMISSION_DENIED too, naming the service rather than a permission
      // ("Secret Manager API has not been used in project N before or it is disabled. Enable it by visiting …",
      // ErrorInfo reason SERVICE_DISABLED: https://cloud.google.com/service-usage/docs/troubleshooting,
      // google/api/error_reason.proto). No grant fixes it: the API must be enabled on the project.
      if (/\bsecretmanager\.googleapis\.com\b/.test(raw)) {
        const project = /\bprojects?[ /=]([a-z0-9][a-z0-9-]{0,62})\b/i.exec(raw)?.[1] ?? projectOf(resource);
        const flag = project === undefined ? '' : ` --project=${project}`;
        return new StorePermissionError(
          operation,
          ref.display,
          `the Secret Manager API (secretmanager.googleapis.com) is not enabled on ${project === undefined ? 'the project' : `project ${project}`}`,
          `enable it: gcloud services enable secretmanager.googleapis.com${flag} (needs serviceusage.services.enable, role ` +
            `roles/serviceusage.serviceUsageAdmin), then wait a few minutes for it to take effect`,
        );
      }
      const permission = /\b(secretmanager\.[a-z]+\.[A-Za-z]+)\b/.exec(raw)?.[1] ?? PERMISSION_OF[method];
      const use = PERMISSION_USE[permission];
      return new StorePermissionError(
        operation,
        ref.display,
        `permission denied: the account lacks ${permission} on ${resourceSecret(resource)}`,
        `grant ${permission} on ${resourceSecret(resource)} to the account rekey runs ` +
          `as${use === undefined ? '' : ` (needed to ${use.use}; role ${use.role} has it)`}`,
      );
    }
    case GRPC.UNAUTHENTICATED:
      return new StorePermissionError(operation, ref.display, `not authenticated (${status})`, AUTH_HINT);
    case GRPC.ABORTED:
      // AIP-154's code for a stale etag; Secret Manager documents FAILED_PRECONDITION instead (below). Both are a conflict.
      return etagConflict(operation, ref, resource);
    case GRPC.FAILED_PRECONDITION:
      // "If an ETag is provided and matches the current resource ETag, the request succeeds; otherwise, it fails with
      // a FAILED_PRECONDITION error and an HTTP status code 400" (https://cloud.google.com/secret-manager/docs/etags).
      // The same code says a version is DISABLED or DESTROYED ("Secret Version [...] is in DESTROYED state."), so the
      // code alone decides only for a call that sent an etag and whose answer names no version state; the text of an
      // etag mismatch is not documented and is not relied on.
      if (state === undefined && ETAG_GUARDED.has(method)) return etagConflict(operation, ref, resource);
      return new VersionStateError(operation, ref.display, detail, 'enable the version, or point the alias at an enabled one');
    case GRPC.UNAVAILABLE:
    case GRPC.RESOURCE_EXHAUSTED:
    case GRPC.INTERNAL:
    case GRPC.DEADLINE_EXCEEDED:
      return new StoreUnavailableError(operation, ref.display, detail, error);
    case GRPC.INVALID_ARGUMENT:
      return new StoreError('invalid', operation, ref.display, `${detail}: the service refused the request for ${resource}`, { cause: error });
    case undefined:
      if (/default credentials|could not refresh access token|invalid_grant|metadata server/i.test(raw)) {
        return new StorePermissionError(operation, ref.display, 'could not authenticate to Google Cloud', AUTH_HINT);
      }
      // Not from the service (a bug, a broken install): its message is ours or the runtime's, never a payload.
      return new StoreError('failed', operation, ref.display, raw === '' ? 'unexpected error' : raw.replace(/\s+/g, ' ').slice(0, 200), { cause: error });
    default:
      return new StoreError('failed', operation, ref.display, detail, { cause: error });
  }
}

/** The calls that send an etag (UpdateSecret's inside the Secret): the ones a FAILED_PRECONDITION can be an etag mismatch of. */
const ETAG_GUARDED: ReadonlySet<ClientMethod> = new Set(['updateSecret', 'disableSecretVersion', 'destroySecretVersion']);

/** A write refused because the secret changed since it was read (its etag): read again and decide afresh. */
export class EtagConflictError extends StoreConflictError {}

function etagConflict(operation: string, ref: StoreRef, resource: string): StoreConflictError {
  return new EtagConflictError(
    operation,
    ref.display,
    `${resource} changed since it was read (etag mismatch)`,
    'read again and retry; another writer was at work',
  );
}

export const AUTH_HINT = 'sign in with `gcloud auth application-default login`, or set GOOGLE_APPLICATION_CREDENTIALS to a service account key file';

function projectOf(resource: string): string | undefined {
  return /^projects\/([^/]+)\//.exec(resource)?.[1];
}

export function resourceSecret(resource: string): string {
  return /^projects\/[^/]+(\/locations\/[^/]+)?\/secrets\/[^/]+/.exec(resource)?.[0] ?? resource;
}
