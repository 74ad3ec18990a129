/**
 * The dotenvx key pair of one .env file: which names its keys go by, where the public key is (in the file) and where
 * the private key is looked for (the environment, then `.env.keys`). Names only and paths; no cryptography here.
 *
 * The rules follow dotenvx itself (@dotenvx/dotenvx 2.38.2, https://github.com/dotenvx/dotenvx):
 * - src/lib/conventions/keynames.js: a `DOTENV_PUBLIC_KEY…` assignment in the file names the pair (its first one),
 *   the private key's name being the same with `DOTENV_PRIVATE_KEY`; without one, `.env` uses `DOTENV_PUBLIC_KEY` /
 *   `DOTENV_PRIVATE_KEY` and `.env.<environment>` adds `_<ENVIRONMENT>` (src/lib/conventions/environment.js);
 * - src/lib/helpers/readEnvKey.js: the last assignment of a key wins, as for any variable;
 * - src/lib/helpers/cryptography/decryptKeyValue.js: a private key variable may hold several keys separated by commas;
 * - the README ("DOTENV_PRIVATE_KEY_PRODUCTION=key run", "-fk"): the private key comes from the environment, or from
 *   the `.env.keys` file beside the .env (src/lib/helpers/cryptography/mutateSrc.js puts it there), or from a keys file
 *   named with `-fk`, which is this store's `keysFile` option; dotenvx 2.x also notes a keys file elsewhere on the
 *   public key line (`keysFilesOf`).
 */
import { readFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import type { Place } from '../dotenv/files.js';
import { type DotenvDocument, lastEntry, parseDotenv } from '../dotenv/format.js';

const PUBLIC_PREFIX = 'DOTENV_PUBLIC_KEY';
const PRIVATE_PREFIX = 'DOTENV_PRIVATE_KEY';

/** The names of a file's key pair. */
export interface KeyNames {
  readonly publicKeyName: string;
  readonly privateKeyName: string;
}

/** The `<environment>` of `.env.<environment>`, as dotenvx reads it from a file name (conventions/environment.js). */
export function environmentOf(file: string): string {
  let name = basename(file).toLowerCase();
  // helpers/canonicalEnvFilename.js: `.env.production.txt` is `.env.production`.
  if (name.startsWith('.env') && name.endsWith('.txt')) name = name.slice(0, -4);
  const parts = name.split('.').slice(2);
  if (parts.length === 0) return name.replace('.env', 'development');
  return parts.slice(0, 2).join('_');
}

/** The key names of the file at `file` whose content is `doc`: the file's own public key name wins. */
export function keyNamesOf(file: string, doc: DotenvDocument): KeyNames {
  const declared = doc.entries.find((entry) => entry.key.startsWith(PUBLIC_PREFIX));
  if (declared !== undefined) return { publicKeyName: declared.key, privateKeyName: declared.key.replace(PUBLIC_PREFIX, PRIVATE_PREFIX) };
  return conventionalKeyNames(file);
}

/** The key names dotenvx gives a file by its name alone (what `dotenvx encrypt -f <file>` writes into it). */
export function conventionalKeyNames(file: string): KeyNames {
  let name = basename(file).toLowerCase();
  if (name.startsWith('.env') && name.endsWith('.txt')) name = name.slice(0, -4);
  if (name === '.env') return { publicKeyName: PUBLIC_PREFIX, privateKeyName: PRIVATE_PREFIX };
  const environment = environmentOf(file).toUpperCase();
  return { publicKeyName: `${PUBLIC_PREFIX}_${environment}`, privateKeyName: `${PRIVATE_PREFIX}_${environment}` };
}

/** Whether a variable name is one of dotenvx's own key variables, which this store never rotates. */
export function isKeyVariable(name: string): boolean {
  return name.startsWith(PUBLIC_PREFIX) || name.startsWith(PRIVATE_PREFIX);
}

/** The public key declared in the file, or undefined (with the line when it is set but empty or malformed). */
export function publicKeyOf(doc: DotenvDocument, names: KeyNames): { readonly hex?: string; readonly line?: number } {
  const entry = lastEntry(doc, names.publicKeyName);
  if (entry === undefined) return {};
  return entry.malformed || entry.value.trim() === '' ? { line: entry.line } : { hex: entry.value.trim(), line: entry.line };
}

/**
 * The keys files this store reads for a place: the `keysFile` option alone when given; else the `.env.keys` beside the
 * .env, then the one the public key line points to. `dotenvx encrypt -f sub/.env` run from another folder writes the
 * keys file there and says so on the line, `DOTENV_PUBLIC_KEY="02…" # -fk ../.env.keys`, relative to the .env
 * (src/lib/helpers/prependPublicKey.js, src/lib/helpers/cryptography/mutateSrc.js).
 */
export function keysFilesOf(place: Place, keysFile: string | undefined, doc: DotenvDocument, names: KeyNames): string[] {
  if (keysFile !== undefined) return [keysFile];
  const files = [join(place.dir, '.env.keys')];
  const entry = lastEntry(doc, names.publicKeyName);
  const hint = entry === undefined ? null : /#\s*-fk\s+(\S+)/.exec(doc.text.slice(entry.valueEnd, entry.lineEnd));
  if (hint?.[1] !== undefined) {
    const pointed = resolve(place.dir, Buffer.from(hint[1], 'latin1').toString('utf8'));
    if (!files.includes(pointed)) files.push(pointed);
  }
  return files;
}

/** One private key found, with where it was found (for messages: never the key). */
export interface PrivateKeyCandidate {
  readonly key: string;
  /** `environment variable DOTENV_PRIVATE_KEY` or `DOTENV_PRIVATE_KEY in /path/.env.keys`. */
  readonly source: string;
}

/** What the lookup found, and each place it looked in words (`environment variable DOTENV_PRIVATE_KEY: not set`). */
export interface PrivateKeyLookup {
  readonly candidates: readonly PrivateKeyCandidate[];
  readonly looked: readonly string[];
}

const splitKeys = (value: string): string[] =>
  value
    .split(',')
    .map((key) => key.trim())
    .filter((key) => key !== '');

/**
 * Every private key on offer for the pair: the environment variable's, then the keys file's. dotenvx 1.x preferred an
 * explicitly set variable (src/lib/helpers/findPrivateKey.js, "prefer explicitly-set machine env key first"); 2.x
 * also finds the key in `.env.keys` when the variable holds another (tried with 2.38.2). Both are kept, in that order,
 * and the caller uses the one that matches the file's public key or decrypts the value, as dotenvx ends up doing.
 */
export async function findPrivateKeys(
  names: KeyNames,
  env: Readonly<Record<string, string | undefined>>,
  keysFiles: readonly string[],
): Promise<PrivateKeyLookup> {
  const candidates: PrivateKeyCandidate[] = [];
  const looked: string[] = [];
  const fromEnv = env[names.privateKeyName];
  const envKeys = fromEnv === undefined ? [] : splitKeys(fromEnv);
  const envSource = `environment variable ${names.privateKeyName}`;
  candidates.push(...envKeys.map((key) => ({ key, source: envSource })));
  looked.push(`${envSource}: ${fromEnv === undefined ? 'not set' : envKeys.length === 0 ? 'empty' : 'set'}`);
  for (const keysFile of keysFiles) {
    let bytes: Buffer;
    try {
      bytes = await readFile(keysFile);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      looked.push(`${keysFile}: ${code === 'ENOENT' ? 'no such file' : code === 'EACCES' || code === 'EPERM' ? 'permission denied' : (code ?? 'unreadable')}`);
      continue;
    }
    // The rest of .env.keys (the other environments' keys) is never kept nor quoted.
    const entry = lastEntry(parseDotenv(bytes), names.privateKeyName);
    const fileKeys = entry === undefined || entry.malformed ? [] : splitKeys(entry.value);
    const fileSource = `${names.privateKeyName} in ${keysFile}`;
    candidates.push(...fileKeys.map((key) => ({ key, source: fileSource })));
    const state =
      entry === undefined
        ? `no ${names.privateKeyName}`
        : fileKeys.length === 0
          ? `${names.privateKeyName} on line ${entry.line} is empty or malformed`
          : `${names.privateKeyName} set`;
    looked.push(`${keysFile}: ${state}`);
  }
  return { candidates, looked };
}
