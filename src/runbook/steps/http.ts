/**
 * The `http` step: one request, templated; the status must be one of `expect`. Retries (for propagation)
 * repeat the request while the status is not expected. URLs and bodies that carry a secret are never printed:
 * messages name the step, the method, and the URL's origin and path only.
 */
import { Secret } from '../../contract/secret.js';
import { redactor } from '../../contract/redactor.js';
import { describeUrl } from '../load.js';
import { render } from '../template.js';
import type { HttpStep, TemplateVars } from '../../contract/runbook.js';
import { ProviderUnreachableError, StepFailedError, type ProviderCall, type StepContext, type StepOutcome } from '../../contract/steps.js';

/** One request of an http step, rendered: what `sendHttp` sends. */
export interface HttpRequest {
  readonly url: string;
  readonly init: { method: string; headers: Record<string, string>; body: string | undefined };
  /** The method and the URL template's origin and path, for messages (never the rendered URL). */
  readonly where: string;
}

/**
 * What one request got: a response (status, content type, text, and the wait a 429 or 503 asked for), or no
 * response at all (a timeout, a refused connection, a bad certificate).
 */
export type HttpAnswer =
  | { readonly kind: 'response'; readonly status: number; readonly contentType: string; readonly text: string; readonly retryAfterMs: number | undefined }
  | { readonly kind: 'none'; readonly reason: string; readonly timeout: boolean };

/** Render an http step's URL, headers and body with `vars`. */
export function prepareHttp(step: HttpStep, vars: TemplateVars): HttpRequest {
  const url = render(step.url, vars, 'url').text;
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(step.headers)) headers[name] = render(value, vars).text;
  let body: string | undefined;
  if (step.form !== undefined) {
    headers['content-type'] ??= 'application/x-www-form-urlencoded';
    body = new URLSearchParams(Object.fromEntries(Object.entries(step.form).map(([k, v]) => [k, render(v, vars).text]))).toString();
  } else if (typeof step.body === 'string') {
    body = render(step.body, vars).text;
  } else if (step.body !== undefined) {
    headers['content-type'] ??= 'application/json';
    body = JSON.stringify(renderDeep(step.body, vars));
  }
  if (step.basicAuth !== undefined) {
    const user = render(step.basicAuth.username, vars).text;
    const password = render(step.basicAuth.password, vars).text;
    const token = Buffer.from(`${user}:${password}`).toString('base64');
    // The encoded form is as secret as the password: the redactor must know it too.
    new Secret(token);
    headers['authorization'] = `Basic ${token}`;
  }
  return { url, init: { method: step.method, headers, body }, where: `${step.method} ${describeUrl(step.url)}` };
}

/**
 * Send a prepared request once; the round trip is added to `roundTrips`, and the call to `calls` (rekey's own requests,
 * told apart from the provider's activity log in an incident report). Never throws for a network fault.
 */
export async function sendHttp(step: HttpStep, request: HttpRequest, roundTrips: number[], calls?: ProviderCall[]): Promise<HttpAnswer> {
  const started = performance.now();
  const sent = new Date();
  let response: Response;
  try {
    response = await fetch(request.url, { ...request.init, signal: AbortSignal.timeout(step.timeoutMs), redirect: 'manual' });
  } catch (error) {
    roundTrips.push(performance.now() - started);
    logCall(calls, step, request.url, sent, undefined);
    // fetch() says "fetch failed"; the reason (ECONNREFUSED, a timeout, a bad certificate) is in its cause.
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    const name = (error as Error).name;
    const timeout = name === 'TimeoutError' || name === 'AbortError';
    return {
      kind: 'none',
      reason: timeout ? `timeout after ${step.timeoutMs} ms` : (cause?.code ?? cause?.message ?? (error as Error).message ?? name),
      timeout,
    };
  }
  let text: string;
  try {
    text = await response.text();
  } catch (error) {
    roundTrips.push(performance.now() - started);
    logCall(calls, step, request.url, sent, response.status);
    // Headers came, the body did not (the connection dropped, or the timeout hit while it was read).
    const timeout = (error as Error).name === 'TimeoutError' || (error as Error).name === 'AbortError';
    return { kind: 'none', reason: timeout ? `timeout after ${step.timeoutMs} ms while reading the answer` : 'the connection dropped mid-answer', timeout };
  }
  roundTrips.push(performance.now() - started);
  logCall(calls, step, request.url, sent, response.status);
  return {
    kind: 'response',
    status: response.status,
    contentType: response.headers.get('content-type') ?? '',
    text,
    retryAfterMs: retryAfter(response.headers.get('retry-after')),
  };
}

/** Retry-After as milliseconds: delay-seconds or an HTTP date (RFC 9110 §10.2.3); undefined when absent or unreadable. */
export function retryAfter(value: string | null, now = Date.now()): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** Run one http step. */
export async function runHttp(step: HttpStep, ctx: StepContext): Promise<StepOutcome> {
  const request = prepareHttp(step, ctx.vars);
  const attempts = step.retry?.attempts ?? 1;
  let last = '';
  let answered = false;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    if (attempt > 1) await sleep(step.retry!.delayMs);
    const answer = await sendHttp(step, request, ctx.roundTrips, ctx.calls);
    if (answer.kind === 'none') {
      last = `no response (${answer.reason})`;
      continue;
    }
    answered = true;
    const { status, text } = answer;
    if (step.expect.includes(status)) {
      const mismatch = matchProblem(step, text);
      if (mismatch === undefined) return outcome(step, status, text, attempt);
      last = `got ${status} but ${mismatch}`;
      continue;
    }
    last = `got ${status}${summary(text)}`;
  }
  const message = `${step.name}: ${last}, expected ${step.expect.join(' or ')}${attempts > 1 ? ` (after ${attempts} attempts)` : ''}`;
  if (!answered)
    throw new ProviderUnreachableError(step.id, message, `the provider could not be reached: check the network and the URL (request was ${request.where})`);
  throw new StepFailedError(step.id, message, `request was ${request.where}`);
}

/** Note one request in the run's list of its own calls: host and path only, scrubbed (the query may carry a key). */
function logCall(calls: ProviderCall[] | undefined, step: HttpStep, url: string, sent: Date, status: number | undefined): void {
  if (calls === undefined) return;
  let host = '';
  let path = '';
  try {
    const parsed = new URL(url);
    host = parsed.host;
    path = parsed.pathname;
  } catch {
    // fetch() refused it too: there was no request to log.
    return;
  }
  calls.push({
    step: step.id,
    name: step.name,
    method: step.method,
    host: redactor.scrub(host),
    path: redactor.scrub(path),
    sent: sent.toISOString(),
    answered: new Date().toISOString(),
    status,
  });
}

/** Why the response's fields do not match the step's `match`, or undefined when they do (or there is none). */
export function matchProblem(step: HttpStep, text: string): string | undefined {
  const entries = Object.entries(step.match);
  if (entries.length === 0) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return `the response is not JSON, so ${entries.map(([path]) => path).join(', ')} cannot be checked`;
  }
  for (const [path, allowed] of entries) {
    const value = pick(json, path) ?? null;
    if (!allowed.includes(value as string | number | boolean | null)) {
      const shown = value === null ? 'absent' : redactor.scrub(JSON.stringify(value)).slice(0, 80);
      return `${path} is ${shown}, expected ${allowed.map((v) => (v === null ? 'absent' : JSON.stringify(v))).join(' or ')}`;
    }
  }
  return undefined;
}

/** The matched fields, for the step's detail: `error.code api_key_expired`. */
export function matched(step: HttpStep, text: string): string {
  const entries = Object.keys(step.match);
  if (entries.length === 0) return '';
  const json = JSON.parse(text) as unknown;
  return entries.map((path) => ` · ${path} ${pick(json, path) === undefined ? 'absent' : redactor.scrub(String(pick(json, path))).slice(0, 60)}`).join('');
}

function outcome(step: HttpStep, status: number, text: string, attempt: number): StepOutcome {
  const tries = `${matched(step, text)}${attempt > 1 ? ` after ${attempt} attempts` : ''}`;
  if (step.capture === undefined && step.record.length === 0) return { detail: `${status}${tries}` };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new StepFailedError(step.id, `${step.name}: got ${status} but the response is not JSON, so ${step.capture ?? step.record[0]} cannot be read`);
  }
  let minted: Secret | undefined;
  if (step.capture !== undefined) {
    const value = pick(json, step.capture);
    if (typeof value !== 'string' || value === '') throw new StepFailedError(step.id, `${step.name}: the response has no string at "${step.capture}"`);
    minted = new Secret(value);
  }
  const record: Record<string, unknown> = {};
  for (const path of step.record) record[path] = JSON.parse(redactor.scrub(JSON.stringify(pick(json, path) ?? null)));
  return { minted, detail: `${status}${tries}`, record };
}

/** The value at a dot path (`data.token`, `events`) of parsed JSON. */
export function pick(json: unknown, path: string): unknown {
  let node = json;
  for (const part of path.split('.')) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<string, unknown>)[part];
  }
  return node;
}

function renderDeep(value: unknown, vars: TemplateVars): unknown {
  if (typeof value === 'string') return render(value, vars).text;
  if (Array.isArray(value)) return value.map((v) => renderDeep(v, vars));
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, renderDeep(v, vars)]));
  return value;
}

// A provider's error text helps ("Invalid API Key"), but bounded and scrubbed: bodies can echo input.
export function summary(text: string): string {
  const trimmed = redactor.scrub(text.replace(/\s+/g, ' ').trim());
  if (trimmed === '') return '';
  return ` (${trimmed.length > 160 ? `${trimmed.slice(0, 159)}…` : trimmed})`;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
