/**
 * `rekey scan`: the leak search without a value. Candidates are found by the runbook's key pattern (`secret.pattern`,
 * unanchored), in the text as it is and inside base64 and hex runs (decoded here), and each candidate is hashed and
 * compared with the fingerprints rekey knows of the credential (its journals' old and new keys, the stores' current
 * value). So a responder can check that a scrub worked, or find a key of an earlier rotation, after the value itself
 * is gone from every store. The same search as `rekey incident` (search.ts), with this matcher.
 *
 * I3 holds as in the leak search: no candidate, known or not, is passed to git or printed. Commit subjects and paths
 * are given back with every pattern match in them replaced (a subject may quote a key rekey no longer holds).
 */
import type { LeakSearchResult } from '../contract/leaks.js';
import { fingerprint } from '../contract/mask.js';
import { redactor } from '../contract/redactor.js';
import { childEnv } from './git.js';
import type { LeakSearchLimits } from './limits.js';
import { type Hit, type Matcher, unwrap } from './needles.js';
import { searchFolder } from './search.js';

/**
 * The key pattern without its anchors, global: `^sbx_[0-9a-f]{40}$` finds `sbx_…` anywhere in a line. A `^` or `$`
 * outside a character class anchors a whole value; inside a file the key sits among other text, so both go.
 * Hand-written: no library unanchors a JavaScript regular expression, and this walks only escapes and classes.
 */
export function unanchored(pattern: RegExp): RegExp {
  let out = '';
  let inClass = false;
  const source = pattern.source;
  for (let i = 0; i < source.length; i++) {
    const c = source[i]!;
    if (c === '\\') {
      out += source.slice(i, i + 2);
      i++;
    } else if (inClass) {
      if (c === ']') inClass = false;
      out += c;
    } else if (c === '[') {
      inClass = true;
      out += c;
    } else if (c !== '^' && c !== '$') out += c;
  }
  return new RegExp(out, `${pattern.flags.replace(/[gy]/g, '')}g`);
}

/** Base64 runs (alignment found by trying each start), and hex runs of whole bytes, long enough to hold a key. */
const BASE64_RUN = /[A-Za-z0-9+/_-]{16,}={0,2}/g;
const HEX_RUN = /(?:[0-9a-fA-F]{2}){8,}/g;

/**
 * The matcher of a scan: any candidate of the pattern whose fingerprint is known, as itself, in a base64 run (one
 * line or wrapped) or in a hex run. The hit names the fingerprint of the first value found.
 */
export function fingerprintMatcher(pattern: RegExp, known: ReadonlySet<string>): Matcher {
  const candidates = unanchored(pattern);
  // A known value in decoded bytes: its fingerprint, and the byte it begins at (to find the line it came from).
  const knownIn = (decoded: Buffer): { fp: string; at: number } | undefined => {
    const text = decoded.toString('utf8');
    for (const m of text.matchAll(candidates)) {
      const fp = fingerprint(m[0]);
      if (known.has(fp)) return { fp, at: Buffer.byteLength(text.slice(0, m.index)) };
    }
    return undefined;
  };
  return (buffer: Buffer): Hit | undefined => {
    const hits: Array<{ line: number; fp: string; encoding?: 'base64' | 'hex' }> = [];
    const text = buffer.toString('utf8');
    // Lines of string offsets: counted once, forward, as matches come in order.
    let line = 1;
    let at = 0;
    const lineAt = (index: number) => {
      for (let nl = text.indexOf('\n', at); nl !== -1 && nl < index; nl = text.indexOf('\n', at)) {
        line++;
        at = nl + 1;
      }
      return line;
    };
    for (const m of text.matchAll(candidates)) {
      const fp = fingerprint(m[0]);
      if (known.has(fp)) hits.push({ line: lineAt(m.index), fp });
      if (hits.length >= 5) break;
    }
    // Hex and base64, on one line or wrapped over several (`xxd -p`, MIME, PEM, a YAML block), read as one run once
    // the line breaks are out.
    const { joined, lineOf } = hits.length === 0 ? unwrap(buffer) : { joined: Buffer.alloc(0), lineOf: () => 0 };
    const flat = joined.toString('latin1');
    if (hits.length === 0) {
      for (const m of flat.matchAll(HEX_RUN)) {
        const found = knownIn(Buffer.from(m[0], 'hex'));
        if (found !== undefined) hits.push({ line: lineOf(m.index + found.at * 2), fp: found.fp, encoding: 'hex' });
        if (hits.length >= 5) break;
      }
    }
    if (hits.length === 0) {
      for (const m of flat.matchAll(BASE64_RUN)) {
        const run = m[0].replace(/-/g, '+').replace(/_/g, '/');
        // The run may begin with letters that are not part of the encoding (`base64` joined to the first line).
        for (let k = 0; k < 4; k++) {
          const found = knownIn(Buffer.from(run.slice(k), 'base64'));
          if (found !== undefined) {
            // Four characters for every three bytes: the line of the group the value's first byte is in.
            hits.push({ line: lineOf(m.index + k + Math.floor(found.at / 3) * 4), fp: found.fp, encoding: 'base64' });
            break;
          }
        }
        if (hits.length >= 5) break;
      }
    }
    if (hits.length === 0) return undefined;
    const lines = [...new Set(hits.map((h) => h.line))].sort((a, b) => a - b);
    const first = hits[0]!;
    return { lines, fingerprint: first.fp, ...(first.encoding === undefined ? {} : { encoding: first.encoding }) };
  };
}

export interface ScanOptions {
  /** The folder of rekey.yaml: the repository around it is searched (or the folder itself). */
  readonly folder: string;
  /** The runbook's key pattern (`secretPattern`). */
  readonly pattern: RegExp;
  /** Fingerprints of every value of the credential rekey knows. */
  readonly fingerprints: ReadonlySet<string>;
  readonly exclude?: readonly string[];
  readonly limits?: Partial<LeakSearchLimits>;
  readonly git?: string;
  readonly env?: NodeJS.ProcessEnv;
}

/** Search the working tree and git history around `folder` for any value with a known fingerprint. */
export function scanFingerprints(options: ScanOptions): Promise<LeakSearchResult> {
  const candidates = unanchored(options.pattern);
  // Anything shaped like a key is taken out of what git says (subjects, paths), known or not.
  const scrub = (text: string) => redactor.scrub(text.replace(candidates, '[redacted key]'));
  // git never inherits a variable holding something shaped like a key (it may be one of the values looked for).
  const shaped = new RegExp(candidates.source, candidates.flags.replace('g', ''));
  const base: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(options.env ?? process.env)) if (value !== undefined && !shaped.test(value)) base[name] = value;
  return searchFolder({
    folder: options.folder,
    exclude: options.exclude,
    limits: options.limits,
    git: options.git,
    env: childEnv(base, []),
    match: fingerprintMatcher(options.pattern, options.fingerprints),
    scrub,
  });
}
