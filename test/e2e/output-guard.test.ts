/**
 * The output guard (src/cli/output-guard.ts) gathers what is written to a stdout that is not a terminal and writes it
 * once a turn of the event loop. Nothing may be lost or reordered by that: not what is written just before an
 * immediate process.exit(), not a write with a callback between gathered ones, not 200 KiB written in one turn; and
 * every write is still redacted. Run in a child whose stdout is a pipe, as a scheduler's is.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, runNode } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'rekey-output-guard-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const CANARY = 'rk_canary_OUTPUTGUARD_7f3a9c2e1b';

async function child(body: string) {
  const file = join(dir, `child-${Math.random().toString(36).slice(2)}.mjs`);
  const url = (path: string) => pathToFileURL(join(ROOT, 'dist/src', path)).href;
  writeFileSync(
    file,
    [
      `import { installOutputGuard } from '${url('cli/output-guard.js')}';`,
      `import { redactor } from '${url('contract/redactor.js')}';`,
      `redactor.add(${JSON.stringify(CANARY)});`,
      'installOutputGuard();',
      body,
    ].join('\n'),
  );
  return runNode([file], { cwd: dir });
}

describe('output guard on a piped stdout', () => {
  it('writes everything gathered before an immediate process.exit, in order', async () => {
    const result = await child(
      `for (let i = 0; i < 50; i++) process.stdout.write('line ' + i + '\\n'); process.stdout.write(Buffer.from('bytes\\n')); process.exit(3);`,
    );
    expect(result.code).toBe(3);
    expect(result.stdout).toBe(`${Array.from({ length: 50 }, (_, i) => `line ${i}\n`).join('')}bytes\n`);
  });

  it('keeps the order around a write with a callback, and across turns of the event loop', async () => {
    const result = await child(
      [
        "process.stdout.write('a\\n');",
        "process.stdout.write('b\\n', () => process.stdout.write('d\\n'));",
        "setTimeout(() => process.stdout.write('e\\n'), 20);",
        "process.stdout.write('c\\n');",
      ].join('\n'),
    );
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('a\nb\nc\nd\ne\n');
  });

  it('200 KiB in one turn arrives whole', async () => {
    const result = await child(`const line = 'x'.repeat(1023) + '\\n'; for (let i = 0; i < 200; i++) process.stdout.write(line);`);
    expect(result.stdout.length).toBe(200 * 1024);
    expect(result.stdout.split('\n').filter((l) => l !== '' && l.length !== 1023)).toEqual([]);
  });

  it('redacts what it gathers, and what goes to stderr', async () => {
    const result = await child(`process.stdout.write('key ${CANARY}\\n'); process.stderr.write('err ${CANARY}\\n');`);
    expect(result.stdout).toMatch(/^key \[redacted/);
    expect(result.stderr).toMatch(/^err \[redacted/);
    expect(result.stdout + result.stderr).not.toContain(CANARY.slice(-20));
  });
});
