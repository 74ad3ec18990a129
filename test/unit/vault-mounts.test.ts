/**
 * How the Vault adapter reads what Vault says of a mount and of itself (adapters/stores/vault-kv/mounts.ts): the
 * version strings sys/health reports (Vault API docs, "/sys/health": `1.15.2`, `1.15.2+ent`, release candidates),
 * and the mount entries sys/internal/ui/mounts returns for KV v1 (options version "1", or none; the legacy type
 * `generic`), KV v2 and other engines.
 */
import { describe, expect, it } from 'vitest';
import { mountProblem, olderThanCustomMetadata } from '../../adapters/stores/vault-kv/mounts.js';
import { parseRef } from '../../src/contract/store.js';

const ref = parseRef('vault-kv', 'kv/app#API_KEY');

describe('olderThanCustomMetadata', () => {
  it.each([
    ['1.8.12', true],
    ['v1.8.0', true],
    ['0.11.6', true],
    ['1.9.0', false],
    ['1.9.0-rc1', false],
    ['1.15.2+ent', false],
    ['2.0.0', false],
  ])('%s → %s', (version, older) => {
    expect(olderThanCustomMetadata(version)).toBe(older);
  });

  it('does not refuse a version it cannot read (the data read still tells)', () => {
    expect(olderThanCustomMetadata('unknown')).toBe(false);
  });
});

describe('mountProblem', () => {
  it('accepts KV v2 only', () => {
    expect(mountProblem('check', ref, { mount: 'kv', type: 'kv', kvVersion: '2' })).toBeUndefined();
  });

  it.each([
    ['options version "1"', { mount: 'kv', type: 'kv', kvVersion: '1' }],
    ['no options', { mount: 'kv', type: 'kv', kvVersion: undefined }],
    ['the legacy type generic', { mount: 'kv', type: 'generic', kvVersion: undefined }],
  ])('refuses KV v1 given by %s, naming vault kv enable-versioning', (_what, info) => {
    const problem = mountProblem('check', ref, info);
    expect(problem?.message).toBe(
      'check vault-kv:kv/app#API_KEY: the mount kv is KV version 1: rekey needs KV v2 (versions, check-and-set and custom_metadata)',
    );
    expect(problem?.hint).toContain('vault kv enable-versioning kv');
  });

  it('refuses another engine by its type', () => {
    expect(mountProblem('check', ref, { mount: 'kv', type: 'transit', kvVersion: undefined })?.message).toContain(
      'is a transit secrets engine, not KV version 2',
    );
  });
});
