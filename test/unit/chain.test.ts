import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { appendAudit, verifyAudit, auditFile } from '../../src/engine/audit-log.js';
import { ChainWriter, readChain, verifyChain } from '../../src/engine/chain.js';
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
for (let i = 0; i < 150; i++) appendAudit(process.argv[1], { credential: process.argv[2], run: 'r', mode: 'scheduled', phase: 'verify', result: 'done' });`;
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

  it('audit verify names the first altered record', () => {
    for (const phase of ['generate', 'rollout', 'verify']) appendAudit(dir, entry(phase));
    expect(verifyAudit(dir)).toEqual({ ok: true, records: 3 });
    const lines = readFileSync(auditFile(dir), 'utf8').split('\n');
    lines[1] = lines[1]!.replace('"bbbb"', '"cccc"');
    writeFileSync(auditFile(dir), lines.join('\n'));
    const result = verifyAudit(dir);
    expect(result).toMatchObject({ ok: false, seq: 2 });
  });

  it('audit verify catches records removed from the middle and from the end', () => {
    for (const phase of ['generate', 'rollout', 'verify', 'revoke']) appendAudit(dir, entry(phase));
    const lines = readFileSync(auditFile(dir), 'utf8').trimEnd().split('\n');
    writeFileSync(auditFile(dir), `${[lines[0], lines[2], lines[3]].join('\n')}\n`);
    expect(verifyAudit(dir)).toMatchObject({ ok: false, seq: 3 });
    writeFileSync(auditFile(dir), `${lines.slice(0, 3).join('\n')}\n`);
    const cut = verifyAudit(dir);
    expect(cut.ok).toBe(false);
    expect(cut.ok === false && cut.problem).toMatch(/removed from the end/);
  });
});
