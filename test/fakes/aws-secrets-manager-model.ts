/**
 * An in-memory model of AWS Secrets Manager, written from the service's documented API semantics (the API
 * Reference pages of CreateSecret, GetSecretValue, PutSecretValue, UpdateSecretVersionStage, DescribeSecret,
 * ListSecretVersionIds and DeleteSecret), not from any adapter. Both the SDK-level mock and the wire-level server
 * answer from it, so the two test paths see one behaviour.
 *
 * The rules it keeps, as AWS documents them:
 * - a staging label is attached to at most one version of a secret at a time;
 * - PutSecretValue without VersionStages moves AWSCURRENT to the new version; the first version always gets
 *   AWSCURRENT; whenever AWSCURRENT leaves a version, AWSPREVIOUS moves to that version;
 * - PutSecretValue is idempotent on ClientRequestToken: same token and same data → success, nothing new; same token
 *   and different data → ResourceExistsException (a version cannot be modified);
 * - UpdateSecretVersionStage: to move a label that is attached to another version, RemoveFromVersionId must name that
 *   version, else InvalidParameterException; AWSCURRENT can be moved but not removed;
 * - a version without labels is "deprecated": DescribeSecret and ListSecretVersionIds (without IncludeDeprecated)
 *   leave it out, GetSecretValue by VersionId still returns it.
 *
 * - PutSecretValue with VersionStages naming a label that another version holds takes the label from that version
 *   ("Secrets Manager removes the label from the other version and attaches it to this version"); the service does
 *   not refuse it (https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_PutSecretValue.html);
 * - a repeated PutSecretValue with an existing version's token and the same data "is ignored": its VersionStages are
 *   not applied again, so a late retry does not put a removed label back (same page, ClientRequestToken);
 * - a secret managed by another service (DescribeSecret's OwningService) refuses PutSecretValue and
 *   UpdateSecretVersionStage with InvalidRequestException, "The secret is managed by another service, and you must
 *   use that service to update it" (https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_PutSecretValue.html#API_PutSecretValue_Errors,
 *   https://docs.aws.amazon.com/secretsmanager/latest/userguide/service-linked-secrets.html).
 *
 * For tests and benchmarks it can also deny an access key id (all operations or some), add latency to every request,
 * inject faults (throttling, internal errors, a dropped connection), count requests, and hold one request of an
 * operation at a gate until the test releases it (`hold`): before its effect, so that a write lands later than the
 * calls made meanwhile (a PutSecretValue landing after a rollback), or after its effect with the reply held back.
 */
import { randomUUID } from 'node:crypto';

/** The staging labels AWS itself manages. */
export const AWSCURRENT = 'AWSCURRENT';
export const AWSPREVIOUS = 'AWSPREVIOUS';
export const AWSPENDING = 'AWSPENDING';

/** The operations the model answers, by their `x-amz-target` names. */
export const OPERATIONS = [
  'CreateSecret',
  'GetSecretValue',
  'PutSecretValue',
  'UpdateSecretVersionStage',
  'DescribeSecret',
  'ListSecretVersionIds',
  'DeleteSecret',
] as const;
export type Operation = (typeof OPERATIONS)[number];

/** The operations of the model that count against the region's shared write quota (see `writesPerSecond`). */
const WRITES: ReadonlySet<Operation> = new Set(['CreateSecret', 'PutSecretValue', 'UpdateSecretVersionStage', 'DeleteSecret']);

/** An error the service would answer with: its `__type`, message and HTTP status. */
export class SecretsManagerModelError extends Error {
  readonly type: string;
  readonly status: number;
  /** A body that is not the service's JSON (a proxy's or firewall's page), sent as is with this content type. */
  readonly raw: { readonly body: string; readonly contentType: string } | undefined;
  constructor(type: string, message: string, status = 400, raw?: { body: string; contentType: string }) {
    super(message);
    this.name = type;
    this.type = type;
    this.status = status;
    this.raw = raw;
  }
}

/** Thrown (instead of answering) when a fault says the connection drops: the server destroys the socket. */
export class ModelDisconnect extends Error {
  constructor(readonly afterApplying: boolean) {
    super('connection dropped by the fake');
    this.name = 'ModelDisconnect';
  }
}

/** One injected fault: the next `times` matching requests fail this way. */
export interface Fault {
  /** Only this operation; any operation when absent. */
  readonly operation?: Operation;
  /** An error `__type` (`ThrottlingException`, `InternalServiceError`, …) or `disconnect` for a dropped connection. */
  readonly type: string;
  readonly message?: string;
  /** HTTP status; 500 for InternalServiceError and ServiceUnavailable, 400 otherwise. */
  readonly status?: number;
  /**
   * A reply that is not Secrets Manager's JSON, sent as is: what a VPC endpoint policy, an egress proxy or a WAF in
   * front of the service answers (a 403 with an HTML page, say). `type` is then only a label for the test.
   */
  readonly raw?: { readonly body: string; readonly contentType: string };
  /** How many requests fail; 1 when absent. */
  times?: number;
  /** For `disconnect`: apply the request first, then drop the reply (a lost reply, the hardest case for idempotency). */
  readonly afterApplying?: boolean;
}

/**
 * A held request. `reached` resolves when a matching request arrives at the gate; `release()` lets it go on. Before
 * `release()` the request has had no effect (`before-effect`) or its effect is applied and only the reply waits
 * (`after-effect`). One gate holds one request; later requests of the operation pass.
 */
export interface Gate {
  readonly operation: Operation;
  readonly point: 'before-effect' | 'after-effect';
  readonly reached: Promise<void>;
  release(): void;
}

interface PendingGate extends Gate {
  arrive(): void;
  readonly released: Promise<void>;
}

/** Who sent a request: the access key id from the signature, when known. */
export interface Principal {
  readonly accessKeyId?: string | undefined;
}

interface ModelVersion {
  readonly id: string;
  readonly secretString: string | undefined;
  readonly secretBinary: Uint8Array | undefined;
  readonly createdDate: Date;
  stages: string[];
  lastAccessedDate: Date | undefined;
}

interface ModelSecret {
  readonly name: string;
  readonly arn: string;
  readonly createdDate: Date;
  lastChangedDate: Date;
  deletedDate: Date | undefined;
  description: string | undefined;
  /** The service that manages the secret (`rds`, …), which alone may write it; undefined for a secret of the account. */
  owningService: string | undefined;
  /** In creation order. */
  readonly versions: ModelVersion[];
}

type Input = Readonly<Record<string, unknown>>;
type Output = Record<string, unknown>;

const ACCOUNT = '123456789012';

/** The in-memory Secrets Manager. Public fields are the side door tests use to seed, inspect and disturb it. */
export class SecretsManagerModel {
  readonly region: string;
  /** Every request received, including refused ones. */
  requests = 0;
  readonly requestsByOperation = new Map<string, number>();
  /**
   * The service's clock, for CreatedDate of secrets and versions (API reference, ListSecretVersionIds:
   * Versions[].CreatedDate, "The date and time this version of the secret was created"). A side door: a test sets it
   * back to seed a version written 100 days ago, then restores it; dates still never go backwards (see #now).
   */
  clock: () => number = Date.now;
  /** Added before every answer, to play a distant region in benchmarks. */
  latencyMs = 0;
  /** Faults applied in order to matching requests. */
  readonly faults: Fault[] = [];
  /**
   * Write requests a second the region accepts, or undefined for no limit. AWS documents one shared quota of 50
   * requests per second per region for PutSecretValue, UpdateSecret, UpdateSecretVersionStage and the other writes
   * ("Combined rate of PutResourcePolicy, PutSecretValue, … UpdateSecret, UpdateSecretVersionStage … : 50 per second",
   * not adjustable: https://docs.aws.amazon.com/secretsmanager/latest/userguide/reference_limits.html); a request over
   * it is answered `ThrottlingException` ("Rate exceeded"), HTTP 400. Modelled as a token bucket holding one second's
   * worth, refilled continuously; a throttled request takes no token and has no effect.
   */
  writesPerSecond: number | undefined;
  /** Write requests answered ThrottlingException because of `writesPerSecond`. */
  throttled = 0;
  #bucket = { tokens: 0, at: 0 };
  /** Access key ids refused with AccessDeniedException: for all operations (empty set) or only those listed. */
  readonly denied = new Map<string, ReadonlySet<Operation>>();
  readonly #secrets = new Map<string, ModelSecret>();
  readonly #gates: PendingGate[] = [];
  // Two versions of one secret never share a creation instant here; on the service, writes are tens of ms apart.
  #lastDate = 0;

  constructor(options: { region?: string; writesPerSecond?: number } = {}) {
    this.region = options.region ?? 'us-east-1';
    this.writesPerSecond = options.writesPerSecond;
  }

  /** Refuse every request (or only the given operations) signed with this access key id. */
  deny(accessKeyId: string, operations: readonly Operation[] = []): void {
    this.denied.set(accessKeyId, new Set(operations));
  }

  /** Fail the next matching requests with a fault. */
  inject(fault: Fault): void {
    this.faults.push({ ...fault, times: fault.times ?? 1 });
  }

  /**
   * Hold the next request of `operation` at a gate, before its effect (default) or after it, until `release()`.
   * Requests are held after the access check and any injected fault, where the service would do the work.
   */
  hold(operation: Operation, point: Gate['point'] = 'before-effect'): Gate {
    let arrive!: () => void;
    let release!: () => void;
    const reached = new Promise<void>((resolve) => (arrive = resolve));
    const released = new Promise<void>((resolve) => (release = resolve));
    const gate: PendingGate = { operation, point, reached, release, arrive, released };
    this.#gates.push(gate);
    return gate;
  }

  /** Mark a secret as managed by another service (as RDS or Redshift create theirs); side door for tests. */
  manageBy(secretId: string, service: string): void {
    this.#find(secretId).owningService = service;
  }

  /** How many requests of one operation arrived. */
  count(operation: Operation): number {
    return this.requestsByOperation.get(operation) ?? 0;
  }

  /** The labels of every version, deprecated ones included, for assertions: `{ versionId: [labels] }`. */
  stages(secretId: string): Record<string, string[]> {
    const secret = this.#find(secretId);
    return Object.fromEntries(secret.versions.map((v) => [v.id, [...v.stages]]));
  }

  /** The SecretString of the version holding a label (AWSCURRENT by default), bypassing every check. */
  secretString(secretId: string, stage = AWSCURRENT): string | undefined {
    return this.#find(secretId).versions.find((v) => v.stages.includes(stage))?.secretString;
  }

  /** How many versions a secret has, deprecated ones included. */
  versionCount(secretId: string): number {
    return this.#find(secretId).versions.length;
  }

  /** Dispatch one request as the service would: count it, wait, check access and faults, then answer. */
  async call(operation: string, input: Input, principal: Principal = {}): Promise<Output> {
    this.requests++;
    this.requestsByOperation.set(operation, (this.requestsByOperation.get(operation) ?? 0) + 1);
    if (this.latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, this.latencyMs));
    if (!(OPERATIONS as readonly string[]).includes(operation)) {
      throw new SecretsManagerModelError('UnknownOperationException', `Unknown operation ${operation}`);
    }
    const op = operation as Operation;
    this.#checkAccess(op, input, principal);
    if (WRITES.has(op) && !this.#takeWriteToken()) {
      this.throttled++;
      throw new SecretsManagerModelError('ThrottlingException', defaultFaultMessage('ThrottlingException'));
    }
    const fault = this.#takeFault(op);
    if (fault !== undefined && !(fault.type === 'disconnect' && fault.afterApplying === true)) {
      if (fault.type === 'disconnect') throw new ModelDisconnect(false);
      throw new SecretsManagerModelError(
        fault.type,
        fault.message ?? defaultFaultMessage(fault.type),
        fault.status ?? defaultFaultStatus(fault.type),
        fault.raw,
      );
    }
    const gate = this.#takeGate(op);
    if (gate?.point === 'before-effect') {
      gate.arrive();
      await gate.released;
    }
    const output = this.#apply(op, input);
    if (gate?.point === 'after-effect') {
      gate.arrive();
      await gate.released;
    }
    if (fault !== undefined) throw new ModelDisconnect(true);
    return output;
  }

  #apply(op: Operation, input: Input): Output {
    switch (op) {
      case 'CreateSecret':
        return this.createSecret(input);
      case 'GetSecretValue':
        return this.getSecretValue(input);
      case 'PutSecretValue':
        return this.putSecretValue(input);
      case 'UpdateSecretVersionStage':
        return this.updateSecretVersionStage(input);
      case 'DescribeSecret':
        return this.describeSecret(input);
      case 'ListSecretVersionIds':
        return this.listSecretVersionIds(input);
      case 'DeleteSecret':
        return this.deleteSecret(input);
    }
  }

  #checkAccess(op: Operation, input: Input, principal: Principal): void {
    const key = principal.accessKeyId;
    if (key === undefined) return;
    const operations = this.denied.get(key);
    if (operations === undefined || (operations.size > 0 && !operations.has(op))) return;
    const resource = typeof input['SecretId'] === 'string' ? input['SecretId'] : typeof input['Name'] === 'string' ? input['Name'] : '*';
    // The shape of the service's own message: who, which action, which resource, and why.
    throw new SecretsManagerModelError(
      'AccessDeniedException',
      `User: arn:aws:iam::${ACCOUNT}:user/${key} is not authorized to perform: secretsmanager:${op} on resource: ${resource} ` +
        `because no identity-based policy allows the secretsmanager:${op} action`,
    );
  }

  /** One token of the region's write bucket, when `writesPerSecond` is set and one is left; true when there is no limit. */
  #takeWriteToken(): boolean {
    const rate = this.writesPerSecond;
    if (rate === undefined) return true;
    const now = performance.now();
    const bucket = this.#bucket;
    bucket.tokens = bucket.at === 0 ? rate : Math.min(rate, bucket.tokens + ((now - bucket.at) / 1000) * rate);
    bucket.at = now;
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

  #takeGate(op: Operation): PendingGate | undefined {
    const index = this.#gates.findIndex((g) => g.operation === op);
    return index === -1 ? undefined : this.#gates.splice(index, 1)[0];
  }

  #takeFault(op: Operation): Fault | undefined {
    const index = this.faults.findIndex((f) => f.operation === undefined || f.operation === op);
    if (index === -1) return undefined;
    const fault = this.faults[index]!;
    fault.times = (fault.times ?? 1) - 1;
    if (fault.times <= 0) this.faults.splice(index, 1);
    return fault;
  }

  /** CreateSecret: a new secret, with a first version labelled AWSCURRENT when a value is given. */
  createSecret(input: Input): Output {
    const name = requireString(input, 'Name');
    if (!/^[A-Za-z0-9/_+=.@-]{1,512}$/.test(name)) {
      throw new SecretsManagerModelError(
        'InvalidParameterException',
        'Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!',
      );
    }
    const existing = this.#secrets.get(name);
    if (existing !== undefined) {
      if (existing.deletedDate !== undefined) {
        throw new SecretsManagerModelError(
          'InvalidRequestException',
          `You can't create this secret because a secret with this name is already scheduled for deletion.`,
        );
      }
      throw new SecretsManagerModelError('ResourceExistsException', `The operation failed because the secret ${name} already exists.`);
    }
    const data = secretData(input, false);
    const now = this.#now();
    const suffix = randomUUID().replace(/-/g, '').slice(0, 6);
    const secret: ModelSecret = {
      name,
      arn: `arn:aws:secretsmanager:${this.region}:${ACCOUNT}:secret:${name}-${suffix}`,
      createdDate: now,
      lastChangedDate: now,
      deletedDate: undefined,
      description: optionalString(input, 'Description'),
      owningService: undefined,
      versions: [],
    };
    this.#secrets.set(name, secret);
    if (data === undefined) return { ARN: secret.arn, Name: name };
    const id = token(input) ?? randomUUID();
    secret.versions.push({ id, ...data, createdDate: now, stages: [AWSCURRENT], lastAccessedDate: undefined });
    return { ARN: secret.arn, Name: name, VersionId: id };
  }

  /** GetSecretValue: by VersionId, by VersionStage, or AWSCURRENT; both given must name the same version. */
  getSecretValue(input: Input): Output {
    const secret = this.#live(requireString(input, 'SecretId'));
    const versionId = optionalString(input, 'VersionId');
    const stageGiven = optionalString(input, 'VersionStage');
    const stage = stageGiven ?? (versionId === undefined ? AWSCURRENT : undefined);
    let version: ModelVersion | undefined;
    if (versionId !== undefined) {
      version = secret.versions.find((v) => v.id === versionId);
      if (version !== undefined && stage !== undefined && !version.stages.includes(stage)) version = undefined;
    } else {
      version = secret.versions.find((v) => v.stages.includes(stage!));
    }
    if (version === undefined) {
      const what =
        versionId !== undefined && stage !== undefined
          ? `VersionId: ${versionId} and staging label: ${stage}`
          : versionId !== undefined
            ? `VersionId: ${versionId}`
            : `staging label: ${stage}`;
      throw new SecretsManagerModelError('ResourceNotFoundException', `Secrets Manager can't find the specified secret value for ${what}`);
    }
    version.lastAccessedDate = this.#now();
    return {
      ARN: secret.arn,
      Name: secret.name,
      VersionId: version.id,
      ...(version.secretString !== undefined ? { SecretString: version.secretString } : {}),
      ...(version.secretBinary !== undefined ? { SecretBinary: version.secretBinary } : {}),
      VersionStages: [...version.stages],
      CreatedDate: version.createdDate,
    };
  }

  /** PutSecretValue: a new version, idempotent on ClientRequestToken; labels moved as documented. */
  putSecretValue(input: Input): Output {
    const secret = this.#writable(requireString(input, 'SecretId'));
    const data = secretData(input, true)!;
    const id = token(input) ?? randomUUID();
    const requested = input['VersionStages'];
    if (requested !== undefined && (!Array.isArray(requested) || requested.some((s) => typeof s !== 'string' || s.length === 0 || s.length > 256))) {
      throw new SecretsManagerModelError('InvalidParameterException', 'VersionStages must be a list of staging labels of 1 to 256 characters.');
    }
    const existing = secret.versions.find((v) => v.id === id);
    if (existing !== undefined) {
      if (existing.secretString === data.secretString && sameBytes(existing.secretBinary, data.secretBinary)) {
        return { ARN: secret.arn, Name: secret.name, VersionId: id, VersionStages: [...existing.stages] };
      }
      throw new SecretsManagerModelError('ResourceExistsException', `You can't modify an existing version, you can only create a new version.`);
    }
    let stages = requested === undefined ? [AWSCURRENT] : [...new Set(requested as string[])];
    if (!secret.versions.some((v) => v.stages.includes(AWSCURRENT)) && !stages.includes(AWSCURRENT)) stages = [...stages, AWSCURRENT];
    if (stages.length > 20) throw new SecretsManagerModelError('LimitExceededException', 'A version can have at most 20 staging labels.');
    const version: ModelVersion = { id, ...data, createdDate: this.#now(), stages: [], lastAccessedDate: undefined };
    secret.versions.push(version);
    for (const stage of stages) this.#attach(secret, stage, version);
    secret.lastChangedDate = version.createdDate;
    return { ARN: secret.arn, Name: secret.name, VersionId: id, VersionStages: [...version.stages] };
  }

  /** UpdateSecretVersionStage: move a label to MoveToVersionId and/or remove it from RemoveFromVersionId. */
  updateSecretVersionStage(input: Input): Output {
    const secret = this.#writable(requireString(input, 'SecretId'));
    const stage = requireString(input, 'VersionStage');
    const moveTo = optionalString(input, 'MoveToVersionId');
    const removeFrom = optionalString(input, 'RemoveFromVersionId');
    if (moveTo === undefined && removeFrom === undefined) {
      throw new SecretsManagerModelError('InvalidParameterException', 'You must specify MoveToVersionId, RemoveFromVersionId, or both.');
    }
    const byId = (id: string): ModelVersion => {
      const version = secret.versions.find((v) => v.id === id);
      if (version === undefined)
        throw new SecretsManagerModelError('ResourceNotFoundException', `Secrets Manager can't find the specified secret version: ${id}`);
      return version;
    };
    const target = moveTo === undefined ? undefined : byId(moveTo);
    const from = removeFrom === undefined ? undefined : byId(removeFrom);
    const holder = secret.versions.find((v) => v.stages.includes(stage));

    if (target !== undefined) {
      if (holder !== undefined && holder !== target) {
        if (from === undefined) {
          throw new SecretsManagerModelError(
            'InvalidParameterException',
            `The parameter RemoveFromVersionId can't be empty. Staging label ${stage} is currently attached to version ${holder.id}, so you must explicitly ` +
              `reference that version in RemoveFromVersionId.`,
          );
        }
        if (from !== holder) {
          throw new SecretsManagerModelError(
            'InvalidParameterException',
            `The staging label ${stage} is currently attached to version ${holder.id}, not to the version ${from.id} given in RemoveFromVersionId.`,
          );
        }
      } else if (from !== undefined && from !== target && !from.stages.includes(stage)) {
        throw new SecretsManagerModelError('InvalidParameterException', `The staging label ${stage} is not attached to version ${from.id}.`);
      }
      if (holder !== target) this.#attach(secret, stage, target);
    } else {
      if (!from!.stages.includes(stage)) {
        throw new SecretsManagerModelError('InvalidParameterException', `The staging label ${stage} is not attached to version ${from!.id}.`);
      }
      if (stage === AWSCURRENT) {
        throw new SecretsManagerModelError(
          'InvalidParameterException',
          `You can't remove the staging label AWSCURRENT from a version; move it to another version instead.`,
        );
      }
      from!.stages = from!.stages.filter((s) => s !== stage);
    }
    secret.lastChangedDate = this.#now();
    return { ARN: secret.arn, Name: secret.name };
  }

  /** DescribeSecret: the secret's details; VersionIdsToStages lists only versions that carry labels. */
  describeSecret(input: Input): Output {
    const secret = this.#find(requireString(input, 'SecretId'));
    const labelled = secret.versions.filter((v) => v.stages.length > 0);
    return {
      ARN: secret.arn,
      Name: secret.name,
      ...(secret.description !== undefined ? { Description: secret.description } : {}),
      RotationEnabled: false,
      ...(secret.owningService !== undefined ? { OwningService: secret.owningService } : {}),
      CreatedDate: secret.createdDate,
      LastChangedDate: secret.lastChangedDate,
      ...(secret.deletedDate !== undefined ? { DeletedDate: secret.deletedDate } : {}),
      VersionIdsToStages: Object.fromEntries(labelled.map((v) => [v.id, [...v.stages]])),
    };
  }

  /** ListSecretVersionIds: labelled versions, or all with IncludeDeprecated; paginated by MaxResults/NextToken. */
  listSecretVersionIds(input: Input): Output {
    const secret = this.#find(requireString(input, 'SecretId'));
    const all = input['IncludeDeprecated'] === true ? secret.versions : secret.versions.filter((v) => v.stages.length > 0);
    const max = typeof input['MaxResults'] === 'number' ? input['MaxResults'] : 100;
    if (max < 1 || max > 100) throw new SecretsManagerModelError('InvalidParameterException', 'MaxResults must be between 1 and 100.');
    const nextToken = optionalString(input, 'NextToken');
    const start = nextToken === undefined ? 0 : Number.parseInt(nextToken, 10);
    if (!Number.isInteger(start) || start < 0 || start > all.length)
      throw new SecretsManagerModelError('InvalidNextTokenException', 'The NextToken value is invalid.');
    const page = all.slice(start, start + max);
    return {
      ARN: secret.arn,
      Name: secret.name,
      Versions: page.map((v) => ({
        VersionId: v.id,
        VersionStages: [...v.stages],
        CreatedDate: v.createdDate,
        ...(v.lastAccessedDate !== undefined ? { LastAccessedDate: v.lastAccessedDate } : {}),
      })),
      ...(start + max < all.length ? { NextToken: String(start + max) } : {}),
    };
  }

  /** DeleteSecret: scheduled (7–30 days, default 30) or, with ForceDeleteWithoutRecovery, at once. */
  deleteSecret(input: Input): Output {
    const secret = this.#find(requireString(input, 'SecretId'));
    const force = input['ForceDeleteWithoutRecovery'] === true;
    const days = input['RecoveryWindowInDays'];
    if (force && days !== undefined) {
      throw new SecretsManagerModelError('InvalidParameterException', `You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.`);
    }
    const now = this.#now();
    if (force) {
      this.#secrets.delete(secret.name);
      return { ARN: secret.arn, Name: secret.name, DeletionDate: now };
    }
    const window = typeof days === 'number' ? days : 30;
    if (window < 7 || window > 30) throw new SecretsManagerModelError('InvalidParameterException', 'RecoveryWindowInDays must be between 7 and 30.');
    secret.deletedDate = now;
    return { ARN: secret.arn, Name: secret.name, DeletionDate: new Date(now.getTime() + window * 86_400_000) };
  }

  /** Attach a label to a version, taking it from whichever version held it; AWSCURRENT leaving puts AWSPREVIOUS there. */
  #attach(secret: ModelSecret, stage: string, target: ModelVersion): void {
    const holder = secret.versions.find((v) => v !== target && v.stages.includes(stage));
    if (holder !== undefined) holder.stages = holder.stages.filter((s) => s !== stage);
    if (!target.stages.includes(stage)) target.stages.push(stage);
    if (stage === AWSCURRENT && holder !== undefined) {
      for (const v of secret.versions) if (v !== holder) v.stages = v.stages.filter((s) => s !== AWSPREVIOUS);
      if (!holder.stages.includes(AWSPREVIOUS)) holder.stages.push(AWSPREVIOUS);
    }
  }

  /** A secret by name or ARN, deleted ones included (DescribeSecret still answers for those). */
  #find(secretId: string): ModelSecret {
    const secret = this.#secrets.get(secretId) ?? [...this.#secrets.values()].find((s) => s.arn === secretId);
    if (secret === undefined) throw new SecretsManagerModelError('ResourceNotFoundException', `Secrets Manager can't find the specified secret.`);
    return secret;
  }

  /** A secret that is not scheduled for deletion: operations on those fail with InvalidRequestException. */
  #live(secretId: string): ModelSecret {
    const secret = this.#find(secretId);
    if (secret.deletedDate !== undefined) {
      throw new SecretsManagerModelError('InvalidRequestException', `You can't perform this operation on the secret because it was marked for deletion.`);
    }
    return secret;
  }

  /** A live secret this account may write: one managed by another service is refused (see the top of this file). */
  #writable(secretId: string): ModelSecret {
    const secret = this.#live(secretId);
    if (secret.owningService !== undefined) {
      throw new SecretsManagerModelError(
        'InvalidRequestException',
        `The secret is managed by another service (${secret.owningService}), and you must use that service to update it.`,
      );
    }
    return secret;
  }

  #now(): Date {
    this.#lastDate = Math.max(this.clock(), this.#lastDate + 1);
    return new Date(this.#lastDate);
  }
}

function requireString(input: Input, key: string): string {
  const value = input[key];
  if (typeof value !== 'string' || value.length === 0) {
    throw new SecretsManagerModelError(
      'ValidationException',
      `1 validation error detected: Value at '${lowerFirst(key)}' failed to satisfy constraint: Member must not be null`,
    );
  }
  return value;
}

function optionalString(input: Input, key: string): string | undefined {
  const value = input[key];
  return typeof value === 'string' ? value : undefined;
}

function token(input: Input): string | undefined {
  const value = optionalString(input, 'ClientRequestToken');
  if (value !== undefined && (value.length < 32 || value.length > 64)) {
    throw new SecretsManagerModelError(
      'ValidationException',
      `1 validation error detected: Value at 'clientRequestToken' failed to satisfy constraint: Member must have length between 32 and 64`,
    );
  }
  return value;
}

/** SecretString or SecretBinary, exactly one; `required` for PutSecretValue. */
function secretData(input: Input, required: boolean): { secretString: string | undefined; secretBinary: Uint8Array | undefined } | undefined {
  const text = input['SecretString'];
  const binary = input['SecretBinary'];
  const hasText = typeof text === 'string';
  const hasBinary = binary instanceof Uint8Array;
  if (hasText && hasBinary) throw new SecretsManagerModelError('InvalidParameterException', 'You can only specify one of SecretString or SecretBinary.');
  if (!hasText && !hasBinary) {
    if (required) throw new SecretsManagerModelError('InvalidRequestException', 'You must provide either SecretString or SecretBinary.');
    return undefined;
  }
  if (hasText && (text.length === 0 || Buffer.byteLength(text) > 65_536)) {
    throw new SecretsManagerModelError('InvalidParameterException', 'SecretString must be between 1 and 65536 bytes.');
  }
  return { secretString: hasText ? text : undefined, secretBinary: hasBinary ? new Uint8Array(binary) : undefined };
}

function sameBytes(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

function lowerFirst(text: string): string {
  return text.charAt(0).toLowerCase() + text.slice(1);
}

function defaultFaultMessage(type: string): string {
  if (type === 'ThrottlingException') return 'Rate exceeded';
  if (type === 'InternalServiceError') return 'An error occurred on the server side.';
  return type;
}

function defaultFaultStatus(type: string): number {
  return type === 'InternalServiceError' || type === 'ServiceUnavailable' || type === 'InternalFailure' ? 500 : 400;
}
