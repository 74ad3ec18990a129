/**
 * The AWS Secrets Manager adapter against the real service. Skipped unless `REKEY_LIVE_AWS=1`.
 *
 *   REKEY_LIVE_AWS=1 AWS_PROFILE=sandbox AWS_REGION=eu-west-1 npx vitest run test/contract/aws-secrets-manager.live
 *
 * - `REKEY_LIVE_AWS_REGION` (else AWS_REGION / AWS_DEFAULT_REGION / the profile's region) picks the region;
 *   credentials come from the SDK's usual sources.
 * - `REKEY_LIVE_AWS_PREFIX` (default `rekey-contract-test/`) prefixes every secret the tests create, so that an IAM
 *   policy can confine them: `arn:aws:secretsmanager:*:*:secret:rekey-contract-test/*`.
 * - The identity needs secretsmanager:CreateSecret, DeleteSecret, TagResource (for the creation tags), and the four
 *   actions the adapter uses: GetSecretValue, DescribeSecret, PutSecretValue, UpdateSecretVersionStage.
 * - Each test creates its own secrets and force-deletes them (no recovery window) when it ends. Secrets cost money
 *   only while they exist; a crashed run leaves secrets tagged `rekey-test=contract` to delete by hand.
 * - The permission test uses a store with well-formed but invalid static credentials: the service answers
 *   UnrecognizedClientException, which rekey reports as a permission error.
 */
process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';

import { randomBytes } from 'node:crypto';
import { CreateSecretCommand, DeleteSecretCommand, GetSecretValueCommand, PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { describe } from 'vitest';
import { openAwsSecretsManagerStore } from '../../adapters/stores/aws-secrets-manager/index.js';
import { parseRef } from '../../src/contract/store.js';
import { storeContract } from './suite.js';

const live = process.env['REKEY_LIVE_AWS'] === '1' || process.env['REKEY_LIVE_AWS'] === 'true';
const KIND = 'aws-secrets-manager';
const SIBLINGS = { DATABASE_URL: 'postgres://db.internal/app', REGION: 'eu-west-1' };

describe.skipIf(!live)('aws-secrets-manager (live service)', () => {
  const region = process.env['REKEY_LIVE_AWS_REGION'] || process.env['AWS_REGION'] || process.env['AWS_DEFAULT_REGION'] || undefined;
  const prefix = process.env['REKEY_LIVE_AWS_PREFIX'] || 'rekey-contract-test/';
  const session = `${new Date().toISOString().replace(/[-:.]/g, '').slice(0, 15)}-${randomBytes(3).toString('hex')}`;
  let counter = 0;

  storeContract('aws-secrets-manager (live)', async () => {
    // The side door: a plain SDK client with the SDK's own retries, independent of the adapter under test.
    const raw = new SecretsManagerClient(region === undefined ? {} : { region });
    const base = `${prefix}${session}-${++counter}`;
    const names = { app: `${base}-app`, shared: `${base}-shared` };
    const initial = `rk_canary_INITIAL_${randomBytes(12).toString('hex')}`;
    const created: string[] = [];
    const create = async (name: string, payload: Record<string, string>) => {
      await raw.send(
        new CreateSecretCommand({
          Name: name,
          SecretString: JSON.stringify(payload),
          Description: 'rekey contract test; safe to delete',
          Tags: [{ Key: 'rekey-test', Value: 'contract' }],
        }),
      );
      created.push(name);
    };
    await create(names.app, { API_KEY: initial });
    await create(names.shared, { ...SIBLINGS, API_KEY: initial });
    const open = () => openAwsSecretsManagerStore({ region });
    const rawPayload = async (name: string) =>
      JSON.parse((await raw.send(new GetSecretValueCommand({ SecretId: name }))).SecretString ?? '{}') as Record<string, string>;
    return {
      store: open(),
      reopen: open,
      ref: parseRef(KIND, `${names.app}#API_KEY`),
      fieldRef: parseRef(KIND, `${names.shared}#API_KEY`),
      siblings: SIBLINGS,
      missingRef: parseRef(KIND, `${base}-absent#API_KEY`),
      initial,
      async concurrentWrite(ref, value) {
        const payload = await rawPayload(ref.path);
        await raw.send(new PutSecretValueCommand({ SecretId: ref.path, SecretString: JSON.stringify({ ...payload, [ref.field!]: value }) }));
      },
      async rawSiblings() {
        const { API_KEY: _, ...rest } = await rawPayload(names.shared);
        return rest;
      },
      denied: {
        // AWS's documented example keys: well-formed, never valid.
        store: openAwsSecretsManagerStore({
          region,
          env: { AWS_ACCESS_KEY_ID: 'AKIDFAKEEXAMPLE00000', AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' },
          retry: { retries: 0 },
        }),
        ref: parseRef(KIND, `${names.app}#API_KEY`),
      },
      async close() {
        for (const name of created) {
          await raw.send(new DeleteSecretCommand({ SecretId: name, ForceDeleteWithoutRecovery: true })).catch(() => undefined);
        }
        raw.destroy();
      },
    };
  });
});
