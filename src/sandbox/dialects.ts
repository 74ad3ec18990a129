/**
 * Check dialects the runbook kit's runbooks need, beside the provider dialects of routes.ts: NOWPayments' `x-api-key`,
 * the OAuth 2.0 client-credentials token request (RFC 6749), and a password checked with HTTP Basic authentication
 * (RFC 7617) for a panel. Each answers from the same key registry, so a runbook's `http` steps run unchanged against
 * the sandbox with only the URL swapped. The sources of every status and body are cited beside each route and in
 * docs/providers.md; what no public page settles is marked unconfirmed there.
 *
 * As everywhere in the sandbox, no response carries a key or the request URL.
 */
import { randomBytes } from 'node:crypto';
import { authorization, compile, type CompiledRoute, log, logOwn, present, type Route, routes, type SandboxRequest, type SandboxResponse } from './routes.js';

/**
 * NOWPayments' answer to a missing or unknown `x-api-key`. *Unconfirmed*: the API reference documents the header
 * (https://documenter.getpostman.com/view/7907941/S1a32n38, "Authentication") but not the error body; this is the
 * shape merchants report, and the runbook accepts the 403 only with this `code` (docs/providers.md#nowpayments).
 */
function nowpaymentsRejected(): SandboxResponse {
  return { status: 403, body: { status: false, statusCode: 403, code: 'INVALID_API_KEY', message: 'Invalid api key' } };
}

/** NOWPayments `GET /v1/status`: API availability, which needs no key — so it can never check one. */
const nowpaymentsStatus: Route = {
  method: 'GET',
  pattern: '/v1/status',
  check: false,
  handle() {
    return { status: 200, body: { message: 'OK' } };
  },
};

/** NOWPayments `GET /v1/merchant/coins`: the coins the merchant accepts, which needs the account's `x-api-key`. */
const nowpaymentsMerchantCoins: Route = {
  method: 'GET',
  pattern: '/v1/merchant/coins',
  check: true,
  handle(request, context) {
    const header = request.headers['x-api-key'];
    const presented = present(context, Array.isArray(header) ? header[0] : header);
    if (presented.state !== 'active') {
      logOwn(context, request, presented, 'check', 403);
      return nowpaymentsRejected();
    }
    logOwn(context, request, presented, 'check', 200);
    return { status: 200, body: { selectedCurrencies: ['BTC', 'ETH', 'USDTTRC20'] } };
  },
};

/** RFC 6749 §5.2: an error response is a JSON object with `error` and an optional `error_description`. */
function oauthError(status: number, error: string, description: string, headers?: Record<string, string>): SandboxResponse {
  return { status, body: { error, error_description: description }, ...(headers === undefined ? {} : { headers }) };
}

/**
 * RFC 6749 §2.3.1: the client id and secret are form-urlencoded before they are joined with ":" and base64-encoded
 * (the form encoding writes a space as "+"). A malformed escape leaves the part as sent, which then matches nothing.
 */
function formDecode(part: string): string {
  try {
    return decodeURIComponent(part.replace(/\+/g, ' '));
  } catch {
    return part;
  }
}

/**
 * The OAuth 2.0 token endpoint, client credentials grant (RFC 6749 §4.4, https://www.rfc-editor.org/rfc/rfc6749):
 * - the request is a form (`application/x-www-form-urlencoded`, §4.4.2) with `grant_type=client_credentials`;
 * - the client authenticates with HTTP Basic (§2.3.1), or, which the RFC allows but does not recommend, with
 *   `client_id` and `client_secret` in the form;
 * - a client that fails to authenticate gets `invalid_client` (§5.2), as 401 with `WWW-Authenticate` when it used the
 *   Authorization header ("MUST"), and 401 here too when it used the form (the RFC's "MAY");
 * - a missing grant type is `invalid_request` (400) and another grant type `unsupported_grant_type` (400);
 * - success (§5.1) is 200 with `access_token`, `token_type` and `expires_in`, and `Cache-Control: no-store` and
 *   `Pragma: no-cache`.
 * The sandbox account is the client id, and a key of that account is its secret.
 */
const oauthToken: Route = {
  method: 'POST',
  pattern: '/oauth2/token',
  check: true,
  handle(request, context) {
    const type = String(request.headers['content-type'] ?? '')
      .split(';')[0]!
      .trim()
      .toLowerCase();
    const form = new URLSearchParams(type === 'application/x-www-form-urlencoded' ? request.body.toString('utf8') : '');
    const { clientId, secret, viaHeader } = clientCredentials(request, form);
    const presented = present(context, secret);
    const known = clientId !== undefined && context.registry.hasAccount(clientId);
    if (!known || presented.state !== 'active' || presented.record.account !== clientId) {
      if (known) log(context, request, clientId, presented, 'check', 401);
      else logOwn(context, request, presented, 'check', 401);
      return oauthError(401, 'invalid_client', 'Client authentication failed', viaHeader ? { 'www-authenticate': 'Basic realm="sandbox"' } : undefined);
    }
    if (type !== 'application/x-www-form-urlencoded') {
      log(context, request, clientId, presented, 'check', 400);
      return oauthError(400, 'invalid_request', 'The request must be application/x-www-form-urlencoded');
    }
    const grant = form.get('grant_type');
    if (grant !== 'client_credentials') {
      log(context, request, clientId, presented, 'check', 400);
      return grant === null
        ? oauthError(400, 'invalid_request', 'grant_type is missing')
        : oauthError(400, 'unsupported_grant_type', 'Only client_credentials is supported');
    }
    log(context, request, clientId, presented, 'check', 200);
    return {
      status: 200,
      headers: { pragma: 'no-cache' },
      body: { access_token: randomBytes(24).toString('base64url'), token_type: 'Bearer', expires_in: 3600 },
    };
  },
};

/** The client's id and secret, from the Basic Authorization header (preferred) or from the form. */
function clientCredentials(request: SandboxRequest, form: URLSearchParams): { clientId: string | undefined; secret: string | undefined; viaHeader: boolean } {
  const basic = authorization(request.headers, 'Basic');
  if (basic !== undefined) {
    const decoded = Buffer.from(basic, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return { clientId: undefined, secret: undefined, viaHeader: true };
    return { clientId: formDecode(decoded.slice(0, colon)), secret: formDecode(decoded.slice(colon + 1)), viaHeader: true };
  }
  return { clientId: form.get('client_id') ?? undefined, secret: form.get('client_secret') ?? undefined, viaHeader: false };
}

/**
 * A panel whose API takes the user name and password with HTTP Basic authentication (RFC 7617,
 * https://www.rfc-editor.org/rfc/rfc7617): 200 with the user for the current password; 401 with
 * `WWW-Authenticate: Basic` (RFC 9110 §11.6.1) for any other. The account is the user name, and its key the password.
 */
const panelMe: Route = {
  method: 'GET',
  pattern: '/panel/api/me',
  check: true,
  handle(request, context) {
    const basic = authorization(request.headers, 'Basic');
    const decoded = basic === undefined ? '' : Buffer.from(basic, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    const user = colon < 0 ? '' : decoded.slice(0, colon);
    const presented = present(context, colon < 0 ? undefined : decoded.slice(colon + 1));
    if (!context.registry.hasAccount(user) || presented.state !== 'active' || presented.record.account !== user) {
      if (context.registry.hasAccount(user)) log(context, request, user, presented, 'check', 401);
      else logOwn(context, request, presented, 'check', 401);
      return { status: 401, headers: { 'www-authenticate': 'Basic realm="panel", charset="UTF-8"' }, body: { error: 'unauthorized' } };
    }
    log(context, request, user, presented, 'check', 200);
    return { status: 200, body: { username: user } };
  },
};

/** The dialects of this file, compiled. */
export const kitRoutes: readonly CompiledRoute[] = [nowpaymentsStatus, nowpaymentsMerchantCoins, oauthToken, panelMe].map(compile);

/** Every route the sandbox answers: the provider dialects of routes.ts, then these. */
export const sandboxRoutes: readonly CompiledRoute[] = [...routes, ...kitRoutes];
