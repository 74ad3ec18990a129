/**
 * Two credentials kept in one .env, rotated at the same time, on the BUILT CLI: by two `rekey rotate` processes, and
 * by one `rekey rotate a b` (two runs in one process). Both runs finish done, neither rolls back, the file ends with
 * both new keys and every other byte as it was, and no lock, staging or temporary file is left beside it.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { type Sandbox, startSandbox } from '../../src/sandbox/server.js';
import { rekey, show, workspace, removeWorkspaces } from './helpers.js';

const sandboxes: Sandbox[] = [];
afterEach(async () => {
  await Promise.all(sandboxes.splice(0).map((s) => s.close()));
});
afterAll(() => removeWorkspaces());

/** A folder with one .env holding KEY_A and KEY_B, and a rekey.yaml with one credential for each. */
async function sharedEnv(): Promise<{ dir: string; env: string; seeds: { a: string; b: string }; text: (a: string, b: string) => string }> {
  const s = await startSandbox({ overlap: 'until-revoked' });
  sandboxes.push(s);
  const { dir, config, envFile } = workspace({ sandbox: s });
  const seeds = { a: s.mintKey('acct-a'), b: s.mintKey('acct-b') };
  const text = (a: string, b: string) =>
    ['# two credentials, one file', 'export APP=shared', `KEY_A=${a}`, '', "MIDDLE='kept as is'", `KEY_B=${b}  # second`, 'LAST=1', ''].join('\n');
  writeFileSync(envFile, text(seeds.a, seeds.b), { mode: 0o600 });
  const credential = (id: string, account: string, variable: string) => [
    `  ${id}:`,
    '    runbook: sandbox',
    '    inputs:',
    `      baseUrl: ${s.url}`,
    `      account: ${account}`,
    '    stores:',
    `      - dotenv: ./.env#${variable}`,
  ];
  writeFileSync(config, ['credentials:', ...credential('cred-a', 'acct-a', 'KEY_A'), ...credential('cred-b', 'acct-b', 'KEY_B'), ''].join('\n'));
  return { dir, env: envFile, seeds, text };
}

function values(env: string): { a: string; b: string } {
  const text = readFileSync(env, 'utf8');
  return { a: /^KEY_A=(\S*)$/m.exec(text)![1]!, b: /^KEY_B=(\S*)  # second$/m.exec(text)![1]! };
}

const leftovers = (dir: string) => readdirSync(dir).filter((f) => /rekey-(lock|staged|previous|tmp)|\.tmp$/.test(f));

describe('two credentials in one .env, rotated at the same time', () => {
  it('by two processes: both done, no rollback, both keys new, the other lines byte-identical', async () => {
    const { dir, env, seeds, text } = await sharedEnv();
    // Three rounds in a row: past the 10-minute guard (src/engine/recent.ts), which this test is not about.
    for (let round = 0; round < 3; round++) {
      const before = values(env);
      const [a, b] = await Promise.all([
        rekey(['rotate', 'cred-a', '--allow-recent'], { cwd: dir }),
        rekey(['rotate', 'cred-b', '--allow-recent'], { cwd: dir }),
      ]);
      expect(a.code, show(a)).toBe(0);
      expect(b.code, show(b)).toBe(0);
      for (const result of [a, b]) expect(`${result.stdout}${result.stderr}`).not.toMatch(/changed while rekey|rolled back/);
      const after = values(env);
      expect(after.a).not.toBe(before.a);
      expect(after.b).not.toBe(before.b);
      expect(readFileSync(env, 'utf8')).toBe(text(after.a, after.b));
      expect(leftovers(dir)).toEqual([]);
    }
    expect(values(env).a).not.toBe(seeds.a);
  });

  it('by one process rotating both (two runs at once): both done, both keys new', async () => {
    const { dir, env, seeds, text } = await sharedEnv();
    const result = await rekey(['rotate', 'cred-a', 'cred-b', '--concurrency', '2'], { cwd: dir });
    expect(result.code, show(result)).toBe(0);
    const after = values(env);
    expect(after.a).not.toBe(seeds.a);
    expect(after.b).not.toBe(seeds.b);
    expect(readFileSync(env, 'utf8')).toBe(text(after.a, after.b));
    expect(leftovers(dir)).toEqual([]);
  });
});
