/**
 * The programmatic API's status() of two configs at once: each config's describers' cache holds that config's `.env`
 * files only (the describers' memory is the process's, so the two statuses take turns), and both answer right.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { status } from '../../src/api.js';

let root: string;
let savedXdg: string | undefined;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'rekey-status-api-'));
  savedXdg = process.env['XDG_CACHE_HOME'];
  process.env['XDG_CACHE_HOME'] = join(root, 'cache');
  // A file is kept only when read well after its change time: the clock is moved a minute on instead (Date only).
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(Date.now() + 60_000);
});
afterEach(() => {
  vi.useRealTimers();
  if (savedXdg === undefined) delete process.env['XDG_CACHE_HOME'];
  else process.env['XDG_CACHE_HOME'] = savedXdg;
  rmSync(root, { recursive: true, force: true });
});

/** A folder with a rekey.yaml naming `variable` of its own .env, which holds `variable` and `other`. */
function project(name: string, variable: string, other: string): { config: string; env: string } {
  const dir = mkdtempSync(join(root, `${name}-`));
  const env = join(dir, '.env');
  writeFileSync(env, `${variable}=value-of-${name}\n${other}=unnamed-${name}\n`, { mode: 0o600 });
  const config = join(dir, 'rekey.yaml');
  writeFileSync(
    config,
    [
      'credentials:',
      `  ${name}:`,
      '    runbook: sandbox',
      '    inputs: { baseUrl: "http://127.0.0.1:9", account: a }',
      `    stores: [{ dotenv: ./.env#${variable} }]`,
      '',
    ].join('\n'),
  );
  return { config, env };
}

describe('status() of two configs at once', () => {
  it("keeps each config's .env files in its own cache, and only the variables it names", async () => {
    const a = project('alpha', 'A_KEY', 'B_KEY');
    const b = project('beta', 'B_KEY', 'A_KEY');
    const [rowsA, rowsB] = await Promise.all([status({ config: a.config }), status({ config: b.config })]);
    expect(rowsA.map((r) => [r.credential, r.ageNotes])).toEqual([['alpha', [expect.objectContaining({ problem: 'keeps no date' })]]]);
    expect(rowsB.map((r) => [r.credential, r.ageNotes])).toEqual([['beta', [expect.objectContaining({ problem: 'keeps no date' })]]]);
    const folder = join(root, 'cache', 'rekey');
    const kept = readdirSync(folder)
      .filter((name) => name.startsWith('describe-'))
      .map((name) => JSON.parse(readFileSync(join(folder, name), 'utf8')) as { kinds: { dotenv: Record<string, { variables: object }> } });
    expect(kept).toHaveLength(2);
    const byFile = kept.map((file) => Object.entries(file.kinds.dotenv).map(([path, entry]) => [path, Object.keys(entry.variables)]));
    expect(byFile).toEqual(expect.arrayContaining([[[a.env, ['A_KEY']]], [[b.env, ['B_KEY']]]]));
  });
});
