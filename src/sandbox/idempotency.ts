/**
 * Idempotent requests for the sandbox's mint route, the way Stripe's API has them
 * (https://docs.stripe.com/api/idempotent_requests, https://docs.stripe.com/idempotency): a client sends an
 * `Idempotency-Key` header on a POST; the status and body of the first request that got as far as executing are saved
 * and replayed for every later request with the same key; a key is kept at least 24 hours; and a key reused with
 * other parameters is refused (400, `idempotency_error`) rather than answered with a response meant for another request.
 * A request that fails validation saves nothing, so it can be corrected and sent again with the same key.
 *
 * The saved response of a mint holds the minted key itself, so this cache lives in memory only and is never written to
 * the sandbox's state file, which by design holds nothing but hashes. A real provider keeps its idempotency records on
 * its own servers in the same way; the difference is that a restarted sandbox forgets them (its keys survive a restart
 * through the state file, its idempotency records do not).
 */
import { createHash } from 'node:crypto';

/** A response as the route returned it, kept to be replayed. */
export interface SavedResponse {
  readonly status: number;
  readonly body?: unknown;
}

/** What a lookup found: nothing, a response to replay, or the key used before with other parameters. */
export type IdempotencyLookup = { readonly kind: 'miss' } | { readonly kind: 'replay'; readonly response: SavedResponse } | { readonly kind: 'mismatch' };

/** Stripe keeps an idempotency key for at least 24 hours. */
export const IDEMPOTENCY_WINDOW_MS = 24 * 3600 * 1000;

/** Stripe's limit on the length of an idempotency key. */
export const MAX_IDEMPOTENCY_KEY_LENGTH = 255;

/**
 * The cache holds at most this many keys; past it the oldest go first, even within their 24 hours. A rotation sends
 * one key per run, so only a benchmark minting for days would ever reach it.
 */
const MAX_ENTRIES = 100_000;

interface Entry {
  readonly savedAt: number;
  readonly fingerprint: string;
  readonly response: SavedResponse;
}

export interface IdempotencyOptions {
  /** How long a key is kept; default 24 hours. */
  readonly windowMs?: number;
  /** The clock, for tests; default `Date.now`. */
  readonly now?: () => number;
}

/**
 * A fingerprint of a request's parameters, compared on reuse: the route, its path parameters and its JSON body with
 * object keys sorted, so that `{"a":1,"b":2}` and `{"b":2,"a":1}` are the same request, as they are to a JSON API.
 */
export function requestFingerprint(route: string, params: Readonly<Record<string, string>>, body: unknown): string {
  return createHash('sha256')
    .update(JSON.stringify([route, canonical(params), canonical(body ?? {})]))
    .digest('hex');
}

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((key) => [key, canonical((value as Record<string, unknown>)[key])]),
    );
  }
  return value;
}

/** Saved responses by scope (the account) and idempotency key, pruned lazily: no timer keeps a closed sandbox alive. */
export class IdempotencyCache {
  readonly #entries = new Map<string, Entry>();
  readonly #windowMs: number;
  readonly #now: () => number;

  constructor(options: IdempotencyOptions = {}) {
    this.#windowMs = options.windowMs ?? IDEMPOTENCY_WINDOW_MS;
    this.#now = options.now ?? Date.now;
  }

  /** How many keys are held now (expired ones pruned first). */
  get size(): number {
    this.#prune();
    return this.#entries.size;
  }

  /** What an earlier request with this key left, if anything. */
  lookup(scope: string, key: string, fingerprint: string): IdempotencyLookup {
    this.#prune();
    const entry = this.#entries.get(entryKey(scope, key));
    if (entry === undefined) return { kind: 'miss' };
    if (entry.fingerprint !== fingerprint) return { kind: 'mismatch' };
    return { kind: 'replay', response: entry.response };
  }

  /** Save the response of the first request with this key. */
  save(scope: string, key: string, fingerprint: string, response: SavedResponse): void {
    this.#prune();
    if (this.#entries.size >= MAX_ENTRIES) {
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) this.#entries.delete(oldest);
    }
    this.#entries.set(entryKey(scope, key), { savedAt: this.#now(), fingerprint, response });
  }

  /** Entries are kept in insertion order, which is the order of their times: drop from the front until one is young. */
  #prune(): void {
    const cutoff = this.#now() - this.#windowMs;
    for (const [key, entry] of this.#entries) {
      if (entry.savedAt > cutoff) break;
      this.#entries.delete(key);
    }
  }
}

/** One map key per scope and idempotency key; the newline cannot occur in an account name. */
function entryKey(scope: string, key: string): string {
  return `${scope}\n${key}`;
}
