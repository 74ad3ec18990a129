/**
 * The sandbox's webhook receiver, for rehearsing the rotation of a webhook signing secret
 * (runbooks/webhook-signing-secret.yaml). It plays a receiver that verifies HMAC-SHA256 signatures the generic way:
 * the sender sends `X-Signature: sha256=<hex>`, the hex HMAC-SHA256 of the raw request body keyed with the signing
 * secret (the pattern GitHub documents for `X-Hub-Signature-256`, https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries;
 * Stripe's `Stripe-Signature: t=…,v1=…` signs `t.body` instead, and is the Stripe runbook's). During a rotation a
 * receiver accepts a signature made with any secret it holds: the current one and, while it is set, the previous one.
 *
 * Written from that pattern independently of the `webhook-signature` step adapter that signs rekey's test events, so
 * that a rehearsal checks one against the other. Which secrets the receiver holds is asked at every delivery (a
 * rehearsal reads them from its .env), as a receiver that reloads its settings would; they are never logged or echoed.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { SandboxResponse } from './routes.js';

/** Where the receiver listens: `POST {sandbox.url}/v1/webhooks/receive`. */
export const WEBHOOK_RECEIVER_PATH = '/v1/webhooks/receive';

/** The signature header the receiver reads. */
export const SIGNATURE_HEADER = 'x-signature';

/** The secrets a receiver accepts now (current first, then previous); none configured means no receiver. */
export type WebhookSecrets = () => readonly string[];

function matches(expected: string, presented: Buffer): boolean {
  const wanted = Buffer.from(expected, 'hex');
  return wanted.length === presented.length && timingSafeEqual(wanted, presented);
}

/** Answer one delivery: 204 when its signature was made with one of the accepted secrets, 401 when not. */
export function receiveWebhook(request: { method: string; headers: IncomingHttpHeaders; body: Buffer }, secrets: WebhookSecrets | undefined): SandboxResponse {
  const fail = (status: number, code: string, message: string): SandboxResponse => ({ status, body: { error: { code, message } } });
  if (secrets === undefined) return fail(404, 'not_found', 'This sandbox has no webhook receiver');
  if (request.method !== 'POST') return { ...fail(405, 'method_not_allowed', 'Method not allowed'), headers: { allow: 'POST' } };
  const header = request.headers[SIGNATURE_HEADER];
  const match = typeof header === 'string' ? /^sha256=([0-9a-f]{64})$/i.exec(header.trim()) : null;
  if (match === null) return fail(400, 'missing_signature', 'X-Signature: sha256=<hex HMAC-SHA256 of the body> is required');
  const presented = Buffer.from(match[1]!, 'hex');
  const accepted = secrets().filter((s) => s !== '');
  const ok = accepted.some((secret) => matches(createHmac('sha256', secret).update(request.body).digest('hex'), presented));
  return ok ? { status: 204 } : fail(401, 'bad_signature', 'The signature was made with none of the secrets this receiver holds');
}
