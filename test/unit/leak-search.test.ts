/**
 * The leak search of `rekey incident` (src/leak-search/) against real git repositories made here: the value
 * in a committed file later removed, in the working tree (tracked, untracked, ignored), base64-encoded, in a commit
 * subject; a folder outside any repository; no git at all; the limits. And I3: a `git` shim on the way logs every
 * argv and environment it is started with, and the value is in none of them.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { describeLeak, findIn, findingLine, isClientBundle, needlesFor, rankLeaks, searchLeak } from '../../src/leak-search/index.js';
import type { LeakFinding } from '../../src/contract/leaks.js';
import { Secret } from '../../src/contract/secret.js';

const folders: string[] = [];
afterAll(() => {
  for (const folder of folders) rmSync(folder, { recursive: true, force: true });
});

function folder(): string {
  const dir = mkdtempSync(join(tmpdir(), 'rekey-leak-'));
  folders.push(dir);
  return dir;
}

/** A fresh key-like value, different in every test. */
function key(): string {
  return `sbx_${[...crypto.getRandomValues(new Uint8Array(20))].map((b) => b.toString(16).padStart(2, '0')).join('')}`;
}

const DAY = 86_400_000;

/** A git repository with commits dated `daysAgo` days before now. */
function repo(): { dir: string; commit: (message: string, daysAgo: number) => string; git: (...args: string[]) => string } {
  const dir = folder();
  const git = (...args: string[]) =>
    execFileSync('git', ['-C', dir, ...args], { encoding: 'utf8', env: { ...process.env, GIT_CONFIG_NOSYSTEM: '1', HOME: dir } });
  git('init', '-q');
  git('config', 'user.email', 'dev@example.test');
  git('config', 'user.name', 'Dev');
  const commit = (message: string, daysAgo: number) => {
    const date = new Date(Date.now() - daysAgo * DAY).toISOString();
    execFileSync('git', ['-C', dir, 'add', '-A'], { env: { ...process.env, HOME: dir } });
    execFileSync('git', ['-C', dir, 'commit', '-q', '-m', message], { env: { ...process.env, HOME: dir, GIT_AUTHOR_DATE: date, GIT_COMMITTER_DATE: date } });
    return git('rev-parse', 'HEAD').trim();
  };
  return { dir, commit, git };
}

function write(dir: string, path: string, text: string): void {
  mkdirSync(join(dir, path, '..'), { recursive: true });
  writeFileSync(join(dir, path), text);
}

describe('needles and matching', () => {
  it('finds the value and its base64 spellings at every alignment, with 1-based line numbers', () => {
    const value = key();
    const needles = needlesFor(value);
    expect(needles[0]!.text).toBe(value);
    // The value, its base64 at three alignments, its hex in lower and upper case.
    expect(needles.map((n) => n.encoding)).toEqual(['raw', 'base64', 'base64', 'base64', 'hex', 'hex']);
    expect(findIn(Buffer.from(`a\nb\nx=${value}\n`), needles)).toEqual({ lines: [3] });
    expect(findIn(Buffer.from(`${value}\n\n${value}`), needles)).toEqual({ lines: [1, 3] });
    for (const prefix of ['', 'A', 'AB', 'ABC', 'ABCD']) {
      const encoded = Buffer.from(`${prefix}API_KEY=${value}\nMORE=1\n`).toString('base64');
      expect(findIn(Buffer.from(`kind: Secret\ndata:\n  env: ${encoded}\n`), needles), `prefix "${prefix}"`).toEqual({ lines: [3], encoding: 'base64' });
    }
    expect(findIn(Buffer.from(`no key here ${value.slice(0, -1)}`), needles)).toBeUndefined();
  });
});

describe('searchLeak in a git repository', () => {
  it('a key committed, then removed: found in history (commit, path:line, date, subject), not in the working tree', async () => {
    const { dir, commit, git } = repo();
    const value = key();
    write(dir, 'README.md', '# app\n');
    commit('initial', 10);
    write(dir, 'src/config.ts', `export const region = 'eu';\n// TODO move to env\nexport const apiKey = '${value}';\n`);
    const added = commit('add config', 3);
    write(dir, 'src/config.ts', "export const region = 'eu';\n");
    const removed = commit('remove the key', 1);
    const result = await searchLeak({ folder: dir, value: new Secret(value) });
    expect(result.git).toBe('repository');
    expect(result.files).toEqual([]);
    expect(result.commits).toEqual([
      {
        commit: added,
        date: expect.any(String),
        subject: 'add config',
        path: 'src/config.ts',
        lines: [3],
        author: 'Dev <dev@example.test>',
        authorDate: expect.any(String),
        refs: { branches: [git('symbolic-ref', '--short', 'HEAD').trim()], remotes: [], tags: [], stashes: [] },
        pushed: false,
      },
    ]);
    expect(Date.now() - Date.parse(result.commits[0]!.date)).toBeGreaterThan(3 * DAY - 60_000);
    expect(result.commits.map((c) => c.commit)).not.toContain(removed);
    expect(result.incomplete).toBeUndefined();
    expect(describeLeak(result)).toBe(`found in git history — commit ${added.slice(0, 7)} (src/config.ts:3), 3 days ago; not in the working tree`);
    expect(JSON.stringify(result).includes(value)).toBe(false);
  });

  it('still in the working tree: tracked and untracked files, ignored files apart; node_modules, .rekey and store files skipped', async () => {
    const { dir, commit } = repo();
    const value = key();
    write(dir, '.gitignore', '*.bak\nnode_modules/\n.rekey/\n.env\n');
    write(dir, 'app.js', `const x = 1;\nconst k = "${value}";\n`);
    commit('app', 2);
    write(dir, 'notes/untracked.txt', `line\nline\nkey ${value}\n`);
    write(dir, '.env.bak', `SANDBOX_API_KEY=${value}\n`);
    write(dir, 'node_modules/pkg/index.js', `module.exports = "${value}";\n`);
    write(dir, '.rekey/runs/x.jsonl', `${value}\n`);
    write(dir, '.env', `SANDBOX_API_KEY=${value}\n`);
    write(dir, '.env.SANDBOX_API_KEY.rekey-previous', `${value}\n`);
    // Another process rewriting the .env this instant (its temporary file holds the whole file): rekey's, not a leak.
    write(dir, '..env.4242-0a1b2c3d-a1b2c3d4e5f6.rekey-tmp', `SANDBOX_API_KEY=${value}\n`);
    // The store's files (what SecretStore.files returns for the ref: the .env and its siblings) and the state folder.
    const exclude = [join(dir, '.env'), join(dir, '.env.SANDBOX_API_KEY.rekey-previous'), join(dir, '.rekey')];
    const result = await searchLeak({ folder: join(dir, 'notes'), value: new Secret(value), exclude });
    expect(result.root).toBe(dir);
    expect(result.files).toEqual([
      { path: 'app.js', kind: 'tracked', lines: [2] },
      { path: 'notes/untracked.txt', kind: 'untracked', lines: [3] },
      { path: '.env.bak', kind: 'ignored', lines: [1] },
    ]);
    expect(result.commits.map((c) => `${c.subject} ${c.path}:${c.lines.join(',')}`)).toEqual(['app app.js:2']);
    expect(result.skipped.join(' ')).toContain(
      "rekey's own store files: ..env.4242-0a1b2c3d-a1b2c3d4e5f6.rekey-tmp, .env, .env.SANDBOX_API_KEY.rekey-previous",
    );
    const line = describeLeak(result);
    expect(line).toMatch(
      new RegExp(
        /^found in git history — commit [0-9a-f]{7} \(app\.js:2\), 2 days ago; /.source +
          /and in the working tree — app\.js:2, notes\/untracked\.txt:3 \(untracked\); and in files git ignores — \.env\.bak:1$/.source,
      ),
    );
  });

  it('a file named like a store sibling is searched unless a store lists it: no name pattern stands for the stores', async () => {
    const { dir } = repo();
    const value = key();
    write(dir, 'copy.rekey-staged', `${value}\n`);
    write(dir, '.env.rekey-tmp', `${value}\n`);
    const result = await searchLeak({ folder: dir, value: new Secret(value) });
    expect(result.files.map((f) => f.path).sort()).toEqual(['.env.rekey-tmp', 'copy.rekey-staged']);
  });

  it('base64 in a committed manifest, and a commit subject holding the key: the subject is redacted', async () => {
    const { dir, commit } = repo();
    const value = key();
    write(dir, 'k8s/secret.yaml', `apiVersion: v1\nkind: Secret\ndata:\n  API_KEY: ${Buffer.from(value).toString('base64')}\n`);
    commit(`deploy with ${value}`, 5);
    const result = await searchLeak({ folder: dir, value: new Secret(value) });
    expect(result.commits).toHaveLength(1);
    expect(result.commits[0]).toMatchObject({ path: 'k8s/secret.yaml', lines: [4], encoding: 'base64' });
    expect(result.commits[0]!.subject).toBe(`deploy with [redacted …${value.slice(-4)}]`);
    expect(result.files).toEqual([{ path: 'k8s/secret.yaml', kind: 'tracked', lines: [4], encoding: 'base64' }]);
    expect(JSON.stringify(result).includes(value)).toBe(false);
  });

  it('a key only in a commit that a force-push rewrote away is still found through the reflog', async () => {
    const { dir, commit, git } = repo();
    const value = key();
    write(dir, 'a.txt', 'a\n');
    commit('a', 4);
    write(dir, 'b.txt', `${value}\n`);
    const lost = commit('oops', 3);
    git('reset', '-q', '--hard', 'HEAD~1');
    const result = await searchLeak({ folder: dir, value: new Secret(value) });
    expect(result.commits.map((c) => c.commit)).toEqual([lost]);
  });

  it('not found anywhere: says so, with what was searched', async () => {
    const { dir, commit } = repo();
    write(dir, 'a.txt', 'nothing\n');
    commit('a', 1);
    const result = await searchLeak({ folder: dir, value: new Secret(key()) });
    expect(result.files).toEqual([]);
    expect(result.commits).toEqual([]);
    expect(result.scanned.blobs).toBeGreaterThanOrEqual(1);
    expect(describeLeak(result)).toMatch(/^not found in the working tree or git history \(\d+ files?, \d+ objects?\)$/);
  });
});

describe('searchLeak without a repository, or without git', () => {
  it('a folder outside any repository: its files only, and the result says so', async () => {
    const dir = folder();
    const value = key();
    write(dir, 'config/app.json', `{\n  "key": "${value}"\n}\n`);
    write(dir, 'node_modules/x.js', value);
    const result = await searchLeak({ folder: dir, value: new Secret(value) });
    expect(result.git).toBe('no-repository');
    expect(result.files).toEqual([{ path: 'config/app.json', kind: 'file', lines: [2] }]);
    expect(describeLeak(result)).toBe(`not a git repository: searched the files under ${dir} only, not git history — found in config/app.json:2`);
  });

  it('no git installed: the folder is searched, and the result says git is missing', async () => {
    const { dir, commit } = repo();
    const value = key();
    write(dir, 'a.txt', `${value}\n`);
    commit('a', 1);
    const result = await searchLeak({ folder: dir, value: new Secret(value), git: join(dir, 'no-such-git') });
    expect(result.git).toBe('no-git');
    expect(result.commits).toEqual([]);
    expect(result.files).toEqual([{ path: 'a.txt', kind: 'file', lines: [1] }]);
    expect(describeLeak(result)).toMatch(/^git is not installed: searched the files under .* only, not git history — found in a\.txt:1$/);
  });
});

describe('limits: an incident is never stuck behind a search', () => {
  it('stops at the byte limit and says what it did not cover', async () => {
    const { dir, commit } = repo();
    const value = key();
    for (let i = 0; i < 20; i++) write(dir, `f${String(i).padStart(2, '0')}.txt`, 'x'.repeat(10_000));
    commit('files', 1);
    const result = await searchLeak({ folder: dir, value: new Secret(value), limits: { maxBytes: 50_000 } });
    expect(result.incomplete).toMatch(/stopped after 49 KB: not every file of the working tree was searched/);
    expect(result.incomplete).toMatch(/git history was not searched/);
    expect(result.complete).toEqual({ tree: false, history: false });
    // What was not searched is never reported as clean.
    expect(describeLeak(result)).toMatch(/^not found so far \(\d+ files?, 0 objects\) — incomplete: /);
  });

  it('stops at the time limit', async () => {
    const { dir, commit } = repo();
    write(dir, 'a.txt', 'a\n');
    commit('a', 1);
    const started = performance.now();
    const result = await searchLeak({ folder: dir, value: new Secret(key()), limits: { maxMs: 0 } });
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(result.incomplete).toMatch(/stopped after 0s/);
    expect(describeLeak(result)).not.toMatch(/not in (the working tree|git history)/);
  });

  it('skips files over the size limit, and says how many', async () => {
    const dir = folder();
    const value = key();
    write(dir, 'big.log', `${'x'.repeat(5_000)}${value}`);
    write(dir, 'small.txt', value);
    const result = await searchLeak({ folder: dir, value: new Secret(value), limits: { maxFileBytes: 1_000 } });
    expect(result.files.map((f) => f.path)).toEqual(['small.txt']);
    expect(result.skipped).toContain('1 file over 1000 bytes');
  });
});

describe('I3: the value never reaches git', () => {
  it('a git shim logging argv and environment sees object ids and paths, never the value (nor another known secret)', async () => {
    const { dir, commit } = repo();
    const value = key();
    const other = key();
    new Secret(other); // a second secret this process knows, as the new key would be
    write(dir, 'src/config.ts', `export const apiKey = '${value}';\n`);
    commit('add config', 2);
    write(dir, 'src/config.ts', 'export {};\n');
    commit('remove', 1);
    const shims = folder();
    const log = join(shims, 'git.log');
    const realGit = execFileSync('sh', ['-c', 'command -v git'], { encoding: 'utf8' }).trim();
    writeFileSync(
      join(shims, 'git'),
      `#!/bin/sh\n{ printf 'argv:'; printf ' %s' "$@"; printf '\\n'; env; printf '\\n'; } >> ${JSON.stringify(log)}\nexec ${JSON.stringify(realGit)} "$@"\n`,
    );
    chmodSync(join(shims, 'git'), 0o755);
    const env = { ...process.env, PATH: `${shims}:${process.env['PATH']}`, LEAKED_KEY: value, NEW_KEY: other, HARMLESS: 'kept' };
    const result = await searchLeak({ folder: dir, value: new Secret(value), git: join(shims, 'git'), env });
    expect(result.commits.map((c) => c.subject)).toEqual(['add config']);
    const logged = readFileSync(log, 'utf8');
    expect(logged).toContain('argv: -C');
    expect(logged).toMatch(/argv: .*cat-file --batch\b/);
    expect(logged).toMatch(/argv: .*--find-object=[0-9a-f]{40}/);
    expect(logged).toContain('HARMLESS=kept');
    for (const secret of [value, other]) {
      expect(logged.includes(secret)).toBe(false);
      expect(logged.includes(secret.slice(-8))).toBe(false);
    }
  });
});

describe('what a limit or a skip leaves out is never reported as "not in" (a review of rekey incident)', () => {
  it('a file over the size limit, in the tree and in history: named as not searched, never "not in"', async () => {
    const { dir, commit } = repo();
    const value = key();
    write(dir, 'dump.sql', `${'x'.repeat(4_000)}\nAPI_KEY=${value}\n`);
    write(dir, 'a.txt', 'a\n');
    commit('dump', 2);
    const result = await searchLeak({ folder: dir, value: new Secret(value), limits: { maxFileBytes: 1_000 } });
    expect(result.files).toEqual([]);
    expect(result.complete).toEqual({ tree: false, history: false });
    expect(result.skipped).toEqual(expect.arrayContaining(['1 file over 1000 bytes', '1 object over 1000 bytes in git history']));
    const text = describeLeak(result);
    expect(text).not.toMatch(/not (found )?in (the working tree|git history)/);
    expect(text).toContain('not searched: 1 file over 1000 bytes, 1 object over 1000 bytes in git history');
  });

  it('files git ignores are searched before the history, so a limit the history reaches does not leave them out', async () => {
    const { dir, commit } = repo();
    const value = key();
    write(dir, '.gitignore', '*.bak\n');
    write(dir, 'big.txt', 'y'.repeat(20_000));
    commit('big', 3);
    // Only in history now: the tree is small, the history is over the byte limit.
    rmSync(join(dir, 'big.txt'));
    commit('drop big', 2);
    write(dir, '.env.bak', `API_KEY=${value}\n`);
    const result = await searchLeak({ folder: dir, value: new Secret(value), limits: { maxBytes: 5_000 } });
    expect(result.files).toEqual([expect.objectContaining({ path: '.env.bak', kind: 'ignored', lines: [1] })]);
    expect(result.complete.history).toBe(false);
    expect(describeLeak(result)).toMatch(/found in files git ignores — \.env\.bak:1/);
  });

  it('the store file tracked by git is said first: the root cause, and where the new key now sits', async () => {
    const { dir, commit } = repo();
    const value = key();
    write(dir, '.env', `API_KEY=${value}\n`);
    commit('config', 5);
    const result = await searchLeak({ folder: dir, value: new Secret(value), exclude: [join(dir, '.env')] });
    expect(result.trackedStores).toEqual(['.env']);
    expect(describeLeak(result)).toMatch(
      new RegExp(
        /^git tracks the store file \.env: the new key is in it now, one `git commit -a` from the history — /.source +
          /`git rm --cached \.env` and add it to \.gitignore · found in git history/.source,
      ),
    );
  });

  it('the time limit ends git and everything it started (a wrapper that sleeps): the search does not wait for it', async () => {
    const { dir, commit } = repo();
    write(dir, 'a.txt', 'a\n');
    commit('a', 1);
    const shims = folder();
    const slowGit = join(shims, 'git');
    const realGit = execFileSync('sh', ['-c', 'command -v git'], { encoding: 'utf8' }).trim();
    writeFileSync(slowGit, `#!/bin/sh\ncase "$*" in *rev-list*) sleep 30 ;; esac\nexec ${realGit} "$@"\n`);
    chmodSync(slowGit, 0o755);
    const started = performance.now();
    const result = await searchLeak({ folder: dir, value: new Secret(key()), git: slowGit, limits: { maxMs: 1_500 } });
    expect(performance.now() - started).toBeLessThan(8_000);
    expect(result.complete.history).toBe(false);
    expect(result.incomplete).toMatch(/stopped after 2s|stopped after 1s/);
  });
});

describe('encodings: hex, and base64 wrapped as MIME and PEM wrap it', () => {
  it('hex in lower and upper case, on its own line', () => {
    const value = key();
    const needles = needlesFor(value);
    const hex = Buffer.from(value).toString('hex');
    expect(findIn(Buffer.from(`dump:\n${hex}\n`), needles)).toEqual({ lines: [2], encoding: 'hex' });
    expect(findIn(Buffer.from(`x\ny\nKEY_HEX=${hex.toUpperCase()}\n`), needles)).toEqual({ lines: [3], encoding: 'hex' });
  });

  it('base64 wrapped at 76 columns with LF or CRLF, and at 64 indented (a YAML block): found, on the line it begins', () => {
    const value = key();
    const needles = needlesFor(value);
    // Long enough that the key's base64 is cut by a line break at every prefix length tried.
    for (const prefix of ['', 'x', 'xy', 'API_KEY=', 'a'.repeat(40)]) {
      const encoded = Buffer.from(`${prefix}${value}\n${'filler '.repeat(20)}`).toString('base64');
      const wrap = (width: number) => encoded.match(new RegExp(`.{1,${width}}`, 'g'))!;
      const mime = wrap(76);
      // Where the key's base64 begins: the line of the first of its 76-column pieces holding the first needle's start.
      for (const eol of ['\n', '\r\n']) {
        const text = `Content-Transfer-Encoding: base64${eol}${eol}${mime.join(eol)}${eol}`;
        const hit = findIn(Buffer.from(text), needles);
        expect(hit?.encoding, `prefix "${prefix}" ${JSON.stringify(eol)}`).toBe('base64');
        expect(hit!.lines[0]).toBeGreaterThanOrEqual(3);
        expect(hit!.lines[0]).toBeLessThanOrEqual(4);
      }
      const pem = `data: |\n${wrap(64)
        .map((l) => `    ${l}`)
        .join('\n')}\n`;
      expect(findIn(Buffer.from(pem), needles)?.encoding, `prefix "${prefix}" (pem)`).toBe('base64');
    }
    // Another key's base64, wrapped the same way, is not found.
    const other = Buffer.from(`API_KEY=${key()}`).toString('base64');
    expect(findIn(Buffer.from(`${other.slice(0, 20)}\n${other.slice(20)}\n`), needles)).toBeUndefined();
  });
});

describe('ranked by exposure: client bundle, pushed, unpushed, stash, tracked, ignored', () => {
  it('a repository with the key everywhere: every place found, ranked worst first, each with its refs, author and what to do', async () => {
    const { dir, commit, git } = repo();
    const value = key();
    const hex = Buffer.from(value).toString('hex');
    write(dir, '.gitignore', 'dist/\n*.bak\n');
    write(dir, 'README.md', '# app\n');
    commit('initial', 10);
    const main = git('symbolic-ref', '--short', 'HEAD').trim();
    // Pushed: on a branch pushed to a bare remote (a local folder), later removed from the file.
    const remote = folder();
    execFileSync('git', ['init', '-q', '--bare', remote]);
    git('remote', 'add', 'origin', remote);
    git('checkout', '-q', '-b', 'feature');
    write(dir, 'src/config.ts', `export const key = '${value}';\n`);
    const pushed = commit('add config', 5);
    write(dir, 'src/config.ts', 'export {};\n');
    commit('drop the key', 4);
    git('push', '-q', 'origin', 'feature');
    git('checkout', '-q', main);
    // Unpushed: a local branch and a tag, never pushed; hex-encoded.
    git('checkout', '-q', '-b', 'local-only');
    write(dir, 'fixtures/dump.hex', `${hex}\n`);
    const local = commit('add a dump', 3);
    git('tag', 'v0.1');
    git('rm', '-q', 'fixtures/dump.hex');
    commit('drop the dump', 3);
    git('checkout', '-q', main);
    // A stash of an unstaged change to a tracked file.
    write(dir, 'README.md', `# app\nkey: ${value}\n`);
    git('stash', '-q');
    // An ignored client bundle, and an ignored backup with the key base64-wrapped at 76 columns.
    write(dir, 'dist/assets/app.js', `var a=1;\nvar k="${value}";\n`);
    const wrapped = Buffer.from(`API_KEY=${value}\n${'#'.repeat(80)}\n`)
      .toString('base64')
      .match(/.{1,76}/g)!
      .join('\r\n');
    write(dir, 'backup.bak', `${wrapped}\r\n`);

    const result = await searchLeak({ folder: dir, value: new Secret(value) });
    const findings = result.findings!;
    expect(findings.map((f) => `${f.exposure} ${f.path}${f.encoding ? ` ${f.encoding}` : ''}`)).toEqual([
      'client-bundle dist/assets/app.js',
      'pushed-commit src/config.ts',
      'local-commit fixtures/dump.hex hex',
      'stash README.md',
      'ignored-file backup.bak base64',
    ]);
    expect(findings.map((f) => f.rank)).toEqual([1, 2, 3, 4, 8]);
    const [bundle, push, unpushed, stash] = findings as [LeakFinding, LeakFinding, LeakFinding, LeakFinding];
    expect(bundle).toMatchObject({ kind: 'ignored', lines: [2], title: 'client bundle' });
    expect(bundle.means).toMatch(/every browser/);
    expect(push.commit).toMatchObject({ commit: pushed, author: 'Dev <dev@example.test>', pushed: true });
    expect(push.commit!.refs).toEqual({ branches: ['feature'], remotes: ['origin/feature'], tags: [], stashes: [] });
    expect(push.todo).toMatch(/git filter-repo --replace-text/);
    expect(unpushed.commit).toMatchObject({ commit: local, pushed: false });
    expect(unpushed.commit!.refs).toEqual({ branches: ['local-only'], remotes: [], tags: ['v0.1'], stashes: [] });
    expect(stash.commit!.refs!.stashes).toEqual(['stash@{0}']);
    expect(stash.todo).toContain('git stash drop stash@{0}');
    expect(findingLine(push)).toMatch(
      new RegExp(`^pushed commit — ${pushed.slice(0, 7)} src/config\\.ts:1 by Dev <dev@example\\.test>, 5 days ago, on feature, origin/feature$`),
    );
    expect(findingLine(bundle)).toBe('client bundle — dist/assets/app.js:2 (ignored by git)');
    // The one line leads with the worst place.
    expect(describeLeak(result)).toMatch(
      /^found in a client bundle, public to every browser — dist\/assets\/app\.js:2 \(ignored by git\); and in git history — /,
    );
    expect(describeLeak(result)).toContain('pushed to origin/feature');
    expect(describeLeak(result)).toContain('in stash@{0}');
    expect(JSON.stringify(result).includes(value)).toBe(false);
    expect(JSON.stringify(result).includes(hex)).toBe(false);
  });

  it('what a web server ships, and what it does not', () => {
    for (const path of ['dist/app.js', 'build/static/js/main.3f2a.js.map', 'public/config.json', 'public/.env', '.next/static/chunk.js', 'out/index.html'])
      expect(isClientBundle(path), path).toBe(true);
    for (const path of ['src/app.js', 'dist.md', 'distribution/app.js', 'build.sh', 'dist/README']) expect(isClientBundle(path), path).toBe(false);
  });

  it('an older journal without refs: its commit is ranked as pushed (the worse case), and says that it is not known', () => {
    const findings = rankLeaks({
      files: [{ path: 'notes.txt', kind: 'untracked', lines: [1] }],
      commits: [{ commit: 'a'.repeat(40), date: '2026-11-01T00:00:00Z', subject: 's', path: 'a.ts', lines: [2] }],
      totals: { files: 1, blobs: 1, commits: 1 },
    });
    expect(findings.map((f) => f.exposure)).toEqual(['pushed-commit', 'untracked-file']);
    expect(findings[0]!.means).toMatch(/not recorded: treat it as pushed/);
  });
});
