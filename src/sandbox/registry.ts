/**
 * The sandbox provider's key registry: accounts, their keys and what each request did to them.
 *
 * Like a real provider, the registry never keeps a key itself, only its SHA-256: a key is shown once, at mint, and
 * afterwards can only be presented and checked. So the optional state file holds no usable secret either.
 * A key is `active`, `revoked` or `expired`; expiry is computed when asked (no timers), so a closed sandbox leaves
 * nothing running.
 */
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, readFileSync } from 'node:fs';
import { writeFileAtomic } from '../util/atomic-file.js';

/** What minting a new key does to the account's other keys (docs/providers.md#overlap). */
export type SandboxOverlap = 'none' | 'until-revoked' | 'expiring';

/** The overlaps, for argument parsing. */
export const sandboxOverlaps: readonly SandboxOverlap[] = ['none', 'until-revoked', 'expiring'];

export type KeyStatus = 'active' | 'revoked' | 'expired';

/** What one request did, as an account's activity log shows it: the key by id, never the key itself. */
export type ActivityAction = 'mint' | 'whoami' | 'check' | 'revoke';

export interface ActivityEvent {
  /** ISO time the request arrived. */
  readonly at: string;
  /** The id of the key the request used or minted; null when the key presented was not one of the account's. */
  readonly keyId: string | null;
  readonly action: ActivityAction;
  /** The route pattern (`/v1/whoami`), never the request URL, which may carry a key. */
  readonly route: string;
  readonly status: number;
}

/** One key as the registry keeps it: its hash, never its value. */
export interface KeyRecord {
  readonly id: string;
  readonly account: string;
  readonly hash: string;
  readonly createdAt: string;
  revokedAt: string | undefined;
  /** Set for overlap `expiring` when a newer key was minted with an expiry for the others. */
  expiresAt: string | undefined;
}

/** An account name: what the URL, a Streampixel userId or a PayPal client id can carry without escaping. */
const ACCOUNT_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$/;

/** An account keeps its most recent events only, so a long benchmark does not grow without bound. */
const MAX_EVENTS_PER_ACCOUNT = 10_000;

/** Stripe lets an old key live at most seven days after a rotation. */
export const MAX_EXPIRE_SECONDS = 7 * 24 * 3600;

const STATE_VERSION = 1;

interface AccountState {
  readonly keys: KeyRecord[];
  events: ActivityEvent[];
}

interface StateFile {
  version: number;
  accounts: Record<string, { keys: Omit<KeyRecord, 'account'>[]; events: ActivityEvent[] }>;
}

export interface RegistryOptions {
  readonly overlap: SandboxOverlap;
  readonly keyPrefix: string;
  readonly stateFile: string | undefined;
}

/** The SHA-256 of a key, as the registry indexes it. */
function hashKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** True for a name the sandbox accepts as an account. */
export function isAccountName(name: string): boolean {
  return ACCOUNT_PATTERN.test(name);
}

/** Accounts, keys and activity, with optional persistence to a JSON state file. */
export class KeyRegistry {
  readonly #accounts = new Map<string, AccountState>();
  readonly #byHash = new Map<string, KeyRecord>();
  readonly #options: RegistryOptions;
  /** Events not yet written to the state file (keys are written at once; events may wait a moment). */
  #eventsDirty = false;
  #flushTimer: NodeJS.Timeout | undefined;

  constructor(options: RegistryOptions) {
    this.#options = options;
    if (options.stateFile !== undefined) this.#load(options.stateFile);
  }

  get overlap(): SandboxOverlap {
    return this.#options.overlap;
  }

  /** True when the account has ever had a key. */
  hasAccount(account: string): boolean {
    return this.#accounts.has(account);
  }

  /**
   * Mint a key for the account, creating the account on first use, and apply the overlap to its other keys:
   * `none` revokes every other active key at once; `expiring` with `expireOthersInSeconds` sets their expiry.
   * Returns the key (the only time it exists outside the caller) and its record.
   */
  mint(account: string, expireOthersInSeconds?: number): { key: string; record: KeyRecord; revoked: number } {
    if (!isAccountName(account)) throw new Error('sandbox mint: invalid account name');
    const now = Date.now();
    const state = this.#account(account);
    let revoked = 0;
    for (const other of state.keys) {
      if (this.statusOf(other, now) !== 'active') continue;
      if (this.#options.overlap === 'none') {
        other.revokedAt = new Date(now).toISOString();
        revoked++;
      } else if (this.#options.overlap === 'expiring' && expireOthersInSeconds !== undefined) {
        const expiresAt = now + expireOthersInSeconds * 1000;
        // A key already set to lapse sooner keeps its earlier expiry.
        if (other.expiresAt === undefined || Date.parse(other.expiresAt) > expiresAt) {
          other.expiresAt = new Date(expiresAt).toISOString();
        }
      }
    }
    const key = `${this.#options.keyPrefix}${randomBytes(20).toString('hex')}`;
    const record: KeyRecord = {
      id: `key_${randomBytes(8).toString('hex')}`,
      account,
      hash: hashKey(key),
      createdAt: new Date(now).toISOString(),
      revokedAt: undefined,
      expiresAt: undefined,
    };
    state.keys.push(record);
    this.#byHash.set(record.hash, record);
    this.#persistNow();
    return { key, record, revoked };
  }

  /** The record of a presented key, or undefined when the sandbox never issued it. */
  lookup(key: string): KeyRecord | undefined {
    return this.#byHash.get(hashKey(key));
  }

  /** Every key the account was ever issued, oldest first (records hold hashes only); empty for an unknown account. */
  keysOf(account: string): readonly KeyRecord[] {
    return [...(this.#accounts.get(account)?.keys ?? [])];
  }

  /** A key's status now: revoked wins over expired, expired once its expiry has passed. */
  statusOf(record: KeyRecord, now = Date.now()): KeyStatus {
    if (record.revokedAt !== undefined) return 'revoked';
    if (record.expiresAt !== undefined && Date.parse(record.expiresAt) <= now) return 'expired';
    return 'active';
  }

  /**
   * Expire an active key now (overlap `expiring`: Stripe's "expire now" for the old key); false when it was already
   * revoked or expired. It then answers as expired (`api_key_expired`), not as revoked.
   */
  expire(record: KeyRecord): boolean {
    if (this.statusOf(record) !== 'active') return false;
    record.expiresAt = new Date().toISOString();
    this.#persistNow();
    return true;
  }

  /** Revoke an active key; false when it was already revoked or expired (already gone). */
  revoke(record: KeyRecord): boolean {
    if (this.statusOf(record) !== 'active') return false;
    record.revokedAt = new Date().toISOString();
    this.#persistNow();
    return true;
  }

  /** Append one event to an account's activity log (the account must exist). */
  record(account: string, event: ActivityEvent): void {
    const state = this.#accounts.get(account);
    if (state === undefined) return;
    state.events.push(event);
    if (state.events.length > MAX_EVENTS_PER_ACCOUNT) state.events = state.events.slice(-MAX_EVENTS_PER_ACCOUNT);
    this.#persistSoon();
  }

  /** An account's events at or after `since` (all when undefined), oldest first. */
  activity(account: string, since?: number): ActivityEvent[] {
    const events = this.#accounts.get(account)?.events ?? [];
    return since === undefined ? [...events] : events.filter((event) => Date.parse(event.at) >= since);
  }

  /** Write pending events now and stop the write timer: called on close. */
  flush(): void {
    if (this.#flushTimer !== undefined) clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    if (this.#eventsDirty) this.#persistNow();
  }

  #account(account: string): AccountState {
    let state = this.#accounts.get(account);
    if (state === undefined) {
      state = { keys: [], events: [] };
      this.#accounts.set(account, state);
    }
    return state;
  }

  /** Key changes are written before the response goes out, so a restarted sandbox never forgets a minted key. */
  #persistNow(): void {
    if (this.#flushTimer !== undefined) clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    this.#eventsDirty = false;
    const file = this.#options.stateFile;
    if (file === undefined) return;
    const state: StateFile = { version: STATE_VERSION, accounts: {} };
    for (const [name, account] of this.#accounts) {
      state.accounts[name] = {
        keys: account.keys.map(({ account: _account, ...rest }) => rest),
        events: account.events,
      };
    }
    writeFileAtomic(file, `${JSON.stringify(state, null, 2)}\n`, 0o600);
  }

  /** Events alone are batched: a check should not pay for an fsync. */
  #persistSoon(): void {
    if (this.#options.stateFile === undefined) return;
    this.#eventsDirty = true;
    if (this.#flushTimer !== undefined) return;
    this.#flushTimer = setTimeout(() => {
      this.#flushTimer = undefined;
      this.#persistNow();
    }, 50);
    // A pending write must not keep the process alive; close() flushes it.
    this.#flushTimer.unref();
  }

  #load(file: string): void {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw new Error(`sandbox state ${file}: cannot read (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    let state: StateFile;
    try {
      state = JSON.parse(text) as StateFile;
    } catch {
      throw new Error(`sandbox state ${file}: not valid JSON`);
    }
    if (state === null || typeof state !== 'object' || state.version !== STATE_VERSION || typeof state.accounts !== 'object') {
      throw new Error(`sandbox state ${file}: unknown format (expected version ${STATE_VERSION})`);
    }
    for (const [name, saved] of Object.entries(state.accounts)) {
      if (!isAccountName(name) || !Array.isArray(saved.keys) || !Array.isArray(saved.events)) {
        throw new Error(`sandbox state ${file}: malformed account entry`);
      }
      const account = this.#account(name);
      for (const key of saved.keys) {
        const record: KeyRecord = {
          id: key.id,
          account: name,
          hash: key.hash,
          createdAt: key.createdAt,
          revokedAt: key.revokedAt,
          expiresAt: key.expiresAt,
        };
        account.keys.push(record);
        this.#byHash.set(record.hash, record);
      }
      account.events = saved.events.slice(-MAX_EVENTS_PER_ACCOUNT);
    }
    // The file holds only hashes, but an older copy may have been written with a wider mode by hand.
    chmodSync(file, 0o600);
  }
}
