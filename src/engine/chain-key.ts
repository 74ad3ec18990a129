/**
 * The chain key: a secret kept OUTSIDE the state folder with which every journal and audit record is sealed
 * (HMAC-SHA-256), so that someone who can write `.rekey/` but cannot read the key cannot add, alter or rewrite records
 * without it showing. A plain SHA-256 chain alone only catches edits whose author did not recompute the hashes.
 *
 * Where it comes from, first match wins:
 * - `REKEY_CHAIN_KEY` (at least 32 characters; for CI, from the CI's secret store): used as it is, never written.
 * - `$XDG_CONFIG_HOME/rekey/chain.key` (default `~/.config/rekey/chain.key`), mode 0600 in a 0700 folder, created with
 *   32 random bytes the first time rekey writes a record. The file also says when it was created: records written
 *   after that moment on this machine must be sealed, so a forger cannot pass off new records as written by an older
 *   rekey that did not seal.
 * Where neither can be had (no variable, and the config folder cannot be written, as in some read-only containers),
 * records are written unsealed and prove only what a plain hash chain proves.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { closeSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { InputError, StateFileError } from '../contract/errors.js';

export interface ChainKey {
  /** A public name for the key (16 hex digits of a hash of it), stored in every sealed record. */
  readonly id: string;
  readonly secret: Buffer;
  /** Where the key came from, for messages: the variable's name or the file's path. */
  readonly source: string;
  /** When this machine began sealing with the key (the key file's creation); undefined for REKEY_CHAIN_KEY. */
  readonly since: string | undefined;
}

/** The key file's path: `$XDG_CONFIG_HOME/rekey/chain.key`, else `~/.config/rekey/chain.key`. */
export function chainKeyFile(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env['XDG_CONFIG_HOME'];
  const home = env['HOME'];
  // Asked for every record sealed: the same variables give the same path.
  if (lastKeyFile !== undefined && lastKeyFile.xdg === xdg && lastKeyFile.home === home) return lastKeyFile.file;
  const base = xdg !== undefined && xdg !== '' ? xdg : join(homedir(), '.config');
  const file = join(base, 'rekey', 'chain.key');
  lastKeyFile = { xdg, home, file };
  return file;
}

let lastKeyFile: { xdg: string | undefined; home: string | undefined; file: string } | undefined;

const MIN_ENV_KEY = 32;

function keyOf(secret: Buffer, source: string, since: string | undefined): ChainKey {
  const id = createHash('sha256').update('rekey chain key id\0').update(secret).digest('hex').slice(0, 16);
  return { id, secret, source, since };
}

/** The last key made from REKEY_CHAIN_KEY, by its text: every record is sealed, and hashing the key again each time is waste. */
let lastEnvKey: { value: string; key: ChainKey } | undefined;

/** The key in the environment, or undefined; a key too short to be a secret is bad input. */
function envKey(env: NodeJS.ProcessEnv): ChainKey | undefined {
  const value = env['REKEY_CHAIN_KEY'];
  if (value === undefined || value === '') return undefined;
  if (lastEnvKey?.value === value) return lastEnvKey.key;
  if (value.length < MIN_ENV_KEY)
    throw new InputError(
      `REKEY_CHAIN_KEY is ${value.length} characters long: a chain key needs at least ${MIN_ENV_KEY}`,
      undefined,
      'generate one with `openssl rand -base64 32` and keep it in the CI secret store',
    );
  const key = keyOf(Buffer.from(value, 'utf8'), 'REKEY_CHAIN_KEY', undefined);
  lastEnvKey = { value, key };
  return key;
}

/** Parse a key file: `{"v":1,"created":"<ISO>","key":"<base64 of 32 bytes>"}`. */
function parseKeyFile(file: string, text: string): ChainKey {
  try {
    const data = JSON.parse(text) as { v?: unknown; created?: unknown; key?: unknown };
    const secret = typeof data.key === 'string' ? Buffer.from(data.key, 'base64') : Buffer.alloc(0);
    if (data.v !== 1 || typeof data.created !== 'string' || Number.isNaN(Date.parse(data.created)) || secret.length < 32) throw new Error('not a chain key');
    return keyOf(secret, file, data.created);
  } catch (error) {
    throw new StateFileError(
      'read the chain key',
      file,
      Object.assign(new Error('the file is damaged (it is not a rekey chain key)'), { cause: error }),
      'restore it from a backup: without it the records it sealed cannot be checked; if it is lost, move it aside and rekey makes a new one (older ' +
        'records then read as sealed by a key this machine does not have)',
    );
  }
}

function readKeyFile(file: string): ChainKey | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new StateFileError('read the chain key', file, error);
  }
  return parseKeyFile(file, text);
}

/**
 * Create the key file, or read the one another process created at the same moment: the key is written to a private
 * temporary file, fsynced, then linked to its name, which fails if the name exists, so no reader ever sees half a key.
 * Undefined when the folder cannot be written (records are then written unsealed).
 */
function createKeyFile(file: string): ChainKey | undefined {
  const dir = dirname(file);
  const temp = join(dir, `.chain.key.${randomBytes(6).toString('hex')}.tmp`);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const fd = openSync(temp, 'wx', 0o600);
    try {
      writeSync(fd, `${JSON.stringify({ v: 1, created: new Date().toISOString(), key: randomBytes(32).toString('base64') })}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    try {
      linkSync(temp, file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  } catch {
    // A config folder rekey cannot write (a read-only home in a container) must not stop a rotation.
    return undefined;
  } finally {
    try {
      unlinkSync(temp);
    } catch {
      // Never created, or already gone.
    }
  }
  return readKeyFile(file);
}

const cache = new Map<string, ChainKey | undefined>();

/** The key to seal new records with, created on first use; undefined when none can be had. */
export function sealingKey(env: NodeJS.ProcessEnv = process.env): ChainKey | undefined {
  const fromEnv = envKey(env);
  if (fromEnv !== undefined) return fromEnv;
  const file = chainKeyFile(env);
  const known = cache.get(file);
  if (known !== undefined) return known;
  const key = readKeyFile(file) ?? createKeyFile(file);
  if (key !== undefined) cache.set(file, key);
  return key;
}

/** The key to check records with: never created here (checking writes nothing); undefined when there is none. */
export function checkingKey(env: NodeJS.ProcessEnv = process.env): ChainKey | undefined {
  const fromEnv = envKey(env);
  if (fromEnv !== undefined) return fromEnv;
  const file = chainKeyFile(env);
  const known = cache.get(file);
  if (known !== undefined) return known;
  const key = readKeyFile(file);
  if (key !== undefined) cache.set(file, key);
  return key;
}

/** The seal of a record body (its JSON without `hash` and `mac`). */
export function seal(key: ChainKey, text: string): string {
  return createHmac('sha256', key.secret).update(text).digest('hex');
}

/** Whether `mac` is the seal of `text` under `key`, compared in constant time. */
export function sealMatches(key: ChainKey, text: string, mac: string): boolean {
  const expected = Buffer.from(seal(key, text), 'hex');
  const given = Buffer.from(mac, 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}
