/**
 * The Kubernetes Secret adapter against a real cluster, when REKEY_LIVE_KUBERNETES=1:
 *
 *   REKEY_LIVE_KUBERNETES=1 [KUBECONFIG=…] [REKEY_LIVE_KUBERNETES_CONTEXT=kind-rekey] \
 *     [REKEY_LIVE_KUBERNETES_NAMESPACE=default] npx vitest run test/contract/kubernetes-secret.live
 *
 * (for example against `kind create cluster`). The identity needs get, update, create and delete on secrets in the
 * namespace. Every test creates its own Secrets (`rekey-live-<random>-…`) with kubectl, the side door independent of
 * the adapter and of client-node, and deletes them.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { describe } from 'vitest';
import kubernetesSecret from '../../adapters/stores/kubernetes-secret/index.js';
import { parseRef } from '../../src/contract/store.js';
import { storeContract } from './suite.js';

const live = process.env['REKEY_LIVE_KUBERNETES'] === '1';
const context = process.env['REKEY_LIVE_KUBERNETES_CONTEXT'];
const namespace = process.env['REKEY_LIVE_KUBERNETES_NAMESPACE'] ?? 'default';
const INITIAL = `rk_canary_INITIAL_live_${randomBytes(6).toString('hex')}`;
const SIBLINGS = { DATABASE_URL: 'postgres://db.internal/app', REGION: 'eu-west-1' };

function kubectl(args: string[], input?: string): string {
  const base = [...(context === undefined ? [] : ['--context', context]), '--namespace', namespace];
  return execFileSync('kubectl', [...base, ...args], { encoding: 'utf8', ...(input === undefined ? {} : { input }) });
}

function create(name: string, values: Record<string, string>): void {
  const data = Object.fromEntries(Object.entries(values).map(([k, v]) => [k, Buffer.from(v).toString('base64')]));
  kubectl(['create', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace }, data }));
}

function values(name: string): Record<string, string> {
  const secret = JSON.parse(kubectl(['get', 'secret', name, '-o', 'json'])) as { data?: Record<string, string> };
  return Object.fromEntries(Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
}

describe.skipIf(!live)('live Kubernetes (REKEY_LIVE_KUBERNETES=1)', () => {
  storeContract(`kubernetes-secret (live cluster${context === undefined ? '' : ` ${context}`}, namespace ${namespace})`, async () => {
    const prefix = `rekey-live-${randomBytes(4).toString('hex')}`;
    create(`${prefix}-app`, { API_KEY: INITIAL });
    create(`${prefix}-shared`, { ...SIBLINGS, API_KEY: INITIAL });
    const open = () => kubernetesSecret.open(context === undefined ? {} : { context }, { baseDir: process.cwd(), env: process.env });
    return {
      store: open(),
      reopen: open,
      ref: parseRef('kubernetes-secret', `${namespace}/${prefix}-app#API_KEY`),
      fieldRef: parseRef('kubernetes-secret', `${namespace}/${prefix}-shared#API_KEY`),
      siblings: SIBLINGS,
      missingRef: parseRef('kubernetes-secret', `${namespace}/${prefix}-absent#API_KEY`),
      initial: INITIAL,
      async concurrentWrite(target, value) {
        const name = target.path.split('/')[1]!;
        kubectl(['patch', 'secret', name, '--type', 'merge', '-p', JSON.stringify({ data: { [target.field!]: Buffer.from(value).toString('base64') } })]);
      },
      async rawSiblings() {
        const { API_KEY: _, 'API_KEY.rekey-previous': _previous, ...rest } = values(`${prefix}-shared`);
        return rest;
      },
      async close() {
        kubectl(['delete', 'secret', `${prefix}-app`, `${prefix}-shared`, '--ignore-not-found']);
      },
    };
  });
});
