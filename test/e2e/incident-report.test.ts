/**
 * The incident report and screen a responder acts on (issue 11), end to end on the BUILT CLI against the sandbox:
 * - the sandbox's activity log is rendered as a table under "Activity since the leak"; rekey's own requests (its
 *   check of the old key before the run, its verify, its revoke, its proof of death) are left out and counted, and
 *   what is left is exactly what the sandbox recorded before the run: the seed's mint and the attacker's calls;
 * - the audit step is titled "activity since the leak" on screen and in the report;
 * - the report and the screen end with the responder's checklist: the runbook's log page, the rollout hook that ran,
 *   and, for a key in git history, the filter-repo scrub with a placeholder;
 * - no key in stdout, stderr, the state folder or any file rekey left in the workspace, raw, base64 or hex;
 * - killed after its pre-run check and resumed, the run ends with the checklist on screen too, and its report says
 *   that the earlier attempt's requests are not known to it (so they are listed, never silently dropped).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ACCOUNT, allFiles, envValue, onlyRun, rekeyIn, removeWorkspaces, reports, sandboxPool, show, workspace, type Workspace } from './helpers.js';

const sandbox = sandboxPool();
afterAll(() => removeWorkspaces());

const DAY = 86_400_000;

/** Make the workspace a git repository (the .env and rekey's state ignored) and commit `path` with `text`, dated. */
function commitLeak(ws: Workspace, path: string, text: string): string {
  const env = { ...process.env, HOME: ws.dir, GIT_CONFIG_NOSYSTEM: '1' };
  const git = (...args: string[]) => execFileSync('git', ['-C', ws.dir, ...args], { encoding: 'utf8', env });
  git('init', '-q');
  git('config', 'user.email', 'dev@example.test');
  git('config', 'user.name', 'Dev');
  writeFileSync(join(ws.dir, '.gitignore'), '.env\n.rekey/\n');
  mkdirSync(join(ws.dir, path, '..'), { recursive: true });
  writeFileSync(join(ws.dir, path), text);
  const date = new Date(Date.now() - 2 * DAY).toISOString();
  git('add', '-A');
  execFileSync('git', ['-C', ws.dir, 'commit', '-q', '-m', 'add config'], { env: { ...env, GIT_AUTHOR_DATE: date, GIT_COMMITTER_DATE: date } });
  return git('rev-parse', 'HEAD').trim();
}

/** A section of a Markdown report, from `## title` to the next `## `. */
function section(report: string, title: string): string {
  const start = report.indexOf(`\n## ${title}\n`);
  expect(start, `no section "${title}" in\n${report}`).toBeGreaterThan(-1);
  const next = report.indexOf('\n## ', start + 1);
  return report.slice(start, next === -1 ? undefined : next);
}

/** Every spelling of a key that must never be written: itself, its end, base64 and hex. */
const spellings = (key: string) => [key, key.slice(-8), Buffer.from(key).toString('base64'), Buffer.from(key).toString('hex')];

describe('rekey incident: the report and screen a responder acts on', () => {
  it("the sandbox's activity without rekey's own calls, and the checklist, with no key anywhere", async () => {
    const s = await sandbox({ overlap: 'until-revoked' });
    const ws = workspace({ sandbox: s, runbook: 'sandbox', rollout: [{ name: 'restart api', exec: ['true'] }] });
    const commit = commitLeak(ws, 'src/config.ts', `export const apiKey = '${ws.seed}';\n`);
    // The attacker uses the leaked key twice before anyone notices.
    for (let i = 0; i < 2; i++) {
      const answer = await fetch(`${s.url}/v1/whoami`, { headers: { Authorization: `Bearer ${ws.seed}` } });
      expect(answer.status).toBe(200);
    }
    const before = s.activity(ACCOUNT).length;

    const result = await rekeyIn(ws, ['incident', ws.credential, '--since', '3h']);
    expect(result.code, show(result)).toBe(0);
    const fresh = envValue(ws)!;
    expect(fresh).not.toBe(ws.seed);

    // The sandbox's own record: what happened before the run, and what rekey's run did (the activity read is not logged).
    const during = s.activity(ACCOUNT).length - before;
    expect(during).toBeGreaterThanOrEqual(4);

    const written = [...reports(ws)].filter(([name]) => name.endsWith('-incident.md'));
    expect(written).toHaveLength(1);
    const report = written[0]![1];
    expect(report).not.toContain('## Audit findings');
    const activity = section(report, 'Activity since the leak');
    expect(activity).toContain('### activity since the leak');
    expect(activity).toContain(`The provider listed ${before + during} entries in \`events\``);
    expect(activity).toContain(`${during} are rekey's own requests during this run, left out below: its check of the old key before the run`);
    expect(activity).toContain(`The other ${before} entries are to review:`);
    const rows = activity
      .split('\n')
      .filter((l) => l.startsWith('| '))
      .slice(2);
    expect(rows).toHaveLength(before);
    expect(rows.filter((r) => /\| whoami \| \/v1\/whoami \| 200 \|/.test(r))).toHaveLength(2);
    expect(activity).not.toMatch(/[{}]/);

    // The audit step's title, on screen and in the timeline.
    expect(result.stdout).toContain('activity since the leak');
    expect(report).toMatch(/\| audit \| activity since the leak \|/);

    // The checklist ends the report and the screen.
    const next = section(report, 'What to do next');
    expect(report.lastIndexOf('\n## ')).toBe(report.indexOf('\n## What to do next\n'));
    expect(next).toContain("**Review Sandbox's logs for what the leaked key did**");
    expect(next).toContain("The sandbox's activity log");
    expect(next).toContain('`restart api`: restarted');
    expect(next).toContain('`<the old key>==>REMOVED`');
    expect(next).toContain(`\`git show ${commit.slice(0, 12)}:src/config.ts\`, line 1`);
    expect(next).toContain('git filter-repo --replace-text');
    const screen = result.stdout.slice(result.stdout.lastIndexOf('\nWhat to do next:\n'));
    expect(screen).toMatch(/^\nWhat to do next:\n {2}1\. Review Sandbox's logs for what the leaked key did\n/);
    expect(screen).toContain('`restart api`: restarted');
    expect(screen).toContain('`<the old key>==>REMOVED`');
    expect(screen).not.toContain('**');

    // No key anywhere: the outputs, the state folder, and any file rekey left in the workspace (no replacements file).
    const places = new Map<string, string>([['stdout', result.stdout], ['stderr', result.stderr], ...allFiles(ws.stateDir)]);
    expect(readdirSync(ws.dir).filter((f) => /replace/i.test(f))).toEqual([]);
    for (const [place, text] of places)
      for (const key of [ws.seed, fresh])
        for (const form of spellings(key)) expect(text.includes(form), `${place} holds ${form === key ? 'a key' : 'a spelling of a key'}`).toBe(false);
  }, 120_000);

  it("killed after the pre-run check and resumed: the checklist on screen, and the first attempt's requests listed, said so", async () => {
    const s = await sandbox({ overlap: 'until-revoked' });
    const ws = workspace({ sandbox: s, runbook: 'sandbox' });
    const before = s.activity(ACCOUNT).length;
    // Record 3 is the pre-run check's outcome: the kill comes after rekey's first request and before the mint.
    const killed = await rekeyIn(ws, ['incident', ws.credential, '--since', '1h'], { env: { REKEY_TEST_KILL_AFTER_RECORD: '3' } });
    expect(killed.signal, show(killed)).toBe('SIGKILL');
    const firstAttempt = s.activity(ACCOUNT).length - before;
    expect(firstAttempt).toBeGreaterThanOrEqual(1);

    const resumed = await rekeyIn(ws, ['resume', onlyRun(ws)]);
    expect(resumed.code, show(resumed)).toBe(0);
    expect(resumed.stdout).toMatch(/\nWhat to do next:\n {2}1\. Review Sandbox's logs for what the leaked key did\n/);
    const [report] = [...reports(ws)].filter(([name]) => name.endsWith('-incident.md')).map(([, text]) => text);
    const activity = section(report!, 'Activity since the leak');
    expect(activity).toContain('_This run was resumed: requests its earlier attempts made are not known to this report');
    // The seed's mint and the first attempt's requests are listed; only the resumed attempt's are left out.
    const rows = activity
      .split('\n')
      .filter((l) => l.startsWith('| '))
      .slice(2);
    expect(rows).toHaveLength(before + firstAttempt);
    const fresh = envValue(ws)!;
    for (const text of [killed.stdout, killed.stderr, resumed.stdout, resumed.stderr, report!])
      for (const key of [ws.seed, fresh]) for (const form of spellings(key)) expect(text.includes(form)).toBe(false);
  }, 120_000);
});
