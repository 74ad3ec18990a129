/** `rekey incident --since`: the forms people write, and the refusals (exit 2) of bad and future times. */
import { describe, expect, it } from 'vitest';
import { parseSince } from '../../src/engine/incident.js';
import { InputError } from '../../src/contract/errors.js';

const now = new Date(2026, 10, 23, 17, 3, 31); // 2026-11-23 17:03:31 local time

describe('parseSince', () => {
  it('reads ISO 8601 with a zone, local date and time, a local date, and ages', () => {
    expect(parseSince('2026-11-23T09:40:00Z', now).toISOString()).toBe('2026-11-23T09:40:00.000Z');
    expect(parseSince('2026-11-23T09:40:00+01:00', now).toISOString()).toBe('2026-11-23T08:40:00.000Z');
    expect(parseSince('2026-11-23T09:40:00.250-0200', now).toISOString()).toBe('2026-11-23T11:40:00.250Z');
    expect(parseSince('2026-11-23 09:40', now).getTime()).toBe(new Date(2026, 10, 23, 9, 40).getTime());
    expect(parseSince('2026-11-23T09:40:15', now).getTime()).toBe(new Date(2026, 10, 23, 9, 40, 15).getTime());
    expect(parseSince('2026-11-20', now).getTime()).toBe(new Date(2026, 10, 20).getTime());
    expect(now.getTime() - parseSince('3h', now).getTime()).toBe(3 * 3_600_000);
    expect(now.getTime() - parseSince('2d', now).getTime()).toBe(2 * 86_400_000);
    expect(now.getTime() - parseSince('1h30m', now).getTime()).toBe(90 * 60_000);
    expect(now.getTime() - parseSince(' 45m ago ', now).getTime()).toBe(45 * 60_000);
    expect(now.getTime() - parseSince('1w', now).getTime()).toBe(7 * 86_400_000);
    expect(now.getTime() - parseSince('1d 12h ago', now).getTime()).toBe(36 * 3_600_000);
  });

  it.each([
    ['', /expected an ISO 8601 time/],
    ['yesterday', /expected an ISO 8601 time/],
    ['3', /a duration needs a unit: 3d\? 3h\?/],
    ['3x', /expected an ISO 8601 time/],
    ['0h', /an age must be more than zero/],
    ['2026-13-01', /not a valid date and time/],
    ['2026-02-30 10:00', /not a valid date/],
    ['2026-11-23 25:00', /not a valid date and time/],
    ['2026-11-23T17:05:00', /in the future/],
    ['2030-01-01', /in the future/],
  ])('refuses %j (exit 2)', (text, message) => {
    let error: unknown;
    try {
      parseSince(text, now);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InputError);
    expect((error as InputError).exitCode).toBe(2);
    expect((error as InputError).message).toMatch(message);
    expect((error as InputError).message).toContain(`--since "${text}"`);
  });
});
