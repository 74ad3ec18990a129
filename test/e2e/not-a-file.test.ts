/**
 * A rekey.yaml or a runbook that is not a regular file: a FIFO no one writes to, or a link to a device (a cloned
 * repository may hold `rekey.yaml -> /dev/zero`). Each read would wait, or run, forever (the config cache hashes the
 * file before anything else reads it); each is bad input instead: exit 2, the file named, no stack trace. In the state
 * folder, such a file is tampering: a journal or the audit log that is one is damaged, a history index is rebuilt.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { rekey, rekeyIn, removeWorkspaces, sandboxPool, show, workspace } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'rekey-not-a-file-'));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  removeWorkspaces();
});
const sandbox = sandboxPool();
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

describe('a state file that is not a regular file (a link to /dev/zero put in .rekey)', () => {
  it('status answers (the index is rebuilt), log and audit verify name the damage, none waits', async () => {
    const ws = workspace({ sandbox: await sandbox({ overlap: 'until-revoked' }) });
    const rotated = await rekeyIn(ws, ['rotate', ws.credential], { env });
    expect(rotated.code, show(rotated)).toBe(0);
    const runs = join(ws.stateDir, 'runs');
    const run = readdirSync(runs)[0]!.replace(/\.jsonl$/, '');
    for (const file of [join(runs, `${run}.jsonl`), join(ws.stateDir, 'history-index.json'), join(ws.stateDir, 'audit.jsonl')]) {
      rmSync(file, { force: true });
      symlinkSync('/dev/zero', file);
    }
    const status = await rekeyIn(ws, ['--json', 'status'], { env });
    expect(status.code, show(status)).toBe(0);
    const log = await rekeyIn(ws, ['log', run], { env });
    expect(log.stdout + log.stderr).toContain(`${run}.jsonl:1: not a regular file`);
    const audit = await rekeyIn(ws, ['audit', 'verify'], { env });
    expect(audit.code, show(audit)).toBe(1);
    expect(audit.stdout + audit.stderr).toContain('not a regular file');
  }, 30_000);

  it('a lock or audit.head that is one: status names the lock, rotate exits 5 naming it, audit verify answers', async () => {
    const ws = workspace({ sandbox: await sandbox({ overlap: 'until-revoked' }) });
    const rotated = await rekeyIn(ws, ['rotate', ws.credential], { env });
    expect(rotated.code, show(rotated)).toBe(0);
    rmSync(join(ws.stateDir, 'audit.head'), { force: true });
    symlinkSync('/dev/zero', join(ws.stateDir, 'audit.head'));
    const audit = await rekeyIn(ws, ['audit', 'verify'], { env });
    expect([0, 1], show(audit)).toContain(audit.code);
    mkdirSync(join(ws.stateDir, 'locks'), { recursive: true });
    const lock = join(ws.stateDir, 'locks', `${ws.credential}.lock`);
    symlinkSync('/dev/zero', lock);
    const status = await rekeyIn(ws, ['status'], { env });
    expect(status.code, show(status)).toBe(0);
    expect(status.stdout).toContain(`cannot read the lock ${lock} (ENOTREGULAR)`);
    const again = await rekeyIn(ws, ['rotate', ws.credential, '--allow-recent'], { env });
    expect(again.code, show(again)).toBe(5);
    expect(again.stderr).toContain(`${lock} is not a regular file`);
    expect(again.stderr).not.toMatch(/internal error|\n\s+at /);
  }, 30_000);
});
