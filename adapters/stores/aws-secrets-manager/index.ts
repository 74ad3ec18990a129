/**
 * AWS Secrets Manager store: a whole secret (`SecretString`) or one field of a JSON secret, rotated with AWS's own
 * staging labels the way a rotation Lambda does it.
 *
 * ```yaml
 * stores:
 *   - aws-secrets-manager: prod/app#STREAMPIXEL_API_KEY   # field of a JSON secret; other fields are kept as they were
 *     region: eu-west-1       # optional: else AWS_REGION, AWS_DEFAULT_REGION or the profile's region
 *     profile: rotation       # optional: a profile from ~/.aws/config; else the SDK's usual credential sources
 *     endpoint: https://vpce-0abc.secretsmanager.eu-west-1.vpce.amazonaws.com   # optional: a VPC endpoint
 *   - aws-secrets-manager: prod/streampixel-key           # no `#field`: the whole SecretString is the value
 * ```
 *
 * How the lifecycle maps onto the service:
 * - read: GetSecretValue (AWSCURRENT); the version is the VersionId.
 * - canStage (before the mint): one DescribeSecret, refusing what stage would refuse (another version labelled
 *   AWSPENDING, AWSCURRENT moved from `base`) and what the service would refuse (a secret scheduled for deletion or
 *   managed by another service). Whether PutSecretValue is allowed cannot be told without writing.
 * - stage: PutSecretValue of the full new SecretString with `VersionStages: ['AWSPENDING']` and a ClientRequestToken
 *   derived from the run id and the ref, so that a resumed run finds (or rewrites, idempotently) the same version.
 *   A left-over AWSPENDING from another run is refused, never overwritten.
 * - promote: one UpdateSecretVersionStage moves AWSCURRENT to this run's version, naming `base` as the version it leaves
 *   (AWS refuses the move if someone else moved the label meanwhile, and moves AWSPREVIOUS by itself). AWSPENDING stays
 *   on the version that is now current, as AWS's own rotations leave it; the next stage takes it from there.
 * - rollback: AWSCURRENT moves back to the AWSPREVIOUS version, only while this run's version is current; a version
 *   of the run that is only AWSPENDING loses the label (RemoveFromVersionId). A PutSecretValue still in flight may
 *   land after that; a second rollback finds the label again and removes it.
 * - retire: writes nothing. The old version keeps AWSPREVIOUS: that is AWS's
 *   own convention (one previous version, replaced at the next rotation), it keeps the old value readable for an
 *   audit, and the label is what protects that version from being deleted as deprecated. The old key is already
 *   revoked at the provider when retire runs, so the value it holds is dead.
 *
 * - describe (the current version and its date, without the value): ListSecretVersionIds.
 *
 * Calls per rotation: GetSecretValue (read) and DescribeSecret (pre-flight), PutSecretValue (stage, built on the
 * version the read returned, never read again), UpdateSecretVersionStage (promote), GetSecretValue (read-back): two
 * writes, the protocol's minimum. Writes are paced per region and identity by one limiter for the whole process, and
 * every store of one endpoint shares one client (kit/endpoint.ts), closed when the last store using it closes.
 *
 * IAM actions used: secretsmanager:GetSecretValue, DescribeSecret, PutSecretValue, UpdateSecretVersionStage (and,
 * for a secret encrypted with a customer managed key, kms:Decrypt and kms:GenerateDataKey on that key);
 * ListSecretVersionIds for `describe` only.
 */
import type {
  DescribeSecretCommandOutput,
  GetSecretValueCommandOutput,
  ListSecretVersionIdsCommandOutput,
  PutSecretValueCommandOutput,
} from '@aws-sdk/client-secrets-manager';
import { Secret } from '../../../src/contract/secret.js';
import type { RunId, SecretStore, SecretStoreAdapter, StoreCheck, StoreContext, StoreRef, StoredValue, VersionId } from '../../../src/contract/store.js';
import { CannotStageError, SecretNotFoundError, StoreConflictError, StoreError, StorePermissionError } from '../../../src/contract/store-errors.js';
import { callService, extractField, lazyClient, replaceField, type SharedClient, sharedClient, WRITE_RETRY, writeLimiter } from '../kit/index.js';

import { type AwsSecretsManagerSettings, clientConfig, KIND, loadSdk, refProblem, type Sdk, type SecretsManagerSend } from './client.js';
import { type Action, isThrottling, toStoreError } from './errors.js';
import { AWSCURRENT, AWSPENDING, AWSPREVIOUS, clientRequestToken, Labels, stagingObstacle } from './labels.js';

export { clientConfig, type SecretsManagerSend, type AwsSecretsManagerSettings } from './client.js';
export { toStoreError } from './errors.js';
export { clientRequestToken } from './labels.js';

/**
 * Writes a second per region: PutSecretValue, UpdateSecret, UpdateSecretVersionStage and the other writes share one
 * quota of 50 requests per second per region, which cannot be raised
 * (https://docs.aws.amazon.com/secretsmanager/latest/userguide/reference_limits.html).
 */
export const WRITES_PER_SECOND = 50;
const WRITE_ACTIONS: ReadonlySet<Action> = new Set(['PutSecretValue', 'UpdateSecretVersionStage']);

/** What names one client: the endpoint (or region) and the identity the SDK will sign with. */
function endpointKey(settings: AwsSecretsManagerSettings): string {
  const env = settings.env ?? process.env;
  const endpoint = settings.endpoint ?? env['AWS_ENDPOINT_URL_SECRETS_MANAGER'] ?? env['AWS_ENDPOINT_URL'] ?? '';
  return `${quotaKey(settings)}|${endpoint}`;
}

/** What shares one write quota: a region of one account (the identity stands for the account, which is not known before a call). */
function quotaKey(settings: AwsSecretsManagerSettings): string {
  const env = settings.env ?? process.env;
  const region = settings.region ?? env['AWS_REGION'] ?? env['AWS_DEFAULT_REGION'] ?? '';
  const identity = settings.profile ?? env['AWS_PROFILE'] ?? env['AWS_ACCESS_KEY_ID'] ?? '';
  return `${KIND}|${region}|${identity}`;
}

/** A client of this store alone (an injected or test-built one), with the shape of a shared one. */
function ownClient(settings: AwsSecretsManagerSettings): SharedClient<SecretsManagerSend> {
  const own = lazyClient((): Promise<SecretsManagerSend> => (settings.client !== undefined ? Promise.resolve(settings.client) : settings.build!()));
  return { get: () => own.get(), release: () => own.reset() };
}

/** Open an AWS Secrets Manager store; with `settings.client` the given client is used and no other is built. */
export function openAwsSecretsManagerStore(settings: AwsSecretsManagerSettings = {}): SecretStore {
  // Built on first use, and built again after a failed build (a profile that could not be read, an import that
  // failed): a rejected promise kept here would fail every later call of the process.
  const sdk = lazyClient(loadSdk);
  // The real client is the process's one for this endpoint and identity (kit/endpoint.ts): a fleet run reuses its
  // connections instead of opening one client, and one TLS handshake, per credential. An injected client is the test's.
  const client: SharedClient<SecretsManagerSend> =
    settings.client !== undefined || settings.build !== undefined
      ? ownClient(settings)
      : sharedClient(
          endpointKey(settings),
          () => sdk.get().then(({ SecretsManagerClient }) => new SecretsManagerClient(clientConfig(settings))),
          (built) => (built as { destroy?: () => void }).destroy?.(),
        );
  const limiter = writeLimiter(quotaKey(settings), WRITES_PER_SECOND);

  /**
   * One service call: mapped to a StoreError, retried when retriable. A write first waits for its turn at the
   * region's limiter (a rollback before any other write), and a throttled write slows the limiter down and waits
   * again, as many times as it takes: throttling makes a fleet slower, never a rotation fail.
   */
  const call = async <T>(operation: string, ref: StoreRef, action: Action, build: (sdk: Sdk) => unknown, payload?: string): Promise<T> => {
    const [loaded, sender] = await Promise.all([sdk.get(), client.get()]);
    const command = build(loaded);
    const write = WRITE_ACTIONS.has(action);
    return callService(
      async () => {
        if (write) await limiter.take(operation === 'rollback' ? 'rollback' : 'write');
        return (sender as unknown as { send(command: unknown): Promise<T> }).send(command);
      },
      (error) => {
        if (write && isThrottling(error)) limiter.throttled();
        return toStoreError(error, operation, ref, action, payload);
      },
      settings.retry ?? (write ? WRITE_RETRY : undefined),
    );
  };

  const describe = async (operation: string, ref: StoreRef): Promise<Labels> => {
    const out = await call<DescribeSecretCommandOutput>(operation, ref, 'DescribeSecret', (s) => new s.DescribeSecretCommand({ SecretId: ref.path }));
    if (out.DeletedDate !== undefined) {
      throw new SecretNotFoundError(
        operation,
        ref.display,
        'the secret is scheduled for deletion',
        `restore it first: aws secretsmanager restore-secret --secret-id ${ref.path}`,
      );
    }
    return new Labels(out.VersionIdsToStages ?? {});
  };

  // A version's content never changes (PutSecretValue refuses to modify one: API reference, PutSecretValue,
  // ClientRequestToken), so what this store read of a version, by its id, is what the service would answer again: the
  // pre-flight read of the current version serves the stage that builds on it. Per store, that is per run.
  const versions = new Map<string, GetSecretValueCommandOutput>();
  // The labels the pre-flight (canStage) saw, handed once to the stage that follows it, for the same run and ref.
  let preflight: { key: string; labels: Labels } | undefined;

  /** GetSecretValue of one version (or of AWSCURRENT); undefined when that version does not exist. */
  const getVersion = async (operation: string, ref: StoreRef, versionId: VersionId | undefined): Promise<GetSecretValueCommandOutput | undefined> => {
    const known = versionId === undefined ? undefined : versions.get(`${ref.path}\0${versionId}`);
    if (known !== undefined) return known;
    try {
      const out = await call<GetSecretValueCommandOutput>(
        operation,
        ref,
        'GetSecretValue',
        // The current value is asked for by its label, AWSCURRENT, not left to the default: "If you don't specify
        // either a VersionStage or VersionId, then Secrets Manager returns the AWSCURRENT version" holds for the
        // service, but an explicit label is what a proxy, an emulator or a later default cannot get wrong
        // (https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_GetSecretValue.html, VersionStage).
        (s) =>
          new s.GetSecretValueCommand(
            versionId === undefined ? { SecretId: ref.path, VersionStage: AWSCURRENT } : { SecretId: ref.path, VersionId: versionId },
          ),
      );
      if (out.VersionId !== undefined) versions.set(`${ref.path}\0${out.VersionId}`, out);
      return out;
    } catch (error) {
      if (versionId !== undefined && error instanceof SecretNotFoundError) return undefined;
      throw error;
    }
  };

  const storedValueOf = (operation: string, ref: StoreRef, out: GetSecretValueCommandOutput, run?: RunId): StoredValue => {
    if (out.SecretString === undefined) {
      throw new StoreError('invalid', operation, ref.display, 'the secret holds SecretBinary, not SecretString; rekey rotates text secrets only');
    }
    return {
      value: new Secret(extractField(ref, operation, out.SecretString)),
      version: out.VersionId ?? '',
      createdAt: out.CreatedDate,
      run,
    };
  };

  /** Move a label; a refusal because the label moved meanwhile is a conflict (toStoreError maps it so). */
  const moveLabel = (operation: string, ref: StoreRef, stage: string, moveTo: VersionId | undefined, removeFrom: VersionId | undefined): Promise<unknown> =>
    call(
      operation,
      ref,
      'UpdateSecretVersionStage',
      (s) =>
        new s.UpdateSecretVersionStageCommand({
          SecretId: ref.path,
          VersionStage: stage,
          ...(moveTo !== undefined ? { MoveToVersionId: moveTo } : {}),
          ...(removeFrom !== undefined ? { RemoveFromVersionId: removeFrom } : {}),
        }),
    );

  /** Drop AWSPENDING from this run's version when it is still there. */
  const dropPending = async (operation: string, ref: StoreRef, labels: Labels, mine: VersionId): Promise<void> => {
    if (labels.holder(AWSPENDING) !== mine) return;
    try {
      await moveLabel(operation, ref, AWSPENDING, undefined, mine);
    } catch (error) {
      // Someone else removed or moved the label meanwhile: the state we wanted (not pending on ours) holds.
      if (!(error instanceof StoreConflictError)) throw error;
      if ((await describe(operation, ref)).holder(AWSPENDING) === mine) throw error;
    }
  };

  return {
    kind: KIND,
    capabilities: { readBack: true, staging: true, versions: true, compareAndSwap: true },

    async read(ref) {
      return storedValueOf('read', ref, (await getVersion('read', ref, undefined))!);
    },

    async describe(ref) {
      // ListSecretVersionIds names each version's labels and CreatedDate, without its value (API reference,
      // ListSecretVersionIds: Versions[].VersionStages, CreatedDate). Which run wrote it cannot be told: the
      // version id is a one-way digest of the run id (clientRequestToken).
      let next: string | undefined;
      try {
        do {
          const out = await call<ListSecretVersionIdsCommandOutput>(
            'describe',
            ref,
            'ListSecretVersionIds',
            (s) => new s.ListSecretVersionIdsCommand({ SecretId: ref.path, ...(next === undefined ? {} : { NextToken: next }) }),
          );
          const current = out.Versions?.find((v) => v.VersionStages?.includes(AWSCURRENT));
          if (current?.VersionId !== undefined) return { version: current.VersionId, createdAt: current.CreatedDate };
          next = out.NextToken;
        } while (next !== undefined);
      } catch (error) {
        if (error instanceof SecretNotFoundError) return undefined;
        throw error;
      }
      return undefined;
    },

    async readStaged(ref, run) {
      const mine = clientRequestToken(run, ref);
      const out = await getVersion('read staged', ref, mine);
      if (out === undefined) {
        // "Not found" means either no such version or no such secret; only the second is an error.
        await describe('read staged', ref);
        return undefined;
      }
      return storedValueOf('read staged', ref, out, run);
    },

    async readPrevious(ref, run) {
      const labels = await describe('read previous', ref);
      if (labels.holder(AWSCURRENT) !== clientRequestToken(run, ref)) return undefined;
      const previous = labels.holder(AWSPREVIOUS);
      if (previous === undefined) return undefined;
      const out = await getVersion('read previous', ref, previous);
      return out === undefined ? undefined : storedValueOf('read previous', ref, out);
    },

    async canStage(ref, run, base) {
      const mine = clientRequestToken(run, ref);
      let out: DescribeSecretCommandOutput;
      try {
        out = await call<DescribeSecretCommandOutput>('pre-flight', ref, 'DescribeSecret', (s) => new s.DescribeSecretCommand({ SecretId: ref.path }));
      } catch (error) {
        throw CannotStageError.from(error, ref.display);
      }
      if (out.DeletedDate !== undefined) {
        throw new CannotStageError(
          'unusable',
          ref.display,
          'the secret is scheduled for deletion',
          `restore it first: aws secretsmanager restore-secret --secret-id ${ref.path}`,
        );
      }
      if (out.OwningService !== undefined && out.OwningService !== '') {
        // AWS refuses PutSecretValue on a secret another service manages (InvalidRequestException, "The secret is
        // managed by another service, and you must use that service to update it").
        throw new CannotStageError(
          'unusable',
          ref.display,
          `the secret is managed by ${out.OwningService}, which alone may write it`,
          `rotate it through ${out.OwningService} (or its managed rotation), or point rekey at a secret it owns`,
        );
      }
      const labels = new Labels(out.VersionIdsToStages ?? {});
      preflight = { key: `${ref.path}\0${run}`, labels };
      // A version of this run is already there: the run resumes it, and stage checks the value.
      if (labels.has(mine)) return;
      // The same two refusals as stage. The service itself would not refuse: PutSecretValue with AWSPENDING takes the
      // label from whichever version holds it, silently discarding another rotation's pending value (API reference,
      // PutSecretValue, VersionStages), so rekey refuses on its behalf, and does so before anything is minted.
      const obstacle = stagingObstacle(ref, labels, base);
      if (obstacle !== undefined) throw new CannotStageError(obstacle.kind, ref.display, obstacle.message, obstacle.hint);
      // Whether PutSecretValue is allowed cannot be told without writing: IAM answers only the call itself, and
      // SimulatePrincipalPolicy would need IAM permissions of its own. `check` says so as "write not checkable".
    },

    async stage(ref, value, run, base) {
      const mine = clientRequestToken(run, ref);
      // The labels the pre-flight just read, when it was this run's (the engine stages right after its pre-flight and
      // the mint): reading them again would narrow the race with another writer, never close it; PutSecretValue's token
      // and promote's compare-and-swap are what keep a run from clobbering. A resumed run has no pre-flight: it reads.
      const seen = preflight?.key === `${ref.path}\0${run}` ? preflight.labels : undefined;
      preflight = undefined;
      const labels = seen ?? (await describe('stage', ref));
      if (labels.has(mine)) {
        // Done already (a resumed run): return that version and write nothing, if it holds this run's value.
        const existing = await getVersion('stage', ref, mine);
        if (existing?.SecretString === undefined || extractField(ref, 'stage', existing.SecretString) !== value.reveal()) {
          throw new StoreConflictError(
            'stage',
            ref.display,
            `this run already staged a different value as version ${mine}`,
            'a resumed run must stage the value it minted first; roll this run back and start a new one',
          );
        }
        return mine;
      }
      const obstacle = stagingObstacle(ref, labels, base);
      if (obstacle !== undefined) throw new StoreConflictError('stage', ref.display, obstacle.message, obstacle.hint);
      let payload: string | undefined;
      if (ref.field !== undefined) {
        // Build on the version the run read, so that every other field is kept exactly as it was.
        const baseValue = await getVersion('stage', ref, base);
        if (baseValue === undefined) throw new StoreConflictError('stage', ref.display, `version ${base} no longer exists`);
        payload = baseValue.SecretString;
        if (payload === undefined) throw new StoreError('invalid', 'stage', ref.display, 'the secret holds SecretBinary, not a JSON SecretString');
      }
      // The token makes this write idempotent: a retry after a lost reply, or a version of this run that lost its
      // labels, is answered with the same version when the data is the same, and refused (a conflict) when it is not.
      const secretString = replaceField(ref, 'stage', payload, value.reveal());
      const out = await call<PutSecretValueCommandOutput>(
        'stage',
        ref,
        'PutSecretValue',
        (s) => new s.PutSecretValueCommand({ SecretId: ref.path, ClientRequestToken: mine, SecretString: secretString, VersionStages: [AWSPENDING] }),
        // The other fields of a JSON secret are secrets too, unknown to the redactor: keep them out of any message.
        secretString,
      );
      return out.VersionId ?? mine;
    },

    async promote(ref, version, run, base) {
      const mine = clientRequestToken(run, ref);
      if (version !== mine) throw new StoreConflictError('promote', ref.display, `version ${version} was not staged by this run`);
      // One write, itself the compare-and-swap: AWS moves AWSCURRENT only if `base` still holds it (RemoveFromVersionId,
      // API reference, UpdateSecretVersionStage), and moves AWSPREVIOUS to `base` by itself. AWSPENDING stays on the new,
      // now current, version: that is how AWS's own rotations end ("the AWSPENDING staging label might be attached to
      // the same version as the AWSCURRENT version": API reference, RotateSecret), the next stage takes the label from
      // there, and stagingObstacle does not count it as a left-over. A second write to drop it would cost a third of
      // the region's write quota for nothing.
      try {
        await moveLabel('promote', ref, AWSCURRENT, version, base);
      } catch (error) {
        if (!(error instanceof StoreConflictError)) throw error;
        // Refused: either done already (a resumed run, or a retry whose first reply was lost), or someone else wrote.
        const current = (await describe('promote', ref)).holder(AWSCURRENT);
        if (current === version) return;
        throw new StoreConflictError(
          'promote',
          ref.display,
          `current version is ${current ?? 'none'}, expected ${base}`,
          'someone else wrote the secret after this run staged; nothing was changed',
        );
      }
    },

    async rollback(ref, run) {
      const mine = clientRequestToken(run, ref);
      const labels = await describe('rollback', ref);
      const current = labels.holder(AWSCURRENT);
      if (current === mine) {
        const previous = labels.holder(AWSPREVIOUS);
        if (previous === undefined) throw new StoreConflictError('rollback', ref.display, 'no AWSPREVIOUS version to return to');
        try {
          await moveLabel('rollback', ref, AWSCURRENT, previous, mine);
        } catch (error) {
          if (!(error instanceof StoreConflictError) || (await describe('rollback', ref)).holder(AWSCURRENT) !== previous) throw error;
        }
        await dropPending('rollback', ref, labels, mine);
        return;
      }
      if (labels.holder(AWSPENDING) === mine) {
        // Staged, never current: dropping the label is the whole rollback.
        const wasCurrent = labels.holder(AWSPREVIOUS) === mine;
        await dropPending('rollback', ref, labels, mine);
        if (!wasCurrent) return;
        // Current once (promote leaves AWSPENDING on it), then replaced: nothing of the run is left staged now, and
        // whether the value that replaced it is newer is decided below.
      }
      // Ours is neither current nor pending: either this run changed nothing, or it was rolled back already (the
      // version it returned to is older than ours), or someone wrote after it (the current version is newer).
      const ours = await getVersion('rollback', ref, mine);
      if (ours === undefined || current === undefined) return;
      const now = await getVersion('rollback', ref, current);
      const oursAt = ours.CreatedDate?.getTime();
      const currentAt = now?.CreatedDate?.getTime();
      if (oursAt !== undefined && currentAt !== undefined && currentAt < oursAt) return;
      throw new StoreConflictError(
        'rollback',
        ref.display,
        `version ${current}, written after this run's version ${mine}, is current`,
        'a rollback never replaces a newer value; restore by hand if that is really wanted',
      );
    },

    async retire() {
      // Nothing to write. AWSPREVIOUS stays on the old version by design (see the comment at the top of this file), and
      // the AWSPENDING label left on this run's version sits on the current version, where AWS's own rotations leave it
      // (see promote). Dropping it would be a third write per rotation against the region's quota.
    },

    async close() {
      await client.release();
    },

    async check(ref): Promise<StoreCheck> {
      const notes: string[] = [];
      let writable: boolean | undefined;
      try {
        // A left-over AWSPENDING is canStage's to report (`rekey check` asks both), so that it is said once.
        await describe('check', ref);
      } catch (error) {
        if (error instanceof SecretNotFoundError) {
          // rekey never creates secrets, so a missing one cannot be written either.
          return { readable: false, writable: false, notes: [noteOf(error)] };
        }
        if (!(error instanceof StorePermissionError)) return { readable: false, writable: undefined, notes: [noteOf(error)] };
        notes.push(noteOf(error));
      }
      try {
        const value = storedValueOf('check', ref, (await getVersion('check', ref, undefined))!);
        // Whether PutSecretValue and UpdateSecretVersionStage are allowed cannot be told without writing.
        return { readable: true, writable, fingerprint: value.value.fingerprint, notes };
      } catch (error) {
        notes.push(noteOf(error));
        if (error instanceof SecretNotFoundError) writable = false;
        return { readable: false, writable, notes };
      }
    },
  };
}

function noteOf(error: unknown): string {
  if (error instanceof StoreError) return error.hint === undefined ? error.message : `${error.message} (${error.hint})`;
  return error instanceof Error ? error.message : String(error);
}

function stringOption(options: Readonly<Record<string, unknown>>, key: string): string | undefined {
  const value = options[key];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

export default {
  kind: KIND,
  summary: 'AWS Secrets Manager: a secret, or one field of a JSON secret, staged with AWSPENDING and promoted to AWSCURRENT',
  validateRef: refProblem,
  options: {
    region: { type: 'string', description: "AWS region of the secret; else AWS_REGION, AWS_DEFAULT_REGION or the profile's region" },
    endpoint: { type: 'string', description: "a Secrets Manager endpoint URL, such as a VPC endpoint; else the region's public endpoint" },
    profile: { type: 'string', description: "a profile from ~/.aws/config; else the SDK's usual credential sources" },
  },
  // What clientConfig (./client.ts) reads. The keys are optional: on EKS (IRSA, Pod Identity) or with GitHub's OIDC the
  // SDK's default chain finds its credentials without them (AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE, set by those).
  environment(options) {
    const profile = typeof options['profile'] === 'string';
    return [
      ...(typeof options['region'] === 'string'
        ? []
        : [{ name: 'AWS_REGION', kind: 'setting' as const, description: 'the region of the secrets (or the store option region)' }]),
      ...(profile
        ? []
        : [
            { name: 'AWS_ACCESS_KEY_ID', kind: 'secret' as const, description: 'an access key id (none with workload identity)', optional: true },
            { name: 'AWS_SECRET_ACCESS_KEY', kind: 'secret' as const, description: 'its secret access key (none with workload identity)', optional: true },
          ]),
    ];
  },
  open(options: Readonly<Record<string, unknown>>, context: StoreContext): SecretStore {
    return openAwsSecretsManagerStore({
      region: stringOption(options, 'region'),
      endpoint: stringOption(options, 'endpoint'),
      profile: stringOption(options, 'profile'),
      env: context.env,
    });
  },
} satisfies SecretStoreAdapter;
