/**
 * The GCP Secret Manager adapter against the real service. Skipped unless REKEY_LIVE_GCP=1.
 *
 *   REKEY_LIVE_GCP=1 REKEY_LIVE_GCP_PROJECT=my-sandbox-project npx vitest run test/contract/gcp-secret-manager.live
 *
 * Credentials come from Application Default Credentials (`gcloud auth application-default login`, or
 * GOOGLE_APPLICATION_CREDENTIALS). The account needs roles/secretmanager.admin on the project: every test creates
 * its own secrets (named `rekey-live-…`) and deletes them afterwards. The permission test reads a secret in a
 * project the account cannot reach: REKEY_LIVE_GCP_DENIED_SECRET (default `projects/rekey-live-no-access/secrets/none`).
 * Each test makes about fifteen writes; the suite stays well under the 600 writes a minute a project allows.
 */
import { randomBytes } from 'node:crypto';
import { describe } from 'vitest';
import { openGcpSecretManagerStore, type GcpSecretManagerStore } from '../../adapters/stores/gcp-secret-manager/index.js';
import { parseRef } from '../../src/contract/store.js';
import { storeContract } from './suite.js';

const live = process.env['REKEY_LIVE_GCP'] === '1';
const project = process.env['REKEY_LIVE_GCP_PROJECT'] ?? '';
const deniedSecret = process.env['REKEY_LIVE_GCP_DENIED_SECRET'] ?? 'projects/rekey-live-no-access/secrets/none';
const KIND = 'gcp-secret-manager';
const INITIAL = 'rk_canary_INITIAL_4b1d7e2a9c8f3e6d';
const context = { baseDir: process.cwd(), env: process.env };

describe.skipIf(!live || project === '')('gcp-secret-manager against the real service (REKEY_LIVE_GCP=1)', () => {
  storeContract('gcp-secret-manager (live)', async () => {
    // Imported here so that a skipped run never loads the SDK.
    const { SecretManagerServiceClient } = await import('@google-cloud/secret-manager');
    const admin = new SecretManagerServiceClient();
    const tag = `${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
    const names = { app: `rekey-live-app-${tag}`, shared: `rekey-live-shared-${tag}` };
    const full = (id: string) => `projects/${project}/secrets/${id}`;
    const siblings = { DATABASE_URL: 'postgres://db.internal/app', REGION: 'europe-west1' };

    /** Create a secret holding `payload` as version 1, with the alias `current` on it. */
    const seed = async (id: string, payload: string) => {
      await admin.createSecret({
        parent: `projects/${project}`,
        secretId: id,
        secret: { replication: { automatic: {} }, labels: { purpose: 'rekey-live-test' } },
      });
      const [version] = await admin.addSecretVersion({ parent: full(id), payload: { data: Buffer.from(payload, 'utf8') } });
      const [secret] = await admin.getSecret({ name: full(id) });
      await admin.updateSecret({
        secret: { name: full(id), etag: secret.etag, versionAliases: { current: Number(version.name!.split('/').pop()) } },
        updateMask: { paths: ['version_aliases'] },
      });
    };
    const payloadOf = async (name: string) => {
      const [response] = await admin.accessSecretVersion({ name: `${name}/versions/current` });
      return Buffer.from(response.payload!.data as Uint8Array).toString('utf8');
    };
    await seed(names.app, JSON.stringify({ API_KEY: INITIAL }));
    await seed(names.shared, JSON.stringify({ ...siblings, API_KEY: INITIAL }));

    const stores: GcpSecretManagerStore[] = [];
    const open = () => {
      const store = openGcpSecretManagerStore({ project, alias: 'current' }, context);
      stores.push(store);
      return store;
    };
    const store = open();
    return {
      store,
      reopen: open,
      ref: parseRef(KIND, `${full(names.app)}#API_KEY`),
      fieldRef: parseRef(KIND, `${names.shared}#API_KEY`),
      siblings,
      missingRef: parseRef(KIND, `rekey-live-absent-${tag}#API_KEY`),
      initial: INITIAL,
      async concurrentWrite(ref, value) {
        const name = ref.path.startsWith('projects/') ? ref.path : full(ref.path);
        const payload = JSON.parse(await payloadOf(name)) as Record<string, string>;
        const [version] = await admin.addSecretVersion({
          parent: name,
          payload: { data: Buffer.from(JSON.stringify({ ...payload, [ref.field!]: value }), 'utf8') },
        });
        const [secret] = await admin.getSecret({ name });
        await admin.updateSecret({
          secret: { name, etag: secret.etag, versionAliases: { ...secret.versionAliases, current: Number(version.name!.split('/').pop()) } },
          updateMask: { paths: ['version_aliases'] },
        });
      },
      async rawSiblings() {
        const { API_KEY: _, ...rest } = JSON.parse(await payloadOf(full(names.shared))) as Record<string, string>;
        return rest;
      },
      denied: { store, ref: parseRef(KIND, `${deniedSecret}#API_KEY`) },
      async close() {
        await Promise.all(stores.map((s) => s.close()));
        for (const id of Object.values(names)) await admin.deleteSecret({ name: full(id) }).catch(() => undefined);
        await admin.close();
      },
    };
  });
});
