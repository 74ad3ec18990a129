/** Where a credential's age comes from (src/engine/age.ts): stores first (oldest copy), then the later of lastRotated and the journal. */
import { describe, expect, it } from 'vitest';
import type { CredentialConfig } from '../../src/config/types.js';
import type { OpenStore } from '../../src/engine/context.js';
import { credentialAge, credentialAges, dueness, type DescribedNowStore } from '../../src/engine/age.js';
import type { LastRuns, RunInfo } from '../../src/engine/history.js';
import { parseRef, type SecretStore, type StoredMetadata } from '../../src/contract/store.js';

const DAY = 86_400_000;
const NOW = Date.parse('2026-12-01T12:00:00Z');

function credential(lastRotated?: string): CredentialConfig {
  return {
    id: 'app',
    description: undefined,
    runbookFile: '/dev/null',
    runbookName: 'sandbox',
    inputs: {},
    stores: [],
    rollout: [],
    maxAgeMs: 90 * DAY,
    budgetMs: 60_000,
    lastRotated,
  };
}

/** A store that answers describe() only, as the contract allows (src/contract/store.ts). */
function store(kind: string, path: string, describe: (() => Promise<StoredMetadata | undefined>) | undefined): OpenStore {
  const unused = () => Promise.reject(new Error('not used'));
  const s = {
    kind,
    capabilities: { readBack: false, staging: false, versions: false, compareAndSwap: false },
    read: unused,
    check: unused,
  } as unknown as SecretStore;
  return { store: describe === undefined ? s : { ...s, describe }, ref: parseRef(kind, path) };
}

const doneAt = (at: string): LastRuns => {
  const info = { run: '20261101T000000Z-aaaaaa', credential: 'app', result: 'done', finishedAt: at } as RunInfo;
  return { lastDone: info, last: info };
};

describe('credentialAge', () => {
  it('takes the oldest date the stores report, naming that store, and ignores the journal', async () => {
    const age = await credentialAge({
      credential: credential(),
      history: doneAt('2026-11-30T00:00:00Z'),
      openStores: async () => [
        store('vault-kv', 'secret/app#key', async () => ({ version: '3', createdAt: new Date('2026-10-01T00:00:00Z'), run: 'r2' })),
        store('aws-secrets-manager', 'prod/app#KEY', async () => ({ version: 'v', createdAt: new Date('2026-08-01T00:00:00Z') })),
        store('dotenv', './.env#KEY', async () => ({ version: 'fp' })),
      ],
    });
    expect(age).toMatchObject({ source: 'store', from: 'aws-secrets-manager:prod/app#KEY', writtenAt: new Date('2026-08-01T00:00:00Z') });
    expect(age.notes).toEqual([{ from: 'dotenv:./.env#KEY', problem: 'keeps no date', fault: false }]);
  });

  it('without a dated store, the later of policy.lastRotated and the last done run wins', async () => {
    const stores = async () => [store('dotenv', './.env#KEY', async () => ({ version: 'fp' }))];
    const stated = await credentialAge({ credential: credential('2026-11-01T00:00:00.000Z'), history: doneAt('2026-09-01T00:00:00Z'), openStores: stores });
    expect(stated).toMatchObject({ source: 'policy.lastRotated', writtenAt: new Date('2026-11-01T00:00:00Z') });
    const journal = await credentialAge({ credential: credential('2026-08-01T00:00:00.000Z'), history: doneAt('2026-09-01T00:00:00Z'), openStores: stores });
    expect(journal).toMatchObject({ source: 'journal', from: '20261101T000000Z-aaaaaa', writtenAt: new Date('2026-09-01T00:00:00Z') });
  });

  it('is unknown when nothing records a date, and a failing or silent store is a fault note, not a throw', async () => {
    const age = await credentialAge({
      credential: credential(),
      history: { lastDone: undefined, last: undefined },
      timeoutMs: 50,
      openStores: async () => [
        store('aws-secrets-manager', 'prod/app', () => Promise.reject(new Error('AccessDenied'))),
        store('gcp-secret-manager', 'projects/p/secrets/s', () => new Promise(() => {})),
        store('memory', 'gone', async () => undefined),
      ],
    });
    expect(age).toMatchObject({ source: 'unknown', writtenAt: undefined });
    expect(age.notes).toEqual(
      expect.arrayContaining([
        { from: 'aws-secrets-manager:prod/app', problem: 'AccessDenied', fault: true },
        { from: 'gcp-secret-manager:projects/p/secrets/s', problem: 'no answer within 50ms', fault: true },
        { from: 'memory:gone', problem: 'the secret does not exist', fault: true },
      ]),
    );
  });

  it('reads no store without an opener (status --offline)', async () => {
    expect(await credentialAge({ credential: credential(), history: doneAt('2026-11-30T00:00:00Z') })).toMatchObject({ source: 'journal', notes: [] });
  });
});

describe('credentialAges with stores that answer at once (describeNow)', () => {
  const now = (path: string, answer: () => StoredMetadata | undefined): DescribedNowStore => ({
    store: { describeNow: answer },
    ref: parseRef('dotenv', path),
  });
  const credentials = ['a', 'b', 'c', 'd'].map((id) => ({ ...credential(), id }));

  it('gives the answers describe() would, and opens the others as before', async () => {
    const opened: string[] = [];
    const ages = await credentialAges(credentials, {
      history: new Map([['a', doneAt('2026-11-30T00:00:00Z')]]),
      openStoresNow: (c) =>
        c.id === 'a'
          ? [now('./.env#A', () => ({ version: 'fp' }))]
          : c.id === 'b'
            ? [now('./.env#B', () => ({ version: 'fp', createdAt: new Date('2026-10-01T00:00:00Z') }))]
            : c.id === 'c'
              ? [
                  now('./.env#C', () => {
                    throw new Error('variable C on line 3 of .env has an unclosed quote');
                  }),
                  now('./other.env#C', () => undefined),
                ]
              : undefined,
      openStores: async (c) => {
        opened.push(c.id);
        return [store('aws-secrets-manager', 'prod/d#KEY', async () => ({ version: 'v', createdAt: new Date('2026-09-01T00:00:00Z') }))];
      },
    });
    expect(opened).toEqual(['d']);
    expect(ages.get('a')).toMatchObject({ source: 'journal', notes: [{ from: 'dotenv:./.env#A', problem: 'keeps no date', fault: false }] });
    expect(ages.get('b')).toMatchObject({ source: 'store', from: 'dotenv:./.env#B', writtenAt: new Date('2026-10-01T00:00:00Z') });
    expect(ages.get('c')).toMatchObject({ source: 'unknown' });
    expect(ages.get('c')!.notes).toEqual([
      { from: 'dotenv:./.env#C', problem: 'variable C on line 3 of .env has an unclosed quote', fault: true },
      { from: 'dotenv:./other.env#C', problem: 'the secret does not exist', fault: true },
    ]);
    expect(ages.get('d')).toMatchObject({ source: 'store', from: 'aws-secrets-manager:prod/d#KEY' });
  });

  it('an opener that throws leaves the credential to openStores, which says why', async () => {
    const ages = await credentialAges([credential()], {
      history: new Map(),
      openStoresNow: () => {
        throw new Error('no such kind');
      },
      openStores: async () => {
        throw new Error('unknown store kind "dotenvv"');
      },
    });
    expect(ages.get('app')!.notes).toEqual([{ from: 'stores', problem: 'not opened: unknown store kind "dotenvv"', fault: true }]);
  });
});

describe('dueness', () => {
  const at = (days: number) => ({ writtenAt: new Date(NOW - days * DAY), source: 'store' as const, from: 'x', run: undefined, notes: [] });
  it('is due at maxAge and after, ok before, unknown without a date, no-policy without maxAge', () => {
    expect(dueness(at(90), 90 * DAY, NOW).state).toBe('due');
    expect(dueness(at(100), 90 * DAY, NOW)).toEqual({ state: 'due', ageMs: 100 * DAY, dueAt: new Date(NOW - 10 * DAY) });
    expect(dueness(at(10), 90 * DAY, NOW).state).toBe('ok');
    expect(dueness({ ...at(0), writtenAt: undefined, source: 'unknown' }, 90 * DAY, NOW).state).toBe('unknown');
    expect(dueness(at(400), undefined, NOW).state).toBe('no-policy');
  });
});
