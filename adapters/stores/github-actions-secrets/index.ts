/**
 * GitHub Actions secrets: repository, environment and organisation secrets, written through GitHub's REST API.
 *
 * ```yaml
 * stores:
 *   - github-actions-secrets: acme/api#STREAMPIXEL_API_KEY               # repository secret
 *   - github-actions-secrets: acme/api@production#STREAMPIXEL_API_KEY    # secret of the environment "production"
 *   - github-actions-secrets: org:acme#STREAMPIXEL_API_KEY               # organisation secret
 *     token: REKEY_GITHUB_TOKEN    # optional: the environment variable holding the token (default GITHUB_TOKEN)
 *     apiUrl: https://ghe.example.com/api/v3   # optional: GitHub Enterprise Server (default $GITHUB_API_URL, else api.github.com)
 * ```
 *
 * What GitHub offers decides the capabilities (https://docs.github.com/en/rest/actions/secrets), all false:
 * - write-only (`readBack` false): no endpoint returns a value, only `{name, created_at, updated_at}`. The engine never
 *   reads this store; the other stores of the credential and the runbook's verify (the provider's check) are what
 *   prove the new key, and the plan and the report say so.
 * - no staging: a write is what workflows get at once. So `stage` writes (after every store that can stage holds the
 *   value: the engine orders the writes by capability), `promote` has nothing left to do, and `retire` neither (GitHub
 *   keeps no previous value).
 * - no versions and no compare-and-swap: the last write wins. The version is the secret's `updated_at`, which is also
 *   the date `rekey status` reads for the value's age.
 * - no metadata: a secret has nowhere to record which run wrote it, so `describe` never names a run, and a value
 *   left by another run cannot be told from anyone else's write.
 * - `rollback` puts the old value back only when the engine hands it over (from a store that can be read back);
 *   with write-only stores alone it cannot, and says so.
 *
 * A value is sealed (libsodium sealed box) to the scope's public key before it leaves the process (seal.ts); it never
 * appears in a URL, an error or a log. A value over 48 KB is refused before anything is sent. rekey never creates a
 * secret: one that does not exist is refused before the mint, as in every other store.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Secret } from '../../../src/contract/secret.js';
import type { SecretStore, SecretStoreAdapter, StoreContext, StoredMetadata, StoreRef } from '../../../src/contract/store.js';
import { CannotStageError, NotSupportedError, SecretNotFoundError, StoreError } from '../../../src/contract/store-errors.js';
import type { RetryOptions } from '../../../src/util/retry.js';
import { callService } from '../kit/index.js';
import { type GitHubClient, gitHubClient, type PublicKey, type SecretMetadata } from './client.js';
import { MAX_RATE_WAIT_MS, MissingTokenError, rateLimitWaitMs, toStoreError } from './errors.js';
import { refProblem, type Scope, scopeWords, type Target, targetOf } from './refs.js';
import { seal } from './seal.js';

export { type GitHubClient, gitHubClient } from './client.js';

const KIND = 'github-actions-secrets';
export const DEFAULT_API_URL = 'https://api.github.com';
export const DEFAULT_TOKEN_VARIABLE = 'GITHUB_TOKEN';
/**
 * GitHub's limit on one secret's value:
 * https://docs.github.com/en/actions/security-for-github-actions/security-guides/using-secrets-in-github-actions#limits-for-secrets
 */
export const MAX_VALUE_BYTES = 48 * 1024;

export interface GithubActionsStoreSettings {
  readonly client: GitHubClient;
  /** The environment variable the token comes from, for messages and hints. */
  readonly tokenVariable: string;
  /** Backoff for rate limits, 5xx and dropped connections (tests shorten it); GitHub's own wait is added to it. */
  readonly retry?: RetryOptions | undefined;
  /** The clock, for GitHub's `x-ratelimit-reset` (tests fix it). */
  readonly now?: (() => number) | undefined;
}

const WRITE_ONLY = 'GitHub Actions secrets are write-only: the API never returns a value';

/** An open GitHub Actions secrets store. */
export function openGithubActionsStore(settings: GithubActionsStoreSettings): SecretStore {
  const { client, tokenVariable } = settings;
  const now = settings.now ?? Date.now;
  // The scope's public key, fetched once per scope and fetched again when GitHub refuses a write sealed to it.
  const keys = new Map<string, Promise<PublicKey>>();

  /** One GitHub call: mapped errors, retried with backoff, and GitHub's own wait (retry-after, reset) sat out first. */
  function call<T>(operation: string, ref: StoreRef, scope: Scope, fn: () => Promise<T>): Promise<T> {
    let waitMs = 0;
    return callService(
      async () => {
        if (waitMs > 0) await sleep(waitMs);
        waitMs = 0;
        try {
          return await fn();
        } catch (error) {
          waitMs = Math.min(rateLimitWaitMs(error, now()) ?? 0, MAX_RATE_WAIT_MS);
          throw error;
        }
      },
      (error) => toStoreError(error, operation, ref, scope, tokenVariable, now()),
      settings.retry,
    );
  }

  function publicKey(operation: string, ref: StoreRef, scope: Scope, fresh = false): Promise<PublicKey> {
    const id = JSON.stringify(scope);
    const cached = keys.get(id);
    if (cached !== undefined && !fresh) return cached;
    const pending = call(operation, ref, scope, () => client.publicKey(scope));
    keys.set(id, pending);
    pending.catch(() => keys.delete(id));
    return pending;
  }

  /** The secret's metadata; undefined when the secret does not exist, after making sure its scope is visible at all. */
  async function metadata(operation: string, ref: StoreRef, target: Target): Promise<SecretMetadata | undefined> {
    const meta = await call(operation, ref, target.scope, () => client.secret(target));
    // GitHub answers 404 both for a secret that does not exist and for a repository the token cannot see: the public
    // key of the scope tells them apart (its 404 is the scope's, mapped to a permission error naming both).
    if (meta === undefined) await publicKey(operation, ref, target.scope);
    return meta;
  }

  const absent = (operation: string, ref: StoreRef, target: Target) =>
    new SecretNotFoundError(
      operation,
      ref.display,
      `no secret ${target.name} in the ${scopeWords(target.scope)}`,
      'create it in GitHub first (rekey never creates a secret), or fix the ref in rekey.yaml',
    );

  /** Seal `value` to the scope's key and write it; a refusal (a key rotated meanwhile) is tried once with a fresh key. */
  async function write(operation: string, ref: StoreRef, target: Target, value: Secret, meta: SecretMetadata): Promise<void> {
    const bytes = Buffer.byteLength(value.reveal(), 'utf8');
    if (bytes > MAX_VALUE_BYTES) {
      throw new StoreError('invalid', operation, ref.display, `the value is ${bytes} bytes; GitHub takes at most ${MAX_VALUE_BYTES} bytes (48 KB) per secret`);
    }
    const visibility = target.scope.type === 'organization' ? meta.visibility : undefined;
    if (target.scope.type === 'organization' && visibility === undefined) {
      throw new StoreError('failed', operation, ref.display, 'GitHub did not say who may use this organisation secret (no visibility): nothing was written');
    }
    for (const fresh of [false, true]) {
      const key = await publicKey(operation, ref, target.scope, fresh);
      const sealed = await seal(value.reveal(), key.key).catch((error: unknown) => {
        throw new StoreError('failed', operation, ref.display, `could not seal the value: ${(error as Error).message}`);
      });
      try {
        // Only the visibility GitHub reported is sent back: an organisation secret keeps who may use it, and its list
        // of selected repositories is left alone (the field is only sent to change it).
        await call(operation, ref, target.scope, () =>
          client.putSecret(target, { encrypted_value: sealed, key_id: key.key_id, ...(visibility === undefined ? {} : { visibility }) }),
        );
        return;
      } catch (error) {
        // GitHub's docs do not say what a write sealed to a rotated key gets; a 422 is what it answers for a key_id it
        // does not know, so the key is fetched again and the write tried once more.
        if (fresh || !(error instanceof StoreError) || error.code !== 'invalid') throw error;
      }
    }
  }

  const store: SecretStore = {
    kind: KIND,
    capabilities: { readBack: false, staging: false, versions: false, compareAndSwap: false },

    async read(ref) {
      throw new NotSupportedError('read', ref.display, WRITE_ONLY);
    },
    async readStaged(ref) {
      throw new NotSupportedError('read staged', ref.display, WRITE_ONLY);
    },
    async readPrevious(ref) {
      throw new NotSupportedError('read previous', ref.display, WRITE_ONLY);
    },

    async describe(ref): Promise<StoredMetadata | undefined> {
      const target = targetOf(ref);
      const meta = await metadata('describe', ref, target);
      if (meta === undefined) return undefined;
      // updated_at is when the current value was written: its version and its age. GitHub records no run.
      return { version: meta.updated_at, createdAt: new Date(meta.updated_at) };
    },

    async canStage(ref) {
      const target = targetOf(ref);
      try {
        const meta = await metadata('pre-flight', ref, target);
        if (meta === undefined) throw absent('pre-flight', ref, target);
        // The write needs the scope's public key: fetching it proves the token may at least read the scope's secrets.
        // Whether it may write cannot be known without writing.
        await publicKey('pre-flight', ref, target.scope);
      } catch (error) {
        throw CannotStageError.from(error, ref.display);
      }
    },

    async stage(ref, value) {
      const target = targetOf(ref);
      const meta = await metadata('stage', ref, target);
      if (meta === undefined) throw absent('stage', ref, target);
      // A second stage of the same run (a resume) writes the same value again: the result is the same secret.
      await write('stage', ref, target, value, meta);
      const after = await call('stage', ref, target.scope, () => client.secret(target));
      return after?.updated_at ?? meta.updated_at;
    },

    // The write at stage made the value current: there is nothing to promote.
    async promote() {},

    async rollback(ref, _run, previous?: Secret) {
      const target = targetOf(ref);
      if (previous === undefined) {
        throw new StoreError(
          'not-supported',
          'rollback',
          ref.display,
          'GitHub Actions secrets cannot be read back, and no store that can be read holds the old value to put back',
          { hint: `set ${target.name} in the ${scopeWords(target.scope)} to the old value by hand, or resume the run instead` },
        );
      }
      const meta = await metadata('rollback', ref, target);
      if (meta === undefined) throw absent('rollback', ref, target);
      await write('rollback', ref, target, previous, meta);
    },

    // GitHub keeps no previous value: there is nothing to drop.
    async retire() {},

    async check(ref) {
      try {
        const meta = await this.describe!(ref);
        if (meta === undefined) return { readable: false, writable: undefined, notes: [absent('describe', ref, targetOf(ref)).message] };
        await publicKey('check', ref, targetOf(ref).scope);
        return { readable: false, writable: undefined, notes: [] };
      } catch (error) {
        const hint = (error as StoreError).hint;
        return { readable: false, writable: undefined, notes: [`${(error as Error).message}${hint === undefined ? '' : `; ${hint}`}`] };
      }
    },
  };
  return store;
}

function text(options: Readonly<Record<string, unknown>>, name: string): string | undefined {
  const value = options[name];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

export default {
  kind: KIND,
  summary: 'GitHub Actions secrets of a repository, an environment or an organisation (write-only)',
  options: {
    token: { type: 'string', description: 'the environment variable holding the GitHub token', default: DEFAULT_TOKEN_VARIABLE },
    apiUrl: {
      type: 'string',
      description: 'the REST API root, for GitHub Enterprise Server (https://HOST/api/v3); else $GITHUB_API_URL, else api.github.com',
      default: DEFAULT_API_URL,
    },
  },
  validateRef: refProblem,
  environment(options) {
    return [
      { name: text(options, 'token') ?? DEFAULT_TOKEN_VARIABLE, kind: 'secret', description: 'a GitHub token that may write Actions secrets' },
      ...(text(options, 'apiUrl') === undefined
        ? [{ name: 'GITHUB_API_URL', kind: 'setting' as const, description: 'the GitHub REST API root (GitHub Enterprise Server)', optional: true }]
        : []),
    ];
  },
  open(options, context: StoreContext) {
    const tokenVariable = text(options, 'token') ?? DEFAULT_TOKEN_VARIABLE;
    const client = gitHubClient({
      apiUrl: text(options, 'apiUrl') ?? context.env['GITHUB_API_URL'] ?? DEFAULT_API_URL,
      token: () => {
        const token = context.env[tokenVariable];
        if (token === undefined || token === '') throw new MissingTokenError(tokenVariable);
        return token;
      },
    });
    return openGithubActionsStore({ client, tokenVariable });
  },
} satisfies SecretStoreAdapter;
