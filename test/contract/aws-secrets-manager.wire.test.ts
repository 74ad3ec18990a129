/**
 * The AWS Secrets Manager adapter with the real SDK client (signing, JSON 1.1 serialisation, error parsing) against a
 * local server speaking the service's protocol over the in-memory model. Each test gets its own server on 127.0.0.1
 * and a free port, stopped when the test ends.
 */
process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';

import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import adapter, { clientRequestToken, openAwsSecretsManagerStore } from '../../adapters/stores/aws-secrets-manager/index.js';
import { Secret } from '../../src/contract/secret.js';
import { parseRef } from '../../src/contract/store.js';
import { CannotStageError, StoreError } from '../../src/contract/store-errors.js';
import { AWSCURRENT, AWSPENDING } from '../fakes/aws-secrets-manager-model.js';
import { SecretsManagerModel } from '../fakes/aws-secrets-manager-model.js';
import { start, type RunningSecretsManager } from '../fakes/aws-secrets-manager-server.js';
import { storeContract } from './suite.js';

const KIND = 'aws-secrets-manager';
const REGION = 'us-east-1';
const INITIAL = 'rk_canary_INITIAL_4b1d7e2a9c8f3e6d';
const NEW = 'rk_canary_WIRENEW_8d7c6b5a4f3e2d1c';
const SIBLINGS = { DATABASE_URL: 'postgres://db.internal/app', REGION: 'eu-west-1' };
const ALLOWED_KEY = 'FAKEREKEYALLOWED0001';
const DENIED_KEY = 'FAKEREKEYDENIED00001';
const FAST = { retries: 2, minTimeout: 1, maxTimeout: 5 };
const RUN = '20261124T024512Z-aaaaaa';
const OTHER_RUN = '20261124T030000Z-bbbbbb';

function seededModel(): SecretsManagerModel {
  const model = new SecretsManagerModel({ region: REGION });
  model.createSecret({ Name: 'app', SecretString: JSON.stringify({ API_KEY: INITIAL }) });
  model.createSecret({ Name: 'shared', SecretString: JSON.stringify({ ...SIBLINGS, API_KEY: INITIAL }) });
  model.deny(DENIED_KEY);
  return model;
}

/** The client as it is set up for local servers: endpoint, static credentials, no SDK retries. */
function clientFor(url: string, accessKeyId: string): SecretsManagerClient {
  return new SecretsManagerClient({ region: REGION, endpoint: url, credentials: { accessKeyId, secretAccessKey: 'test-secret-key' }, maxAttempts: 1 });
}

storeContract('aws-secrets-manager (wire, local server)', async () => {
  const server = await start(seededModel());
  const clients = [clientFor(server.url, ALLOWED_KEY), clientFor(server.url, DENIED_KEY)];
  const open = (client = clients[0]!) => openAwsSecretsManagerStore({ client, retry: FAST });
  const model = server.model;
  return {
    store: open(),
    // A resumed process builds its own client.
    reopen: () => {
      const client = clientFor(server.url, ALLOWED_KEY);
      clients.push(client);
      return open(client);
    },
    ref: parseRef(KIND, 'app#API_KEY'),
    fieldRef: parseRef(KIND, 'shared#API_KEY'),
    siblings: SIBLINGS,
    missingRef: parseRef(KIND, 'absent#API_KEY'),
    initial: INITIAL,
    async concurrentWrite(ref, value) {
      const payload = JSON.parse(model.secretString(ref.path)!) as Record<string, string>;
      model.putSecretValue({ SecretId: ref.path, SecretString: JSON.stringify({ ...payload, [ref.field!]: value }) });
    },
    async rawSiblings() {
      const { API_KEY: _, ...rest } = JSON.parse(model.secretString('shared')!) as Record<string, string>;
      return rest;
    },
    denied: { store: open(clients[1]), ref: parseRef(KIND, 'app#API_KEY') },
    async snapshot() {
      const writes = (['CreateSecret', 'PutSecretValue', 'UpdateSecretVersionStage', 'DeleteSecret'] as const).map((op) => model.count(op));
      return { writes, app: model.stages('app'), shared: model.stages('shared') };
    },
    async close() {
      for (const client of clients) client.destroy();
      await server.close();
    },
  };
});

describe('aws-secrets-manager adapter (wire, local server)', () => {
  let server: RunningSecretsManager;
  const ref = parseRef(KIND, 'app#API_KEY');
  const env = { AWS_ACCESS_KEY_ID: ALLOWED_KEY, AWS_SECRET_ACCESS_KEY: 'test-secret-key' };

  beforeEach(async () => {
    server = await start(seededModel());
  });
  afterEach(async () => {
    await server.close();
  });

  const failure = async (promise: Promise<unknown>): Promise<StoreError> => {
    const error = await promise.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error, 'expected the call to fail').toBeInstanceOf(StoreError);
    return error as StoreError;
  };

  it('open() reaches the service through the endpoint and region options, with credentials from the context', async () => {
    const store = adapter.open({ endpoint: server.url, region: REGION }, { baseDir: process.cwd(), env });
    expect(server.model.requests).toBe(0);
    expect((await store.read(ref)).value.reveal()).toBe(INITIAL);
    expect(server.model.count('GetSecretValue')).toBe(1);
  });

  it('retries HTTP 400 ThrottlingException itself, and the SDK does not retry under it', async () => {
    server.model.inject({ operation: 'GetSecretValue', type: 'ThrottlingException', times: 2 });
    const store = openAwsSecretsManagerStore({ endpoint: server.url, region: REGION, env, retry: FAST });
    expect((await store.read(ref)).value.reveal()).toBe(INITIAL);
    expect(server.model.count('GetSecretValue')).toBe(3);
  });

  it('makes exactly retries+1 requests against a persistent HTTP 500: maxAttempts 1 on the client it builds', async () => {
    server.model.inject({ operation: 'GetSecretValue', type: 'InternalServiceError', times: 100 });
    const store = openAwsSecretsManagerStore({ endpoint: server.url, region: REGION, env, retry: FAST });
    const error = await failure(store.read(ref));
    expect(error.code).toBe('unavailable');
    expect(error.retriable).toBe(true);
    expect(server.model.count('GetSecretValue')).toBe(FAST.retries + 1);
  });

  it('reports a refused connection as a retriable unavailable error naming the ref', async () => {
    const { url } = server;
    await server.close();
    const store = openAwsSecretsManagerStore({ endpoint: url, region: REGION, env, retry: { retries: 1, minTimeout: 1, maxTimeout: 2 } });
    const error = await failure(store.read(ref));
    expect(error.code).toBe('unavailable');
    expect(error.message).toContain('app#API_KEY');
  });

  it('stages once when the connection drops after PutSecretValue was applied (a lost reply)', async () => {
    server.model.inject({ operation: 'PutSecretValue', type: 'disconnect', afterApplying: true });
    const store = openAwsSecretsManagerStore({ endpoint: server.url, region: REGION, env, retry: FAST });
    const base = (await store.read(ref)).version;
    expect(await store.stage(ref, new Secret(NEW), RUN, base)).toBe(clientRequestToken(RUN, ref));
    expect(server.model.count('PutSecretValue')).toBe(2);
    expect(server.model.versionCount('app')).toBe(2);
  });

  it('maps an AccessDeniedException from the wire to a permission error with the IAM action in the hint', async () => {
    const store = adapter.open({ endpoint: server.url, region: REGION }, { baseDir: process.cwd(), env: { ...env, AWS_ACCESS_KEY_ID: DENIED_KEY } });
    const error = await failure(store.read(ref));
    expect(error.code).toBe('permission');
    expect(error.hint).toContain('secretsmanager:GetSecretValue');
    expect(server.model.count('GetSecretValue')).toBe(1);
  });

  it('a 403 whatever its body (a proxy’s HTML page, an unmodelled type) is a permission error naming the action, not retried', async () => {
    const store = adapter.open({ endpoint: server.url, region: REGION }, { baseDir: process.cwd(), env: { ...env, AWS_ACCESS_KEY_ID: ALLOWED_KEY } });
    const base = (await store.read(ref)).version;
    const html = '<html><body><h1>403 Forbidden</h1><p>Request blocked by policy.</p></body></html>';
    server.model.faults.push({ operation: 'PutSecretValue', type: 'proxy', status: 403, raw: { body: html, contentType: 'text/html' } });
    const before = server.model.count('PutSecretValue');
    const error = await failure(store.stage(ref, new Secret(NEW), RUN, base));
    expect(error.code).toBe('permission');
    expect(error.retriable).toBe(false);
    expect(error.hint).toContain('secretsmanager:PutSecretValue');
    expect(server.model.count('PutSecretValue') - before).toBe(1);
    server.model.faults.push({ operation: 'GetSecretValue', type: 'NotModelledForbidden', message: 'Explicit deny in a VPC endpoint policy', status: 403 });
    const read = await failure(store.read(ref));
    expect(read.code).toBe('permission');
    expect(read.hint).toContain('secretsmanager:GetSecretValue');
  });

  it('a PutSecretValue that lands after the rollback is cleaned by a second rollback; the next run can stage (defect 4)', async () => {
    const store = openAwsSecretsManagerStore({ endpoint: server.url, region: REGION, env, retry: FAST });
    const base = (await store.read(ref)).version;
    const mine = clientRequestToken(RUN, ref);
    const gate = server.model.hold('PutSecretValue', 'before-effect');
    const staging = store.stage(ref, new Secret(NEW), RUN, base);
    await gate.reached;
    // The run gives up while its write is still in flight: nothing of it is at the service yet, so nothing to undo.
    await store.rollback(ref, RUN);
    expect(server.model.stages('app')[mine]).toBeUndefined();
    gate.release();
    expect(await staging).toBe(mine);
    // The late write left the run's version labelled AWSPENDING: the next rotation would be refused.
    expect(server.model.stages('app')[mine]).toEqual([AWSPENDING]);
    const blocked = await failure(store.canStage(ref, OTHER_RUN, base));
    expect(blocked).toBeInstanceOf(CannotStageError);
    expect(blocked.message).toContain(mine);
    await store.rollback(ref, RUN);
    expect(server.model.stages('app')).toEqual({ [base]: [AWSCURRENT], [mine]: [] });
    await store.rollback(ref, RUN);
    expect((await store.read(ref)).value.reveal()).toBe(INITIAL);
    await store.canStage(ref, OTHER_RUN, base);
  });

  it('a PutSecretValue whose reply is held past the rollback leaves nothing: the rollback saw it and dropped the label (defect 4)', async () => {
    const store = openAwsSecretsManagerStore({ endpoint: server.url, region: REGION, env, retry: FAST });
    const base = (await store.read(ref)).version;
    const mine = clientRequestToken(RUN, ref);
    const gate = server.model.hold('PutSecretValue', 'after-effect');
    const staging = store.stage(ref, new Secret(NEW), RUN, base);
    await gate.reached;
    await store.rollback(ref, RUN);
    gate.release();
    expect(await staging).toBe(mine);
    expect(server.model.stages('app')).toEqual({ [base]: [AWSCURRENT], [mine]: [] });
    // A retry of the same PutSecretValue (same token, same data) is ignored by the service: the label stays off.
    expect(await openAwsSecretsManagerStore({ endpoint: server.url, region: REGION, env, retry: FAST }).stage(ref, new Secret(NEW), RUN, base)).toBe(mine);
    expect(server.model.stages('app')[mine]).toEqual([]);
    await store.canStage(ref, OTHER_RUN, base);
  });

  it('canStage over the wire refuses a foreign AWSPENDING before any write, with the aws CLI line that clears it (defect 5)', async () => {
    const store = openAwsSecretsManagerStore({ endpoint: server.url, region: REGION, env, retry: FAST });
    const leftover = '11111111-2222-4333-8444-555555555555';
    server.model.putSecretValue({ SecretId: 'app', ClientRequestToken: leftover, SecretString: '{"API_KEY":"stale"}', VersionStages: [AWSPENDING] });
    const base = (await store.read(ref)).version;
    const puts = server.model.count('PutSecretValue');
    const error = await failure(store.canStage(ref, RUN, base));
    expect(error).toBeInstanceOf(CannotStageError);
    expect((error as CannotStageError).obstacle).toBe('staged-by-another');
    expect(error.hint).toContain(`--remove-from-version-id ${leftover}`);
    expect(server.model.count('PutSecretValue')).toBe(puts);
    expect(server.model.count('UpdateSecretVersionStage')).toBe(0);
  });

  it('rotates one field of an awkward JSON secret changing only that value’s bytes, through the SDK (defect 11)', async () => {
    // A BOM, CRLF and tabs, a big integer, 1.50, 1e400, escapes, and a duplicate key whose last occurrence counts.
    const doc = (value: string) =>
      `\ufeff{\r\n\t"id": 12345678901234567890,\r\n\t"price": 1.50, "huge": 1e400,\r\n\t"name": "caf\\u00e9 \\/ x",\r\n\t"API_KEY": ` +
      `"shadowed-first-0000",\r\n\t"API_KEY" : ${JSON.stringify(value)}\r\n}\r\n`;
    server.model.createSecret({ Name: 'awkward', SecretString: doc(INITIAL) });
    const awkward = parseRef(KIND, 'awkward#API_KEY');
    const store = openAwsSecretsManagerStore({ endpoint: server.url, region: REGION, env, retry: FAST });
    const current = await store.read(awkward);
    expect(current.value.reveal()).toBe(INITIAL);
    const version = await store.stage(awkward, new Secret(NEW), RUN, current.version);
    await store.promote(awkward, version, RUN, current.version);
    expect(Buffer.from(server.model.secretString('awkward')!, 'utf8').equals(Buffer.from(doc(NEW), 'utf8'))).toBe(true);
    expect((await store.read(awkward)).value.reveal()).toBe(NEW);
    await store.rollback(awkward, RUN);
    expect(server.model.secretString('awkward')).toBe(doc(INITIAL));
  });

  it('runs a whole rotation over the wire and leaves the labels as a rotation Lambda would', async () => {
    const store = openAwsSecretsManagerStore({ endpoint: server.url, region: REGION, env, retry: FAST });
    const base = (await store.read(ref)).version;
    const version = await store.stage(ref, new Secret(NEW), RUN, base);
    await store.promote(ref, version, RUN, base);
    await store.retire(ref, RUN);
    expect(server.model.stages('app')).toEqual({ [base]: ['AWSPREVIOUS'], [version]: [AWSPENDING, AWSCURRENT] });
    expect((await store.read(ref)).createdAt).toBeInstanceOf(Date);
  });
});
