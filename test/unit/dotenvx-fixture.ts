/**
 * Fixtures of the dotenvx store's tests: key pairs and ciphertexts made with eciesjs directly (the library dotenvx
 * uses), never with the adapter under test, and a search of a folder for a plaintext as the disk would show it.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { encrypt, PrivateKey } from 'eciesjs';

/** A fresh secp256k1 key pair, hex: the public key compressed, as dotenvx writes it. */
export function keyPair(): { publicKey: string; privateKey: string } {
  const key = new PrivateKey();
  return { publicKey: key.publicKey.toHex(true), privateKey: key.toHex() };
}

/** `encrypted:<base64>`, as `dotenvx encrypt` spells a value. */
export function seal(publicKey: string, value: string): string {
  return `encrypted:${Buffer.from(encrypt(publicKey, Buffer.from(value, 'utf8'))).toString('base64')}`;
}

/**
 * The files under `dir` (recursively) that hold `value` as text, in base64 (at each of the three byte alignments,
 * as a base64 blob of a longer text would carry it) or in hex: a plaintext on disk, in any spelling a reader decodes.
 */
export function filesHolding(dir: string, value: string): string[] {
  const bytes = Buffer.from(value, 'utf8');
  const spellings = [value, bytes.toString('hex')];
  for (const pad of [0, 1, 2]) {
    // Base64 of the value behind `pad` bytes of something else: drop the characters the padding bytes touch.
    const encoded = Buffer.concat([Buffer.alloc(pad), bytes]).toString('base64');
    const start = pad === 0 ? 0 : pad === 1 ? 2 : 3;
    spellings.push(encoded.slice(start, encoded.length - 4));
  }
  const found: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    const text = readFileSync(path, 'latin1');
    if (spellings.some((s) => s.length >= 8 && text.includes(s))) found.push(path);
  }
  return found.sort();
}
