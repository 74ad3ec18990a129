/**
 * Which mount holds a path, what engine it is, and which Vault answers: what the adapter must know before it can
 * name a policy path or promise that a rotation will work.
 *
 * - `GET /v1/sys/internal/ui/mounts/<path>` (Vault API docs, "/sys/internal/ui/mounts", "Get single mount details")
 *   answers for the mount containing <path>, `{"data": {"path": "team/secrets/", "type": "kv", "options":
 *   {"version": "2"}}}`, to any token with a capability on some path in that mount: it is the preflight `vault kv`
 *   itself makes, and needs no read on `sys/mounts`. A token that may see nothing there, or a path under no mount,
 *   gets 403 ("preflight capability check returned 403"), so that the endpoint cannot be used to list mounts.
 * - A KV version 1 mount has `options.version` "1", or no options (`vault secrets enable kv` on a server that is not
 *   in dev mode); the legacy type name is `generic`. `vault kv enable-versioning <mount>` upgrades it (Vault docs,
 *   "kv enable-versioning"; "Upgrade kv version 1 plugins").
 * - KV v2 data reads carry `custom_metadata` in `data.metadata` since Vault 1.9 (Vault 1.9.0 changelog; the change is
 *   hashicorp/vault#12218, "Add kv custom key metadata"). `GET /v1/sys/health` (unauthenticated) reports the server's
 *   `version`; a standby answers it with 429 or 473, a sealed server with 503, each with the same body (Vault API
 *   docs, "/sys/health").
 */
import type { StoreRef } from '../../../src/contract/store.js';
import { StoreError, StorePermissionError } from '../../../src/contract/store-errors.js';

import type { VaultKvClient } from './client.js';
import { dataOf, recordOf, responseBodyOf, statusOf } from './reply.js';

/** What Vault said of the mount that holds a path. */
export interface MountInfo {
  /** The mount's path without slashes at either end (`team/secrets`), relative to the namespace. */
  readonly mount: string;
  /** The engine type: `kv` (or the legacy `generic`) for a KV store. */
  readonly type: string;
  /** The KV version from the mount's options: "2" for KV v2; "1" or undefined for KV v1. */
  readonly kvVersion: string | undefined;
}

/** The mount holding `path`, or 'hidden' when Vault will not say (403, or 404 from a Vault without the endpoint). */
export async function lookupMount(vault: VaultKvClient, path: string): Promise<MountInfo | 'hidden'> {
  const encoded = path.split('/').map(encodeURIComponent).join('/');
  let body: unknown;
  try {
    body = await vault.read(`sys/internal/ui/mounts/${encoded}`);
  } catch (error) {
    const status = statusOf(error);
    if (status === 403 || status === 404) return 'hidden';
    throw error;
  }
  const data = dataOf(body);
  const mount = typeof data?.['path'] === 'string' ? data['path'].replace(/^\/+|\/+$/g, '') : '';
  if (mount === '') return 'hidden';
  const version = recordOf(data?.['options'])?.['version'];
  return { mount, type: typeof data?.['type'] === 'string' ? data['type'] : '', kvVersion: typeof version === 'string' ? version : undefined };
}

/** Why rekey cannot use this mount, as a StoreError for `operation`, or undefined when it is KV v2. */
export function mountProblem(operation: string, ref: StoreRef, info: MountInfo): StoreError | undefined {
  const kv = info.type === 'kv' || info.type === 'generic';
  if (kv && info.kvVersion === '2') return undefined;
  if (!kv) {
    return new StoreError('invalid', operation, ref.display, `the mount ${info.mount} is a ${info.type || 'non-KV'} secrets engine, not KV version 2`, {
      hint: 'name a secret in a KV v2 mount (vault secrets list shows each mount and its type)',
    });
  }
  return new StoreError(
    'invalid',
    operation,
    ref.display,
    `the mount ${info.mount} is KV version 1: rekey needs KV v2 (versions, check-and-set and custom_metadata)`,
    { hint: `upgrade it with \`vault kv enable-versioning ${info.mount}\`, once its policies name ${info.mount}/data/… instead of ${info.mount}/…` },
  );
}

/** The error for a ref whose mount Vault would not name, when no `mount:` option says it. */
export function unknownMount(operation: string, ref: StoreRef, path: string): StoreError {
  // The first segment is only a guess at the mount: the hint says so instead of naming its policy path as fact.
  const guess = path.slice(0, path.indexOf('/'));
  return new StorePermissionError(
    operation,
    ref.display,
    `the mount of ${path} is unknown: Vault would not say which mount holds it (sys/internal/ui/mounts/${path} answered 403)`,
    `set the store option mount: to the KV v2 mount (as in mount: kv/team-a); if the mount is ${guess}, the token's policy needs "read" on ` +
      `${guess}/data/${path.slice(guess.length + 1)} (Vault names a mount only to a token with a policy on some path in it)`,
  );
}

/** The server's version from `sys/health`, or undefined when it cannot be had (a proxy, a network fault). */
export async function serverVersion(vault: VaultKvClient): Promise<string | undefined> {
  let body: unknown;
  try {
    // standbyok/perfstandbyok: a standby answers 200 too, with the same body.
    body = await vault.read('sys/health?standbyok=true&perfstandbyok=true');
  } catch (error) {
    body = responseBodyOf(error);
  }
  const version = recordOf(body)?.['version'];
  return typeof version === 'string' && version !== '' ? version : undefined;
}

/** The first version in which KV v2 data reads carry `custom_metadata`. */
export const CUSTOM_METADATA_SINCE = [1, 9] as const;

/** Whether a version string (`1.8.12`, `1.15.2+ent`, `v1.9.0-rc1`) is older than 1.9; false when it cannot be read. */
export function olderThanCustomMetadata(version: string): boolean {
  const match = /^v?(\d+)\.(\d+)/.exec(version.trim());
  if (match === null) return false;
  const major = Number(match[1]);
  const minor = Number(match[2]);
  return major < CUSTOM_METADATA_SINCE[0] || (major === CUSTOM_METADATA_SINCE[0] && minor < CUSTOM_METADATA_SINCE[1]);
}

/** The error for a Vault whose KV v2 reads carry no custom_metadata, where rekey records its runs. */
export function oldVault(operation: string, ref: StoreRef, version: string | undefined): StoreError {
  const which = version === undefined ? 'this Vault is older than 1.9' : `Vault ${version} is older than 1.9`;
  return new StoreError(
    'invalid',
    operation,
    ref.display,
    `${which}: its KV v2 reads carry no custom_metadata, where rekey records each run so that a resumed run finds its version`,
    { hint: 'upgrade Vault to 1.9 or later' },
  );
}
