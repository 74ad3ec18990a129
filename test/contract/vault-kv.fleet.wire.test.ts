/**
 * The Vault store in a fleet, with the real node-vault client against the wire fake enforcing a rate limit quota as
 * Vault does (a token bucket per client address counting every request, excess answered 429 "rate limit quota
 * exceeded": https://developer.hashicorp.com/vault/docs/concepts/resource-quotas): a hundred credentials rotated at
 * once (every tenth rolled back) all finish, because a 429 slows the address's pace and the call waits again.
 */
import { afterEach, describe, expect, it } from 'vitest';
import vaultKv from '../../adapters/stores/vault-kv/index.js';
import { Secret } from '../../src/contract/secret.js';
import { parseRef, type SecretStore } from '../../src/contract/store.js';
import type { PolicyRule } from '../fakes/vault-kv-model.js';
import { type RateLimitQuota, startVaultServer, type RunningVaultServer } from '../fakes/vault-kv-server.js';

const RUN = '20261202T180000Z-f1ee7b';
const COUNT = 100;
const POLICY: PolicyRule[] = [
  { path: 'secret/data/*', capabilities: ['read', 'create', 'update'] },
  { path: 'secret/metadata/*', capabilities: ['update'] },
  { path: 'secret/destroy/*', capabilities: ['update'] },
];

let server: RunningVaultServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function fleet(rateLimit?: RateLimitQuota): Promise<{ server: RunningVaultServer; token: string }> {
  server = await startVaultServer(rateLimit === undefined ? {} : { rateLimit });
  for (let i = 0; i < COUNT; i++) server.model.put('secret', `fleet/${i}`, { API_KEY: `rk_canary_SEED${String(i).padStart(4, '0')}_a1b2c3d4` });
  return { server, token: server.model.addToken(POLICY) };
}

/** Rotate every secret at once, as the workers of one run would; the failures, by secret. */
async function rotateAll(s: RunningVaultServer, token: string): Promise<string[]> {
  const results = await Promise.allSettled(
    Array.from({ length: COUNT }, async (_, i) => {
      const store: SecretStore = vaultKv.open(
        { destroyOnRetire: true, mount: 'secret' },
        { baseDir: process.cwd(), env: { VAULT_ADDR: s.url, VAULT_TOKEN: token } },
      );
      const ref = parseRef('vault-kv', `secret/fleet/${i}#API_KEY`);
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
  return results.flatMap((r, i) => (r.status === 'rejected' ? [`fleet/${i}: ${String(r.reason)}`] : []));
}

describe('vault-kv in a fleet (wire, rate limit quota enforced)', () => {
  it('the fake answers a request over the quota as Vault does: 429, the quota error, and with headers on, Retry-After as an HTTP date', async () => {
    const { server: s, token } = await fleet({ rate: 1, interval: 60, responseHeaders: true });
    const get = () => fetch(`${s.url}/v1/secret/data/fleet/1`, { headers: { 'X-Vault-Token': token } });
    expect((await get()).status).toBe(200);
    const refused = await get();
    expect(refused.status).toBe(429);
    expect(await refused.json()).toEqual({ errors: ['request path "secret/data/fleet/1": rate limit quota exceeded'] });
    expect(refused.headers.get('x-ratelimit-limit')).toBe('1');
    expect(refused.headers.get('x-ratelimit-remaining')).toBe('0');
    expect(refused.headers.get('retry-after')).toMatch(/^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} UTC$/);
    // sys/health is exempt by default.
    expect((await fetch(`${s.url}/v1/sys/health`)).status).not.toBe(429);
  });

  it('a hundred rotations at once against a 150 requests/s quota: throttled, slowed down, none failed', async () => {
    const { server: s, token } = await fleet({ rate: 150 });
    expect(await rotateAll(s, token)).toEqual([]);
    expect(s.throttled).toBeGreaterThan(0);
    for (let i = 0; i < COUNT; i++) {
      const expected = i % 10 === 0 ? `SEED${String(i).padStart(4, '0')}` : `NEW${String(i).padStart(4, '0')}`;
      expect(s.model.latest('secret', `fleet/${i}`)?.['API_KEY']).toContain(expected);
    }
  }, 120_000);
});
