/**
 * The sandbox provider: a small HTTP server on 127.0.0.1 that issues, checks and revokes API keys like a real
 * provider, for `rekey rehearse`, end-to-end tests and benchmarks.
 *
 * ```ts
 * const sandbox = await startSandbox({ overlap: 'none' });
 * const key = sandbox.mintKey('acme');            // the first key, as if created in a dashboard
 * await fetch(`${sandbox.url}/v1/whoami`, { headers: { authorization: `Bearer ${key}` } });
 * await sandbox.close();
 * ```
 *
 * It never logs, and never echoes a key or a request URL in a response (see routes.ts).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { IdempotencyCache } from './idempotency.js';
import { type ActivityEvent, type KeyRecord, KeyRegistry, type KeyStatus, type SandboxOverlap, sandboxOverlaps } from './registry.js';
import { countMint, matchRoute, type SandboxResponse, type SandboxStats } from './routes.js';
import { receiveWebhook, WEBHOOK_RECEIVER_PATH, type WebhookSecrets } from './webhooks.js';
import { sandboxRoutes } from './dialects.js';

export type { ActivityEvent, KeyStatus, SandboxOverlap } from './registry.js';
export type { SandboxStats } from './routes.js';

export interface SandboxOptions {
  /** What minting does to the account's other keys; default `until-revoked`. */
  readonly overlap?: SandboxOverlap;
  /** Port on 127.0.0.1; default 0, a free port. */
  readonly port?: number;
  /** Delay added to every request before it is answered, to play a distant provider in benchmarks. */
  readonly latencyMs?: number;
  /** Prefix of every key; default `sbx_`. */
  readonly keyPrefix?: string;
  /** Persist keys and activity here (JSON, mode 0600, atomic writes), so a restarted sandbox keeps its keys. */
  readonly stateFile?: string;
  /**
   * For tests of a failing verify: key checks (whoami and every provider dialect) answer 401 for every key that was
   * not minted with `mintKey()` — that is, for the keys a rotation mints over HTTP — while keys from `mintKey()` keep
   * passing. Minting, revoking and `isActive` are unaffected. Also settable later on the Sandbox object.
   */
  readonly rejectMintedOverHttp?: boolean;
  /** How long a mint's `Idempotency-Key` is remembered; default 24 hours, as Stripe does. For tests of the expiry. */
  readonly idempotencyWindowMs?: number;
  /** Play a webhook receiver at /v1/webhooks/receive that accepts signatures made with these secrets (webhooks.ts). */
  readonly webhookSecrets?: WebhookSecrets;
  /** For tests of "dead means dead": answer key checks with a fault instead (see CheckFault). Also settable later. */
  readonly checkFault?: CheckFault;
}

/**
 * A fault the sandbox plays on its key-check routes (whoami and every provider dialect), in place of the answer the
 * route would give, so that tests can attack the proof that a key is dead:
 * - `forbidden`: 403 with a JSON body that is no provider's rejection (a firewall, an IP allow-list);
 * - `html`: 401 with an HTML page (a proxy's or a login page: the status alone would look like a rejection);
 * - `server-error`: 503 with a JSON error body;
 * - `rate-limited`: 429 with `Retry-After: 1`;
 * - `timeout`: no answer at all until the sandbox closes (the client's timeout decides).
 * `keys`: `rejected` (default) faults only the checks the route would reject (a revoked, expired or unknown key), so a
 * live key's checks still pass; `all` faults every check. `times`: fault this many checks, then answer normally
 * (default: every one).
 */
export interface CheckFault {
  readonly mode: 'forbidden' | 'html' | 'server-error' | 'rate-limited' | 'timeout';
  readonly keys?: 'rejected' | 'all';
  readonly times?: number;
}

/**
 * One key of an account as a test sees it: its id, times and status, never its value (the sandbox holds only its
 * SHA-256), with a way to ask whether a value in hand is this key.
 */
export interface SandboxKey {
  readonly id: string;
  readonly account: string;
  readonly createdAt: string;
  /** The status when `keys()` was called. */
  readonly status: KeyStatus;
  readonly revokedAt: string | undefined;
  readonly expiresAt: string | undefined;
  /** `mintKey` for a key from `mintKey()` in this process (a test's seed), `http` for one minted by a request. */
  readonly mintedBy: 'mintKey' | 'http';
  /** True when `candidate` is this key, compared by its SHA-256. */
  matches(candidate: string): boolean;
}

/** One request as the server measured it, from arrival to the last byte of the answer. */
export interface RoundTrip {
  readonly method: string;
  /** The route pattern (`/v1/whoami`), or `unknown`; never the request URL. */
  readonly route: string;
  readonly ms: number;
}

export interface Sandbox {
  /** Base URL, `http://127.0.0.1:PORT`, without a trailing slash. */
  readonly url: string;
  readonly port: number;
  readonly overlap: SandboxOverlap;
  /** Live counters. */
  readonly stats: Readonly<SandboxStats>;
  /** Test hook, see `SandboxOptions.rejectMintedOverHttp`; may be switched on and off while the sandbox runs. */
  rejectMintedOverHttp: boolean;
  /** Test hook, see `CheckFault`; undefined answers every check normally. */
  checkFault: CheckFault | undefined;
  /** Key checks answered with a fault so far. */
  readonly faulted: number;
  /** Live list of measured requests, oldest first (the most recent 100,000). */
  readonly roundTrips: readonly RoundTrip[];
  /** Mint a key for an account without a request, as a test's or a rehearsal's first key; the overlap applies. */
  mintKey(account: string): string;
  /** True when the key is one the sandbox issued and it is neither revoked nor expired. */
  isActive(key: string): boolean;
  /** Every key the account was issued, oldest first, with its status now; empty for an account never seen. */
  keys(account: string): SandboxKey[];
  /** The key a value is, with its status now, or undefined when the sandbox never issued that value. */
  keyOf(value: string): SandboxKey | undefined;
  /** The account's activity log, optionally from a time on. */
  activity(account: string, since?: Date | string): ActivityEvent[];
  /** Stop listening, close every connection and write pending state; safe to call twice. */
  close(): Promise<void>;
}

/** Requests bodies beyond this are refused: every real body here is a few bytes of JSON or a form. */
const MAX_BODY_BYTES = 64 * 1024;

const MAX_ROUND_TRIPS = 100_000;

const JSON_TYPE = 'application/json';

/** Start a sandbox provider on 127.0.0.1; resolves once it listens. */
export async function startSandbox(options: SandboxOptions = {}): Promise<Sandbox> {
  const overlap = options.overlap ?? 'until-revoked';
  if (!sandboxOverlaps.includes(overlap)) throw new Error(`sandbox: unknown overlap "${String(overlap)}"`);
  const latencyMs = options.latencyMs ?? 0;
  if (!Number.isFinite(latencyMs) || latencyMs < 0) throw new Error('sandbox: latencyMs must be a number ≥ 0');
  const registry = new KeyRegistry({ overlap, keyPrefix: options.keyPrefix ?? 'sbx_', stateFile: options.stateFile });
  const stats: SandboxStats = { minted: 0, mintsByAccount: {}, replays: 0, checks: 0, rejected: 0, revokes: 0, requests: {} };
  const idempotency = new IdempotencyCache(options.idempotencyWindowMs === undefined ? {} : { windowMs: options.idempotencyWindowMs });
  const roundTrips: RoundTrip[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const sockets = new Set<Socket>();
  /** Ids of keys minted with mintKey(), which the rejectMintedOverHttp hook leaves alone. */
  const mintedDirectly = new Set<string>();
  const hooks: { rejectMintedOverHttp: boolean; checkFault: CheckFault | undefined; faulted: number; faultLeft: number } = {
    rejectMintedOverHttp: options.rejectMintedOverHttp === true,
    checkFault: options.checkFault,
    faulted: 0,
    faultLeft: options.checkFault?.times ?? Number.POSITIVE_INFINITY,
  };
  const rejects = (record: KeyRecord): boolean => hooks.rejectMintedOverHttp && !mintedDirectly.has(record.id);
  const view = (record: KeyRecord): SandboxKey => ({
    id: record.id,
    account: record.account,
    createdAt: record.createdAt,
    status: registry.statusOf(record),
    revokedAt: record.revokedAt,
    expiresAt: record.expiresAt,
    mintedBy: mintedDirectly.has(record.id) ? 'mintKey' : 'http',
    matches: (candidate) => registry.lookup(candidate)?.id === record.id,
  });

  const server = createServer((request, response) => {
    const startedAt = process.hrtime.bigint();
    const receivedAt = Date.now();
    const method = request.method ?? 'GET';
    const { pathname, searchParams } = parseTarget(request.url);
    const matched = matchRoute(method, pathname, sandboxRoutes);
    const route = matched.route?.pattern ?? 'unknown';
    const label = matched.route === undefined ? 'unknown' : `${method} ${route}`;
    stats.requests[label] = (stats.requests[label] ?? 0) + 1;
    response.on('finish', () => {
      if (roundTrips.length >= MAX_ROUND_TRIPS) roundTrips.splice(0, roundTrips.length - MAX_ROUND_TRIPS + 1);
      roundTrips.push({ method, route, ms: Number(process.hrtime.bigint() - startedAt) / 1e6 });
    });

    readBody(request, (body) => {
      const answer = (): void => {
        let result: SandboxResponse;
        if (body === undefined) {
          result = error(413, 'body_too_large', `Request bodies are limited to ${MAX_BODY_BYTES} bytes`);
        } else if (pathname === WEBHOOK_RECEIVER_PATH) {
          result = receiveWebhook({ method, headers: request.headers, body }, options.webhookSecrets);
        } else if (matched.route === undefined) {
          result =
            matched.allowed.length > 0
              ? { ...error(405, 'method_not_allowed', 'Method not allowed'), headers: { allow: matched.allowed.join(', ') } }
              : error(404, 'not_found', 'No such route');
        } else {
          try {
            result = matched.route.handle(
              { method, params: matched.params, query: searchParams, headers: request.headers, body, receivedAt },
              { registry, stats, idempotency, route, ...(matched.route.check ? { rejects } : {}) },
            );
          } catch {
            // The error may name a file or a value; the client gets nothing but the fact.
            result = error(500, 'internal_error', 'Internal sandbox error');
          }
          if (matched.route.check) {
            stats.checks++;
            if (result.status >= 400) stats.rejected++;
            const fault = hooks.checkFault;
            if (fault !== undefined && hooks.faultLeft > 0 && (fault.keys === 'all' || result.status >= 400)) {
              hooks.faultLeft--;
              hooks.faulted++;
              // A check that never answers: the socket stays open until the client gives up or the sandbox closes.
              if (fault.mode === 'timeout') return;
              sendFault(response, fault.mode);
              return;
            }
          }
        }
        send(response, result);
      };
      if (latencyMs === 0) return answer();
      const timer = setTimeout(() => {
        timers.delete(timer);
        answer();
      }, latencyMs);
      timers.add(timer);
    });
  });

  // A malformed request gets a JSON answer too, and never the bytes it sent.
  server.on('clientError', (_error, socket: Socket) => {
    if (socket.writable) {
      const body = JSON.stringify({ error: { code: 'bad_request', message: 'Malformed HTTP request' } });
      socket.end(`HTTP/1.1 400 Bad Request\r\ncontent-type: ${JSON_TYPE}\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
    } else {
      socket.destroy();
    }
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;

  let closing: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    overlap,
    stats,
    roundTrips,
    get rejectMintedOverHttp() {
      return hooks.rejectMintedOverHttp;
    },
    set rejectMintedOverHttp(value: boolean) {
      hooks.rejectMintedOverHttp = value;
    },
    get checkFault() {
      return hooks.checkFault;
    },
    set checkFault(value: CheckFault | undefined) {
      hooks.checkFault = value;
      hooks.faultLeft = value?.times ?? Number.POSITIVE_INFINITY;
    },
    get faulted() {
      return hooks.faulted;
    },
    mintKey(account) {
      const { key, record, revoked } = registry.mint(account);
      mintedDirectly.add(record.id);
      countMint(stats, account, revoked);
      registry.record(account, { at: record.createdAt, keyId: record.id, action: 'mint', route: 'mintKey', status: 201 });
      return key;
    },
    isActive(key) {
      const record = registry.lookup(key);
      return record !== undefined && registry.statusOf(record) === 'active';
    },
    keys(account) {
      return registry.keysOf(account).map(view);
    },
    keyOf(value) {
      const record = registry.lookup(value);
      return record === undefined ? undefined : view(record);
    },
    activity(account, since) {
      if (since === undefined) return registry.activity(account);
      const at = since instanceof Date ? since.getTime() : Date.parse(since);
      if (Number.isNaN(at)) throw new Error('sandbox activity: since is not a valid time');
      return registry.activity(account, at);
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        for (const timer of timers) clearTimeout(timer);
        timers.clear();
        server.close(() => resolve());
        server.closeAllConnections();
        // Sockets still reading a request are not "connections" to closeAllConnections on every Node version.
        for (const socket of sockets) socket.destroy();
      }).finally(() => registry.flush());
      return closing;
    },
  };
}

/** Path and query of a request target; a target that is not a path matches no route. */
function parseTarget(target: string | undefined): { pathname: string; searchParams: URLSearchParams } {
  if (target === undefined || !target.startsWith('/') || target.startsWith('//')) {
    return { pathname: '', searchParams: new URLSearchParams() };
  }
  try {
    const url = new URL(target, 'http://sandbox.invalid');
    return { pathname: url.pathname, searchParams: url.searchParams };
  } catch {
    return { pathname: '', searchParams: new URLSearchParams() };
  }
}

function error(status: number, code: string, message: string): SandboxResponse {
  return { status, body: { error: { code, message } } };
}

/** Collect a request body; undefined when it passed the limit (the rest is read and dropped). */
function readBody(request: IncomingMessage, done: (body: Buffer | undefined) => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  request.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size <= MAX_BODY_BYTES) chunks.push(chunk);
  });
  request.on('end', () => done(size <= MAX_BODY_BYTES ? Buffer.concat(chunks) : undefined));
  // A client that goes away mid-body gets no answer; there is nobody to send it to.
  request.on('error', () => undefined);
}

/** A check's fault, as a firewall, a proxy or a struggling provider answers (see CheckFault). */
function sendFault(response: ServerResponse, mode: Exclude<CheckFault['mode'], 'timeout'>): void {
  if (mode === 'html') {
    const page = '<!DOCTYPE html>\n<html><head><title>401 Authorization Required</title></head><body><h1>Sign in</h1></body></html>\n';
    response.writeHead(401, { 'content-type': 'text/html; charset=utf-8', 'content-length': String(Buffer.byteLength(page)) });
    response.end(page);
    return;
  }
  const [status, code, headers] =
    mode === 'forbidden'
      ? [403, 'forbidden_by_policy', {}]
      : mode === 'rate-limited'
        ? [429, 'rate_limited', { 'retry-after': '1' }]
        : [503, 'service_unavailable', {}];
  send(response, { status, body: { error: { code, message: 'sandbox fault' } }, headers });
}

function send(response: ServerResponse, result: SandboxResponse): void {
  if (response.destroyed) return;
  const headers: Record<string, string> = { 'content-type': JSON_TYPE, 'cache-control': 'no-store', ...result.headers };
  if (result.status === 204 || result.body === undefined) {
    // A 204 carries no Content-Length (RFC 9110 §8.6); other empty answers say 0.
    response.writeHead(result.status, result.status === 204 ? headers : { ...headers, 'content-length': '0' });
    response.end();
    return;
  }
  const text = JSON.stringify(result.body);
  response.writeHead(result.status, { ...headers, 'content-length': String(Buffer.byteLength(text)) });
  response.end(text);
}
