/** Secrets Manager errors: SDK exceptions mapped to the typed store errors, scrubbed of payloads and request ids. */
import type { StoreRef } from '../../../src/contract/store.js';
import { SecretNotFoundError, StoreConflictError, StoreError, StorePermissionError, StoreUnavailableError } from '../../../src/contract/store-errors.js';

export type Action = 'GetSecretValue' | 'DescribeSecret' | 'ListSecretVersionIds' | 'PutSecretValue' | 'UpdateSecretVersionStage';

export const CREDENTIAL_ERRORS = new Set([
  'UnrecognizedClientException',
  'InvalidClientTokenId',
  'InvalidSignatureException',
  'SignatureDoesNotMatch',
  'IncompleteSignature',
  'MissingAuthenticationToken',
  'ExpiredTokenException',
  'ExpiredToken',
  'CredentialsProviderError',
]);
export const UNAVAILABLE_ERRORS = new Set([
  'ThrottlingException',
  'Throttling',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'InternalServiceError',
  'InternalFailure',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'TimeoutError',
  'RequestTimeout',
  'RequestTimeoutException',
]);
export const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'ECONNABORTED',
  'UND_ERR_SOCKET',
]);

const THROTTLING_ERRORS = new Set(['ThrottlingException', 'Throttling', 'TooManyRequestsException', 'RequestLimitExceeded']);

/** Whether the service said "slow down" (as opposed to failing): the write limiter slows down for it. */
export function isThrottling(error: unknown): boolean {
  const name = typeof error === 'object' && error !== null ? (error as { name?: unknown }).name : undefined;
  return typeof name === 'string' && THROTTLING_ERRORS.has(name);
}

/** Turn an SDK error into a StoreError naming the operation and the ref; never a value, never a request id. */
export function toStoreError(error: unknown, operation: string, ref: StoreRef, action: Action, payload?: string): StoreError {
  if (error instanceof StoreError) return error;
  const e = (typeof error === 'object' && error !== null ? error : {}) as {
    name?: unknown;
    message?: unknown;
    code?: unknown;
    $fault?: unknown;
    $metadata?: { httpStatusCode?: number };
  };
  const name = typeof e.name === 'string' ? e.name : 'Error';
  const code = typeof e.code === 'string' ? e.code : undefined;
  const status = e.$metadata?.httpStatusCode;
  const message = scrubPayload(typeof e.message === 'string' ? e.message : String(error), payload).slice(0, 400);
  const detail = `${action} failed: ${name}${message !== '' && message !== name ? `: ${message}` : ''}`;
  const where = ref.display;

  if (name === 'ResourceNotFoundException') {
    return new SecretNotFoundError(operation, where, `${action}: ${message}`, 'check the secret name (or ARN) and the region');
  }
  const denied = () =>
    new StorePermissionError(
      operation,
      where,
      detail,
      `allow secretsmanager:${action} on this secret for the identity rekey runs as ` +
        `(rekey uses secretsmanager:GetSecretValue, DescribeSecret, PutSecretValue and UpdateSecretVersionStage)`,
    );
  if (name === 'AccessDeniedException' || name === 'AccessDenied') return denied();
  if (name === 'DecryptionFailure') {
    return new StorePermissionError(operation, where, detail, `allow kms:Decrypt on the secret's KMS key for the identity rekey runs as`);
  }
  if (/region is missing/i.test(message)) {
    return new StoreError('invalid', operation, where, 'no AWS region is set', {
      hint: 'set `region` on the store, or AWS_REGION, or a region in the AWS profile',
    });
  }
  if (CREDENTIAL_ERRORS.has(name)) {
    return new StorePermissionError(
      operation,
      where,
      detail,
      "AWS did not accept the credentials: check AWS_PROFILE or the store's `profile`, AWS_ACCESS_KEY_ID, or sign in again (aws sso login)",
    );
  }
  if (status === 403) {
    // Any other 403 is a refusal, whatever its body: a VPC endpoint policy, a proxy's or firewall's HTML page, an
    // error type the SDK does not model. The common errors AWS lists at 403 are credential faults (caught above), and
    // AccessDeniedException itself is listed at 400 (https://docs.aws.amazon.com/secretsmanager/latest/apireference/CommonErrors.html),
    // so the status alone says "not allowed", never "retry" nor "bug".
    return denied();
  }
  if (
    UNAVAILABLE_ERRORS.has(name) ||
    (status !== undefined && status >= 500) ||
    (code !== undefined && NETWORK_CODES.has(code)) ||
    (status === undefined && e.$fault === 'server')
  ) {
    return new StoreUnavailableError(operation, where, detail, error);
  }
  if (name === 'InvalidParameterException' || name === 'InvalidRequestException') {
    if (/marked for deletion|scheduled for deletion/i.test(message)) {
      return new SecretNotFoundError(
        operation,
        where,
        `${action}: the secret is scheduled for deletion`,
        `restore it first: aws secretsmanager restore-secret --secret-id ${ref.path}`,
      );
    }
    if (action === 'UpdateSecretVersionStage') {
      return new StoreConflictError(
        operation,
        where,
        `${detail} (a staging label was moved by someone else)`,
        'another writer changed the secret meanwhile; nothing was overwritten',
      );
    }
  }
  if (name === 'ResourceExistsException' && action === 'PutSecretValue') {
    return new StoreConflictError(operation, where, `${detail} (this run's version already exists with other content)`);
  }
  if (name === 'EncryptionFailure') {
    return new StoreError('failed', operation, where, detail, { hint: "check that the secret's KMS key is enabled and that kms:GenerateDataKey is allowed" });
  }
  if (name === 'LimitExceededException') {
    return new StoreError('failed', operation, where, detail, {
      hint: 'the secret has too many versions or labels; AWS removes deprecated versions over time',
    });
  }
  if (name === 'ValidationException' || name === 'InvalidParameterException' || name === 'InvalidRequestException') {
    return new StoreError('invalid', operation, where, detail);
  }
  return new StoreError('failed', operation, where, detail, { cause: error });
}

/** The message without the payload that was sent, nor any string field of it (a service should never echo them). */
export function scrubPayload(message: string, payload: string | undefined): string {
  if (payload === undefined) return message;
  const needles = new Set<string>([payload]);
  try {
    const parsed: unknown = JSON.parse(payload);
    if (parsed !== null && typeof parsed === 'object') {
      for (const field of Object.values(parsed)) if (typeof field === 'string' && field.length >= 4) needles.add(field);
    }
  } catch {
    // Not JSON: the payload itself is the only value.
  }
  let out = message;
  for (const needle of [...needles].sort((a, b) => b.length - a.length)) {
    for (const form of [needle, JSON.stringify(needle).slice(1, -1)]) out = out.split(form).join('[removed]');
  }
  return out;
}
