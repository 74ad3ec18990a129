/**
 * A local HTTP server that speaks Vault's API (`/v1/…`, JSON bodies, `X-Vault-Token`, `X-Vault-Namespace`) over
 * the in-memory model of `vault-kv-model.ts`, for wire-level tests with the real node-vault client.
 *
 * It binds 127.0.0.1 on a free port, never keeps the process alive (the server is unref'd), and `close()` drops
 * open keep-alive connections so that a test ends at once.
 *
 * With `rateLimit`, it enforces a rate limit quota as Vault does (https://developer.hashicorp.com/vault/docs/concepts/resource-quotas):
 * a token bucket per client address, holding `rate` requests and refilled at `rate` per `interval` seconds, that
 * counts every request, reads and writes alike, except the exempt paths (sys/health, sys/seal-status, sys/unseal,
 * sys/generate-root/*, sys/generate-recovery-token/*). A request over it is answered before any handler runs, with
 * HTTP 429 and `{"errors":["request path \"<path>\": rate limit quota exceeded"]}` (Vault's http/util.go wraps
 * quotas.ErrRateLimitQuotaExceeded so); with `blockInterval`, a client over the quota is refused everything for that
 * many seconds. Only with `responseHeaders` (sys/quotas/config `enable_rate_limit_response_headers`,
 * https://developer.hashicorp.com/vault/api-docs/system/quotas-config) does a reply carry X-Ratelimit-Limit,
 * X-Ratelimit-Remaining and X-Ratelimit-Reset, and a refused one Retry-After, an HTTP date (RFC 1123) equal to the
 * reset (vault/quotas/quotas_rate_limit.go).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { VaultModel } from './vault-kv-model.js';

export interface VaultServerOptions {
  /** The model to serve; a fresh one (with `secret/` mounted) when absent. */
  readonly model?: VaultModel;
  /** Delay before every reply, in milliseconds, to stand in for a network round trip. */
  readonly latencyMs?: number;
  /** A rate limit quota on the root (every mount and namespace), as `vault write sys/quotas/rate-limit/…` sets one. */
  readonly rateLimit?: RateLimitQuota;
}

/** The fields of a Vault rate limit quota this fake models (sys/quotas/rate-limit/:name). */
export interface RateLimitQuota {
  /** Requests a client may make in one interval, and the bucket's size. */
  readonly rate: number;
  /** The interval in seconds (Vault's default 1). */
  readonly interval?: number;
  /** Seconds a client over the quota is refused everything; none by default. */
  readonly blockInterval?: number;
  /** sys/quotas/config enable_rate_limit_response_headers. */
  readonly responseHeaders?: boolean;
}

/** The paths Vault exempts from rate limit quotas by default (rate_limit_exempt_paths). */
const EXEMPT = [
  /^sys\/health$/,
  /^sys\/seal-status$/,
  /^sys\/unseal$/,
  /^sys\/generate-root\/(attempt|update)$/,
  /^sys\/generate-recovery-token\/(attempt|update)$/,
];

export interface RunningVaultServer {
  /** `http://127.0.0.1:PORT`, for `VAULT_ADDR`. */
  readonly url: string;
  readonly model: VaultModel;
  /** Requests answered 429 for the rate limit quota. */
  readonly throttled: number;
  /** Every request received, refused ones included. */
  readonly requests: number;
  close(): Promise<void>;
}

/** Start a fake Vault on 127.0.0.1 and a free port. */
export async function startVaultServer(options: VaultServerOptions = {}): Promise<RunningVaultServer> {
  const model = options.model ?? new VaultModel();
  const sockets = new Set<Socket>();
  const counts = { throttled: 0, requests: 0 };
  const quota = options.rateLimit === undefined ? undefined : rateLimiter(options.rateLimit);

  const server = createServer((request, response) => {
    counts.requests++;
    const path = (request.url ?? '/').replace(/^\/v1\//, '').replace(/\?.*$/, '');
    const verdict = quota?.take(request.socket.remoteAddress ?? '', path);
    if (verdict !== undefined) {
      for (const [name, value] of Object.entries(verdict.headers)) response.setHeader(name, value);
      if (!verdict.allowed) {
        counts.throttled++;
        request.resume();
        reply(response, 429, { errors: [`request path "${path}": rate limit quota exceeded`] });
        return;
      }
    }
    handle(model, options.latencyMs ?? 0, request, response).catch(() => {
      if (!response.headersSent) reply(response, 500, { errors: ['internal error'] });
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  server.unref();
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    model,
    get throttled() {
      return counts.throttled;
    },
    get requests() {
      return counts.requests;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

async function handle(model: VaultModel, latencyMs: number, request: IncomingMessage, response: ServerResponse): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  if (latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, latencyMs));

  const url = request.url ?? '/';
  if (!url.startsWith('/v1/')) {
    reply(response, 404, { errors: [] });
    return;
  }
  let body: unknown;
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() !== '') {
    try {
      body = JSON.parse(text);
    } catch {
      reply(response, 400, { errors: ['failed to parse JSON input'] });
      return;
    }
  }
  const result = model.handle({
    method: request.method ?? 'GET',
    path: url.slice('/v1/'.length),
    token: header(request, 'x-vault-token'),
    namespace: header(request, 'x-vault-namespace'),
    body,
  });
  reply(response, result.status, result.body);
}

/** Vault's token bucket per client address, with the headers its reply carries. */
function rateLimiter(quota: RateLimitQuota) {
  const perSecond = quota.rate / (quota.interval ?? 1);
  const buckets = new Map<string, { tokens: number; at: number; blockedUntil: number }>();
  return {
    take(client: string, path: string): { allowed: boolean; headers: Record<string, string> } {
      if (EXEMPT.some((exempt) => exempt.test(path))) return { allowed: true, headers: {} };
      const now = Date.now();
      const bucket = buckets.get(client) ?? { tokens: quota.rate, at: now, blockedUntil: 0 };
      buckets.set(client, bucket);
      bucket.tokens = Math.min(quota.rate, bucket.tokens + ((now - bucket.at) / 1000) * perSecond);
      bucket.at = now;
      const allowed = now >= bucket.blockedUntil && bucket.tokens >= 1;
      if (allowed) bucket.tokens -= 1;
      // block_interval: the first refusal blocks the client for that long, whatever the bucket holds meanwhile.
      else if (quota.blockInterval !== undefined && now >= bucket.blockedUntil) bucket.blockedUntil = now + quota.blockInterval * 1000;
      const resetAt = Math.max(bucket.blockedUntil, now + Math.max(0, ((1 - bucket.tokens) / perSecond) * 1000));
      if (quota.responseHeaders !== true) return { allowed, headers: {} };
      // Go's time.RFC1123 of a UTC time: "Mon, 02 Jan 2006 15:04:05 UTC".
      const reset = new Date(Math.ceil(resetAt / 1000) * 1000).toUTCString().replace(/GMT$/, 'UTC');
      const headers: Record<string, string> = {
        'X-Ratelimit-Limit': String(quota.rate),
        'X-Ratelimit-Remaining': String(Math.max(0, Math.floor(bucket.tokens))),
        'X-Ratelimit-Reset': reset,
      };
      if (!allowed) headers['Retry-After'] = reset;
      return { allowed, headers };
    },
  };
}

function header(request: IncomingMessage, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function reply(response: ServerResponse, status: number, body: unknown): void {
  if (status === 204 || body === undefined) {
    response.writeHead(status === 200 ? 204 : status, { 'cache-control': 'no-store' });
    response.end();
    return;
  }
  const text = JSON.stringify(body);
  response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  response.end(text);
}
