/**
 * The Doppler store against the real Doppler API, when REKEY_LIVE_DOPPLER=1:
 *
 *   REKEY_LIVE_DOPPLER=1 DOPPLER_TOKEN=dp.st.… REKEY_LIVE_DOPPLER_PROJECT=rekey-live REKEY_LIVE_DOPPLER_CONFIG=dev \
 *     npx vitest run test/contract/doppler.live
 *
 * The token needs read/write on the config (a service token of it, or a service account's). Every test works on its
 * own secret `REKEY_LIVE_<random>`, seeded and deleted through raw API calls (never through the adapter):
 * `POST /v3/configs/config/secrets` and `DELETE /v3/configs/config/secret?project=&config=&name=`
 * (https://docs.doppler.com/reference/secrets-update, https://docs.doppler.com/reference/secrets-delete).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe } from 'vitest';
import doppler from '../../adapters/stores/doppler/index.js';
import { parseRef } from '../../src/contract/store.js';
import { storeContract } from './suite.js';

const live = process.env['REKEY_LIVE_DOPPLER'] === '1';
const api = (process.env['DOPPLER_API_HOST'] ?? 'https://api.doppler.com').replace(/\/+$/, '');
const token = process.env['DOPPLER_TOKEN'] ?? '';
const project = process.env['REKEY_LIVE_DOPPLER_PROJECT'] ?? '';
const config = process.env['REKEY_LIVE_DOPPLER_CONFIG'] ?? '';

const INITIAL = `rk_canary_INITIAL_live_${randomBytes(6).toString('hex')}`;

/** One raw Doppler API call: the side door for seeding and cleaning, independent of the adapter. */
async function raw(method: string, path: string, query: Record<string, string>, body?: unknown): Promise<void> {
  const response = await fetch(`${api}${path}?${new URLSearchParams({ project, config, ...query })}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  if (!response.ok) throw new Error(`${method} ${path}: Doppler answered ${response.status}`);
}

const setSecret = (name: string, value: string) => raw('POST', '/v3/configs/config/secrets', {}, { project, config, secrets: { [name]: value } });

describe.skipIf(!live)('live Doppler (REKEY_LIVE_DOPPLER=1)', () => {
  storeContract(`doppler (live, ${project}/${config})`, async () => {
    const name = `REKEY_LIVE_${randomBytes(6).toString('hex').toUpperCase()}`;
    await setSecret(name, INITIAL);
    const stateDir = mkdtempSync(join(tmpdir(), 'rekey-doppler-live-'));
    const env = { DOPPLER_TOKEN: token, DOPPLER_API_HOST: api };
    const open = () => doppler.open({}, { baseDir: stateDir, stateDir, env });
    // A token Doppler never issued: every call meets 401.
    const denied = doppler.open({}, { baseDir: stateDir, stateDir, env: { ...env, DOPPLER_TOKEN: `dp.st.${randomBytes(20).toString('hex')}` } });
    return {
      store: open(),
      reopen: open,
      ref: parseRef('doppler', `${project}/${config}#${name}`),
      missingRef: parseRef('doppler', `${project}/${config}#${name}_ABSENT`),
      initial: INITIAL,
      async concurrentWrite(_ref, value) {
        await setSecret(name, value);
      },
      denied: { store: denied, ref: parseRef('doppler', `${project}/${config}#${name}`) },
      async close() {
        await raw('DELETE', '/v3/configs/config/secret', { name }).catch(() => undefined);
        rmSync(stateDir, { recursive: true, force: true });
      },
    };
  });
});
