import memory, { memorySpace } from '../../adapters/stores/memory.js';
import { parseRef } from '../../src/contract/store.js';
import { type ContractHarness, storeContract } from './suite.js';

let counter = 0;

/**
 * The memory store twice: as a store that can be read back, and write-only (like GitHub Actions secrets), so that
 * the suite's capability skipping is exercised both ways on one backend.
 */
const harness = (writeOnly: boolean) => async (): Promise<ContractHarness> => {
  const spaceName = `contract-${++counter}`;
  const space = memorySpace(spaceName);
  const initial = 'rk_canary_INITIAL_4b1d7e2a9c8f3e6d';
  const siblings = { DATABASE_URL: 'postgres://db.internal/app', REGION: 'eu-west-1' };
  space.put('app', JSON.stringify({ API_KEY: initial }));
  space.put('shared', JSON.stringify({ ...siblings, API_KEY: initial }));
  space.put('locked', JSON.stringify({ API_KEY: initial }));
  space.denied.add('locked');
  const open = () => memory.open({ space: spaceName, writeOnly }, { baseDir: process.cwd(), env: {} });
  const store = open();
  return {
    store,
    reopen: open,
    ref: parseRef('memory', 'app#API_KEY'),
    fieldRef: parseRef('memory', 'shared#API_KEY'),
    siblings,
    missingRef: parseRef('memory', 'absent#API_KEY'),
    initial,
    async concurrentWrite(ref, value) {
      const payload = JSON.parse(space.payload(ref.path)!) as Record<string, string>;
      space.put(ref.path, JSON.stringify({ ...payload, [ref.field!]: value }));
    },
    async rawSiblings() {
      const { API_KEY: _, ...rest } = JSON.parse(space.payload('shared')!) as Record<string, string>;
      return rest;
    },
    denied: { store, ref: parseRef('memory', 'locked#API_KEY') },
    async snapshot() {
      return [...space.secrets].map(([path, secret]) => [
        path,
        { ...secret, versions: secret.versions.map((v) => ({ ...v })), rolledBack: [...secret.rolledBack] },
      ]);
    },
    async close() {},
  };
};

storeContract('memory', harness(false));
storeContract('memory (writeOnly)', harness(true));
