/**
 * An in-memory model of GitHub Actions secrets, written from GitHub's REST docs, for test/fakes/github-actions-server.ts:
 * - "REST API endpoints for GitHub Actions Secrets" (https://docs.github.com/en/rest/actions/secrets): per scope
 *   (repository, environment, organisation) a Curve25519 public key `{key_id, key}`, and secrets whose metadata is
 *   `{name, created_at, updated_at}` (plus `visibility` for an organisation) and whose value is never returned;
 * - "Encrypting secrets for the REST API" (https://docs.github.com/en/rest/guides/encrypting-secrets-for-the-rest-api):
 *   the value arrives as a libsodium sealed box to that key. The model keeps the private key and opens every box
 *   with `crypto_box_seal_open`, so a value sealed wrongly (or to another key) is refused, and a test can check the
 *   value that landed;
 * - "Using secrets in GitHub Actions" (https://docs.github.com/en/actions/security-for-github-actions/security-guides/using-secrets-in-github-actions):
 *   names of letters, digits and underscores, not starting with a digit or `GITHUB_`, case-insensitive (kept in upper
 *   case); at most 48 KB a value; at most 100 repository secrets, 100 per environment and 1,000 per organisation.
 *
 * Not documented, so chosen here and said so: a write sealed to a `key_id` that is not the scope's current key (the
 * key was rotated) is refused with 422, as GitHub refuses a missing `key_id`; a box that does not open is a 422 too.
 * `updated_at` has one-second precision, as GitHub's timestamps do.
 */
import sodium from 'libsodium-wrappers';

export const MAX_VALUE_BYTES = 48 * 1024;
export const LIMITS = { repository: 100, environment: 100, organization: 1000 } as const;

export interface FakeSecret {
  name: string;
  value: string;
  created_at: string;
  updated_at: string;
  visibility?: 'all' | 'private' | 'selected' | undefined;
  selected_repository_ids?: number[] | undefined;
}

export interface FakeScope {
  readonly type: keyof typeof LIMITS;
  keyId: string;
  publicKey: Uint8Array;
  privateKey: Uint8Array;
  readonly secrets: Map<string, FakeSecret>;
}

/** What a token may do: see every scope (or only those listed), and write or only read. */
export interface FakeToken {
  readonly scopes?: readonly string[] | undefined;
  readonly write: boolean;
}

/** A refusal, as GitHub answers it: a status and a `message`. */
export class FakeRefusal extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** GitHub's timestamps: ISO 8601 to the second, in UTC. */
export const stamp = (ms: number): string => new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');

export class GitHubSecretsModel {
  readonly scopes = new Map<string, FakeScope>();
  readonly tokens = new Map<string, FakeToken>();
  /** The clock for created_at and updated_at (tests may move it). */
  now: () => number = Date.now;
  private keySerial = 1;

  /** Ready libsodium: call once before the model is used (the server does). */
  static async ready(): Promise<void> {
    await sodium.ready;
  }

  /** `repo:OWNER/REPO`, `env:OWNER/REPO@ENV` or `org:ORG`: the key of a scope, as tests name it. */
  addScope(key: string): FakeScope {
    const type = key.startsWith('org:') ? 'organization' : key.startsWith('env:') ? 'environment' : 'repository';
    const pair = sodium.crypto_box_keypair();
    const scope: FakeScope = { type, keyId: this.nextKeyId(), publicKey: pair.publicKey, privateKey: pair.privateKey, secrets: new Map() };
    this.scopes.set(key.toLowerCase(), scope);
    return scope;
  }

  addToken(token: string, rights: FakeToken = { write: true }): string {
    this.tokens.set(token, rights);
    return token;
  }

  /** A new key pair for the scope, as when GitHub rotates it: writes sealed to the old key are refused from now on. */
  rotateKey(key: string): void {
    const scope = this.scope(key);
    const pair = sodium.crypto_box_keypair();
    scope.keyId = this.nextKeyId();
    scope.publicKey = pair.publicKey;
    scope.privateKey = pair.privateKey;
  }

  /** Seed a secret as another writer would (the side door: no sealing). */
  put(key: string, name: string, value: string, visibility?: FakeSecret['visibility']): void {
    const scope = this.scope(key);
    const upper = name.toUpperCase();
    const at = stamp(this.now());
    const existing = scope.secrets.get(upper);
    scope.secrets.set(upper, {
      name: upper,
      value,
      created_at: existing?.created_at ?? at,
      updated_at: at,
      visibility: visibility ?? existing?.visibility ?? (scope.type === 'organization' ? 'private' : undefined),
      selected_repository_ids: existing?.selected_repository_ids,
    });
  }

  /** The value a secret holds, opened by the side door; undefined when there is no such secret. */
  value(key: string, name: string): string | undefined {
    return this.scope(key).secrets.get(name.toUpperCase())?.value;
  }

  secret(key: string, name: string): FakeSecret | undefined {
    return this.scope(key).secrets.get(name.toUpperCase());
  }

  scope(key: string): FakeScope {
    const scope = this.scopes.get(key.toLowerCase());
    if (scope === undefined) throw new Error(`no scope ${key} in the fake`);
    return scope;
  }

  /** Every scope's secrets (values included), to prove that a call wrote nothing. */
  snapshot(): unknown {
    return [...this.scopes].map(([key, scope]) => [key, scope.keyId, [...scope.secrets.values()].map((s) => ({ ...s }))]);
  }

  // What the server calls, after it has checked the token's right to see the scope.

  publicKeyOf(scope: FakeScope): { key_id: string; key: string } {
    return { key_id: scope.keyId, key: sodium.to_base64(scope.publicKey, sodium.base64_variants.ORIGINAL) };
  }

  metadataOf(scope: FakeScope, name: string): Record<string, unknown> | undefined {
    const secret = scope.secrets.get(name.toUpperCase());
    if (secret === undefined) return undefined;
    const { value: _never, selected_repository_ids: _ids, visibility, ...meta } = secret;
    return scope.type === 'organization' ? { ...meta, visibility } : meta;
  }

  /** Create or update a secret from a PUT body; returns 201 (created) or 204 (updated). */
  write(scope: FakeScope, name: string, body: unknown): 201 | 204 {
    const problem = nameProblem(name);
    if (problem !== undefined) throw new FakeRefusal(422, problem);
    const fields = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
    if (typeof fields['encrypted_value'] !== 'string') throw new FakeRefusal(422, 'Invalid request.\n\n"encrypted_value" wasn\'t supplied.');
    // A missing key_id is a 422 (seen in octokit/request.js#403); a stale one is refused the same way (undocumented).
    if (typeof fields['key_id'] !== 'string') throw new FakeRefusal(422, 'Invalid request.\n\n"key_id" wasn\'t supplied.');
    if (fields['key_id'] !== scope.keyId) throw new FakeRefusal(422, 'Invalid request.\n\nkey_id is not the current public key of this scope.');
    let value: string;
    try {
      const box = sodium.from_base64(fields['encrypted_value'], sodium.base64_variants.ORIGINAL);
      value = sodium.to_string(sodium.crypto_box_seal_open(box, scope.publicKey, scope.privateKey));
    } catch {
      throw new FakeRefusal(422, 'Invalid request.\n\nencrypted_value could not be decrypted with the public key.');
    }
    if (Buffer.byteLength(value, 'utf8') > MAX_VALUE_BYTES) throw new FakeRefusal(422, 'Invalid request.\n\nSecret value is too large (maximum 48 KB).');
    const upper = name.toUpperCase();
    const existing = scope.secrets.get(upper);
    if (existing === undefined && scope.secrets.size >= LIMITS[scope.type]) {
      throw new FakeRefusal(422, `Invalid request.\n\nThis ${scope.type} has reached its limit of ${LIMITS[scope.type]} secrets.`);
    }
    let visibility: FakeSecret['visibility'];
    if (scope.type === 'organization') {
      const given = fields['visibility'];
      if (given !== 'all' && given !== 'private' && given !== 'selected') throw new FakeRefusal(422, 'Invalid request.\n\n"visibility" wasn\'t supplied.');
      visibility = given;
    }
    const at = stamp(this.now());
    const ids = Array.isArray(fields['selected_repository_ids']) ? (fields['selected_repository_ids'] as number[]) : existing?.selected_repository_ids;
    scope.secrets.set(upper, { name: upper, value, created_at: existing?.created_at ?? at, updated_at: at, visibility, selected_repository_ids: ids });
    return existing === undefined ? 201 : 204;
  }

  private nextKeyId(): string {
    // GitHub's key ids are long decimal strings.
    return `568250167242549${String(this.keySerial++).padStart(4, '0')}`;
  }
}

/** GitHub's naming rules for secrets, with its own kind of words. */
export function nameProblem(name: string): string | undefined {
  if (!/^[A-Za-z0-9_]+$/.test(name)) return 'Secret names can only contain alphanumeric characters ([a-z], [A-Z], [0-9]) or underscores (_).';
  if (/^[0-9]/.test(name)) return 'Secret names must not start with a number.';
  if (name.toUpperCase().startsWith('GITHUB_')) return 'Secret names must not start with the GITHUB_ prefix.';
  return undefined;
}
