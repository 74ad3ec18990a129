/**
 * "Dead" means dead: what a verifyRevoked check's answer proves about a key (docs/providers.md#what-counts-as-dead).
 *
 * Only the runbook's documented rejection counts as dead: a status of its `expect:` with the fields of its `match:`
 * (a status other than 401 only with `match:`, as the lint requires). A 2xx means the key still works. Everything
 * else is unknown, never dead: a 403 without the documented code (a firewall, an IP allow-list), an HTML page (a
 * proxy, a CDN, a login page), a redirect, a 429 or a 5xx, a timeout or a refused connection. Secret scanners that
 * counted such answers as "revoked" reported live keys as dead (trufflesecurity/trufflehog#5184, #5164).
 *
 * While the answer is unknown the check is asked again, a bounded number of times, with back-off, never faster than
 * once a second (Discord bans a client after 10,000 invalid requests in 10 minutes:
 * https://discord.com/developers/docs/topics/rate-limits#invalid-request-limit), and after the wait a 429 or 503 names
 * in Retry-After. The same endpoint is then asked with the new key as a control: if it rejects the new key the same
 * way, the endpoint is down or misconfigured and the "dead" proof is void.
 */
import type { HttpStep, TemplateVars } from '../../contract/runbook.js';
import type { ProviderCall } from '../../contract/steps.js';
import { matched, matchProblem, prepareHttp, sendHttp, sleep, summary, type HttpAnswer } from './http.js';

/** What one answer says about the key presented. */
export interface Verdict {
  readonly state: 'dead' | 'alive' | 'unknown';
  /** The answer in a few words, never a value: `401 · message Bad credentials`, `403 (not the documented rejection)`. */
  readonly why: string;
  /** The wait the provider asked for (Retry-After), when it asked. */
  readonly retryAfterMs?: number | undefined;
}

/** Classify one answer to a verifyRevoked check. Pure. */
export function classifyAnswer(step: HttpStep, answer: HttpAnswer): Verdict {
  if (answer.kind === 'none') return { state: 'unknown', why: `no answer (${answer.reason})` };
  const { status, contentType, text } = answer;
  const retry = answer.retryAfterMs === undefined ? {} : { retryAfterMs: answer.retryAfterMs };
  // An HTML page is a proxy's, a CDN's or a login page's, whatever its status: no API documents its rejection so.
  if (/html/i.test(contentType) || /^\s*<(!doctype|html|head|body)\b/i.test(text))
    return { state: 'unknown', why: `${status} with an HTML page, not the API's answer`, ...retry };
  if (status >= 200 && status <= 299) return { state: 'alive', why: `${status}: the key is accepted` };
  if (status === 429) return { state: 'unknown', why: '429 rate limited', ...retry };
  if (status >= 500) return { state: 'unknown', why: `${status} provider error${summary(text)}`, ...retry };
  if (step.expect.includes(status)) {
    const hasMatch = Object.keys(step.match).length > 0;
    // Any status but 401 proves nothing without the provider's error code: a 403 may be a firewall's.
    if (status !== 401 && !hasMatch) return { state: 'unknown', why: `${status} without the documented error code` };
    const mismatch = matchProblem(step, text);
    if (mismatch === undefined) return { state: 'dead', why: `${status}${matched(step, text)}` };
    return { state: 'unknown', why: `${status} but ${mismatch}: not the documented rejection` };
  }
  return { state: 'unknown', why: `${status}${summary(text)}, not the documented rejection (${step.expect.join(' or ')})`, ...retry };
}

/** Unknown answers are asked again this many times in all, at most. */
export const UNKNOWN_ATTEMPTS = 4;
/** Never ask again sooner than this after an unknown answer (see Discord's invalid-request limit above). */
export const UNKNOWN_FLOOR_MS = 1000;
/** Back-off doubles up to this. */
export const UNKNOWN_CEILING_MS = 8000;
/** A Retry-After longer than this is not waited for: the answer stays unknown and the run says so. */
export const MAX_RETRY_AFTER_MS = 60_000;

/**
 * How long to wait before asking again after the `n`th unknown answer (n ≥ 1): doubling from the step's retry delay
 * (at least UNKNOWN_FLOOR_MS) up to UNKNOWN_CEILING_MS, and at least what Retry-After asked. Undefined: stop asking
 * (the attempts are used up, or the provider asked for a wait longer than MAX_RETRY_AFTER_MS). Pure.
 */
export function unknownDelay(n: number, baseMs: number, retryAfterMs: number | undefined, attempts = UNKNOWN_ATTEMPTS): number | undefined {
  if (n >= attempts) return undefined;
  if (retryAfterMs !== undefined && retryAfterMs > MAX_RETRY_AFTER_MS) return undefined;
  const backoff = Math.min(Math.max(baseMs, UNKNOWN_FLOOR_MS) * 2 ** (n - 1), UNKNOWN_CEILING_MS);
  return Math.max(backoff, retryAfterMs ?? 0);
}

/** The outcome of asking a check until it gives the wanted answer, or the attempts run out. */
export interface Probe {
  /** The last verdict (the wanted one, when it came). */
  readonly state: Verdict['state'];
  readonly why: string;
  readonly attempts: number;
  /** Every answer that was not the wanted one, counted: `403 (…) ×2, no answer (timeout after 2000 ms) ×2`. */
  readonly seen: string;
}

export interface ProbeOptions {
  /** `dead`: the old key's proof; `alive`: the control, the new key presented in the old one's place. */
  readonly want: 'dead' | 'alive';
  /** Answers that are known but not wanted (the key still accepted; the new key not yet live) are asked again this often (propagation). */
  readonly propagationAttempts: number;
  /** Unknown answers are asked again this often in all, with back-off (unknownDelay). */
  readonly unknownAttempts: number;
  readonly roundTrips: number[];
  /** Where each request is noted as one of rekey's own calls (see sendHttp). */
  readonly calls?: ProviderCall[];
  /** For tests: the clock to wait with. */
  readonly sleep?: (ms: number) => Promise<void>;
}

/** Ask one verifyRevoked check, rendered with `vars`, until it gives `want` or the attempts run out. */
export async function probe(step: HttpStep, vars: TemplateVars, options: ProbeOptions): Promise<Probe> {
  const request = prepareHttp(step, vars);
  const wait = options.sleep ?? sleep;
  const counts = new Map<string, number>();
  let known = 0;
  let unknown = 0;
  for (let attempt = 1; ; attempt++) {
    const verdict = classifyAnswer(step, await sendHttp(step, request, options.roundTrips, options.calls));
    const seen = () => [...counts].map(([why, n]) => (n === 1 ? why : `${why} ×${n}`)).join(', ');
    if (verdict.state === options.want) return { state: verdict.state, why: verdict.why, attempts: attempt, seen: seen() };
    counts.set(verdict.why, (counts.get(verdict.why) ?? 0) + 1);
    let delay: number | undefined;
    if (verdict.state === 'unknown') {
      unknown++;
      delay = unknownDelay(unknown, step.retry?.delayMs ?? 0, verdict.retryAfterMs, options.unknownAttempts);
    } else {
      known++;
      delay = known >= options.propagationAttempts ? undefined : (step.retry?.delayMs ?? 0);
    }
    if (delay === undefined) return { state: verdict.state, why: verdict.why, attempts: attempt, seen: seen() };
    await wait(delay);
  }
}
