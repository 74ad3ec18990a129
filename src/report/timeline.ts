/**
 * The timeline as a text chart: one bar per step, the person's time (a prompt open: ▒) and rekey's own (█) told
 * apart, within a step as well as between steps. One chart for the drill's screen, every other run's screen, and the
 * report.
 */
import type { RunSummary, TimelineEntry } from '../engine/run.js';
import type { WindowBasis } from '../contract/run.js';
import { formatClock, formatDuration, formatSeconds } from '../util/time.js';

/**
 * What a window's length means, from what it was counted from (WindowBasis): `measured` is true only for a window
 * opened at the old key's observed rejection. `from` completes "counted from …"; `short` labels the chart's row.
 */
export function windowWords(basis: WindowBasis | undefined): { measured: boolean; from: string; short: string } {
  switch (basis) {
    case 'rejected':
      return {
        measured: true,
        from:
          'the last poll that still saw the old key accepted (it was polled once a second while the prompt was open and ' +
          'died before the next poll: at most a poll, about a second, too long)',
        short: 'old key dead',
      };
    case 'call':
      return { measured: false, from: 'the start of the call that minted the new key (at most: the old key died during it)', short: 'at most' };
    case 'arrival':
      return { measured: false, from: "the new key's arrival (at most: the old key still answered then)", short: 'at most' };
    case 'before-run':
      return { measured: false, from: 'the pre-run check, which found the old key already rejected (at least: it died before the run)', short: 'at least' };
    case 'revoke':
      return { measured: true, from: 'the revoke', short: 'old key dead' };
    default:
      return { measured: false, from: "the prompt's opening (at most: the runbook has no check of the old key to poll)", short: 'at most' };
  }
}

export const PHASE_TITLES: Readonly<Record<string, string>> = { generate: 'generate', rollout: 'roll out', verify: 'verify', revoke: 'revoke', audit: 'audit' };

/** Colours for the chart (ui/style.ts `styler()` on a terminal); `plain` paints nothing. */
export interface Styler {
  dim(text: string): string;
  red(text: string): string;
  yellow(text: string): string;
  cyan(text: string): string;
}

const same = (text: string): string => text;
const plain: Styler = { dim: same, red: same, yellow: same, cyan: same };

/** Of one step's time, the person's (waiting at a prompt) and rekey's own. */
export function stepTime(e: TimelineEntry): { humanMs: number; machineMs: number } {
  const humanMs = e.human ? Math.min(e.ms, Math.max(0, e.waitMs)) : 0;
  return { humanMs, machineMs: e.ms - humanMs };
}

/** A step's bar of `length` cells: the person's share in ▒ first (the prompt comes first), then rekey's in █. */
export function stepBar(e: TimelineEntry, length: number): { human: string; machine: string } {
  const { humanMs } = stepTime(e);
  if (humanMs === 0 || e.ms <= 0) return { human: '', machine: '█'.repeat(length) };
  const human = Math.max(1, Math.min(length, Math.round((humanMs / e.ms) * length)));
  return { human: '▒'.repeat(human), machine: '█'.repeat(length - human) };
}

/** `you 0:31 · rekey 12ms` for a step with a person in it, `rekey 12ms` otherwise. */
export function stepWho(e: TimelineEntry): string {
  const { humanMs, machineMs } = stepTime(e);
  return e.human ? `you ${formatDuration(humanMs)} · rekey ${formatSeconds(machineMs)}` : `rekey ${formatSeconds(machineMs)}`;
}

/** Time spent by the person (prompts open) and by rekey, over the whole run. */
export function splitTime(entries: readonly TimelineEntry[]): { humanMs: number; machineMs: number } {
  let humanMs = 0;
  let machineMs = 0;
  for (const e of entries) {
    const t = stepTime(e);
    humanMs += t.humanMs;
    machineMs += t.machineMs;
  }
  return { humanMs, machineMs };
}

/** `(budget 5:00, 3:48 to spare)` or `(budget 5:00, over by 0:12)`. */
export function budgetWords(totalMs: number, budgetMs: number, s: Styler): string {
  const over = totalMs - budgetMs;
  return over > 0
    ? s.red(`(budget ${formatClock(budgetMs)}, over by ${formatClock(over)})`)
    : `(budget ${formatClock(budgetMs)}, ${formatClock(-over)} to spare)`;
}

/**
 * The end-of-run chart, on screen after every run and in the report: one row per step on one time axis (the run's
 * length), the person's time in ▒ (a prompt open) and rekey's in █, split within a step too, the outage window
 * (overlap none) as its own row, then the totals against the budget.
 */
export function timelineChart(summary: RunSummary, s: Styler = plain, width = 40, columns?: number): string[] {
  const shown = summary.timeline.filter((e) => e.result !== 'skipped');
  const total = summary.ms;
  if (shown.length === 0 || total <= 0) return [];
  const column = (ms: number) => Math.min(width - 1, Math.max(0, Math.floor((ms / total) * width)));
  const span = (startMs: number, ms: number) => {
    const start = column(startMs);
    return { start, length: Math.max(1, Math.min(width - start, Math.round((ms / total) * width))) };
  };
  // Step names take what the terminal leaves beside the phase, the bars and a label of about 30 characters (at least
  // 30; a report, with no terminal, allows 60).
  const nameLimit = columns === undefined ? 60 : Math.max(30, columns - 10 - width - 32);
  const nameWidth = Math.min(nameLimit, Math.max(...shown.map((e) => e.name.length), 'outage window'.length));
  const row = (phase: string, name: string, start: number, bar: string, length: number, label: string) => {
    const label_ = name.length > nameWidth ? `${name.slice(0, nameWidth - 1)}…` : name.padEnd(nameWidth);
    return ` ${phase.padEnd(8)} ${label_} ${' '.repeat(start)}${bar}${' '.repeat(width - start - length)}  ${label}`;
  };
  const lines: string[] = [];
  lines.push(s.dim(` ${''.padEnd(8)} ${''.padEnd(nameWidth)} 0${formatDuration(total).padStart(width - 1)}`));
  for (const e of shown) {
    const { start, length } = span(e.startMs, e.ms);
    const { human, machine } = stepBar(e, length);
    const label = e.human
      ? `${s.cyan(`you ${formatDuration(stepTime(e).humanMs)}`)} · rekey ${formatSeconds(stepTime(e).machineMs)}`
      : `rekey ${formatSeconds(e.ms)}`;
    lines.push(
      row(
        PHASE_TITLES[e.phase] ?? e.phase,
        e.name,
        start,
        (human === '' ? '' : s.cyan(human)) + machine,
        length,
        `${label}${e.result === 'failed' ? s.red(' ✗') : ''}`,
      ),
    );
  }
  if (summary.outageMs !== undefined) {
    // The window closes when verify is done; it opened outageMs before that.
    const verified = shown.filter((e) => e.phase === 'verify').at(-1);
    const end = verified !== undefined ? verified.startMs + verified.ms : total;
    const { start, length } = span(Math.max(0, end - summary.outageMs), summary.outageMs);
    lines.push(
      row(
        '',
        'outage window',
        start,
        s.yellow('░'.repeat(length)),
        length,
        s.yellow(`${windowWords(summary.outageBasis).short} ${formatSeconds(summary.outageMs)}`),
      ),
    );
  }
  const { humanMs, machineMs } = splitTime(shown);
  const totals = [`${s.cyan(`▒ you ${formatDuration(humanMs)}`)}`, `█ rekey ${formatSeconds(machineMs)}`];
  if (summary.outageMs !== undefined)
    totals.push(
      s.yellow(
        `░ outage window ${windowWords(summary.outageBasis).measured ? '' : `${windowWords(summary.outageBasis).short} `}${formatSeconds(summary.outageMs)}`,
      ),
    );
  totals.push(`total ${formatDuration(total)}${summary.budgetMs > 0 ? ` ${budgetWords(total, summary.budgetMs, s)}` : ''}`);
  lines.push('', ` ${totals.join(' · ')}`);
  if (summary.report !== undefined) lines.push(` report ${summary.report}`);
  return lines;
}

/** `done in 1:12 (budget 5:00)`. */
export function budgetLine(totalMs: number, budgetMs: number): string {
  const over = totalMs > budgetMs;
  return `${formatClock(totalMs)} (budget ${formatClock(budgetMs)}${over ? `, over by ${formatClock(totalMs - budgetMs)}` : ''})`;
}
