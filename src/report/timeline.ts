/** The timeline as text bars: one bar per step, human time and machine time told apart. Shared by screen and report. */
import type { TimelineEntry } from '../engine/run.js';
import { formatClock, formatSeconds } from '../util/duration.js';

const WIDTH = 40;

/** Lines of a bar chart of the timeline (no colour; callers colour if they like). */
export function timelineBars(entries: readonly TimelineEntry[], totalMs: number): string[] {
  const shown = entries.filter((e) => e.result !== 'skipped');
  if (shown.length === 0 || totalMs <= 0) return [];
  const nameWidth = Math.min(28, Math.max(...shown.map((e) => e.name.length)));
  return shown.map((e) => {
    const start = Math.min(WIDTH - 1, Math.floor((e.startMs / totalMs) * WIDTH));
    const length = Math.max(1, Math.round((e.ms / totalMs) * WIDTH));
    const bar = ' '.repeat(start) + (e.human ? '▒' : '█').repeat(Math.min(length, WIDTH - start));
    const name = e.name.length > nameWidth ? `${e.name.slice(0, nameWidth - 1)}…` : e.name.padEnd(nameWidth);
    const who = e.human ? 'you' : 'rekey';
    return `${e.phase.padEnd(8)} ${name} ${bar.padEnd(WIDTH)} ${who.padEnd(5)} ${formatSeconds(e.ms)}${e.result === 'failed' ? ' ✗' : ''}`;
  });
}

/** Time spent by the person and by the machine. */
export function splitTime(entries: readonly TimelineEntry[]): { humanMs: number; machineMs: number } {
  let humanMs = 0;
  let machineMs = 0;
  for (const e of entries) {
    if (e.human) humanMs += e.ms;
    else machineMs += e.ms;
  }
  return { humanMs, machineMs };
}

/** `done in 1:12 (budget 5:00)`. */
export function budgetLine(totalMs: number, budgetMs: number): string {
  const over = totalMs > budgetMs;
  return `${formatClock(totalMs)} (budget ${formatClock(budgetMs)}${over ? `, over by ${formatClock(totalMs - budgetMs)}` : ''})`;
}
