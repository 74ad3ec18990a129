/**
 * AWS IAM access keys, rotated without a person: the `aws-iam` step adapter behind `runbooks/aws-iam-access-key.yaml`.
 *
 * ```yaml
 * generate:
 *   - id: create
 *     uses: aws-iam
 *     action: create
 *     with: { userName: "{{ inputs.userName }}", key: "{{ old }}" }
 * verify:
 *   - uses: aws-iam
 *     action: prove-accepted
 *     with: { key: "{{ new }}", attempts: 10, delay: 2s }
 * ```
 *
 * The value rekey stores is one JSON document holding both halves of the key, in the shape the AWS CLI's
 * `credential_process` prints: `{"Version":1,"AccessKeyId":"AKIA…","SecretAccessKey":"…"}`. The id has to travel with
 * the secret: consumers need both, and every later step (deactivate, prove rejected, delete) needs the old key's id,
 * which rekey only ever recovers from the stores.
 *
 * Actions (each idempotent: "already done" and "already gone" are success):
 * - `create` — CreateAccessKey for `userName`. Refuses, before minting, when the current key (`key`) is not one of
 *   the user's keys, or when the user already has two keys (IAM's limit), naming the one to delete.
 * - `prove-accepted` — sts:GetCallerIdentity with `key`; retried while AWS still answers InvalidClientTokenId (a new
 *   key takes seconds to propagate).
 * - `wait-unused` — GetAccessKeyLastUsed on `key` until it shows no use for `quietFor`, or until `grace` has passed
 *   (then it goes on with a warning: deactivation is reversible).
 * - `deactivate` / `reactivate` — UpdateAccessKey Status=Inactive / Active. Re-activation is the rollback.
 * - `prove-rejected` — sts:GetCallerIdentity with `key` must fail with InvalidClientTokenId; retried while it works.
 * - `delete` — DeleteAccessKey.
 * - `inventory` — ListAccessKeys for `userName`, recorded in the report (ids masked).
 *
 * IAM calls use the credentials rekey runs with (the SDK's usual chain: environment, profile, instance role), which
 * need iam:CreateAccessKey, iam:ListAccessKeys, iam:GetAccessKeyLastUsed, iam:UpdateAccessKey and
 * iam:DeleteAccessKey on the user. The SDK is imported on first use only. Tests inject clients (see AwsIamDeps).
 */
import type {
  CreateAccessKeyCommand,
  CreateAccessKeyCommandOutput,
  DeleteAccessKeyCommand,
  DeleteAccessKeyCommandOutput,
  GetAccessKeyLastUsedCommand,
  GetAccessKeyLastUsedCommandOutput,
  ListAccessKeysCommand,
  ListAccessKeysCommandOutput,
  UpdateAccessKeyCommand,
  UpdateAccessKeyCommandOutput,
} from '@aws-sdk/client-iam';
import type { GetCallerIdentityCommand, GetCallerIdentityCommandOutput } from '@aws-sdk/client-sts';
import { redactor } from '../../src/contract/redactor.js';
import { Secret } from '../../src/contract/secret.js';
import { StepFailedError, type StepOutcome } from '../../src/contract/steps.js';
import { render, renderSecret } from '../../src/runbook/template.js';
import { formatClock, parseDuration } from '../../src/util/duration.js';
import type { StepAdapter, StepAdapterCall } from '../../src/contract/step-adapter.js';

/** The part of an `IAMClient` this adapter uses. */
export interface IamSend {
  send(command: CreateAccessKeyCommand): Promise<CreateAccessKeyCommandOutput>;
  send(command: ListAccessKeysCommand): Promise<ListAccessKeysCommandOutput>;
  send(command: GetAccessKeyLastUsedCommand): Promise<GetAccessKeyLastUsedCommandOutput>;
  send(command: UpdateAccessKeyCommand): Promise<UpdateAccessKeyCommandOutput>;
  send(command: DeleteAccessKeyCommand): Promise<DeleteAccessKeyCommandOutput>;
}

/** The part of an `STSClient` this adapter uses. */
export interface StsSend {
  send(command: GetCallerIdentityCommand): Promise<GetCallerIdentityCommandOutput>;
}

/** Where the clients come from: injected for tests, else built from the step's `region`/`endpoint` on first use. */
export interface AwsIamDeps {
  readonly iam?: IamSend;
  /** An STS client that signs with the given key (the key under test, never rekey's own credentials). */
  readonly sts?: (credentials: { accessKeyId: string; secretAccessKey: string }) => StsSend;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly now?: () => number;
}

/** One access key as rekey stores it, parsed: the id (not secret) and the secret half. */
export interface AccessKey {
  readonly id: string;
  readonly secret: Secret;
}

const ACTIONS = ['create', 'prove-accepted', 'wait-unused', 'deactivate', 'reactivate', 'prove-rejected', 'delete', 'inventory'] as const;
type Action = (typeof ACTIONS)[number];

/** The stored value for a key: credential_process JSON, keys in a fixed order so the runbook's pattern can check it. */
export function formatAccessKey(id: string, secretAccessKey: string): string {
  return JSON.stringify({ Version: 1, AccessKeyId: id, SecretAccessKey: secretAccessKey });
}

/** Parse a stored value; undefined when it is not an access key document (the caller says so, never quoting it). */
export function parseAccessKey(value: Secret): AccessKey | undefined {
  let json: unknown;
  try {
    json = JSON.parse(value.reveal());
  } catch {
    json = undefined;
  }
  const record = json !== null && typeof json === 'object' ? (json as Record<string, unknown>) : {};
  const id = record['AccessKeyId'];
  const secret = record['SecretAccessKey'];
  if (typeof id !== 'string' || id === '' || typeof secret !== 'string' || secret === '') return undefined;
  // The secret half alone must be scrubbed too, should it ever be printed apart from its document.
  return { id, secret: new Secret(secret) };
}

/** `AKIA…WXYZ`: enough to find the key in the console, not the whole id. */
export function maskKeyId(id: string): string {
  return id.length > 8 ? `${id.slice(0, 4)}…${id.slice(-4)}` : '…';
}

type Sdk = { iam: typeof import('@aws-sdk/client-iam'); sts: typeof import('@aws-sdk/client-sts') };
let sdk: Promise<Sdk> | undefined;

/** Load both SDK packages on first use: `rekey --help` and runbooks that do not use AWS never pay for them. */
function loadSdk(): Promise<Sdk> {
  // The SDK warns on stderr about Node 20 when a client is built; the warning is noise to a rekey user.
  process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';
  sdk ??= Promise.all([import('@aws-sdk/client-iam'), import('@aws-sdk/client-sts')]).then(([iam, sts]) => ({ iam, sts }));
  return sdk;
}

/** The step's `with:`, rendered: plain strings, and the one secret-carrying `key`. */
interface Settings {
  readonly text: (name: string) => string | undefined;
  readonly duration: (name: string, fallback: string) => number;
  readonly number: (name: string, fallback: number) => number;
  /** The key `with.key` names (`{{ new }}` or `{{ old }}`), parsed. */
  readonly key: () => AccessKey;
}

function settingsOf(call: StepAdapterCall): Settings {
  const vars = call.context.vars;
  const raw = call.with;
  const text = (name: string): string | undefined => {
    const value = raw[name];
    if (value === undefined || value === null) return undefined;
    const rendered = typeof value === 'string' ? render(value, vars).text : String(value);
    return rendered === '' ? undefined : rendered;
  };
  return {
    text,
    duration(name, fallback) {
      const given = text(name) ?? fallback;
      const ms = parseDuration(given);
      if (ms === undefined) throw new StepFailedError(call.step.id, `${call.step.name}: ${name} "${given}" is not a duration such as 30s or 15m`);
      return ms;
    },
    number(name, fallback) {
      const given = text(name);
      if (given === undefined) return fallback;
      const value = Number(given);
      if (!Number.isInteger(value) || value < 1 || value > 100)
        throw new StepFailedError(call.step.id, `${call.step.name}: ${name} must be a whole number from 1 to 100`);
      return value;
    },
    key() {
      const template = raw['key'];
      if (typeof template !== 'string') throw new StepFailedError(call.step.id, `${call.step.name}: needs with.key ("{{ new }}" or "{{ old }}")`);
      const rendered = renderSecret(template, vars);
      const value = rendered instanceof Secret ? rendered : new Secret(rendered);
      const key = parseAccessKey(value);
      if (key === undefined) {
        throw new StepFailedError(
          call.step.id,
          `${call.step.name}: the value ${value.mask} (${value.fingerprint}) is not an AWS access key document`,
          'the stores must hold {"Version":1,"AccessKeyId":"AKIA…","SecretAccessKey":"…"}, the shape `credential_process` prints',
        );
      }
      return key;
    },
  };
}

/** A name and message for an SDK error, scrubbed; the request id and the key are never part of it. */
function describeError(error: unknown): { name: string; message: string } {
  const e = error as { name?: unknown; Code?: unknown; message?: unknown };
  const name = typeof e?.name === 'string' && e.name !== 'Error' ? e.name : typeof e?.Code === 'string' ? e.Code : 'Error';
  const message = typeof e?.message === 'string' ? e.message : String(error);
  return { name, message: redactor.scrub(message).slice(0, 200) };
}

function errorName(error: unknown): string {
  return describeError(error).name;
}

const PERMISSIONS =
  'rekey runs IAM calls with your usual AWS credentials: they need iam:CreateAccessKey, ListAccessKeys, GetAccessKeyLastUsed, UpdateAccessKey and ' +
  'DeleteAccessKey on the user';

/** A step failure for an SDK error: the operation, the place, and what to do. */
function failed(call: StepAdapterCall, operation: string, error: unknown): StepFailedError {
  const { name, message } = describeError(error);
  const denied = name === 'AccessDenied' || name === 'AccessDeniedException' || name === 'AccessDeniedError';
  return new StepFailedError(call.step.id, `${call.step.name}: ${operation}: ${name}: ${message}`, denied ? PERMISSIONS : undefined);
}

/** Build the step adapter; the default export uses the real SDK, tests pass clients, a clock and a sleep. */
export function createAwsIamAdapter(deps: AwsIamDeps = {}): StepAdapter {
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const now = deps.now ?? Date.now;

  async function iamFor(settings: Settings): Promise<IamSend> {
    if (deps.iam !== undefined) return deps.iam;
    const { iam } = await loadSdk();
    const endpoint = settings.text('iamEndpoint');
    // IAM is global; us-east-1 signs for it. The SDK's own retries (3) cover throttling: nothing retries around them.
    return new iam.IAMClient({ region: settings.text('region') ?? 'us-east-1', ...(endpoint === undefined ? {} : { endpoint }) });
  }

  async function stsFor(settings: Settings, key: AccessKey): Promise<StsSend> {
    const credentials = { accessKeyId: key.id, secretAccessKey: key.secret.reveal() };
    if (deps.sts !== undefined) return deps.sts(credentials);
    const { sts } = await loadSdk();
    const endpoint = settings.text('stsEndpoint');
    // One attempt per call: the propagation loop around it decides when to try again.
    return new sts.STSClient({ region: settings.text('region') ?? 'us-east-1', credentials, maxAttempts: 1, ...(endpoint === undefined ? {} : { endpoint }) });
  }

  /** GetCallerIdentity with a key: its ARN, or the error AWS answered. */
  async function identity(settings: Settings, key: AccessKey): Promise<{ arn: string } | { error: unknown }> {
    const { sts } = await loadSdk();
    const client = await stsFor(settings, key);
    try {
      const out = await client.send(new sts.GetCallerIdentityCommand({}));
      return { arn: out.Arn ?? '(no ARN)' };
    } catch (error) {
      return { error };
    }
  }

  const actions: Record<Action, (call: StepAdapterCall, settings: Settings) => Promise<StepOutcome>> = {
    async create(call, settings) {
      const { iam } = await loadSdk();
      const client = await iamFor(settings);
      const userName = settings.text('userName');
      const old = call.with['key'] === undefined ? undefined : settings.key();
      let existing: NonNullable<ListAccessKeysCommandOutput['AccessKeyMetadata']>;
      try {
        existing = (await client.send(new iam.ListAccessKeysCommand(userName === undefined ? {} : { UserName: userName }))).AccessKeyMetadata ?? [];
      } catch (error) {
        throw failed(call, `ListAccessKeys${userName === undefined ? '' : ` for ${userName}`}`, error);
      }
      const who = userName ?? 'the calling user';
      if (old !== undefined && !existing.some((k) => k.AccessKeyId === old.id)) {
        throw new StepFailedError(
          call.step.id,
          `${call.step.name}: the current key ${maskKeyId(old.id)} is not one of ${who}'s access keys`,
          'check inputs.userName: nothing was created',
        );
      }
      if (existing.length >= 2) {
        const other = existing.find((k) => k.AccessKeyId !== old?.id);
        throw new StepFailedError(
          call.step.id,
          `${call.step.name}: ${who} already has two access keys, IAM's limit`,
          other?.AccessKeyId !== undefined
            ? `delete the one rekey does not hold (${maskKeyId(other.AccessKeyId)}, ${other.Status ?? 'status unknown'}, created ` +
                `${other.CreateDate?.toISOString() ?? '?'}) once you are sure nothing uses it — an interrupted run may have created it — then run again`
            : 'delete one of them, then run again',
        );
      }
      let created: CreateAccessKeyCommandOutput;
      try {
        created = await client.send(new iam.CreateAccessKeyCommand(userName === undefined ? {} : { UserName: userName }));
      } catch (error) {
        throw failed(call, `CreateAccessKey for ${who}`, error);
      }
      const id = created.AccessKey?.AccessKeyId;
      const secretAccessKey = created.AccessKey?.SecretAccessKey;
      if (id === undefined || secretAccessKey === undefined)
        throw new StepFailedError(call.step.id, `${call.step.name}: CreateAccessKey answered without a key`);
      new Secret(secretAccessKey);
      return { minted: new Secret(formatAccessKey(id, secretAccessKey)), detail: `created ${maskKeyId(id)} for ${who}` };
    },

    async 'prove-accepted'(call, settings) {
      const key = settings.key();
      const attempts = settings.number('attempts', 10);
      const delay = settings.duration('delay', '2s');
      let last = '';
      for (let attempt = 1; attempt <= attempts; attempt++) {
        if (attempt > 1) await sleep(delay);
        const result = await identity(settings, key);
        if ('arn' in result) {
          const userName = settings.text('userName');
          if (userName !== undefined && !result.arn.endsWith(`/${userName}`)) {
            throw new StepFailedError(call.step.id, `${call.step.name}: ${maskKeyId(key.id)} signs in as ${result.arn}, not as user ${userName}`);
          }
          return { detail: `${maskKeyId(key.id)} accepted as ${result.arn}${attempt > 1 ? ` after ${attempt} attempts` : ''}` };
        }
        const { name, message } = describeError(result.error);
        last = `${name}: ${message}`;
        // Only "not known yet" is worth waiting for; anything else will not change by retrying.
        if (name !== 'InvalidClientTokenId' && name !== 'SignatureDoesNotMatch') break;
      }
      throw new StepFailedError(
        call.step.id,
        `${call.step.name}: sts:GetCallerIdentity with ${maskKeyId(key.id)} failed: ${last}`,
        'a new key takes seconds to propagate; if this persists, check the key in the IAM console',
      );
    },

    async 'wait-unused'(call, settings) {
      const { iam } = await loadSdk();
      const client = await iamFor(settings);
      const key = settings.key();
      const quietFor = settings.duration('quietFor', '15m');
      const grace = settings.duration('grace', '30m');
      const poll = settings.duration('poll', '30s');
      const started = now();
      for (;;) {
        let out: GetAccessKeyLastUsedCommandOutput;
        try {
          out = await client.send(new iam.GetAccessKeyLastUsedCommand({ AccessKeyId: key.id }));
        } catch (error) {
          if (errorName(error) === 'NoSuchEntityException') return { detail: `${maskKeyId(key.id)} no longer exists` };
          throw failed(call, `GetAccessKeyLastUsed ${maskKeyId(key.id)}`, error);
        }
        const used = out.AccessKeyLastUsed;
        const at = used?.LastUsedDate;
        if (at === undefined) return { detail: `${maskKeyId(key.id)} never used` };
        const ago = now() - at.getTime();
        const where = `${used?.ServiceName ?? '?'} in ${used?.Region ?? '?'}`;
        if (ago >= quietFor) return { detail: `${maskKeyId(key.id)} last used ${formatClock(ago)} ago (${where})` };
        const waited = now() - started;
        if (waited >= grace) {
          call.context.note(
            `${maskKeyId(key.id)} was still used ${formatClock(ago)} ago (${where}); the grace of ${formatClock(grace)} has passed, so it is ` +
              `deactivated anyway — re-activate it in IAM if a consumer breaks`,
          );
          return { detail: `${maskKeyId(key.id)} still in use (${where}) after ${formatClock(waited)}: grace passed` };
        }
        if (waited === 0)
          call.context.note(
            `${maskKeyId(key.id)} was used ${formatClock(ago)} ago (${where}); waiting until it has been quiet for ${formatClock(quietFor)} (at ` +
              `most ${formatClock(grace)})`,
          );
        await sleep(Math.min(poll, quietFor - ago, grace - waited));
      }
    },

    async deactivate(call, settings) {
      return setStatus(call, settings, 'Inactive');
    },

    async reactivate(call, settings) {
      return setStatus(call, settings, 'Active');
    },

    async 'prove-rejected'(call, settings) {
      const key = settings.key();
      const attempts = settings.number('attempts', 10);
      const delay = settings.duration('delay', '3s');
      let last = '';
      for (let attempt = 1; attempt <= attempts; attempt++) {
        if (attempt > 1) await sleep(delay);
        const result = await identity(settings, key);
        if ('arn' in result) {
          last = `still accepted as ${result.arn}`;
          continue;
        }
        const { name, message } = describeError(result.error);
        if (name === 'InvalidClientTokenId')
          return { detail: `${maskKeyId(key.id)} rejected (InvalidClientTokenId)${attempt > 1 ? ` after ${attempt} attempts` : ''}` };
        // A network error or a throttle proves nothing either way: say what happened rather than guess.
        last = `${name}: ${message}`;
        if (name !== 'Throttling' && name !== 'ThrottlingException') break;
      }
      throw new StepFailedError(
        call.step.id,
        `${call.step.name}: ${maskKeyId(key.id)} is not proven dead: ${last}`,
        'deactivation takes seconds to propagate; `rekey resume` tries again',
      );
    },

    async delete(call, settings) {
      const { iam } = await loadSdk();
      const client = await iamFor(settings);
      const key = settings.key();
      const userName = settings.text('userName');
      try {
        await client.send(new iam.DeleteAccessKeyCommand({ AccessKeyId: key.id, ...(userName === undefined ? {} : { UserName: userName }) }));
      } catch (error) {
        if (errorName(error) === 'NoSuchEntityException') return { detail: `${maskKeyId(key.id)} already deleted` };
        throw failed(call, `DeleteAccessKey ${maskKeyId(key.id)}`, error);
      }
      return { detail: `${maskKeyId(key.id)} deleted` };
    },

    async inventory(call, settings) {
      const { iam } = await loadSdk();
      const client = await iamFor(settings);
      const userName = settings.text('userName');
      let keys: NonNullable<ListAccessKeysCommandOutput['AccessKeyMetadata']>;
      try {
        keys = (await client.send(new iam.ListAccessKeysCommand(userName === undefined ? {} : { UserName: userName }))).AccessKeyMetadata ?? [];
      } catch (error) {
        throw failed(call, `ListAccessKeys${userName === undefined ? '' : ` for ${userName}`}`, error);
      }
      const listed = keys.map((k) => ({ id: maskKeyId(k.AccessKeyId ?? ''), status: k.Status ?? '?', created: k.CreateDate?.toISOString() ?? '?' }));
      return { detail: `${keys.length} key${keys.length === 1 ? '' : 's'}: ${listed.map((k) => `${k.id} ${k.status}`).join(', ')}`, record: { keys: listed } };
    },
  };

  async function setStatus(call: StepAdapterCall, settings: Settings, status: 'Active' | 'Inactive'): Promise<StepOutcome> {
    const { iam } = await loadSdk();
    const client = await iamFor(settings);
    const key = settings.key();
    const userName = settings.text('userName');
    try {
      await client.send(new iam.UpdateAccessKeyCommand({ AccessKeyId: key.id, Status: status, ...(userName === undefined ? {} : { UserName: userName }) }));
    } catch (error) {
      if (errorName(error) === 'NoSuchEntityException') {
        if (status === 'Inactive') return { detail: `${maskKeyId(key.id)} already deleted` };
        throw new StepFailedError(
          call.step.id,
          `${call.step.name}: ${maskKeyId(key.id)} was deleted, so it cannot be re-activated`,
          'fix forward: the new key is the only one left',
        );
      }
      throw failed(call, `UpdateAccessKey ${maskKeyId(key.id)} Status=${status}`, error);
    }
    return { detail: `${maskKeyId(key.id)} ${status === 'Inactive' ? 'deactivated' : 're-activated'}` };
  }

  return {
    name: 'aws-iam',
    summary: 'AWS IAM access keys: create, prove accepted, wait until unused, deactivate, prove rejected, delete',
    actions: ACTIONS,
    async run(call) {
      const action = call.action as Action | undefined;
      if (action === undefined || !ACTIONS.includes(action)) {
        throw new StepFailedError(call.step.id, `${call.step.name}: aws-iam has no action "${call.action ?? ''}"`, `actions: ${ACTIONS.join(', ')}`);
      }
      return actions[action](call, settingsOf(call));
    },
  };
}

export default createAwsIamAdapter() satisfies StepAdapter;
