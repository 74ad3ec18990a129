/**
 * Reading and writing one field of a secret whose payload may be a JSON object (`prod/app#API_KEY`).
 * Every other field is kept exactly as it was.
 */
import { SecretNotFoundError, StoreError } from './errors.js';
import type { StoreRef } from './contract.js';

/** The field's value inside a payload; the whole payload when the ref has no field. */
export function extractField(ref: StoreRef, operation: string, payload: string): string {
  if (ref.field === undefined) return payload;
  const object = parseObject(ref, operation, payload);
  const value = object[ref.field];
  if (value === undefined) throw new SecretNotFoundError(operation, ref.display, `field ${ref.field} is not in the secret`);
  if (typeof value !== 'string') throw new StoreError('invalid', operation, ref.display, `field ${ref.field} is not a string`);
  return value;
}

/** A new payload with the field set to `value`, other fields untouched; the value itself when there is no field. */
export function replaceField(ref: StoreRef, operation: string, payload: string | undefined, value: string): string {
  if (ref.field === undefined) return value;
  const object = payload === undefined ? {} : parseObject(ref, operation, payload);
  return JSON.stringify({ ...object, [ref.field]: value });
}

function parseObject(ref: StoreRef, operation: string, payload: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(payload);
  } catch {
    // Never quote the payload: it is a secret.
    throw new StoreError('invalid', operation, ref.display, `the secret is not a JSON object, so field ${ref.field} cannot be read`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new StoreError('invalid', operation, ref.display, `the secret is not a JSON object, so field ${ref.field} cannot be read`);
  }
  return parsed as Record<string, unknown>;
}
