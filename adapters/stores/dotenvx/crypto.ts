/**
 * dotenvx's value encryption: `encrypted:` followed by the base64 of an ECIES message over secp256k1, made with
 * eciesjs, the library dotenvx itself uses (@dotenvx/dotenvx 1.x src/lib/helpers/encryptValue.js: `encrypt(publicKey,
 * Buffer.from(value))`, base64, the `encrypted:` prefix; 2.x bundles the same scheme in @dotenvx/primitives).
 * eciesjs's defaults are dotenvx's: an uncompressed 65-byte ephemeral key, HKDF-SHA256, AES-256-GCM with a 16-byte
 * nonce and tag (https://github.com/ecies/js#configuration). Nothing here is hand-made cryptography: this file only
 * spells values and sorts eciesjs's failures, and loads eciesjs on first use so that start-up never pays for it.
 */

/** The prefix of an encrypted value (dotenvx src/lib/helpers/cryptography/decryptKeyValue.js). */
export const ENCRYPTED_PREFIX = 'encrypted:';

/** ephemeral public key (65) + nonce (16) + tag (16): a shorter message cannot be one eciesjs wrote. */
const MIN_MESSAGE_BYTES = 65 + 16 + 16;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const HEX_PRIVATE_KEY = /^[0-9a-fA-F]{64}$/;
const HEX_PUBLIC_KEY = /^(02|03)[0-9a-fA-F]{64}$|^04[0-9a-fA-F]{128}$/;

type Ecies = typeof import('eciesjs');
let ecies: Promise<Ecies> | undefined;
/** eciesjs, imported once, on the first value encrypted or decrypted. */
function loadEcies(): Promise<Ecies> {
  ecies ??= import('eciesjs').catch((error: unknown) => {
    ecies = undefined;
    throw error;
  });
  return ecies;
}

/** Whether a stored value is encrypted (dotenvx reads any other value as it is). */
export function isEncrypted(stored: string): boolean {
  return stored.startsWith(ENCRYPTED_PREFIX);
}

/** Whether `hex` is a secp256k1 public key eciesjs accepts (compressed, as dotenvx writes it, or uncompressed). */
export async function isPublicKey(hex: string): Promise<boolean> {
  if (!HEX_PUBLIC_KEY.test(hex)) return false;
  const { PublicKey } = await loadEcies();
  try {
    PublicKey.fromHex(hex);
    return true;
  } catch {
    return false;
  }
}

/** The compressed public key (hex) of a private key, or undefined when it is not a valid secp256k1 private key. */
export async function publicKeyOf(privateKeyHex: string): Promise<string | undefined> {
  if (!HEX_PRIVATE_KEY.test(privateKeyHex)) return undefined;
  const { PrivateKey } = await loadEcies();
  try {
    return new PrivateKey(Buffer.from(privateKeyHex, 'hex')).publicKey.toHex(true);
  } catch {
    return undefined;
  }
}

/** Two spellings of one public key (compressed or not, any case) name the same key. */
export async function samePublicKey(a: string, b: string): Promise<boolean> {
  const { PublicKey } = await loadEcies();
  try {
    return PublicKey.fromHex(a).toHex(true) === PublicKey.fromHex(b).toHex(true);
  } catch {
    return false;
  }
}

/** `encrypted:<base64>` of `value` (UTF-8) for the public key: what `dotenvx set` writes. */
export async function encryptValue(publicKeyHex: string, value: string): Promise<string> {
  const { encrypt } = await loadEcies();
  return `${ENCRYPTED_PREFIX}${Buffer.from(encrypt(publicKeyHex, Buffer.from(value, 'utf8'))).toString('base64')}`;
}

/** Why a value could not be decrypted: the key is not a key, the value is not a ciphertext, or the key is another one. */
export type DecryptFailure = 'invalid-key' | 'malformed' | 'wrong-key';

/** The plaintext of an `encrypted:` value, or why not; never throws with key or value material. */
export async function decryptValue(privateKeyHex: string, stored: string): Promise<{ value: string } | { failure: DecryptFailure }> {
  if ((await publicKeyOf(privateKeyHex)) === undefined) return { failure: 'invalid-key' };
  const body = stored.slice(ENCRYPTED_PREFIX.length);
  if (!BASE64.test(body)) return { failure: 'malformed' };
  const message = Buffer.from(body, 'base64');
  if (message.length < MIN_MESSAGE_BYTES) return { failure: 'malformed' };
  const { decrypt, PublicKey } = await loadEcies();
  try {
    PublicKey.fromHex(message.subarray(0, 65).toString('hex'));
  } catch {
    // The ephemeral key is not a point of the curve: no key could decrypt this.
    return { failure: 'malformed' };
  }
  try {
    return { value: Buffer.from(decrypt(privateKeyHex, message)).toString('utf8') };
  } catch {
    // AES-GCM refused the tag: this message was made for another public key (or altered, which looks the same).
    return { failure: 'wrong-key' };
  }
}
