/**
 * Time words of `rekey incident`: `--since` as people write it, and the clock readings of the incident screen and
 * report (local time, as the person at the keyboard reads a clock).
 */
import { InputError } from '../contract/errors.js';
import { durationProblem, parseDuration } from '../util/duration.js';
import { localTime } from '../util/time.js';

const EXPECTED = 'expected an ISO 8601 time (2026-11-23T09:40:00Z), a local time "YYYY-MM-DD HH:MM", or an age such as 3h, 90m or 2d';

/**
 * When the leak began: an ISO 8601 time (with a zone, or without one for local time), `YYYY-MM-DD HH:MM[:SS]` or
 * `YYYY-MM-DD` in local time, or an age (`3h`, `2d`, `1h30m`, `45m ago`) meaning that long before `now`.
 * Throws InputError (exit 2) for anything else and for a time after `now`.
 */
export function parseSince(text: string, now: Date = new Date()): Date {
  const input = text.trim();
  const bad = (why = EXPECTED) =>
    new InputError(`--since "${text}": ${why}`, undefined, 'for example --since 3h, --since "2026-11-23 09:40" or --since 2026-11-23T09:40:00Z');
  let at: Date | undefined;
  // An age is a duration of the one grammar (src/util/duration.ts), with an optional `ago`.
  const ageText = input.replace(/\s*ago$/i, '');
  const ageMs = parseDuration(ageText);
  if (/^\d+(?:\.\d+)?$/.test(ageText)) throw bad(durationProblem(ageText));
  if (ageMs !== undefined) {
    if (!(ageMs > 0)) throw bad('an age must be more than zero');
    at = new Date(now.getTime() - ageMs);
  } else {
    const match = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?)?\s*(Z|[+-]\d{2}:?\d{2})?$/i.exec(input);
    if (match === null) throw bad();
    const [, y, mo, d, h = '00', mi = '00', s = '00', fraction = '', zone] = match;
    const parts = [Number(y), Number(mo), Number(d), Number(h), Number(mi), Number(s)] as const;
    if (parts[1] < 1 || parts[1] > 12 || parts[2] < 1 || parts[2] > 31 || parts[3] > 23 || parts[4] > 59 || parts[5] > 59)
      throw bad(`${input} is not a valid date and time`);
    const ms = fraction === '' ? 0 : Math.round(Number(fraction) * 1000);
    if (zone === undefined) {
      at = new Date(parts[0], parts[1] - 1, parts[2], parts[3], parts[4], parts[5], ms);
      // A day that does not exist (2026-02-30) rolls over: refuse it rather than guess.
      if (at.getFullYear() !== parts[0] || at.getMonth() !== parts[1] - 1 || at.getDate() !== parts[2]) throw bad(`${input} is not a valid date`);
    } else {
      at = new Date(
        Date.parse(
          `${y}-${mo}-${d}T${h}:${mi}:${s}${fraction}${zone.toUpperCase() === 'Z' ? 'Z' : zone.length === 5 ? `${zone.slice(0, 3)}:${zone.slice(3)}` : zone}`,
        ),
      );
      const day = new Date(Date.UTC(parts[0], parts[1] - 1, parts[2]));
      if (day.getUTCMonth() !== parts[1] - 1 || day.getUTCDate() !== parts[2]) throw bad(`${input} is not a valid date`);
    }
    if (Number.isNaN(at.getTime())) throw bad();
  }
  if (at.getTime() > now.getTime())
    throw bad(`that is in the future (${localTime(at, now, true)}, now ${localTime(now, now, true)}): give the time the key may first have been seen`);
  return at;
}

// The formatters live in src/util/time.ts; re-exported for src/engine/handlers.ts (owned by other work).
export { localTime, span } from '../util/time.js';
