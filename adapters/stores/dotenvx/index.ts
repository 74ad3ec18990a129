/**
 * Encrypted `.env` store in dotenvx's format: one variable of a .env whose values are `encrypted:<base64>` (ECIES over
 * secp256k1, crypto.ts), encrypted to the public key the file carries and decrypted with the private key from the
 * environment or `.env.keys` (keys.ts), so that the file can be committed and the key stays on the machines that run.
 *
 * ```yaml
 * stores:
 *   - dotenvx: ./deploy/.env.production#BILLING_API_KEY   # path relative to rekey.yaml, then the variable name
 *     keysFile: ./secrets/.env.keys                       # optional: default the .env.keys beside the .env
 *     keepPrevious: true                                  # optional: BILLING_API_KEY_PREVIOUS=<old, encrypted>
 * ```
 *
 * For `.env.production` the file holds `DOTENV_PUBLIC_KEY_PRODUCTION="02…"` and the private key is
 * `DOTENV_PRIVATE_KEY_PRODUCTION`, set in rekey's environment or in the keys file (for `.env`: `DOTENV_PUBLIC_KEY` and
 * `DOTENV_PRIVATE_KEY`; a `DOTENV_PUBLIC_KEY…` line in the file names the pair whatever the file name).
 *
 * Everything but the encryption is the plain dotenv store's (../dotenv/): the byte-exact edit of one token, the lock
 * file, the atomic writes, the staged and previous sibling files, sweep and check. The values it keeps on disk are
 * ciphertexts only (I3: the plaintext never reaches disk): the new value is encrypted once, at stage, into the staged
 * file, and that ciphertext is what promote writes into the .env; the previous file keeps the old value's ciphertext.
 * A variable still in the clear, or a file without a public key, is refused before anything is minted, since writing
 * it would put (or keep) a plaintext on disk: `dotenvx encrypt` it first.
 *
 * What the leak search leaves out (`files`): the sibling files, the lock and the temporary files, which are rekey's
 * own; not the .env itself, which holds only ciphertexts, is meant to be committed (a tracked encrypted .env is no
 * leak), and in which the plaintext, if the search finds it, really is a leak (a line someone wrote in the clear). Nor
 * `.env.keys`: rekey never writes it and it holds no value of the credential, only the key that opens them.
 */
import { realpathSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import type { SecretStore, SecretStoreAdapter, StoreContext, StoreRef } from '../../../src/contract/store.js';
import { CannotStageError, StoreError, StorePermissionError } from '../../../src/contract/store-errors.js';
import { filesOf, type Place, placeOf, refProblem } from '../dotenv/files.js';
import { type DotenvDocument, lastEntry } from '../dotenv/format.js';
import { type DotenvHooks, type DotenvOptions, openEnvFileStore, type ValueCodec } from '../dotenv/index.js';
import { type DecryptFailure, decryptValue, encryptValue, isEncrypted, isPublicKey, publicKeyOf, samePublicKey } from './crypto.js';
import { conventionalKeyNames, findPrivateKeys, isKeyVariable, type KeyNames, keyNamesOf, keysFilesOf, publicKeyOf as declaredPublicKey } from './keys.js';

/** Options of a dotenvx store entry. */
export interface DotenvxOptions extends DotenvOptions {
  /** The keys file, absolute or relative to rekey.yaml; default `.env.keys` beside the .env. */
  readonly keysFile?: string | undefined;
}

const ENCRYPT_HINT = (place: Place) => `encrypt it with dotenvx first: npx dotenvx encrypt -f ${place.file} -k ${place.variable}`;

/** Open a dotenvx store. `hooks` are the dotenv store's test hooks; configuration cannot reach them. */
export function openDotenvxStore(options: DotenvxOptions, context: StoreContext, hooks: DotenvHooks = {}): SecretStore {
  const keysFiles = (place: Place, doc: DotenvDocument, names: KeyNames): string[] =>
    keysFilesOf(place, options.keysFile === undefined ? undefined : resolve(context.baseDir, options.keysFile), doc, names);
  const lookup = (place: Place, doc: DotenvDocument, names: KeyNames) => findPrivateKeys(names, context.env, keysFiles(place, doc, names));

  /** The file's public key, checked; a StoreError naming the file and the key's name when it is missing or invalid. */
  const publicKey = async (operation: string, place: Place, doc: DotenvDocument): Promise<{ hex: string; names: KeyNames }> => {
    const names = keyNamesOf(place.file, doc);
    const declared = declaredPublicKey(doc, names);
    if (declared.hex === undefined) {
      throw new StoreError(
        'invalid',
        operation,
        place.display,
        declared.line === undefined
          ? `${place.file} has no ${names.publicKeyName}: rekey encrypts new values to the public key the file carries`
          : `${names.publicKeyName} on line ${declared.line} of ${place.file} is empty or malformed`,
        { hint: `add a key pair with dotenvx: npx dotenvx encrypt -f ${place.file}` },
      );
    }
    if (!(await isPublicKey(declared.hex))) {
      throw new StoreError(
        'invalid',
        operation,
        place.display,
        `${names.publicKeyName} on line ${declared.line} of ${place.file} is not a secp256k1 public key`,
        {
          hint: 'restore the line dotenvx wrote (a quoted 66-digit hex key starting 02 or 03)',
        },
      );
    }
    return { hex: declared.hex, names };
  };

  /** The variable (and, with keepPrevious, NAME_PREVIOUS) must already be encrypted: rekey never copies a plaintext. */
  const refuseClear = (operation: string, place: Place, doc: DotenvDocument): void => {
    // The config loader refuses these refs already (validateRef); the store holds the same rule for a ref made in code.
    const problem = dotenvxRefProblem({ kind: 'dotenvx', path: place.file, field: place.variable, display: place.display });
    if (problem !== undefined) throw new StoreError('invalid', operation, place.display, problem);
    for (const name of options.keepPrevious === true ? [place.variable, place.previousVariable] : [place.variable]) {
      const entry = lastEntry(doc, name);
      if (entry === undefined || entry.malformed || isEncrypted(entry.value)) continue;
      throw new StoreError(
        'invalid',
        operation,
        place.display,
        `${name} on line ${entry.line} of ${place.file} is not encrypted; rekey keeps only ciphertexts on disk`,
        { hint: ENCRYPT_HINT({ ...place, variable: name }) },
      );
    }
  };

  const missingKey = (operation: string, place: Place, names: KeyNames, looked: readonly string[]): StoreError =>
    new StorePermissionError(
      operation,
      place.display,
      `no private key ${names.privateKeyName} to decrypt ${place.variable} of ${place.file} (looked at ${looked.join('; ')})`,
      `set ${names.privateKeyName} in rekey's environment, or keep the .env.keys that dotenvx encrypt wrote beside the file (or name it with keysFile:)`,
    );

  /** What a stage needs beyond the plain store: a public key, an encrypted value, and a private key to read it back. */
  const stageable = async (operation: string, place: Place, doc: DotenvDocument): Promise<void> => {
    const { hex, names } = await publicKey(operation, place, doc);
    refuseClear(operation, place, doc);
    // A private key that opens the current value but not what rekey would write (the file's public key is another
    // pair's) would fail only at verify, after the mint: find out now.
    const { candidates, looked } = await lookup(place, doc, names);
    if (candidates.length === 0) throw missingKey(operation, place, names, looked);
    for (const candidate of candidates) {
      const derived = await publicKeyOf(candidate.key);
      if (derived !== undefined && (await samePublicKey(derived, hex))) return;
    }
    throw new StorePermissionError(
      operation,
      place.display,
      `no private key on offer (${[...new Set(candidates.map((c) => c.source))].join(', ')}) belongs to the ${names.publicKeyName} in ${place.file}: ` +
        'rekey could not read back what it writes',
      `give rekey the ${names.privateKeyName} that belongs to the ${names.publicKeyName} in ${place.file}`,
    );
  };

  const codec: ValueCodec = {
    async decode(operation, place, stored, loadDoc) {
      // dotenvx reads a value without the prefix as it is (decryptKeyValue.js); stage refuses to write over one.
      if (!isEncrypted(stored)) return stored;
      const doc = await loadDoc();
      const names = keyNamesOf(place.file, doc);
      const { candidates, looked } = await lookup(place, doc, names);
      if (candidates.length === 0) throw missingKey(operation, place, names, looked);
      const failures = new Map<DecryptFailure, Set<string>>();
      for (const candidate of candidates) {
        const result = await decryptValue(candidate.key, stored);
        if ('value' in result) return result.value;
        failures.set(result.failure, (failures.get(result.failure) ?? new Set()).add(candidate.source));
      }
      if (failures.has('malformed')) {
        throw new StoreError(
          'invalid',
          operation,
          place.display,
          `the value of ${place.variable} in ${place.file} (or its rekey sibling file) is not a dotenvx ciphertext`,
          {
            hint: `restore the value from dotenvx (npx dotenvx set ${place.variable} <value> -f ${place.file}) or from the last backup`,
          },
        );
      }
      const wrong = [...(failures.get('wrong-key') ?? [])];
      const invalid = [...(failures.get('invalid-key') ?? [])];
      throw new StorePermissionError(
        operation,
        place.display,
        [
          wrong.length > 0 ? `the private key from ${wrong.join(' and ')} does not decrypt ${place.variable} of ${place.file}` : undefined,
          invalid.length > 0 ? `${invalid.join(' and ')} is not a secp256k1 private key (64 hex digits)` : undefined,
        ]
          .filter((part) => part !== undefined)
          .join('; '),
        `give rekey the ${names.privateKeyName} that belongs to the ${names.publicKeyName} in ${place.file}`,
      );
    },

    async encode(operation, place, value, doc) {
      const { hex } = await publicKey(operation, place, doc);
      refuseClear(operation, place, doc);
      return encryptValue(hex, value);
    },

    async preflight(operation, place, doc) {
      try {
        await stageable(operation, place, doc);
      } catch (error) {
        // A file this store cannot write as configured (no public key, a value in the clear) is an unusable secret:
        // the refusal names it and the fix, before anything is minted.
        if (!(error instanceof StoreError) || error.code !== 'invalid') throw error;
        throw new CannotStageError('unusable', place.display, detailOf(error), error.hint ?? ENCRYPT_HINT(place), { cause: error });
      }
    },

    async styleOf(operation, place, stored, old, doc) {
      // dotenvx expands `$NAME`, `${NAME}` and runs `$(command)` in a decrypted value, except where the token is in
      // single quotes (tried with dotenvx 2.38.2; README "Variable Expansion", "Command Substitution"): a value with a
      // `$` is written single-quoted, so that the app gets the value rekey minted. A ciphertext fits any other style.
      // Should the key have gone missing since stage, single quotes are right for any value: the promote goes on.
      const value = await codec.decode(operation, place, stored, async () => doc).catch(() => '$');
      return value.includes('$') ? 'single' : old;
    },

    async notes(place, doc) {
      const notes: string[] = [];
      const names = keyNamesOf(place.file, doc);
      const { candidates } = await lookup(place, doc, names);
      const entry = lastEntry(doc, place.variable);
      // With no key and an encrypted value, the read's own note already says where rekey looked.
      const readSaidIt = candidates.length === 0 && entry !== undefined && isEncrypted(entry.value);
      if (!readSaidIt) {
        try {
          await stageable('check', place, doc);
        } catch (error) {
          if (!(error instanceof StoreError)) throw error;
          notes.push(error.hint === undefined ? error.message : `${error.message} (${error.hint})`);
        }
      }
      if (candidates.length > 0) notes.push(`private key ${names.privateKeyName} from ${[...new Set(candidates.map((c) => c.source))].join(', ')}`);
      for (const path of keysFiles(place, doc, names)) {
        const keys = await stat(path).catch(() => undefined);
        if (keys !== undefined && (keys.mode & 0o077) !== 0) {
          notes.push(`${path} has mode 0${(keys.mode & 0o777).toString(8)}, wider than 0600: other users can read the private keys; consider chmod 600`);
        }
      }
      return notes;
    },
  };

  // No `describe`: a .env keeps no date, so describe could only give the version, which means decrypting; `rekey
  // status` (which asks stores for dates) would then load eciesjs and need the private key to learn nothing.
  const { describe: _noDate, ...store } = openEnvFileStore('dotenvx', codec, options, context, hooks);
  return {
    ...store,
    files(ref: StoreRef) {
      // Rekey's own files only: the encrypted .env is searched like any other file (see the header).
      const place = placeOf(ref, 'files', context);
      return filesOf(place).filter((path) => path !== place.file && !isEnvItself(path, place));
    },
  };
}

/** Whether `path` is the file a (symlinked) .env resolves to. */
function isEnvItself(path: string, place: Place): boolean {
  try {
    return path === realpathSync(place.file);
  } catch {
    return false;
  }
}

/** An error's detail, without its `operation ref: ` prefix. */
function detailOf(error: StoreError): string {
  const prefix = `${error.operation} ${error.ref}: `;
  return error.message.startsWith(prefix) ? error.message.slice(prefix.length) : error.message;
}

/** The dotenv rule, and dotenvx's own key variables, which are the pair this store uses, never a credential it rotates. */
function dotenvxRefProblem(ref: StoreRef): string | undefined {
  const problem = refProblem(ref);
  if (problem !== undefined) return problem;
  if (isKeyVariable(ref.field!)) return `${ref.field} is dotenvx's own key variable, not a credential this store rotates`;
  return undefined;
}

export default {
  kind: 'dotenvx',
  summary: 'one variable of a dotenvx-encrypted .env file (ECIES secp256k1), rewritten atomically with every other byte kept',
  options: {
    keysFile: {
      type: 'string',
      description: 'the .env.keys file holding the private key, relative to rekey.yaml; the environment variable DOTENV_PRIVATE_KEY… is tried first',
      default: '.env.keys beside the .env',
    },
    keepPrevious: {
      type: 'boolean',
      description: 'keep the old value, still encrypted, as NAME_PREVIOUS in the file during the overlap, until retire',
      default: false,
    },
  },
  validateRef: dotenvxRefProblem,
  // The private key's name follows the file (`.env.production`: DOTENV_PRIVATE_KEY_PRODUCTION), as dotenvx names it
  // when it encrypts; a file that declares another DOTENV_PUBLIC_KEY… name is read at run time, not here, since the
  // schedule is written from the config alone. A scheduled job has no .env.keys unless it is given one, so the
  // variable is what the scheduler must provide; with keysFile: the file holds it.
  environment(options, ref) {
    const { privateKeyName } = conventionalKeyNames(ref.path);
    return [
      {
        name: privateKeyName,
        kind: 'secret' as const,
        description: `the dotenvx private key of ${basename(ref.path)}`,
        ...(typeof options['keysFile'] === 'string' ? { optional: true } : {}),
      },
    ];
  },
  open(options, context) {
    const keysFile = options['keysFile'];
    return openDotenvxStore({ keepPrevious: options['keepPrevious'] === true, keysFile: typeof keysFile === 'string' ? keysFile : undefined }, context);
  },
} satisfies SecretStoreAdapter;
