/**
 * The GCP store in a fleet, with the real SDK client against the gRPC fake enforcing the project's write quota as
 * Google documents it (a quota of write requests a minute per project, excess answered RESOURCE_EXHAUSTED:
 * https://cloud.google.com/secret-manager/quotas): a hundred credentials rotated at once through stage, promote and
 * retire (every tenth rolled back instead) finish with no failure, paced by the one limiter of the project.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { openGcpSecretManagerStore, type GcpSecretManagerStore } from '../../adapters/stores/gcp-secret-manager/index.js';
import { Secret } from '../../src/contract/secret.js';
import { parseRef } from '../../src/contract/store.js';
import { SecretManagerModel } from '../fakes/gcp-secret-manager-model.js';
import { start, type GcpSecretManagerServer } from '../fakes/gcp-secret-manager-server.js';

const KIND = 'gcp-secret-manager';
const RUN = '20261202T180000Z-f1ee7a';
const context = { baseDir: process.cwd(), env: {} };
const COUNT = 100;

let server: GcpSecretManagerServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

/** A project of `COUNT` secrets, each read through the alias `current`, behind a server enforcing `writesPerMinute`. */
async function fleet(project: string, writesPerMinute: number): Promise<GcpSecretManagerServer> {
  const model = new SecretManagerModel();
  for (let i = 0; i < COUNT; i++) {
    model.seed(`projects/${project}/secrets/fleet-${i}`, [JSON.stringify({ API_KEY: `rk_canary_SEED${String(i).padStart(4, '0')}_a1b2c3d4` })], {
      aliases: { current: 1 },
    });
  }
  // Seeded through the side door above; the quota holds from here on.
  model.writesPerMinute = writesPerMinute;
  server = await start(model);
  return server;
}

/** Rotate every secret of the fleet at once, as workers of one run would; the failures, by secret. */
async function rotateAll(s: GcpSecretManagerServer, project: string, storeWritesPerMinute: number): Promise<string[]> {
  const stores: GcpSecretManagerStore[] = [];
  const results = await Promise.allSettled(
    Array.from({ length: COUNT }, async (_, i) => {
      const store = openGcpSecretManagerStore({ project, endpoint: s.endpoint, writesPerMinute: storeWritesPerMinute }, context);
      stores.push(store);
      const ref = parseRef(KIND, `fleet-${i}#API_KEY`);
      const next = new Secret(`rk_canary_NEW${String(i).padStart(4, '0')}_f6e5d4c3`);
      const base = (await store.read(ref)).version;
      await store.canStage(ref, RUN, base);
      const version = await store.stage(ref, next, RUN, base);
      if (i % 10 === 0) {
        await store.rollback(ref, RUN);
        return;
      }
      await store.promote(ref, version, RUN, base);
      expect((await store.read(ref)).value.reveal()).toBe(next.reveal());
      await store.retire(ref, RUN);
    }),
  );
  await Promise.all(stores.map((store) => store.close()));
  return results.flatMap((r, i) => (r.status === 'rejected' ? [`fleet-${i}: ${String(r.reason)}`] : []));
}

describe('gcp-secret-manager in a fleet (wire, write quota enforced)', () => {
  it('a hundred rotations at once stay under the project write quota: none throttled, none failed', async () => {
    // 6,000 a minute (100 a second) for the test's sake; the adapter's default is Google's 600.
    const s = await fleet('fleet-paced', 6000);
    expect(await rotateAll(s, 'fleet-paced', 6000)).toEqual([]);
    expect(s.model.throttled).toBe(0);
    expect(s.model.callCount('AddSecretVersion')).toBe(COUNT + COUNT / 10);
  }, 60_000);

  it('a quota lower than the store was told is answered RESOURCE_EXHAUSTED, and the throttled writes wait and succeed', async () => {
    // The project's quota is half what the store believes (another application shares it): writes are throttled,
    // the limiter slows down, and every rotation and rollback still finishes.
    const s = await fleet('fleet-shared', 3000);
    expect(await rotateAll(s, 'fleet-shared', 6000)).toEqual([]);
    expect(s.model.throttled).toBeGreaterThan(0);
    for (let i = 0; i < COUNT; i++) {
      const expected = i % 10 === 0 ? `SEED${String(i).padStart(4, '0')}` : `NEW${String(i).padStart(4, '0')}`;
      expect(s.model.payload(`projects/fleet-shared/secrets/fleet-${i}`, 'current')).toContain(expected);
    }
  }, 90_000);
});
