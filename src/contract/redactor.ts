import { mask } from './mask.js';

/**
 * The redactor scrubs every secret value known to this process from text before it is printed or written.
 * It is the second line of defence: the first is that values live in `Secret`, which never prints itself.
 *
 * A value rarely leaks verbatim only. A failing `curl -v -u user:key` prints `Authorization: Basic <base64>`, a
 * tool prints a key's bytes in hex, a log line cuts a key short, a URL or a JSON body escapes it. So each value is
 * registered as a set of needles, each with a rule for how far a match extends:
 * - `exact`: the value's URL-encoded (upper- and lower-case escapes, `+` for a space), JSON-escaped and hex spellings;
 * - `prefix` / `suffix`: the value's first or last few characters (see `partLength`), extended over as much more of
 *   the value as follows or precedes them, so that the value itself and any long part of it are one match;
 * - `base64`: the stable middle of the value's base64 and base64url encodings at each of the three byte alignments,
 *   extended to the whole run of base64 characters it sits in (see `base64Middles`).
 * `scrub` and `leaks` share one search (`NeedleIndex.scan`), so `leaks(text)` holds exactly when `scrub(text)` changes it.
 */
export class Redactor {
  #seen = new Set<string>();
  #index = new NeedleIndex();

  /** Remember a value (and the spellings it takes in output) so that `scrub` removes it. */
  add(value: string): void {
    // Very short values would scrub ordinary words; secrets that short are refused by runbook patterns.
    if (value.length < MIN_VALUE) return;
    const replacement = `[redacted ${mask(value)}]`;
    for (const needle of needlesOf(value, replacement)) {
      const key = `${needle.kind}\u0000${needle.text}`;
      if (this.#seen.has(key)) continue;
      this.#seen.add(key);
      this.#index.add(needle);
    }
  }

  /** Text with every known value, in any of its registered spellings, replaced by `[redacted …last4]`. */
  scrub(text: string): string {
    const spans: Span[] = [];
    this.#index.scan(text, (at, needle) => {
      spans.push(extend(text, at, needle));
      return true;
    });
    if (spans.length === 0) return text;
    spans.sort((a, b) => a.start - b.start || b.end - a.end);
    let out = '';
    let at = 0;
    let open: Span | undefined;
    // Overlapping matches (a value inside another, a prefix match beside a suffix match) merge into one replacement.
    for (const span of spans) {
      if (open !== undefined && span.start <= open.end) {
        if (span.end > open.end) open.end = span.end;
        continue;
      }
      if (open !== undefined) {
        out += open.replacement;
        at = open.end;
      }
      out += text.slice(at, span.start);
      open = { ...span };
    }
    out += open!.replacement + text.slice(open!.end);
    return out;
  }

  /** Whether any known value occurs in the text, by the same rules as `scrub`. */
  leaks(text: string): boolean {
    // The same scan as scrub's, stopped at the first match: a needle occurs exactly when scrub() has a span to replace.
    let found = false;
    this.#index.scan(text, () => {
      found = true;
      return false;
    });
    return found;
  }
}

/** Window length of the index: the length of the shortest needle. */
const GRAM = 6;
/** Multiplier of the rolling hash (an odd constant with well-mixed bits). */
const BASE = 0x01000193;
/** The index's bit table has 2^HASH_BITS bits (128 KiB): few false hits even with thousands of needles. */
const HASH_BITS = 20;

/** BASE to the power GRAM - 1 (mod 2^32): what the character leaving the window weighs in the hash. */
const LEAD = Array.from({ length: GRAM - 1 }).reduce<number>((p) => Math.imul(p, BASE), 1);
/** Fibonacci hashing: multiplying by 2^32/φ spreads the low bits, where the last character went, to the top bits. */
const FIBONACCI = 0x9e3779b1;

/** The bit of the index for a window's hash. */
function slotOf(hash: number): number {
  return Math.imul(hash, FIBONACCI) >>> (32 - HASH_BITS);
}

/** The rolling hash of the GRAM characters of `text` from `at`, as a signed 32-bit integer. */
function hashOf(text: string, at: number): number {
  let hash = 0;
  for (let i = at; i < at + GRAM; i++) hash = (Math.imul(hash, BASE) + text.charCodeAt(i)) | 0;
  return hash;
}

/**
 * Every needle, found by the first GRAM characters it starts with. The scrub runs on every line rekey prints or
 * writes, with ten or more values of ten needles each registered, so one `indexOf` per needle costs a hundred
 * searches per line. Instead, one pass over the line computes a rolling hash of each GRAM-character window
 * (Rabin–Karp) and tests one bit; only a window whose bit is set is looked up, and only the needles indexed under
 * exactly that window are compared. A line without a value costs one pass, however many values are known, and adding
 * a value is constant work. (Aho–Corasick libraries on npm build their automaton from the whole list at once and must
 * rebuild it on every add; values are added throughout a run, between lines printed.)
 *
 * Each needle is indexed under one of its windows, the one fewest needles share so far (nearest its middle among
 * equals), not under its first: a fleet's keys share their first characters (`sbx_`, `sk_live_`, `{"Version":1,`, the
 * hex of those), and indexed by them, a thousand needles would sit under one window and be compared one by one
 * wherever a line holds that common text.
 */
class NeedleIndex {
  readonly #bits = new Uint32Array(1 << (HASH_BITS - 5));
  readonly #byGram = new Map<string, Indexed[]>();

  add(needle: Needle): void {
    // Every needle is at least MIN_VALUE (= GRAM) characters long; see needlesOf.
    const middle = (needle.text.length - GRAM) / 2;
    let offset = 0;
    let fewest = Number.POSITIVE_INFINITY;
    for (let at = 0; at + GRAM <= needle.text.length; at++) {
      const shared = this.#byGram.get(needle.text.slice(at, at + GRAM))?.length ?? 0;
      if (shared < fewest || (shared === fewest && Math.abs(at - middle) < Math.abs(offset - middle))) {
        offset = at;
        fewest = shared;
      }
    }
    const gram = needle.text.slice(offset, offset + GRAM);
    const list = this.#byGram.get(gram);
    if (list === undefined) this.#byGram.set(gram, [{ needle, offset }]);
    else list.push({ needle, offset });
    const slot = slotOf(hashOf(gram, 0));
    this.#bits[slot >>> 5]! |= 1 << (slot & 31);
  }

  /** Call `found` for each needle occurrence (by where it starts; not in order of position); stop when it returns false. */
  scan(text: string, found: (at: number, needle: Needle) => boolean): void {
    if (this.#byGram.size === 0 || text.length < GRAM) return;
    // Locals, not fields, in the loop: it runs once per character of every line printed.
    const bits = this.#bits;
    const last = text.length - GRAM;
    let hash = hashOf(text, 0);
    for (let at = 0; ; at++) {
      const slot = Math.imul(hash, FIBONACCI) >>> (32 - HASH_BITS);
      if ((bits[slot >>> 5]! & (1 << (slot & 31))) !== 0) {
        for (const { needle, offset } of this.#byGram.get(text.slice(at, at + GRAM)) ?? []) {
          const start = at - offset;
          if (start >= 0 && text.startsWith(needle.text, start) && !found(start, needle)) return;
        }
      }
      if (at === last) return;
      hash = (Math.imul(hash - Math.imul(text.charCodeAt(at), LEAD), BASE) + text.charCodeAt(at + GRAM)) | 0;
    }
  }
}

/** A needle as the index keeps it: under the window at `offset` characters into its text. */
interface Indexed {
  readonly needle: Needle;
  readonly offset: number;
}

/** Values shorter than this are not registered at all. */
const MIN_VALUE = 6;
/** The shortest prefix or suffix that is scrubbed: long enough not to be an ordinary word. */
const MIN_PART = 12;
/** Past this many characters, a run of a token is a leak whatever its share of the token. */
const MAX_TOKEN_PART = 20;
/** The shortest base64 middle that is scrubbed: 8 characters carry 6 bytes of the value. */
const MIN_BASE64 = 8;

type Kind = 'exact' | 'prefix' | 'suffix' | 'base64';

interface Needle {
  readonly kind: Kind;
  readonly text: string;
  /** For prefix and suffix needles: the whole value, to extend a match over. */
  readonly value: string;
  readonly replacement: string;
}

interface Span {
  start: number;
  end: number;
  readonly replacement: string;
}

/**
 * How long a prefix or suffix must be to count. Never under 12 characters, so that short common words and a key's
 * public prefix such as `sk_live_` are not scrubbed, and at least half the value. A token (only characters of key
 * alphabets: letters, digits, `+/=_.~:-`) is all key material, so 20 of its characters are a leak however long it
 * is: 20 characters of a 44-character key are caught. A structured value (a JSON document such as an AWS access key
 * document, a PEM block, anything with spaces or quotes) starts and ends with public syntax, such as
 * `{"Version":1,"AccessKeyId":`, which messages quote too; for those only half the value counts. A value this short
 * or shorter is only matched whole.
 */
function partLength(value: string): number {
  const half = Math.ceil(value.length / 2);
  const part = TOKEN.test(value) ? Math.min(MAX_TOKEN_PART, half) : half;
  return Math.min(value.length, Math.max(MIN_PART, part));
}

const TOKEN = /^[A-Za-z0-9+/=_.~:-]+$/;

function needlesOf(value: string, replacement: string): Needle[] {
  const needle = (kind: Kind, text: string): Needle => ({ kind, text, value, replacement });
  const out: Needle[] = [];
  // A URL-shaped value is a rendered template (a webhook URL with its token): its start is a public host and path,
  // printed in plain sight, and its secret part is registered as a value of its own. Match it whole only.
  const part = /^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value.length : partLength(value);
  out.push(needle('prefix', value.slice(0, part)));
  if (part < value.length) out.push(needle('suffix', value.slice(value.length - part)));
  for (const form of exactForms(value)) if (form !== value) out.push(needle('exact', form));
  for (const middle of base64Middles(value)) out.push(needle('base64', middle));
  return out;
}

/** The URL-encoded, JSON-escaped and hex spellings of a value. */
function exactForms(value: string): Set<string> {
  const url = encodeURIComponent(value);
  const form = new URLSearchParams({ v: value }).toString().slice(2);
  const json = JSON.stringify(value).slice(1, -1);
  const unicode = (upper: boolean) => (c: string) => {
    const digits = c.charCodeAt(0).toString(16).padStart(4, '0');
    return `\\u${upper ? digits.toUpperCase() : digits}`;
  };
  const hex = Buffer.from(value, 'utf8').toString('hex');
  return new Set([
    url,
    lowerEscapes(url),
    form,
    lowerEscapes(form),
    json,
    // PHP's json_encode escapes `/`; Python's json.dumps and many Java serialisers write non-ASCII as \uXXXX.
    json.replace(/\//g, '\\/'),
    json.replace(/[\u007f-\uffff]/g, unicode(false)),
    json.replace(/[\u007f-\uffff]/g, unicode(true)),
    hex,
    hex.toUpperCase(),
  ]);
}

function lowerEscapes(text: string): string {
  return text.replace(/%[0-9A-F]{2}/g, (hex) => hex.toLowerCase());
}

/**
 * The parts of a value's base64 (and base64url) encoding that do not depend on what surrounds it.
 *
 * Base64 turns each group of 3 bytes into 4 characters. When the value follows `k` other bytes (`user:` has 5), its
 * bytes start at offset k mod 3 inside a group, so the characters of the group it starts in, and of the group it ends
 * in, mix its bytes with its neighbours'. Only the whole groups in between are fixed by the value alone. For each of
 * the three offsets, that middle is the base64 of the value's bytes from the first group boundary on, cut to a
 * whole number of groups: offset 0 starts at byte 0, offset 1 at byte 2, offset 2 at byte 1. Any base64 text that
 * holds the value (`base64("user:" + key)`, `base64(key + ":")`, `base64(":" + key)`, the key alone) contains one
 * of the three middles, and the match is extended to the whole run of base64 characters around it, padding
 * included: that run is the encoding the value belongs to, and its neighbouring characters give away bytes of it.
 */
function base64Middles(value: string): string[] {
  const bytes = Buffer.from(value, 'utf8');
  const out: string[] = [];
  for (const skip of [0, 2, 1]) {
    const whole = Math.floor((bytes.length - skip) / 3) * 3;
    if ((whole / 3) * 4 < MIN_BASE64) continue;
    const group = bytes.subarray(skip, skip + whole);
    out.push(group.toString('base64'), group.toString('base64url'));
  }
  return [...new Set(out)];
}

/** A character of either base64 alphabet (not `=`, which only pads the end). */
function isBase64(code: number): boolean {
  return (code >= 65 && code <= 90) || (code >= 97 && code <= 122) || (code >= 48 && code <= 57) || code === 43 || code === 47 || code === 45 || code === 95;
}

/** The span a needle's match at `at` covers, by the needle's rule. */
function extend(text: string, at: number, needle: Needle): Span {
  let start = at;
  let end = at + needle.text.length;
  if (needle.kind === 'prefix') {
    // Take in as much more of the value as follows: a longer prefix, or the whole value.
    for (let i = needle.text.length; i < needle.value.length && end < text.length && text[end] === needle.value[i]; i++) end++;
  } else if (needle.kind === 'suffix') {
    for (let i = needle.value.length - needle.text.length; i > 0 && start > 0 && text[start - 1] === needle.value[i - 1]; i--) start--;
  } else if (needle.kind === 'base64') {
    while (start > 0 && isBase64(text.charCodeAt(start - 1))) start--;
    while (end < text.length && isBase64(text.charCodeAt(end))) end++;
    while (end < text.length && text[end] === '=') end++;
  }
  return { start, end, replacement: needle.replacement };
}

/** The process-wide redactor that every `Secret` registers with. */
export const redactor = new Redactor();
