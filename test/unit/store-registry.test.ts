/**
 * The store registry's opener, the one place a credential's stores are opened (the CLI hands it to the engine and
 * to `rekey check`): stores come back in the configured order, each with its ref, and a kind the registry does not
 * know fails the whole opening rather than leaving a credential half open.
 */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDescribers, openDescribersNow, openStores, storeKinds } from '../../adapters/stores/index.js';
import { storeCatalog } from '../../src/cli/stores.js';
import { parseRef } from '../../src/contract/store.js';

const context = { baseDir: '/nonexistent', env: {} };

describe('openStores', () => {
  it('opens every store in the configured order, each with its own ref', async () => {
    const entries = [
      { ref: parseRef('memory', 'a/first'), options: { space: 'registry-a' } },
      { ref: parseRef('memory', 'b/second'), options: { space: 'registry-b' } },
    ];
    const stores = await openStores(entries, context);
    expect(stores.map((s) => s.ref.display)).toEqual(entries.map((e) => e.ref.display));
    expect(stores.every((s) => typeof s.store.read === 'function')).toBe(true);
  });

  it('refuses a kind it does not know, naming the kind', async () => {
    const entries = [
      { ref: parseRef('memory', 'a/first'), options: {} },
      { ref: parseRef('no-such-store', 'x'), options: {} },
    ];
    await expect(openStores(entries, context)).rejects.toThrow('unknown store kind no-such-store');
  });

  it('is what the CLI hands the config loader: the same kinds, and each kind its adapter', async () => {
    expect(storeCatalog.kinds).toEqual(storeKinds);
    for (const kind of storeCatalog.kinds) expect((await storeCatalog.adapter(kind)).kind).toBe(kind);
  });
});

describe('openDescribersNow (status: a thousand .env ages without a promise each)', () => {
  it('opens at once only what answers at once, once its describer is loaded, with the answer describe() gives', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rekey-describe-now-'));
    try {
      writeFileSync(join(dir, '.env'), 'API_KEY=rk_canary_describe_now\n', { mode: 0o600 });
      const env = [{ ref: parseRef('dotenv', './.env#API_KEY'), options: {} }];
      const here = { baseDir: dir, env: {} };
      // The .env describer is loaded by the first opening (an import), which openDescribersNow never waits for.
      const [described] = await openDescribers(env, here);
      const now = openDescribersNow(env, here);
      expect(now?.map((s) => s.ref.display)).toEqual(['dotenv:./.env#API_KEY']);
      expect(now![0]!.store.describeNow(env[0]!.ref)).toEqual(await described!.store.describe!(env[0]!.ref));
      // A kind without describeNow (memory, loaded here), or one whose describer was never loaded, is left to openDescribers.
      const memory = [{ ref: parseRef('memory', 'a/first'), options: {} }];
      await openDescribers(memory, here);
      expect(openDescribersNow([...env, ...memory], here)).toBeUndefined();
      expect(openDescribersNow([{ ref: parseRef('vault-kv', 'secret/app#KEY'), options: {} }], here)).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('every registered adapter', () => {
  it('describes each of its options, and the JSON Schema of rekey.yaml carries those descriptions and defaults', async () => {
    const { configJsonSchema } = await import('../../src/config/schema.js');
    const adapters = await Promise.all(storeKinds.map((kind) => storeCatalog.adapter(kind)));
    const schema = JSON.stringify(configJsonSchema(adapters));
    for (const adapter of adapters) {
      for (const [key, option] of Object.entries(adapter.options)) {
        expect(option.description.length, `${adapter.kind}.${key}`).toBeGreaterThan(10);
        expect(schema, `${adapter.kind}.${key}`).toContain(JSON.stringify(option.description));
      }
    }
    expect(schema).toContain('"keepPrevious":{"type":"boolean","description":');
    expect(schema).toContain('"default":false');
  });
});
