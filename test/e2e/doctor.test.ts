/**
 * `rekey doctor` on the BUILT CLI, against fixture repositories built here with git: a .env committed then removed,
 * a key in an ignored dist/bundle.js, a 0644 .env, an http:// receiver, a 5-byte webhook token, one value shared by
 * two credentials. Each finding must come once (three credentials share the .env: one mode finding, not three), at
 * its file:line, with the exit code a CI job gates on; no value in any output.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fingerprint, rekey, show } from './helpers.js';

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const KEY = `sbx_${'3f'.repeat(20)}`;
const SHORT_TOKEN = '0a1b2c3d4e'; // 10 hex digits: 5 random bytes
const GOOD_TOKEN = 'c4'.repeat(24); // 48 hex digits: 24 bytes

function git(dir: string, ...args: string[]): void {
  execFileSync('git', args, {
    cwd: dir,
    stdio: 'ignore',
    env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@example.com', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@example.com' },
  });
}

function repo(): string {
  const dir = mkdtempSync(join(tmpdir(), 'rekey-doctor-'));
  dirs.push(dir);
  git(dir, 'init', '-q', '.');
  return dir;
}

const credential = (id: string, runbook: string, inputs: string, variable: string, extra: string[] = []) => [
  `  ${id}:`,
  `    runbook: ${runbook}`,
  `    inputs: ${inputs}`,
  '    stores:',
  `      - dotenv: ./.env#${variable}`,
  ...extra,
];

/** Every problem of the brief at once. */
function sickRepo(): string {
  const dir = repo();
  writeFileSync(join(dir, '.env'), `SANDBOX_API_KEY=${KEY}\n`);
  git(dir, 'add', '.env');
  // A subject that quotes the key: the findings name the commit, and the key is scrubbed from them (and the report).
  git(dir, 'commit', '-qm', `add the env ${KEY}`);
  git(dir, 'rm', '-q', '--cached', '.env');
  writeFileSync(join(dir, '.gitignore'), '.env\ndist/\n');
  git(dir, 'add', '.gitignore');
  git(dir, 'commit', '-qm', 'ignore the env');
  writeFileSync(join(dir, '.env'), `SANDBOX_API_KEY=${KEY}\n# the same key again\nSTAGING_KEY=${KEY}\nWEBHOOK_TOKEN=${SHORT_TOKEN}\n`);
  chmodSync(join(dir, '.env'), 0o644);
  mkdirSync(join(dir, 'dist'));
  writeFileSync(join(dir, 'dist/bundle.js'), `"use strict";\nconst client = init({\n  key: "${KEY}" });\n`);
  writeFileSync(
    join(dir, 'rekey.yaml'),
    [
      'credentials:',
      ...credential('prod', 'sandbox', '{ baseUrl: "https://sandbox.example.com", account: a }', 'SANDBOX_API_KEY', [
        '    policy: { maxAge: 30d, lastRotated: 2020-01-01 }',
      ]),
      ...credential('staging', 'sandbox', '{ baseUrl: "https://sandbox.example.com", account: b }', 'STAGING_KEY'),
      ...credential('hook', 'webhook-url-token', '{ receiverUrl: "http://hooks.example.com/in" }', 'WEBHOOK_TOKEN', ['        keepPrevious: true']),
      '',
    ].join('\n'),
  );
  return dir;
}

/** No problem a tool can see: a 0600 ignored .env never committed, HTTPS, a 24-byte token, separate keys, fresh ages. */
function healthyRepo(): string {
  const dir = repo();
  writeFileSync(join(dir, '.gitignore'), '.env\n');
  git(dir, 'add', '.gitignore');
  git(dir, 'commit', '-qm', 'ignore the env');
  writeFileSync(join(dir, '.env'), `SANDBOX_API_KEY=${KEY}\nWEBHOOK_TOKEN=${GOOD_TOKEN}\n`, { mode: 0o600 });
  const today = new Date().toISOString().slice(0, 10);
  writeFileSync(
    join(dir, 'rekey.yaml'),
    [
      'credentials:',
      ...credential('prod', 'sandbox', '{ baseUrl: "https://sandbox.example.com", account: a }', 'SANDBOX_API_KEY', [
        `    policy: { maxAge: 30d, lastRotated: ${today} }`,
      ]),
      ...credential('hook', 'webhook-url-token', '{ receiverUrl: "https://hooks.example.com/in" }', 'WEBHOOK_TOKEN', [
        '        keepPrevious: true',
        `    policy: { maxAge: 30d, lastRotated: ${today} }`,
      ]),
      '',
    ].join('\n'),
  );
  return dir;
}

interface Row {
  event: string;
  check: string;
  severity: string;
  file?: string;
  line?: number;
  credentials: string[];
  message: string;
  item?: string;
  confirmed?: boolean;
  exitCode?: number;
}
const rows = (stdout: string): Row[] =>
  stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Row);
const findings = (stdout: string) => rows(stdout).filter((r) => r.event === 'doctor.finding');

describe('rekey doctor', () => {
  it('reports each problem of a fixture repository once, at its file and line, and exits 1', async () => {
    const dir = sickRepo();
    const before = statSync(join(dir, '.env')).mtimeMs;
    const result = await rekey(['--json', 'doctor'], { cwd: dir });
    expect(result.code, show(result)).toBe(1);
    const all = findings(result.stdout);
    const one = (check: string, message: RegExp) => {
      const hits = all.filter((f) => f.check === check && message.test(f.message));
      expect(hits, `${check} ${message}\n${show(result)}`).toHaveLength(1);
      return hits[0]!;
    };
    // Three credentials share the 0644 .env: one finding naming the three.
    expect(one('env-file', /mode 0644/)).toMatchObject({ severity: 'error', file: '.env', line: 1, credentials: ['hook', 'prod', 'staging'] });
    expect(one('env-file', /was committed \([0-9a-f]{7} on .*"add the env \[redacted/)).toMatchObject({ severity: 'error', file: '.env' });
    expect(all.filter((f) => f.check === 'env-file' && /not in \.gitignore/.test(f.message))).toEqual([]);
    // The key in the ignored bundle: line 3, once for the value (prod and staging share it).
    expect(one('client-code', /dist\/bundle\.js/)).toMatchObject({ severity: 'error', file: 'dist/bundle.js', line: 3, credentials: ['prod', 'staging'] });
    expect(one('git-tracked', /in git history: commit [0-9a-f]{7} .*"add the env \[redacted/)).toMatchObject({ severity: 'error' });
    expect(one('webhook-token', /about 5 random bytes/)).toMatchObject({ severity: 'error', file: '.env', line: 4, credentials: ['hook'] });
    expect(one('https', /receiverUrl is http:\/\/hooks\.example\.com\/in/)).toMatchObject({ severity: 'error', file: 'rekey.yaml', line: 15 });
    expect(one('shared-value', new RegExp(fingerprint(KEY)))).toMatchObject({ severity: 'error', credentials: ['prod', 'staging'] });
    expect(one('age', /past its policy of 30d/)).toMatchObject({ severity: 'error', file: 'rekey.yaml', line: 7, credentials: ['prod'] });
    expect(one('age', /needs a person/)).toMatchObject({ severity: 'warn', credentials: ['hook'] });
    // No finding twice: the same check, place and words never repeat.
    const keys = all.map((f) => `${f.check} ${f.file}:${f.line} ${f.message}`);
    expect(new Set(keys).size).toBe(keys.length);
    expect(rows(result.stdout).at(-1)).toMatchObject({ event: 'doctor.summary', exitCode: 1 });
    for (const secret of [KEY, SHORT_TOKEN]) expect(`${result.stdout}${result.stderr}`).not.toContain(secret);
    // No writes: the .env keeps its mode and content, and no state folder appears.
    expect(statSync(join(dir, '.env')).mode & 0o777).toBe(0o644);
    expect(statSync(join(dir, '.env')).mtimeMs).toBe(before);
    expect(existsSync(join(dir, '.rekey'))).toBe(false);
  });

  it('prints the same findings as a table grouped by check, and as a Markdown report', async () => {
    const dir = sickRepo();
    const result = await rekey(['doctor', '--report', 'doctor.md'], { cwd: dir });
    expect(result.code, show(result)).toBe(1);
    expect(result.stdout).toMatch(/^\.env files: ignored by git, never committed, mode 0600$/m);
    expect(result.stdout.match(/has mode 0644/g)).toHaveLength(1);
    expect(result.stdout).toMatch(/✗ error +\.env:1:1 +hook, prod, staging\n +\.env has mode 0644.*\n +fix: chmod 600 \.env/);
    const report = readFileSync(join(dir, 'doctor.md'), 'utf8');
    expect(report).toMatch(/^## key values in client code/m);
    expect(report).toMatch(/\| error \| dist\/bundle\.js:3:1 \| prod, staging \|/);
    expect(report).toMatch(/^- \[ \] \[allowed-domains\]/m);
    expect(report).not.toContain(KEY);
  });

  it('flags a tracked .env that is not in .gitignore, and a key in a tracked source file', async () => {
    const dir = repo();
    writeFileSync(join(dir, '.env'), `SANDBOX_API_KEY=${KEY}\n`, { mode: 0o600 });
    writeFileSync(join(dir, 'config.js'), `module.exports = {\n  apiKey: '${KEY}',\n};\n`);
    writeFileSync(
      join(dir, 'rekey.yaml'),
      ['credentials:', ...credential('prod', 'sandbox', '{ baseUrl: "https://s.example.com", account: a }', 'SANDBOX_API_KEY'), ''].join('\n'),
    );
    git(dir, 'add', '.env', 'config.js', 'rekey.yaml');
    git(dir, 'commit', '-qm', 'everything');
    const result = await rekey(['--json', 'doctor'], { cwd: dir });
    expect(result.code, show(result)).toBe(1);
    const all = findings(result.stdout);
    expect(all.filter((f) => f.check === 'env-file' && /git tracks \.env/.test(f.message))).toHaveLength(1);
    expect(all.filter((f) => f.check === 'env-file' && /not in \.gitignore/.test(f.message))).toHaveLength(1);
    expect(all.filter((f) => f.check === 'git-tracked' && f.file === 'config.js' && f.line === 2 && f.severity === 'error')).toHaveLength(1);
  });

  it('exits 0 on a healthy repository, records the checklist answers, and writes the runbooks when asked', async () => {
    const dir = healthyRepo();
    writeFileSync(join(dir, 'answers.yaml'), 'allowed-domains: yes\nteam-reviewed: yes\nwebhook-handler: yes\n');
    const result = await rekey(['--json', 'doctor', '--answers', 'answers.yaml', '--write-runbooks', 'docs/runbooks', '--strict'], { cwd: dir });
    expect(result.code, show(result)).toBe(0);
    const all = findings(result.stdout);
    expect(
      all.filter((f) => f.severity === 'error' || f.severity === 'warn'),
      show(result),
    ).toEqual([]);
    expect(all.filter((f) => f.check === 'checklist').map((f) => [f.item, f.confirmed])).toEqual([
      ['allowed-domains', true],
      ['team-reviewed', true],
      ['webhook-handler', true],
    ]);
    expect(readFileSync(join(dir, 'docs/runbooks/webhook-url-token.md'), 'utf8')).toMatch(/^# /);
    expect(existsSync(join(dir, 'docs/runbooks/sandbox.md'))).toBe(true);
  });

  it('an item answered no is an error; without --strict, warnings alone exit 0', async () => {
    const dir = healthyRepo();
    writeFileSync(join(dir, 'answers.yaml'), 'team-reviewed: no\n');
    const no = await rekey(['--json', 'doctor', '--answers', 'answers.yaml'], { cwd: dir });
    expect(no.code, show(no)).toBe(1);
    expect(findings(no.stdout).find((f) => f.item === 'team-reviewed')).toMatchObject({ severity: 'error', confirmed: false });
    // No runbook written down: a warning, which fails only with --strict.
    const plain = await rekey(['--json', 'doctor'], { cwd: dir });
    expect(plain.code, show(plain)).toBe(0);
    expect(findings(plain.stdout).filter((f) => f.check === 'runbook' && f.severity === 'warn')).toHaveLength(2);
    const strict = await rekey(['doctor', '--strict'], { cwd: dir });
    expect(strict.code, show(strict)).toBe(1);
  });

  it('refuses an answers file that holds a key (exit 2, no stack trace, the key not printed)', async () => {
    const dir = healthyRepo();
    writeFileSync(join(dir, 'answers.yaml'), `team-reviewed: ${KEY}\n`);
    const result = await rekey(['doctor', '--answers', 'answers.yaml'], { cwd: dir });
    expect(result.code, show(result)).toBe(2);
    expect(result.stderr).toMatch(/answers\.yaml:1:\d+: answer for team-reviewed is text/);
    expect(`${result.stdout}${result.stderr}`).not.toContain(KEY);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });
});
