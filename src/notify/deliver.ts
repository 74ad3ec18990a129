/**
 * Delivering a message to one channel: a generic webhook (the message as JSON), a Slack incoming webhook (`text`), or
 * a command that reads the message as JSON on its stdin (mail, a PagerDuty CLI: anything else), never in its argv,
 * where process listings show it.
 *
 * Each attempt has a time limit; failures worth another attempt (no answer, a dropped connection, HTTP 408, 429 and
 * 5xx, a command that exits non-zero) are retried with backoff (p-retry through src/util/retry.ts); the others (a
 * 4xx: Slack answers 400 invalid_payload, 403, 404 no_service or 410 channel_is_archived, none of which a retry mends,
 * https://api.slack.com/messaging/webhooks#handling_errors) stop at once. A URL is a secret (Slack's carries its
 * token in its path): no error, line or event names it, only the environment variable it came from.
 */
import { spawn } from 'node:child_process';
import { redactor } from '../contract/redactor.js';
import type { NotifyChannelConfig } from '../config/types.js';
import { withRetry } from '../util/retry.js';
import { type NotifyMessage, slackBody } from './message.js';

/** Why one attempt failed, in words safe to print (never the URL), and whether another attempt may help. */
export class DeliveryError extends Error {
  constructor(
    message: string,
    readonly retriable: boolean,
  ) {
    super(message);
    this.name = 'DeliveryError';
  }
}

/** The outcome of delivering one message to one channel. */
export interface Delivery {
  readonly channel: string;
  readonly kind: NotifyMessage['kind'];
  readonly credential: string;
  readonly run: string | undefined;
  readonly ok: boolean;
  readonly attempts: number;
  /** The last attempt's failure, when not delivered. */
  readonly error?: string | undefined;
}

export interface DeliverOptions {
  readonly env: Readonly<Record<string, string | undefined>>;
  /** First backoff delay; doubles per retry, with jitter (tests shorten it). */
  readonly minBackoffMs?: number;
}

/** Deliver `msg` to `channel`, retrying; resolves with what happened, never rejects. */
export async function deliver(channel: NotifyChannelConfig, msg: NotifyMessage, options: DeliverOptions): Promise<Delivery> {
  let attempts = 0;
  const base = { channel: channel.name, kind: msg.kind, credential: msg.credential, run: msg.run };
  try {
    await withRetry(
      async () => {
        attempts++;
        await attempt(channel, msg, options.env);
      },
      { retries: channel.retries, minTimeout: options.minBackoffMs ?? 500, maxTimeout: 5_000 },
    );
    return { ...base, ok: true, attempts };
  } catch (error) {
    const words = error instanceof DeliveryError ? error.message : `unexpected failure: ${(error as Error)?.name ?? 'error'}`;
    return { ...base, ok: false, attempts, error: redactor.scrub(words) };
  }
}

async function attempt(channel: NotifyChannelConfig, msg: NotifyMessage, env: Readonly<Record<string, string | undefined>>): Promise<void> {
  if (channel.channel === 'exec') return run(channel.argv!, JSON.stringify(msg), channel.timeoutMs, env);
  const name = channel.urlEnv!;
  const url = env[name];
  if (url === undefined || url.trim() === '') throw new DeliveryError(`${name} is not set: nothing was sent`, false);
  let parsed: URL;
  try {
    parsed = new URL(url.trim());
  } catch {
    throw new DeliveryError(`${name} does not hold a URL`, false);
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') throw new DeliveryError(`${name} is not an http(s) URL`, false);
  await post(parsed, channel.channel === 'slack' ? slackBody(msg) : msg, channel.timeoutMs);
}

async function post(url: URL, body: unknown, timeoutMs: number): Promise<void> {
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'rekey' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
      // A redirect would send the body to a URL no one configured.
      redirect: 'error',
    });
  } catch (error) {
    const e = error as Error & { cause?: { code?: string } };
    if (e.name === 'TimeoutError' || e.name === 'AbortError') throw new DeliveryError(`no answer within ${seconds(timeoutMs)}`, true);
    // The cause's code (ECONNREFUSED, ENOTFOUND), never its message, which may quote the host and path.
    throw new DeliveryError(`could not connect (${e.cause?.code ?? 'network error'})`, true);
  }
  // Read the body to the end so the connection is released; its text is not shown (a proxy may echo the request).
  await response.arrayBuffer().catch(() => undefined);
  if (response.ok) return;
  const retriable = response.status === 408 || response.status === 429 || response.status >= 500;
  throw new DeliveryError(`HTTP ${response.status}`, retriable);
}

function run(argv: readonly string[], stdin: string, timeoutMs: number, env: Readonly<Record<string, string | undefined>>): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'ignore', 'pipe'], env: env as NodeJS.ProcessEnv });
    let stderr = '';
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      if (stderr.length < 4_000) stderr += chunk;
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(stdin);
    child.on('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(new DeliveryError(`${argv[0]}: ${error.code === 'ENOENT' ? 'command not found' : (error.code ?? 'could not start')}`, false));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) return resolve();
      const tail = redactor.scrub(stderr.trim().split('\n').slice(-2).join(' | '));
      const why = timedOut ? `no end within ${seconds(timeoutMs)}` : code === null ? `killed by ${signal}` : `exit ${code}`;
      reject(new DeliveryError(`${argv[0]}: ${why}${tail === '' ? '' : ` (${tail.length > 200 ? `${tail.slice(0, 199)}…` : tail})`}`, true));
    });
  });
}

function seconds(ms: number): string {
  return ms < 1_000 ? `${ms}ms` : `${Math.round(ms / 1_000)}s`;
}
