/**
 * The few Doppler API calls the store makes, over `fetch`. Doppler publishes a Node SDK (@dopplerhq/node-sdk, no
 * dependencies), but it is not installed here and the store needs four endpoints with plain JSON bodies, so a small
 * typed client is less to load than the SDK's whole generated surface. Every endpoint and field is cited from
 * Doppler's API reference (https://docs.doppler.com/reference/api):
 * - Authentication: `Authorization: Bearer <token>`; API at https://api.doppler.com.
 * - Retrieve a secret: `GET /v3/configs/config/secret?project=&config=&name=` → `{name, value: {raw, computed}}`
 *   (read from `secret.value` too, the shape some reference pages print).
 * - Update secrets: `POST /v3/configs/config/secrets` with `change_requests: [{name, originalName, value,
 *   originalValue}]`; "originalValue [...] when set, [is] used to instruct Doppler to only process the change request if
 *   the provided values match the latest values" (https://docs.doppler.com/reference/secrets-update).
 * - Config logs: `GET /v3/configs/config/logs?project=&config=&page=&per_page=` → `{logs: [config log]}`; a config log
 *   is `{id, text, diff: [{name, added, removed}], rollback, created_at, …}` (https://docs.doppler.com/reference/config-log-object).
 * - Errors: `{messages: [...], success: false}` with 401, 403, 404, 429 (rate limits per IP and per token, "Rate
 *   Limits") and 5xx.
 */
import { DopplerHttpError } from './errors.js';

export const KIND = 'doppler';
export const DEFAULT_API = 'https://api.doppler.com';

/** One entry of a config log's diff: the values are secret, and never leave the adapter but as `Secret`s. */
export interface DiffEntry {
  readonly name: string;
  readonly added: string | undefined;
  readonly removed: string | undefined;
}

export interface LogEntry {
  readonly id: string;
  readonly createdAt: Date | undefined;
  readonly diff: readonly DiffEntry[];
}

export interface DopplerClient {
  /** The raw value of one secret, or undefined when Doppler answers 404 for it. */
  getSecret(project: string, config: string, name: string): Promise<string | undefined>;
  /** Set `name` to `value`, only if its current value is `originalValue` (Doppler's conditional change request). */
  setSecret(project: string, config: string, name: string, value: string, originalValue: string): Promise<void>;
  /** One page of the config's logs, newest first. */
  listLogs(project: string, config: string, page: number, perPage: number): Promise<LogEntry[]>;
}

export interface ClientOptions {
  readonly apiUrl: string;
  readonly token: string;
  readonly fetch?: typeof fetch | undefined;
}

const record = (value: unknown): Record<string, unknown> | undefined =>
  typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;

/** A client over `fetch`; the token goes in the Authorization header only, and no body or header is ever kept in an error. */
export function dopplerClient(options: ClientOptions): DopplerClient {
  const send = options.fetch ?? fetch;
  const base = options.apiUrl.replace(/\/+$/, '');

  const call = async (method: 'GET' | 'POST', path: string, query: Record<string, string>, body?: unknown): Promise<Record<string, unknown>> => {
    const url = `${base}${path}?${new URLSearchParams(query).toString()}`;
    let response: Response;
    try {
      response = await send(url, {
        method,
        headers: {
          authorization: `Bearer ${options.token}`,
          accept: 'application/json',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(30_000),
      });
    } catch (error) {
      const cause = record(record(error)?.['cause']);
      const code =
        typeof cause?.['code'] === 'string' ? cause['code'] : error instanceof Error && error.name === 'TimeoutError' ? 'ETIMEDOUT' : 'network error';
      throw new DopplerHttpError(undefined, [], undefined, code);
    }
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = text === '' ? {} : JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    const json = record(parsed);
    if (!response.ok || json === undefined) {
      const messages = Array.isArray(json?.['messages']) ? (json['messages'] as unknown[]).filter((m): m is string => typeof m === 'string') : [];
      const retryAfter = Number(response.headers.get('retry-after'));
      throw new DopplerHttpError(response.status, messages, Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : undefined);
    }
    return json;
  };

  return {
    async getSecret(project, config, name) {
      try {
        const body = await call('GET', '/v3/configs/config/secret', { project, config, name });
        const value = record(record(body['secret'])?.['value'] ?? body['value']);
        const raw = value?.['raw'];
        if (typeof raw !== 'string') throw new DopplerHttpError(200, ['the reply carries no raw value'], undefined);
        return raw;
      } catch (error) {
        if (error instanceof DopplerHttpError && error.status === 404 && /secret/i.test(error.messages.join(' '))) return undefined;
        throw error;
      }
    },
    async setSecret(project, config, name, value, originalValue) {
      await call('POST', '/v3/configs/config/secrets', {}, { project, config, change_requests: [{ name, originalName: name, value, originalValue }] });
    },
    async listLogs(project, config, page, perPage) {
      const body = await call('GET', '/v3/configs/config/logs', { project, config, page: String(page), per_page: String(perPage) });
      const logs = Array.isArray(body['logs']) ? body['logs'] : [];
      return logs.flatMap((raw) => {
        const log = record(raw);
        if (log === undefined || typeof log['id'] !== 'string') return [];
        const created = typeof log['created_at'] === 'string' ? new Date(log['created_at']) : undefined;
        const diff = (Array.isArray(log['diff']) ? log['diff'] : []).flatMap((d) => {
          const entry = record(d);
          if (entry === undefined || typeof entry['name'] !== 'string') return [];
          const text = (v: unknown) => (typeof v === 'string' ? v : undefined);
          return [{ name: entry['name'], added: text(entry['added']), removed: text(entry['removed']) }];
        });
        return [{ id: log['id'], createdAt: created !== undefined && !Number.isNaN(created.getTime()) ? created : undefined, diff }];
      });
    },
  };
}
