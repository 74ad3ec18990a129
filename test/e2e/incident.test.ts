/**
 * `rekey incident` end to end, on the BUILT CLI (`npx tsc -p tsconfig.build.json` first), against the sandbox provider
 * started here, in workspaces that are git repositories holding the leaked (old) key:
 * - the leak search names the commit and path:line (a key committed, then removed), or the working-tree files (a key
 *   still there), in stdout, the report, the journal and the audit log, none of which ever holds a key;
 * - a `git` shim on PATH logs every argv and environment git is started with: the key is in none of them;
 * - `--revoke-first`: the sandbox's own activity log shows the old key rejected before the new key's first check;
 *   without it, the normal order; for overlap none it changes nothing;
 * - the old key's time of death on screen, as a --json event, and in the report;
 * - a bad or future `--since` is refused (exit 2) before anything starts;
 * - killed (SIGKILL) after every journal record, `rekey resume` finishes the run in revoke-first order, reusing the
 *   journaled leak findings after retire; `rekey rollback` of a revoke-first run is refused.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type Sandbox, startSandbox } from '../../src/sandbox/server.js';
import {
  ACCOUNT,
  allFiles,
  audit,
  chainProblem,
  envValue,
  journal,
  onlyRun,
  rekeyIn,
  removeWorkspaces,
  reports,
  runIds,
  sandboxPool,
  show,
  workspace,
  type Row,
  type Workspace,
} from './helpers.js';

const extraFolders: string[] = [];

const sandbox = sandboxPool();
afterAll(() => {
  removeWorkspaces();
  for (const dir of extraFolders) rmSync(dir, { recursive: true, force: true });
});

const DAY = 86_400_000;

/** Make the workspace a git repository (the .env store and rekey's state ignored), with dated commits. */
function gitRepo(ws: Workspace): { commit: (message: string, daysAgo: number) => string; git: (...args: string[]) => string } {
  const env = { ...process.env, HOME: ws.dir, GIT_CONFIG_NOSYSTEM: '1' };
  const git = (...args: string[]) => execFileSync('git', ['-C', ws.dir, ...args], { encoding: 'utf8', env });
  git('init', '-q');
  git('config', 'user.email', 'dev@example.test');
  git('config', 'user.name', 'Dev');
  writeFileSync(join(ws.dir, '.gitignore'), '.env\n.rekey/\n*.bak\n');
  const commit = (message: string, daysAgo: number) => {
    const date = new Date(Date.now() - daysAgo * DAY).toISOString();
    git('add', '-A');
    execFileSync('git', ['-C', ws.dir, 'commit', '-q', '-m', message], { env: { ...env, GIT_AUTHOR_DATE: date, GIT_COMMITTER_DATE: date } });
    return git('rev-parse', 'HEAD').trim();
  };
  return { commit, git };
}

function put(ws: Workspace, path: string, text: string): void {
  mkdirSync(join(ws.dir, path, '..'), { recursive: true });
  writeFileSync(join(ws.dir, path), text);
}

/** Every place a key must never be: the outputs given, and every file under .rekey (journal, audit log, reports, locks). */
function expectNoKey(ws: Workspace, outputs: Record<string, string>, keys: readonly string[]): void {
  const places = new Map(Object.entries(outputs));
  for (const [path, text] of allFiles(ws.stateDir)) places.set(path, text);
  expect([...places.keys()].some((p) => p.includes('/runs/'))).toBe(true);
  expect([...places.keys()].some((p) => p.includes('/reports/'))).toBe(true);
  expect([...places.keys()].some((p) => p.endsWith('audit.jsonl'))).toBe(true);
  for (const [place, text] of places) {
    for (const key of keys) {
      expect(text.includes(key), `${place} holds a key`).toBe(false);
      expect(text.includes(key.slice(-8)), `${place} holds the end of a key`).toBe(false);
    }
  }
}

/** The incident report of the workspace (exactly one). */
function incidentReport(ws: Workspace): string {
  const written = [...reports(ws)].filter(([name]) => name.endsWith('-incident.md'));
  expect(written.map(([name]) => name)).toHaveLength(1);
  return written[0]![1];
}

/** Key ids of the seed (minted with mintKey) and of the key the run minted over HTTP, from the sandbox's activity. */
function keyIds(s: Sandbox): { old: string; fresh: string } {
  const events = s.activity(ACCOUNT);
  const old = events.find((e) => e.action === 'mint' && e.route === 'mintKey')!.keyId!;
  const fresh = events.find((e) => e.action === 'mint' && e.route !== 'mintKey')!.keyId!;
  return { old, fresh };
}

/** Positions in the sandbox's activity log: the old key's first rejection and revoke, the new key's first check. */
function order(s: Sandbox): { oldRevoked: number; oldRejected: number; newFirstCheck: number } {
  const events = s.activity(ACCOUNT);
  const { old, fresh } = keyIds(s);
  return {
    oldRevoked: events.findIndex((e) => e.keyId === old && e.action === 'revoke' && e.status === 204),
    oldRejected: events.findIndex((e) => e.keyId === old && e.action === 'whoami' && e.status === 401),
    newFirstCheck: events.findIndex((e) => e.keyId === fresh && e.action === 'whoami'),
  };
}

const index = (rows: readonly Row[], type: string, step: string) => rows.findIndex((r) => r.type === type && r['step'] === step);

describe('rekey incident: where it leaked', () => {
  it('a key committed, then removed: the commit and path:line in stdout, report, journal and audit log; the normal order', async () => {
    const s = await sandbox({ overlap: 'until-revoked' });
    const ws = workspace({ sandbox: s, runbook: 'sandbox' });
    const { commit } = gitRepo(ws);
    put(ws, 'README.md', '# app\n');
    commit('initial', 10);
    put(ws, 'src/config.ts', `export const region = 'eu';\n// TODO: move to the environment\nexport const apiKey = '${ws.seed}';\n`);
    const added = commit('add the sandbox config', 3);
    put(ws, 'src/config.ts', "export const region = 'eu';\n");
    commit('remove the key', 1);

    const result = await rekeyIn(ws, ['incident', ws.credential, '--since', '3h']);
    expect(result.code, show(result)).toBe(0);
    const fresh = envValue(ws)!;
    expect(fresh).not.toBe(ws.seed);
    expect(s.isActive(ws.seed)).toBe(false);
    expect(s.isActive(fresh)).toBe(true);

    const out = result.stdout;
    expect(out).toMatch(new RegExp(`^INCIDENT · ${ws.credential} · leaked since (\\d{4}-\\d\\d-\\d\\d )?\\d\\d:\\d\\d \\(3h ago\\)$`, 'm'));
    expect(out).toMatch(/^checks: 1 store readable/m);
    expect(out).toContain('· incident');
    const dead = new RegExp(`old key …${ws.seed.slice(-4)} proven dead at \\d\\d:\\d\\d:\\d\\d \\(\\d+:\\d\\d after start\\)`);
    expect(out).toMatch(dead);
    const leakLine = `found in git history — commit ${added.slice(0, 7)} (src/config.ts:3), 3 days ago; not in the working tree`;
    expect(out).toContain(`leak search`);
    expect(out).toContain(leakLine);
    // The time of death comes first: the search never delays it.
    expect(out.search(dead)).toBeLessThan(out.indexOf(leakLine));
    expect(out).toMatch(/audit window +\d+ms +(\d{4}-\d\d-\d\d )?\d\d:\d\d → \d\d:\d\d \(3h\)/);
    expect(out).not.toContain('revoke first');

    // Normal order: the new key is verified before the old one is revoked.
    const o = order(s);
    expect(o.newFirstCheck).toBeGreaterThanOrEqual(0);
    expect(o.newFirstCheck).toBeLessThan(o.oldRevoked);
    expect(o.oldRevoked).toBeLessThan(o.oldRejected);

    const run = onlyRun(ws);
    const rows = journal(ws, run);
    expect(chainProblem(rows)).toBeUndefined();
    expect(rows[0]).toMatchObject({ type: 'run.started', mode: 'incident' });
    expect(rows[0]!['revokeFirst']).toBeUndefined();
    expect(Date.now() - Date.parse(String(rows[0]!['since']))).toBeGreaterThanOrEqual(3 * 3_600_000);
    expect(index(rows, 'step.done', 'verify:whoami')).toBeLessThan(index(rows, 'step.started', 'revoke:revoke-old'));
    expect(index(rows, 'step.done', 'verify-revoked:old-rejected')).toBeLessThan(index(rows, 'step.started', 'leak-search'));
    expect(index(rows, 'step.done', 'leak-search')).toBeLessThan(index(rows, 'step.started', 'retire:0'));
    const searched = rows.find((r) => r.type === 'step.done' && r['step'] === 'leak-search')!['data'] as {
      leak: { commits: Array<Record<string, unknown>>; files: unknown[] };
    };
    expect(searched.leak.commits).toEqual([
      expect.objectContaining({ commit: added, date: expect.any(String), subject: 'add the sandbox config', path: 'src/config.ts', lines: [3] }),
    ]);
    expect(searched.leak.files).toEqual([]);

    const records = audit(ws);
    expect(chainProblem(records)).toBeUndefined();
    expect(records.find((r) => r['phase'] === 'leak-search')).toMatchObject({ run, result: 'done', detail: leakLine });
    expect(String(records.find((r) => r['phase'] === 'revoke')!['detail'])).toMatch(
      /^old key proven dead at \d{4}-\d\d-\d\dT[\d:.]+Z \(\d+:\d\d after start\)$/,
    );

    const report = incidentReport(ws);
    expect(report).toContain('# rekey incident: sandbox-key');
    expect(report).toMatch(/\| leaked since \| \d{4}-\d\d-\d\dT[\d:.]+Z \(.*3h before the run started\) \|/);
    expect(report).toMatch(
      new RegExp(
        String.raw`\| proven dead at \| \*\*\d{4}-\d\d-\d\dT[\d:.]+Z\*\* \(\d\d:\d\d:\d\d local time\) · ` +
          String.raw`by the documented rejection, with the new key accepted by the same check as a control \|`,
      ),
    );
    expect(report).toMatch(/\| time to dead \| \*\*\d+:\d\d\*\* after the run started · 3h after the leak began \|/);
    expect(report).toContain('| order | roll out and verify, then revoke (no `--revoke-first`) |');
    expect(report).not.toContain('revoke-first window');
    expect(report).toMatch(/\| audit window \| \d{4}-\d\d-\d\dT[\d:.]+Z → \d{4}-\d\d-\d\dT[\d:.]+Z \(3h\) \|/);
    expect(report).toContain('## Where it leaked');
    expect(report).toContain(`**${leakLine}**`);
    expect(report).toContain(`| 3. unpushed commit | \`src/config.ts:3\` | \`${added}\` `);
    expect(report).toContain('add the sandbox config');
    expect(report).toContain('## Audit window');
    expect(report).toContain('**Rotate first, then scrub the git history**');

    expectNoKey(ws, { stdout: out, stderr: result.stderr }, [ws.seed, fresh]);
    // Nothing even tried to print a key: the redactor, the last line of defence, had nothing to replace.
    for (const text of [out, result.stderr, report]) expect(text).not.toContain('[redacted');
  }, 60_000);

  it('a key still in the working tree; git never sees it in its argv or environment (PATH shim)', async () => {
    const s = await sandbox({ overlap: 'until-revoked' });
    const ws = workspace({ sandbox: s, runbook: 'sandbox' });
    const { commit } = gitRepo(ws);
    put(ws, 'app.js', `const region = 'eu';\nconst key = "${ws.seed}";\n`);
    const added = commit('app', 2);
    put(ws, 'notes.txt', `${ws.seed}\n`);
    put(ws, '.env.bak', `SANDBOX_API_KEY=${ws.seed}\n`);

    const shims = mkdtempSync(join(tmpdir(), 'rekey-git-shim-'));
    extraFolders.push(shims);
    const log = join(shims, 'git.log');
    const realGit = execFileSync('sh', ['-c', 'command -v git'], { encoding: 'utf8' }).trim();
    writeFileSync(
      join(shims, 'git'),
      `#!/bin/sh\n{ printf 'argv:'; printf ' %s' "$@"; printf '\\n'; env; printf '\\n'; } >> ${JSON.stringify(log)}\nexec ${JSON.stringify(realGit)} "$@"\n`,
    );
    chmodSync(join(shims, 'git'), 0o755);
    // The key in rekey's own environment too (a careless export): git must not inherit it.
    const env = { PATH: `${shims}:${process.env['PATH']}`, LEAKED_KEY: ws.seed, HARMLESS: 'kept' };

    const result = await rekeyIn(ws, ['incident', ws.credential, '--since', '2d'], { env });
    expect(result.code, show(result)).toBe(0);
    const fresh = envValue(ws)!;
    const leakLine =
      `found in git history — commit ${added.slice(0, 7)} (app.js:2), 2 days ago; and in the working tree — app.js:2, notes.txt:1 ` +
      `(untracked); and in files git ignores — .env.bak:1`;
    expect(result.stdout).toContain(leakLine);

    const logged = readFileSync(log, 'utf8');
    for (const used of [
      'rev-parse --show-toplevel',
      'ls-files -z -t -co --exclude-standard',
      'rev-list --all --reflog --objects',
      'cat-file --batch',
      `--find-object=`,
    ])
      expect(logged).toContain(used);
    expect(logged).toContain('HARMLESS=kept');
    expect(logged).not.toContain('LEAKED_KEY=');
    for (const key of [ws.seed, fresh]) {
      expect(logged.includes(key), 'git saw a key').toBe(false);
      expect(logged.includes(key.slice(-8)), 'git saw the end of a key').toBe(false);
    }

    const report = incidentReport(ws);
    expect(report).toContain('| 6. tracked file | `app.js:2` |  |');
    expect(report).toContain('| 7. untracked file | `notes.txt:1` |  |');
    expect(report).toContain('| 8. ignored file | `.env.bak:1` |  |');
    expect(report).toContain("rekey's own store files: .env");
    expectNoKey(ws, { stdout: result.stdout, stderr: result.stderr }, [ws.seed, fresh]);
  }, 60_000);

  it('--json: incident.started, old.dead (time of death) before leak.search, with no key', async () => {
    const s = await sandbox({ overlap: 'until-revoked' });
    const ws = workspace({ sandbox: s, runbook: 'sandbox' });
    put(ws, 'config.js', `module.exports = { key: '${ws.seed}' };\n`);
    const since = new Date(Math.floor((Date.now() - 5 * DAY) / 1000) * 1000);
    const result = await rekeyIn(ws, ['--json', 'incident', ws.credential, '--since', since.toISOString().replace('.000Z', 'Z')]);
    expect(result.code, show(result)).toBe(0);
    const events = result.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    const names = events.map((e) => e['event']);
    expect(names[0]).toBe('incident.started');
    expect(events[0]).toMatchObject({ credential: ws.credential, since: since.toISOString(), revokeFirst: false });
    const dead = events.find((e) => e['event'] === 'old.dead')!;
    expect(dead).toMatchObject({ credential: ws.credential, mask: `…${ws.seed.slice(-4)}`, afterStartMs: expect.any(Number) });
    expect(Date.now() - Date.parse(String(dead['at']))).toBeLessThan(60_000);
    const leak = events.find((e) => e['event'] === 'leak.search')!;
    expect(leak['summary']).toBe(`not a git repository: searched the files under ${ws.dir} only, not git history — found in config.js:1`);
    expect(names.indexOf('old.dead')).toBeLessThan(names.indexOf('leak.search'));
    expect(names.at(-1)).toBe('run.finished');
    expectNoKey(ws, { stdout: result.stdout, stderr: result.stderr }, [ws.seed, envValue(ws)!]);
  }, 60_000);
});

describe('rekey incident --revoke-first', () => {
  it('the old key is rejected before the new key is first checked; said on screen, journaled and reported', async () => {
    const s = await sandbox({ overlap: 'until-revoked' });
    const ws = workspace({ sandbox: s, runbook: 'sandbox' });
    const result = await rekeyIn(ws, ['incident', ws.credential, '--since', '1h', '--revoke-first']);
    expect(result.code, show(result)).toBe(0);
    const fresh = envValue(ws)!;
    expect(s.isActive(fresh)).toBe(true);
    expect(s.isActive(ws.seed)).toBe(false);

    // The sandbox's own record: revoked, then rejected; the new key is presented only after the revoke (first as the
    // proof's control, asked side by side with the old key's rejection), and roll out waits for the proof (journal below).
    const o = order(s);
    expect(o.oldRevoked).toBeGreaterThanOrEqual(0);
    expect(o.oldRevoked).toBeLessThan(o.oldRejected);
    expect(o.oldRevoked).toBeLessThan(o.newFirstCheck);

    const out = result.stdout;
    const note = out.indexOf(
      'revoke first (--revoke-first): the old key is revoked and proven dead right after the new key is staged, before roll out and verify',
    );
    expect(note).toBeGreaterThan(0);
    expect(note).toBeLessThan(out.indexOf(' 1 generate'));
    expect(out).toContain('consumers still on the old key fail until roll out and verify are done');
    expect(out.indexOf(' 4 revoke')).toBeLessThan(out.indexOf(' 2 roll out'));
    // The second part of revoke (leak search, retire) comes after verify, headed as the same phase continued.
    expect(out.indexOf(' 4 revoke, continued')).toBeGreaterThan(out.indexOf(' 3 verify'));
    expect(out.split(/\n 4 revoke\b/).length - 1).toBe(2);
    expect(out.search(/proven dead at/)).toBeLessThan(out.indexOf(' 2 roll out'));
    expect(out).toMatch(/outage window closed after \d+(ms|\.\d+s)/);

    const rows = journal(ws, onlyRun(ws));
    expect(rows[0]).toMatchObject({ type: 'run.started', mode: 'incident', revokeFirst: true });
    expect(index(rows, 'step.done', 'mint')).toBeLessThan(index(rows, 'step.started', 'revoke:revoke-old'));
    expect(index(rows, 'step.done', 'verify-revoked:old-rejected')).toBeLessThan(index(rows, 'step.started', 'promote:0'));
    expect(index(rows, 'step.done', 'verify:whoami')).toBeLessThan(index(rows, 'step.started', 'retire:0'));
    const phases = audit(ws).map((r) => `${r['phase']}${r['detail'] === undefined ? '' : `: ${r['detail']}`}`);
    expect(phases[1]).toMatch(/^revoke: revoked before roll out \(--revoke-first\) · old key proven dead at /);
    expect(phases.map((p) => p.split(':')[0])).toEqual(['generate', 'revoke', 'rollout', 'verify', 'leak-search', 'retire', 'audit', 'run']);

    const report = incidentReport(ws);
    expect(report).toContain('| order | **revoke first** (`--revoke-first`)');
    expect(report).toMatch(
      /\| revoke-first window \| \d+(ms|\.\d+s) \(consumers still on the old key failed from the revoke until roll out and verify were done\) \|/,
    );
    expect(report).not.toContain('| outage window |');
    expect(report).toMatch(/\| time to dead \| \*\*\d+:\d\d\*\* after the run started/);
    expectNoKey(ws, { stdout: out, stderr: result.stderr }, [ws.seed, fresh]);
  }, 60_000);

  it('overlap none: --revoke-first changes nothing, and says so in one line', async () => {
    const s = await sandbox({ overlap: 'none' });
    const ws = workspace({ sandbox: s, runbook: 'sandbox-none' });
    const result = await rekeyIn(ws, ['incident', ws.credential, '--since', '1h', '--revoke-first']);
    expect(result.code, show(result)).toBe(0);
    expect(result.stdout).toContain('--revoke-first changes nothing for overlap none: minting the new key already kills the old one');
    expect(result.stdout).not.toContain('revoke first (--revoke-first)');
    const rows = journal(ws, onlyRun(ws));
    expect(rows[0]!['revokeFirst']).toBeUndefined();
    expect(index(rows, 'step.done', 'verify:whoami')).toBeLessThan(index(rows, 'step.started', 'verify-revoked:old-rejected'));
    const report = incidentReport(ws);
    expect(report).toContain('| order | overlap none: the mint killed the old key (`--revoke-first` changes nothing) |');
    expect(report).toContain('| outage window |');
  }, 60_000);

  it('a failure after the early revoke is fixed forward: rollback refused (exit 3), resume finishes', async () => {
    const s = await sandbox({ overlap: 'until-revoked' });
    // The rollout hook fails on its first call only, as a consumer that is down for a moment.
    const ws = workspace({
      sandbox: s,
      runbook: 'sandbox',
      rollout: [
        { name: 'restart workers', exec: ['node', '-e', "const f=require('fs');if(!f.existsSync('hook-ok')){f.writeFileSync('hook-ok','');process.exit(3)}"] },
      ],
    });
    const failed = await rekeyIn(ws, ['incident', ws.credential, '--since', '1h', '--revoke-first']);
    expect(failed.code, show(failed)).toBe(1);
    expect(failed.stdout).toContain('revoke first: the old key was revoked before roll out, so there is no going back');
    expect(failed.stdout).not.toContain('rolling back');
    const run = onlyRun(ws);
    expect(journal(ws, run).at(-1)).toMatchObject({ type: 'run.finished', result: 'failed' });
    expect(s.isActive(ws.seed)).toBe(false);
    const fresh = envValue(ws)!;
    expect(fresh).not.toBe(ws.seed);

    const rollback = await rekeyIn(ws, ['rollback', run]);
    expect(rollback.code, show(rollback)).toBe(3);
    expect(rollback.stderr).toContain(
      `run ${run} revoked the old key first (incident --revoke-first): the old key is revoked, so rollback would restore a dead key`,
    );
    expect(rollback.stderr).toContain(`fix forward: rekey resume ${run}`);
    expect(rollback.stderr).not.toMatch(/^\s+at /m);
    expect(envValue(ws)).toBe(fresh);

    // A new incident on the same credential is refused until this one is finished, and not offered a rollback.
    const again = await rekeyIn(ws, ['incident', ws.credential, '--since', '1h']);
    expect(again.code, show(again)).toBe(3);
    expect(again.stderr).toContain(`rekey resume ${run}`);
    expect(again.stderr).not.toContain('rekey rollback');

    const resumed = await rekeyIn(ws, ['resume', run]);
    expect(resumed.code, show(resumed)).toBe(0);
    expect(resumed.stdout).toMatch(/old key …\w{4} proven dead at \d\d:\d\d:\d\d \(\d+:\d\d after start\)/);
    expect(envValue(ws)).toBe(fresh);
    expect(s.isActive(fresh)).toBe(true);
    expect(s.stats.minted).toBe(2);
    expect(runIds(ws)).toEqual([run]);
  }, 60_000);
});

describe('rekey incident: --since is checked before anything starts', () => {
  it.each([
    ['yesterday', /--since "yesterday": expected an ISO 8601 time/],
    ['2099-01-01 10:00', /--since "2099-01-01 10:00": that is in the future/],
    ['3x', /--since "3x": expected an ISO 8601 time/],
    ['2026-02-30', /--since "2026-02-30": 2026-02-30 is not a valid date/],
    ['90', /--since "90": a duration needs a unit: 90d\? 90h\?/],
  ])('%j → exit 2, a clear message, no stack, nothing minted or written', async (since, message) => {
    const s = await sandbox({ overlap: 'until-revoked' });
    const ws = workspace({ sandbox: s, runbook: 'sandbox' });
    const minted = s.stats.minted;
    const result = await rekeyIn(ws, ['incident', ws.credential, '--since', since]);
    expect(result.code, show(result)).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(result.stderr).toContain('hint: for example --since 3h');
    expect(result.stderr).not.toMatch(/^\s+at /m);
    expect(result.stdout).toBe('');
    expect(s.stats.minted).toBe(minted);
    expect(existsSync(ws.stateDir)).toBe(false);
  });

  it('--budget without a unit: exit 2, asking for the unit, nothing minted', async () => {
    const s = await sandbox({ overlap: 'until-revoked' });
    const ws = workspace({ sandbox: s, runbook: 'sandbox' });
    const minted = s.stats.minted;
    const result = await rekeyIn(ws, ['incident', ws.credential, '--since', '1h', '--budget', '300']);
    expect(result.code, show(result)).toBe(2);
    expect(result.stderr).toContain('--budget 300: a duration needs a unit: 300d? 300h? 300m? 300s?');
    expect(result.stderr).not.toMatch(/^\s+at /m);
    expect(s.stats.minted).toBe(minted);
  });

  it('without --since: exit 2, naming the option', async () => {
    const s = await sandbox({ overlap: 'until-revoked' });
    const ws = workspace({ sandbox: s, runbook: 'sandbox' });
    const result = await rekeyIn(ws, ['incident', ws.credential]);
    expect(result.code, show(result)).toBe(2);
    expect(result.stderr).toContain("required option '--since <time>' not specified");
    expect(existsSync(ws.stateDir)).toBe(false);
  });
});

describe('rekey incident --revoke-first killed after every journal record, then resumed', () => {
  it('finishes in revoke-first order, one mint, the leak findings reused after retire', async () => {
    const probe = await sandbox({ overlap: 'until-revoked' });
    const first = workspace({ sandbox: probe, runbook: 'sandbox' });
    const whole = await rekeyIn(first, ['incident', first.credential, '--since', '1h', '--revoke-first']);
    expect(whole.code, show(whole)).toBe(0);
    const total = journal(first, onlyRun(first)).length;
    expect(total).toBeGreaterThan(20);

    for (let n = 1; n < total; n++) {
      const s = await startSandbox({ overlap: 'until-revoked' });
      try {
        const ws = workspace({ sandbox: s, runbook: 'sandbox' });
        // The leaked key also sits in a file beside rekey.yaml: once retire has dropped it from the store, only the
        // journaled findings can still name this file.
        put(ws, 'settings.js', `// settings\nexports.key = '${ws.seed}';\n`);
        const at = `killed after record ${n}`;
        const killed = await rekeyIn(ws, ['incident', ws.credential, '--since', '1h', '--revoke-first'], { env: { REKEY_TEST_KILL_AFTER_RECORD: String(n) } });
        expect(killed.signal, `${at}\n${show(killed)}`).toBe('SIGKILL');
        const run = onlyRun(ws);
        expect(journal(ws, run)[0], at).toMatchObject({ type: 'run.started', revokeFirst: true });

        const resumed = await rekeyIn(ws, ['resume', run]);
        expect(resumed.code, `${at}\n${show(resumed)}`).toBe(0);
        const fresh = envValue(ws)!;
        expect(fresh, at).not.toBe(ws.seed);
        expect(s.isActive(fresh), `${at}: new key accepted`).toBe(true);
        expect(s.isActive(ws.seed), `${at}: old key rejected`).toBe(false);
        expect(s.stats.minted, `${at}: keys minted`).toBe(2);
        const o = order(s);
        expect(o.oldRevoked, `${at}: old key revoked before the new key's first check`).toBeLessThan(o.newFirstCheck);
        expect(o.oldRejected, `${at}: old key proven rejected`).toBeGreaterThan(o.oldRevoked);
        const rows = journal(ws, run);
        expect(chainProblem(rows), at).toBeUndefined();
        expect(rows.at(-1), at).toMatchObject({ type: 'run.finished', result: 'done' });
        expect(index(rows, 'step.done', 'verify-revoked:old-rejected'), at).toBeLessThan(index(rows, 'step.done', 'promote:0'));
        expect(resumed.stdout, at).toMatch(/proven dead at \d\d:\d\d:\d\d/);
        const report = incidentReport(ws);
        expect(report, at).toContain('| order | **revoke first**');
        expect(report, at).toContain(`found in settings.js:2`);
        expect(report, at).toMatch(/\| revoke-first window \| \d/);
        expectNoKey(ws, { stdout: killed.stdout + resumed.stdout, stderr: killed.stderr + resumed.stderr }, [ws.seed, fresh]);
      } finally {
        await s.close();
      }
    }
  }, 240_000);
});
