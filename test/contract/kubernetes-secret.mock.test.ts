/**
 * The Kubernetes Secret adapter over an in-process client (no HTTP, no client-node) that answers from the same model
 * as the wire server (test/fakes/kubernetes-model.ts), throwing what client-node's ApiException carries (`code`, and
 * the Status object as `body`): the contract suite, and the failures the wire fake does not produce on its own.
 */
import { describe, expect, it } from 'vitest';
import { type KubernetesSecretsClient, openKubernetesSecretStore, type SecretObject } from '../../adapters/stores/kubernetes-secret/index.js';
import { Secret } from '../../src/contract/secret.js';
import { parseRef, type SecretStore } from '../../src/contract/store.js';
import { StoreError } from '../../src/contract/store-errors.js';
import { KubernetesModel } from '../fakes/kubernetes-model.js';
import { rotatorRules } from '../fakes/kubernetes-server.js';
import { storeContract } from './suite.js';

const INITIAL = 'rk_canary_INITIAL_k8s_mock_9a8b7c6d';
const NEW = 'rk_canary_NEW_k8s_mock_1f2e3d4c5b';
const SIBLINGS = { DATABASE_URL: 'postgres://db.internal/app', REGION: 'eu-west-1' };
const RUN = '20261124T024512Z-aaaaaa';
const TOKEN = 'rotator-token-mock';

/** What client-node throws for an answer outside 2xx (ApiException: code, body, headers). */
class FakeApiException extends Error {
  constructor(
    readonly code: number,
    readonly body: unknown,
  ) {
    super(`HTTP-Code: ${code}`);
  }
}

/** A client over the model, the way client-node would call the API (PUT of the whole object, SSAR for canI). */
function modelClient(model: KubernetesModel, token = TOKEN, fault?: (method: string) => unknown): KubernetesSecretsClient {
  const send = (method: string, path: string, body?: unknown): unknown => {
    const injected = fault?.(method);
    if (injected !== undefined) throw injected;
    const reply = model.handle({ method, path, token, contentType: 'application/json', body: body === undefined ? undefined : structuredClone(body) });
    if (reply.status >= 300) throw new FakeApiException(reply.status, JSON.stringify(reply.body));
    return reply.body;
  };
  return {
    read: async (namespace, name) => send('GET', `/api/v1/namespaces/${namespace}/secrets/${name}`) as SecretObject,
    replace: async (namespace, name, body) => send('PUT', `/api/v1/namespaces/${namespace}/secrets/${name}`, body) as SecretObject,
    canI: async (namespace, name, verb) =>
      (
        send('POST', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', {
          spec: { resourceAttributes: { namespace, name, verb, resource: 'secrets' } },
        }) as {
          status: { allowed: boolean };
        }
      ).status.allowed,
  };
}

function seeded(): KubernetesModel {
  const model = new KubernetesModel();
  model.addToken(TOKEN, 'system:serviceaccount:prod:rekey', rotatorRules('prod'));
  model.putSecret('prod', 'app', { API_KEY: INITIAL });
  model.putSecret('prod', 'shared', { ...SIBLINGS, API_KEY: INITIAL });
  model.putSecret('other', 'locked', { API_KEY: INITIAL });
  return model;
}

const fast = { retries: 2, minTimeout: 1, maxTimeout: 2 };
const open = (model: KubernetesModel, fault?: (method: string) => unknown): SecretStore =>
  openKubernetesSecretStore({ connect: async () => modelClient(model, TOKEN, fault), retry: fast });

storeContract('kubernetes-secret (in-process client over the API model)', async () => {
  const model = seeded();
  const store = open(model);
  return {
    store,
    reopen: () => open(model),
    ref: parseRef('kubernetes-secret', 'prod/app#API_KEY'),
    fieldRef: parseRef('kubernetes-secret', 'prod/shared#API_KEY'),
    siblings: SIBLINGS,
    missingRef: parseRef('kubernetes-secret', 'prod/absent#API_KEY'),
    initial: INITIAL,
    async concurrentWrite(target, value) {
      const [namespace, name] = target.path.split('/') as [string, string];
      model.putSecret(namespace, name, { ...model.secretValues(namespace, name), [target.field!]: value });
    },
    // Every key but the one rotated and the key rekey keeps its previous value in during the overlap (README).
    async rawSiblings() {
      const { API_KEY: _, 'API_KEY.rekey-previous': _previous, ...rest } = model.secretValues('prod', 'shared')!;
      return rest;
    },
    denied: { store, ref: parseRef('kubernetes-secret', 'other/locked#API_KEY') },
    async snapshot() {
      return JSON.stringify([model.secret('prod', 'app'), model.secret('prod', 'shared')]);
    },
    close: async () => undefined,
  };
});

async function failure(promise: Promise<unknown>): Promise<StoreError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, 'expected the call to fail').toBeInstanceOf(StoreError);
  return error as StoreError;
}

describe('kubernetes-secret adapter: failures', () => {
  const ref = parseRef('kubernetes-secret', 'prod/app#API_KEY');

  it("maps the API's 422 'field is immutable' to the immutable refusal with its hint", async () => {
    const model = seeded();
    const status = {
      kind: 'Status',
      status: 'Failure',
      reason: 'Invalid',
      code: 422,
      message: 'Secret "app" is invalid: data: Forbidden: field is immutable when `immutable` is set',
    };
    const store = open(model, (method) => (method === 'PUT' ? new FakeApiException(422, JSON.stringify(status)) : undefined));
    const base = (await store.read(ref)).version;
    const error = await failure(store.stage(ref, new Secret(NEW), RUN, base));
    expect(error.code).toBe('invalid');
    expect(error.message).toContain('prod/app is immutable');
    expect(error.hint).toMatch(/deleted and created again/);
  });

  it('retries a 503 and a dropped connection, then succeeds; a 500 that persists is unavailable', async () => {
    const model = seeded();
    let failures = 0;
    const flaky = open(model, (method) => {
      if (method !== 'GET' || failures >= 2) return undefined;
      failures++;
      return failures === 1
        ? new FakeApiException(503, JSON.stringify({ kind: 'Status', code: 503, message: 'etcdserver: leader changed' }))
        : Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    });
    expect((await flaky.read(ref)).value.reveal()).toBe(INITIAL);
    expect(failures).toBe(2);
    const down = open(model, () => new FakeApiException(500, JSON.stringify({ kind: 'Status', code: 500, message: 'internal error' })));
    const error = await failure(down.read(ref));
    expect(error.code).toBe('unavailable');
    expect(error.message).toContain('answered 500');
  });

  it('refuses, as a conflict, to stage over a value another run keeps a previous value for', async () => {
    const model = seeded();
    const store = open(model);
    const base = (await store.read(ref)).version;
    await store.stage(ref, new Secret(NEW), '20261124T030000Z-bbbbbb', base);
    const refusal = await failure(store.canStage(ref, RUN, (await store.read(ref)).version));
    expect(refusal.code).toBe('conflict');
    expect(refusal.message).toContain('run 20261124T030000Z-bbbbbb');
    expect(refusal.hint).toContain('rekey rollback 20261124T030000Z-bbbbbb');
  });

  it('validates refs: namespace and name per RFC 1123, keys per the Secret key rule', async () => {
    const { refProblem } = await import('../../adapters/stores/kubernetes-secret/client.js');
    const problem = (text: string) => refProblem(parseRef('kubernetes-secret', text));
    expect(problem('prod/web-app#API_KEY')).toBeUndefined();
    expect(problem('prod/web.app.v2#api.key-1_x')).toBeUndefined();
    expect(problem('web-app#API_KEY')).toMatch(/<namespace>\/<name>#<key>/);
    expect(problem('Prod/web-app#API_KEY')).toMatch(/not a namespace name/);
    expect(problem('prod/Web_App#API_KEY')).toMatch(/not a Secret name/);
    expect(problem('prod/web-app')).toMatch(/names a key/);
    expect(problem('prod/web-app#API KEY')).toMatch(/not a Secret key/);
    expect(problem('prod/web-app#API_KEY.rekey-previous')).toMatch(/keeps a previous value/);
  });
});
