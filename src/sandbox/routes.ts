/**
 * The sandbox's HTTP routes: its own small API (mint, whoami, revoke, activity) and the key-check calls of real
 * providers (Streampixel, Stripe, Discord, GitHub, PayPal), with their status codes and error shapes as docs/providers.md
 * records them, all answered from one key registry. So a real runbook's `http` steps run unchanged against the
 * sandbox, with only the base URL swapped.
 *
 * No response ever carries a key (except the mint response, which is the key's one showing, and its idempotent replay
 * to the same client) or the request URL, which for Streampixel carries the key in its query.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { type IdempotencyCache, MAX_IDEMPOTENCY_KEY_LENGTH, requestFingerprint } from './idempotency.js';
import { type ActivityAction, type KeyRecord, type KeyRegistry, isAccountName, MAX_EXPIRE_SECONDS } from './registry.js';

/** A parsed request, as a route handler sees it. */
export interface SandboxRequest {
  readonly method: string;
  readonly params: Readonly<Record<string, string>>;
  readonly query: URLSearchParams;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
  /** Epoch milliseconds the request arrived. */
  readonly receivedAt: number;
}

export interface SandboxResponse {
  readonly status: number;
  /** JSON-serialised; omitted for 204. */
  readonly body?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
}

/** Counters a benchmark or a test reads; the server owns the request counts, the routes the rest. */
export interface SandboxStats {
  /** Keys minted, over HTTP or with `mintKey`. */
  minted: number;
  /** Keys minted per account, over HTTP or with `mintKey` (an idempotent replay mints nothing and is not counted). */
  mintsByAccount: Record<string, number>;
  /** Mint requests answered with the saved response of an earlier request with the same `Idempotency-Key`. */
  replays: number;
  /** Requests to a key-check route (whoami and every provider dialect), accepted or not. */
  checks: number;
  /** Key checks answered with a rejection (4xx). */
  rejected: number;
  /** Keys that became revoked (or expired): by `DELETE /v1/keys/self`, or by a mint under overlap `none`. */
  revokes: number;
  /** Requests by `METHOD /route/pattern` (`unknown` for a path no route knows). */
  requests: Record<string, number>;
}

export interface RouteContext {
  readonly registry: KeyRegistry;
  readonly stats: SandboxStats;
  /** Saved mint responses by `Idempotency-Key` (memory only: see idempotency.ts). */
  readonly idempotency: IdempotencyCache;
  /** The route pattern, for the activity log. */
  readonly route: string;
  /** Set for key-check routes while a test breaks checks: true for an active key the check must reject. */
  readonly rejects?: (record: KeyRecord) => boolean;
}

export interface Route {
  readonly method: string;
  readonly pattern: string;
  /** A key-check route: counted in `stats.checks`, and its rejections in `stats.rejected`. */
  readonly check: boolean;
  handle(request: SandboxRequest, context: RouteContext): SandboxResponse;
}

/** A compiled route: its pattern as a regular expression with named parameters. */
export interface CompiledRoute extends Route {
  readonly regex: RegExp;
  readonly names: readonly string[];
}

/** The credentials a request presented, looked up: the record is there for any key the sandbox ever issued. */
export type Presented = { readonly state: 'unknown' } | { readonly state: 'active' | 'revoked' | 'expired'; readonly record: KeyRecord };

export function present(context: RouteContext, key: string | undefined): Presented {
  if (key === undefined || key === '') return { state: 'unknown' };
  const record = context.registry.lookup(key);
  if (record === undefined) return { state: 'unknown' };
  const state = context.registry.statusOf(record);
  // Test hook (see SandboxOptions.rejectMintedOverHttp): an active key answered as if it were revoked.
  if (state === 'active' && context.rejects?.(record) === true) return { state: 'revoked', record };
  return { state, record };
}

/** The credential after `<scheme> ` in the Authorization header (the scheme compared without case). */
export function authorization(headers: IncomingHttpHeaders, ...schemes: string[]): string | undefined {
  const value = headers.authorization;
  if (value === undefined) return undefined;
  const space = value.indexOf(' ');
  if (space < 0) return undefined;
  const scheme = value.slice(0, space).toLowerCase();
  if (!schemes.some((s) => s.toLowerCase() === scheme)) return undefined;
  return value.slice(space + 1).trim();
}

/** Log a request against the account it touched; a key of another account is logged without its id. */
export function log(context: RouteContext, request: SandboxRequest, account: string, presented: Presented, action: ActivityAction, status: number): void {
  const keyId = presented.state !== 'unknown' && presented.record.account === account ? presented.record.id : null;
  context.registry.record(account, { at: new Date(request.receivedAt).toISOString(), keyId, action, route: context.route, status });
}

/** Log against the presented key's own account, when the key is one the sandbox issued. */
export function logOwn(context: RouteContext, request: SandboxRequest, presented: Presented, action: ActivityAction, status: number): void {
  if (presented.state !== 'unknown') log(context, request, presented.record.account, presented, action, status);
}

/** A stable, number-like id for an account (Discord snowflakes, GitHub user ids). */
function numericId(account: string, digits: number): string {
  const hex = createHash('sha256').update(account, 'utf8').digest('hex').slice(0, 13);
  return BigInt(`0x${hex}`).toString().padStart(digits, '1').slice(0, digits);
}

function sandboxError(status: number, code: string, message: string): SandboxResponse {
  return { status, body: { error: { code, message } } };
}

/** The sandbox's own rejection of a key: expired keys say so; revoked and unknown keys look the same. */
function keyRejected(presented: Presented): SandboxResponse {
  return presented.state === 'expired' ? sandboxError(401, 'api_key_expired', 'API key expired') : sandboxError(401, 'invalid_api_key', 'Invalid API key');
}

/** Parse an optional JSON object body; undefined for an empty body, null when it is not a JSON object. */
function jsonBody(body: Buffer): Record<string, unknown> | undefined | null {
  const text = body.toString('utf8').trim();
  if (text === '') return undefined;
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** Count one mint in the stats, for the sandbox and for its account. */
export function countMint(stats: SandboxStats, account: string, revoked: number): void {
  stats.minted++;
  stats.mintsByAccount[account] = (stats.mintsByAccount[account] ?? 0) + 1;
  stats.revokes += revoked;
}

/**
 * The request's `Idempotency-Key`: undefined when absent, or the refusal of one that is empty or longer than Stripe
 * allows (https://docs.stripe.com/api/idempotent_requests: "up to 255 characters long").
 */
function idempotencyKey(headers: IncomingHttpHeaders): string | undefined | SandboxResponse {
  const value = headers['idempotency-key'];
  if (value === undefined) return undefined;
  const key = Array.isArray(value) ? value.join(', ') : value;
  if (key.trim() === '' || key.length > MAX_IDEMPOTENCY_KEY_LENGTH) {
    return sandboxError(400, 'invalid_request', `An Idempotency-Key must be 1 to ${MAX_IDEMPOTENCY_KEY_LENGTH} characters`);
  }
  return key;
}

const mintKey: Route = {
  method: 'POST',
  pattern: '/v1/accounts/:account/keys',
  check: false,
  // The provider's dashboard "create key" button: it needs no key, as a person logged in to the dashboard needs none.
  // With an Idempotency-Key it behaves as Stripe's POST requests do (see idempotency.ts): a retry of a mint whose
  // answer was lost gets the same key back instead of a second live key.
  handle(request, context) {
    const account = request.params.account ?? '';
    if (!isAccountName(account)) {
      return sandboxError(400, 'invalid_account', 'Account names are 1 to 128 letters, digits, ".", "_", "@" or "-"');
    }
    const body = jsonBody(request.body);
    if (body === null) return sandboxError(400, 'invalid_request', 'The body must be a JSON object');
    const expire = body?.expireOthersInSeconds;
    if (expire !== undefined) {
      if (context.registry.overlap !== 'expiring') {
        return sandboxError(400, 'invalid_request', 'expireOthersInSeconds needs a sandbox with overlap "expiring"');
      }
      if (typeof expire !== 'number' || !Number.isFinite(expire) || expire < 0 || expire > MAX_EXPIRE_SECONDS) {
        return sandboxError(400, 'invalid_request', `expireOthersInSeconds must be a number from 0 to ${MAX_EXPIRE_SECONDS}`);
      }
    }
    const idempotent = idempotencyKey(request.headers);
    if (typeof idempotent === 'object') return idempotent;
    // Validation is done: from here the request counts as executed, so its answer is what a retry gets back.
    const fingerprint = idempotent === undefined ? '' : requestFingerprint(context.route, request.params, body);
    if (idempotent !== undefined) {
      const earlier = context.idempotency.lookup(account, idempotent, fingerprint);
      if (earlier.kind === 'mismatch') {
        return sandboxError(400, 'idempotency_error', 'Keys for idempotent requests can only be used with the same parameters they were first used with');
      }
      if (earlier.kind === 'replay') {
        context.stats.replays++;
        return { ...earlier.response, headers: { 'idempotent-replayed': 'true' } };
      }
    }
    const { key, record, revoked } = context.registry.mint(account, expire as number | undefined);
    countMint(context.stats, account, revoked);
    log(context, request, account, { state: 'active', record }, 'mint', 201);
    const response = { status: 201, body: { key, id: record.id, createdAt: record.createdAt } };
    if (idempotent !== undefined) context.idempotency.save(account, idempotent, fingerprint, response);
    return response;
  },
};

const whoami: Route = {
  method: 'GET',
  pattern: '/v1/whoami',
  check: true,
  handle(request, context) {
    const presented = present(context, authorization(request.headers, 'Bearer'));
    if (presented.state !== 'active') {
      logOwn(context, request, presented, 'whoami', 401);
      return keyRejected(presented);
    }
    logOwn(context, request, presented, 'whoami', 200);
    return { status: 200, body: { account: presented.record.account, keyId: presented.record.id } };
  },
};

const revokeSelf: Route = {
  method: 'DELETE',
  pattern: '/v1/keys/self',
  check: false,
  // A second revoke answers 401, which runbooks read as "already gone": revoke stays idempotent. Under overlap
  // `expiring` the revoke is Stripe's "expire now": the key expires, and answers `api_key_expired` from then on, as an
  // expired Stripe key does (docs/providers.md#stripe), rather than `invalid_api_key`.
  handle(request, context) {
    const presented = present(context, authorization(request.headers, 'Bearer'));
    const ended =
      presented.state === 'active' &&
      (context.registry.overlap === 'expiring' ? context.registry.expire(presented.record) : context.registry.revoke(presented.record));
    if (presented.state !== 'active' || !ended) {
      logOwn(context, request, presented, 'revoke', 401);
      return keyRejected(presented);
    }
    context.stats.revokes++;
    logOwn(context, request, presented, 'revoke', 204);
    return { status: 204 };
  },
};

const activity: Route = {
  method: 'GET',
  pattern: '/v1/accounts/:account/activity',
  check: false,
  // Reading the log is not itself logged: the log answers "what did keys do", and an audit must not change it.
  handle(request, context) {
    const account = request.params.account ?? '';
    const presented = present(context, authorization(request.headers, 'Bearer'));
    if (presented.state !== 'active') return keyRejected(presented);
    if (presented.record.account !== account) {
      return sandboxError(403, 'forbidden', "This key cannot read another account's activity");
    }
    const sinceText = request.query.get('since');
    let since: number | undefined;
    if (sinceText !== null) {
      since = Date.parse(sinceText);
      if (Number.isNaN(since)) return sandboxError(400, 'invalid_since', 'since must be an ISO 8601 time');
    }
    return { status: 200, body: { events: context.registry.activity(account, since) } };
  },
};

/** Streampixel: the key travels in the query as `apikey`, and only the user's current key passes. */
const streampixelUserStats: Route = {
  method: 'GET',
  pattern: '/pixelStripeApi/projects/userStats/:projectId',
  check: true,
  handle(request, context) {
    const userId = request.query.get('userId') ?? '';
    const presented = present(context, request.query.get('apikey') ?? undefined);
    if (!context.registry.hasAccount(userId)) {
      logOwn(context, request, presented, 'check', 401);
      return { status: 401, body: { message: 'Invalid User' } };
    }
    if (presented.state !== 'active' || presented.record.account !== userId) {
      log(context, request, userId, presented, 'check', 401);
      return { status: 401, body: { message: 'Unauthorized: Invalid API Key' } };
    }
    log(context, request, userId, presented, 'check', 200);
    return { status: 200, body: { liveUser: 0, queueUser: 0 } };
  },
};

/** Stripe: tell rejections apart by `error.code`, as Stripe advises (docs/providers.md#stripe), not by `error.type`. */
const stripeBalance: Route = {
  method: 'GET',
  pattern: '/v1/balance',
  check: true,
  handle(request, context) {
    const presented = present(context, authorization(request.headers, 'Bearer'));
    if (presented.state !== 'active') {
      logOwn(context, request, presented, 'check', 401);
      const expired = presented.state === 'expired';
      return {
        status: 401,
        body: {
          error: {
            type: 'invalid_request_error',
            code: expired ? 'api_key_expired' : 'invalid_api_key',
            message: expired ? 'Expired API Key provided.' : 'Invalid API Key provided.',
          },
        },
      };
    }
    logOwn(context, request, presented, 'check', 200);
    const zero = [{ amount: 0, currency: 'usd', source_types: { card: 0 } }];
    return { status: 200, body: { object: 'balance', available: zero, pending: zero, livemode: false } };
  },
};

/** Discord: `Bot` scheme, and a `DiscordBot` User-Agent, without which Discord answers 400. */
const discordMe: Route = {
  method: 'GET',
  pattern: '/api/v10/users/@me',
  check: true,
  handle(request, context) {
    const presented = present(context, authorization(request.headers, 'Bot'));
    if (!(request.headers['user-agent'] ?? '').startsWith('DiscordBot')) {
      logOwn(context, request, presented, 'check', 400);
      return { status: 400, body: { message: 'A User-Agent beginning "DiscordBot" is required', code: 0 } };
    }
    if (presented.state !== 'active') {
      logOwn(context, request, presented, 'check', 401);
      return { status: 401, body: { message: '401: Unauthorized', code: 0 } };
    }
    logOwn(context, request, presented, 'check', 200);
    const account = presented.record.account;
    return { status: 200, body: { id: numericId(account, 18), username: account, discriminator: '0', bot: true } };
  },
};

/** GitHub: `Bearer` (or the older `token`); an absent API version means 2022-11-28, another one is refused. */
const githubUser: Route = {
  method: 'GET',
  pattern: '/user',
  check: true,
  handle(request, context) {
    const presented = present(context, authorization(request.headers, 'Bearer', 'token'));
    const version = request.headers['x-github-api-version'];
    if (version !== undefined && version !== '2022-11-28') {
      logOwn(context, request, presented, 'check', 400);
      return { status: 400, body: { message: 'Unsupported API version', documentation_url: 'https://docs.github.com/rest' } };
    }
    if (presented.state !== 'active') {
      logOwn(context, request, presented, 'check', 401);
      return { status: 401, body: { message: 'Bad credentials', documentation_url: 'https://docs.github.com/rest', status: '401' } };
    }
    logOwn(context, request, presented, 'check', 200);
    const account = presented.record.account;
    return { status: 200, body: { login: account, id: Number(numericId(account, 9)), type: 'User' } };
  },
};

/** PayPal: basic auth `<client id>:<secret>`, where the sandbox account is the client id and the key the secret. */
const paypalToken: Route = {
  method: 'POST',
  pattern: '/v1/oauth2/token',
  check: true,
  handle(request, context) {
    const basic = authorization(request.headers, 'Basic');
    const decoded = basic === undefined ? '' : Buffer.from(basic, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    const clientId = colon < 0 ? '' : decoded.slice(0, colon);
    const presented = present(context, colon < 0 ? undefined : decoded.slice(colon + 1));
    const known = context.registry.hasAccount(clientId);
    if (!known || presented.state !== 'active' || presented.record.account !== clientId) {
      if (known) log(context, request, clientId, presented, 'check', 401);
      else logOwn(context, request, presented, 'check', 401);
      return { status: 401, body: { error: 'invalid_client', error_description: 'Client Authentication failed' } };
    }
    const grantType = new URLSearchParams(request.body.toString('utf8')).get('grant_type');
    if (grantType !== 'client_credentials') {
      log(context, request, clientId, presented, 'check', 400);
      return {
        status: 400,
        body: { error: 'unsupported_grant_type', error_description: grantType === null ? 'Grant Type is NULL' : 'Unsupported grant_type' },
      };
    }
    log(context, request, clientId, presented, 'check', 200);
    return {
      status: 200,
      body: {
        scope: 'https://uri.paypal.com/services/payments/payment',
        access_token: `A21AA${randomBytes(24).toString('base64url')}`,
        token_type: 'Bearer',
        app_id: 'APP-SANDBOX',
        expires_in: 32400,
      },
    };
  },
};

/** Every route the sandbox answers, in match order. */
export const routes: readonly CompiledRoute[] = [
  mintKey,
  whoami,
  revokeSelf,
  activity,
  streampixelUserStats,
  stripeBalance,
  discordMe,
  githubUser,
  paypalToken,
].map(compile);

export function compile(route: Route): CompiledRoute {
  const names: string[] = [];
  const source = route.pattern
    .split('/')
    .map((segment) => {
      if (!segment.startsWith(':')) return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      names.push(segment.slice(1));
      return '([^/]+)';
    })
    .join('/');
  return { ...route, regex: new RegExp(`^${source}/?$`), names };
}

/** The route for a method and path (in `table`, by default these routes); or, when only the path matched, the methods it allows. */
export function matchRoute(
  method: string,
  path: string,
  table: readonly CompiledRoute[] = routes,
): { route: CompiledRoute; params: Record<string, string> } | { route: undefined; allowed: string[] } {
  const allowed: string[] = [];
  for (const route of table) {
    const match = route.regex.exec(path);
    if (match === null) continue;
    if (route.method !== method) {
      allowed.push(route.method);
      continue;
    }
    const params: Record<string, string> = {};
    route.names.forEach((name, index) => {
      // A malformed escape is left as sent; the handler then rejects the name as invalid.
      const raw = match[index + 1] ?? '';
      try {
        params[name] = decodeURIComponent(raw);
      } catch {
        params[name] = raw;
      }
    });
    return { route, params };
  }
  return { route: undefined, allowed };
}
