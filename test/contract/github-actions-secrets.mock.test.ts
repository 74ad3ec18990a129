/**
 * The GitHub Actions secrets adapter with `fetch` replaced at the function level: a handler that answers as GitHub's
 * REST docs say (https://docs.github.com/en/rest/actions/secrets) from the fake's model, with no socket. It runs the
 * contract suite and the failures a socket cannot easily give: dropped connections, 5xx, a reply that is not JSON.
 */
import { describe, expect, it } from 'vitest';
import githubActions, { gitHubClient, openGithubActionsStore } from '../../adapters/stores/github-actions-secrets/index.js';
import { Secret } from '../../src/contract/secret.js';
import { parseRef, type SecretStore } from '../../src/contract/store.js';
import { StoreError } from '../../src/contract/store-errors.js';
import { FakeRefusal, GitHubSecretsModel } from '../fakes/github-actions-model.js';
import { storeContract } from './suite.js';

const KIND = 'github-actions-secrets';
const INITIAL = 'rk_canary_INITIAL_4b1d7e2a9c8f3e6d';
const NEW = 'rk_canary_NEW_github_mock_1f3e5a7c';
const RUN = '20261124T024512Z-aaaaaa';
const API = 'https://api.github.test';
const RETRY = { retries: 3, minTimeout: 1, maxTimeout: 5 };

/** A fetch answering from the model for repository secrets; `before` may replace a reply (a fault) or throw. */
function mockFetch(model: GitHubSecretsModel, calls: string[], before?: (n: number) => Response | undefined): typeof fetch {
  return async (input, init) => {
    const url = new URL(String(input));
    const method = init?.method ?? 'GET';
    calls.push(`${method} ${url.pathname}`);
    const faulted = before?.(calls.length);
    if (faulted !== undefined) return faulted;
    const json = (status: number, body?: unknown) =>
      new Response(body === undefined ? null : JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
    const m = /^\/repos\/([^/]+)\/([^/]+)\/actions\/secrets\/([^/]+)$/.exec(url.pathname);
    const scope = m === null ? undefined : model.scopes.get(`repo:${m[1]}/${m[2]}`.toLowerCase());
    if (m === null || scope === undefined) return json(404, { message: 'Not Found' });
    if (m[3] === 'public-key') return json(200, model.publicKeyOf(scope));
    if (method === 'GET') {
      const meta = model.metadataOf(scope, m[3]!);
      return meta === undefined ? json(404, { message: 'Not Found' }) : json(200, meta);
    }
    try {
      return json(model.write(scope, m[3]!, JSON.parse(String(init?.body))));
    } catch (error) {
      if (error instanceof FakeRefusal) return json(error.status, { message: error.message });
      throw error;
    }
  };
}

async function seeded(): Promise<GitHubSecretsModel> {
  await GitHubSecretsModel.ready();
  const model = new GitHubSecretsModel();
  model.addScope('repo:acme/api');
  model.put('repo:acme/api', 'API_KEY', INITIAL);
  return model;
}

function open(model: GitHubSecretsModel, calls: string[] = [], before?: (n: number) => Response | undefined): SecretStore {
  const client = gitHubClient({ apiUrl: API, token: () => 'ghp_mock', fetch: mockFetch(model, calls, before) });
  return openGithubActionsStore({ client, tokenVariable: 'GITHUB_TOKEN', retry: RETRY });
}

storeContract('github-actions-secrets (fetch mocked)', async () => {
  const model = await seeded();
  const store = open(model);
  return {
    store,
    reopen: () => open(model),
    ref: parseRef(KIND, 'acme/api#API_KEY'),
    missingRef: parseRef(KIND, 'acme/api#ABSENT_KEY'),
    initial: INITIAL,
    async concurrentWrite(target, value) {
      model.put('repo:acme/api', target.field!, value);
    },
    async snapshot() {
      return model.snapshot();
    },
    recordsRuns: false,
    async heldValue(target) {
      return model.value('repo:acme/api', target.field!);
    },
    async close() {},
  };
});

describe('github-actions-secrets adapter, fetch mocked', () => {
  const ref = parseRef(KIND, 'acme/api#API_KEY');

  it('a dropped connection and a 502 are retried until the write lands', async () => {
    const model = await seeded();
    const calls: string[] = [];
    const store = open(model, calls, (n) => {
      if (n === 3) throw new TypeError('fetch failed', { cause: Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }) });
      if (n === 4) return new Response('<html>bad gateway</html>', { status: 502 });
      return undefined;
    });
    await store.stage(ref, new Secret(NEW), RUN, 'x');
    expect(model.value('repo:acme/api', 'API_KEY')).toBe(NEW);
    const put = 'PUT /repos/acme/api/actions/secrets/API_KEY';
    expect(calls).toEqual([
      'GET /repos/acme/api/actions/secrets/API_KEY',
      'GET /repos/acme/api/actions/secrets/public-key',
      put,
      put,
      put,
      'GET /repos/acme/api/actions/secrets/API_KEY',
    ]);
  });

  it('gives up on a connection that keeps dropping, as unavailable, with no value or token in the message', async () => {
    const model = await seeded();
    const store = open(model, [], () => {
      throw new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) });
    });
    const error = await store.stage(ref, new Secret(NEW), RUN, 'x').then(
      () => undefined,
      (e: unknown) => e as StoreError,
    );
    expect(error).toBeInstanceOf(StoreError);
    expect(error!.code).toBe('unavailable');
    expect(error!.message).toBe('stage github-actions-secrets:acme/api#API_KEY: could not reach GitHub (ECONNREFUSED)');
    expect(error!.message).not.toContain('ghp_mock');
  });

  it('a 422 that a fresh key does not cure is an invalid-request error quoting GitHub, not retried forever', async () => {
    const model = await seeded();
    const calls: string[] = [];
    const store = open(model, calls, (n) =>
      calls[n - 1]!.startsWith('PUT') ? new Response(JSON.stringify({ message: 'Validation Failed' }), { status: 422 }) : undefined,
    );
    const error = await store.stage(ref, new Secret(NEW), RUN, 'x').then(
      () => undefined,
      (e: unknown) => e as StoreError,
    );
    expect(error?.code).toBe('invalid');
    expect(error?.message).toContain('GitHub: Validation Failed');
    expect(calls.filter((c) => c.startsWith('PUT')).length).toBe(2);
  });
});

describe('github-actions-secrets refs', () => {
  const problem = (text: string) => githubActions.validateRef(parseRef(KIND, text));

  it('accepts repository, environment and organisation secrets', () => {
    for (const text of ['acme/api#API_KEY', 'acme-inc/api.v2#_KEY_2', 'acme/api@production#api_key', 'acme/api@EU west (prod)#KEY', 'org:acme#KEY']) {
      expect(problem(text), text).toBeUndefined();
    }
  });

  it('refuses, in words, names GitHub refuses and refs that name no scope or no secret', () => {
    expect(problem('acme/api#GITHUB_DEPLOY_KEY')).toBe('secret name "GITHUB_DEPLOY_KEY" starts with GITHUB_, which GitHub reserves for its own');
    expect(problem('acme/api#github_key')).toContain('starts with GITHUB_');
    expect(problem('acme/api#API-KEY')).toBe('secret name "API-KEY" may hold only letters, digits and underscores');
    expect(problem('acme/api#1KEY')).toBe('secret name "1KEY" starts with a digit, which GitHub does not allow');
    expect(problem('acme/api')).toContain('names the secret after "#"');
    expect(problem('acme/api#')).toContain('names the secret after "#"');
    expect(problem('acme#KEY')).toContain('does not name a repository: OWNER/REPO#NAME, OWNER/REPO@ENVIRONMENT#NAME or org:ORG#NAME');
    expect(problem('acme/api/x#KEY')).toContain('does not name a repository');
    expect(problem('-acme/api#KEY')).toBe('"-acme" is not a GitHub user or organisation name');
    expect(problem('acme/api@#KEY')).toContain('names the environment after "@"');
    expect(problem('org:#KEY')).toContain('is not a GitHub organisation name');
  });
});
