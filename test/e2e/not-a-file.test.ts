/**
 * A rekey.yaml or a runbook that is not a regular file: a FIFO no one writes to, or a link to a device (a cloned
 * repository may hold `rekey.yaml -> /dev/zero`). Each read would wait, or run, forever (the config cache hashes the
 * file before anything else reads it); each is bad input instead: exit 2, the file named, no stack trace.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { rekey, show } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'rekey-not-a-file-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const env = { XDG_CACHE_HOME: join(dir, 'cache') };

/** A folder for one case, its rekey.yaml made by `make`. */
function folder(name: string, make: (config: string, at: string) => void): string {
  const at = join(dir, name);
  mkdirSync(at);
  make(join(at, 'rekey.yaml'), at);
  return at;
}

describe('a config or runbook that is not a regular file', () => {
  it.each([
    ['a link to /dev/zero', (config: string) => symlinkSync('/dev/zero', config)],
    ['a FIFO', (config: string) => execFileSync('mkfifo', [config])],
  ])('rekey.yaml as %s is bad input (exit 2), not a wait', async (name, make) => {
    const cwd = folder(name.replaceAll(/\W/g, '-'), make);
    const result = await rekey(['status'], { cwd, env });
    expect(result.code, show(result)).toBe(2);
    expect(result.stderr).toContain('rekey.yaml: not a regular file');
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  it('a runbook that is a FIFO is bad input (exit 2), naming it', async () => {
    const cwd = folder('runbook-fifo', (config, at) => {
      mkdirSync(join(at, 'runbooks'));
      execFileSync('mkfifo', [join(at, 'runbooks', 'mine.yaml')]);
      writeFileSync(join(at, '.env'), 'KEY=abc\n', { mode: 0o600 });
      writeFileSync(config, ['runbooks: [./runbooks]', 'credentials:', '  app:', '    runbook: mine', '    stores: [{ dotenv: ./.env#KEY }]', ''].join('\n'));
    });
    const result = await rekey(['status'], { cwd, env });
    expect(result.code, show(result)).toBe(2);
    expect(result.stderr).toMatch(/runbooks\/mine\.yaml: not a regular file/);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });
});
