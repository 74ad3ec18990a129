/**
 * The GitHub Actions secrets adapter against GitHub itself, when REKEY_LIVE_GITHUB=1:
 *
 *   REKEY_LIVE_GITHUB=1 REKEY_LIVE_GITHUB_REPO=owner/sandbox-repo GITHUB_TOKEN=… [GITHUB_API_URL=https://HOST/api/v3] \
 *     npx vitest run test/contract/github-actions-secrets.live
 *
 * Use a sandbox repository: the token needs "Secrets: read and write" on it (fine-grained), or the repo scope
 * (classic). Every test works on its own secret `REKEY_LIVE_<random>`, seeded and removed through raw REST calls
 * (sealed here with libsodium, never through the adapter). A write-only service has no side door to the value, so
 * the cases that need one are skipped; the wire fake covers them.
 */
import { randomBytes } from 'node:crypto';
import sodium from 'libsodium-wrappers';
import { describe } from 'vitest';
import githubActions from '../../adapters/stores/github-actions-secrets/index.js';
import { parseRef } from '../../src/contract/store.js';
import { storeContract } from './suite.js';

const live = process.env['REKEY_LIVE_GITHUB'] === '1';
const repo = process.env['REKEY_LIVE_GITHUB_REPO'] ?? '';
const token = process.env['GITHUB_TOKEN'] ?? '';
const api = (process.env['GITHUB_API_URL'] ?? 'https://api.github.com').replace(/\/+$/, '');
const INITIAL = `rk_canary_INITIAL_live_${randomBytes(6).toString('hex')}`;

/** One raw REST call: the side door for seeding and cleaning, independent of the adapter. */
async function raw(method: string, path: string, body?: unknown): Promise<unknown> {
  const response = await fetch(`${api}/repos/${repo}/actions/secrets/${path}`, {
    method,
    headers: {
      Accept: 'application/vnd.github+json',
      Authorization: `Bearer ${token}`,
      'X-GitHub-Api-Version': '2022-11-28',
      'User-Agent': 'rekey-live-test',
      ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  if (!response.ok) throw new Error(`${method} ${path}: GitHub answered ${response.status}`);
  return response.status === 204 || response.status === 201 ? undefined : response.json();
}

async function rawPut(name: string, value: string): Promise<void> {
  await sodium.ready;
  const key = (await raw('GET', 'public-key')) as { key_id: string; key: string };
  const sealed = sodium.crypto_box_seal(sodium.from_string(value), sodium.from_base64(key.key, sodium.base64_variants.ORIGINAL));
  await raw('PUT', name, { encrypted_value: sodium.to_base64(sealed, sodium.base64_variants.ORIGINAL), key_id: key.key_id });
}

describe.skipIf(!live)('live GitHub Actions secrets (REKEY_LIVE_GITHUB=1)', () => {
  storeContract(`github-actions-secrets (live, ${repo || 'REKEY_LIVE_GITHUB_REPO'})`, async () => {
    const name = `REKEY_LIVE_${randomBytes(5).toString('hex').toUpperCase()}`;
    await rawPut(name, INITIAL);
    const open = () => githubActions.open({ apiUrl: api }, { baseDir: process.cwd(), env: { GITHUB_TOKEN: token } });
    return {
      store: open(),
      reopen: open,
      ref: parseRef('github-actions-secrets', `${repo}#${name}`),
      missingRef: parseRef('github-actions-secrets', `${repo}#${name}_ABSENT`),
      initial: INITIAL,
      async concurrentWrite(target, value) {
        await rawPut(target.field!, value);
      },
      recordsRuns: false,
      async close() {
        await raw('DELETE', name).catch(() => undefined);
      },
    };
  });
});
