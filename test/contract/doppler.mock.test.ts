/**
 * The Doppler store against the fake Doppler model answered in process (test/fakes/doppler-server.ts's modelFetch):
 * the adapter's own fetch client, without a socket, so that faults and scoping are quick to exercise.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openDopplerStore } from '../../adapters/stores/doppler/index.js';
import { dopplerClient } from '../../adapters/stores/doppler/client.js';
import { Secret } from '../../src/contract/secret.js';
import { parseRef, type SecretStore } from '../../src/contract/store.js';
import { StoreError } from '../../src/contract/store-errors.js';
import { DopplerModel, modelFetch } from '../fakes/doppler-server.js';
import { storeContract } from './suite.js';

const INITIAL = 'rk_canary_INITIAL_4b1d7e2a9c8f3e6d';
const NEW = 'rk_canary_NEW_doppler_mock_5e7a9c1b';
const RUN = '20261124T024512Z-aaaaaa';
const FAST_RETRY = { retries: 3, minTimeout: 1, maxTimeout: 5 };

function open(model: DopplerModel, token: string, stateDir: string): SecretStore {
  return openDopplerStore({
    stateDir,
    retry: FAST_RETRY,
    client: () => dopplerClient({ apiUrl: 'https://api.doppler.test', token, fetch: modelFetch(model) }),
  });
}

function seeded(): DopplerModel {
  const model = new DopplerModel();
  model.seed('backend', 'prd', { API_KEY: INITIAL, REGION: 'eu-west-1' });
  model.seed('billing', 'prd', { API_KEY: INITIAL });
  return model;
}

storeContract('doppler (fetch client against the in-process Doppler model)', async () => {
  const model = seeded();
  const stateDir = mkdtempSync(join(tmpdir(), 'rekey-doppler-mock-'));
  const token = model.addToken({ kind: 'service', project: 'backend', config: 'prd', access: 'read/write' });
  return {
    store: open(model, token, stateDir),
    reopen: () => open(model, token, stateDir),
    ref: parseRef('doppler', 'backend/prd#API_KEY'),
    missingRef: parseRef('doppler', 'backend/prd#ABSENT_KEY'),
    initial: INITIAL,
    async concurrentWrite(ref, value) {
      model.put('backend', 'prd', ref.field!, value);
    },
    // The service token is scoped to backend/prd: another project's config is denied (403).
    denied: { store: open(model, token, stateDir), ref: parseRef('doppler', 'billing/prd#API_KEY') },
    async snapshot() {
      return model.snapshot('backend', 'prd');
    },
    async close() {
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
});

async function failure(promise: Promise<unknown>): Promise<StoreError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, 'expected the call to fail').toBeInstanceOf(StoreError);
  return error as StoreError;
}

describe('doppler store (in-process model)', () => {
  const ref = parseRef('doppler', 'backend/prd#API_KEY');

  it('writes with originalValue, so that a value changed after the read is refused as a conflict and not clobbered', async () => {
    const model = seeded();
    const stateDir = mkdtempSync(join(tmpdir(), 'rekey-doppler-mock-'));
    try {
      const store = open(model, model.personalToken, stateDir);
      const base = (await store.read(ref)).version;
      // Another writer changes the value between the run's read and its write: only the conditional write notices.
      const racing = openDopplerStore({
        stateDir,
        retry: FAST_RETRY,
        client: () => {
          const inner = dopplerClient({ apiUrl: 'https://api.doppler.test', token: model.personalToken, fetch: modelFetch(model) });
          return {
            ...inner,
            async setSecret(...args) {
              model.put('backend', 'prd', 'API_KEY', 'someone-elses-value-0000');
              return inner.setSecret(...args);
            },
          };
        },
      });
      const error = await failure(racing.stage(ref, new Secret(NEW), RUN, base));
      expect(error.code).toBe('conflict');
      expect(model.value('backend', 'prd', 'API_KEY')).toBe('someone-elses-value-0000');
      expect(error.message).not.toContain('someone-elses-value-0000');
    } finally {
      rmSync(stateDir, { recursive: true, force: true });
    }
  });

  it('retries 429 and 5xx, and maps 401, 403 and a read-only service token to permission errors without the token', async () => {
    const model = seeded();
    const stateDir = mkdtempSync(join(tmpdir(), 'rekey-doppler-mock-'));
    try {
      model.failNext(1, 429, 1);
      model.failNext(1, 503);
      const before = model.log.length;
      expect((await open(model, model.personalToken, stateDir).read(ref)).value.reveal()).toBe(INITIAL);
      expect(model.log.length - before).toBe(3);

      const bogus = 'dp.st.prd.0000000000000000000000000000000000000000';
      const refused = await failure(open(model, bogus, stateDir).read(ref));
      expect(refused.code).toBe('permission');
      expect(refused.message).toContain('refused the token');
      expect(refused.message).not.toContain(bogus);

      const readOnly = model.addToken({ kind: 'service', project: 'backend', config: 'prd', access: 'read' });
      const store = open(model, readOnly, stateDir);
      const denied = await failure(store.stage(ref, new Secret(NEW), RUN, (await store.read(ref)).version));
      expect(denied.code).toBe('permission');
      expect(denied.hint).toContain('read/write');
      expect(model.value('backend', 'prd', 'API_KEY')).toBe(INITIAL);
    } finally {
      rmSync(stateDir, { recursive: true, force: true });
    }
  });

  it('keeps no value in its run record: only tags', async () => {
    const model = seeded();
    const stateDir = mkdtempSync(join(tmpdir(), 'rekey-doppler-mock-'));
    try {
      const store = open(model, model.personalToken, stateDir);
      const base = (await store.read(ref)).version;
      await store.stage(ref, new Secret(NEW), RUN, base);
      const { readdirSync, readFileSync } = await import('node:fs');
      const files = readdirSync(join(stateDir, 'doppler'));
      expect(files).toHaveLength(1);
      const text = readFileSync(join(stateDir, 'doppler', files[0]!), 'utf8');
      expect(text).toContain(RUN);
      expect(text).not.toContain(NEW);
      expect(text).not.toContain(INITIAL);
    } finally {
      rmSync(stateDir, { recursive: true, force: true });
    }
  });
});
