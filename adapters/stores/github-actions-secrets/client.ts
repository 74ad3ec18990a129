/**
 * The narrow GitHub REST client: the four calls the adapter makes, over plain `fetch`. GitHub's official client
 * (Octokit) would bring a plugin stack, its own retries and throttling for four JSON requests; `fetch` is built into
 * Node 20, and the retries stay in one place (the store kit), honouring GitHub's own wait (errors.ts).
 *
 * REST API endpoints for GitHub Actions Secrets: https://docs.github.com/en/rest/actions/secrets
 * - `GET {scope}/secrets/public-key` → `{key_id, key}`;
 * - `GET {scope}/secrets/{name}` → `{name, created_at, updated_at}` (never the value), 404 when there is none;
 * - `PUT {scope}/secrets/{name}` with `{encrypted_value, key_id}` (and `visibility` for an organisation) → 201
 *   created, 204 updated.
 * Every request carries `Accept: application/vnd.github+json` and `X-GitHub-Api-Version: 2022-11-28`
 * (https://docs.github.com/en/rest/about-the-rest-api/api-versions), a bearer token and a User-Agent, which GitHub
 * requires (https://docs.github.com/en/rest/using-the-rest-api/getting-started-with-the-rest-api#user-agent).
 *
 * Nothing secret goes in a URL, and a failure keeps only the status, GitHub's message and the rate-limit headers:
 * never the request, its headers (the token) or its body (the sealed value).
 */
import { secretsPath, type Scope, type Target } from './refs.js';

export const API_VERSION = '2022-11-28';

/** What GitHub says about a secret: never its value. */
export interface SecretMetadata {
  readonly name: string;
  readonly created_at: string;
  readonly updated_at: string;
  /** Organisation secrets only: `all`, `private` or `selected`. */
  readonly visibility?: string | undefined;
}

export interface PublicKey {
  readonly key_id: string;
  readonly key: string;
}

/** The body of a write: the value sealed to the scope's public key. */
export interface SealedWrite {
  readonly encrypted_value: string;
  readonly key_id: string;
  readonly visibility?: string | undefined;
}

/** A reply that was not 2xx: its status, GitHub's message and the headers that say when to try again. */
export class GitHubHttpError extends Error {
  constructor(
    readonly status: number,
    readonly githubMessage: string,
    readonly rate: { readonly retryAfter?: string | undefined; readonly remaining?: string | undefined; readonly reset?: string | undefined },
  ) {
    super(`HTTP ${status}${githubMessage === '' ? '' : `: ${githubMessage}`}`);
    this.name = 'GitHubHttpError';
  }
}

/** The calls the adapter makes: tests give a fake `fetch`, or point `apiUrl` at the local server of test/fakes/. */
export interface GitHubClient {
  publicKey(scope: Scope): Promise<PublicKey>;
  /** The secret's metadata; undefined on a 404 (which may also mean that the scope is out of the token's sight). */
  secret(target: Target): Promise<SecretMetadata | undefined>;
  /** Write the sealed value; resolves to GitHub's status (201 created, 204 updated). */
  putSecret(target: Target, body: SealedWrite): Promise<number>;
}

export interface GitHubClientOptions {
  /** `https://api.github.com`, or a GitHub Enterprise Server's `https://HOST/api/v3`. */
  readonly apiUrl: string;
  /** The token, read when a call is made (throws when the variable is not set). */
  readonly token: () => string;
  readonly fetch?: typeof fetch | undefined;
  /** Milliseconds before a request is given up (and retried as a dropped connection). */
  readonly timeoutMs?: number | undefined;
}

const TIMEOUT_MS = 30_000;
/** GitHub's messages are short; a longer one (an HTML page from a proxy) is cut, and never echoes a request. */
const MESSAGE_LIMIT = 200;

export function gitHubClient(options: GitHubClientOptions): GitHubClient {
  const base = options.apiUrl.replace(/\/+$/, '');
  const doFetch = options.fetch ?? fetch;

  async function request(method: 'GET' | 'PUT', path: string, body?: unknown): Promise<{ status: number; json: unknown }> {
    const reply = await doFetch(`${base}${path}`, {
      method,
      headers: {
        Accept: 'application/vnd.github+json',
        Authorization: `Bearer ${options.token()}`,
        'X-GitHub-Api-Version': API_VERSION,
        'User-Agent': 'rekey',
        ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(options.timeoutMs ?? TIMEOUT_MS),
    });
    const text = await reply.text();
    let json: unknown;
    try {
      json = text === '' ? undefined : JSON.parse(text);
    } catch {
      json = undefined;
    }
    if (reply.status >= 200 && reply.status < 300) return { status: reply.status, json };
    const said = typeof (json as { message?: unknown } | undefined)?.message === 'string' ? (json as { message: string }).message : '';
    throw new GitHubHttpError(reply.status, said.slice(0, MESSAGE_LIMIT), {
      retryAfter: reply.headers.get('retry-after') ?? undefined,
      remaining: reply.headers.get('x-ratelimit-remaining') ?? undefined,
      reset: reply.headers.get('x-ratelimit-reset') ?? undefined,
    });
  }

  const secretPath = (target: Target) => `${secretsPath(target.scope)}/${encodeURIComponent(target.name)}`;

  return {
    async publicKey(scope) {
      const { json } = await request('GET', `${secretsPath(scope)}/public-key`);
      const key = json as Partial<PublicKey> | undefined;
      if (typeof key?.key_id !== 'string' || typeof key.key !== 'string') throw new GitHubHttpError(502, 'the public key reply has no key_id and key', {});
      return { key_id: key.key_id, key: key.key };
    },
    async secret(target) {
      try {
        const { json } = await request('GET', secretPath(target));
        const meta = json as Partial<SecretMetadata> | undefined;
        if (typeof meta?.updated_at !== 'string') throw new GitHubHttpError(502, 'the secret reply has no updated_at', {});
        return {
          name: String(meta.name ?? target.name),
          created_at: String(meta.created_at ?? meta.updated_at),
          updated_at: meta.updated_at,
          visibility: typeof meta.visibility === 'string' ? meta.visibility : undefined,
        };
      } catch (error) {
        if (error instanceof GitHubHttpError && error.status === 404) return undefined;
        throw error;
      }
    },
    async putSecret(target, body) {
      return (await request('PUT', secretPath(target), body)).status;
    },
  };
}
