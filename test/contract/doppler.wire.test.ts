/**
 * The Doppler adapter, opened from its registry entry as rekey.yaml would, against a local server speaking Doppler's
 * HTTP API (test/fakes/doppler-server.ts): what goes over the wire (paths, query, Bearer token, change_requests with
 * originalValue) and how Doppler's failures come back.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import doppler from '../../adapters/stores/doppler/index.js';
import { Secret } from '../../src/contract/secret.js';
import { parseRef, type SecretStore } from '../../src/contract/store.js';
import { StoreError } from '../../src/contract/store-errors.js';
import { type RunningDopplerServer, startDopplerServer } from '../fakes/doppler-server.js';
import { storeContract } from './suite.js';

const INITIAL = 'rk_canary_INITIAL_4b1d7e2a9c8f3e6d';
const NEW = 'rk_canary_NEW_doppler_wire_8c2e4a6f';
const RUN = '20261124T024512Z-aaaaaa';

function open(server: RunningDopplerServer, token: string, stateDir: string, options: Record<string, unknown> = {}): SecretStore {
  return doppler.open(options, { baseDir: stateDir, stateDir, env: { DOPPLER_API_HOST: server.url, DOPPLER_TOKEN: token } });
}

async function seededServer(): Promise<RunningDopplerServer> {
  const server = await startDopplerServer();
  server.model.seed('backend', 'prd', { API_KEY: INITIAL, REGION: 'eu-west-1' });
  server.model.seed('billing', 'prd', { API_KEY: INITIAL });
  return server;
}

storeContract('doppler (fetch over HTTP against a local Doppler API server)', async () => {
  const server = await seededServer();
  const stateDir = mkdtempSync(join(tmpdir(), 'rekey-doppler-wire-'));
  const token = server.model.addToken({ kind: 'service', project: 'backend', config: 'prd', access: 'read/write' });
  return {
    store: open(server, token, stateDir),
    reopen: () => open(server, token, stateDir),
    ref: parseRef('doppler', 'backend/prd#API_KEY'),
    missingRef: parseRef('doppler', 'backend/prd#ABSENT_KEY'),
    initial: INITIAL,
    async concurrentWrite(ref, value) {
      server.model.put('backend', 'prd', ref.field!, value);
    },
    denied: { store: open(server, token, stateDir), ref: parseRef('doppler', 'billing/prd#API_KEY') },
    async snapshot() {
      return server.model.snapshot('backend', 'prd');
    },
    async close() {
      await server.close();
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

describe('doppler adapter over the wire', () => {
  const ref = parseRef('doppler', 'backend/prd#API_KEY');
  let server: RunningDopplerServer | undefined;
  let stateDir: string | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
    if (stateDir !== undefined) rmSync(stateDir, { recursive: true, force: true });
    stateDir = undefined;
  });

  it('stages in two round trips: read the secret, then one conditional change request', async () => {
    server = await seededServer();
    stateDir = mkdtempSync(join(tmpdir(), 'rekey-doppler-wire-'));
    const store = open(server, server.model.personalToken, stateDir);
    const base = (await store.read(ref)).version;
    const from = server.model.log.length;
    await store.stage(ref, new Secret(NEW), RUN, base);
    expect(server.model.log.slice(from).map((r) => `${r.method} ${r.path}`)).toEqual(['GET /v3/configs/config/secret', 'POST /v3/configs/config/secrets']);
    expect(server.model.log[from]!.query).toEqual({ project: 'backend', config: 'prd', name: 'API_KEY' });
    expect(server.model.value('backend', 'prd', 'API_KEY')).toBe(NEW);
    // One log entry for the write, whose diff is where readPrevious finds the old value.
    expect(server.model.logs('backend', 'prd')[0]!.diff).toEqual([{ name: 'API_KEY', added: NEW, removed: INITIAL }]);
    expect((await store.readPrevious(ref, RUN))?.value.reveal()).toBe(INITIAL);
  });

  it('describe gives the date of the last change from the config logs, and the run that wrote the value', async () => {
    server = await seededServer();
    stateDir = mkdtempSync(join(tmpdir(), 'rekey-doppler-wire-'));
    const store = open(server, server.model.personalToken, stateDir);
    const seededAt = server.model.logs('backend', 'prd').find((l) => l.diff.some((d) => d.name === 'API_KEY'))!.created_at;
    expect(await store.describe!(ref)).toMatchObject({ createdAt: new Date(seededAt), run: undefined });
    await store.stage(ref, new Secret(NEW), RUN, (await store.read(ref)).version);
    const described = await store.describe!(ref);
    expect(described?.run).toBe(RUN);
    expect(described?.createdAt?.toISOString()).toBe(server.model.logs('backend', 'prd')[0]!.created_at);
    expect(described?.createdAt?.getTime()).toBeGreaterThan(Date.parse(seededAt));
  });

  it('a service token used on another config meets 403, named as a permission error with a hint and without the token', async () => {
    server = await seededServer();
    stateDir = mkdtempSync(join(tmpdir(), 'rekey-doppler-wire-'));
    const token = server.model.addToken({ kind: 'service', project: 'backend', config: 'prd', access: 'read/write' });
    const error = await failure(open(server, token, stateDir).read(parseRef('doppler', 'billing/prd#API_KEY')));
    expect(error.code).toBe('permission');
    expect(error.message).toContain('billing/prd');
    expect(error.hint).toBeTruthy();
    expect(JSON.stringify(error)).not.toContain(token);
  });

  it('a missing token names the variable to set; the token option names another variable', async () => {
    server = await seededServer();
    stateDir = mkdtempSync(join(tmpdir(), 'rekey-doppler-wire-'));
    const none = doppler.open({}, { baseDir: stateDir, stateDir, env: { DOPPLER_API_HOST: server.url } });
    const error = await failure(none.read(ref));
    expect(error.code).toBe('invalid');
    expect(error.message).toBe('read doppler:backend/prd#API_KEY: no Doppler token: set DOPPLER_TOKEN');
    const named = doppler.open(
      { token: 'DOPPLER_ROTATE' },
      { baseDir: stateDir, stateDir, env: { DOPPLER_API_HOST: server.url, DOPPLER_ROTATE: server.model.personalToken } },
    );
    expect((await named.read(ref)).value.reveal()).toBe(INITIAL);
  });

  it('turns a refused connection into a typed unavailable error', async () => {
    server = await seededServer();
    stateDir = mkdtempSync(join(tmpdir(), 'rekey-doppler-wire-'));
    const url = server.url;
    await server.close();
    server = undefined;
    const store = doppler.open({}, { baseDir: stateDir, stateDir, env: { DOPPLER_API_HOST: url, DOPPLER_TOKEN: 'dp.st.prd.x' } });
    const error = await failure(store.read(ref));
    expect(error.code).toBe('unavailable');
    expect(error.message).toBe('read doppler:backend/prd#API_KEY: cannot reach Doppler (ECONNREFUSED)');
  }, 20_000);

  it('validates refs: project/config and a Doppler secret name', () => {
    expect(doppler.validateRef(parseRef('doppler', 'backend/prd#API_KEY'))).toBeUndefined();
    expect(doppler.validateRef(parseRef('doppler', 'backend#API_KEY'))).toContain('<project>/<config>#<SECRET_NAME>');
    expect(doppler.validateRef(parseRef('doppler', 'backend/prd'))).toContain('names the secret after #');
    expect(doppler.validateRef(parseRef('doppler', 'backend/prd#api-key'))).toContain('not a Doppler secret name');
  });
});
