/**
 * The one formatter of times and ages for people: step durations (`0.4s`, `12ms`), clock readings (`1:05`), spans
 * (`7h 22m`, `3d 4h`), coarse ages (`84d`), ages in words (`3 days ago`) and local-time readings (`09:40`,
 * `2026-11-20 09:40`). Machine output (journals, JSON, audit records) keeps ISO 8601 UTC and is not formatted here.
 */

const SECOND = 1_000;
const MINUTE = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;

/** `1:05`, `0:04`, `1:02:03`: a clock reading for timelines and budgets. */
export function formatClock(ms: number): string {
  const total = Math.max(0, Math.round(ms / SECOND));
  const h = Math.floor(total / 3_600);
  const m = Math.floor((total % 3_600) / 60);
  const s = String(total % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`;
}

/** `0.3s`, `41.2s`, `12ms`: a step's duration. */
export function formatSeconds(ms: number): string {
  if (ms < 100) return `${Math.round(ms)}ms`;
  return `${(ms / SECOND).toFixed(1)}s`;
}

/** `6s`, `60s`, `90s`: whole seconds, for limits and ages in messages (timeouts, lock ages). */
export function wholeSeconds(ms: number): string {
  return `${Math.round(ms / SECOND)}s`;
}

/** A duration for people: seconds under ten seconds (`0.4s`), a clock reading from there on (`1:12`). */
export function formatDuration(ms: number): string {
  return ms < 10_000 ? formatSeconds(ms) : formatClock(ms);
}

/** `84d`, `3h`, `12m`: a coarse age or interval (the largest whole unit). */
export function formatAge(ms: number): string {
  if (ms >= DAY) return `${Math.floor(ms / DAY)}d`;
  if (ms >= HOUR) return `${Math.floor(ms / HOUR)}h`;
  return `${Math.max(0, Math.floor(ms / MINUTE))}m`;
}

/** `7h 22m`, `3d 4h`, `12m`, `40s`: a span for people (two units where the second one matters). */
export function span(ms: number): string {
  const s = Math.max(0, Math.floor(ms / SECOND));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 48) return m % 60 === 0 ? `${h}h` : `${h}h ${m % 60}m`;
  return h % 24 === 0 ? `${Math.floor(h / 24)}d` : `${Math.floor(h / 24)}d ${h % 24}h`;
}

/** `3 days ago`, `just now`, `on 2026-08-31`: how long before `now` an ISO time was. */
export function ago(iso: string, now: Date = new Date()): string {
  const ms = now.getTime() - Date.parse(iso);
  if (!Number.isFinite(ms)) return iso;
  const plural = (n: number, unit: string) => `${n} ${unit}${n === 1 ? '' : 's'} ago`;
  if (ms < MINUTE) return 'just now';
  if (ms < HOUR) return plural(Math.floor(ms / MINUTE), 'minute');
  if (ms < 48 * HOUR) return plural(Math.floor(ms / HOUR), 'hour');
  if (ms < 60 * DAY) return plural(Math.floor(ms / DAY), 'day');
  return `on ${iso.slice(0, 10)}`;
}

const pad = (n: number) => String(n).padStart(2, '0');

/** `09:40` today, `2026-11-20 09:40` another day (`:ss` with seconds); local time, as the person reads a clock. */
export function localTime(at: Date, now: Date = new Date(), seconds = false): string {
  const clock = `${pad(at.getHours())}:${pad(at.getMinutes())}${seconds ? `:${pad(at.getSeconds())}` : ''}`;
  const sameDay = at.getFullYear() === now.getFullYear() && at.getMonth() === now.getMonth() && at.getDate() === now.getDate();
  return sameDay ? clock : `${at.getFullYear()}-${pad(at.getMonth() + 1)}-${pad(at.getDate())} ${clock}`;
}
