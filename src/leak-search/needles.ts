/**
 * What the leak search looks for: the value, its base64 spellings and its hex spellings, as bytes, and where they
 * occur in a buffer. Needles stay in this process (I3): nothing here hands them to a child.
 */
import type { LeakEncoding } from '../contract/leaks.js';

export interface Needle {
  readonly bytes: Buffer;
  readonly text: string;
  readonly encoding: 'raw' | LeakEncoding;
}

/** Where something was found in one buffer (a file, a blob): 1-based lines, how it was spelled, which value. */
export interface Hit {
  readonly lines: number[];
  readonly encoding?: LeakEncoding;
  /** `rekey scan`: the fingerprint of the value found. */
  readonly fingerprint?: string;
}

/** What the tree and history scans ask of each buffer: the value (or, for `rekey scan`, any known value) in it? */
export type Matcher = (buffer: Buffer) => Hit | undefined;

/** The value, its base64 spellings at each byte alignment (only those long enough not to match by chance), its hex. */
export function needlesFor(value: string): Needle[] {
  const raw = Buffer.from(value, 'utf8');
  const needles: Needle[] = [{ bytes: raw, text: value, encoding: 'raw' }];
  const add = (text: string, encoding: LeakEncoding) => {
    if (text.length >= 16 && !needles.some((n) => n.text === text)) needles.push({ bytes: Buffer.from(text, 'latin1'), text, encoding });
  };
  for (let k = 0; k < 3; k++) {
    const encoded = Buffer.concat([Buffer.alloc(k), raw]).toString('base64');
    // Drop the first group when it mixes in bytes before the value, and the last one when it is padded (the bytes
    // after the value would change it): what is left is the same wherever the value sits at this alignment.
    const start = k === 0 ? 0 : 4;
    const end = (k + raw.length) % 3 === 0 ? encoded.length : encoded.length - 4;
    add(encoded.slice(start, Math.max(start, end)), 'base64');
  }
  // Hex has no alignment (two digits a byte): `xxd -p`, a debugger's dump, a hex-encoded config blob.
  const hex = raw.toString('hex');
  add(hex, 'hex');
  add(hex.toUpperCase(), 'hex');
  return needles;
}

/** The matcher of the leak search: the needles of one value. */
export function valueMatcher(needles: readonly Needle[]): Matcher {
  return (buffer) => findIn(buffer, needles);
}

/**
 * A buffer with its line breaks taken out (LF or CRLF, and the indentation after them), as base64 wrapped at 76
 * columns (MIME) or 64 (PEM), or indented in a YAML block, reads once joined; and the line each byte came from.
 */
export interface Unwrapped {
  readonly joined: Buffer;
  /** 1-based line of an offset of `joined`. */
  lineOf(offset: number): number;
}

export function unwrap(buffer: Buffer): Unwrapped {
  const parts: Buffer[] = [];
  // starts[i]: the offset in `joined` where line i + 1 begins.
  const starts: number[] = [];
  let length = 0;
  for (let from = 0; from <= buffer.length; ) {
    const nl = buffer.indexOf(10, from);
    let start = from;
    let end = nl === -1 ? buffer.length : nl;
    if (end > start && buffer[end - 1] === 13) end--;
    if (starts.length > 0) while (start < end && (buffer[start] === 32 || buffer[start] === 9)) start++;
    starts.push(length);
    parts.push(buffer.subarray(start, end));
    length += end - start;
    if (nl === -1) break;
    from = nl + 1;
  }
  const joined = Buffer.concat(parts, length);
  return {
    joined,
    lineOf(offset) {
      // The last line that starts at or before the offset (binary search: a dump has many lines).
      let lo = 0;
      let hi = starts.length - 1;
      while (lo < hi) {
        const mid = (lo + hi + 1) >> 1;
        if (starts[mid]! <= offset) lo = mid;
        else hi = mid - 1;
      }
      return lo + 1;
    },
  };
}

/** 1-based lines of sorted offsets in a buffer, at most 5. */
export function linesOf(buffer: Buffer, offsets: readonly number[]): number[] {
  const lines: number[] = [];
  let line = 1;
  let from = 0;
  for (const index of offsets) {
    for (let nl = buffer.indexOf(10, from); nl !== -1 && nl < index; nl = buffer.indexOf(10, from)) {
      line++;
      from = nl + 1;
    }
    if (lines.at(-1) !== line) lines.push(line);
    if (lines.length === 5) break;
  }
  return lines;
}

/**
 * Where the needles occur in a buffer: 1-based lines (at most 5), and how the value was spelled when never as itself
 * (base64 or hex). Base64 wrapped over several lines is looked for only where no spelling was found on one line.
 */
export function findIn(buffer: Buffer, needles: readonly Needle[]): Hit | undefined {
  const hits: Array<{ index: number; encoding: Needle['encoding'] }> = [];
  for (const needle of needles) {
    for (let i = buffer.indexOf(needle.bytes); i !== -1 && hits.length < 100; i = buffer.indexOf(needle.bytes, i + 1))
      hits.push({ index: i, encoding: needle.encoding });
  }
  if (hits.length === 0) return wrappedIn(buffer, needles);
  hits.sort((a, b) => a.index - b.index);
  const lines = linesOf(
    buffer,
    hits.map((h) => h.index),
  );
  if (hits.some((h) => h.encoding === 'raw')) return { lines };
  return { lines, encoding: hits[0]!.encoding as LeakEncoding };
}

/**
 * Encoded spellings in the buffer once its line breaks are taken out (base64 as MIME and PEM wrap it, hex as
 * `xxd -p` wraps it at 60 columns): the lines where each begins.
 */
function wrappedIn(buffer: Buffer, needles: readonly Needle[]): Hit | undefined {
  if (buffer.indexOf(10) === -1) return undefined;
  const encoded = needles.filter((n) => n.encoding !== 'raw');
  if (encoded.length === 0) return undefined;
  const { joined, lineOf } = unwrap(buffer);
  const lines = new Set<number>();
  let encoding: LeakEncoding | undefined;
  for (const needle of encoded)
    for (let i = joined.indexOf(needle.bytes); i !== -1 && lines.size < 5; i = joined.indexOf(needle.bytes, i + 1)) {
      lines.add(lineOf(i));
      encoding ??= needle.encoding as LeakEncoding;
    }
  return encoding === undefined ? undefined : { lines: [...lines].sort((a, b) => a - b), encoding };
}
