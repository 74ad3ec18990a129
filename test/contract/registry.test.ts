/**
 * Every store kind the registry knows has a contract harness: adding a store is one adapter, one registry line and a
 * harness here, and this test says which is missing. It reads the registry, so it names no kind itself.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { storeKinds } from '../../adapters/stores/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const harnessFiles = readdirSync(here).filter((name) => name.endsWith('.test.ts'));

/** The test files that run the suite for `kind`: `<kind>.test.ts` or `<kind>.<variant>.test.ts`, calling storeContract. */
function harnessesOf(kind: string): string[] {
  return harnessFiles.filter(
    (name) => (name === `${kind}.test.ts` || name.startsWith(`${kind}.`)) && readFileSync(`${here}/${name}`, 'utf8').includes('storeContract('),
  );
}

describe('the contract suite covers every registered store kind', () => {
  it('finds at least one registered kind (the registry was read)', () => {
    expect(storeKinds.length).toBeGreaterThan(0);
  });
  for (const kind of storeKinds) {
    it(`${kind} has a contract harness`, () => {
      expect(
        harnessesOf(kind),
        `store kind "${kind}" is registered in adapters/stores/index.ts but nothing runs the contract suite on it: write ` +
          `test/contract/${kind}.test.ts calling storeContract() from ./suite.js with a harness (see test/contract/memory.test.ts)`,
      ).not.toEqual([]);
    });
  }
});
