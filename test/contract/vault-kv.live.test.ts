/**
 * The Vault KV v2 adapter against a real Vault, when REKEY_LIVE_VAULT=1:
 *
 *   REKEY_LIVE_VAULT=1 VAULT_ADDR=http://127.0.0.1:8200 VAULT_TOKEN=… [REKEY_LIVE_VAULT_MOUNT=secret] \
 *     npx vitest run test/contract/vault-kv.live
 *
 * (for example against `vault server -dev`). The token needs read, create, update and delete on
 * `<mount>/data/rekey-live/*` and `<mount>/metadata/rekey-live/*`, and update on `<mount>/destroy/rekey-live/*`.
 * Every test works under its own `rekey-live/<random>/` prefix, seeded and cleaned through raw HTTP calls (never
 * through the adapter), and deletes all it wrote, metadata included.
 */
import { randomBytes } from 'node:crypto';
import { describe } from 'vitest';
import vaultKv from '../../adapters/stores/vault-kv/index.js';
import { parseRef } from '../../src/contract/store.js';
import { storeContract } from './suite.js';

const live = process.env['REKEY_LIVE_VAULT'] === '1';
const address = (process.env['VAULT_ADDR'] ?? '').replace(/\/+$/, '');
const token = process.env['VAULT_TOKEN'] ?? '';
const namespace = process.env['VAULT_NAMESPACE'];
const mount = (process.env['REKEY_LIVE_VAULT_MOUNT'] ?? 'secret').replace(/^\/+|\/+$/g, '');

const INITIAL = `rk_canary_INITIAL_live_${randomBytes(6).toString('hex')}`;
const SIBLINGS = { DATABASE_URL: 'postgres://db.internal/app', REGION: 'eu-west-1' };

/** One raw Vault API call: the side door for seeding and checking, independent of the adapter and node-vault. */
async function raw(method: string, path: string, body?: unknown): Promise<unknown> {
  const headers: Record<string, string> = { 'X-Vault-Token': token, 'content-type': 'application/json' };
  if (namespace !== undefined && namespace !== '') headers['X-Vault-Namespace'] = namespace;
  const response = await fetch(`${address}/v1/${path}`, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  if (!response.ok) throw new Error(`${method} ${path}: Vault answered ${response.status}`);
  return response.status === 204 ? undefined : response.json();
}

async function latestData(path: string): Promise<Record<string, string>> {
  const body = (await raw('GET', `${mount}/data/${path}`)) as { data: { data: Record<string, string> } };
  return body.data.data;
}

describe.skipIf(!live)('live Vault KV v2 (REKEY_LIVE_VAULT=1)', () => {
  storeContract(`vault-kv (live Vault at ${address || 'VAULT_ADDR'}, mount ${mount})`, async () => {
    const prefix = `rekey-live/${randomBytes(6).toString('hex')}`;
    const paths = [`${prefix}/app`, `${prefix}/shared`];
    await raw('POST', `${mount}/data/${prefix}/app`, { data: { API_KEY: INITIAL } });
    await raw('POST', `${mount}/data/${prefix}/shared`, { data: { ...SIBLINGS, API_KEY: INITIAL } });
    const env = { VAULT_ADDR: address, VAULT_TOKEN: token, ...(namespace === undefined ? {} : { VAULT_NAMESPACE: namespace }) };
    const open = () => vaultKv.open({ mount, destroyOnRetire: true }, { baseDir: process.cwd(), env });
    // A token Vault never issued: every call meets 403 "permission denied", with no admin rights needed to set up.
    const denied = vaultKv.open({ mount }, { baseDir: process.cwd(), env: { ...env, VAULT_TOKEN: `hvs.${randomBytes(12).toString('hex')}` } });
    return {
      store: open(),
      reopen: open,
      ref: parseRef('vault-kv', `${mount}/${prefix}/app#API_KEY`),
      fieldRef: parseRef('vault-kv', `${mount}/${prefix}/shared#API_KEY`),
      siblings: SIBLINGS,
      missingRef: parseRef('vault-kv', `${mount}/${prefix}/absent#API_KEY`),
      initial: INITIAL,
      async concurrentWrite(target, value) {
        const path = target.path.slice(mount.length + 1);
        await raw('POST', `${mount}/data/${path}`, { data: { ...(await latestData(path)), [target.field!]: value } });
      },
      async rawSiblings() {
        const { API_KEY: _, ...rest } = await latestData(`${prefix}/shared`);
        return rest;
      },
      denied: { store: denied, ref: parseRef('vault-kv', `${mount}/${prefix}/app#API_KEY`) },
      async close() {
        for (const path of paths) await raw('DELETE', `${mount}/metadata/${path}`).catch(() => undefined);
      },
    };
  });
});
