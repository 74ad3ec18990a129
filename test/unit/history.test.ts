/**
 * `status`, `log` and `rotate --due` summarise journals (the first record, and the last run.finished or run.resumed),
 * each checked once. These tests hold that to the meaning of reading every record: the summary of each journal, and
 * the last runs of each credential, are those the whole-journal reading gives; a journal that fails its check is
 * `damaged` and leaves the others as they were.
 */
import fs, { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GENESIS, hashRecord } from '../../src/engine/chain.js';
import { allRuns, lastRuns, lastRunsOf, runInfo, type RunInfo } from '../../src/engine/history.js';
import { forgetHistoryIndex } from '../../src/engine/history-index.js';
import { journalFile, listRuns, readJournal, runsDir, type JournalRecord } from '../../src/engine/journal.js';

let stateDir: string;
beforeEach(() => {
  stateDir = mkdtempSync(join(tmpdir(), 'rekey-history-'));
  mkdirSync(runsDir(stateDir), { recursive: true });
});
afterEach(() => rmSync(stateDir, { recursive: true, force: true }));

/** The summary as it was computed from every record of the journal: the reference for the reading by ends. */
function reference(run: string): RunInfo | undefined {
  const records = readJournal(stateDir, run);
  const first = records[0];
  if (first === undefined || first.type !== 'run.started') return undefined;
  const finished = records.findLast((r): r is JournalRecord & { type: 'run.finished' } => r.type === 'run.finished');
  const lastResume = records.findLastIndex((r) => r.type === 'run.resumed');
  const after = finished !== undefined && records.indexOf(finished) > lastResume ? finished : undefined;
  return {
    run,
    credential: first.credential,
    mode: first.mode,
    runbook: first.runbook,
    startedAt: first.at,
    finishedAt: after?.at,
    result: after?.result ?? 'interrupted',
    ms: after === undefined ? undefined : Date.parse(after.at) - Date.parse(first.at),
    error: after?.error,
    damaged: undefined,
  };
}

type Event = Record<string, unknown> & { type: string };
const started = (credential: string): Event => ({
  type: 'run.started',
  credential,
  runbook: 'sandbox',
  overlap: 'until-revoked',
  mode: 'scheduled',
  pid: 1,
  host: 'h',
});
const step = (id: string, pad = 0): Event[] => [
  { type: 'step.started', phase: 'rollout', step: id },
  { type: 'step.done', phase: 'rollout', step: id, ms: 12, ...(pad > 0 ? { data: { note: 'n'.repeat(pad) } } : {}) },
];
const finished = (result: string, error?: string): Event => ({ type: 'run.finished', result, ...(error === undefined ? {} : { error }) });
const resumed: Event = { type: 'run.resumed', pid: 2 };

/** Write a chained journal; each record one minute after the one before, from `start`. */
function writeJournal(run: string, events: readonly Event[], start = Date.UTC(2026, 0, 1), tail = ''): void {
  let prev = GENESIS;
  const lines = events.map((event, i) => {
    const body = { seq: i + 1, at: new Date(start + i * 60_000).toISOString(), ...event, prev };
    prev = hashRecord(body);
    return JSON.stringify({ ...body, hash: prev });
  });
  writeFileSync(journalFile(stateDir, run), `${lines.join('\n')}\n${tail}`, { mode: 0o600 });
}

describe('a run summarised from the ends of its journal', () => {
  const shapes: Record<string, { events: Event[]; tail?: string; expected: Partial<RunInfo> }> = {
    done: { events: [started('a'), ...step('s1'), finished('done')], expected: { result: 'done', ms: 3 * 60_000 } },
    'failed, resumed, then done': {
      events: [
        started('a'),
        ...step('s1'),
        { type: 'step.failed', phase: 'verify', step: 'v', ms: 5, error: 'boom' },
        finished('failed', 'boom'),
        resumed,
        ...step('s2'),
        finished('done'),
      ],
      expected: { result: 'done', ms: 8 * 60_000, error: undefined },
    },
    'failed, then resumed and not finished': {
      events: [started('a'), ...step('s1'), finished('failed', 'boom'), resumed, ...step('s2')],
      expected: { result: 'interrupted', ms: undefined, finishedAt: undefined },
    },
    'resumed twice, failed last': {
      events: [started('a'), finished('failed', 'one'), resumed, finished('failed', 'two'), resumed, ...step('s3'), finished('failed', 'three')],
      expected: { result: 'failed', error: 'three' },
    },
    interrupted: { events: [started('a'), ...step('s1'), ...step('s2')], expected: { result: 'interrupted' } },
    'rolled back': {
      events: [started('b'), ...step('s1'), finished('rolled-back', 'verify failed')],
      expected: { result: 'rolled-back', error: 'verify failed' },
    },
    'a torn record after the end': { events: [started('a'), ...step('s1'), finished('done')], tail: '{"seq":5,"at":"20', expected: { result: 'done' } },
    'resumed, torn mid-record': {
      events: [started('a'), finished('failed', 'x'), resumed],
      tail: '{"seq":4,"type":"run.fin',
      expected: { result: 'interrupted' },
    },
    // Records far larger than the 8 kB chunks the ends are read in: the ends span several chunks.
    'long, resumed then done': {
      events: [started('c'), ...step('big1', 20_000), finished('failed', 'x'), resumed, ...step('big2', 9_000), ...step('big3', 30), finished('done')],
      expected: { result: 'done', ms: 9 * 60_000 },
    },
    'long and interrupted': {
      events: [started('c'), ...step('big1', 20_000), finished('done'), resumed, ...step('big2', 17_000)],
      expected: { result: 'interrupted' },
    },
  };

  for (const [name, shape] of Object.entries(shapes)) {
    it(`${name}: as reading every record says`, () => {
      const run = `20260101T000000Z-${name.replace(/\W/g, '').slice(0, 12)}`;
      writeJournal(run, shape.events, Date.UTC(2026, 0, 1), shape.tail);
      const info = runInfo(stateDir, run);
      expect(info).toEqual(reference(run));
      expect(info).toMatchObject(shape.expected);
    });
  }

  it('a journal that does not start with run.started, an empty one and a torn only line are no run', () => {
    writeJournal('20260101T000000Z-000001', [...step('s1'), finished('done')]);
    writeFileSync(journalFile(stateDir, '20260101T000000Z-000002'), '');
    writeFileSync(journalFile(stateDir, '20260101T000000Z-000003'), '{"seq":1,"at":"2026-01-01T00:00:00.000Z","type":"run.sta');
    for (const run of listRuns(stateDir)) {
      expect(reference(run)).toBeUndefined();
      expect(runInfo(stateDir, run)).toBeUndefined();
    }
    expect(runInfo(stateDir, '20990101T000000Z-nosuch')).toBeUndefined();
  });

  it('a damaged first line with records after it is a damaged run, not an error that stops the command (defect 10)', () => {
    writeFileSync(journalFile(stateDir, '20260101T000000Z-000004'), '{broken\n{"seq":2}\n');
    expect(readJournal(stateDir, '20260101T000000Z-000004')).toEqual([]);
    expect(runInfo(stateDir, '20260101T000000Z-000004')).toMatchObject({
      result: 'damaged',
      credential: '?',
      damaged: 'line 1: the line is not valid JSON: the file was damaged or edited there',
    });
  });
});

describe('the last runs of each credential', () => {
  /** A history of three credentials, newest last: done, failed, resumed and interrupted runs interleaved. */
  function history(): void {
    const t = (day: number) => Date.UTC(2026, 0, day);
    writeJournal('20260101T000000Z-000001', [started('a'), ...step('s'), finished('done')], t(1));
    writeJournal('20260102T000000Z-000002', [started('b'), ...step('s'), finished('done')], t(2));
    writeJournal('20260103T000000Z-000003', [started('a'), finished('failed', 'x'), resumed, ...step('s'), finished('done')], t(3));
    writeJournal('20260104T000000Z-000004', [started('b'), finished('rolled-back', 'y')], t(4));
    writeJournal('20260105T000000Z-000005', [started('c'), ...step('s')], t(5));
    writeJournal('20260106T000000Z-000006', [started('a'), finished('failed', 'z'), resumed], t(6));
    writeJournal('20260107T000000Z-000007', [...step('s'), finished('done')], t(7));
  }

  /** What the per-credential lookup gave when it summarised every journal in full. */
  function expected(credential: string): { lastDone: RunInfo | undefined; last: RunInfo | undefined } {
    const runs = listRuns(stateDir)
      .reverse()
      .map(reference)
      .filter((r): r is RunInfo => r !== undefined && r.credential === credential);
    return { lastDone: runs.find((r) => r.result === 'done'), last: runs[0] };
  }

  it('are those of the whole-journal reading, for every credential at once and one by one', async () => {
    history();
    const all = await lastRunsOf(stateDir, ['a', 'b', 'c', 'never']);
    for (const credential of ['a', 'b', 'c', 'never']) {
      expect(all.get(credential)).toEqual(expected(credential));
      expect(await lastRuns(stateDir, credential)).toEqual(expected(credential));
    }
    expect(all.get('a')).toMatchObject({
      last: { run: '20260106T000000Z-000006', result: 'interrupted' },
      lastDone: { run: '20260103T000000Z-000003', result: 'done' },
    });
    expect(all.get('b')).toMatchObject({ last: { result: 'rolled-back' }, lastDone: { run: '20260102T000000Z-000002' } });
    expect(all.get('c')).toMatchObject({ last: { result: 'interrupted' }, lastDone: undefined });
    expect(all.get('never')).toEqual({ last: undefined, lastDone: undefined });
    expect(allRuns(stateDir)).toEqual(
      listRuns(stateDir)
        .reverse()
        .map(reference)
        .filter((r) => r !== undefined),
    );
  });

  it('once the index is written, a new process reads no journal of a finished run: only the unfinished ones', async () => {
    history();
    await lastRunsOf(stateDir, ['a', 'b'], { write: 'changed' });
    forgetHistoryIndex();
    const opened: string[] = [];
    const { openSync, readFileSync } = fs;
    fs.openSync = ((...args: Parameters<typeof openSync>) => {
      if (String(args[0]).endsWith('.jsonl')) opened.push(String(args[0]));
      return openSync(...args);
    }) as typeof openSync;
    fs.readFileSync = ((...args: Parameters<typeof readFileSync>) => {
      if (typeof args[0] === 'string' && args[0].endsWith('.jsonl')) opened.push(args[0]);
      return readFileSync(...args);
    }) as typeof readFileSync;
    syncBuiltinESMExports();
    let all: Map<string, unknown>;
    try {
      all = await lastRunsOf(stateDir, ['a', 'b']);
    } finally {
      fs.openSync = openSync;
      fs.readFileSync = readFileSync;
      syncBuiltinESMExports();
    }
    expect(all.get('a')).toEqual(expected('a'));
    expect(all.get('b')).toEqual(expected('b'));
    // The unfinished runs (a's resumed 000006, c's) are compared by fingerprint: unchanged, so not even opened.
    const runs = opened.map((file) => file.slice(file.lastIndexOf('/') + 1, -'.jsonl'.length));
    expect(runs).toEqual([]);
  });
});
