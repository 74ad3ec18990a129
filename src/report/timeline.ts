/**
 * The timeline as text bars: one bar per step, the person's time (a prompt open: ▒) and rekey's own (█) told apart,
 * within a step as well as between steps. Shared by the screen and the report.
 */
import type { TimelineEntry } from '../engine/run.js';
import { formatClock, formatDuration, formatSeconds } from '../util/duration.js';

const WIDTH = 40;

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

/** Lines of a bar chart of the timeline (no colour; callers colour if they like). */
export function timelineBars(entries: readonly TimelineEntry[], totalMs: number): string[] {
  const shown = entries.filter((e) => e.result !== 'skipped');
  if (shown.length === 0 || totalMs <= 0) return [];
  const nameWidth = Math.min(28, Math.max(...shown.map((e) => e.name.length)));
  return shown.map((e) => {
    const start = Math.min(WIDTH - 1, Math.floor((e.startMs / totalMs) * WIDTH));
    const length = Math.min(WIDTH - start, Math.max(1, Math.round((e.ms / totalMs) * WIDTH)));
    const { human, machine } = stepBar(e, length);
    const name = e.name.length > nameWidth ? `${e.name.slice(0, nameWidth - 1)}…` : e.name.padEnd(nameWidth);
    return `${e.phase.padEnd(8)} ${name} ${(' '.repeat(start) + human + machine).padEnd(WIDTH)} ${stepWho(e)}${e.result === 'failed' ? ' ✗' : ''}`;
  });
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

/** `done in 1:12 (budget 5:00)`. */
export function budgetLine(totalMs: number, budgetMs: number): string {
  const over = totalMs > budgetMs;
  return `${formatClock(totalMs)} (budget ${formatClock(budgetMs)}${over ? `, over by ${formatClock(totalMs - budgetMs)}` : ''})`;
}
