/**
 * An SDK-level fake of node-vault's `read`/`write` (the adapter's VaultKvClient) over the in-memory Vault model:
 * non-2xx replies reject as node-vault's ApiResponseError does (`err.response.statusCode`, `err.response.body`).
 */
import type { VaultKvClient } from '../../adapters/stores/vault-kv/index.js';
import type { VaultModel, VaultReply } from './vault-kv-model.js';

/** Intercepts one call before the model answers it: return a reply or throw to stand in for the network. */
export type Interceptor = (call: { method: 'GET' | 'POST'; path: string; body?: Record<string, unknown> }, forward: () => unknown) => unknown;

/** A fake of node-vault's `read`/`write` over the model: non-2xx replies reject as node-vault's ApiResponseError does. */
export function fakeClient(model: VaultModel, token: string, intercept?: Interceptor): VaultKvClient & { calls: string[] } {
  const calls: string[] = [];
  const send = (method: 'GET' | 'POST', path: string, body?: Record<string, unknown>): Promise<unknown> => {
    calls.push(`${method} ${path}`);
    const forward = (): unknown => settle(model.handle({ method, path, token, body }));
    return Promise.resolve().then(() => (intercept === undefined ? forward() : intercept({ method, path, ...(body === undefined ? {} : { body }) }, forward)));
  };
  return { calls, read: (path) => send('GET', path), write: (path, body) => send('POST', path, body) };
}

function settle(reply: VaultReply): unknown {
  if (reply.status === 200 || reply.status === 204) return reply.body ?? '';
  const errors = (reply.body as { errors?: string[] } | undefined)?.errors;
  throw Object.assign(new Error(errors?.[0] ?? `Status ${reply.status}`), { response: { statusCode: reply.status, body: reply.body } });
}
