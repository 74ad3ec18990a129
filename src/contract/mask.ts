import { createHash } from 'node:crypto';

/** Length of the hex fingerprint: 16 hex digits (64 bits) of SHA-256 tell keys apart without revealing them. */
const FINGERPRINT_HEX = 16;

/** The truncated SHA-256 of a value, as hex: safe to print, journal and compare. */
export function fingerprint(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('hex').slice(0, FINGERPRINT_HEX);
}

/** The `…a4b2` mask of a value: its last four characters, or a bare `…` for values too short to spare them. */
export function mask(value: string): string {
  // A JSON document (an AWS access key pair, a service account) ends in `"}`: mask what identifies it instead.
  if (value.startsWith('{')) {
    const masked = documentMask(value);
    if (masked !== undefined) return masked;
  }
  // A value shorter than 16 characters would give away a quarter or more of itself.
  return value.length >= 16 ? `…${value.slice(-4)}` : '…';
}

/**
 * The mask of a JSON object: an AWS access key document (`{"AccessKeyId":…,"SecretAccessKey":…}`) by its access key id,
 * which is an identifier, not a secret (IAM lists it; the console shows it), first and last four characters as the
 * console's key list does; any other object by the last four characters of its longest string field. Undefined for
 * text that is not a JSON object.
 */
function documentMask(value: string): string | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(value);
  } catch {
    return undefined;
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return undefined;
  const fields = doc as Record<string, unknown>;
  const id = fields['AccessKeyId'];
  if (typeof id === 'string' && id.length > 8) return `${id.slice(0, 4)}…${id.slice(-4)}`;
  const longest = Object.values(fields)
    .filter((v): v is string => typeof v === 'string')
    .sort((a, b) => b.length - a.length)[0];
  return longest !== undefined && longest.length >= 16 ? `{…${longest.slice(-4)}}` : undefined;
}
