/**
 * A journal is checked before anyone acts on it (defect 8), and a journal or disk that fails reads as what it is
 * (defect 10): forged records, whether their plain hashes were recomputed or not, are refused naming the first one;
 * a damaged line names its line and leaves other runs readable; a full disk or a runs folder that is a file is a
 * StateFileError, not an internal error. Journals are written here by the real writer, killed (in effect) after
 * verify, then forged as someone who can write `.rekey/` but cannot read the chain key would forge them.
 */
import { createHash, randomBytes } from 'node:crypto';
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { chainKeyFile, checkingKey } from '../../src/engine/chain-key.js';
import { GENESIS, nodeFileOps, type ChainFileOps } from '../../src/engine/chain.js';
import { allRuns, lastRunsOf } from '../../src/engine/history.js';
import { Journal, journalFile, readJournal, readVerifiedJournal, verifyJournal, type JournalEvent } from '../../src/engine/journal.js';
import { newRunId } from '../../src/engine/run-id.js';
import { ExitCode, JournalBrokenError, RefusedError, StateFileError } from '../../src/contract/errors.js';

let stateDir: string;
beforeEach(() => {
  stateDir = mkdtempSync(join(tmpdir(), 'rekey-journal-'));
});
afterEach(() => rmSync(stateDir, { recursive: true, force: true }));

const started = (credential = 'api'): JournalEvent => ({
  type: 'run.started',
  credential,
  runbook: 'sandbox',
  overlap: 'until-revoked',
  mode: 'scheduled',
  pid: 1,
  host: 'h',
});
const step = (phase: string, id: string): JournalEvent[] => [
  { type: 'step.started', phase, step: id },
  { type: 'step.done', phase, step: id, ms: 3 },
];

/** A run killed right after verify passed: generate, roll out and verify done; revoke not begun. */
async function killedAfterVerify(credential = 'api'): Promise<string> {
  const run = newRunId();
  const journal = new Journal(stateDir, run);
  for (const event of [started(credential), ...step('generate', 'mint'), ...step('rollout', 'promote:0'), ...step('verify', 'verify:whoami')])
    await journal.append(event);
  await journal.close();
  return run;
}

/** One record appended to a run's journal by a writer of its own, closed after it. */
async function appendOnce(run: string, event: JournalEvent): Promise<void> {
  const journal = new Journal(stateDir, run);
  await journal.append(event);
  await journal.close();
}

/** What a forger appends: `step.done` for revoke and verify-revoked, so that resume goes straight on to retire. */
const forgedSteps = [
  { type: 'step.done', phase: 'revoke', step: 'revoke:revoke-old', ms: 2 },
  { type: 'step.done', phase: 'revoke', step: 'verify-revoked:old-rejected', ms: 2 },
];

/** Append records to a journal as a forger would: plain SHA-256 recomputed (as the format is public) or not. */
function forge(run: string, records: readonly Record<string, unknown>[], options: { recompute: boolean; fakeSeal?: boolean }): void {
  const file = journalFile(stateDir, run);
  const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
  let last = JSON.parse(lines.at(-1)!) as { seq: number; hash: string; key?: string };
  for (const fields of records) {
    const body: Record<string, unknown> = { seq: last.seq + 1, at: new Date().toISOString(), ...fields, prev: last.hash };
    // A forger who copies the key id from the records before cannot compute the seal: a random one stands in.
    if (options.fakeSeal === true) Object.assign(body, { key: last.key, mac: randomBytes(32).toString('hex') });
    const hash = options.recompute ? createHash('sha256').update(JSON.stringify(body)).digest('hex') : 'f'.repeat(64);
    appendFileSync(file, `${JSON.stringify({ ...body, hash })}\n`);
    last = { seq: body['seq'] as number, hash, ...(last.key === undefined ? {} : { key: last.key }) };
  }
}

function refusal(run: string): JournalBrokenError {
  try {
    readVerifiedJournal(stateDir, run);
  } catch (error) {
    expect(error).toBeInstanceOf(JournalBrokenError);
    return error as JournalBrokenError;
  }
  throw new Error(`the journal of ${run} was trusted`);
}

describe('a forged journal is refused before anyone acts on it (defect 8)', () => {
  it("an honest journal reads, sealed with this machine's chain key kept outside the state folder", async () => {
    const run = await killedAfterVerify();
    const records = readVerifiedJournal(stateDir, run);
    expect(records.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    const key = checkingKey()!;
    expect(records.every((r) => r.key === key.id && typeof r.mac === 'string')).toBe(true);
    // The key lives in the config folder (the test's XDG_CONFIG_HOME), 0600, never under the state folder.
    expect(key.source).toBe(chainKeyFile());
    expect(chainKeyFile().startsWith(stateDir)).toBe(false);
    expect(statSync(chainKeyFile()).mode & 0o777).toBe(0o600);
    expect(readFileSync(journalFile(stateDir, run), 'utf8')).not.toContain(key.secret.toString('base64'));
  });

  it('forged step.done records whose hashes were not recomputed: refused (exit 3), naming record 8', async () => {
    const run = await killedAfterVerify();
    forge(run, forgedSteps, { recompute: false });
    const error = refusal(run);
    expect(error).toBeInstanceOf(RefusedError);
    expect(error.exitCode).toBe(ExitCode.refused);
    expect(error).toMatchObject({ run, seq: 8, line: 8 });
    expect(error.message).toContain(`run ${run}: its journal`);
    expect(error.message).toMatch(/line 8 \(record 8\): record 8 was altered after it was written; rekey will not act on it/);
  });

  it('forged step.done records with plain hashes recomputed: refused, the seal is missing where rekey seals', async () => {
    const run = await killedAfterVerify();
    forge(run, forgedSteps, { recompute: true });
    // The plain chain alone would pass them: the forger recomputed every hash.
    expect(refusal(run)).toMatchObject({
      seq: 8,
      problem: 'record 8 is not sealed though the records before it are: it was added by someone without the chain key',
    });
  });

  it('forged records that copy the key id and make up a seal: refused, the seal does not match', async () => {
    const run = await killedAfterVerify();
    forge(run, forgedSteps, { recompute: true, fakeSeal: true });
    expect(refusal(run)).toMatchObject({
      seq: 8,
      problem: 'record 8 carries a seal that does not match it: it was written or altered by someone without the chain key',
    });
  });

  it('a whole journal rewritten unsealed (hashes recomputed) for a run begun after the key was made: refused', async () => {
    const run = await killedAfterVerify();
    const file = journalFile(stateDir, run);
    let prev = GENESIS;
    const lines = readFileSync(file, 'utf8')
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    const rewritten = [
      ...lines.map(({ key: _k, mac: _m, hash: _h, ...rest }) => rest),
      ...forgedSteps.map((f, i) => ({ seq: lines.length + 1 + i, at: '2020-01-01T00:00:00.000Z', ...f })),
    ].map((body) => {
      // Back-dated, as a forger would, to pass for records of a rekey that did not seal yet.
      const record: Record<string, unknown> = { ...body, at: '2020-01-01T00:00:00.000Z', prev };
      prev = createHash('sha256').update(JSON.stringify(record)).digest('hex');
      return JSON.stringify({ ...record, hash: prev });
    });
    writeFileSync(file, `${rewritten.join('\n')}\n`);
    // The run's id says when it began: after this machine began sealing, so its records must be sealed.
    expect(refusal(run)).toMatchObject({
      seq: 1,
      problem: expect.stringMatching(/^record 1 is not sealed, though rekey has sealed every record on this machine since /),
    });
  });

  it('a journal written by an older rekey (unsealed, before the key existed) still reads, and continues sealed', async () => {
    const run = '20200101T000000Z-0a0b0c';
    let prev = GENESIS;
    const old = [started(), ...step('generate', 'mint')].map((event, i) => {
      const body = { seq: i + 1, at: new Date(Date.UTC(2020, 0, 1) + i * 1000).toISOString(), ...event, prev };
      prev = createHash('sha256').update(JSON.stringify(body)).digest('hex');
      return JSON.stringify({ ...body, hash: prev });
    });
    mkdirSync(join(stateDir, 'runs'), { recursive: true });
    writeFileSync(journalFile(stateDir, run), `${old.join('\n')}\n`);
    if (checkingKey() === undefined) await appendOnce(newRunId(), started());
    expect(readVerifiedJournal(stateDir, run)).toHaveLength(3);
    await appendOnce(run, { type: 'run.resumed', pid: 2 });
    const records = readVerifiedJournal(stateDir, run);
    expect(records.map((r) => r.mac === undefined)).toEqual([true, true, true, false]);
  });

  it('a journal sealed with another key (another machine, or REKEY_CHAIN_KEY) is refused, naming the key', async () => {
    const run = await killedAfterVerify();
    const before = process.env['REKEY_CHAIN_KEY'];
    process.env['REKEY_CHAIN_KEY'] = 'k'.repeat(40);
    try {
      expect(refusal(run).problem).toMatch(
        /^record 1 is sealed with chain key [0-9a-f]{16}, not with this machine's \([0-9a-f]{16}, from REKEY_CHAIN_KEY\): it cannot be checked here$/,
      );
    } finally {
      if (before === undefined) delete process.env['REKEY_CHAIN_KEY'];
      else process.env['REKEY_CHAIN_KEY'] = before;
    }
  });

  it('Journal.records(), which resume reads today, refuses a forged journal too', async () => {
    const run = await killedAfterVerify();
    forge(run, forgedSteps, { recompute: true });
    expect(() => new Journal(stateDir, run).records()).toThrow(JournalBrokenError);
  });
});

describe('a damaged journal names its line and leaves other runs alone (defect 10)', () => {
  it('a damaged middle line: refused for acting, the readable records for looking, the other runs unaffected', async () => {
    const damaged = await killedAfterVerify('api');
    const other = await killedAfterVerify('db');
    await appendOnce(other, { type: 'run.finished', result: 'done' });
    const file = journalFile(stateDir, damaged);
    const lines = readFileSync(file, 'utf8').split('\n');
    lines[3] = '{"seq":4,"at":"2026-';
    writeFileSync(file, lines.join('\n'));

    expect(refusal(damaged)).toMatchObject({ line: 4, problem: 'the line is not valid JSON: the file was damaged or edited there' });
    expect(verifyJournal(stateDir, damaged)).toMatchObject({ ok: false, line: 4, records: expect.any(Array) });
    expect(readJournal(stateDir, damaged).map((r) => r.seq)).toEqual([1, 2, 3]);
    expect(() => new Journal(stateDir, damaged)).not.toThrow();

    const runs = allRuns(stateDir);
    expect(runs.find((r) => r.run === damaged)).toMatchObject({
      credential: 'api',
      result: 'damaged',
      damaged: 'line 4: the line is not valid JSON: the file was damaged or edited there',
    });
    expect(runs.find((r) => r.run === other)).toMatchObject({ credential: 'db', result: 'done', damaged: undefined });
    const last = await lastRunsOf(stateDir, ['api', 'db']);
    expect(last.get('api')).toMatchObject({ last: { run: damaged, result: 'damaged' }, lastDone: undefined });
    expect(last.get('db')).toMatchObject({ last: { run: other }, lastDone: { run: other } });
  });

  it('a forged run.finished done never makes a credential look freshly rotated', async () => {
    const run = await killedAfterVerify();
    forge(run, [...forgedSteps, { type: 'run.finished', result: 'done' }], { recompute: true });
    expect((await lastRunsOf(stateDir, ['api'])).get('api')).toMatchObject({ lastDone: undefined, last: { run, result: 'damaged' } });
  });
});

describe('a journal the disk will not take is an environment fault, not a bug (defect 10)', () => {
  /** File operations whose writes fail as a full disk's do once `disk.left` bytes are written (a short write first). */
  function fillingDisk(disk: { left: number }): ChainFileOps {
    return {
      ...nodeFileOps,
      writeSync(fd, data) {
        if (disk.left <= 0) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -28, syscall: 'write' });
        const n = Math.min(disk.left, data.length);
        disk.left -= n;
        return nodeFileOps.writeSync(fd, data.subarray(0, n));
      },
    };
  }

  it('ENOSPC mid-record: a StateFileError naming the journal and "the disk is full", and no half line left', async () => {
    const run = newRunId();
    const disk = { left: Infinity };
    const journal = new Journal(stateDir, run, fillingDisk(disk));
    await journal.append(started());
    const before = readFileSync(journalFile(stateDir, run), 'utf8');
    // Room for 50 bytes of the next record: it is half written when the disk says no.
    disk.left = 50;
    let thrown: unknown;
    try {
      await journal.append({ type: 'step.started', phase: 'generate', step: 'mint' });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(StateFileError);
    const error = thrown as StateFileError;
    expect(error.exitCode).toBe(ExitCode.environment);
    expect(error.code).toBe('ENOSPC');
    expect(error.message).toBe(`cannot append a record to ${journalFile(stateDir, run)}: the disk is full (ENOSPC)`);
    expect(error.hint).toMatch(/^free some space on that disk, then run the command again/);
    // The half-written line was cut back: the journal is as it was before the failed append, and still verifies.
    expect(readFileSync(journalFile(stateDir, run), 'utf8')).toBe(before);
    expect(verifyJournal(stateDir, run).ok).toBe(true);
    // Once there is room again, the same writer goes on with the next record number.
    disk.left = Infinity;
    expect((await journal.append({ type: 'step.started', phase: 'generate', step: 'mint' })).seq).toBe(2);
    expect(verifyJournal(stateDir, run)).toMatchObject({ ok: true, records: [{ seq: 1 }, { seq: 2 }] });
    await journal.close();
  });

  it('a runs folder that is a regular file: a StateFileError naming it, not an internal error', () => {
    writeFileSync(join(stateDir, 'runs'), 'not a folder\n');
    expect(() => new Journal(stateDir, newRunId())).toThrow(StateFileError);
    expect(() => new Journal(stateDir, newRunId())).toThrow(
      `cannot create the runs folder ${join(stateDir, 'runs')}: a file is in the way where a folder should be (EEXIST)`,
    );
    // Looking finds no runs there; writing one says why not.
    expect(allRuns(stateDir)).toEqual([]);
  });
});
