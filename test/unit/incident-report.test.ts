/**
 * The incident report a responder reads (issue 11), rendered from a fixed run record:
 * - the provider's activity is a sentence and a table, never raw JSON, titled "Activity since the leak" in an incident
 *   ("Audit findings" in a drill, as before);
 * - rekey's own requests (its pre-run check of the old key, its verify, its proof of death) are left out of that
 *   activity, identified by time and request, and the report says how many and what they were; one call accounts for
 *   one log entry only, so a look-alike request by someone else in the same second is still listed;
 * - the report ends with the responder's checklist: the runbook's log page and changes to reverse, whom to tell, the
 *   rollout hooks that ran, and for a key in git history rotate-first and scrub guidance that names a placeholder,
 *   never the key;
 * - no key appears in the report, in any spelling the redactor knows (raw, base64, hex), even when the provider's
 *   log echoes one.
 */
import { describe, expect, it } from 'vitest';
import type { LeakSearchResult } from '../../src/contract/leaks.js';
import type { RunbookResponse } from '../../src/contract/runbook.js';
import { Secret } from '../../src/contract/secret.js';
import type { ProviderCall } from '../../src/contract/steps.js';
import type { RunSummary } from '../../src/engine/summary.js';
import { splitOwnCalls } from '../../src/report/activity.js';
import { checklistLines, responderChecklist } from '../../src/report/checklist.js';
import { renderReport } from '../../src/report/report.js';

const CANARY = 'rk_canary_incident_report_q7w3zx9vKpLm';
new Secret(CANARY); // known to the redactor, as every value the run held

const START = Date.parse('2026-11-24T10:00:00.000Z');
const at = (seconds: number) => new Date(START + seconds * 1000).toISOString();

/** rekey's own requests, as RunContext records them. */
const calls: ProviderCall[] = [
  {
    step: 'new-key-accepted',
    name: 'whoami',
    method: 'GET',
    host: '127.0.0.1:1',
    path: '/v1/whoami',
    sent: at(1),
    answered: at(1.05),
    status: 200,
    purpose: 'its check of the old key before the run',
  },
  {
    step: 'new-key-accepted',
    name: 'whoami',
    method: 'GET',
    host: '127.0.0.1:1',
    path: '/v1/whoami',
    sent: at(20),
    answered: at(20.04),
    status: 200,
    purpose: 'its verify of the new key',
  },
  {
    step: 'revoke-old',
    name: 'revoke',
    method: 'DELETE',
    host: '127.0.0.1:1',
    path: '/v1/keys/self',
    sent: at(25),
    answered: at(25.03),
    status: 204,
    purpose: 'its revoke of the old key',
  },
  {
    step: 'old-key-rejected',
    name: 'whoami old',
    method: 'GET',
    host: '127.0.0.1:1',
    path: '/v1/whoami',
    sent: at(26),
    answered: at(26.02),
    status: 401,
    purpose: 'its proof that the old key is dead',
  },
];

/** The provider's log, as the sandbox's activity route answers it (route patterns, key ids, statuses). */
const events = [
  // The attacker, two hours before the run.
  { at: at(-7200), keyId: 'key_old', action: 'mint', route: '/v1/keys', status: 201 },
  { at: at(-3600), keyId: 'key_old', action: 'whoami', route: '/v1/whoami', status: 200 },
  // rekey's pre-run check, and someone else's identical request in the same second: only one is rekey's.
  { at: at(1.02), keyId: 'key_old', action: 'whoami', route: '/v1/whoami', status: 200 },
  { at: at(1.4), keyId: 'key_old', action: 'whoami', route: '/v1/whoami', status: 200 },
  { at: at(20.01), keyId: 'key_new', action: 'whoami', route: '/v1/whoami', status: 200 },
  { at: at(25.01), keyId: 'key_old', action: 'revoke', route: '/v1/keys/self', status: 204 },
  { at: at(26.01), keyId: 'key_old', action: 'whoami', route: '/v1/whoami', status: 401 },
  // A log that echoes the key (a provider logging the request URL): it must never reach the report.
  { at: at(-1800), keyId: null, action: 'check', route: `/v1/check?apikey=${CANARY}`, status: 401, note: Buffer.from(CANARY).toString('base64') },
  { at: at(-900), keyId: null, action: 'check', route: '/v1/check', status: 401, note: Buffer.from(CANARY).toString('hex') },
];

const respond: RunbookResponse = {
  logs: { text: 'Workbench → Logs, filtered by the time window.', url: 'https://dashboard.example.test/logs' },
  changes: ['New or changed webhook endpoints.', 'Refunds and payouts you did not make.'],
  notify: ['The provider support, if money moved.'],
  sources: ['https://docs.example.test/keys'],
};

const leak: LeakSearchResult = {
  root: '/work/app',
  git: 'repository',
  files: [],
  commits: [{ commit: 'a41c9e2b7d0f1e2d3c4b5a6978877665544332211', date: '2026-11-21T09:00:00Z', subject: 'add config', path: 'src/config.ts', lines: [12] }],
  totals: { files: 0, blobs: 1, commits: 1 },
  skipped: [],
  trackedStores: [],
  complete: { tree: true, history: true },
  scanned: { files: 10, blobs: 20, bytes: 2048, ms: 40 },
};

function record(mode: RunSummary['mode'] = 'incident'): RunSummary {
  return {
    run: '20261124T100000Z-abcdef',
    credential: 'api',
    runbook: 'sandbox',
    overlap: 'until-revoked',
    mode,
    result: 'done',
    ms: 40_000,
    budgetMs: 300_000,
    outageMs: undefined,
    oldFingerprint: '0123456789abcdef',
    newFingerprint: 'fedcba9876543210',
    oldMask: '…cdef',
    newMask: '…3210',
    timeline: [
      {
        phase: 'rollout',
        step: 'hook:0',
        name: 'kubectl rollout restart deploy/api',
        human: false,
        startMs: 10_000,
        ms: 3_200,
        waitMs: 0,
        result: 'done',
        detail: 'exit 0',
      },
      {
        phase: 'rollout',
        step: 'hook:1',
        name: 'systemctl restart worker',
        human: false,
        startMs: 13_200,
        ms: 100,
        waitMs: 0,
        result: 'failed',
        detail: 'exit 1',
      },
      {
        phase: 'audit',
        step: 'audit:activity',
        name: 'activity since the leak',
        human: false,
        startMs: 30_000,
        ms: 50,
        waitMs: 0,
        result: 'done',
        detail: '200',
      },
    ],
    findings: { activity: { events } },
    calls,
    error: undefined,
    hint: undefined,
    resumable: false,
    resumed: false,
    startedAt: at(0),
    stores: ['dotenv:./.env#API_KEY'],
    roundTrips: [],
    incident:
      mode === 'incident'
        ? {
            since: at(-3 * 3600),
            until: at(40),
            revokeFirst: false,
            revokeFirstMoot: false,
            provable: true,
            provenDeadAt: at(26.02),
            deadBasis: 'check',
            deadProblem: undefined,
            deadAfterMs: 26_020,
            revokeWindowMs: undefined,
            leak,
            respond,
            provider: 'Sandbox',
          }
        : undefined,
  };
}

/** The section of a Markdown report from its `## title` to the next `## `. */
function section(report: string, title: string): string {
  const start = report.indexOf(`\n## ${title}\n`);
  expect(start, `no section "${title}"`).toBeGreaterThan(-1);
  const next = report.indexOf('\n## ', start + 1);
  return report.slice(start, next === -1 ? undefined : next);
}

/** The data rows of the first Markdown table in `text` (after its header and separator). */
const tableRows = (text: string) =>
  text
    .split('\n')
    .filter((l) => l.startsWith('| '))
    .slice(2);

describe('incident report: activity since the leak', () => {
  it('is titled for the incident, in sentences and a table, never raw JSON', () => {
    const report = renderReport(record());
    expect(report).not.toContain('## Audit findings');
    const activity = section(report, 'Activity since the leak');
    expect(activity).toContain('### activity since the leak');
    expect(activity).toMatch(/The provider listed 9 entries in `events` since /);
    expect(activity).toContain('| at | keyId | action | route | status | note |');
    // No JSON object or quoted field name anywhere in the section.
    expect(activity).not.toMatch(/[{}]|"keyId"|"status"/);
  });

  it("leaves rekey's own calls out, says how many and what they were, and keeps a look-alike in the same second", () => {
    const activity = section(renderReport(record()), 'Activity since the leak');
    expect(activity).toContain(
      "4 are rekey's own requests during this run, left out below: its check of the old key before the run, its verify of the new key, " +
        'its revoke of the old key, its proof that the old key is dead',
    );
    expect(activity).toContain('The other 5 entries are to review:');
    const rows = tableRows(activity);
    expect(rows).toHaveLength(5);
    // The attacker's requests stay, the one 0.4 s after rekey's own check included; none of rekey's own is listed.
    expect(rows.filter((r) => r.includes('| key_old | whoami | /v1/whoami | 200 |'))).toHaveLength(2);
    expect(rows.some((r) => r.includes('key_new'))).toBe(false);
    expect(rows.some((r) => r.includes('| revoke |') || (r.includes('| 401 |') && r.includes('key_old')))).toBe(false);
  });

  it("matches a call by time, status, path and method: a different status or a time outside the call is not rekey's", () => {
    const call = calls[0]!;
    const entry = (over: Record<string, unknown>) => ({ at: at(1.02), route: '/v1/whoami', status: 200, method: 'GET', ...over });
    expect(splitOwnCalls([entry({})], [call]).own).toHaveLength(1);
    expect(splitOwnCalls([entry({ status: 401 })], [call]).own).toHaveLength(0);
    expect(splitOwnCalls([entry({ at: at(5) })], [call]).own).toHaveLength(0);
    expect(splitOwnCalls([entry({ route: '/v1/balance' })], [call]).own).toHaveLength(0);
    expect(splitOwnCalls([entry({ method: 'POST' })], [call]).own).toHaveLength(0);
    // A route pattern and a Unix time in seconds are matched too; an entry without a time is never taken for rekey's.
    expect(splitOwnCalls([{ time: START / 1000 + 1, path: '/v1/:what', status: 200 }], [call]).own).toHaveLength(1);
    expect(splitOwnCalls([{ route: '/v1/whoami', status: 200 }], [call]).own).toHaveLength(0);
  });

  it("a look-alike request 0.6 s before rekey's own is listed, and rekey's own (logged while in flight) is the one left out", () => {
    const call = calls[0]!;
    const someone = { at: at(0.4), route: '/v1/whoami', status: 200, method: 'GET', who: 'someone' };
    const rekey = { at: at(1.02), route: '/v1/whoami', status: 200, method: 'GET', who: 'rekey' };
    // Both orders of the log: the log's order must not decide which entry the call accounts for.
    for (const log of [
      [someone, rekey],
      [rekey, someone],
    ]) {
      const { own, others } = splitOwnCalls(log, [call]);
      expect(own.map(({ entry }) => entry['who'])).toEqual(['rekey']);
      expect(others.map((entry) => entry['who'])).toEqual(['someone']);
    }
  });

  it('a drill keeps its title: "Audit findings"', () => {
    const report = renderReport(record('drill'));
    expect(report).toContain('## Audit findings');
    expect(report).not.toContain('## Activity since the leak');
    expect(report).not.toContain('## What to do next');
  });
});

describe("incident report: the responder's checklist", () => {
  it("ends the report, with the runbook's log page, its changes, whom to tell and the hooks that ran", () => {
    const report = renderReport(record());
    const next = section(report, 'What to do next');
    expect(report.lastIndexOf('\n## ')).toBe(report.indexOf('\n## What to do next\n'));
    expect(next).toContain("1. **Review Sandbox's logs for what the leaked key did**");
    expect(next).toContain('Workbench → Logs, filtered by the time window. — https://dashboard.example.test/logs');
    expect(next).toMatch(/Look for …cdef \(fingerprint `0123456789abcdef`\) from .+, when the leak began, until .+, when it was proven dead/);
    expect(next).toMatch(/4 requests from \S+ to \S+ were rekey's own \(its check of the old key before the run, .*\): not the attacker's/);
    expect(next).toContain('   - New or changed webhook endpoints.');
    expect(next).toContain('   - The provider support, if money moved.');
    expect(next).toContain('`kubectl rollout restart deploy/api`: restarted (3.2s) — exit 0');
    expect(next).toContain('`systemctl restart worker`: **failed**: restart it by hand — exit 1');
    expect(next).toContain("_The provider's items come from its public pages: https://docs.example.test/keys._");
  });

  it('for a key in git history: rotate first, then scrub with git filter-repo, with a placeholder for the key', () => {
    const next = section(renderReport(record()), 'What to do next');
    expect(next).toContain('**Rotate first, then scrub the git history**');
    expect(next).toMatch(/\*\*Rotated first:\*\* the key was proven dead at/);
    expect(next).toContain('`<the old key>==>REMOVED`');
    expect(next).toContain('`git show a41c9e2b7d0f:src/config.ts`, line 12');
    expect(next).toContain('`git filter-repo --replace-text ../replacements.txt`');
    expect(next).toContain('git push --force --all && git push --force --tags');
    expect(next).toMatch(/everyone re-clones/);
    expect(next).toMatch(/forks, pull-request refs \(`refs\/pull\/\*`/);
    expect(next).toMatch(/CI caches/);
  });

  it('says the key is not proven dead when it is not, before any scrub', () => {
    const r = record();
    const next = section(renderReport({ ...r, incident: { ...r.incident!, provenDeadAt: undefined, deadAfterMs: undefined } }), 'What to do next');
    expect(next).toContain('**Rotate first:** the key is not proven dead.');
    expect(next).toContain('until now: it is not proven dead');
  });

  it('without rollout hooks or a runbook section, says what to restart and where to look by hand', () => {
    const r = record();
    const items = responderChecklist({ ...r, timeline: [], incident: { ...r.incident!, respond: undefined, leak: undefined } });
    const text = checklistLines(items).join('\n');
    expect(text).toContain("Look through Sandbox's own logs for requests made with the old key (the runbook names no log page for Sandbox).");
    expect(text).toContain('No rollout hook ran');
    expect(text).not.toContain('filter-repo');
    // The screen's lines carry no Markdown emphasis.
    expect(text).not.toContain('**');
  });
});

describe('incident report: no key, in any spelling', () => {
  it('neither the key nor its base64 or hex form is in the report, though the provider log echoed them', () => {
    const report = renderReport(record());
    for (const form of [CANARY, Buffer.from(CANARY).toString('base64'), Buffer.from(CANARY).toString('hex'), CANARY.slice(-8)]) {
      expect(report.includes(form), form).toBe(false);
    }
    const screen = checklistLines(responderChecklist(record())).join('\n');
    expect(screen.includes(CANARY)).toBe(false);
  });
});
