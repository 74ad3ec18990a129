/**
 * The AWS Secrets Manager adapter against the SDK-level mock: aws-sdk-client-mock replaces `SecretsManagerClient#send`,
 * and every command is answered by the in-memory model of the service (test/fakes/aws-secrets-manager-model.ts), so
 * the adapter meets the documented label rules without a network. The shared contract suite runs first, then the
 * behaviours specific to this store.
 */
process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';

import { randomUUID } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { inspect } from 'node:util';
import * as sdk from '@aws-sdk/client-secrets-manager';
import {
  DescribeSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
  SecretsManagerServiceException,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import adapter, { clientRequestToken, openAwsSecretsManagerStore, toStoreError } from '../../adapters/stores/aws-secrets-manager/index.js';
import { Secret } from '../../src/contract/secret.js';
import { parseRef, type SecretStore } from '../../src/contract/store.js';
import { CannotStageError, StoreError } from '../../src/contract/store-errors.js';
import {
  AWSCURRENT,
  AWSPENDING,
  AWSPREVIOUS,
  ModelDisconnect,
  SecretsManagerModel,
  SecretsManagerModelError,
  type Operation,
} from '../fakes/aws-secrets-manager-model.js';
import { storeContract } from './suite.js';

const KIND = 'aws-secrets-manager';
const INITIAL = 'rk_canary_INITIAL_4b1d7e2a9c8f3e6d';
const NEW = 'rk_canary_AWSNEW_51c0de9a7b3f2e18';
const SIBLINGS = { DATABASE_URL: 'postgres://db.internal/app', REGION: 'eu-west-1' };
const ALLOWED_KEY = 'FAKEREKEYALLOWED0001';
const DENIED_KEY = 'FAKEREKEYDENIED00001';
const FAST = { retries: 3, minTimeout: 1, maxTimeout: 5 };
const RUN = '20261124T024512Z-aaaaaa';
const OTHER_RUN = '20261124T030000Z-bbbbbb';

const smMock = mockClient(SecretsManagerClient);
afterAll(() => smMock.restore());

/** Hooks a test can set to act as another writer right after the model answers an operation. */
const after = new Map<Operation, () => void>();

/** Answer every command from `model`, as the service would, with the caller's access key id as the principal. */
function routeTo(model: SecretsManagerModel): void {
  smMock.reset();
  after.clear();
  const commands: ReadonlyArray<[Operation, new (input: never) => unknown]> = [
    ['GetSecretValue', sdk.GetSecretValueCommand],
    ['PutSecretValue', sdk.PutSecretValueCommand],
    ['DescribeSecret', sdk.DescribeSecretCommand],
    ['UpdateSecretVersionStage', sdk.UpdateSecretVersionStageCommand],
    ['CreateSecret', sdk.CreateSecretCommand],
    ['ListSecretVersionIds', sdk.ListSecretVersionIdsCommand],
    ['DeleteSecret', sdk.DeleteSecretCommand],
  ];
  for (const [operation, command] of commands) {
    smMock.on(command as never).callsFake(async (input: Record<string, unknown>, getClient: () => SecretsManagerClient) => {
      const credentials = await getClient().config.credentials();
      try {
        const output = await model.call(operation, structuredClone(input), { accessKeyId: credentials.accessKeyId });
        after.get(operation)?.();
        return { ...output, $metadata: { httpStatusCode: 200 } };
      } catch (error) {
        throw sdkErrorOf(error);
      }
    });
  }
}

/** The error the SDK would raise for a model error: the modelled exception class when there is one. */
function sdkErrorOf(error: unknown): unknown {
  if (error instanceof ModelDisconnect) return Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
  if (!(error instanceof SecretsManagerModelError)) return error;
  const options = { message: error.message, $metadata: { httpStatusCode: error.status, requestId: randomUUID() } };
  const Modelled = (sdk as unknown as Record<string, unknown>)[error.type];
  if (typeof Modelled === 'function' && Modelled.prototype instanceof SecretsManagerServiceException) {
    return new (Modelled as new (o: typeof options) => Error)(options);
  }
  return new SecretsManagerServiceException({ ...options, name: error.type, $fault: error.status >= 500 ? 'server' : 'client' });
}

function clientFor(accessKeyId: string): SecretsManagerClient {
  return new SecretsManagerClient({ region: 'us-east-1', credentials: { accessKeyId, secretAccessKey: 'test-secret-key' }, maxAttempts: 1 });
}

/** A model seeded with the contract's secrets: `app` ({API_KEY}) and `shared` ({API_KEY, ...SIBLINGS}). */
function seededModel(): SecretsManagerModel {
  const model = new SecretsManagerModel();
  model.createSecret({ Name: 'app', SecretString: JSON.stringify({ API_KEY: INITIAL }) });
  model.createSecret({ Name: 'shared', SecretString: JSON.stringify({ ...SIBLINGS, API_KEY: INITIAL }) });
  model.deny(DENIED_KEY);
  return model;
}

function openStore(accessKeyId = ALLOWED_KEY): SecretStore {
  return openAwsSecretsManagerStore({ client: clientFor(accessKeyId), retry: FAST });
}

storeContract('aws-secrets-manager (SDK mock)', async () => {
  const model = seededModel();
  routeTo(model);
  return {
    store: openStore(),
    reopen: () => openStore(),
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
    denied: { store: openStore(DENIED_KEY), ref: parseRef(KIND, 'app#API_KEY') },
    async snapshot() {
      const writes = (['CreateSecret', 'PutSecretValue', 'UpdateSecretVersionStage', 'DeleteSecret'] as const).map((op) => model.count(op));
      return { writes, app: model.stages('app'), shared: model.stages('shared') };
    },
    async close() {},
  };
});

describe('aws-secrets-manager adapter (SDK mock)', () => {
  let model: SecretsManagerModel;
  let store: SecretStore;
  const ref = parseRef(KIND, 'app#API_KEY');

  beforeEach(() => {
    model = seededModel();
    routeTo(model);
    store = openStore();
  });

  const failure = async (promise: Promise<unknown>): Promise<StoreError> => {
    const error = await promise.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error, 'expected the call to fail').toBeInstanceOf(StoreError);
    return error as StoreError;
  };

  /** Stage and promote NEW for RUN; returns the base and the new version. */
  const rotate = async (): Promise<{ base: string; version: string }> => {
    const base = (await store.read(ref)).version;
    const version = await store.stage(ref, new Secret(NEW), RUN, base);
    await store.promote(ref, version, RUN, base);
    return { base, version };
  };

  it('builds the client again after a failed build instead of keeping the failure for the life of the process', async () => {
    let builds = 0;
    const rebuilt = openAwsSecretsManagerStore({
      retry: FAST,
      build: async () => {
        builds++;
        if (builds === 1) throw new Error('could not load credentials');
        return clientFor(ALLOWED_KEY);
      },
    });
    await expect(rebuilt.read(ref)).rejects.toThrow('could not load credentials');
    expect((await rebuilt.read(ref)).value.reveal()).toBe(INITIAL);
    expect(builds).toBe(2);
  });

  it('describe gives the AWSCURRENT version and its date without reading the value, and nothing for a missing secret', async () => {
    const currentOf = (stages: Record<string, string[]>) => Object.entries(stages).find(([, s]) => s.includes('AWSCURRENT'))?.[0];
    const before = await store.describe!(ref);
    expect(before?.version).toBe(currentOf(model.stages('app')));
    expect(before?.createdAt).toBeInstanceOf(Date);
    await rotate();
    const reads = model.count('GetSecretValue');
    const after = await store.describe!(ref);
    expect(after?.version).toBe(currentOf(model.stages('app')));
    expect(after?.version).not.toBe(before?.version);
    expect(model.count('GetSecretValue')).toBe(reads);
    expect(JSON.stringify(after)).not.toContain(NEW);
    expect(await store.describe!(parseRef(KIND, 'absent#API_KEY'))).toBeUndefined();
  });

  it('validateRef accepts a secret name or ARN, with or without a field, and refuses what AWS cannot name', () => {
    for (const text of ['prod/app#API_KEY', 'prod/app', 'a+b=c.d@e-f_g', 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/app-AbCdEf#K']) {
      expect(adapter.validateRef(parseRef(KIND, text)), text).toBeUndefined();
    }
    expect(adapter.validateRef(parseRef(KIND, 'prod app#API_KEY'))).toContain('ASCII letters, digits and /_+=.@-');
    expect(adapter.validateRef(parseRef(KIND, 'arn:aws:s3:::bucket'))).toContain('not a Secrets Manager ARN');
    expect(adapter.validateRef(parseRef(KIND, 'prod/app#'))).toContain('nothing after "#"');
  });

  it('retries throttling with backoff, then succeeds, with one request per attempt', async () => {
    model.inject({ operation: 'GetSecretValue', type: 'ThrottlingException', times: 2 });
    expect((await store.read(ref)).value.reveal()).toBe(INITIAL);
    expect(model.count('GetSecretValue')).toBe(3);
  });

  it('gives up on persistent 5xx with a retriable unavailable error after the configured retries', async () => {
    model.inject({ operation: 'GetSecretValue', type: 'InternalServiceError', times: 100 });
    const error = await failure(store.read(ref));
    expect(error.code).toBe('unavailable');
    expect(error.retriable).toBe(true);
    expect(model.count('GetSecretValue')).toBe(FAST.retries + 1);
  });

  it('fails at once on AccessDenied, as a permission error whose hint names the missing IAM action', async () => {
    model.deny('FAKEWRITEDENIED00001', ['PutSecretValue']);
    const writer = openStore('FAKEWRITEDENIED00001');
    const base = (await writer.read(ref)).version;
    const error = await failure(writer.stage(ref, new Secret(NEW), RUN, base));
    expect(error.code).toBe('permission');
    expect(error.retriable).toBe(false);
    expect(error.hint).toContain('secretsmanager:PutSecretValue');
    expect(error.message).toContain('app#API_KEY');
    expect(model.count('PutSecretValue')).toBe(1);
  });

  it('reads the current value by asking for VersionStage AWSCURRENT, not by leaving the label to the default', async () => {
    const store = openStore();
    const value = await store.read(ref);
    expect(value.value.reveal()).toBe(INITIAL);
    const reads = smMock.commandCalls(GetSecretValueCommand).map((c) => c.args[0].input);
    expect(reads).toEqual([{ SecretId: 'app', VersionStage: AWSCURRENT }]);
  });

  it('refuses to stage over a left-over AWSPENDING from another run, says how to clear it, and writes nothing', async () => {
    const leftover = randomUUID();
    model.putSecretValue({ SecretId: 'app', ClientRequestToken: leftover, SecretString: '{"API_KEY":"stale"}', VersionStages: [AWSPENDING] });
    const versions = model.versionCount('app');
    const base = (await store.read(ref)).version;
    const error = await failure(store.stage(ref, new Secret(NEW), RUN, base));
    expect(error.code).toBe('conflict');
    expect(error.message).toContain(leftover);
    expect(error.hint).toContain(`--version-stage AWSPENDING --remove-from-version-id ${leftover}`);
    expect(model.versionCount('app')).toBe(versions);
    expect(model.count('PutSecretValue')).toBe(0);
    expect(model.stages('app')[leftover]).toEqual([AWSPENDING]);
  });

  it('canStage refuses a left-over AWSPENDING with one DescribeSecret and no write, as stage would (defect 5)', async () => {
    const leftover = randomUUID();
    model.putSecretValue({ SecretId: 'app', ClientRequestToken: leftover, SecretString: '{"API_KEY":"stale"}', VersionStages: [AWSPENDING] });
    const base = (await store.read(ref)).version;
    const before = model.requests;
    const error = await failure(store.canStage(ref, RUN, base));
    expect(error).toBeInstanceOf(CannotStageError);
    expect(error).toMatchObject({ code: 'conflict', obstacle: 'staged-by-another', operation: 'pre-flight' });
    expect(error.message).toContain(leftover);
    expect(error.hint).toContain(
      `aws secretsmanager update-secret-version-stage --secret-id app --version-stage AWSPENDING --remove-from-version-id ${leftover}`,
    );
    expect(model.requests - before).toBe(1);
    expect(smMock.commandCalls(DescribeSecretCommand)).toHaveLength(1);
    expect(model.stages('app')[leftover]).toEqual([AWSPENDING]);
  });

  it('canStage accepts an AWSPENDING that sits on the AWSCURRENT version, as stage does (defect 5)', async () => {
    const base = (await store.read(ref)).version;
    model.updateSecretVersionStage({ SecretId: 'app', VersionStage: AWSPENDING, MoveToVersionId: base });
    await store.canStage(ref, RUN, base);
  });

  it('canStage refuses a secret scheduled for deletion, with the restore command (defect 5)', async () => {
    const base = (await store.read(ref)).version;
    model.deleteSecret({ SecretId: 'app', RecoveryWindowInDays: 7 });
    const error = await failure(store.canStage(ref, RUN, base));
    expect(error).toMatchObject({ obstacle: 'unusable' });
    expect(error.hint).toContain('aws secretsmanager restore-secret --secret-id app');
  });

  it('canStage refuses a secret managed by another service, which AWS would refuse at PutSecretValue after the mint (defect 5)', async () => {
    const base = (await store.read(ref)).version;
    model.manageBy('app', 'rds');
    const error = await failure(store.canStage(ref, RUN, base));
    expect(error).toMatchObject({ obstacle: 'unusable' });
    expect(error.message).toContain('rds');
    // Without the pre-flight, this is where the run would have learnt it: after the provider minted.
    expect((await failure(store.stage(ref, new Secret(NEW), RUN, base))).message).toContain('managed by another service');
    expect(model.versionCount('app')).toBe(1);
  });

  it('does not count an AWSPENDING label that sits on the AWSCURRENT version as a left-over', async () => {
    const base = (await store.read(ref)).version;
    model.updateSecretVersionStage({ SecretId: 'app', VersionStage: AWSPENDING, MoveToVersionId: base });
    const version = await store.stage(ref, new Secret(NEW), RUN, base);
    expect(model.stages('app')[version]).toEqual([AWSPENDING]);
    expect(model.stages('app')[base]).toEqual([AWSCURRENT]);
  });

  it('refuses to stage when AWSCURRENT is no longer the version the run started from', async () => {
    const base = (await store.read(ref)).version;
    model.putSecretValue({ SecretId: 'app', SecretString: '{"API_KEY":"someone-else"}' });
    const error = await failure(store.stage(ref, new Secret(NEW), RUN, base));
    expect(error.code).toBe('conflict');
    expect(error.message).toContain(base);
    expect(model.count('PutSecretValue')).toBe(0);
  });

  it('derives one stable, UUID-shaped ClientRequestToken per run and ref, and stages under it', async () => {
    const token = clientRequestToken(RUN, ref);
    expect(token).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(token.length).toBeGreaterThanOrEqual(32);
    expect(token.length).toBeLessThanOrEqual(64);
    expect(clientRequestToken(RUN, parseRef(KIND, 'app#API_KEY'))).toBe(token);
    expect(clientRequestToken(OTHER_RUN, ref)).not.toBe(token);
    expect(clientRequestToken(RUN, parseRef(KIND, 'app#OTHER'))).not.toBe(token);
    expect(clientRequestToken(RUN, parseRef(KIND, 'app'))).not.toBe(token);
    expect(clientRequestToken(RUN, parseRef(KIND, 'other#API_KEY'))).not.toBe(token);

    const base = (await store.read(ref)).version;
    expect(await store.stage(ref, new Secret(NEW), RUN, base)).toBe(token);
    const puts = smMock.commandCalls(PutSecretValueCommand);
    expect(puts).toHaveLength(1);
    expect(puts[0]!.args[0].input).toMatchObject({ SecretId: 'app', ClientRequestToken: token, VersionStages: [AWSPENDING] });
  });

  it('writes one version only when the PutSecretValue reply is lost and the call is retried', async () => {
    model.inject({ operation: 'PutSecretValue', type: 'disconnect', afterApplying: true });
    const base = (await store.read(ref)).version;
    const version = await store.stage(ref, new Secret(NEW), RUN, base);
    expect(version).toBe(clientRequestToken(RUN, ref));
    expect(model.count('PutSecretValue')).toBe(2);
    expect(model.versionCount('app')).toBe(2);
    expect((await store.readStaged(ref, RUN))?.value.reveal()).toBe(NEW);
  });

  it('refuses a second stage of the same run with a different value instead of pretending it is staged', async () => {
    const base = (await store.read(ref)).version;
    await store.stage(ref, new Secret(NEW), RUN, base);
    const error = await failure(openStore().stage(ref, new Secret('rk_canary_REMINTED_0f1e2d3c4b5a'), RUN, base));
    expect(error.code).toBe('conflict');
    expect(model.versionCount('app')).toBe(2);
  });

  it('treats a retried promote whose first reply was lost as done, not as a conflict', async () => {
    const base = (await store.read(ref)).version;
    const version = await store.stage(ref, new Secret(NEW), RUN, base);
    model.inject({ operation: 'UpdateSecretVersionStage', type: 'disconnect', afterApplying: true });
    await store.promote(ref, version, RUN, base);
    expect((await store.read(ref)).value.reveal()).toBe(NEW);
    expect(model.stages('app')).toEqual({ [base]: [AWSPREVIOUS], [version]: [AWSPENDING, AWSCURRENT] });
  });

  it('reports a value written by someone else after the stage as a conflict: the one move is refused, nothing is clobbered', async () => {
    const base = (await store.read(ref)).version;
    const version = await store.stage(ref, new Secret(NEW), RUN, base);
    model.putSecretValue({ SecretId: 'app', SecretString: '{"API_KEY":"rk_canary_RACER_9a8b7c6d5e4f"}' });
    const error = await failure(store.promote(ref, version, RUN, base));
    expect(error.code).toBe('conflict');
    expect(error.message).toContain(`expected ${base}`);
    expect(model.count('UpdateSecretVersionStage')).toBe(1);
    expect(JSON.parse(model.secretString('app')!)).toEqual({ API_KEY: 'rk_canary_RACER_9a8b7c6d5e4f' });
  });

  it('promote is one write: AWSCURRENT moves from base (the compare-and-swap), AWSPENDING stays on the now current version', async () => {
    const base = (await store.read(ref)).version;
    const version = await store.stage(ref, new Secret(NEW), RUN, base);
    const before = model.requests;
    await store.promote(ref, version, RUN, base);
    expect(model.requests - before).toBe(1);
    // As AWS's own rotations end (API reference, RotateSecret): AWSPENDING on the AWSCURRENT version is no left-over.
    expect(model.stages('app')).toEqual({ [base]: [AWSPREVIOUS], [version]: [AWSPENDING, AWSCURRENT] });
    const moves = smMock.commandCalls(UpdateSecretVersionStageCommand).map((c) => c.args[0].input);
    expect(moves).toEqual([{ SecretId: 'app', VersionStage: AWSCURRENT, MoveToVersionId: version, RemoveFromVersionId: base }]);
  });

  it('retire writes nothing: AWSPREVIOUS stays on the old version (AWS convention), AWSPENDING on the current one', async () => {
    const { base, version } = await rotate();
    const before = model.requests;
    await store.retire(ref, RUN);
    expect(model.requests - before).toBe(0);
    expect(model.stages('app')).toEqual({ [base]: [AWSPREVIOUS], [version]: [AWSPENDING, AWSCURRENT] });
  });

  it('the next rotation stages over the AWSPENDING a finished one left on the current version, and takes the label', async () => {
    const first = await rotate();
    const next = '20261125T000000Z-b0b0b0';
    const base = (await store.read(ref)).version;
    expect(base).toBe(first.version);
    await store.canStage(ref, next, base);
    const version = await store.stage(ref, new Secret('rk_live_NEXT_1a2b3c4d5e6f7a8b'), next, base);
    expect(model.stages('app')[version]).toEqual([AWSPENDING]);
    expect(model.stages('app')[first.version]).toEqual([AWSCURRENT]);
  });

  it('rollback moves AWSCURRENT back to the AWSPREVIOUS version and leaves no AWSPENDING', async () => {
    const { base, version } = await rotate();
    await store.rollback(ref, RUN);
    expect(model.stages('app')).toEqual({ [base]: [AWSCURRENT], [version]: [AWSPREVIOUS] });
    expect(await store.readPrevious(ref, RUN)).toBeUndefined();
  });

  it('rollback of a staged run drops only its AWSPENDING label, even after someone else wrote', async () => {
    const base = (await store.read(ref)).version;
    const version = await store.stage(ref, new Secret(NEW), RUN, base);
    model.putSecretValue({ SecretId: 'app', SecretString: '{"API_KEY":"rk_canary_LATER_0a1b2c3d4e5f"}' });
    await store.rollback(ref, RUN);
    expect(model.stages('app')[version]).toEqual([]);
    expect(JSON.parse(model.secretString('app')!)).toEqual({ API_KEY: 'rk_canary_LATER_0a1b2c3d4e5f' });
  });

  it('a ref without #field rotates the whole SecretString, in two requests for stage', async () => {
    const whole = parseRef(KIND, 'plainkey');
    model.createSecret({ Name: 'plainkey', SecretString: INITIAL });
    const base = (await store.read(whole)).version;
    const before = model.requests;
    const version = await store.stage(whole, new Secret(NEW), RUN, base);
    expect(model.requests - before).toBe(2);
    expect(model.secretString('plainkey', AWSPENDING)).toBe(NEW);
    await store.promote(whole, version, RUN, base);
    expect(model.secretString('plainkey')).toBe(NEW);
    expect((await store.readPrevious(whole, RUN))?.value.reveal()).toBe(INITIAL);
  });

  it('stage of a JSON field right after its pre-flight costs one request, PutSecretValue, built on the version the read returned', async () => {
    const base = (await store.read(ref)).version;
    await store.canStage(ref, RUN, base);
    const before = model.requests;
    await store.stage(ref, new Secret(NEW), RUN, base);
    expect(model.requests - before).toBe(1);
    expect(model.count('PutSecretValue')).toBe(1);
    expect(JSON.parse(model.secretString('app', AWSPENDING)!)).toMatchObject({ API_KEY: NEW });
  });

  it('stage without a pre-flight of its run (a resumed run) reads the labels first: DescribeSecret, then PutSecretValue', async () => {
    const base = (await store.read(ref)).version;
    await store.canStage(ref, 'another-run', base);
    const before = model.requests;
    await store.stage(ref, new Secret(NEW), RUN, base);
    expect(model.requests - before).toBe(2);
    expect(smMock.commandCalls(GetSecretValueCommand)).toHaveLength(1);
  });

  it('readStaged of a missing secret is a not-found error, not "nothing staged"', async () => {
    const error = await failure(store.readStaged(parseRef(KIND, 'absent#API_KEY'), RUN));
    expect(error.code).toBe('not-found');
  });

  it('check names the missing IAM action in plain words and does not claim writability it cannot see', async () => {
    model.deny('FAKEREADDENIED000001', ['GetSecretValue']);
    const check = await openStore('FAKEREADDENIED000001').check(ref);
    expect(check.readable).toBe(false);
    expect(check.writable).toBeUndefined();
    expect(check.notes.join(' ')).toContain('secretsmanager:GetSecretValue');
    const ok = await store.check(ref);
    expect(ok).toMatchObject({ readable: true, writable: undefined, notes: [] });
    expect(model.count('PutSecretValue') + model.count('UpdateSecretVersionStage')).toBe(0);
  });

  it('a left-over AWSPENDING that would block staging is reported once, by canStage, not also by check (defect 5)', async () => {
    const leftover = randomUUID();
    model.putSecretValue({ SecretId: 'app', ClientRequestToken: leftover, SecretString: '{"API_KEY":"stale"}', VersionStages: [AWSPENDING] });
    const check = await store.check(ref);
    expect(check.readable).toBe(true);
    expect(check.notes.join(' ')).not.toContain(leftover);
    expect((await failure(store.canStage(ref, RUN, (await store.read(ref)).version))).message).toContain(leftover);
  });

  it('a secret scheduled for deletion reads as not found, with a hint to restore it', async () => {
    model.deleteSecret({ SecretId: 'app', RecoveryWindowInDays: 7 });
    const error = await failure(store.read(ref));
    expect(error.code).toBe('not-found');
    expect(error.hint).toContain('restore-secret');
  });

  it('no canary value appears in any error message, hint or serialised error', async () => {
    // Values that never become a Secret (siblings, a non-JSON payload) are not known to the redactor, so only the
    // adapter's own care keeps them out of messages.
    const sibling = 'rk_canary_SIBLING_6e5d4c3b2a190817';
    const raw = 'rk_canary_RAWTEXT_1f2e3d4c5b6a7988';
    model.createSecret({ Name: 'siblings', SecretString: JSON.stringify({ OTHER: sibling }) });
    model.createSecret({ Name: 'plain', SecretString: raw });
    model.deny('FAKEWRITEDENIED00002', ['PutSecretValue', 'UpdateSecretVersionStage']);
    const writer = openStore('FAKEWRITEDENIED00002');
    // The base comes from the side door: reading `siblings#OTHER` through the adapter would register the canary.
    const leftoverBase = Object.keys(model.stages('siblings'))[0]!;
    const errors: StoreError[] = [
      await failure(store.read(parseRef(KIND, 'siblings#API_KEY'))),
      await failure(store.read(parseRef(KIND, 'plain#API_KEY'))),
      await failure(writer.stage(parseRef(KIND, 'siblings#API_KEY'), new Secret(NEW), RUN, leftoverBase)),
      await failure(openStore(DENIED_KEY).read(parseRef(KIND, 'siblings#OTHER'))),
      await failure(store.stage(parseRef(KIND, 'siblings#API_KEY'), new Secret(NEW), RUN, 'not-the-base-version-0000000000000')),
    ];
    // Were the service ever to echo what it was sent, the other fields of the JSON secret must still not show.
    model.inject({
      operation: 'PutSecretValue',
      type: 'InternalServiceError',
      message: `could not store ${JSON.stringify({ OTHER: sibling, API_KEY: NEW })}`,
      times: 100,
    });
    errors.push(await failure(store.stage(parseRef(KIND, 'siblings#API_KEY'), new Secret(NEW), OTHER_RUN, leftoverBase)));
    expect(errors.map((e) => e.code)).toEqual(['not-found', 'invalid', 'permission', 'permission', 'conflict', 'unavailable']);
    for (const error of errors) {
      for (const text of [error.message, error.hint ?? '', JSON.stringify(error), inspect(error, { depth: 0 })]) {
        for (const canary of [sibling, raw, NEW]) expect(text).not.toContain(canary);
      }
    }
  });

  it('maps service errors to typed store errors, without request ids', () => {
    const at = parseRef(KIND, 'prod/app#API_KEY');
    const error = (name: string, message: string, status = 400, extra: Record<string, unknown> = {}) =>
      Object.assign(new Error(message), { name, $metadata: { httpStatusCode: status }, ...extra });
    const cases: Array<[unknown, 'GetSecretValue' | 'UpdateSecretVersionStage', string, boolean]> = [
      [error('ResourceNotFoundException', "Secrets Manager can't find the specified secret."), 'GetSecretValue', 'not-found', false],
      [error('AccessDeniedException', 'User: x is not authorized'), 'GetSecretValue', 'permission', false],
      [error('Unknown', '<html>403 Forbidden</html>', 403), 'GetSecretValue', 'permission', false],
      [error('InvalidClientTokenId', 'The security token included in the request is invalid.', 403), 'GetSecretValue', 'permission', false],
      [error('UnrecognizedClientException', 'The security token included in the request is invalid.'), 'GetSecretValue', 'permission', false],
      [error('ExpiredTokenException', 'The security token included in the request is expired'), 'GetSecretValue', 'permission', false],
      [error('ThrottlingException', 'Rate exceeded'), 'GetSecretValue', 'unavailable', true],
      [error('InternalServiceError', 'An error occurred on the server side.', 500), 'GetSecretValue', 'unavailable', true],
      [error('BadGateway', 'upstream', 502), 'GetSecretValue', 'unavailable', true],
      [Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }), 'GetSecretValue', 'unavailable', true],
      [error('InvalidParameterException', 'Staging label AWSCURRENT is currently attached to version x'), 'UpdateSecretVersionStage', 'conflict', false],
      [
        error('InvalidRequestException', "You can't perform this operation on the secret because it was marked for deletion."),
        'GetSecretValue',
        'not-found',
        false,
      ],
      [error('ValidationException', 'bad input'), 'GetSecretValue', 'invalid', false],
      [new Error('Region is missing'), 'GetSecretValue', 'invalid', false],
    ];
    for (const [input, action, code, retriable] of cases) {
      const mapped = toStoreError(input, 'read', at, action);
      expect(mapped.code, (input as Error).name).toBe(code);
      expect(mapped.retriable).toBe(retriable);
      expect(mapped.message.startsWith('read aws-secrets-manager:prod/app#API_KEY: ')).toBe(true);
    }
    const withId = toStoreError(error('InternalServiceError', 'failure, RequestId: 5f0e1d2c-aaaa-bbbb', 500), 'read', at, 'GetSecretValue');
    expect(withId.message).not.toContain('5f0e1d2c-aaaa-bbbb');
  });

  it('open() builds the real client on first use only, with maxAttempts 1, the region option and credentials from the context', async () => {
    const seen: Array<{ region: string; maxAttempts: number; accessKeyId: string }> = [];
    smMock.on(GetSecretValueCommand).callsFake(async (input: Record<string, unknown>, getClient: () => SecretsManagerClient) => {
      const config = getClient().config;
      seen.push({ region: await config.region(), maxAttempts: await config.maxAttempts(), accessKeyId: (await config.credentials()).accessKeyId });
      return { ...(await model.call('GetSecretValue', input)), $metadata: {} };
    });
    delete process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'];
    const opened = adapter.open(
      { region: 'eu-west-3' },
      { baseDir: process.cwd(), env: { AWS_ACCESS_KEY_ID: 'FAKEFROMCONTEXT00001', AWS_SECRET_ACCESS_KEY: 'k' } },
    );
    expect(smMock.calls()).toHaveLength(0);
    expect((await opened.read(ref)).value.reveal()).toBe(INITIAL);
    expect(seen).toEqual([{ region: 'eu-west-3', maxAttempts: 1, accessKeyId: 'FAKEFROMCONTEXT00001' }]);
    expect(process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED']).toBe('true');
  });

  it('imports the SDK lazily: no module of the adapter has a value import of @aws-sdk at top level', async () => {
    const folder = new URL('../../adapters/stores/aws-secrets-manager/', import.meta.url);
    const source = (await Promise.all((await readdir(folder)).map((name) => readFile(new URL(name, folder), 'utf8')))).join('\n');
    const statements = [...source.matchAll(/^import(\s+type)?\s[^;]*?from\s+'(@aws-sdk\/[^']+)'/gms)];
    expect(statements.length).toBeGreaterThan(0);
    for (const statement of statements) expect(statement[1], statement[0]).toBe(' type');
    expect(source).toContain("import('@aws-sdk/client-secrets-manager')");
  });

  it('exposes the adapter as a plain object with the documented options', () => {
    expect(adapter.kind).toBe(KIND);
    expect(Object.fromEntries(Object.entries(adapter.options).map(([key, option]) => [key, option.type]))).toEqual({
      region: 'string',
      endpoint: 'string',
      profile: 'string',
    });
    for (const option of Object.values(adapter.options)) expect(option.description).not.toBe('');
    const opened = adapter.open({}, { baseDir: '.', env: {} });
    expect(opened.capabilities).toEqual({ readBack: true, staging: true, versions: true, compareAndSwap: true });
  });

  it('uses only the four documented actions on the happy path', async () => {
    await rotate();
    await store.readPrevious(ref, RUN);
    await store.retire(ref, RUN);
    await store.check(ref);
    const used = new Set(smMock.calls().map((c) => (c.args[0] as { constructor: { name: string } }).constructor.name));
    expect([...used].sort()).toEqual(
      [DescribeSecretCommand.name, GetSecretValueCommand.name, PutSecretValueCommand.name, UpdateSecretVersionStageCommand.name].sort(),
    );
  });
});

describe('the Secrets Manager model follows the documented API rules', () => {
  const tokenA = 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa';
  const tokenB = 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb';
  const typeOf = (fn: () => unknown): string => {
    try {
      fn();
    } catch (error) {
      return (error as SecretsManagerModelError).type;
    }
    return 'no error';
  };

  it('PutSecretValue without VersionStages moves AWSCURRENT, and AWSPREVIOUS follows to the version it left', () => {
    const model = new SecretsManagerModel();
    const first = model.createSecret({ Name: 's', SecretString: 'one-value' })['VersionId'] as string;
    model.putSecretValue({ SecretId: 's', ClientRequestToken: tokenA, SecretString: 'two-value' });
    model.putSecretValue({ SecretId: 's', ClientRequestToken: tokenB, SecretString: 'three-value' });
    expect(model.stages('s')).toEqual({ [first]: [], [tokenA]: [AWSPREVIOUS], [tokenB]: [AWSCURRENT] });
  });

  it('PutSecretValue is idempotent on ClientRequestToken for the same data and refuses different data', () => {
    const model = new SecretsManagerModel();
    model.createSecret({ Name: 's', SecretString: 'one-value' });
    model.putSecretValue({ SecretId: 's', ClientRequestToken: tokenA, SecretString: 'two-value', VersionStages: [AWSPENDING] });
    expect(model.putSecretValue({ SecretId: 's', ClientRequestToken: tokenA, SecretString: 'two-value', VersionStages: [AWSPENDING] })['VersionId']).toBe(
      tokenA,
    );
    expect(model.versionCount('s')).toBe(2);
    expect(typeOf(() => model.putSecretValue({ SecretId: 's', ClientRequestToken: tokenA, SecretString: 'other-value' }))).toBe('ResourceExistsException');
    expect(typeOf(() => model.putSecretValue({ SecretId: 's', ClientRequestToken: 'short', SecretString: 'x-value' }))).toBe('ValidationException');
  });

  it('a staging label sits on one version at a time: staging AWSPENDING again takes it from the other version', () => {
    const model = new SecretsManagerModel();
    const first = model.createSecret({ Name: 's', SecretString: 'one-value' })['VersionId'] as string;
    model.putSecretValue({ SecretId: 's', ClientRequestToken: tokenA, SecretString: 'two-value', VersionStages: [AWSPENDING] });
    model.putSecretValue({ SecretId: 's', ClientRequestToken: tokenB, SecretString: 'three-value', VersionStages: [AWSPENDING] });
    expect(model.stages('s')).toEqual({ [first]: [AWSCURRENT], [tokenA]: [], [tokenB]: [AWSPENDING] });
  });

  it('a repeated PutSecretValue with the same token and data is ignored: a label removed meanwhile is not put back', () => {
    const model = new SecretsManagerModel();
    const first = model.createSecret({ Name: 's', SecretString: 'one-value' })['VersionId'] as string;
    model.putSecretValue({ SecretId: 's', ClientRequestToken: tokenA, SecretString: 'two-value', VersionStages: [AWSPENDING] });
    model.updateSecretVersionStage({ SecretId: 's', VersionStage: AWSPENDING, RemoveFromVersionId: tokenA });
    model.putSecretValue({ SecretId: 's', ClientRequestToken: tokenA, SecretString: 'two-value', VersionStages: [AWSPENDING] });
    expect(model.stages('s')).toEqual({ [first]: [AWSCURRENT], [tokenA]: [] });
  });

  it('a secret managed by another service refuses writes with InvalidRequestException, and DescribeSecret names the service', () => {
    const model = new SecretsManagerModel();
    const first = model.createSecret({ Name: 's', SecretString: 'one-value' })['VersionId'] as string;
    model.manageBy('s', 'rds');
    expect(model.describeSecret({ SecretId: 's' })['OwningService']).toBe('rds');
    expect(typeOf(() => model.putSecretValue({ SecretId: 's', SecretString: 'two-value' }))).toBe('InvalidRequestException');
    expect(typeOf(() => model.updateSecretVersionStage({ SecretId: 's', VersionStage: AWSPENDING, MoveToVersionId: first }))).toBe('InvalidRequestException');
    expect(model.getSecretValue({ SecretId: 's' })['SecretString']).toBe('one-value');
  });

  it('a gate holds one request before its effect (or its reply after it) until released; later requests pass', async () => {
    const model = new SecretsManagerModel();
    model.createSecret({ Name: 's', SecretString: 'one-value' });
    const gate = model.hold('PutSecretValue');
    const held = model.call('PutSecretValue', { SecretId: 's', ClientRequestToken: tokenA, SecretString: 'two-value', VersionStages: [AWSPENDING] });
    await gate.reached;
    expect(model.versionCount('s')).toBe(1);
    await model.call('PutSecretValue', { SecretId: 's', ClientRequestToken: tokenB, SecretString: 'three-value', VersionStages: ['OTHER'] });
    expect(model.versionCount('s')).toBe(2);
    gate.release();
    await held;
    expect(model.stages('s')[tokenA]).toEqual([AWSPENDING]);

    const after = model.hold('UpdateSecretVersionStage', 'after-effect');
    let answered = false;
    const reply = model
      .call('UpdateSecretVersionStage', { SecretId: 's', VersionStage: AWSPENDING, RemoveFromVersionId: tokenA })
      .then(() => (answered = true));
    await after.reached;
    expect(model.stages('s')[tokenA]).toEqual([]);
    expect(answered).toBe(false);
    after.release();
    await reply;
    expect(answered).toBe(true);
  });

  it('moving AWSCURRENT needs RemoveFromVersionId naming the version that holds it', () => {
    const model = new SecretsManagerModel();
    const first = model.createSecret({ Name: 's', SecretString: 'one-value' })['VersionId'] as string;
    model.putSecretValue({ SecretId: 's', ClientRequestToken: tokenA, SecretString: 'two-value', VersionStages: [AWSPENDING] });
    expect(typeOf(() => model.updateSecretVersionStage({ SecretId: 's', VersionStage: AWSCURRENT, MoveToVersionId: tokenA }))).toBe(
      'InvalidParameterException',
    );
    expect(
      typeOf(() => model.updateSecretVersionStage({ SecretId: 's', VersionStage: AWSCURRENT, MoveToVersionId: tokenA, RemoveFromVersionId: tokenA })),
    ).toBe('InvalidParameterException');
    expect(typeOf(() => model.updateSecretVersionStage({ SecretId: 's', VersionStage: AWSCURRENT, RemoveFromVersionId: first }))).toBe(
      'InvalidParameterException',
    );
    model.updateSecretVersionStage({ SecretId: 's', VersionStage: AWSCURRENT, MoveToVersionId: tokenA, RemoveFromVersionId: first });
    expect(model.stages('s')).toEqual({ [first]: [AWSPREVIOUS], [tokenA]: [AWSPENDING, AWSCURRENT] });
    model.updateSecretVersionStage({ SecretId: 's', VersionStage: AWSPENDING, RemoveFromVersionId: tokenA });
    expect(model.stages('s')).toEqual({ [first]: [AWSPREVIOUS], [tokenA]: [AWSCURRENT] });
  });

  it('DescribeSecret lists only labelled versions; GetSecretValue by VersionId still reads a deprecated one', () => {
    const model = new SecretsManagerModel();
    const first = model.createSecret({ Name: 's', SecretString: 'one-value' })['VersionId'] as string;
    model.putSecretValue({ SecretId: 's', ClientRequestToken: tokenA, SecretString: 'two-value' });
    model.putSecretValue({ SecretId: 's', ClientRequestToken: tokenB, SecretString: 'three-value' });
    expect(Object.keys(model.describeSecret({ SecretId: 's' })['VersionIdsToStages'] as object).sort()).toEqual([tokenA, tokenB].sort());
    expect(model.getSecretValue({ SecretId: 's', VersionId: first })['SecretString']).toBe('one-value');
    expect((model.listSecretVersionIds({ SecretId: 's', IncludeDeprecated: true })['Versions'] as unknown[]).length).toBe(3);
    expect(typeOf(() => model.getSecretValue({ SecretId: 's', VersionStage: AWSPENDING }))).toBe('ResourceNotFoundException');
    expect(typeOf(() => model.getSecretValue({ SecretId: 'missing' }))).toBe('ResourceNotFoundException');
  });

  it('denies a principal with AccessDeniedException naming the action, and counts every request', async () => {
    const model = new SecretsManagerModel();
    model.createSecret({ Name: 's', SecretString: 'one-value' });
    model.deny('AKIANOPE', ['GetSecretValue']);
    await expect(model.call('GetSecretValue', { SecretId: 's' }, { accessKeyId: 'AKIANOPE' })).rejects.toMatchObject({
      type: 'AccessDeniedException',
      message: expect.stringContaining('secretsmanager:GetSecretValue'),
    });
    await expect(model.call('DescribeSecret', { SecretId: 's' }, { accessKeyId: 'AKIANOPE' })).resolves.toMatchObject({ Name: 's' });
    expect(model.requests).toBe(2);
  });
});
