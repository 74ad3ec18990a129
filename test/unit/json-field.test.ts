/**
 * Defect 11 (issue 8): rotating one field of a JSON secret must change only the bytes of that field's value. The
 * corpus below holds the documents that a parse-and-reserialise loses: big integers, `1.50`, `1e400`, escapes, `\/`,
 * duplicate keys, CRLF, tabs, a BOM, nesting. Every check compares raw bytes outside the value, computed here
 * independently of adapters/stores/kit/json-field.ts.
 */
import { describe, expect, it } from 'vitest';
import { parseRef } from '../../src/contract/store.js';
import { SecretNotFoundError, StoreError } from '../../src/contract/store-errors.js';
import { extractField, replaceField } from '../../adapters/stores/kit/json-field.js';

const KIND = 'memory';
const NEW = 'rk_canary_NEWFIELD_0123456789abcdef';

interface Case {
  readonly name: string;
  readonly doc: string;
  /** The exact text of the field's current value in `doc` (the last occurrence is the one that counts). */
  readonly oldRaw: string;
  /** Where that text starts: the last occurrence of `"KEY"<ws>:<ws>oldRaw`, found by the test itself. */
  readonly key?: string;
}

const KEY = 'API_KEY';

// Each document holds API_KEY as a string, surrounded by what a reserialisation would change.
const corpus: readonly Case[] = [
  { name: 'a big integer beside the field', doc: '{"id":12345678901234567890,"API_KEY":"old-value-000000000000"}', oldRaw: '"old-value-000000000000"' },
  {
    name: '1.50, 1e400 and -0 beside the field',
    doc: '{"price": 1.50, "huge": 1e400, "neg": -0, "API_KEY": "old-value-000000000000", "exp": 2E-5}',
    oldRaw: '"old-value-000000000000"',
  },
  {
    name: 'unicode escapes and \\/ beside the field',
    doc: '{"name":"caf\\u00e9","url":"https:\\/\\/example.com\\/x","API_KEY":"old-value-000000000000"}',
    oldRaw: '"old-value-000000000000"',
  },
  {
    name: 'escapes inside the old value itself',
    doc: '{"API_KEY":"old\\u002dvalue\\/\\n\\t\\"q\\"","next":true}',
    oldRaw: '"old\\u002dvalue\\/\\n\\t\\"q\\""',
  },
  {
    name: 'nested objects and arrays around the field',
    doc: '{"a":{"API_KEY":"nested-not-this-one","b":[1,{"c":null}]},"API_KEY":"old-value-000000000000","z":{"y":[1.0,2.00]}}',
    oldRaw: '"old-value-000000000000"',
  },
  {
    name: 'CRLF line ends and tabs',
    doc: '{\r\n\t"first": 1.10,\r\n\t"API_KEY" :\t"old-value-000000000000" ,\r\n\t"last": "x"\r\n}\r\n',
    oldRaw: '"old-value-000000000000"',
  },
  { name: 'a byte-order mark', doc: '\ufeff{ "API_KEY": "old-value-000000000000", "n": 10.0 }', oldRaw: '"old-value-000000000000"' },
  {
    name: 'a key spelled with an escape',
    doc: '{"API\\u005fKEY": "old-value-000000000000", "n": 10.0}',
    oldRaw: '"old-value-000000000000"',
    key: '"API\\u005fKEY"',
  },
  {
    name: 'non-ASCII text and an astral character around the field',
    doc: '{"greeting":"héllo 😀","API_KEY":"old-value-000000000000","tail":"ß"}',
    oldRaw: '"old-value-000000000000"',
  },
  {
    name: 'the field last, with trailing whitespace after the document',
    doc: '{"x": 0.10, "API_KEY": "old-value-000000000000"}   \n\n',
    oldRaw: '"old-value-000000000000"',
  },
];

/** Offset of the field's value in `doc`: after the LAST `"API_KEY"` key (last wins, like JSON.parse). */
function valueOffset(c: Case): number {
  const key = c.key ?? `"${KEY}"`;
  // Only top-level occurrences are wanted; in this corpus the top-level one is always the last in the text.
  const at = c.doc.lastIndexOf(key);
  const offset = c.doc.indexOf(c.oldRaw, at + key.length);
  expect(offset).toBeGreaterThan(at);
  return offset;
}

const withoutBom = (text: string): string => (text.startsWith('\ufeff') ? text.slice(1) : text);

describe('JSON field edits change only the bytes of the one value (defect 11)', () => {
  const ref = parseRef(KIND, `app/config#${KEY}`);

  for (const c of corpus) {
    it(`keeps every other byte: ${c.name}`, () => {
      const offset = valueOffset(c);
      const out = replaceField(ref, 'stage', c.doc, NEW);
      const before = Buffer.from(c.doc.slice(0, offset), 'utf8');
      const after = Buffer.from(c.doc.slice(offset + c.oldRaw.length), 'utf8');
      const bytes = Buffer.from(out, 'utf8');
      const middle = Buffer.from(JSON.stringify(NEW), 'utf8');
      expect(bytes.subarray(0, before.length).equals(before)).toBe(true);
      expect(bytes.subarray(before.length, before.length + middle.length).equals(middle)).toBe(true);
      expect(bytes.subarray(before.length + middle.length).equals(after)).toBe(true);
      expect(bytes.length).toBe(before.length + middle.length + after.length);
      // The result reads back, through rekey and through JSON.parse, as the new value.
      expect(extractField(ref, 'read', out)).toBe(NEW);
      expect((JSON.parse(withoutBom(out)) as Record<string, unknown>)[KEY]).toBe(NEW);
    });

    it(`reads the same value JSON.parse reads: ${c.name}`, () => {
      expect(extractField(ref, 'read', c.doc)).toBe((JSON.parse(withoutBom(c.doc)) as Record<string, unknown>)[KEY]);
    });
  }

  it('duplicate keys: the last one counts for read and for write, as with JSON.parse', () => {
    const doc = '{"API_KEY":"first-000000000000","mid":1.50,"API_KEY":"second-00000000000","end":12345678901234567890}';
    expect(extractField(ref, 'read', doc)).toBe('second-00000000000');
    expect(extractField(ref, 'read', doc)).toBe((JSON.parse(doc) as Record<string, unknown>)[KEY]);
    const out = replaceField(ref, 'stage', doc, NEW);
    expect(out).toBe(`{"API_KEY":"first-000000000000","mid":1.50,"API_KEY":${JSON.stringify(NEW)},"end":12345678901234567890}`);
    expect((JSON.parse(out) as Record<string, unknown>)[KEY]).toBe(NEW);
    expect(extractField(ref, 'read', out)).toBe(NEW);
  });

  it('a missing field is added after the last one, every existing byte kept', () => {
    const doc = '{\n  "id": 12345678901234567890,\n  "price": 1.50\n}\n';
    const out = replaceField(ref, 'stage', doc, NEW);
    expect(out).toBe(`{\n  "id": 12345678901234567890,\n  "price": 1.50,"API_KEY": ${JSON.stringify(NEW)}\n}\n`);
    expect(extractField(ref, 'read', out)).toBe(NEW);
    expect(replaceField(ref, 'stage', '{}', NEW)).toBe(`{"API_KEY": ${JSON.stringify(NEW)}}`);
    // No payload at all: a one-field object.
    expect(replaceField(ref, 'stage', undefined, NEW)).toBe(`{"API_KEY":${JSON.stringify(NEW)}}`);
  });

  it('a new value with quotes, backslashes, control characters, U+2028/U+2029 and a lone surrogate is JSON-escaped', () => {
    const awkward = 'q"uote\\back\nline\ttab\u0000nul\u001fus\u2028ls\u2029ps\ud800lone</script>';
    const doc = '{"a": 1.50, "API_KEY": "old-value-000000000000", "b": 12345678901234567890}';
    const out = replaceField(ref, 'stage', doc, awkward);
    const raw = out.slice('{"a": 1.50, "API_KEY": '.length, out.length - ', "b": 12345678901234567890}'.length);
    expect(out.startsWith('{"a": 1.50, "API_KEY": ')).toBe(true);
    expect(out.endsWith(', "b": 12345678901234567890}')).toBe(true);
    // Nothing raw that a strict or a JavaScript-embedding reader could trip on.
    // biome-ignore lint/suspicious/noControlCharactersInRegex: the test asserts that no raw control character reached the file.
    expect(/[\u0000-\u001f\u2028\u2029]/.test(raw)).toBe(false);
    expect(/[\ud800-\udfff]/.test(raw)).toBe(false);
    expect(raw).toContain('\\u2028');
    expect(raw).toContain('\\u2029');
    expect(JSON.parse(raw)).toBe(awkward);
    expect(extractField(ref, 'read', out)).toBe(awkward);
  });

  it('a ref without a field reads and writes the whole payload, byte for byte', () => {
    const whole = parseRef(KIND, 'app/config');
    expect(extractField(whole, 'read', '{"a": 1.50}')).toBe('{"a": 1.50}');
    expect(replaceField(whole, 'stage', '{"a": 1.50}', NEW)).toBe(NEW);
  });
});

describe('JSON field edits refuse what they cannot do safely, naming the ref and never a value (defect 11)', () => {
  const ref = parseRef(KIND, `app/config#${KEY}`);
  const SIBLING = 'rk_canary_SIBLING_fedcba9876543210';

  function failure(fn: () => unknown): Error {
    try {
      fn();
    } catch (error) {
      return error as Error;
    }
    throw new Error('expected a failure');
  }

  function expectClean(error: Error): void {
    expect(error.message).toContain(ref.display);
    expect(error.message).not.toContain(SIBLING);
    expect(error.message).not.toContain(NEW);
  }

  it('a field whose value is not a string is neither read nor overwritten', () => {
    for (const old of ['12345678901234567890', 'null', 'true', '{"k":"v"}', '["a"]', '1.50']) {
      const doc = `{"OTHER":"${SIBLING}","API_KEY":${old}}`;
      const read = failure(() => extractField(ref, 'read', doc));
      expect(read).toBeInstanceOf(StoreError);
      expect(read.message).toMatch(/is not a string/);
      expectClean(read);
      const write = failure(() => replaceField(ref, 'stage', doc, NEW));
      expect(write).toBeInstanceOf(StoreError);
      expect(write.message).toMatch(/is not a string/);
      expectClean(write);
    }
  });

  it('a missing field is a typed not-found on read', () => {
    const error = failure(() => extractField(ref, 'read', `{"OTHER":"${SIBLING}"}`));
    expect(error).toBeInstanceOf(SecretNotFoundError);
    expectClean(error);
  });

  it('a document that is not a JSON object (array, string, number, broken, JSONC, trailing text) is refused', () => {
    const docs = [
      `["${SIBLING}"]`,
      `"${SIBLING}"`,
      '12345678901234567890',
      'null',
      '',
      `{"OTHER":"${SIBLING}"`,
      `{"OTHER":"${SIBLING}",}`,
      `{"OTHER":"${SIBLING}" /* note */}`,
      `{"OTHER":"${SIBLING}"} trailing`,
      `{"OTHER":"${SIBLING}\u0001"}`,
      `{'OTHER':'${SIBLING}'}`,
    ];
    for (const doc of docs) {
      for (const fn of [() => extractField(ref, 'read', doc), () => replaceField(ref, 'stage', doc, NEW)]) {
        const error = failure(fn);
        expect(error, JSON.stringify(doc)).toBeInstanceOf(StoreError);
        expect(error.message).toMatch(/not a JSON object/);
        expectClean(error);
      }
    }
  });
});
