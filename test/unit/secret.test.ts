import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { Redactor, redactor } from '../../src/contract/redactor.js';
import { Secret, fingerprint, mask } from '../../src/contract/secret.js';

const CANARY = 'rk_canary_SECRET_9d8c7b6a5f4e3d2c1b0a';

describe('Secret (I3: no secret in output)', () => {
  it('prints as its mask in template strings, JSON, String() and util.inspect, never as the value', () => {
    const secret = new Secret(CANARY);
    const renderings = [`${secret}`, String(secret), JSON.stringify({ secret }), inspect(secret), inspect({ nested: [secret] }, { depth: 5 })];
    for (const text of renderings) {
      expect(text).not.toContain(CANARY);
      expect(text).toContain('…1b0a');
    }
    expect(secret.reveal()).toBe(CANARY);
  });

  it('fingerprints are the first 16 hex digits of SHA-256 and tell values apart', () => {
    // SHA-256("abc") is ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad (FIPS 180-2 test vector).
    expect(fingerprint('abc')).toBe('ba7816bf8f01cfea');
    expect(new Secret(CANARY).fingerprint).not.toBe(new Secret(`${CANARY}x`).fingerprint);
  });

  it('masks a JSON document by what identifies it, not by its closing `"}`', () => {
    const doc = JSON.stringify({ Version: 1, AccessKeyId: 'AKIAEXAMPLE0000WXYZ', SecretAccessKey: 'canary-secret-access-key-0123456789abcdef' });
    expect(mask(doc)).toBe('AKIA…WXYZ');
    expect(mask(JSON.stringify({ client_id: 'app', client_secret: 'canary-client-secret-00001234' }))).toBe('{…1234}');
    // Not an object: the plain last four.
    expect(mask('{not json at all, but long}')).toBe('…ong}');
  });

  it('masks short values completely', () => {
    expect(mask('short-value')).toBe('…');
    expect(mask('0123456789abcdefWXYZ')).toBe('…WXYZ');
  });

  it('equals compares values without revealing them', () => {
    expect(new Secret(CANARY).equals(new Secret(CANARY))).toBe(true);
    expect(new Secret(CANARY).equals(new Secret('rk_canary_OTHER_00000000000000'))).toBe(false);
  });
});

describe('redactor (second line of defence)', () => {
  it('scrubs a known value, and its URL- and JSON-encoded spellings, from any text', () => {
    const r = new Redactor();
    const value = 'tok/en+with"quote&chars_0123456789';
    r.add(value);
    const text = `plain ${value} url ${encodeURIComponent(value)} json ${JSON.stringify(value)}`;
    const scrubbed = r.scrub(text);
    expect(scrubbed).not.toContain(value);
    expect(scrubbed).not.toContain(encodeURIComponent(value));
    expect(scrubbed).not.toContain(JSON.stringify(value).slice(1, -1));
    expect(r.leaks(text)).toBe(true);
    expect(r.leaks(scrubbed)).toBe(false);
  });

  it('every Secret registers itself with the process-wide redactor', () => {
    const value = 'rk_canary_REGISTERED_abcdef012345';
    expect(redactor.leaks(`x ${value} y`)).toBe(false);
    new Secret(value);
    expect(redactor.scrub(`x ${value} y`)).toBe('x [redacted …2345] y');
  });

  it('ignores values too short to be secrets, so ordinary words are not scrubbed', () => {
    const r = new Redactor();
    r.add('abc');
    expect(r.scrub('abc abc')).toBe('abc abc');
  });
});
