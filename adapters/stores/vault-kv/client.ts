/**
 * The Vault client as this adapter sees it: the two HTTP calls it makes (tests pass a fake), and the node-vault
 * client, imported and logged in on first use.
 */
import type { StoreRef } from '../../../src/contract/store.js';
import { StoreError, StorePermissionError } from '../../../src/contract/store-errors.js';
import { withRetry } from '../../../src/util/retry.js';

import { toStoreError } from './errors.js';
import { recordOf, statusOf } from './reply.js';

/**
 * The two Vault HTTP calls this adapter makes, as node-vault's `read` and `write` offer them. A failure with a
 * reply carries `response.statusCode` and `response.body` (node-vault's ApiResponseError); a failure without one
 * carries a Node error `code` such as `ECONNREFUSED`.
 */
export interface VaultKvClient {
  /** GET `/v1/<path>`; the path may end in a query string (`?version=3`). Resolves with the reply's JSON body. */
  read(path: string): Promise<unknown>;
  /** POST `/v1/<path>` with a JSON body. Resolves with the reply's JSON body (empty for 204). */
  write(path: string, body: Record<string, unknown>): Promise<unknown>;
}

export const KIND = 'vault-kv';

/**
 * Why a ref cannot name a field of a KV v2 secret, or undefined when it can: a path (`<mount>/<path>`, or a path
 * under the `mount` option) and a field after `#`, since a KV v2 secret is a map of keys to values (Vault docs,
 * "KV secrets engine - version 2", Usage). Where the mount ends depends on the option, so the store checks that.
 */
export function refProblem(ref: StoreRef): string | undefined {
  if (ref.path.replace(/^\/+|\/+$/g, '') === '') return 'a Vault KV ref is <mount>/<path>#<field>, as in secret/web/app#API_KEY';
  if (ref.field === undefined || ref.field === '') return 'a Vault KV ref names a field of the secret after #, as in secret/app#API_KEY';
  return undefined;
}

/** What `connectNodeVault` needs: an address, a namespace, and a token or an AppRole login. */
export interface VaultConnection {
  readonly address: string | undefined;
  readonly namespace: string | undefined;
  readonly tokenEnv: string;
  readonly roleId: string | undefined;
  readonly secretIdEnv: string | undefined;
  readonly env: Readonly<Record<string, string | undefined>>;
}

/** A node-vault client, imported on first use, authenticated by token or AppRole, with its own debug log silenced. */
export async function connectNodeVault(connection: VaultConnection): Promise<VaultKvClient> {
  const where = `${KIND}`;
  if (connection.address === undefined || connection.address === '') {
    throw new StoreError('invalid', 'connect', where, 'no Vault address: set VAULT_ADDR or the store option address');
  }
  const { default: nodeVault } = await import('node-vault');
  const env = connection.env;
  const requestOptions: Record<string, unknown> = {};
  if (env['VAULT_CACERT'] !== undefined && env['VAULT_CACERT'] !== '') {
    const { readFile } = await import('node:fs/promises');
    requestOptions['ca'] = await readFile(env['VAULT_CACERT']);
  }
  const skipVerify = env['VAULT_SKIP_VERIFY'] !== undefined && !['', '0', 'false'].includes(env['VAULT_SKIP_VERIFY'].toLowerCase());
  const make = (token: string): VaultKvClient => {
    const client = nodeVault({
      endpoint: connection.address,
      token,
      // node-vault's debug log prints request bodies, values included, when DEBUG=node-vault is set.
      debug: () => undefined,
      rpDefaults: { strictSSL: !skipVerify, timeout: 30_000 },
      requestOptions,
    } as Parameters<typeof nodeVault>[0]);
    // node-vault falls back to process.env (VAULT_TOKEN, VAULT_NAMESPACE, VAULT_PREFIX): pin what rekey chose.
    const mutable = client as unknown as { token: string; namespace: string | undefined; pathPrefix: string };
    mutable.token = token;
    mutable.namespace = connection.namespace === '' ? undefined : connection.namespace;
    mutable.pathPrefix = '';
    // node-vault makes one attempt per call (axios, no retry layer): rekey's withRetry is the only one.
    return { read: (path) => client.read(path), write: (path, body) => client.write(path, body) };
  };

  if (connection.roleId !== undefined && connection.roleId !== '') {
    const secretIdEnv = connection.secretIdEnv ?? 'VAULT_SECRET_ID';
    const secretId = env[secretIdEnv];
    if (secretId === undefined || secretId === '') throw new StoreError('invalid', 'connect', where, `AppRole login needs a secret id in ${secretIdEnv}`);
    const anonymous = make('');
    const body = await withRetry(async () => {
      try {
        return await anonymous.write('auth/approle/login', { role_id: connection.roleId, secret_id: secretId });
      } catch (error) {
        const status = statusOf(error);
        if (status === 400 || status === 401 || status === 403) {
          throw new StorePermissionError(
            'connect',
            where,
            'AppRole login refused',
            `check roleId and the secret id in ${secretIdEnv}, and that the secret id has not expired`,
          );
        }
        throw toStoreError(
          error,
          'connect',
          { kind: KIND, path: 'auth/approle/login', display: where },
          { capability: 'update', policyPath: 'auth/approle/login' },
        );
      }
    });
    const token = recordOf(recordOf(body)?.['auth'])?.['client_token'];
    if (typeof token !== 'string' || token === '') throw new StoreError('failed', 'connect', where, 'AppRole login returned no token');
    return make(token);
  }
  const token = env[connection.tokenEnv];
  if (token === undefined || token === '')
    throw new StoreError('invalid', 'connect', where, `no Vault token: set ${connection.tokenEnv}, or configure AppRole (roleId, secretIdEnv)`);
  return make(token);
}
