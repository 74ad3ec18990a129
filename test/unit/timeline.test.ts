/**
 * The timeline splits a step with a person in it into the person's time (a prompt open) and rekey's own, on the
 * screen chart, in the report's bars and in the totals, so that "rekey took" never includes the person's wait.
 */
import { describe, expect, it } from 'vitest';
import type { TimelineEntry } from '../../src/engine/run.js';
import type { RunSummary } from '../../src/engine/run.js';
import { splitTime, stepBar, stepTime, stepWho, timelineChart } from '../../src/report/timeline.js';

const entry = (over: Partial<TimelineEntry>): TimelineEntry => ({
  phase: 'generate',
  step: 'mint',
  name: 'request a key',
  human: false,
  startMs: 0,
  ms: 100,
  waitMs: 0,
  result: 'done',
  detail: undefined,
  ...over,
});

describe('timeline: person vs rekey', () => {
  it("a step with a prompt counts the open prompt as the person's and the rest as rekey's", () => {
    expect(stepTime(entry({ human: true, ms: 31_000, waitMs: 30_000 }))).toEqual({ humanMs: 30_000, machineMs: 1_000 });
    expect(stepWho(entry({ human: true, ms: 31_000, waitMs: 30_000 }))).toBe('you 0:30 · rekey 1.0s');
  });

  it("a machine step is all rekey's, even if it reports a wait", () => {
    expect(stepTime(entry({ human: false, ms: 50, waitMs: 20 }))).toEqual({ humanMs: 0, machineMs: 50 });
    expect(stepWho(entry({ ms: 50 }))).toBe('rekey 50ms');
  });

  it('a wait longer than the step (clock skew between two readings) is capped at the step', () => {
    expect(stepTime(entry({ human: true, ms: 10, waitMs: 12 }))).toEqual({ humanMs: 10, machineMs: 0 });
  });

  it("bars: the person's share first in ▒, then rekey's in █, in proportion", () => {
    expect(stepBar(entry({ human: true, ms: 1_000, waitMs: 900 }), 10)).toEqual({ human: '▒'.repeat(9), machine: '█' });
    expect(stepBar(entry({ human: true, ms: 1_000, waitMs: 1 }), 10)).toEqual({ human: '▒', machine: '█'.repeat(9) });
    expect(stepBar(entry({ ms: 1_000 }), 4)).toEqual({ human: '', machine: '████' });
  });

  it('totals add the split of every step', () => {
    const steps = [entry({ ms: 40 }), entry({ human: true, ms: 5_060, waitMs: 5_000 }), entry({ ms: 100 }), entry({ human: true, ms: 2_000, waitMs: 2_000 })];
    expect(splitTime(steps)).toEqual({ humanMs: 7_000, machineMs: 200 });
  });

  it('the chart (screen and report) shows both shares of a human step on one row, the outage window and the totals', () => {
    const timeline = [entry({ name: 'preflight', ms: 1_000 }), entry({ name: 'request a key', human: true, startMs: 1_000, ms: 3_000, waitMs: 2_000 })];
    const summary = { timeline, ms: 4_000, outageMs: 3_000, outageBasis: 'rejected', budgetMs: 300_000, report: undefined } as unknown as RunSummary;
    const lines = timelineChart(summary);
    expect(lines[0]).toMatch(/^ +0 +4\.0s$/);
    expect(lines[1]).toMatch(/^ generate preflight +█{10} {30}  rekey 1\.0s$/);
    expect(lines[2]).toMatch(/^ generate request a key +▒{20}█{10}  you 2\.0s · rekey 1\.0s$/);
    // Verify never ran here, so the window is drawn up to the end of the run.
    expect(lines[3]).toMatch(/^ +outage window +░{30}  old key dead 3\.0s$/);
    expect(lines.at(-1)).toBe(' ▒ you 2.0s · █ rekey 2.0s · ░ outage window 3.0s · total 4.0s (budget 5:00, 4:56 to spare)');
  });

  it('step names are cut to fit an 80-column terminal, and shown whole on a 140-column one', () => {
    const name = 'user stats with the new key (GET /v1/users/{userId}/stats)';
    const summary = { timeline: [entry({ name, ms: 1_000 })], ms: 1_000, budgetMs: 0, report: undefined } as unknown as RunSummary;
    expect(timelineChart(summary, undefined, 40, 80)[1]).toContain(`${name.slice(0, 29)}…`);
    expect(timelineChart(summary, undefined, 40, 140)[1]).toContain(name);
  });

  it('a window counted from the prompt (no check of the old key to poll) is labelled an upper bound, on the row and in the totals', () => {
    const timeline = [entry({ name: 'request a key', human: true, ms: 3_000, waitMs: 2_000 })];
    const lines = timelineChart({ timeline, ms: 3_000, outageMs: 3_000, outageBasis: 'prompt', budgetMs: 0, report: undefined } as unknown as RunSummary);
    expect(lines[2]).toMatch(/^ +outage window +░+  at most 3\.0s$/);
    expect(lines.at(-1)).toContain('░ outage window at most 3.0s');
  });
});
