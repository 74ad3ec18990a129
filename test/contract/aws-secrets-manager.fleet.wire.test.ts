/**
 * The AWS store in a fleet, with the real SDK client against the wire fake: every store of one endpoint and identity
 * shares one client (so one connection is reused, not one opened per credential), the client is closed once the last
 * store using it closes, and the writes of many stores at once are paced under the region's write quota, which the
 * fake enforces as AWS documents it (50 a second, excess answered ThrottlingException).
 */
process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';

import { afterEach, describe, expect, it, vi } from 'vitest';
import { openAwsSecretsManagerStore } from '../../adapters/stores/aws-secrets-manager/index.js';
import { Secret } from '../../src/contract/secret.js';
import { parseRef } from '../../src/contract/store.js';
import { SecretsManagerModel } from '../fakes/aws-secrets-manager-model.js';
import { start, type RunningSecretsManager } from '../fakes/aws-secrets-manager-server.js';

const REGION = 'us-east-1';
const env = { AWS_ACCESS_KEY_ID: 'FAKEREKEYFLEET000001', AWS_SECRET_ACCESS_KEY: 'test-secret-key' };
const RUN = '20261202T160000Z-f1ee70';

let server: RunningSecretsManager | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function fleet(count: number, writesPerSecond?: number): Promise<RunningSecretsManager> {
  const model = new SecretsManagerModel({ region: REGION, ...(writesPerSecond === undefined ? {} : { writesPerSecond }) });
  for (let i = 0; i < count; i++) model.createSecret({ Name: `fleet/${i}`, SecretString: `rk_canary_SEED${String(i).padStart(4, '0')}_a1b2c3d4e5f6` });
  server = await start(model);
  return server;
}

describe('aws-secrets-manager in a fleet (wire)', () => {
  it('stores of one endpoint share one client: one connection for five credentials, closed after the last store closes', async () => {
    const s = await fleet(5);
    for (let i = 0; i < 5; i++) {
      const store = openAwsSecretsManagerStore({ endpoint: s.url, region: REGION, env });
      expect((await store.read(parseRef('aws-secrets-manager', `fleet/${i}`))).value.reveal()).toContain(`SEED000${i}`);
      await store.close?.();
    }
    expect(s.connections.accepted).toBe(1);
    // Nobody holds the client any more: it is closed (after a short pause kept for the next credential of a fleet).
    await vi.waitFor(() => expect(s.connections.open).toBe(0), { timeout: 10_000, interval: 100 });
  });

  it('sixty stores staging at once stay under the 50 writes/s quota: nothing throttled, nothing failed', async () => {
    const s = await fleet(60, 50);
    const results = await Promise.allSettled(
      Array.from({ length: 60 }, async (_, i) => {
        const store = openAwsSecretsManagerStore({ endpoint: s.url, region: REGION, env });
        const ref = parseRef('aws-secrets-manager', `fleet/${i}`);
        try {
          const base = (await store.read(ref)).version;
          await store.canStage(ref, RUN, base);
          await store.stage(ref, new Secret(`rk_canary_NEW${String(i).padStart(4, '0')}_f6e5d4c3b2a1`), RUN, base);
        } finally {
          await store.close?.();
        }
      }),
    );
    expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
    expect(s.model.count('PutSecretValue')).toBe(60);
    expect(s.model.throttled).toBe(0);
  });
});
