/**
 * The history index (src/engine/history-index.ts) is a cache of the journals: whatever state its file is in — missing,
 * torn, forged, stale behind new or removed journals, behind a run that finished or was resumed — its answers must be
 * what reading every journal says. The reference reads every line of every journal itself (test/support/journal-oracle.ts),
 * without the engine's summariser.
 */
import { mkdtempSync, readFileSync, rmSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { forgetHistoryIndex, lastFinished, lastRuns, lastRunsOf, openRunsOf } from '../../src/engine/history-index.js';
import { indexFile, readIndexFile } from '../../src/engine/history-index-file.js';
import { markResuming, writeIndexIfUnchanged } from '../../src/engine/history-index-write.js';
import { Journal, journalFile, type JournalEvent } from '../../src/engine/journal.js';
import { oracleFor } from '../support/journal-oracle.js';

let stateDir: string;
const savedKey = process.env['REKEY_CHAIN_KEY'];
beforeAll(() => {
  process.env['REKEY_CHAIN_KEY'] = 'history-index-test-chain-key-0123456789abcdef';
});
afterAll(() => {
  if (savedKey === undefined) delete process.env['REKEY_CHAIN_KEY'];
  else process.env['REKEY_CHAIN_KEY'] = savedKey;
});
beforeEach(() => {
  stateDir = mkdtempSync(join(tmpdir(), 'rekey-history-index-'));
  forgetHistoryIndex();
});
afterEach(() => rmSync(stateDir, { recursive: true, force: true }));

const started = (credential: string): JournalEvent => ({
  type: 'run.started',
  credential,
  runbook: 'sandbox',
  overlap: 'until-revoked',
  mode: 'scheduled',
  pid: 1,
  host: 'h',
});
const step: JournalEvent = { type: 'step.done', phase: 'generate', step: 'preflight', kind: 'preflight', ms: 1 };
const finished = (result: 'done' | 'failed' | 'rolled-back'): JournalEvent => ({ type: 'run.finished', result });
const resumed: JournalEvent = { type: 'run.resumed', pid: 2 };

let counter = 0;
/** A run id of a past second, so that records written now are never "before the run began". */
function runId(second = counter++, random = 'a0b1c2'): string {
  return `20260101T00${String(Math.floor(second / 60) % 60).padStart(2, '0')}${String(second % 60).padStart(2, '0')}Z-${random}`;
}

async function write(run: string, events: JournalEvent[]): Promise<string> {
  const journal = new Journal(stateDir, run);
  for (const event of events) await journal.append(event);
  await journal.close();
  return run;
}

const expected = (credential: string) => oracleFor(stateDir, credential);

async function answers(credential: string) {
  const { last, lastDone } = await lastRuns(stateDir, credential);
  const pick = (r: typeof last) => r && { run: r.run, result: r.result, finishedAt: r.finishedAt };
  return { last: pick(last), lastDone: pick(lastDone), open: await openRunsOf(stateDir, credential) };
}

/** A history of two credentials: done, failed, rolled back, interrupted, resumed. */
/** One record appended to a run's journal by a writer of its own, closed after it. */
async function appendOnce(run: string, event: JournalEvent): Promise<void> {
  const journal = new Journal(stateDir, run);
  await journal.append(event);
  await journal.close();
}

async function history(): Promise<void> {
  await write(runId(), [started('a'), step, finished('done')]);
  await write(runId(), [started('b'), step, finished('rolled-back')]);
  await write(runId(), [started('a'), finished('failed'), resumed, step, finished('done')]);
  await write(runId(), [started('b'), step]);
  await write(runId(), [started('a'), finished('failed')]);
  await write(runId(), [started('b'), step, finished('done')]);
}

async function agrees(): Promise<void> {
  for (const credential of ['a', 'b', 'nobody']) expect(await answers(credential), credential).toEqual(expected(credential));
}

/** Write the index as `status` does, then start over as a new process would. */
async function indexWritten(): Promise<void> {
  await lastRunsOf(stateDir, ['a', 'b'], { write: 'changed' });
  expect(readIndexFile(stateDir).body?.complete).toBe(true);
  forgetHistoryIndex();
}

describe('the history index agrees with the journals', () => {
  it('built from the journals when missing, and as written', async () => {
    await history();
    await agrees();
    await indexWritten();
    await agrees();
    expect(expected('a').open).toHaveLength(1);
    expect(expected('b').open).toHaveLength(1);
  });

  it('two runs of one second: the one that started later is the newest, whatever the random part of their ids', async () => {
    // Started first, but its id sorts last within the second.
    await write(runId(5, 'ffffff'), [started('a'), step, finished('done')]);
    const later = await write(runId(5, '000000'), [started('a'), step, finished('done')]);
    const { last, lastDone } = await lastRuns(stateDir, 'a');
    expect(last?.run).toBe(later);
    expect(lastDone?.run).toBe(later);
    expect(await lastFinished(stateDir, 'a')).toMatchObject({ run: later, result: 'done' });
  });

  it('a journal added after the index was written (a run killed before any reader saw it) is found', async () => {
    await history();
    await indexWritten();
    const added = await write(runId(), [started('a'), step]);
    expect(await openRunsOf(stateDir, 'a')).toContain(added);
    await agrees();
  });

  it('an unfinished run that finished after the index was written is read again: no longer open, now the last done', async () => {
    await history();
    const run = runId();
    const journal = new Journal(stateDir, run);
    await journal.append(started('a'));
    await indexWritten();
    expect(await openRunsOf(stateDir, 'a')).toContain(run);
    forgetHistoryIndex();
    await journal.append(finished('done'));
    expect(await openRunsOf(stateDir, 'a')).not.toContain(run);
    expect((await lastRuns(stateDir, 'a')).lastDone?.run).toBe(run);
    await journal.close();
    await agrees();
  });

  it('a journal removed after the index was written: rebuilt without it', async () => {
    await history();
    await indexWritten();
    const newestDoneOfB = expected('b').lastDone!.run;
    unlinkSync(journalFile(stateDir, newestDoneOfB));
    // As status asks (no fingerprints of finished runs compared): only the runs folder tells of the removal.
    expect((await lastRunsOf(stateDir, ['b'])).get('b')?.lastDone).toBeUndefined();
    await agrees();
  });

  it("the credential's done run altered after it was indexed: the engine reads it again and no longer counts it", async () => {
    await history();
    await indexWritten();
    const run = expected('b').lastDone!.run;
    const file = journalFile(stateDir, run);
    const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
    // The run.finished line cut off: the journal now says the run never ended.
    writeFileSync(file, `${lines.slice(0, -1).join('\n')}\n`);
    const { lastDone, last } = await lastRuns(stateDir, 'b');
    expect(lastDone?.run).not.toBe(run);
    expect(last).toMatchObject({ run, result: 'interrupted' });
    expect(await openRunsOf(stateDir, 'b')).toContain(run);
  });
});

describe('an index file that cannot be trusted is rebuilt, never believed', () => {
  /** The file's seal line and its JSON. */
  function split(file: string): [string, string] {
    const text = readFileSync(file, 'utf8');
    return [text.slice(0, text.indexOf('\n')), text.slice(text.indexOf('\n') + 1)];
  }

  /** The index rewritten by hand (seal kept): it claims b's unfinished run finished done. */
  function forge(file: string): void {
    const [mac, json] = split(file);
    const data = JSON.parse(json) as {
      credentials: Record<string, { open: Record<string, string>; lastDone?: string; last?: string }>;
      runs: Record<string, Record<string, unknown>>;
    };
    const b = data.credentials['b']!;
    const open = Object.keys(b.open)[0]!;
    b.open = {};
    b.lastDone = open;
    b.last = open;
    data.runs[open] = { run: open, credential: 'b', mode: 'scheduled', runbook: 'sandbox', startedAt: '2027-01-01T00:00:00.000Z', result: 'done', fp: '' };
    writeFileSync(file, `${mac}\n${JSON.stringify(data)}`);
  }

  it('tampered (a run made to look done, the seal left as it was): rebuilt from the journals', async () => {
    await history();
    await indexWritten();
    forge(indexFile(stateDir));
    expect(readIndexFile(stateDir).problem).toBe('its seal does not match');
    await agrees();
  });

  it('tampered and its seal removed, where this machine has a chain key: rebuilt', async () => {
    await history();
    await indexWritten();
    const file = indexFile(stateDir);
    forge(file);
    const data = JSON.parse(split(file)[1]) as Record<string, unknown>;
    data['key'] = null;
    writeFileSync(file, `-\n${JSON.stringify(data)}`);
    expect(readIndexFile(stateDir).problem).toBe('not sealed, where this machine has a chain key');
    await agrees();
  });

  it('truncated (a half-written file) or empty: rebuilt, and written whole again', async () => {
    await history();
    await indexWritten();
    const file = indexFile(stateDir);
    truncateSync(file, Math.floor(readFileSync(file).length / 2));
    // The seal covers the whole text, so a cut shows there first.
    expect(readIndexFile(stateDir).problem).toBe('its seal does not match');
    await agrees();
    await lastRunsOf(stateDir, ['a'], { write: 'changed' });
    expect(readIndexFile(stateDir).problem).toBeUndefined();
    writeFileSync(file, '');
    forgetHistoryIndex();
    await agrees();
  });

  it('of another version: rebuilt', async () => {
    await history();
    await indexWritten();
    const [mac] = split(indexFile(stateDir));
    writeFileSync(indexFile(stateDir), `${mac}\n${JSON.stringify({ v: 2 })}`);
    await agrees();
  });
});

describe('a run being resumed', () => {
  it('is open from its mark on, before its run.resumed is written, and a reader that read the index earlier cannot drop the mark', async () => {
    const run = await write(runId(), [started('a'), step, finished('rolled-back')]);
    await indexWritten();
    expect(await openRunsOf(stateDir, 'a')).toEqual([]);
    // A reader has read the index (before the mark) and is about to write back what it learned.
    const before = readIndexFile(stateDir);
    markResuming(stateDir, run);
    expect(writeIndexIfUnchanged(stateDir, before.body!, before.id)).toBeUndefined();
    forgetHistoryIndex();
    // The journal still says rolled back (the record is not written yet): the mark holds, for this reader and the next.
    expect(await openRunsOf(stateDir, 'a')).toEqual([run]);
    await lastRunsOf(stateDir, ['a'], { write: 'changed' });
    forgetHistoryIndex();
    expect(await openRunsOf(stateDir, 'a')).toEqual([run]);
    // The record lands: the journal changed since the mark, so the mark goes and the journal speaks.
    await appendOnce(run, resumed);
    expect(await openRunsOf(stateDir, 'a')).toEqual([run]);
    expect(Object.keys(readIndexFile(stateDir).body!.marks)).toEqual([run]);
    await lastRunsOf(stateDir, ['a'], { write: 'changed' });
    expect(readIndexFile(stateDir).body!.marks).toEqual({});
    expect(await answers('a')).toEqual(expected('a'));
  });

  it('is marked even when there is no index yet, and a rebuild keeps the mark until the journal changes', async () => {
    const run = await write(runId(), [started('a'), step, finished('rolled-back')]);
    markResuming(stateDir, run);
    expect(readIndexFile(stateDir).body).toMatchObject({ complete: false, marks: { [run]: { credential: 'a' } } });
    expect(await openRunsOf(stateDir, 'a')).toEqual([run]);
  });

  it('Journal.append marks the run before the run.resumed record is written', async () => {
    const run = await write(runId(), [started('a'), step, finished('rolled-back')]);
    await indexWritten();
    const journal = new Journal(stateDir, run);
    await journal.append(resumed);
    await journal.close();
    // The mark was taken against the journal as it was before the record.
    const mark = readIndexFile(stateDir).body!.marks[run];
    expect(mark?.credential).toBe('a');
    expect(await openRunsOf(stateDir, 'a')).toEqual([run]);
  });
});
