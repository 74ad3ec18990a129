/**
 * The `.env` format: parse a file into entries with byte offsets, and edit one token without touching anything else.
 *
 * The file is handled as bytes (latin1 text, one character per byte), so comments, blank lines, order, `export `,
 * spacing, quoting, CRLF, a byte order mark and a missing final newline all survive: only the value's token changes.
 */
/** How a value is written: bare, in single quotes, in double quotes (with escapes), or in backticks. */
export type QuoteStyle = 'none' | 'single' | 'double' | 'backtick';

/** One `KEY=value` assignment, with offsets into the document's latin1 text. */
export interface DotenvEntry {
  readonly key: string;
  /** The decoded value (UTF-8). */
  readonly value: string;
  readonly style: QuoteStyle;
  /** Set when the quoting is broken (no closing quote, or text after it): the line is kept but not read. */
  readonly malformed: boolean;
  /** 1-based line number of the assignment, for messages. */
  readonly line: number;
  readonly lineStart: number;
  readonly keyStart: number;
  readonly keyEnd: number;
  /** The value's token, quotes included: the only bytes an edit of this entry replaces. */
  readonly valueStart: number;
  readonly valueEnd: number;
  /** End of the last line of the entry, before its line ending. */
  readonly lineEnd: number;
  /** After the line ending (equal to lineEnd on a last line without one). */
  readonly next: number;
}

/** A parsed .env: its bytes as latin1 text (one character per byte) and its assignments in file order. */
export interface DotenvDocument {
  readonly text: string;
  readonly entries: readonly DotenvEntry[];
  /** The file's dominant line ending, for lines rekey adds. */
  readonly eol: '\n' | '\r\n';
}

const BOM = '\xEF\xBB\xBF';
const ASSIGNMENT = /[ \t]*(?<export>export[ \t]+)?(?<key>[\w.-]+)[ \t]*=[ \t]*/dy;
const AFTER_QUOTE = /^[ \t]*(#.*)?$/;

/** Parse a .env file's bytes. Lines that are not assignments (comments, blanks, anything else) are simply kept. */
export function parseDotenv(bytes: Uint8Array): DotenvDocument {
  // A view, not a copy, of the bytes (Buffer.from(buffer) copies them).
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
  const entries: DotenvEntry[] = [];
  let pos = text.startsWith(BOM) ? BOM.length : 0;
  let line = 1;
  while (pos < text.length) {
    const first = lineBounds(text, pos);
    ASSIGNMENT.lastIndex = pos;
    const match = ASSIGNMENT.exec(text);
    if (match === null || match.index !== pos || match.indices?.groups?.['key'] === undefined) {
      pos = first.next;
      line += 1;
      continue;
    }
    const [keyStart, keyEnd] = match.indices.groups['key'];
    const valueStart = ASSIGNMENT.lastIndex;
    const entry = readValue(text, valueStart, first);
    entries.push({ key: text.slice(keyStart, keyEnd), line, lineStart: pos, keyStart, keyEnd, valueStart, ...entry });
    line += countNewlines(text, pos, entry.next);
    pos = entry.next;
  }
  return { text, entries, eol: dominantEol(text) };
}

type ValuePart = Pick<DotenvEntry, 'value' | 'style' | 'malformed' | 'valueEnd' | 'lineEnd' | 'next'>;

function readValue(text: string, start: number, first: { end: number; next: number }): ValuePart {
  const quote = text[start];
  if (quote === '"' || quote === "'" || quote === '`') {
    const close = quote === '"' ? closingDoubleQuote(text, start + 1) : text.indexOf(quote, start + 1);
    if (close !== -1) {
      const last = lineBounds(text, close);
      if (AFTER_QUOTE.test(text.slice(close + 1, last.end))) {
        const inner = text.slice(start + 1, close);
        const style: QuoteStyle = quote === '"' ? 'double' : quote === "'" ? 'single' : 'backtick';
        return {
          value: fromLatin1(style === 'double' ? unescapeDouble(inner) : inner),
          style,
          malformed: false,
          valueEnd: close + 1,
          lineEnd: last.end,
          next: last.next,
        };
      }
    }
    // Readers disagree about an unclosed quote or text after the closing one; keep the line, refuse to guess.
    return { value: '', style: 'none', malformed: true, valueEnd: first.end, lineEnd: first.end, next: first.next };
  }
  // Unquoted: a `#` starts a comment only after a space or tab (as docker compose and python-dotenv read it), so
  // `https://host/#frag` keeps its fragment; trailing blanks are not part of the value.
  let end = first.end;
  for (let i = start; i < first.end; i += 1) {
    if (text[i] === '#' && (text[i - 1] === ' ' || text[i - 1] === '\t')) {
      end = i;
      break;
    }
  }
  while (end > start && (text[end - 1] === ' ' || text[end - 1] === '\t')) end -= 1;
  return { value: fromLatin1(text.slice(start, end)), style: 'none', malformed: false, valueEnd: end, lineEnd: first.end, next: first.next };
}

function closingDoubleQuote(text: string, from: number): number {
  for (let i = from; i < text.length; i += 1) {
    if (text[i] === '\\') i += 1;
    else if (text[i] === '"') return i;
  }
  return -1;
}

// Node's dotenv expands \n and \r only, python-dotenv and compose also \t, \" and \\; a value rekey reads must mean
// the same to all of them, so these five are decoded and any other backslash is kept as written.
const DOUBLE_ESCAPES: Readonly<Record<string, string>> = { n: '\n', r: '\r', t: '\t', '"': '"', '\\': '\\' };

function unescapeDouble(inner: string): string {
  return inner.replace(/\\(.)/gs, (whole, char: string) => DOUBLE_ESCAPES[char] ?? whole);
}

function lineBounds(text: string, from: number): { end: number; next: number } {
  const newline = text.indexOf('\n', from);
  if (newline === -1) return { end: text.length, next: text.length };
  return { end: newline > from && text[newline - 1] === '\r' ? newline - 1 : newline, next: newline + 1 };
}

function countNewlines(text: string, from: number, to: number): number {
  let count = 0;
  for (let i = text.indexOf('\n', from); i !== -1 && i < to; i = text.indexOf('\n', i + 1)) count += 1;
  return count;
}

function dominantEol(text: string): '\n' | '\r\n' {
  const all = countNewlines(text, 0, text.length);
  const crlf = text.split('\r\n').length - 1;
  return crlf > all - crlf ? '\r\n' : '\n';
}

const toLatin1 = (value: string): string => Buffer.from(value, 'utf8').toString('latin1');
const fromLatin1 = (text: string): string => Buffer.from(text, 'latin1').toString('utf8');

/** The entry that counts for a key: dotenv readers let the last assignment win. */
export function lastEntry(doc: DotenvDocument, key: string): DotenvEntry | undefined {
  for (let i = doc.entries.length - 1; i >= 0; i -= 1) if (doc.entries[i]!.key === key) return doc.entries[i];
  return undefined;
}

// A bare value must mean the same to node's dotenv, python-dotenv, docker compose and `set -a; . ./.env`: no blanks,
// quotes, `#`, `$`, backslashes, backticks, globs, `~` or shell operators. Generated tokens (hex, base64, base64url,
// `sk_live_…`, JWTs) fit.
const SAFE_BARE = /^[A-Za-z0-9_./+=:@,%-]*$/;

/** Whether `value` can be written in `style` and read back as the same string by every common dotenv reader. */
export function fitsStyle(style: QuoteStyle, value: string): boolean {
  switch (style) {
    case 'none':
      return SAFE_BARE.test(value);
    case 'single':
      // Single quotes are literal everywhere, except that python-dotenv decodes \\ and \' inside them.
      return !/['\\\r\n]/.test(value);
    case 'double':
      // Newlines travel as \n; a quote or backslash would need an escape node's dotenv does not decode, and `$`
      // or a backtick would be expanded by compose, dotenv-expand and shells.
      return !/["\\$`]/.test(value);
    case 'backtick':
      return !/[`\\\r\n]/.test(value);
  }
}

/**
 * The style to write `value` in: the old style when the value fits it, so the line keeps its look; otherwise single
 * quotes, the one style no reader expands; otherwise double quotes with newlines as \n. A value that fits none (it
 * holds both a quote or backslash and something single quotes cannot carry) gets fully escaped double quotes, which
 * python-dotenv, compose and rekey read back exactly; the choice is made at promote so the value is never refused
 * after it was minted.
 */
export function chooseStyle(old: QuoteStyle, value: string): QuoteStyle {
  if (fitsStyle(old, value)) return old;
  if (fitsStyle('single', value)) return 'single';
  return 'double';
}

/** The token (latin1 text, quotes included) that writes `value` in `style`. */
export function encodeValue(style: QuoteStyle, value: string): string {
  switch (style) {
    case 'none':
      return toLatin1(value);
    case 'single':
      return toLatin1(`'${value}'`);
    case 'backtick':
      return toLatin1(`\`${value}\``);
    case 'double':
      return toLatin1(`"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n').replace(/\r/g, '\\r')}"`);
  }
}

/** The document's text with `entry`'s token replaced by `token`; every other byte is kept. */
export function replaceToken(doc: DotenvDocument, entry: DotenvEntry, token: string): string {
  // `KEY= # note` has an empty bare value right before the comment; a value put there needs a blank before `#`,
  // or the comment would become part of it.
  const gap = entry.valueStart === entry.valueEnd && doc.text[entry.valueEnd] === '#' ? ' ' : '';
  return doc.text.slice(0, entry.valueStart) + token + gap + doc.text.slice(entry.valueEnd);
}

/** The document's text with `entry` set to `value`, in its old quoting style when the value fits it. */
export function setValue(doc: DotenvDocument, entry: DotenvEntry, value: string): string {
  return replaceToken(doc, entry, encodeValue(chooseStyle(entry.style, value), value));
}

/** The document's text with a `key=token` line added right after `after`, shaped like it (indent, `export `, `=`). */
export function insertAfter(doc: DotenvDocument, after: DotenvEntry, key: string, token: string): string {
  const prefix = doc.text.slice(after.lineStart, after.keyStart);
  const separator = doc.text.slice(after.keyEnd, after.valueStart);
  const eol = after.next > after.lineEnd ? doc.text.slice(after.lineEnd, after.next) : doc.eol;
  // Inserted before the line ending of `after`, so a file without a final newline still ends without one.
  return doc.text.slice(0, after.lineEnd) + eol + prefix + key + separator + token + doc.text.slice(after.lineEnd);
}

/** The document's text without `entry`'s lines. */
export function removeEntry(doc: DotenvDocument, entry: DotenvEntry): string {
  if (entry.next > entry.lineEnd || doc.text[entry.lineStart - 1] !== '\n') return doc.text.slice(0, entry.lineStart) + doc.text.slice(entry.next);
  // The last line has no line ending: drop the one before it instead, so the file still ends without one.
  const before = doc.text.slice(entry.lineStart - 2, entry.lineStart) === '\r\n' ? 2 : 1;
  return doc.text.slice(0, entry.lineStart - before) + doc.text.slice(entry.next);
}
