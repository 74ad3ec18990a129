import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { appendAudit, verifyAudit, auditFile } from '../../src/engine/audit-log.js';
import { ChainWriter, nodeFileOps, readChain, verifyChain, type ChainFileOps } from '../../src/engine/chain.js';
import { Secret } from '../../src/contract/secret.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'rekey-chain-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const entry = (phase: string) => ({ credential: 'c', run: 'r', mode: 'scheduled', phase, result: 'done' as const, fingerprints: { old: 'aaaa', new: 'bbbb' } });

describe('hash-chained journal and audit log', () => {
  it('appends records that chain to each other, in a 0600 file', () => {
    const writer = new ChainWriter(join(dir, 'j.jsonl'));
    writer.append({ type: 'a' });
    writer.append({ type: 'b' });
    const records = readChain(join(dir, 'j.jsonl'));
    expect(records.map((r) => r.seq)).toEqual([1, 2]);
    expect(records[1]!.prev).toBe(records[0]!.hash);
    expect(verifyChain(records)).toBeUndefined();
    expect(statSync(join(dir, 'j.jsonl')).mode & 0o777).toBe(0o600);
  });

  it('a reopened writer continues the chain', () => {
    new ChainWriter(join(dir, 'j.jsonl')).append({ type: 'a' });
    new ChainWriter(join(dir, 'j.jsonl')).append({ type: 'b' });
    expect(verifyChain(readChain(join(dir, 'j.jsonl')))).toBeUndefined();
  });

  it('ignores a torn last line left by a crash mid-write', () => {
    const file = join(dir, 'j.jsonl');
    new ChainWriter(file).append({ type: 'a' });
    writeFileSync(file, `${readFileSync(file, 'utf8')}{"seq":2,"at":"2026-`, { flag: 'w' });
    expect(readChain(file)).toHaveLength(1);
  });

  it('after a crash mid-write, the next append starts on its own line: the torn fragment is cut off', () => {
    const file = join(dir, 'j.jsonl');
    const writer = new ChainWriter(file);
    writer.append({ type: 'a' });
    writer.append({ type: 'b' });
    writeFileSync(file, `${readFileSync(file, 'utf8')}{"seq":3,"at":"2026-`, { flag: 'w' });
    new ChainWriter(file).append({ type: 'c' });
    const records = readChain(file);
    expect(records.map((r) => [r.seq, r['type']])).toEqual([
      [1, 'a'],
      [2, 'b'],
      [3, 'c'],
    ]);
    expect(verifyChain(records)).toBeUndefined();
    expect(readFileSync(file, 'utf8').endsWith('}\n')).toBe(true);
  });

  it('a complete last record that only lacks its newline is kept, and the chain goes on from it', () => {
    const file = join(dir, 'j.jsonl');
    new ChainWriter(file).append({ type: 'a' });
    writeFileSync(file, readFileSync(file, 'utf8').replace(/\n$/, ''));
    new ChainWriter(file).append({ type: 'b' });
    const records = readChain(file);
    expect(records.map((r) => r['type'])).toEqual(['a', 'b']);
    expect(verifyChain(records)).toBeUndefined();
  });

  it('appends from several processes at once keep one chain (the audit lock; the built module, as the CLI runs it)', async () => {
    const { spawn } = await import('node:child_process');
    const script = `const { appendAudit } = await import(${JSON.stringify(new URL('../../dist/src/engine/audit-log.js', import.meta.url).href)});
const entry = { credential: process.argv[2], run: 'r', mode: 'scheduled', phase: 'verify', result: 'done' };
for (let i = 0; i < 150; i++) await appendAudit(process.argv[1], entry);`;
    const writers = ['a', 'b', 'c'].map(
      (tag) =>
        new Promise<number | null>((done) => spawn(process.execPath, ['--input-type=module', '-e', script, dir, tag], { stdio: 'inherit' }).on('close', done)),
    );
    expect(await Promise.all(writers)).toEqual([0, 0, 0]);
    expect(verifyAudit(dir)).toEqual({ ok: true, records: 450 });
    expect(readChain(auditFile(dir)).filter((r) => r['credential'] === 'b')).toHaveLength(150);
  });

  it('refuses to write a record that holds a known secret value (I3)', () => {
    const value = new Secret('rk_canary_JOURNAL_00112233445566');
    const writer = new ChainWriter(join(dir, 'j.jsonl'));
    expect(() => writer.append({ type: 'oops', value: value.reveal() })).toThrow(/refusing to write a secret/);
    expect(readChain(join(dir, 'j.jsonl'))).toHaveLength(0);
  });

  it('audit verify names the first altered record', async () => {
    for (const phase of ['generate', 'rollout', 'verify']) await appendAudit(dir, entry(phase));
    expect(verifyAudit(dir)).toEqual({ ok: true, records: 3 });
    const lines = readFileSync(auditFile(dir), 'utf8').split('\n');
    lines[1] = lines[1]!.replace('"bbbb"', '"cccc"');
    writeFileSync(auditFile(dir), lines.join('\n'));
    const result = verifyAudit(dir);
    expect(result).toMatchObject({ ok: false, seq: 2 });
  });

  it('audit verify catches records removed from the middle and from the end', async () => {
    for (const phase of ['generate', 'rollout', 'verify', 'revoke']) await appendAudit(dir, entry(phase));
    const lines = readFileSync(auditFile(dir), 'utf8').trimEnd().split('\n');
    writeFileSync(auditFile(dir), `${[lines[0], lines[2], lines[3]].join('\n')}\n`);
    expect(verifyAudit(dir)).toMatchObject({ ok: false, seq: 3 });
    writeFileSync(auditFile(dir), `${lines.slice(0, 3).join('\n')}\n`);
    const cut = verifyAudit(dir);
    expect(cut.ok).toBe(false);
    expect(cut.ok === false && cut.problem).toMatch(/removed from the end/);
  });
});

/** The real file operations, counting fsyncs; `fail` makes the writes of the groups it names fail as a full disk. */
function countingOps(fail: (write: number) => boolean = () => false) {
  const counts = { fsyncs: 0, writes: 0 };
  const ops: ChainFileOps = {
    ...nodeFileOps,
    writeSync: (fd, data) => {
      counts.writes++;
      if (fail(counts.writes)) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
      return nodeFileOps.writeSync(fd, data);
    },
    fsyncSync: (fd) => {
      counts.fsyncs++;
      nodeFileOps.fsyncSync(fd);
    },
  };
  return { ops, counts };
}

describe('appends off the event loop, grouped (issue 10)', () => {
  it('the disk work runs on the thread pool: the event loop turns while an append is on its way to the disk', async () => {
    const writer = new ChainWriter(join(dir, 'j.jsonl'));
    let turned = false;
    setImmediate(() => {
      turned = true;
    });
    const appending = writer.appendAsync({ type: 'a' });
    expect(turned).toBe(false);
    const record = await appending;
    // The synchronous append would have written, fsynced and returned before the loop turned once.
    expect(turned).toBe(true);
    expect(record.seq).toBe(1);
    expect(readChain(join(dir, 'j.jsonl')).map((r) => r.seq)).toEqual([1]);
    await writer.close();
  });

  it('appends made while a write is under way go in one group: one write and one fsync for all of them, in order', async () => {
    const { ops, counts } = countingOps();
    const writer = new ChainWriter(join(dir, 'j.jsonl'), 0o600, undefined, ops);
    const records = await Promise.all(Array.from({ length: 40 }, (_, i) => writer.appendAsync({ type: `r${i}` })));
    expect(records.map((r) => r.seq)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    expect(records.map((r) => r['type'])).toEqual(Array.from({ length: 40 }, (_, i) => `r${i}`));
    // Made together, they go in one write.
    expect(counts).toEqual({ fsyncs: 1, writes: 1 });
    // Made while that write is under way: the next write takes all of them.
    const first = writer.appendAsync({ type: 'first' });
    await new Promise((resolve) => setImmediate(resolve));
    const later = await Promise.all([first, ...Array.from({ length: 10 }, (_, i) => writer.appendAsync({ type: `later${i}` }))]);
    expect(later.map((r) => r.seq)).toEqual(Array.from({ length: 11 }, (_, i) => i + 41));
    expect(counts).toEqual({ fsyncs: 3, writes: 3 });
    const onDisk = readChain(join(dir, 'j.jsonl'));
    expect(onDisk).toEqual([...records, ...later]);
    expect(verifyChain(onDisk)).toBeUndefined();
  });

  it('a record that need not be durable waits for no fsync of its own; a durable one in its group carries it', async () => {
    const { ops, counts } = countingOps();
    const writer = new ChainWriter(join(dir, 'j.jsonl'), 0o600, undefined, ops);
    await writer.appendAsync({ type: 'a' }, { durable: false });
    expect(counts.fsyncs).toBe(0);
    await Promise.all([writer.appendAsync({ type: 'b' }, { durable: false }), writer.appendAsync({ type: 'c' })]);
    expect(counts.fsyncs).toBe(1);
  });

  it('a group the disk refuses: each of its appends fails naming the file, the file is cut back, and later appends chain on', async () => {
    // The second write (the group of the 2nd to 5th appends) finds the disk full.
    const { ops } = countingOps((write) => write === 2);
    const file = join(dir, 'j.jsonl');
    const writer = new ChainWriter(file, 0o600, undefined, ops);
    await writer.appendAsync({ type: 'r0' });
    const settled = await Promise.allSettled(Array.from({ length: 4 }, (_, i) => writer.appendAsync({ type: `r${i + 1}` })));
    expect(settled.map((s) => s.status)).toEqual(['rejected', 'rejected', 'rejected', 'rejected']);
    for (const s of settled) expect(s.status === 'rejected' && String(s.reason)).toContain(`cannot append a record to ${file}: the disk is full`);
    expect(readChain(file).map((r) => r['type'])).toEqual(['r0']);
    const next = await writer.appendAsync({ type: 'after' });
    expect(next.seq).toBe(2);
    expect(verifyChain(readChain(file))).toBeUndefined();
  });

  it('audit records of many runs at once: one chain, one take of the lock and one fsync per group, the head at the last', async () => {
    const { ops, counts } = countingOps();
    const records = await Promise.all(Array.from({ length: 30 }, (_, i) => appendAudit(dir, { ...entry('verify'), run: `run-${i}` }, ops)));
    expect(records.map((r) => r.seq)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    expect(records.map((r) => r['run'])).toEqual(Array.from({ length: 30 }, (_, i) => `run-${i}`));
    expect(counts).toEqual({ fsyncs: 1, writes: 1 });
    expect(verifyAudit(dir)).toEqual({ ok: true, records: 30 });
    expect(JSON.parse(readFileSync(join(dir, 'audit.head'), 'utf8'))).toMatchObject({ seq: 30, hash: records[29]!.hash });
  });
});

describe('the file kept open between groups', () => {
  it('is closed by close(), after the pending appends are written, and opened again by the next append', async () => {
    const { ops, counts } = countingOps();
    const opens = { n: 0, closes: 0 };
    const counted: ChainFileOps = {
      ...ops,
      openSync: (path, flags, mode) => {
        opens.n++;
        return ops.openSync(path, flags, mode);
      },
      closeSync: (fd) => {
        opens.closes++;
        ops.closeSync(fd);
      },
    };
    const file = join(dir, 'j.jsonl');
    const writer = new ChainWriter(file, 0o600, undefined, counted);
    for (let i = 0; i < 5; i++) await writer.appendAsync({ type: `r${i}` });
    // Five groups, one after another: one open, and the file still open.
    expect(opens).toEqual({ n: 1, closes: 0 });
    const pending = writer.appendAsync({ type: 'last' });
    await writer.close();
    expect((await pending).seq).toBe(6);
    expect(opens).toEqual({ n: 1, closes: 1 });
    expect((await writer.appendAsync({ type: 'after close' })).seq).toBe(7);
    await writer.close();
    expect(opens).toEqual({ n: 2, closes: 2 });
    expect(counts.fsyncs).toBe(7);
    expect(readChain(file).map((r) => r.seq)).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });
});
