/** The Markdown report of a run: result, timeline, fingerprints, outage window, audit findings. Never a value. */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { RunSummary } from '../engine/run.js';
import { redactor } from '../secret/redactor.js';
import { writeFileAtomic } from '../util/atomic-file.js';
import { formatClock, formatSeconds } from '../util/duration.js';
import { budgetLine, splitTime, stepWho, timelineBars } from './timeline.js';

/** The report as Markdown. */
export function renderReport(summary: RunSummary): string {
  const { humanMs, machineMs } = splitTime(summary.timeline);
  const lines = [
    `# rekey ${summary.mode}: ${summary.credential}`,
    '',
    `| | |`,
    `| --- | --- |`,
    `| result | **${summary.result}** |`,
    `| run | \`${summary.run}\` |`,
    `| started | ${summary.startedAt} |`,
    `| runbook | ${summary.runbook} (overlap: ${summary.overlap}) |`,
    `| total | ${budgetLine(summary.ms, summary.budgetMs)} |`,
    `| person / machine | ${formatClock(humanMs)} / ${formatSeconds(machineMs)} |`,
    ...(summary.outageMs === undefined ? [] : [`| outage window | ${formatSeconds(summary.outageMs)} (from the new key's arrival until roll out and verify were done) |`]),
    `| old key | ${summary.oldMask ?? '—'} \`${summary.oldFingerprint ?? '—'}\` |`,
    `| new key | ${summary.newMask ?? '—'} \`${summary.newFingerprint ?? '—'}\` |`,
    `| stores | ${summary.stores.join(', ')} |`,
    '',
  ];
  if (summary.error !== undefined) {
    lines.push('## What went wrong', '', summary.error, '');
    if (summary.hint !== undefined) lines.push(`**Next:** ${summary.hint}`, '');
  }
  lines.push('## Timeline', '', '| phase | step | who | took | result |', '| --- | --- | --- | --- | --- |');
  for (const entry of summary.timeline) {
    lines.push(`| ${entry.phase} | ${entry.name.replace(/\|/g, '\\|')} | ${entry.human ? 'person' : 'rekey'} | ${entry.result === 'skipped' ? '—' : entry.human ? stepWho(entry) : formatSeconds(entry.ms)} | ${entry.result}${entry.detail ? `: ${entry.detail.replace(/\|/g, '\\|')}` : ''} |`);
  }
  const bars = timelineBars(summary.timeline, summary.ms);
  if (bars.length > 0) lines.push('', '```', ...bars, '```', '', '█ rekey · ▒ person (a prompt open)');
  const recorded = Object.entries(summary.records);
  if (recorded.length > 0) {
    lines.push('', '## Audit findings', '');
    for (const [step, record] of recorded) lines.push(`### ${step}`, '', '```json', JSON.stringify(record, null, 2), '```', '');
  }
  lines.push('', `_Fingerprints are the first 16 hex digits of SHA-256 of the value. Journal: \`runs/${summary.run}.jsonl\`._`, '');
  // The report is built from masks and fingerprints only; scrubbing is the second line of defence.
  return redactor.scrub(lines.join('\n'));
}

/** Write the report to `<stateDir>/reports/` and return its path. */
export function writeReport(stateDir: string, summary: RunSummary): string {
  const dir = join(stateDir, 'reports');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const stamp = summary.startedAt.replace(/:/g, '-').replace(/\.\d+Z$/, 'Z');
  const file = join(dir, `${stamp}-${summary.credential}${summary.mode === 'incident' ? '-incident' : ''}.md`);
  writeFileAtomic(file, renderReport(summary), 0o600);
  return file;
}
