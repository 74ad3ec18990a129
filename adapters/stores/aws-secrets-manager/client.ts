/**
 * The Secrets Manager client as this adapter sees it: `send` for its commands (tests pass a mocked client), and
 * the real client's settings; the SDK is imported on first use only.
 */
import type { StoreRef } from '../../../src/contract/store.js';
import type {
  DescribeSecretCommand,
  DescribeSecretCommandOutput,
  GetSecretValueCommand,
  GetSecretValueCommandOutput,
  ListSecretVersionIdsCommand,
  ListSecretVersionIdsCommandOutput,
  PutSecretValueCommand,
  PutSecretValueCommandOutput,
  SecretsManagerClientConfig,
  UpdateSecretVersionStageCommand,
  UpdateSecretVersionStageCommandOutput,
} from '@aws-sdk/client-secrets-manager';
import type { RetryOptions } from '../../../src/util/retry.js';

export const KIND = 'aws-secrets-manager';

// A secret name is ASCII letters, digits and /_+=.@- (API reference, CreateSecret, Name), at most 512 characters; a
// SecretId is a name or an ARN (GetSecretValue, SecretId), `arn:PARTITION:secretsmanager:REGION:ACCOUNT:secret:NAME-xxxxxx`.
const SECRET_NAME = /^[A-Za-z0-9/_+=.@-]{1,512}$/;
const SECRET_ARN = /^arn:[a-z-]+:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]{1,512}$/;

/** Why a ref cannot name a secret (or a field of its JSON), or undefined when it can. */
export function refProblem(ref: StoreRef): string | undefined {
  if (ref.path.startsWith('arn:')) {
    if (!SECRET_ARN.test(ref.path)) return 'not a Secrets Manager ARN: arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME';
  } else if (!SECRET_NAME.test(ref.path)) {
    return "a secret name is ASCII letters, digits and /_+=.@- (at most 512), or the secret's ARN";
  }
  if (ref.field === '') return 'nothing after "#": name a field of the JSON secret, or leave "#" out for the whole SecretString';
  return undefined;
}

/** The part of the SDK client this adapter uses: `send` for its commands. A `SecretsManagerClient` fits. */
export interface SecretsManagerSend {
  send(command: GetSecretValueCommand): Promise<GetSecretValueCommandOutput>;
  send(command: DescribeSecretCommand): Promise<DescribeSecretCommandOutput>;
  send(command: ListSecretVersionIdsCommand): Promise<ListSecretVersionIdsCommandOutput>;
  send(command: PutSecretValueCommand): Promise<PutSecretValueCommandOutput>;
  send(command: UpdateSecretVersionStageCommand): Promise<UpdateSecretVersionStageCommandOutput>;
}

/** How to reach the service: an injected client (tests), or the settings to build the real one on first use. */
export interface AwsSecretsManagerSettings {
  /** A client to use instead of building one; tests pass a mocked or locally pointed `SecretsManagerClient`. */
  readonly client?: SecretsManagerSend | undefined;
  /** Builds the client on first use instead of the SDK's own (tests of a build that fails); unused with `client`. */
  readonly build?: (() => Promise<SecretsManagerSend>) | undefined;
  readonly region?: string | undefined;
  readonly endpoint?: string | undefined;
  readonly profile?: string | undefined;
  /** Where credentials and region come from when not given: `AWS_ACCESS_KEY_ID`, `AWS_REGION`, `AWS_PROFILE`… */
  readonly env?: Readonly<Record<string, string | undefined>> | undefined;
  /** Backoff for throttling and 5xx; the SDK's own retries are off. */
  readonly retry?: RetryOptions | undefined;
}

export type Sdk = typeof import('@aws-sdk/client-secrets-manager');

/** Load the SDK on first use only: it costs ~90 ms, which `rekey --help` and `rekey status` must not pay. */
export async function loadSdk(): Promise<Sdk> {
  // The SDK warns on stderr about Node 20 when a client is built; the warning is noise to a rekey user.
  process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';
  return import('@aws-sdk/client-secrets-manager');
}

/** The settings of the real client, from the store's options and the environment; `maxAttempts: 1` always. */
export function clientConfig(settings: AwsSecretsManagerSettings): SecretsManagerClientConfig {
  const env = settings.env ?? process.env;
  const config: SecretsManagerClientConfig = {
    // withRetry retries with backoff and jitter; SDK retries under it would multiply the attempts.
    maxAttempts: 1,
    // A hung connection must fail (and be retried), not stall an unattended run.
    requestHandler: { connectionTimeout: 5_000, requestTimeout: 30_000 },
  };
  const region = settings.region ?? env['AWS_REGION'] ?? env['AWS_DEFAULT_REGION'];
  if (region !== undefined && region !== '') config.region = region;
  const endpoint = settings.endpoint ?? env['AWS_ENDPOINT_URL_SECRETS_MANAGER'] ?? env['AWS_ENDPOINT_URL'];
  if (endpoint !== undefined && endpoint !== '') config.endpoint = endpoint;
  const profile = settings.profile ?? env['AWS_PROFILE'];
  if (profile !== undefined && profile !== '') config.profile = profile;
  // Keys in the given environment win over a profile from that environment, as in the SDK's own chain; a profile set
  // on the store itself wins over both.
  const accessKeyId = env['AWS_ACCESS_KEY_ID'];
  const secretAccessKey = env['AWS_SECRET_ACCESS_KEY'];
  if (settings.profile === undefined && accessKeyId && secretAccessKey) {
    const sessionToken = env['AWS_SESSION_TOKEN'];
    config.credentials = { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) };
  }
  return config;
}
