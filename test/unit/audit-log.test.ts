/**
 * The audit log's append path reads only the log's tail and moves the head cheaply, without giving up what the
 * head is for: records cut off the end are caught once the head has been written, a head that lags (a crash between
 * a record and its head) is not a false alarm, and the chain still verifies after appending to a long log.
 */
import fs, { appendFileSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { appendAudit, auditFile, checkAuditAppendable, syncAuditHead, verifyAudit } from '../../src/engine/audit-log.js';
import { ChainWriter, GENESIS, hashRecord, lastRecord, nodeFileOps, readChain, verifyChain, type ChainedRecord } from '../../src/engine/chain.js';
import { AuditLogBrokenError, ExitCode, RefusedError, StateFileError } from '../../src/contract/errors.js';
import { JsonlEnds } from '../../src/engine/jsonl-files.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'rekey-audit-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const entry = (phase: string, detail?: string) => ({
  credential: 'api',
  run: '20260101T000000Z-abcdef',
  mode: 'scheduled',
  phase,
  result: 'done' as const,
  fingerprints: { old: 'aaaa', new: 'bbbb' },
  ...(detail === undefined ? {} : { detail }),
});
const headOf = (stateDir: string) => JSON.parse(readFileSync(join(stateDir, 'audit.head'), 'utf8')) as { seq: number; hash: string };

/** A valid chained log of `count` records, written in one go (no fsync), as a long-lived state folder holds. */
function longLog(stateDir: string, count: number): ChainedRecord {
  const lines: string[] = [];
  let prev = GENESIS;
  let last: ChainedRecord | undefined;
  for (let seq = 1; seq <= count; seq++) {
    const body = { seq, at: new Date(Date.UTC(2025, 0, 1) + seq * 60_000).toISOString(), who: 'ops@host', ...entry('verify'), prev };
    prev = hashRecord(body);
    last = { ...body, hash: prev };
    lines.push(JSON.stringify(last));
  }
  writeFileSync(auditFile(stateDir), `${lines.join('\n')}\n`, { mode: 0o600 });
  writeFileSync(join(stateDir, 'audit.head'), `${JSON.stringify({ seq: last!.seq, hash: last!.hash })}\n`, { mode: 0o600 });
  return last!;
}

/** Bytes read through fs.readSync and fs.readFileSync while `fn` runs (rekey imports them by name from node:fs). */
async function bytesRead(fn: () => unknown): Promise<number> {
  const { readSync, readFileSync: readWhole } = fs;
  let bytes = 0;
  fs.readSync = ((...args: Parameters<typeof readSync>) => {
    const n = readSync(...args);
    bytes += n;
    return n;
  }) as typeof readSync;
  fs.readFileSync = ((...args: Parameters<typeof readWhole>) => {
    const out = readWhole(...args);
    bytes += out.length;
    return out;
  }) as typeof readWhole;
  syncBuiltinESMExports();
  try {
    await fn();
  } finally {
    fs.readSync = readSync;
    fs.readFileSync = readWhole;
    syncBuiltinESMExports();
  }
  return bytes;
}

describe('appending to a long audit log', () => {
  it('chains to the last record and verifies, reading only the tail of a multi-megabyte log', async () => {
    const last = longLog(dir, 8_000);
    const size = statSync(auditFile(dir)).size;
    expect(size).toBeGreaterThan(2_000_000);
    let record: ChainedRecord | undefined;
    const read = await bytesRead(async () => {
      record = await appendAudit(dir, entry('audit'));
    });
    expect(record).toMatchObject({ seq: 8_001, prev: last.hash });
    // A few kB at most, whatever the log's length (the whole log is over 2 MB).
    expect(read).toBeLessThan(64 * 1024);
    // The counter sees whole-file reads (so the bound above is no accident of the measurement).
    expect(await bytesRead(() => readChain(auditFile(dir)))).toBeGreaterThanOrEqual(size);
    expect(verifyAudit(dir)).toEqual({ ok: true, records: 8_001 });
    expect(headOf(dir)).toMatchObject({ seq: 8_001, hash: record!.hash });
  });

  it('finds the last whole record behind a torn last line, exactly as reading the whole log would', () => {
    const last = longLog(dir, 200);
    appendFileSync(auditFile(dir), '{"seq":201,"at":"2026-');
    expect(lastRecord(auditFile(dir))).toEqual(last);
    expect(readChain(auditFile(dir)).at(-1)).toEqual(last);
  });

  it('an unparsable line before the last is damage, as readChain says', () => {
    longLog(dir, 3);
    const lines = readFileSync(auditFile(dir), 'utf8').trimEnd().split('\n');
    lines[1] = '{not json';
    writeFileSync(auditFile(dir), `${lines.join('\n')}\n{"torn`);
    expect(() => readChain(auditFile(dir))).toThrow(/not valid JSON/);
    expect(() => lastRecord(auditFile(dir))).not.toThrow();
    lines[2] = '{also not json';
    writeFileSync(auditFile(dir), `${lines.join('\n')}\n{"torn`);
    expect(() => lastRecord(auditFile(dir))).toThrow(/not valid JSON/);
  });
});

describe('the audit head', () => {
  it('moves with every record, so that cutting records off the end after a run is caught', async () => {
    for (const phase of ['generate', 'rollout', 'verify', 'revoke', 'audit', 'run']) await appendAudit(dir, entry(phase));
    await syncAuditHead(dir);
    expect(verifyAudit(dir)).toEqual({ ok: true, records: 6 });
    expect(headOf(dir).seq).toBe(6);
    const lines = readFileSync(auditFile(dir), 'utf8').trimEnd().split('\n');
    writeFileSync(auditFile(dir), `${lines.slice(0, 4).join('\n')}\n`);
    const cut = verifyAudit(dir);
    expect(cut.ok).toBe(false);
    expect(cut.ok === false && cut.problem).toMatch(/records 5 to 6 were removed from the end/);
    // Replacing the last record by another one of the same number is caught too.
    writeFileSync(auditFile(dir), `${lines.slice(0, 5).join('\n')}\n`);
    new ChainWriter(auditFile(dir)).append({ who: 'mallory', ...entry('run', 'forged') });
    expect(verifyAudit(dir)).toMatchObject({ ok: false, seq: 6, problem: 'the last record (6) was replaced' });
  });

  it('is never ahead of the log: after each append it names the record just made durable', async () => {
    for (let i = 0; i < 5; i++) {
      const record = await appendAudit(dir, entry(`phase-${i}`));
      expect(headOf(dir)).toMatchObject({ seq: record.seq, hash: record.hash });
      expect(readChain(auditFile(dir)).at(-1)).toEqual(record);
    }
    // No temporary file is left beside it, and both files are private.
    expect(readdirSync(dir).sort()).toEqual(['audit.head', 'audit.jsonl']);
    expect(statSync(join(dir, 'audit.head')).mode & 0o777).toBe(0o600);
    expect(statSync(auditFile(dir)).mode & 0o777).toBe(0o600);
  });

  it('a head that lags (a crash before it moved) is not a false alarm, and the next append moves it on', async () => {
    await appendAudit(dir, entry('generate'));
    const stale = readFileSync(join(dir, 'audit.head'), 'utf8');
    await appendAudit(dir, entry('rollout'));
    writeFileSync(join(dir, 'audit.head'), stale);
    expect(verifyAudit(dir)).toEqual({ ok: true, records: 2 });
    // An empty head (a rename that reached the disk before its content) reads as no head, not as damage.
    writeFileSync(join(dir, 'audit.head'), '');
    expect(verifyAudit(dir)).toEqual({ ok: true, records: 2 });
    const third = await appendAudit(dir, entry('verify'));
    expect(headOf(dir)).toMatchObject({ seq: 3, hash: third.hash });
    expect(third.prev).toBe(readChain(auditFile(dir))[1]!.hash);
    expect(verifyAudit(dir)).toEqual({ ok: true, records: 3 });
  });

  it('chains from the log, not from the head, when the head lags behind it', async () => {
    await appendAudit(dir, entry('generate'));
    const stale = readFileSync(join(dir, 'audit.head'), 'utf8');
    const second = await appendAudit(dir, entry('rollout'));
    writeFileSync(join(dir, 'audit.head'), stale);
    const third = await appendAudit(dir, entry('verify'));
    expect(third).toMatchObject({ seq: 3, prev: second.hash });
    expect(verifyChain(readChain(auditFile(dir)))).toBeUndefined();
  });

  it('syncAuditHead is a no-op without a head, and leaves the head as it was', async () => {
    await expect(syncAuditHead(dir)).resolves.toBeUndefined();
    await appendAudit(dir, entry('generate'));
    const before = readFileSync(join(dir, 'audit.head'), 'utf8');
    await syncAuditHead(dir);
    expect(readFileSync(join(dir, 'audit.head'), 'utf8')).toBe(before);
  });

  it('truncating the log to nothing after a run is caught', async () => {
    await appendAudit(dir, entry('generate'));
    await appendAudit(dir, entry('run'));
    await syncAuditHead(dir);
    truncateSync(auditFile(dir), 0);
    expect(verifyAudit(dir)).toMatchObject({ ok: false, seq: 1, problem: 'records 1 to 2 were removed from the end' });
  });
});

describe('reading a JSON-lines file by its ends', () => {
  // Lines of every size around the chunk size (8 kB), blank lines, CRLF-free whitespace and multi-byte text.
  const sizes = [0, 1, 10, 300, 4_095, 8_191, 8_192, 8_193, 16_384, 20_000];
  const line = (seq: number, size: number) => JSON.stringify({ seq, text: 'é€'.repeat(Math.floor(size / 5)) + 'x'.repeat(size % 5) });

  it('finds the same first and last lines as splitting the whole file, for lines on either side of a chunk edge', () => {
    let cases = 0;
    for (const a of sizes) {
      for (const b of sizes) {
        for (const ending of ['', '\n', '\n\n  \n']) {
          const file = join(dir, `f-${cases++}.jsonl`);
          const text = `\n  \n${line(1, a)}\n${line(2, b)}\n\n${line(3, (a + b) % 9_000)}${ending}`;
          writeFileSync(file, text);
          const expected = text.split('\n').filter((l) => l.trim() !== '');
          const ends = JsonlEnds.open(file)!;
          try {
            expect(ends.firstLine()).toBe(expected[0]);
            const seen: string[] = [];
            ends.fromEnd((l) => void seen.push(l));
            expect(seen).toEqual([...expected].reverse());
            const firstTwo: string[] = [];
            ends.fromEnd((l) => firstTwo.push(l) >= 2);
            expect(firstTwo).toEqual(expected.slice(-2).reverse());
          } finally {
            ends.close();
          }
          expect(lastRecord(file)).toEqual(readChain(file).at(-1));
        }
      }
    }
  });

  it('a missing file has no ends, an empty one no lines', () => {
    expect(JsonlEnds.open(join(dir, 'missing.jsonl'))).toBeUndefined();
    expect(lastRecord(join(dir, 'missing.jsonl'))).toBeUndefined();
    writeFileSync(join(dir, 'empty.jsonl'), '\n \n');
    const ends = JsonlEnds.open(join(dir, 'empty.jsonl'))!;
    expect(ends.firstLine()).toBeUndefined();
    const seen: string[] = [];
    ends.fromEnd((l) => void seen.push(l));
    expect(seen).toEqual([]);
    ends.close();
  });
});

describe('a cut or altered audit log is not extended (defect 9)', () => {
  const cutLast = () => {
    const lines = readFileSync(auditFile(dir), 'utf8').trimEnd().split('\n');
    writeFileSync(auditFile(dir), `${lines.slice(0, -1).join('\n')}\n`);
  };

  it('cutting the last record, then appending: refused (exit 3), and audit verify still reports the cut', async () => {
    for (const phase of ['generate', 'rollout', 'verify']) await appendAudit(dir, entry(phase));
    cutLast();
    const cut = readFileSync(auditFile(dir), 'utf8');
    await expect(appendAudit(dir, entry('revoke'))).rejects.toThrow(AuditLogBrokenError);
    await expect(appendAudit(dir, entry('revoke'))).rejects.toThrow(
      `the audit log ${auditFile(dir)} was altered (line 3: record 3 was removed from the end); rekey will not add records to it`,
    );
    expect(() => checkAuditAppendable(dir)).toThrow(AuditLogBrokenError);
    // Nothing was written: the cut stays visible.
    expect(readFileSync(auditFile(dir), 'utf8')).toBe(cut);
    expect(verifyAudit(dir)).toMatchObject({ ok: false, seq: 3, line: 3, problem: 'record 3 was removed from the end' });
  });

  it('the same error for the engine to check before anything is minted, exit 3', async () => {
    await appendAudit(dir, entry('generate'));
    expect(() => checkAuditAppendable(dir)).not.toThrow();
    truncateSync(auditFile(dir), 0);
    let thrown: unknown;
    try {
      checkAuditAppendable(dir);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(RefusedError);
    expect((thrown as RefusedError).exitCode).toBe(ExitCode.refused);
  });

  it("a cut log with its head rewritten to match: the head's seal gives it away", async () => {
    for (const phase of ['generate', 'rollout', 'verify']) await appendAudit(dir, entry(phase));
    cutLast();
    const second = readChain(auditFile(dir))[1]!;
    writeFileSync(join(dir, 'audit.head'), `${JSON.stringify({ seq: 2, hash: second.hash })}\n`);
    expect(verifyAudit(dir)).toMatchObject({
      ok: false,
      seq: 2,
      problem: 'audit.head is not sealed though record 2 it names is: it was written by someone without the chain key',
    });
    await expect(appendAudit(dir, entry('revoke'))).rejects.toThrow(AuditLogBrokenError);
    writeFileSync(join(dir, 'audit.head'), `${JSON.stringify({ seq: 2, hash: second.hash, key: second.key, mac: 'ab'.repeat(32) })}\n`);
    expect(verifyAudit(dir)).toMatchObject({
      ok: false,
      problem: 'audit.head carries a seal that does not match it: it was written by someone without the chain key',
    });
  });

  it('a record forged onto the end with its plain hash recomputed: audit verify names it', async () => {
    for (const phase of ['generate', 'rollout']) await appendAudit(dir, entry(phase));
    const last = readChain(auditFile(dir)).at(-1)!;
    const body = { seq: 3, at: new Date().toISOString(), who: 'mallory', ...entry('run', 'forged'), prev: last.hash };
    appendFileSync(auditFile(dir), `${JSON.stringify({ ...body, hash: hashRecord(body) })}\n`);
    expect(verifyAudit(dir)).toMatchObject({
      ok: false,
      seq: 3,
      problem: 'record 3 is not sealed though the records before it are: it was added by someone without the chain key',
    });
  });
});

describe('a damaged audit log or a disk that will not take it (defect 10)', () => {
  it('a damaged middle line: verify names the line instead of throwing', async () => {
    for (const phase of ['generate', 'rollout', 'verify', 'revoke']) await appendAudit(dir, entry(phase));
    const lines = readFileSync(auditFile(dir), 'utf8').split('\n');
    lines[1] = '{"seq":2,"at":"2026-01-0';
    writeFileSync(auditFile(dir), lines.join('\n'));
    expect(verifyAudit(dir)).toEqual({ ok: false, seq: 2, line: 2, problem: 'the line is not valid JSON: the file was damaged or edited there' });
  });

  it('ENOSPC while appending: a StateFileError naming audit.jsonl, the log unchanged', async () => {
    await appendAudit(dir, entry('generate'));
    const before = readFileSync(auditFile(dir), 'utf8');
    const full = {
      ...nodeFileOps,
      writeSync: () => {
        throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
      },
    };
    await expect(appendAudit(dir, entry('rollout'), full)).rejects.toThrow(StateFileError);
    await expect(appendAudit(dir, entry('rollout'), full)).rejects.toThrow(`cannot append a record to ${auditFile(dir)}: the disk is full (ENOSPC)`);
    expect(readFileSync(auditFile(dir), 'utf8')).toBe(before);
    expect(verifyAudit(dir)).toEqual({ ok: true, records: 1 });
  });

  it('a state folder that is a file: a StateFileError, not an internal error', async () => {
    const file = join(dir, 'state');
    writeFileSync(file, 'x');
    await expect(appendAudit(file, entry('generate'))).rejects.toThrow(
      `cannot create the state folder ${file}: a file is in the way where a folder should be (EEXIST)`,
    );
  });
});
