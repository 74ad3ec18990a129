/** The Markdown report of a run: result, timeline, fingerprints, outage window, audit findings. Never a value. */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { IncidentSummary, RunSummary } from '../engine/run.js';
import { openFindings } from '../engine/summary.js';
import type { LeakSearchResult } from '../contract/leaks.js';
import { count, describeLeak } from '../leak-search/index.js';
import { redactor } from '../contract/redactor.js';
import { writeFileAtomic } from '../util/atomic-file.js';
import { formatClock, formatSeconds, localTime, span } from '../util/time.js';
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
            `(${openFindings(summary).join(', ')}): activity not recognised, to investigate (see "Audit findings" below) |`,
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
  const recorded = Object.entries(summary.findings);
  if (recorded.length > 0) {
    lines.push('', '## Audit findings', '');
    for (const [step, record] of recorded) lines.push(`### ${step}`, '', ...findingLines(record), '');
  }
  lines.push('', `_Fingerprints are the first 16 hex digits of SHA-256 of the value. Journal: \`runs/${summary.run}.jsonl\`._`, '');
  // The report is built from masks and fingerprints only; scrubbing is the second line of defence.
  return redactor.scrub(lines.join('\n'));
}

/** One step's audit record as a person reads it: an answer, what it means, and any other field as a list. */
function findingLines(record: unknown): string[] {
  if (typeof record !== 'object' || record === null) return [`- ${String(record)}`];
  const fields = record as Record<string, unknown>;
  const lines: string[] = [];
  if (fields['confirmed'] === false) lines.push('- **⚠ answered no**: to investigate');
  else if (fields['confirmed'] === true) lines.push('- answered yes');
  if (typeof fields['finding'] === 'string') lines.push(`- ${fields['finding']}`);
  if (typeof fields['since'] === 'string') lines.push(`- window checked: since ${fields['since']}`);
  for (const [key, value] of Object.entries(fields)) {
    if (key === 'confirmed' || key === 'finding' || key === 'since') continue;
    if (Array.isArray(value)) {
      // A list of records (the provider's activity): one line each, its fields as `name: value`.
      lines.push(`- ${key} (${value.length}):${value.length === 0 ? ' none' : ''}`);
      for (const item of value) lines.push(`  - ${plainFields(item)}`);
    } else lines.push(`- ${key}: ${plainFields(value)}`);
  }
  return lines;
}

/** A value as a person reads it: text as is, an object as `name: value · name: value`, anything else as JSON. */
function plainFields(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'object' && value !== null && !Array.isArray(value))
    return Object.entries(value as Record<string, unknown>)
      .map(([k, v]) => `${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`)
      .join(' · ');
  return JSON.stringify(value);
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

/** "Where it leaked" and "Audit window": the findings of the leak search (locations only) and what to check next. */
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
    if (found.files.length > 0 || found.commits.length > 0) {
      lines.push('| where | location | commit | date | subject |', '| --- | --- | --- | --- | --- |');
      for (const c of found.commits)
        lines.push(
          `| git history | \`${cell(c.path)}:${c.lines.join(',')}\`${c.encoding ? ' (base64)' : ''} | \`${c.commit}\` | ${c.date} | ${cell(c.subject)} |`,
        );
      for (const f of found.files) {
        const where = f.kind === 'ignored' ? 'ignored by git' : f.kind === 'file' ? 'file' : `working tree (${f.kind})`;
        lines.push(`| ${where} | \`${cell(f.path)}:${f.lines.join(',')}\`${f.encoding ? ' (base64)' : ''} | | | |`);
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
    lines.push('', '**What to check next:**', '');
    if (found.commits.length > 0 || found.totals.blobs > 0) {
      lines.push(
        '- The key is dead, but git history keeps it: every clone, fork, mirror and CI cache of this repository holds it. Find who could read the ' +
          'repository, and whether those commits were pushed, since the first one.',
      );
    }
    if (found.files.some((f) => f.kind !== 'ignored'))
      lines.push('- Remove the key from the working-tree files above (it is dead, but a copy invites reuse), and do not commit them as they are.');
    if (found.files.some((f) => f.kind === 'ignored'))
      lines.push('- Delete the local copies git ignores (backups, dumps): they were never committed, but they are on this disk.');
    const everything = found.complete.tree && (found.complete.history || found.git !== 'repository');
    if (found.files.length === 0 && found.commits.length === 0 && found.totals.blobs === 0) {
      lines.push(
        everything
          ? '- Not in these files: look at CI logs, chat, tickets, screenshots and paste sites.'
          : '- Nothing found so far, but the search was incomplete: search the rest by hand (by fingerprint, never by pasting the key into a search box).',
      );
    }
  }
  lines.push('', '## Audit window', '');
  lines.push(
    `${incident.since} → ${incident.until} (${span(until.getTime() - Date.parse(incident.since))}): every use of ${key} in this window is suspect. ` +
      `Check the provider's activity for it${Object.keys(summary.findings).length > 0 ? ' (the audit findings below)' : ''}, and your own access logs.`,
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
export function writeReport(stateDir: string, summary: RunSummary): string {
  const dir = join(stateDir, 'reports');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  // A run id is made of [0-9A-Z-]; anything else (a hand-typed id) must not reach a path.
  const stem = `${summary.run}-${summary.credential}${summary.mode === 'incident' ? '-incident' : ''}`.replace(/[^\w.-]/g, '_');
  const content = renderReport(summary);
  for (let n = 1; ; n += 1) {
    const file = join(dir, n === 1 ? `${stem}.md` : `${stem}-${n}.md`);
    try {
      writeFileAtomic(file, content, 0o600, { exclusive: true });
      return file;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || n >= MAX_REPORTS_PER_RUN) throw error;
    }
  }
}
