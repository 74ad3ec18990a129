/**
 * The one duration grammar of rekey, for rekey.yaml (`maxAge`, `budget`, hook `timeout`), runbooks (`rotateEvery`,
 * retry `delay`, step `timeout`) and flags (`--budget`, the age form of `--since`): one or more amounts, each with
 * its unit, largest first or not: `500ms`, `45s`, `5m`, `1h30m`, `90d`, `2w`, `1.5h` (spaces between parts allowed).
 * Units: ms, s, m (minutes), h, d, w. A bare number (`maxAge: 90`) is refused: 90 days and 90 seconds are both
 * plausible, so the reader says which.
 */
const UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
const WHOLE = /^(?:\d+(?:\.\d+)?\s*(?:ms|s|m|h|d|w)\s*)+$/i;
const PART = /(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)/gi;

/** Milliseconds for a duration, or undefined when the text is not one (a bare number is not). */
export function parseDuration(text: string): number | undefined {
  const input = text.trim();
  if (!WHOLE.test(input)) return undefined;
  let ms = 0;
  for (const [, amount, unit] of input.matchAll(PART)) ms += Number(amount) * UNITS[unit!.toLowerCase()]!;
  return ms;
}

/** What is wrong with a value given as a duration, in words, or undefined when it is one. */
export function durationProblem(value: unknown): string | undefined {
  const bare = typeof value === 'number' ? String(value) : typeof value === 'string' && /^\s*\d+(?:\.\d+)?\s*$/.test(value) ? value.trim() : undefined;
  if (bare !== undefined) return `a duration needs a unit: ${bare}d? ${bare}h? ${bare}m? ${bare}s?`;
  if (typeof value !== 'string') return 'expected a duration such as 500ms, 30s, 5m, 1h30m or 90d';
  return parseDuration(value) === undefined ? `"${value}" is not a duration: expected one such as 500ms, 30s, 5m, 1h30m or 90d` : undefined;
}

// Formatting lives in ./time.ts; these names stay importable from here for modules that other work owns.
export { formatClock, formatSeconds } from './time.js';
