/**
 * The aws-iam step adapter against SDK-level mocks (aws-sdk-client-mock): a small model of one IAM user's access keys
 * answers IAMClient's commands, and STSClient's GetCallerIdentity answers by the credentials the client was built
 * with. Every call goes through the steps of runbooks/aws-iam-access-key.yaml, so the runbook's `with:` blocks are
 * tested too, and one test runs the whole runbook through the engine with a memory store.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateAccessKeyCommand,
  DeleteAccessKeyCommand,
  GetAccessKeyLastUsedCommand,
  IAMClient,
  ListAccessKeysCommand,
  NoSuchEntityException,
  UpdateAccessKeyCommand,
} from '@aws-sdk/client-iam';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { createAwsIamAdapter, formatAccessKey, maskKeyId, parseAccessKey, type AwsIamDeps } from '../../adapters/steps/aws-iam.js';
import { memorySpace } from '../../adapters/stores/memory.js';
import type { Config, CredentialConfig } from '../../src/config/types.js';
import { executeRun } from '../../src/engine/run.js';
import { storeOpener } from '../../src/cli/stores.js';
import { builtInRunbookDir, loadRunbook } from '../../src/runbook/load.js';
import { StepFailedError, type StepContext } from '../../src/contract/steps.js';
import type { Runbook, Step, UsesStep } from '../../src/contract/runbook.js';
import { Secret } from '../../src/contract/secret.js';
import { parseRef } from '../../src/contract/store.js';
import type { EngineEvent } from '../../src/contract/events.js';
import { noInteraction } from '../../src/ui/interaction.js';

process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] = 'true';

const USER = 'ci-deployer';
const ACCOUNT = '123456789012';
const iamMock = mockClient(IAMClient);
const stsMock = mockClient(STSClient);

/** One IAM user's keys, as IAM would keep them, with the STS behaviour each key gets. */
interface ModelKey {
  secret: string;
  status: 'Active' | 'Inactive';
  created: Date;
  lastUsed: Date | undefined;
  /** GetCallerIdentity calls still answered InvalidClientTokenId, as if the new key had not propagated yet. */
  unknownFor: number;
  /** GetCallerIdentity calls still accepted after deactivation (propagation the other way). */
  acceptedFor: number;
}

let keys: Map<string, ModelKey>;
let serial: number;
/** Every key id STS was asked to sign in with, in order. */
let stsSignIns: string[];

const invalidToken = () =>
  Object.assign(new Error('The security token included in the request is invalid.'), { name: 'InvalidClientTokenId', $metadata: { httpStatusCode: 403 } });
const noSuchEntity = (id: string) =>
  new NoSuchEntityException({ message: `The Access Key with id ${id} cannot be found.`, $metadata: { httpStatusCode: 404 } });

function newKeyId(): string {
  serial++;
  return `AKIA${String(serial).padStart(4, '0')}EXAMPLE${String(serial).padStart(5, '0')}`;
}

/** A key in the model, and the document rekey stores for it. */
function addKey(overrides: Partial<ModelKey> = {}): { id: string; value: Secret } {
  const id = newKeyId();
  // Canary secrets: tests assert they never appear in any message.
  const secret = `CANARY${String(serial).padStart(2, '0')}wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY`.slice(0, 40);
  keys.set(id, { secret, status: 'Active', created: new Date(), lastUsed: undefined, unknownFor: 0, acceptedFor: 0, ...overrides });
  return { id, value: new Secret(formatAccessKey(id, secret)) };
}

beforeEach(() => {
  keys = new Map();
  serial = 0;
  stsSignIns = [];
  iamMock.reset();
  stsMock.reset();
  iamMock.on(ListAccessKeysCommand).callsFake((input: { UserName?: string }) => {
    if (input.UserName !== USER) throw new NoSuchEntityException({ message: `The user with name ${input.UserName} cannot be found.`, $metadata: {} });
    return {
      AccessKeyMetadata: [...keys].map(([id, k]) => ({ UserName: USER, AccessKeyId: id, Status: k.status, CreateDate: k.created })),
      IsTruncated: false,
    };
  });
  iamMock.on(CreateAccessKeyCommand).callsFake((input: { UserName?: string }) => {
    if (keys.size >= 2) throw Object.assign(new Error('Cannot exceed quota for AccessKeysPerUser: 2'), { name: 'LimitExceededException' });
    const { id } = addKey({ unknownFor: 2 });
    return { AccessKey: { UserName: input.UserName, AccessKeyId: id, SecretAccessKey: keys.get(id)!.secret, Status: 'Active', CreateDate: new Date() } };
  });
  iamMock.on(GetAccessKeyLastUsedCommand).callsFake((input: { AccessKeyId: string }) => {
    const key = keys.get(input.AccessKeyId);
    if (key === undefined) throw noSuchEntity(input.AccessKeyId);
    return {
      UserName: USER,
      AccessKeyLastUsed:
        key.lastUsed === undefined ? { ServiceName: 'N/A', Region: 'N/A' } : { LastUsedDate: key.lastUsed, ServiceName: 's3', Region: 'eu-west-1' },
    };
  });
  iamMock.on(UpdateAccessKeyCommand).callsFake((input: { AccessKeyId: string; Status: 'Active' | 'Inactive'; UserName?: string }) => {
    const key = keys.get(input.AccessKeyId);
    if (key === undefined || input.UserName !== USER) throw noSuchEntity(input.AccessKeyId);
    key.status = input.Status;
    return {};
  });
  iamMock.on(DeleteAccessKeyCommand).callsFake((input: { AccessKeyId: string; UserName?: string }) => {
    if (!keys.delete(input.AccessKeyId) || input.UserName !== USER) throw noSuchEntity(input.AccessKeyId);
    return {};
  });
  stsMock.on(GetCallerIdentityCommand).callsFake(async (_input: unknown, getClient: () => STSClient) => {
    const credentials = await (getClient().config.credentials as () => Promise<{ accessKeyId: string; secretAccessKey: string }>)();
    stsSignIns.push(credentials.accessKeyId);
    const key = keys.get(credentials.accessKeyId);
    if (key === undefined || key.secret !== credentials.secretAccessKey) throw invalidToken();
    if (key.unknownFor > 0) {
      key.unknownFor--;
      throw invalidToken();
    }
    if (key.status !== 'Active') {
      if (key.acceptedFor > 0) key.acceptedFor--;
      else throw invalidToken();
    }
    return { Account: ACCOUNT, Arn: `arn:aws:iam::${ACCOUNT}:user/${USER}`, UserId: 'AIDAEXAMPLE' };
  });
});

let runbook: Runbook;
let clock: number;
let slept: number[];
let notes: string[];

function adapter(overrides: AwsIamDeps = {}) {
  clock = Date.parse('2026-11-24T10:00:00Z');
  slept = [];
  return createAwsIamAdapter({
    iam: new IAMClient({ region: 'us-east-1' }),
    // A real STSClient signing with the key under test; the mock sees its credentials.
    sts: (credentials) => new STSClient({ region: 'us-east-1', credentials }),
    sleep: async (ms) => {
      slept.push(ms);
      clock += ms;
    },
    now: () => clock,
    ...overrides,
  });
}

function context(values: { old?: Secret; fresh?: Secret }, inputs: Record<string, string> = {}): StepContext {
  notes = [];
  return {
    vars: {
      new: values.fresh,
      old: values.old,
      inputs: { userName: USER, region: 'us-east-1', iamEndpoint: '', stsEndpoint: '', quietFor: '15m', grace: '30m', ...inputs },
      run: { id: 'r1', since: '2026-08-01T00:00:00Z', started: '2026-11-24T10:00:00Z' },
      credential: 'deployer-key',
    },
    runbook,
    interaction: noInteraction(),
    roundTrips: [],
    note: (message) => notes.push(message),
  };
}

function step(id: string): UsesStep {
  const all: Step[] = [...runbook.generate, ...runbook.verify, ...runbook.revoke, ...runbook.verifyRevoked, ...runbook.audit, ...runbook.discard];
  const found = all.find((s) => s.id === id);
  if (found?.kind !== 'uses') throw new Error(`no uses step ${id}`);
  return found;
}

/** Run one step of the runbook through the adapter. */
function run(id: string, ctx: StepContext, a = adapter()) {
  const s = step(id);
  return a.run({ action: s.action, with: s.with, step: s, context: ctx });
}

/** Assert no canary secret (or the stored documents) appears in any text. */
function expectNoSecret(...texts: unknown[]): void {
  for (const text of texts) {
    const s = typeof text === 'string' ? text : JSON.stringify(text);
    for (const key of keys.values()) expect(s).not.toContain(key.secret);
    expect(s).not.toMatch(/CANARY\d\d/);
  }
}

async function failure(promise: Promise<unknown>): Promise<StepFailedError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(StepFailedError);
  return error as StepFailedError;
}

describe('aws-iam: the stored value', () => {
  it('is credential_process JSON carrying both halves, and matches the runbook pattern', async () => {
    runbook = await loadRunbook(join(builtInRunbookDir(), 'aws-iam-access-key.yaml'));
    const value = formatAccessKey('AKIDFAKEEXAMPLE00000', 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY');
    expect(JSON.parse(value)).toEqual({ Version: 1, AccessKeyId: 'AKIDFAKEEXAMPLE00000', SecretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' });
    expect(runbook.secret.pattern!.test(value)).toBe(true);
    const parsed = parseAccessKey(new Secret(`{ "SecretAccessKey": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "AccessKeyId": "AKIDFAKEEXAMPLE00000" }`));
    expect(parsed?.id).toBe('AKIDFAKEEXAMPLE00000');
    expect(parsed?.secret.reveal()).toBe('wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY');
    expect(parseAccessKey(new Secret('not-json-at-all-0123456789'))).toBeUndefined();
    expect(maskKeyId('AKIAFAKEEXAMPLE')).toBe('AKIA…MPLE');
  });
});

describe('aws-iam: create', () => {
  beforeEach(async () => {
    runbook = await loadRunbook(join(builtInRunbookDir(), 'aws-iam-access-key.yaml'));
  });

  it('creates a second key for the user and mints its document', async () => {
    const old = addKey();
    const outcome = await run('create', context({ old: old.value }));
    expect(outcome.minted).toBeInstanceOf(Secret);
    const minted = parseAccessKey(outcome.minted!)!;
    expect(minted.id).not.toBe(old.id);
    expect(keys.get(minted.id)?.secret).toBe(minted.secret.reveal());
    expect(runbook.secret.pattern!.test(outcome.minted!.reveal())).toBe(true);
    expect(iamMock.commandCalls(CreateAccessKeyCommand)[0]!.args[0].input).toEqual({ UserName: USER });
    expect(outcome.detail).toBe(`created ${maskKeyId(minted.id)} for ${USER}`);
    expectNoSecret(outcome.detail, notes);
  });

  it("refuses before creating anything when the current key is not one of the user's keys", async () => {
    addKey();
    const stranger = new Secret(formatAccessKey('FAKESTRANGER00000000', 'CANARY99wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPL'));
    const error = await failure(run('create', context({ old: stranger })));
    expect(error.message).toContain("is not one of ci-deployer's access keys");
    expect(iamMock.commandCalls(CreateAccessKeyCommand)).toHaveLength(0);
    expectNoSecret(error.message, error.hint);
  });

  it("refuses at two keys (IAM's limit), naming the one rekey does not hold, and creates nothing", async () => {
    const old = addKey();
    const orphan = addKey({ status: 'Inactive' });
    const error = await failure(run('create', context({ old: old.value })));
    expect(error.message).toContain('already has two access keys');
    expect(error.hint).toContain(maskKeyId(orphan.id));
    expect(error.hint).toContain('Inactive');
    expect(iamMock.commandCalls(CreateAccessKeyCommand)).toHaveLength(0);
  });

  it('turns AccessDenied into a message naming the operation, with the permissions it needs', async () => {
    const old = addKey();
    iamMock
      .on(ListAccessKeysCommand)
      .rejects(Object.assign(new Error(`User: arn:aws:iam::${ACCOUNT}:user/ops is not authorized to perform: iam:ListAccessKeys`), { name: 'AccessDenied' }));
    const error = await failure(run('create', context({ old: old.value })));
    expect(error.message).toMatch(/ListAccessKeys for ci-deployer: AccessDenied: /);
    expect(error.hint).toContain('iam:CreateAccessKey');
  });
});

describe('aws-iam: prove the new key accepted, the old one rejected', () => {
  beforeEach(async () => {
    runbook = await loadRunbook(join(builtInRunbookDir(), 'aws-iam-access-key.yaml'));
  });

  it('signs in to STS with the new key, retrying while it propagates', async () => {
    const fresh = addKey({ unknownFor: 2 });
    const outcome = await run('new-key-accepted', context({ fresh: fresh.value }));
    expect(outcome.detail).toBe(`${maskKeyId(fresh.id)} accepted as arn:aws:iam::${ACCOUNT}:user/${USER} after 3 attempts`);
    expect(stsSignIns).toEqual([fresh.id, fresh.id, fresh.id]);
    // The runbook's delay: 2s between attempts.
    expect(slept).toEqual([2000, 2000]);
  });

  it('fails plainly when the new key never works, without the secret in the message', async () => {
    const fresh = addKey({ unknownFor: 99 });
    const error = await failure(run('new-key-accepted', context({ fresh: fresh.value })));
    expect(error.message).toContain('InvalidClientTokenId');
    expect(stsSignIns).toHaveLength(10);
    expectNoSecret(error.message, error.hint);
  });

  it('proves the deactivated old key rejected (InvalidClientTokenId), retrying while deactivation propagates', async () => {
    const old = addKey({ status: 'Inactive', acceptedFor: 1 });
    const outcome = await run('old-key-rejected', context({ old: old.value }));
    expect(outcome.detail).toBe(`${maskKeyId(old.id)} rejected (InvalidClientTokenId) after 2 attempts`);
    expect(stsSignIns).toEqual([old.id, old.id]);
    expect(slept).toEqual([3000]);
  });

  it('never calls an old key dead while STS still accepts it', async () => {
    const old = addKey();
    const error = await failure(run('old-key-rejected', context({ old: old.value })));
    expect(error.message).toContain('is not proven dead: still accepted as');
    expect(stsSignIns).toHaveLength(10);
  });

  it('treats an error other than InvalidClientTokenId as no proof', async () => {
    const old = addKey({ status: 'Inactive' });
    stsMock.on(GetCallerIdentityCommand).rejects(Object.assign(new Error('connect ECONNREFUSED'), { name: 'Error', Code: 'NetworkingError' }));
    const error = await failure(run('old-key-rejected', context({ old: old.value })));
    expect(error.message).toContain('NetworkingError');
  });
});

describe('aws-iam: wait until unused, deactivate, delete', () => {
  beforeEach(async () => {
    runbook = await loadRunbook(join(builtInRunbookDir(), 'aws-iam-access-key.yaml'));
  });

  it('goes on at once for a key that was never used', async () => {
    const old = addKey();
    const outcome = await run('wait-unused', context({ old: old.value }));
    expect(outcome.detail).toBe(`${maskKeyId(old.id)} never used`);
    expect(slept).toEqual([]);
  });

  it('waits until the key has been quiet for quietFor', async () => {
    const a = adapter();
    const old = addKey({ lastUsed: new Date(clock - 5 * 60_000) });
    const outcome = await run('wait-unused', context({ old: old.value }), a);
    expect(outcome.detail).toMatch(new RegExp(`^${maskKeyId(old.id)} last used 15:00 ago \\(s3 in eu-west-1\\)$`));
    expect(slept.reduce((x, y) => x + y, 0)).toBe(10 * 60_000);
    expect(notes[0]).toContain('waiting until it has been quiet for 15:00');
  });

  it('goes on after the grace with a warning when the key is still in use', async () => {
    const a = adapter();
    const old = addKey();
    // Used again at every look: a consumer that was never moved to the new key.
    iamMock
      .on(GetAccessKeyLastUsedCommand)
      .callsFake(() => ({ AccessKeyLastUsed: { LastUsedDate: new Date(clock - 1000), ServiceName: 's3', Region: 'eu-west-1' } }));
    const outcome = await run('wait-unused', context({ old: old.value }, { grace: '2m' }), a);
    expect(outcome.detail).toContain('grace passed');
    expect(notes.at(-1)).toContain('deactivated anyway');
    expect(slept.reduce((x, y) => x + y, 0)).toBe(2 * 60_000);
  });

  it('deactivates the old key by id for the user, and treats "already gone" as done', async () => {
    const old = addKey();
    expect((await run('deactivate', context({ old: old.value }))).detail).toBe(`${maskKeyId(old.id)} deactivated`);
    expect(keys.get(old.id)?.status).toBe('Inactive');
    expect(iamMock.commandCalls(UpdateAccessKeyCommand)[0]!.args[0].input).toEqual({ AccessKeyId: old.id, Status: 'Inactive', UserName: USER });
    keys.delete(old.id);
    expect((await run('deactivate', context({ old: old.value }))).detail).toBe(`${maskKeyId(old.id)} already deleted`);
  });

  it('deletes the old key, idempotently', async () => {
    const old = addKey({ status: 'Inactive' });
    expect((await run('delete-old', context({ old: old.value }))).detail).toBe(`${maskKeyId(old.id)} deleted`);
    expect(keys.has(old.id)).toBe(false);
    expect((await run('delete-old', context({ old: old.value }))).detail).toBe(`${maskKeyId(old.id)} already deleted`);
  });

  it('rolls back (discard): re-activates the old key and deletes the unused new one', async () => {
    const old = addKey({ status: 'Inactive' });
    const fresh = addKey();
    const ctx = context({ old: old.value, fresh: fresh.value });
    expect((await run('reactivate-old', ctx)).detail).toBe(`${maskKeyId(old.id)} re-activated`);
    expect((await run('delete-new', ctx)).detail).toBe(`${maskKeyId(fresh.id)} deleted`);
    expect(keys.get(old.id)?.status).toBe('Active');
    expect(keys.has(fresh.id)).toBe(false);
  });

  it("records the user's keys for the report, ids masked", async () => {
    const fresh = addKey();
    const outcome = await run('inventory', context({ fresh: fresh.value }));
    expect(outcome.record).toEqual({ keys: [{ id: maskKeyId(fresh.id), status: 'Active', created: expect.any(String) }] });
    expect(JSON.stringify(outcome.record)).not.toContain(fresh.id);
  });

  it('refuses a stored value that is not an access key document, without quoting it', async () => {
    const bogus = new Secret('CANARY77-this-is-not-json-at-all');
    const error = await failure(run('deactivate', context({ old: bogus })));
    expect(error.message).toContain('is not an AWS access key document');
    expect(error.message).not.toContain('CANARY77');
  });
});

describe('aws-iam: the whole runbook through the engine', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rekey-aws-iam-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('rotates unattended: create, roll out, prove, deactivate, prove dead, delete — one active key left', async () => {
    runbook = await loadRunbook(join(builtInRunbookDir(), 'aws-iam-access-key.yaml'));
    const old = addKey();
    // The default export builds its own IAMClient and STSClient: the prototype-level mocks answer them too.
    keys.get(old.id)!.lastUsed = new Date(Date.now() - 3 * 3600_000);
    const space = memorySpace('aws-iam-e2e');
    space.put('ci/deployer', old.value.reveal());
    const credential: CredentialConfig = {
      id: 'deployer-key',
      description: undefined,
      runbookFile: runbook.file,
      runbookName: runbook.name,
      inputs: { userName: USER, region: 'us-east-1', iamEndpoint: '', stsEndpoint: '', quietFor: '15m', grace: '30m' },
      stores: [{ ref: parseRef('memory', 'ci/deployer'), options: { space: 'aws-iam-e2e' } }],
      rollout: [],
      maxAgeMs: undefined,
      budgetMs: 300_000,
    };
    const config: Config = {
      file: 'rekey.yaml',
      baseDir: dir,
      stateDir: join(dir, '.rekey'),
      runbookDirs: [],
      credentials: new Map([[credential.id, credential]]),
    };
    // A new key propagates at once here: the engine's default adapter sleeps for real.
    iamMock.on(CreateAccessKeyCommand).callsFake((input: { UserName?: string }) => {
      const { id } = addKey();
      return { AccessKey: { UserName: input.UserName, AccessKeyId: id, SecretAccessKey: keys.get(id)!.secret, Status: 'Active', CreateDate: new Date() } };
    });
    const events: EngineEvent[] = [];
    const summary = await executeRun({
      config,
      credential,
      runbook,
      mode: 'scheduled',
      interaction: noInteraction(),
      sink: { emit: (e) => events.push(e) },
      openStores: storeOpener(config),
    });
    expect(summary.result).toBe('done');
    const stored = parseAccessKey(new Secret(space.payload('ci/deployer')!))!;
    expect(stored.id).not.toBe(old.id);
    expect([...keys.keys()]).toEqual([stored.id]);
    expect(keys.get(stored.id)?.status).toBe('Active');
    expect(summary.timeline.map((t) => t.step)).toEqual(
      expect.arrayContaining([
        'mint',
        'verify:new-key-accepted',
        'revoke:wait-unused',
        'revoke:deactivate',
        'verify-revoked:old-key-rejected',
        'verify-revoked:delete-old',
        'audit:inventory',
      ]),
    );
    expect(summary.findings['inventory']).toEqual({ keys: [{ id: maskKeyId(stored.id), status: 'Active', created: expect.any(String) }] });
    expectNoSecret(events, summary.timeline, summary.findings);
  });
});
