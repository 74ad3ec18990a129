/** `policy.lastRotated` in rekey.yaml: a date or an ISO time, checked; a bad one is bad input at its file:line:col. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { rekey, show } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'rekey-last-rotated-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function config(lastRotated: string): string {
  const file = join(dir, 'rekey.yaml');
  writeFileSync(
    file,
    [
      'credentials:',
      '  app:',
      '    runbook: sandbox',
      '    inputs: { baseUrl: "http://127.0.0.1:9", account: a }',
      '    stores: [{ dotenv: ./.env#KEY }]',
      '    policy:',
      '      maxAge: 90d',
      `      lastRotated: ${lastRotated}`,
      '',
    ].join('\n'),
  );
  writeFileSync(join(dir, '.env'), 'KEY=abc\n', { mode: 0o600 });
  return file;
}

describe('policy.lastRotated', () => {
  it.each([
    ['2026-02-30', 'rekey.yaml:8:20', '"2026-02-30" is not a date'],
    ['"last tuesday"', 'rekey.yaml:8:20', '"last tuesday" is not a date'],
    ['2099-01-01', 'rekey.yaml:8:20', '2099-01-01 is in the future'],
  ])('%s is refused with exit 2 at its position', async (value, at, says) => {
    const result = await rekey(['status', '--config', config(value)], { cwd: dir, env: { XDG_CACHE_HOME: join(dir, 'cache') } });
    expect(result.code, show(result)).toBe(2);
    expect(result.stderr).toContain(`${at}: credentials.app.policy.lastRotated: ${says}`);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  it('a time with its offset is read as that instant', async () => {
    const result = await rekey(['--json', 'status', '--config', config('"2026-10-02T10:00:00+02:00"')], {
      cwd: dir,
      env: { XDG_CACHE_HOME: join(dir, 'cache') },
    });
    expect(result.code, show(result)).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ writtenAt: '2026-10-02T08:00:00.000Z', ageSource: 'policy.lastRotated' });
  });
});
