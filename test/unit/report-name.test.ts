/**
 * Report file names (issue 8): two runs that started in the same second used to share one report name
 * (`<time>-<credential>.md`), and the second overwrote the first. A report is now named after its run id, which is
 * unique, and is created exclusively: an existing report is never replaced.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeReport } from '../../src/report/report.js';

type Summary = Parameters<typeof writeReport>[1];

let stateDir: string;
beforeEach(() => {
  stateDir = mkdtempSync(join(tmpdir(), 'rekey-report-name-'));
});
afterEach(() => {
  rmSync(stateDir, { recursive: true, force: true });
});

function summary(run: string, result: Summary['result'] = 'done'): Summary {
  return {
    run,
    credential: 'api',
    runbook: 'sandbox',
    overlap: 'until-revoked',
    mode: 'scheduled',
    result,
    ms: 1200,
    budgetMs: 300_000,
    outageMs: undefined,
    oldFingerprint: '0123456789abcdef',
    newFingerprint: 'fedcba9876543210',
    oldMask: '…cdef',
    newMask: '…3210',
    timeline: [],
    findings: {},
    error: undefined,
    hint: undefined,
    resumable: false,
    resumed: false,
    // Both runs started in the same second.
    startedAt: '2026-11-24T02:45:12.345Z',
    stores: ['dotenv:./.env#API_KEY'],
    roundTrips: [],
  };
}

describe('report names (issue 8: two runs in one second)', () => {
  it('two runs that start in the same second get two reports, each named after its run id', async () => {
    const a = await writeReport(stateDir, summary('20261124T024512Z-aaaaaa'));
    const b = await writeReport(stateDir, summary('20261124T024512Z-bbbbbb'));
    expect(a).not.toBe(b);
    expect(readdirSync(join(stateDir, 'reports')).sort()).toEqual([basename(a), basename(b)].sort());
    expect(basename(a)).toBe('20261124T024512Z-aaaaaa-api.md');
    expect(readFileSync(a, 'utf8')).toContain('20261124T024512Z-aaaaaa');
    expect(readFileSync(b, 'utf8')).toContain('20261124T024512Z-bbbbbb');
  });

  it('a second report of the same run (a resume after the report was written) never replaces the first', async () => {
    const run = '20261124T024512Z-cccccc';
    const first = await writeReport(stateDir, summary(run, 'failed'));
    const text = readFileSync(first, 'utf8');
    const second = await writeReport(stateDir, { ...summary(run, 'done'), resumed: true });
    expect(second).not.toBe(first);
    expect(readFileSync(first, 'utf8')).toBe(text);
    expect(readFileSync(second, 'utf8')).toContain('**done**');
    expect(readdirSync(join(stateDir, 'reports'))).toHaveLength(2);
  });

  it('an incident report says so in its name', async () => {
    const path = await writeReport(stateDir, { ...summary('20261124T024512Z-dddddd'), mode: 'incident' });
    expect(basename(path)).toBe('20261124T024512Z-dddddd-api-incident.md');
  });
});
