/**
 * The Kubernetes Secret adapter with the real @kubernetes/client-node against a local server speaking the Kubernetes
 * API (test/fakes/kubernetes-server.ts), reached through a kubeconfig with a bearer token: what goes over the wire
 * (GET and PUT of the Secret, resourceVersion, the SelfSubjectAccessReview) and how client-node's failures come back.
 */
import { afterEach, describe, expect, it } from 'vitest';
import kubernetesSecret, { ROTATIONS_ANNOTATION } from '../../adapters/stores/kubernetes-secret/index.js';
import { Secret } from '../../src/contract/secret.js';
import { parseRef, type SecretStore } from '../../src/contract/store.js';
import { StoreError } from '../../src/contract/store-errors.js';
import { type RunningKubernetesServer, rotatorRules, startKubernetesServer } from '../fakes/kubernetes-server.js';
import { storeContract } from './suite.js';

const INITIAL = 'rk_canary_INITIAL_k8s_wire_4b1d7e2a';
const NEW = 'rk_canary_NEW_k8s_wire_5e7a9c1b33';
const SIBLINGS = { DATABASE_URL: 'postgres://db.internal/app', REGION: 'eu-west-1' };
const RUN = '20261124T024512Z-aaaaaa';

interface Cluster {
  readonly server: RunningKubernetesServer;
  readonly kubeconfig: string;
}

async function cluster(): Promise<Cluster> {
  const server = await startKubernetesServer({ tickMs: 0 });
  server.model.addToken('rotator-token-0001', 'system:serviceaccount:prod:rekey', rotatorRules('prod'));
  server.model.addToken('reader-token-0002', 'system:serviceaccount:prod:reader', [{ verbs: ['get'], resources: ['secrets'], namespace: 'prod' }]);
  server.model.putSecret('prod', 'app', { API_KEY: INITIAL });
  server.model.putSecret('prod', 'shared', { ...SIBLINGS, API_KEY: INITIAL });
  const kubeconfig = server.kubeconfig([
    { name: 'rotator', token: 'rotator-token-0001' },
    { name: 'reader', token: 'reader-token-0002' },
  ]);
  return { server, kubeconfig };
}

function open(c: Cluster, options: Record<string, unknown> = {}): SecretStore {
  return kubernetesSecret.open({ kubeconfig: c.kubeconfig, ...options }, { baseDir: process.cwd(), env: {} });
}

storeContract('kubernetes-secret (client-node against a local Kubernetes API server)', async () => {
  const c = await cluster();
  c.server.model.putSecret('other', 'locked', { API_KEY: INITIAL });
  const store = open(c);
  return {
    store,
    reopen: () => open(c),
    ref: parseRef('kubernetes-secret', 'prod/app#API_KEY'),
    fieldRef: parseRef('kubernetes-secret', 'prod/shared#API_KEY'),
    siblings: SIBLINGS,
    missingRef: parseRef('kubernetes-secret', 'prod/absent#API_KEY'),
    initial: INITIAL,
    async concurrentWrite(target, value) {
      const [namespace, name] = target.path.split('/') as [string, string];
      c.server.model.putSecret(namespace, name, { ...c.server.model.secretValues(namespace, name), [target.field!]: value });
    },
    // Every key but the one rotated and the key rekey keeps its previous value in during the overlap (README).
    async rawSiblings() {
      const { API_KEY: _, 'API_KEY.rekey-previous': _previous, ...rest } = c.server.model.secretValues('prod', 'shared')!;
      return rest;
    },
    denied: { store, ref: parseRef('kubernetes-secret', 'other/locked#API_KEY') },
    async snapshot() {
      return JSON.stringify([c.server.model.secret('prod', 'app'), c.server.model.secret('prod', 'shared')]);
    },
    close: () => c.server.close(),
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

describe('kubernetes-secret adapter over the wire (client-node)', () => {
  const ref = parseRef('kubernetes-secret', 'prod/app#API_KEY');
  let c: Cluster | undefined;
  afterEach(async () => {
    await c?.server.close();
    c = undefined;
  });

  it('stages with one GET and one PUT carrying the resourceVersion read; the old value waits in <key>.rekey-previous', async () => {
    c = await cluster();
    const store = open(c);
    const base = (await store.read(ref)).version;
    const before = c.server.model.secret('prod', 'app')!;
    const from = c.server.model.log.length;
    await store.stage(ref, new Secret(NEW), RUN, base);
    expect(c.server.model.log.slice(from).map((r) => `${r.method} ${r.path}`)).toEqual([
      'GET /api/v1/namespaces/prod/secrets/app',
      'PUT /api/v1/namespaces/prod/secrets/app',
    ]);
    expect(c.server.model.secretValues('prod', 'app')).toEqual({ API_KEY: NEW, 'API_KEY.rekey-previous': INITIAL });
    const after = c.server.model.secret('prod', 'app')! as { metadata: { resourceVersion: string; annotations: Record<string, string> } };
    expect(after.metadata.resourceVersion).not.toBe((before as { metadata: { resourceVersion: string } }).metadata.resourceVersion);
    const record = JSON.parse(after.metadata.annotations[ROTATIONS_ANNOTATION]!) as Record<string, { run: string; at: string }>;
    expect(record['API_KEY']?.run).toBe(RUN);
    expect(Date.parse(record['API_KEY']!.at)).not.toBeNaN();
    // The record names no value: neither appears in any annotation.
    expect(JSON.stringify(after.metadata.annotations)).not.toContain(NEW);
    expect(JSON.stringify(after.metadata.annotations)).not.toContain(INITIAL);
  });

  it('retire drops the previous key and keeps the run and date, which read and describe report', async () => {
    c = await cluster();
    const store = open(c);
    const base = (await store.read(ref)).version;
    const version = await store.stage(ref, new Secret(NEW), RUN, base);
    await store.promote(ref, version, RUN, base);
    await store.retire(ref, RUN);
    expect(c.server.model.secretValues('prod', 'app')).toEqual({ API_KEY: NEW });
    const described = await store.describe!(ref);
    expect(described?.run).toBe(RUN);
    expect(described?.createdAt).toBeInstanceOf(Date);
    expect(described?.createdAt?.toISOString()).not.toBe('2026-01-01T00:00:00.000Z');
  });

  it("a write that loses the race (409 Conflict on the resourceVersion) is tried again from a fresh read, keeping the other writer's key", async () => {
    c = await cluster();
    const store = open(c);
    const base = (await store.read(ref)).version;
    // Another writer adds a key between the adapter's GET and its PUT: the PUT meets 409 and the adapter reads again.
    const model = c.server.model;
    const original = model.handle.bind(model);
    let raced = false;
    model.handle = (request) => {
      if (request.method === 'PUT' && !raced) {
        raced = true;
        model.putSecret('prod', 'app', { ...model.secretValues('prod', 'app'), OTHER: 'added-by-someone-else' });
      }
      return original(request);
    };
    await store.stage(ref, new Secret(NEW), RUN, base);
    expect(raced).toBe(true);
    expect(model.log.filter((r) => r.method === 'PUT')).toHaveLength(2);
    expect(model.secretValues('prod', 'app')).toMatchObject({ API_KEY: NEW, OTHER: 'added-by-someone-else' });
  });

  it('refuses an immutable Secret at the pre-flight and at stage, naming it, and writes nothing', async () => {
    c = await cluster();
    c.server.model.putSecret('prod', 'app', { API_KEY: INITIAL }, { immutable: true });
    const store = open(c);
    const base = (await store.read(ref)).version;
    const before = JSON.stringify(c.server.model.secret('prod', 'app'));
    const refusal = await failure(store.canStage(ref, RUN, base));
    expect(refusal.message).toContain('prod/app is immutable');
    expect(refusal.hint).toMatch(/deleted and created again/);
    const stage = await failure(store.stage(ref, new Secret(NEW), RUN, base));
    expect(stage.code).toBe('invalid');
    expect(stage.message).toContain('immutable');
    const check = await store.check(ref);
    expect(check.writable).toBe(false);
    expect(check.notes.join(' ')).toContain('immutable');
    expect(JSON.stringify(c.server.model.secret('prod', 'app'))).toBe(before);
  });

  it('a Secret made immutable between the read and the write: the 409 makes the adapter read again, and it refuses clearly', async () => {
    c = await cluster();
    const store = open(c);
    const base = (await store.read(ref)).version;
    const model = c.server.model;
    const original = model.handle.bind(model);
    model.handle = (request) => {
      if (request.method === 'PUT') model.putSecret('prod', 'app', model.secretValues('prod', 'app')!, { immutable: true });
      return original(request);
    };
    const error = await failure(store.stage(ref, new Secret(NEW), RUN, base));
    expect(error.code).toBe('invalid');
    expect(error.message).toContain('prod/app is immutable');
    expect(model.secretValues('prod', 'app')).toEqual({ API_KEY: INITIAL });
  });

  it('names the verb, resource and Role to grant on a 403, and check finds a reader cannot update (SelfSubjectAccessReview)', async () => {
    c = await cluster();
    const denied = await failure(open(c).read(parseRef('kubernetes-secret', 'other/app#API_KEY')));
    expect(denied.code).toBe('permission');
    expect(denied.message).toContain('cannot get resource "secrets"');
    expect(denied.hint).toContain('Role in namespace other');
    const reader = open(c, { context: 'reader' });
    const check = await reader.check(ref);
    expect(check.readable).toBe(true);
    expect(check.writable).toBe(false);
    expect(check.notes.join(' ')).toContain('not allowed to "update" Secret prod/app');
    const refusal = await failure(reader.canStage(ref, RUN, (await reader.read(ref)).version));
    expect(refusal.code).toBe('permission');
    expect(c.server.model.log.some((r) => r.path === '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews')).toBe(true);
  });

  it('a token the cluster does not know is a permission error about the credentials, not a missing Secret', async () => {
    c = await cluster();
    const kubeconfig = c.server.kubeconfig([{ name: 'stale', token: 'expired-token-9999' }]);
    const error = await failure(kubernetesSecret.open({ kubeconfig }, { baseDir: process.cwd(), env: {} }).read(ref));
    expect(error.code).toBe('permission');
    expect(error.message).toContain('401 Unauthorized');
    expect(error.message).not.toContain('expired-token-9999');
  });

  it('a context the kubeconfig lacks, or no kubeconfig, is a clear error naming it', async () => {
    c = await cluster();
    const missingContext = await failure(open(c, { context: 'nope' }).read(ref));
    expect(missingContext.message).toContain('no context "nope"');
    expect(missingContext.hint).toContain('rotator, reader');
    const noFile = await failure(kubernetesSecret.open({ kubeconfig: '/nonexistent/kubeconfig' }, { baseDir: process.cwd(), env: {} }).read(ref));
    expect(noFile.code).toBe('unavailable');
    expect(noFile.message).toContain('/nonexistent/kubeconfig');
    // Nothing configured at all: said so, instead of client-node's fallback to http://localhost:8080.
    const nothing = await failure(kubernetesSecret.open({}, { baseDir: process.cwd(), env: { HOME: '/nonexistent-home' } }).read(ref));
    expect(nothing.code).toBe('unavailable');
    expect(nothing.message).toContain('no kubeconfig: KUBECONFIG is not set and /nonexistent-home/.kube/config does not exist');
  });

  it('a key missing from an existing Secret is not found, naming the key', async () => {
    c = await cluster();
    const error = await failure(open(c).read(parseRef('kubernetes-secret', 'prod/app#OTHER_KEY')));
    expect(error.code).toBe('not-found');
    expect(error.message).toContain('has no key OTHER_KEY');
  });
});
