/**
 * Mistakes found before a run starts, on the BUILT CLI: exit 2 (bad input or configuration), no stack trace, nothing
 * minted, no lock or journal written.
 * - A state folder that cannot be created (stateDir under a regular file, the default `.rekey` taken by a file, a
 *   folder this user may not write): the config file, the line of stateDir where there is one, and the path.
 * - An answers file for `rekey rotate` that cannot answer a step (yes where the key is asked for): refused before
 *   the run, as `rekey drill` does, not half-way through it.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { type Sandbox, startSandbox } from '../../src/sandbox/server.js';
import { ROOT, envText, rekeyIn, removeWorkspaces, show, workspace, type CliResult } from './helpers.js';

const sandboxes: Sandbox[] = [];
afterEach(async () => {
  await Promise.all(sandboxes.splice(0).map((s) => s.close()));
});
afterAll(() => removeWorkspaces());

async function sandbox(): Promise<Sandbox> {
  const s = await startSandbox({ overlap: 'until-revoked' });
  sandboxes.push(s);
  return s;
}

function expectBadInput(result: CliResult): void {
  expect(result.code, show(result)).toBe(2);
  expect(result.stderr).not.toMatch(/internal error|^\s+at /m);
  expect(result.stdout).toBe('');
}

describe('a state folder that cannot be created', () => {
  it('the default .rekey is a file: exit 2 naming rekey.yaml, the path and stateDir, and the .env untouched', async () => {
    const s = await sandbox();
    const ws = workspace({ sandbox: s });
    writeFileSync(ws.stateDir, 'not a folder\n');
    const result = await rekeyIn(ws, ['rotate', ws.credential]);
    expectBadInput(result);
    expect(result.stderr).toContain('rekey.yaml');
    expect(result.stderr).toContain('.rekey is a file, not a folder');
    expect(result.stderr).toContain('hint: set  stateDir: <folder>');
    expect(readFileSync(ws.envFile, 'utf8')).toBe(envText(ws.seed));
    expect(s.stats.minted).toBe(1);
  });

  it('stateDir under a regular file: exit 2 at the line and column of stateDir', async () => {
    const s = await sandbox();
    const ws = workspace({ sandbox: s });
    writeFileSync(join(ws.dir, 'plain-file'), '');
    writeFileSync(ws.config, `stateDir: ./plain-file/state\n${readFileSync(ws.config, 'utf8')}`);
    const result = await rekeyIn(ws, ['rotate', ws.credential]);
    expectBadInput(result);
    expect(result.stderr).toMatch(/^rekey: rekey\.yaml:1:11: stateDir: cannot create the state folder plain-file\/state: plain-file is a file, not a folder$/m);
    expect(result.stderr).toContain('hint: point stateDir at a folder rekey can create and write');
    expect(readFileSync(ws.envFile, 'utf8')).toBe(envText(ws.seed));
  });

  // Root writes whatever the modes say: test/e2e/tamper.test.ts makes the same fault with a read-only bind mount.
  it.skipIf(process.getuid?.() === 0)(
    'stateDir in a folder this user may not write: exit 5 (environment), permission denied, at the line of stateDir',
    async () => {
      const s = await sandbox();
      const ws = workspace({ sandbox: s });
      const locked = join(ws.dir, 'locked');
      mkdirSync(locked, { mode: 0o500 });
      writeFileSync(ws.config, `stateDir: ./locked/state\n${readFileSync(ws.config, 'utf8')}`);
      try {
        const result = await rekeyIn(ws, ['rotate', ws.credential]);
        expect(result.code, show(result)).toBe(5);
        expect(result.stderr).toMatch(
          /cannot create or write the state folder \(stateDir at \S*rekey\.yaml:1:11\) locked\/state: permission denied \(EACCES\)/,
        );
      } finally {
        chmodSync(locked, 0o700);
      }
    },
  );
});

describe('rekey rotate --answers', () => {
  it('refuses before the run an answers file that says yes where the new key is asked for', async () => {
    const s = await sandbox();
    const ws = workspace({ sandbox: s, runbooks: join(ROOT, 'test/fixtures/bad-input/runbooks') });
    writeFileSync(
      ws.config,
      readFileSync(ws.config, 'utf8')
        .replace('runbook: sandbox', 'runbook: prompted')
        .replace(/ {4}inputs:\n(?: {6}.*\n)+/, ''),
    );
    const answers = join(ws.dir, 'answers.yaml');
    writeFileSync(answers, 'paste: yes\nrevoked: yes\n');
    const result = await rekeyIn(ws, ['rotate', ws.credential, '--answers', answers]);
    expectBadInput(result);
    expect(result.stderr).toContain('a key must come from the environment');
    expect(result.stderr).toContain('paste: { env: NEW_KEY }');
    expect(existsSync(join(ws.stateDir, 'runs'))).toBe(false);
    expect(readFileSync(ws.envFile, 'utf8')).toBe(envText(ws.seed));
  });
});
