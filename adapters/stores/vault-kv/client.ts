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
    const login = async (): Promise<Session> => {
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
      const auth = recordOf(recordOf(body)?.['auth']);
      const token = auth?.['client_token'];
      if (typeof token !== 'string' || token === '') throw new StoreError('failed', 'connect', where, 'AppRole login returned no token');
      return sessionOf(token, auth);
    };
    return sessionClient(make, await login(), login, undefined);
  }
  const token = env[connection.tokenEnv];
  if (token === undefined || token === '')
    throw new StoreError('invalid', 'connect', where, `no Vault token: set ${connection.tokenEnv}, or configure AppRole (roleId, secretIdEnv)`);
  return sessionClient(make, { token, leaseMs: undefined, expiresAt: undefined, renewable: false }, undefined, connection.tokenEnv);
}

/** A token and what Vault said of its life when it was issued or last renewed. */
interface Session {
  readonly token: string;
  /** The lease granted last (login or renewal), in ms; undefined when unknown (a token given by the environment). */
  readonly leaseMs: number | undefined;
  readonly expiresAt: number | undefined;
  readonly renewable: boolean;
}

function sessionOf(token: string, auth: Record<string, unknown> | undefined): Session {
  const lease = Number(auth?.['lease_duration']);
  const leaseMs = Number.isFinite(lease) && lease > 0 ? lease * 1000 : undefined;
  return { token, leaseMs, expiresAt: leaseMs === undefined ? undefined : Date.now() + leaseMs, renewable: auth?.['renewable'] === true };
}

/** Renew (or log in again) once less than this is left of a token's life, or less than a third of its lease. */
const REFRESH_BEFORE_MS = 30_000;

/**
 * The client that keeps its token alive (Vault docs, "Tokens": a token with a TTL stops working when it runs out;
 * a renewable one is extended by `auth/token/renew-self`, never past its max TTL). AppRole's `token_ttl` is often
 * 20–60 minutes, shorter than a drill with prompts: before a call, a token near its end is renewed, or replaced by a
 * new login when it cannot be renewed far enough. An expired or revoked token is answered with 403 like a policy
 * that denies the call; with a login at hand, one new login and one retry tell the two apart. A token from the
 * environment cannot be replaced: on a 403, `lookup-self` (which every token may call) says whether the token itself
 * is dead, and the error says so instead of naming a policy.
 */
function sessionClient(
  make: (token: string) => VaultKvClient,
  first: Session,
  login: (() => Promise<Session>) | undefined,
  tokenEnv: string | undefined,
): VaultKvClient {
  let session = first;
  let client = make(first.token);
  let refreshing: Promise<void> | undefined;
  const replace = (next: Session) => {
    session = next;
    client = make(next.token);
  };
  /** Renew, or log in again where renewing cannot keep the token alive for long enough. One at a time. */
  const refresh = (renew: boolean): Promise<void> => {
    refreshing ??= (async () => {
      if (renew && session.renewable) {
        const renewed = await client.write('auth/token/renew-self', {}).then(
          (body) => sessionOf(session.token, recordOf(recordOf(body)?.['auth'])),
          () => undefined,
        );
        const enough = renewed?.expiresAt !== undefined && renewed.expiresAt - Date.now() > REFRESH_BEFORE_MS;
        if (renewed !== undefined && (enough || login === undefined)) {
          session = { ...renewed, leaseMs: session.leaseMs };
          return;
        }
      }
      if (login !== undefined) replace(await login());
    })().finally(() => {
      refreshing = undefined;
    });
    return refreshing;
  };
  const dueForRefresh = () => session.expiresAt !== undefined && session.expiresAt - Date.now() < Math.max(REFRESH_BEFORE_MS, (session.leaseMs ?? 0) / 3);
  const call = async <T>(fn: (c: VaultKvClient) => Promise<T>): Promise<T> => {
    if (dueForRefresh()) await refresh(true);
    const used = client;
    try {
      return await fn(used);
    } catch (error) {
      if (statusOf(error) !== 403) throw error;
      if (login !== undefined) {
        if (client === used) await refresh(false);
        return await fn(client);
      }
      const alive = await used.read('auth/token/lookup-self').then(
        () => true,
        (lookup: unknown) => statusOf(lookup) !== 403,
      );
      if (alive) throw error;
      throw new StorePermissionError(
        'call',
        KIND,
        `the Vault token in ${tokenEnv} has expired or been revoked`,
        `put a new token in ${tokenEnv} (vault login, or vault token create) and run the command again; for long drills ` +
          'use AppRole (roleId, secretIdEnv), which rekey renews and logs in again',
      );
    }
  };
  return { read: (path) => call((c) => c.read(path)), write: (path, body) => call((c) => c.write(path, body)) };
}
