/**
 * The command line's conventions, run through the built CLI: a usage error speaks as every other rekey error does
 * (`rekey: …`, a hint, exit 2; an `error` event with --json), every command's --help lists the global options and
 * examples, and the errors that used to come without a location (or with the wrong exit code) now name it.
 * Expected texts are written from the inputs, never copied from rekey's output.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, rekey, show } from './helpers.js';

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** A folder with the given files (name → text). */
function folder(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'rekey-usage-'));
  dirs.push(dir);
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

describe('usage errors in rekey style', () => {
  const cases: Array<{ args: string[]; says: string; hint: string }> = [
    { args: ['rotat'], says: "unknown command 'rotat'", hint: 'did you mean rotate?' },
    { args: ['rotate', '--bogus'], says: "unknown option '--bogus'", hint: '`rekey rotate --help`' },
    { args: ['drill', 'app', '--budge', '5m'], says: "unknown option '--budge'", hint: 'did you mean --budget?' },
    { args: ['plan'], says: "missing required argument 'credential'", hint: '`rekey plan --help`' },
    { args: ['audit', 'bogus'], says: "unknown command 'bogus'", hint: '`rekey audit --help`' },
    { args: ['schedule', '--format', 'crontab'], says: "argument 'crontab' is invalid", hint: '`rekey schedule --help`' },
    { args: ['completion', 'powershell'], says: "'powershell' is invalid", hint: '`rekey completion --help`' },
  ];
  for (const c of cases)
    it(`rekey ${c.args.join(' ')}: exit 2, "rekey: ${c.says}" and a hint`, async () => {
      const result = await rekey(c.args, { cwd: tmpdir() });
      expect(result.code, show(result)).toBe(2);
      const lines = result.stderr.split('\n');
      expect(lines[0], show(result)).toBe(`rekey: ${lines[0]!.slice('rekey: '.length)}`);
      expect(lines[0]).toContain(c.says);
      expect(lines[1]).toMatch(/^ {2}hint: /);
      expect(lines[1]).toContain(c.hint);
      expect(result.stderr).not.toMatch(/^error: /m);
      expect(result.stdout).toBe('');
    });

  it('with --json a usage error is one error event on stdout, code 2, and nothing on stderr', async () => {
    const result = await rekey(['--json', 'rotate', '--bogus'], { cwd: tmpdir() });
    expect(result.code, show(result)).toBe(2);
    expect(result.stderr).toBe('');
    const events = result.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(events).toEqual([{ event: 'error', code: 2, message: "unknown option '--bogus'", hint: 'see `rekey rotate --help`' }]);
  });

  it('--help and --version still exit 0', async () => {
    for (const args of [['--help'], ['rotate', '--help'], ['--version']]) {
      const result = await rekey(args, { cwd: tmpdir() });
      expect(result.code, show(result)).toBe(0);
    }
  });
});

/** The subcommands listed in the "Commands:" section of a help text (commander's own `help` left out). */
function commandsOf(help: string): string[] {
  const section = help.split('\nCommands:\n')[1];
  if (section === undefined) return [];
  const names: string[] = [];
  for (const line of section.split('\n')) {
    if (line.trim() === '') break;
    const match = /^ {2}([a-z][a-z-]*)\b/.exec(line);
    if (match !== null && match[1] !== 'help') names.push(match[1]!);
  }
  return names;
}

describe('--help of every command', () => {
  it('lists the global options and two or three examples, for every command and subcommand', async () => {
    const seen: string[] = [];
    const visit = async (path: string[]): Promise<void> => {
      const result = await rekey([...path, '--help'], { cwd: tmpdir() });
      expect(result.code, show(result)).toBe(0);
      const name = ['rekey', ...path].join(' ');
      seen.push(name);
      expect(result.stdout, name).toMatch(/\n {2}--config <file> /);
      expect(result.stdout, name).toMatch(/\n {2}--json /);
      const examples = result.stdout.split('\nExamples:\n')[1];
      expect(examples, `${name} has no Examples: section`).toBeDefined();
      const lines = examples!.split('\n').filter((line) => line.startsWith('  $ '));
      expect(lines.length, `${name}: ${lines.join(' | ')}`).toBeGreaterThanOrEqual(path.length === 0 ? 2 : 1);
      expect(lines.length).toBeLessThanOrEqual(3);
      // Each example runs the command it documents (the top level's may show any).
      for (const line of lines) if (path.length > 0) expect(line, name).toContain(path.join(' '));
      for (const sub of commandsOf(result.stdout)) await visit([...path, sub]);
    };
    await visit([]);
    // The walk found the commands through the help texts: make sure it did walk (a broken parse would see none).
    expect(seen).toEqual(expect.arrayContaining(['rekey drill', 'rekey runbook show', 'rekey config schema', 'rekey completion']));
  }, 120_000);
});

const SANDBOX_CREDENTIAL = [
  '  app:',
  '    runbook: sandbox',
  '    inputs: { baseUrl: "http://127.0.0.1:9" }',
  '    stores:',
  '      - dotenv: .env#SANDBOX_API_KEY',
  '',
];

describe('errors that name their place', () => {
  it('a missing runbook file is reported at the rekey.yaml line that names it', async () => {
    const dir = folder({ 'rekey.yaml': ['credentials:', '  app:', '    stores: [{ dotenv: .env#KEY }]', '    runbook: ./runbooks/gone.yaml', ''].join('\n') });
    const result = await rekey(['plan', 'app'], { cwd: dir });
    expect(result.code, show(result)).toBe(2);
    // line 4, column 14: the value after "    runbook: ".
    expect(result.stderr).toMatch(/^rekey: rekey\.yaml:4:14: .*runbooks\/gone\.yaml/);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  it('--config naming a folder says so (exit 2), and points at the rekey.yaml inside it', async () => {
    const dir = folder({ 'ops/rekey.yaml': ['credentials:', ...SANDBOX_CREDENTIAL].join('\n') });
    const result = await rekey(['plan', 'app', '--config', 'ops'], { cwd: dir });
    expect(result.code, show(result)).toBe(2);
    expect(result.stderr).toContain('ops is a folder');
    expect(result.stderr).toContain('--config ops/rekey.yaml');
    expect(result.stderr).not.toContain('(EISDIR)');
    const empty = await rekey(['plan', 'app', '--config', '.'], { cwd: folder({}) });
    expect(empty.code, show(empty)).toBe(2);
    expect(empty.stderr).toContain('is a folder');
    expect(empty.stderr).not.toContain('(EISDIR)');
  });

  it('version: 2 says what the version means and which one this rekey reads', async () => {
    const dir = folder({ 'rekey.yaml': ['version: 2', 'credentials:', ...SANDBOX_CREDENTIAL].join('\n') });
    const result = await rekey(['plan', 'app'], { cwd: dir });
    expect(result.code, show(result)).toBe(2);
    expect(result.stderr).toMatch(/^rekey: rekey\.yaml:1:10: /);
    expect(result.stderr).toContain('format of rekey.yaml');
    expect(result.stderr).toContain('version 1');
    expect(result.stderr).toContain('newer rekey');
  });

  it('a confirmation answered "maybe" is told to answer yes or no, not hinted as a pasted key', async () => {
    const fixtures = join(ROOT, 'test/fixtures/bad-input');
    const dir = folder({ 'answers.yaml': 'paste: { env: NEW_API_KEY }\nrevoked: maybe\n' });
    const result = await rekey(['rotate', 'app', '--config', join(fixtures, 'configs/answers-host.yaml'), '--answers', join(dir, 'answers.yaml')], {
      cwd: dir,
    });
    expect(result.code, show(result)).toBe(2);
    expect(result.stderr).toMatch(/answers\.yaml:2:10: answer for revoked .*yes or no/);
    expect(result.stderr).not.toContain('a key must come from the environment');
  });

  it('an unknown run id is bad input (exit 2) for resume, rollback and log', async () => {
    const dir = folder({ 'rekey.yaml': ['credentials:', ...SANDBOX_CREDENTIAL].join('\n'), '.env': 'SANDBOX_API_KEY=x\n' });
    for (const args of [
      ['resume', '20261124T024512Z-3fa9c1'],
      ['rollback', '20261124T024512Z-3fa9c1'],
      ['log', '20261124T024512Z-3fa9c1'],
    ]) {
      const result = await rekey(args, { cwd: dir });
      expect(result.code, `${args.join(' ')}\n${show(result)}`).toBe(2);
      expect(result.stderr).toContain('no run 20261124T024512Z-3fa9c1');
      expect(result.stderr).toContain('rekey log');
    }
  });
});
