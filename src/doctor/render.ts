/** The doctor's findings for people (a table grouped by check, a Markdown report) and for pipelines (NDJSON). */
import { CHECKS, type CheckId, counts, type Finding, type Severity, whereText } from './finding.js';

const MARK: Record<Severity, string> = { error: '✗ error', warn: '! warn', todo: '? todo', ok: '✓ ok' };

function groups(findings: readonly Finding[]): Map<CheckId, Finding[]> {
  const out = new Map<CheckId, Finding[]>();
  for (const f of findings) out.set(f.check, [...(out.get(f.check) ?? []), f]);
  return out;
}

function tally(findings: readonly Finding[]): string {
  const c = counts(findings);
  return `${c.error} error${c.error === 1 ? '' : 's'}, ${c.warn} warning${c.warn === 1 ? '' : 's'}, ${c.todo} to check by a person, ${c.ok} ok`;
}

/** The terminal table: one block per check, one row per finding (severity, place, credentials), the message and fix below. */
export function table(findings: readonly Finding[], exitCode: number): string {
  const out: string[] = [];
  for (const [check, list] of groups(findings)) {
    out.push(`${CHECKS[check]}`);
    const width = Math.max(...list.map((f) => whereText(f).length));
    for (const f of list) {
      const where = whereText(f);
      out.push(`  ${MARK[f.severity].padEnd(7)}  ${(where === '' ? '—' : where).padEnd(width)}  ${f.credentials.join(', ')}`);
      out.push(`           ${f.message}`);
      if (f.fix !== undefined) out.push(`           fix: ${f.fix}`);
    }
    out.push('');
  }
  out.push(`${tally(findings)} · exit ${exitCode}`);
  return `${out.join('\n')}\n`;
}

/** One JSON object a line: each finding, then the summary with the exit code. */
export function ndjson(findings: readonly Finding[], exitCode: number): string {
  const lines = findings.map((f) =>
    JSON.stringify({
      event: 'doctor.finding',
      check: f.check,
      severity: f.severity,
      ...(f.where === undefined ? {} : { file: f.where.file, line: f.where.line, column: f.where.column }),
      credentials: f.credentials,
      message: f.message,
      ...(f.fix === undefined ? {} : { fix: f.fix }),
      ...(f.item === undefined ? {} : { item: f.item }),
      ...(f.confirmed === undefined ? {} : { confirmed: f.confirmed }),
    }),
  );
  lines.push(JSON.stringify({ event: 'doctor.summary', ...counts(findings), exitCode }));
  return `${lines.join('\n')}\n`;
}

const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');

/** The Markdown report: a section per check, a table of findings, the checklist as boxes to tick. */
export function markdown(findings: readonly Finding[], exitCode: number, config: string, at: Date): string {
  const out = [`# rekey doctor: ${config}`, '', `${at.toISOString()} · ${tally(findings)} · exit ${exitCode}`, ''];
  for (const [check, list] of groups(findings)) {
    out.push(`## ${CHECKS[check]}`, '');
    if (check === 'checklist') {
      for (const f of list) out.push(`- [${f.confirmed === true ? 'x' : ' '}] ${cell(f.message)}${f.fix === undefined ? '' : ` — ${cell(f.fix)}`}`);
    } else {
      out.push('| severity | where | credentials | finding | fix |', '| --- | --- | --- | --- | --- |');
      for (const f of list)
        out.push(`| ${f.severity} | ${cell(whereText(f)) || '—'} | ${f.credentials.join(', ')} | ${cell(f.message)} | ${cell(f.fix ?? '')} |`);
    }
    out.push('');
  }
  return `${out.join('\n')}\n`;
}
