/**
 * Defect 12 (issue 8): the redactor must catch a secret in the forms it commonly takes in output, not only verbatim:
 * base64 and base64url (of the value, and of `user:value`-style pairs at any byte alignment), hex, URL-encoding with
 * upper- and lower-case escapes, JSON escapes, and long prefixes and suffixes. Every canary form is computed here
 * with Node's own encoders, independently of the redactor.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Redactor } from '../../src/contract/redactor.js';

// 44 characters, like a sandbox key; the last four are what a mask shows.
const KEY = 'sbx_9f3c2a7e41d05b86c1e2f3a4b5c6d7e8f9a0b1c2';
const MASKED = '[redacted …b1c2]';
// A value with characters that every encoding treats specially.
const AWKWARD = 'tok/en+with"quote&chars é ü_0123456789\\back';

const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');
const b64url = (text: string) => Buffer.from(text, 'utf8').toString('base64url');
const hex = (text: string) => Buffer.from(text, 'utf8').toString('hex');
const lowerEscapes = (text: string) => text.replace(/%[0-9A-F]{2}/g, (e) => e.toLowerCase());

function redactorOf(...values: string[]): Redactor {
  const r = new Redactor();
  for (const value of values) r.add(value);
  return r;
}

/** Scrub and check the promises every form must keep: the form is gone, and leaks() agrees with scrub(). */
function scrubbed(r: Redactor, text: string, form: string): string {
  expect(r.leaks(text), `leaks() misses ${form}`).toBe(true);
  const out = r.scrub(text);
  expect(out).not.toContain(form);
  expect(r.leaks(out), `scrub() leaves something leaks() finds in ${out}`).toBe(false);
  expect(r.scrub(out)).toBe(out);
  return out;
}

describe('redactor: base64 and base64url (defect 12)', () => {
  it('scrubs base64 of the value, with and without padding, replacing the whole encoded run', () => {
    const r = redactorOf(KEY);
    for (const encoded of [b64(KEY), b64(KEY).replace(/=+$/, ''), b64url(KEY)]) {
      expect(scrubbed(r, `token ${encoded} end`, encoded)).toBe(`token ${MASKED} end`);
    }
  });

  it('scrubs `Authorization: Basic base64(user:value)`, as `curl -v -u user:key` prints it', () => {
    const r = redactorOf(KEY);
    const header = `> Authorization: Basic ${b64(`user:${KEY}`)}`;
    expect(scrubbed(r, header, b64(`user:${KEY}`))).toBe(`> Authorization: Basic ${MASKED}`);
  });

  it('scrubs base64 of `value:`, `:value` and of the value behind any prefix, at all three byte alignments', () => {
    const r = redactorOf(KEY, AWKWARD);
    // Prefixes of 0 to 5 bytes put the value at every offset modulo 3, twice; suffixes change the final group.
    for (const value of [KEY, AWKWARD]) {
      for (const prefix of ['', ':', 'u:', 'api:', 'user:', 'admin:']) {
        for (const suffix of ['', ':', ':x', '@host']) {
          const plain = `${prefix}${value}${suffix}`;
          for (const encoded of [b64(plain), b64url(plain)]) {
            const out = scrubbed(r, `a ${encoded} z`, encoded);
            expect(out, `${JSON.stringify(plain)} → ${encoded}`).toMatch(/^a \[redacted …[^\]]*\] z$/);
          }
        }
      }
    }
  });

  it('leaves base64 of other text alone, and does not scrub across a space, quote or `=` sign', () => {
    const r = redactorOf(KEY);
    const other = b64(`user:${KEY.replace('9f3c', 'XXXX').replace('b1c2', 'YYYY').replace('e41d', 'ZZZZ').replace('6d7e', 'WWWW')}`);
    expect(r.leaks(`Basic ${other}`)).toBe(false);
    expect(r.scrub(`Basic ${other}`)).toBe(`Basic ${other}`);
    expect(r.scrub(`auth="${b64(KEY)}" next=word`)).toBe(`auth="${MASKED}" next=word`);
    expect(r.scrub(`token=${b64url(`:${KEY}`)}&page=2`)).toBe(`token=${MASKED}&page=2`);
  });
});

describe('redactor: hex, URL-encoding and JSON escapes (defect 12)', () => {
  it('scrubs lower- and upper-case hex of the value, also inside hex of a longer text', () => {
    const r = redactorOf(KEY, AWKWARD);
    for (const value of [KEY, AWKWARD]) {
      scrubbed(r, `bytes ${hex(value)} done`, hex(value));
      scrubbed(r, `BYTES ${hex(value).toUpperCase()} DONE`, hex(value).toUpperCase());
      // Hex keeps byte boundaries, so the value's hex is a run inside the pair's hex.
      scrubbed(r, `pair ${hex(`user:${value}`)} done`, hex(value));
    }
  });

  it('scrubs URL-encoding with upper- and lower-case escapes, and form encoding (+ for a space)', () => {
    const r = redactorOf(AWKWARD);
    const form = new URLSearchParams({ k: AWKWARD }).toString().slice(2);
    for (const encoded of [encodeURIComponent(AWKWARD), lowerEscapes(encodeURIComponent(AWKWARD)), form, lowerEscapes(form)]) {
      expect(scrubbed(r, `GET /x?key=${encoded}&y=1`, encoded)).toBe('GET /x?key=[redacted …back]&y=1');
    }
  });

  it('scrubs JSON escapes: JSON.stringify, `\\/` for a slash, and \\uXXXX for non-ASCII', () => {
    const r = redactorOf(AWKWARD);
    const json = JSON.stringify(AWKWARD).slice(1, -1);
    const slashes = json.replace(/\//g, '\\/');
    const escapeAs = (upper: boolean) => (c: string) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')[upper ? 'toUpperCase' : 'toLowerCase']()}`;
    // As Python's json.dumps (ensure_ascii) and Java serialisers write non-ASCII: lower- and upper-case hex digits.
    const ascii = json.replace(/[\u007f-\uffff]/g, escapeAs(false));
    const asciiUpper = json.replace(/[\u007f-\uffff]/g, escapeAs(true));
    expect(ascii).not.toBe(json);
    for (const encoded of [json, slashes, ascii, asciiUpper]) scrubbed(r, `{"key":"${encoded}"}`, encoded);
  });
});

describe('redactor: long prefixes and suffixes (defect 12)', () => {
  it('scrubs a 20-character prefix and a 20-character suffix of a 44-character key, and anything longer', () => {
    const r = redactorOf(KEY);
    for (let n = 20; n <= KEY.length; n++) {
      expect(scrubbed(r, `key ${KEY.slice(0, n)}… was cut`, KEY.slice(0, n))).toBe(`key ${MASKED}… was cut`);
      expect(scrubbed(r, `…${KEY.slice(-n)} was cut`, KEY.slice(-n))).toBe(`…${MASKED} was cut`);
    }
  });

  it('scrubs a prefix or suffix of at least 12 characters of a shorter value, or half of a value of 24 to 40', () => {
    const short = 'pw_0123456789ab-c'; // 17 characters: the threshold is 12
    const middle = 'mid_0123456789abcdefghijklmnopq'; // 31 characters: the threshold is 16
    const r = redactorOf(short, middle);
    scrubbed(r, `was ${short.slice(0, 12)} then`, short.slice(0, 12));
    scrubbed(r, `was ${short.slice(-12)} then`, short.slice(-12));
    expect(r.leaks(`was ${short.slice(0, 11)} then`)).toBe(false);
    scrubbed(r, `was ${middle.slice(0, 16)} then`, middle.slice(0, 16));
    expect(r.leaks(`was ${middle.slice(0, 15)} then`)).toBe(false);
  });

  it('does not scrub short prefixes or suffixes, so that ordinary words and key prefixes stay readable', () => {
    const r = redactorOf(KEY);
    const text = `keys look like sbx_ and end in …b1c2; ${KEY.slice(0, 11)} ${KEY.slice(-11)} ${KEY.slice(5, 25)}`;
    expect(r.leaks(text)).toBe(false);
    expect(r.scrub(text)).toBe(text);
  });

  it('a structured value (an AWS access key document) counts only half of itself, so its public syntax stays readable', () => {
    const document = JSON.stringify({ Version: 1, AccessKeyId: 'NOTAKEY-REKEY-TEST-0', SecretAccessKey: 'fake/rekey/test/secret/not/a/real/key/0000' });
    const r = redactorOf(document);
    // The hint the aws-iam step prints when a store holds something else: quoting the shape is no leak.
    const hint = 'the stores must hold {"Version":1,"AccessKeyId":"AKIA…","SecretAccessKey":"…"}, the shape `credential_process` prints';
    expect(r.leaks(hint)).toBe(false);
    expect(r.scrub(hint)).toBe(hint);
    scrubbed(r, `got ${document} back`, document);
    scrubbed(r, `cut ${document.slice(0, Math.ceil(document.length / 2))}`, document.slice(0, Math.ceil(document.length / 2)));
  });

  it('scrubs a URL-shaped value whole and encoded, but not its prefix (the host and path are public)', () => {
    const url = 'https://hooks.example.com/services/incoming/T0001/B0002/0123456789abcdef';
    const r = redactorOf(url);
    scrubbed(r, `posted to ${url}`, url);
    scrubbed(r, `posted to ${encodeURIComponent(url)}`, encodeURIComponent(url));
    const host = 'see https://hooks.example.com/services/incoming/T0001/B0002/ for the receiver';
    expect(r.scrub(host)).toBe(host);
    expect(r.leaks(host)).toBe(false);
  });
});

describe('redactor: leaks() agrees with scrub(), and scrubbing stays fast (defect 12)', () => {
  it('for every text, leaks(text) holds exactly when scrub(text) changes it, and a scrubbed text leaks nothing', () => {
    const values = [KEY, AWKWARD, `rk_${randomBytes(16).toString('base64url')}`];
    const r = redactorOf(...values);
    const forms = values.flatMap((v) => [
      v,
      v.slice(0, 20),
      v.slice(-20),
      b64(`u:${v}`),
      b64url(`${v}:`),
      hex(v),
      encodeURIComponent(v),
      JSON.stringify(v),
      v.slice(0, 11),
    ]);
    for (let i = 0; i < 300; i++) {
      const picked = Array.from({ length: 1 + (i % 4) }, (_, j) => forms[(i * 7 + j * 13) % forms.length]!);
      const text = `${i % 3 === 0 ? '' : 'x'}${picked.join(i % 2 === 0 ? ' ' : '')} line ${i}`;
      const out = r.scrub(text);
      expect(r.leaks(text), text).toBe(out !== text);
      expect(r.leaks(out), out).toBe(false);
    }
  });

  it('finds the shortest values it registers (6 characters) and their forms, at the start and the end of a text', () => {
    const r = redactorOf('x9Zq2w');
    for (const text of ['x9Zq2w', 'x9Zq2w tail', 'head x9Zq2w', `head ${b64('x9Zq2w')}`, `${hex('x9Zq2w')} tail`]) {
      expect(r.leaks(text), text).toBe(true);
      expect(r.scrub(text)).toMatch(/^(head )?\[redacted …\]( tail)?$/);
    }
    expect(r.leaks('x9Zq2')).toBe(false);
  });

  it('keeps the replacement whole when one value contains another', () => {
    const inner = 'inner_0123456789abcdef';
    const outer = `outer:${inner}:tail_0000`;
    const r = redactorOf(inner, outer);
    const out = r.scrub(`[${outer}]`);
    expect(out).toMatch(/^\[\[redacted …[^\]]*\]\]$/);
  });

  it("a fleet's values sharing their first characters are each found, in every form, at a text's start and end", () => {
    // 300 keys share `sbx_`, 300 webhook URLs their host and path: whatever window indexes each, every one is found.
    const keys = Array.from({ length: 300 }, () => `sbx_${randomBytes(20).toString('hex')}`);
    const urls = Array.from({ length: 300 }, (_, i) => `https://hooks.example.com/services/T0/B${i}/${randomBytes(12).toString('hex')}`);
    const r = redactorOf(...keys, ...urls);
    for (const [i, value] of [...keys, ...urls].entries()) {
      const forms = [value, encodeURIComponent(value), hex(value), b64(`u:${value}`)];
      if (value.startsWith('sbx_')) forms.push(value.slice(0, 20), value.slice(-20));
      const form = forms[i % forms.length]!;
      for (const text of [form, `${form} tail`, `head ${form}`]) {
        expect(r.leaks(text), text).toBe(true);
        expect(r.scrub(text), text).toMatch(/^(head )?\[redacted …[0-9a-f]{4}\]( tail)?$/);
      }
    }
    // The shared parts alone are public and stay: the prefix, and a URL's host and path without its token.
    const common = 'sbx_ and sbx_0 minted; posted to https://hooks.example.com/services/T0/B7/';
    expect(r.leaks(common)).toBe(false);
    expect(r.scrub(common)).toBe(common);
  });
});
