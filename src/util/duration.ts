/** Durations as people write them in YAML: `500ms`, `30s`, `5m`, `2h`, `90d`, `12w`, or a bare number of seconds. */
const UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** Milliseconds for a duration, or undefined when the text is not one. */
export function parseDuration(text: string | number): number | undefined {
  if (typeof text === 'number') return Number.isFinite(text) && text >= 0 ? text * 1_000 : undefined;
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$/.exec(text);
  if (match === null) return undefined;
  return Number(match[1]) * UNITS[match[2] ?? 's']!;
}

/** `1:05`, `0:04`, `1:02:03`: a clock reading for timelines. */
export function formatClock(ms: number): string {
  const total = Math.max(0, Math.round(ms / 1_000));
  const h = Math.floor(total / 3_600);
  const m = Math.floor((total % 3_600) / 60);
  const s = String(total % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`;
}

/** `0.3s`, `41.2s`, `12ms`: a step's duration. */
export function formatSeconds(ms: number): string {
  if (ms < 100) return `${Math.round(ms)}ms`;
  return `${(ms / 1_000).toFixed(1)}s`;
}

/** A duration for people: seconds under ten seconds (`0.4s`), a clock reading from there on (`1:12`). */
export function formatDuration(ms: number): string {
  return ms < 10_000 ? formatSeconds(ms) : formatClock(ms);
}

/** `84d`, `3h`, `12m`: an age. */
export function formatAge(ms: number): string {
  if (ms >= 86_400_000) return `${Math.floor(ms / 86_400_000)}d`;
  if (ms >= 3_600_000) return `${Math.floor(ms / 3_600_000)}h`;
  return `${Math.max(0, Math.floor(ms / 60_000))}m`;
}
