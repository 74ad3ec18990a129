/** The Markdown report of a run: result, timeline, fingerprints, outage window, audit findings. Never a value. */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { IncidentSummary, RunSummary } from '../engine/run.js';
import { openFindings } from '../engine/summary.js';
import type { LeakSearchResult } from '../contract/leaks.js';
import { count, describeLeak, leakFindings, refNames } from '../leak-search/index.js';
import { redactor } from '../contract/redactor.js';
import { writeNewFileAtomicAsync } from '../util/atomic-file.js';
import { formatClock, formatSeconds, localTime, span } from '../util/time.js';
import { findingsSection, findingsTitle } from './activity.js';
import { checklistMarkdown, responderChecklist } from './checklist.js';
import { budgetLine, splitTime, stepWho, timelineChart, windowWords } from './timeline.js';

/** The report as Markdown. */
export function renderReport(summary: RunSummary): string {
  const { humanMs, machineMs } = splitTime(summary.timeline);
  const lines = [
    `# rekey ${summary.mode}: ${summary.credential}`,
    '',
    `| | |`,
    `| --- | --- |`,
    `| result | **${summary.result}** |`,
    ...(openFindings(summary).length === 0
      ? []
      : [
          `| ⚠ findings | **${openFindings(summary).length} audit check${openFindings(summary).length === 1 ? '' : 's'} answered no** ` +
            `(${openFindings(summary).join(', ')}): activity not recognised, to investigate (see "${findingsTitle(summary)}" below) |`,
        ]),
    `| run | \`${summary.run}\` |`,
    `| started | ${summary.startedAt} |`,
    `| runbook | ${summary.runbook} (overlap: ${summary.overlap}) |`,
    `| total | ${budgetLine(summary.ms, summary.budgetMs)}${summary.resumed ? ' — this attempt (resumed); the run first started as above' : ''} |`,
    `| person / machine | ${formatClock(humanMs)} / ${formatSeconds(machineMs)} |`,
    ...incidentRows(summary),
    ...(summary.outageMs === undefined || summary.incident?.revokeFirst === true
      ? []
      : [
          `| outage window | ${windowWords(summary.outageBasis).measured ? '' : `${windowWords(summary.outageBasis).short} `}` +
            `${formatSeconds(summary.outageMs)}: counted from ${windowWords(summary.outageBasis).from} until roll out and verify were done |`,
        ]),
    `| old key | ${summary.oldMask ?? '—'} \`${summary.oldFingerprint ?? '—'}\` |`,
    `| new key | ${summary.newMask ?? '—'} \`${summary.newFingerprint ?? '—'}\` |`,
    `| stores | ${summary.stores.join(', ')} |`,
    '',
  ];
  if (summary.error !== undefined) {
    lines.push('## What went wrong', '', summary.error, '');
    if (summary.hint !== undefined) lines.push(`**Next:** ${summary.hint}`, '');
  }
  if (summary.incident !== undefined) lines.push(...incidentSections(summary, summary.incident));
  lines.push('## Timeline', '', '| phase | step | who | took | result |', '| --- | --- | --- | --- | --- |');
  for (const entry of summary.timeline) {
    lines.push(
      `| ${entry.phase} | ${entry.name.replace(/\|/g, '\\|')} | ${entry.human ? 'person' : 'rekey'} | ` +
        `${entry.result === 'skipped' ? '—' : entry.human ? stepWho(entry) : formatSeconds(entry.ms)} | ` +
        `${entry.result}${entry.detail ? `: ${entry.detail.replace(/\|/g, '\\|')}` : ''} |`,
    );
  }
  // The chart the person saw at the end of the run: the same rows, outage window and totals.
  const chart = timelineChart({ ...summary, report: undefined });
  if (chart.length > 0)
    lines.push(
      '',
      '```',
      ...chart,
      '```',
      '',
      `█ rekey · ▒ person (a prompt open)${summary.outageMs === undefined ? '' : ' · ░ outage window (the old key dead, the new one not yet verified)'}`,
    );
  const findings = findingsSection(summary);
  if (findings.length > 0) lines.push('', ...findings);
  // The report ends with what the responder does next (incident runs only).
  const checklist = checklistMarkdown(responderChecklist(summary), summary.incident?.respond?.sources ?? []);
  if (checklist.length > 0) lines.push('', ...checklist);
  lines.push('', `_Fingerprints are the first 16 hex digits of SHA-256 of the value. Journal: \`runs/${summary.run}.jsonl\`._`, '');
  // The report is built from masks and fingerprints only; scrubbing is the second line of defence.
  // Sections end with a blank line and the next may start with one: one is enough.
  return redactor.scrub(lines.join('\n').replace(/\n{3,}/g, '\n\n'));
}

const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');

/** The incident rows of the header table: leaked since, proven dead at, time to dead, the order, the windows. */
function incidentRows(summary: RunSummary): string[] {
  const incident = summary.incident;
  if (incident === undefined) return [];
  const since = new Date(incident.since);
  const until = new Date(incident.until);
  const started = Date.parse(summary.startedAt);
  const rows = [`| leaked since | ${incident.since} (${localTime(since, until)} local time; ${span(started - since.getTime())} before the run started) |`];
  if (incident.provenDeadAt !== undefined && incident.deadAfterMs !== undefined) {
    const dead = new Date(incident.provenDeadAt);
    const by =
      incident.deadBasis === 'pre-run'
        ? ' · already rejected at the pre-run check, before anything was minted (revoked before this run)'
        : incident.deadBasis === 'mint'
          ? ' · right after the mint (overlap none: the mint is the revoke), with the new key accepted by the same check as a control'
          : incident.deadBasis === 'check'
            ? ' · by the documented rejection, with the new key accepted by the same check as a control'
            : '';
    rows.push(`| proven dead at | **${incident.provenDeadAt}** (${localTime(dead, until, true)} local time)${cell(by)} |`);
    rows.push(
      `| time to dead | **${formatClock(incident.deadAfterMs)}** after the run started · ${span(dead.getTime() - since.getTime())} after the leak began |`,
    );
  } else if (!incident.provable) {
    rows.push(`| proven dead at | **not proven**: runbook ${summary.runbook} has no step that checks the old key is rejected; check it by hand |`);
  } else if (incident.deadProblem !== undefined) {
    rows.push(`| proven dead at | **not proven**: ${cell(incident.deadProblem)} |`);
  } else {
    rows.push('| proven dead at | **not proven**: the run stopped before the old key was proven dead |');
  }
  if (incident.revokeFirst) {
    rows.push(
      '| order | **revoke first** (`--revoke-first`): the old key was revoked and proven dead right after the new key was staged, before roll out and ' +
        'verify; no rollback after the revoke |',
    );
    if (incident.revokeWindowMs !== undefined)
      rows.push(
        `| revoke-first window | ${formatSeconds(incident.revokeWindowMs)} (consumers still on the old key failed from the revoke until roll out and verify ` +
          `were done) |`,
      );
  } else if (incident.revokeFirstMoot) {
    rows.push('| order | overlap none: the mint killed the old key (`--revoke-first` changes nothing) |');
  } else {
    rows.push('| order | roll out and verify, then revoke (no `--revoke-first`) |');
  }
  rows.push(`| audit window | ${incident.since} → ${incident.until} (${span(until.getTime() - since.getTime())}) |`);
  return rows;
}

/** "Where it leaked" and "Audit window": the findings of the leak search (locations only) and the window to check. */
function incidentSections(summary: RunSummary, incident: IncidentSummary): string[] {
  const lines = ['## Where it leaked', ''];
  const leak = incident.leak;
  const until = new Date(incident.until);
  const key = `${summary.oldMask ?? 'the old key'} \`${summary.oldFingerprint ?? '—'}\``;
  if (leak === undefined) {
    lines.push('The leak search did not run: the run stopped before it. `rekey resume` runs it.', '');
  } else if ('notSearched' in leak) {
    lines.push(`The leak search ${leak.notSearched.startsWith('failed') ? '' : 'was '}${leak.notSearched}.`, '');
  } else {
    const found = leak as LeakSearchResult;
    lines.push(`**${describeLeak(found, until)}**`, '');
    // Ranked by exposure, worst first, each with what it means and what to do (src/leak-search/rank.ts).
    const ranked = leakFindings(found);
    if (ranked.length > 0) {
      lines.push('| exposure | location | commit | what it means | what to do |', '| --- | --- | --- | --- | --- |');
      for (const f of ranked) {
        const c = f.commit;
        const refs = c === undefined ? [] : refNames(c);
        const by = c?.author === undefined ? '' : ` by ${cell(c.author)}`;
        const on = refs.length === 0 ? '' : ` (on ${cell(refs.join(', '))})`;
        const commit = c === undefined ? '' : `\`${c.commit}\` ${c.date}${by}, "${cell(c.subject)}"${on}`;
        const place = `\`${cell(f.path)}${f.lines.length === 0 ? '' : `:${f.lines.join(',')}`}\`${f.encoding ? ` (${f.encoding})` : ''}`;
        lines.push(`| ${f.rank}. ${f.title} | ${place} | ${commit} | ${cell(f.means)} | ${cell(f.todo)} |`);
      }
      lines.push('');
    }
    const mb = (found.scanned.bytes / 1024 ** 2).toFixed(1);
    lines.push(
      `Searched for ${key} by value, in memory (no value was passed to git or written anywhere): ` +
        `${found.git === 'repository' ? `the repository at \`${found.root}\`` : `the files under \`${found.root}\` (${found.note ?? 'no git history'})`}, ` +
        `${count(found.scanned.files, 'file')} and ${count(found.scanned.blobs, 'git object')}, ${mb} MB in ${formatSeconds(found.scanned.ms)}.`,
    );
    if (found.skipped.length > 0) lines.push(`Not searched: ${found.skipped.join('; ')}.`);
    if (found.incomplete !== undefined) lines.push(`**Incomplete:** ${found.incomplete}.`);
  }
  lines.push('', '## Audit window', '');
  lines.push(
    `${incident.since} → ${incident.until} (${span(until.getTime() - Date.parse(incident.since))}): every use of ${key} in this window is suspect. ` +
      `Check the provider's activity for it${Object.keys(summary.findings).length > 0 ? ` ("${findingsTitle(summary)}" below)` : ''}, ` +
      'and your own access logs; ' +
      '"What to do next" at the end says where and what to look for.',
    '',
  );
  return lines;
}

/** How many reports one run may write (each attempt of a resumed run that reaches its report writes one). */
const MAX_REPORTS_PER_RUN = 100;

/**
 * Write the report to `<stateDir>/reports/<run>-<credential>[-incident].md` and return its path. The run id is
 * unique (two runs started in the same second differ in it), and the file is created exclusively: a report already
 * there (an earlier attempt of the same run) is never replaced, the new one gets `-2`, `-3`… before `.md`.
 */
export async function writeReport(stateDir: string, summary: RunSummary): Promise<string> {
  const dir = join(stateDir, 'reports');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  // A run id is made of [0-9A-Z-]; anything else (a hand-typed id) must not reach a path.
  const stem = `${summary.run}-${summary.credential}${summary.mode === 'incident' ? '-incident' : ''}`.replace(/[^\w.-]/g, '_');
  const content = renderReport(summary);
  for (let n = 1; ; n += 1) {
    const file = join(dir, n === 1 ? `${stem}.md` : `${stem}-${n}.md`);
    try {
      await writeNewFileAtomicAsync(file, content);
      return file;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || n >= MAX_REPORTS_PER_RUN) throw error;
    }
  }
}
