import { createHash } from 'node:crypto';

/** Length of the hex fingerprint: 16 hex digits (64 bits) of SHA-256 tell keys apart without revealing them. */
const FINGERPRINT_HEX = 16;

/** The truncated SHA-256 of a value, as hex: safe to print, journal and compare. */
export function fingerprint(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('hex').slice(0, FINGERPRINT_HEX);
}

/** The `…a4b2` mask of a value: its last four characters, or a bare `…` for values too short to spare them. */
export function mask(value: string): string {
  // A value shorter than 16 characters would give away a quarter or more of itself.
  return value.length >= 16 ? `…${value.slice(-4)}` : '…';
}
