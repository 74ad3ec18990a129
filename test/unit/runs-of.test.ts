/**
 * `runsOf` (src/engine/history.ts): the runs of one credential, found by each journal's first record, which is read
 * once per process. A rotation looks for its credential's unfinished runs through it, so it must find every one of
 * them, including a journal whose first line was still being written when it was first looked at.
 */
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runsOf } from '../../src/engine/history.js';
import { journalFile, runsDir } from '../../src/engine/journal.js';

let stateDir: string;
beforeEach(() => {
  stateDir = mkdtempSync(join(tmpdir(), 'rekey-runs-of-'));
  mkdirSync(runsDir(stateDir), { recursive: true });
});
afterEach(() => rmSync(stateDir, { recursive: true, force: true }));

const startedLine = (credential: string) => {
  const record = { seq: 1, at: '2026-01-01T00:00:00.000Z', type: 'run.started', credential, runbook: 'sandbox', mode: 'scheduled', prev: 'x', hash: 'y' };
  return `${JSON.stringify(record)}\n`;
};

describe('runsOf', () => {
  it("names only the credential's own runs, oldest first, and none of a journal that is no run", () => {
    writeFileSync(journalFile(stateDir, '20260103T000000Z-000003'), startedLine('a'));
    writeFileSync(journalFile(stateDir, '20260101T000000Z-000001'), startedLine('a'));
    writeFileSync(journalFile(stateDir, '20260102T000000Z-000002'), startedLine('b'));
    writeFileSync(journalFile(stateDir, '20260104T000000Z-000004'), '{"seq":1,"type":"step.started"}\n');
    expect(runsOf(stateDir, 'a')).toEqual(['20260101T000000Z-000001', '20260103T000000Z-000003']);
    expect(runsOf(stateDir, 'b')).toEqual(['20260102T000000Z-000002']);
    expect(runsOf(stateDir, 'c')).toEqual([]);
  });

  it('finds a run whose first line was still being written when it was first looked at', () => {
    const file = journalFile(stateDir, '20260105T000000Z-000005');
    const line = startedLine('a');
    writeFileSync(file, line.slice(0, 40));
    expect(runsOf(stateDir, 'a')).toEqual([]);
    appendFileSync(file, line.slice(40));
    expect(runsOf(stateDir, 'a')).toEqual(['20260105T000000Z-000005']);
  });
});
