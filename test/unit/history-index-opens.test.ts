/**
 * The history index in a fleet (src/engine/history-index.ts): while many runs of one process add journals, each
 * rotation refreshes the index for its own credential. A journal of another credential is opened to learn whom it
 * claims once, not on every refresh that finds it still unread: with a thousand runs, opening every other journal on
 * every refresh made the fleet's disk work grow with the square of its size. Counted at node:fs.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';

const opened = vi.hoisted(() => new Map<string, number>());
vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs')>();
  const openSync = (...args: Parameters<typeof fs.openSync>) => {
    const path = String(args[0]);
    opened.set(path, (opened.get(path) ?? 0) + 1);
    return fs.openSync(...args);
  };
  return { ...fs, default: { ...fs, openSync }, openSync };
});

const { forgetHistoryIndex, openRunsOf } = await import('../../src/engine/history-index.js');
const { Journal, journalFile } = await import('../../src/engine/journal.js');

let stateDir: string;
const savedKey = process.env['REKEY_CHAIN_KEY'];
beforeAll(() => {
  process.env['REKEY_CHAIN_KEY'] = 'history-index-opens-test-chain-key-0123456789';
});
afterAll(() => {
  if (savedKey === undefined) delete process.env['REKEY_CHAIN_KEY'];
  else process.env['REKEY_CHAIN_KEY'] = savedKey;
});
beforeEach(() => {
  stateDir = mkdtempSync(join(tmpdir(), 'rekey-history-opens-'));
  forgetHistoryIndex();
});
afterEach(() => rmSync(stateDir, { recursive: true, force: true }));

describe('history index refreshes in a fleet', () => {
  it('opens each journal of another credential once, however many refreshes find it unread', async () => {
    // The index is made first (as at the fleet's start); the other runs' journals come after it, as the fleet's do.
    expect(await openRunsOf(stateDir, 'mine')).toEqual([]);
    const others: string[] = [];
    for (let i = 0; i < 30; i++) {
      const run = `20260101T0000${String(i).padStart(2, '0')}Z-b0c1d${String(i % 10)}`;
      const journal = new Journal(stateDir, run);
      await journal.append({
        type: 'run.started',
        credential: `other-${i}`,
        runbook: 'sandbox',
        overlap: 'until-revoked',
        mode: 'scheduled',
        pid: 1,
        host: 'h',
      });
      await journal.close();
      others.push(run);
    }
    opened.clear();
    for (let refresh = 0; refresh < 20; refresh++) expect(await openRunsOf(stateDir, 'mine')).toEqual([]);
    for (const run of others) expect(opened.get(journalFile(stateDir, run)) ?? 0, run).toBeLessThanOrEqual(1);
  });
});
