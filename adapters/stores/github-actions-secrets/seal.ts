/**
 * Sealing a value for GitHub: a libsodium sealed box (`crypto_box_seal`) to the Curve25519 public key GitHub gives
 * for the repository, environment or organisation, sent base64-encoded. This is the one encryption GitHub accepts, as
 * "Encrypting secrets for the REST API" shows for Node.js with libsodium-wrappers:
 * https://docs.github.com/en/rest/guides/encrypting-secrets-for-the-rest-api
 *
 * libsodium-wrappers is loaded on first use (it is a WebAssembly module, and most runs never seal anything).
 */

/** The libsodium functions this adapter needs, loaded once. */
async function sodium() {
  const { default: lib } = await import('libsodium-wrappers');
  await lib.ready;
  return lib;
}

/** The length of a Curve25519 public key, in bytes (crypto_box_PUBLICKEYBYTES). */
const PUBLIC_KEY_BYTES = 32;

/** Seal `value` to the base64 public key `publicKey`; the result is base64 (libsodium's ORIGINAL variant, with padding). */
export async function seal(value: string, publicKey: string): Promise<string> {
  const lib = await sodium();
  let key: Uint8Array;
  try {
    key = lib.from_base64(publicKey, lib.base64_variants.ORIGINAL);
  } catch {
    throw new Error('the public key GitHub returned is not base64');
  }
  if (key.length !== PUBLIC_KEY_BYTES) throw new Error(`the public key GitHub returned is ${key.length} bytes, not ${PUBLIC_KEY_BYTES}`);
  return lib.to_base64(lib.crypto_box_seal(lib.from_string(value), key), lib.base64_variants.ORIGINAL);
}
