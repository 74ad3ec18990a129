/**
 * Where a leaked key is, ranked by exposure, and `rekey scan` by fingerprint, end to end on the BUILT CLI
 * (`npm run -s build` first), against the sandbox provider started here, in a workspace that is a git repository
 * holding the leaked (old) key in every place a key ends up:
 *  - a commit on a branch pushed to a bare remote (a local folder), the key removed from the file since;
 *  - a commit on the main branch only (never pushed), hex-encoded, and that file still in the working tree;
 *  - a stash of an unstaged change;
 *  - a client bundle git ignores (dist/);
 *  - a backup git ignores, base64 wrapped at 76 columns with CRLF, as MIME does.
 * `rekey incident` finds each and ranks them: client bundle, pushed commit, unpushed commit, stash, tracked file,
 * ignored file, each with what it means and what to do, on screen, in the journal and in the report. Then a second
 * rotation, after which the leaked key is two rotations back and in no store: `rekey scan` finds it by fingerprint
 * (exit 6), and after a scrub with plain git (history rewritten, stash dropped, reflog expired, gc --prune=now) finds
 * nothing (exit 0). The key, in any of its spellings, is never in what rekey prints or leaves behind.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  allFiles,
  envValue,
  fingerprint,
  journal,
  rekeyIn,
  removeWorkspaces,
  reports,
  runIds,
  sandboxPool,
  show,
  workspace,
  type Workspace,
} from './helpers.js';

const sandbox = sandboxPool();
const extra: string[] = [];
afterAll(() => {
  removeWorkspaces();
  for (const dir of extra) rmSync(dir, { recursive: true, force: true });
});

const DAY = 86_400_000;

function put(ws: Workspace, path: string, text: string): void {
  mkdirSync(join(ws.dir, path, '..'), { recursive: true });
  writeFileSync(join(ws.dir, path), text);
}

/** The workspace as a git repository on `main`, with dated commits, and a bare remote `origin`. */
function gitRepo(ws: Workspace): { git: (...args: string[]) => string; commit: (message: string, daysAgo: number) => string } {
  const env = { ...process.env, HOME: ws.dir, GIT_CONFIG_NOSYSTEM: '1', FILTER_BRANCH_SQUELCH_WARNING: '1' };
  const git = (...args: string[]) => execFileSync('git', ['-C', ws.dir, ...args], { encoding: 'utf8', env });
  git('init', '-q', '-b', 'main');
  git('config', 'user.email', 'dev@example.test');
  git('config', 'user.name', 'Dev');
  const remote = mkdtempSync(join(tmpdir(), 'rekey-remote-'));
  extra.push(remote);
  execFileSync('git', ['init', '-q', '--bare', remote], { env });
  git('remote', 'add', 'origin', remote);
  const commit = (message: string, daysAgo: number) => {
    const date = new Date(Date.now() - daysAgo * DAY).toISOString();
    git('add', '-A');
    execFileSync('git', ['-C', ws.dir, 'commit', '-q', '-m', message], { env: { ...env, GIT_AUTHOR_DATE: date, GIT_COMMITTER_DATE: date } });
    return git('rev-parse', 'HEAD').trim();
  };
  return { git, commit };
}

/** Every spelling of a key that must never be printed or written by rekey: itself, its end, its hex, its base64. */
function spellings(key: string): string[] {
  const hex = Buffer.from(key).toString('hex');
  return [key, key.slice(-8), hex, hex.toUpperCase(), Buffer.from(key).toString('base64').slice(0, 24)];
}

function expectNoKey(ws: Workspace, outputs: Record<string, string>, keys: readonly string[]): void {
  const places = new Map(Object.entries(outputs));
  for (const [path, text] of allFiles(ws.stateDir)) places.set(path, text);
  expect([...places.keys()].some((p) => p.includes('/reports/'))).toBe(true);
  for (const [place, text] of places) for (const key of keys) for (const s of spellings(key)) expect(text.includes(s), `${place} holds a key`).toBe(false);
}

describe('a leaked key everywhere: found, ranked by exposure, and scanned for by fingerprint after it is gone', () => {
  it('incident ranks client bundle > pushed > unpushed > stash > tracked > ignored; scan finds the old key, then nothing after a scrub', async () => {
    const s = await sandbox({ overlap: 'until-revoked' });
    const ws = workspace({ sandbox: s, runbook: 'sandbox' });
    const old = ws.seed;
    const { git, commit } = gitRepo(ws);
    put(ws, '.gitignore', '.env\n.rekey/\n*.bak\ndist/\n');
    put(ws, 'README.md', '# app\n');
    commit('initial', 10);
    // Pushed: a branch with the key in src/config.ts, removed since, pushed to origin.
    git('checkout', '-q', '-b', 'feature');
    put(ws, 'src/config.ts', `export const apiKey = '${old}';\n`);
    const pushed = commit('add the sandbox config', 5);
    put(ws, 'src/config.ts', 'export {};\n');
    commit('take the key out', 4);
    git('push', '-q', 'origin', 'feature');
    git('checkout', '-q', 'main');
    // Unpushed and tracked: a hex dump committed on main only, still in the working tree.
    put(ws, 'fixtures/key.hex', `${Buffer.from(old).toString('hex')}\n`);
    const local = commit('add a fixture', 3);
    // A stash: an unstaged change to a tracked file.
    put(ws, 'README.md', `# app\n\nSANDBOX_API_KEY=${old}\n`);
    git('stash', '-q');
    // A client bundle git ignores, and a backup git ignores with the key base64-wrapped at 76 columns, CRLF.
    put(ws, 'dist/static/app.js', `(function(){var c={region:"eu"};\nc.key="${old}";})();\n`);
    const mime = Buffer.from(`SANDBOX_API_KEY=${old}\nREGION=eu\n${'# padding '.repeat(12)}\n`)
      .toString('base64')
      .match(/.{1,76}/g)!
      .join('\r\n');
    put(ws, 'env.bak', `MIME-Version: 1.0\r\nContent-Transfer-Encoding: base64\r\n\r\n${mime}\r\n`);

    const incident = await rekeyIn(ws, ['incident', ws.credential, '--since', '6d']);
    expect(incident.code, show(incident)).toBe(0);
    const afterIncident = envValue(ws)!;
    expect(s.isActive(old)).toBe(false);

    // The journal holds the ranked findings (locations only), worst first.
    const [run] = runIds(ws);
    const searched = journal(ws, run!).find((r) => r.type === 'step.done' && r['step'] === 'leak-search')!['data'] as {
      leak: { findings: Array<{ exposure: string; path: string; encoding?: string; rank: number; commit?: Record<string, unknown> }> };
    };
    const ranked = searched.leak.findings;
    expect(ranked.map((f) => `${f.exposure} ${f.path}${f.encoding ? ` (${f.encoding})` : ''}`)).toEqual([
      'client-bundle dist/static/app.js',
      'pushed-commit src/config.ts',
      'local-commit fixtures/key.hex (hex)',
      'stash README.md',
      'tracked-file fixtures/key.hex (hex)',
      'ignored-file env.bak (base64)',
    ]);
    expect(ranked.map((f) => f.rank)).toEqual([1, 2, 3, 4, 6, 8]);
    expect(ranked[1]!.commit).toMatchObject({
      commit: pushed,
      author: 'Dev <dev@example.test>',
      pushed: true,
      refs: { branches: ['feature'], remotes: ['origin/feature'], tags: [], stashes: [] },
    });
    expect(ranked[2]!.commit).toMatchObject({ commit: local, pushed: false, refs: { branches: ['main'], remotes: [], tags: [], stashes: [] } });
    expect(ranked[3]!.commit).toMatchObject({ pushed: false, refs: { branches: [], remotes: [], stashes: ['stash@{0}'] } });

    // On screen: the one line leads with the client bundle; the ranked places follow it, in order, with what to do.
    const out = incident.stdout;
    expect(out).toContain('found in a client bundle, public to every browser — dist/static/app.js:2 (ignored by git); and in git history — ');
    expect(out).toContain('pushed to origin/feature');
    const order = [
      'client bundle — dist/static/app.js:2 (ignored by git) · to do: keep the key on the server',
      `pushed commit — ${pushed.slice(0, 7)} src/config.ts:1 by Dev <dev@example.test>, 5 days ago, on feature, origin/feature · to do: rotate first`,
      `unpushed commit — ${local.slice(0, 7)} fixtures/key.hex:1 (hex) by Dev <dev@example.test>, 3 days ago, on main · ` +
        'to do: rewrite it before anyone pushes it',
      'stash — ',
      'tracked file — fixtures/key.hex:1 (hex) · to do:',
      'ignored file — env.bak:4 (base64) · to do: delete it',
    ].map((text) => out.indexOf(text));
    expect(
      order.every((at) => at >= 0),
      out,
    ).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);

    // In the report: the ranked table, worst first, with what it means and what to do.
    const report = [...reports(ws)].find(([name]) => name.endsWith('-incident.md'))![1];
    const rows = report.split('\n').filter((l) => /^\| \d+\. /.test(l));
    expect(rows.map((r) => r.split(' | ')[0])).toEqual([
      '| 1. client bundle',
      '| 2. pushed commit',
      '| 3. unpushed commit',
      '| 4. stash',
      '| 6. tracked file',
      '| 8. ignored file',
    ]);
    expect(rows[1]).toContain(`\`${pushed}\``);
    expect(rows[1]).toContain('(on feature, origin/feature)');
    expect(rows[1]).toContain('git filter-repo --replace-text');
    expect(rows[0]).toContain('every browser');

    // A second rotation: the leaked key is now two rotations back, and in no store.
    const rotated = await rekeyIn(ws, ['rotate', ws.credential, '--allow-recent']);
    expect(rotated.code, show(rotated)).toBe(0);
    const current = envValue(ws)!;
    expect([old, afterIncident]).not.toContain(current);

    // rekey scan finds the leaked key by its fingerprint, in the same places, and names the rotation it was the old key of.
    const scan = await rekeyIn(ws, ['scan', ws.credential]);
    expect(scan.code, show(scan)).toBe(6);
    expect(scan.stdout).toMatch(/^scan · sandbox-key · 3 known values by fingerprint · candidates by /m);
    for (const text of ['client bundle — dist/static/app.js:2', 'pushed commit — ', 'unpushed commit — ', 'stash — ', 'ignored file — env.bak:4 (base64)'])
      expect(scan.stdout).toContain(text);
    expect(scan.stdout).toContain(`value ${fingerprint(old)}: old key of run ${run}`);
    expect(scan.stdout).toMatch(/^found: 6 places holding 1 of 3 known values/m);
    const json = await rekeyIn(ws, ['--json', 'scan', ws.credential]);
    expect(json.code).toBe(6);
    const events = json.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(events.filter((e) => e['event'] === 'scan.finding').map((e) => e['exposure'])).toEqual([
      'client-bundle',
      'pushed-commit',
      'local-commit',
      'stash',
      'tracked-file',
      'ignored-file',
    ]);
    expect(events.at(-1)).toMatchObject({ event: 'scan.done', code: 6, found: 6, complete: { tree: true, history: true } });

    // The scrub, with plain git: the files out of every commit, the stash dropped, force-pushed, reflogs expired, gc.
    rmSync(join(ws.dir, 'dist'), { recursive: true });
    rmSync(join(ws.dir, 'env.bak'));
    git('stash', 'clear');
    git('filter-branch', '-f', '--index-filter', 'git rm -q --cached --ignore-unmatch src/config.ts fixtures/key.hex', '--', '--branches', '--tags');
    // filter-branch checked out the rewritten main, which no longer has the fixture: nothing may be left either way.
    rmSync(join(ws.dir, 'fixtures'), { recursive: true, force: true });
    git('push', '-q', '-f', 'origin', 'feature');
    for (const ref of git('for-each-ref', '--format=%(refname)', 'refs/original').split('\n').filter(Boolean)) git('update-ref', '-d', ref);
    git('reflog', 'expire', '--expire=now', '--all');
    git('gc', '-q', '--prune=now');

    const clean = await rekeyIn(ws, ['scan', ws.credential]);
    expect(clean.code, show(clean)).toBe(0);
    expect(clean.stdout).toMatch(/^not found: none of the 3 known values is in the working tree or git history/m);

    expectNoKey(
      ws,
      { incident: out, incidentErr: incident.stderr, scan: scan.stdout, scanErr: scan.stderr, json: json.stdout, clean: clean.stdout, rotate: rotated.stdout },
      [old, afterIncident, current],
    );
  }, 120_000);
});
