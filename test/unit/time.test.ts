/** The one formatter of times and ages (src/util/time.ts): each form as people read it, stated literally. */
import { describe, expect, it } from 'vitest';
import { ago, formatAge, formatClock, formatDuration, formatSeconds, localTime, span, wholeSeconds } from '../../src/util/time.js';

describe('durations', () => {
  it('a step: milliseconds under 0.1 s, then tenths of a second', () => {
    expect(formatSeconds(12.4)).toBe('12ms');
    expect(formatSeconds(340)).toBe('0.3s');
    expect(formatSeconds(41_249)).toBe('41.2s');
  });

  it('a clock reading: m:ss, then h:mm:ss', () => {
    expect(formatClock(4_000)).toBe('0:04');
    expect(formatClock(65_000)).toBe('1:05');
    expect(formatClock(3_723_000)).toBe('1:02:03');
    expect(formatClock(-5)).toBe('0:00');
  });

  it('for people: seconds under ten seconds, a clock reading from there on', () => {
    expect(formatDuration(400)).toBe('0.4s');
    expect(formatDuration(9_900)).toBe('9.9s');
    expect(formatDuration(72_000)).toBe('1:12');
  });
});

describe('ages and spans', () => {
  it('a coarse age: the largest whole unit', () => {
    expect(formatAge(84 * 86_400_000 + 5 * 3_600_000)).toBe('84d');
    expect(formatAge(3 * 3_600_000 + 59 * 60_000)).toBe('3h');
    expect(formatAge(12 * 60_000 + 59_000)).toBe('12m');
    expect(formatAge(-1)).toBe('0m');
  });

  it('a span: two units where the second one matters', () => {
    expect(span(40_000)).toBe('40s');
    expect(span(12 * 60_000)).toBe('12m');
    expect(span((7 * 60 + 22) * 60_000)).toBe('7h 22m');
    expect(span(3 * 3_600_000)).toBe('3h');
    expect(span((3 * 24 + 4) * 3_600_000)).toBe('3d 4h');
    expect(span(4 * 86_400_000)).toBe('4d');
  });

  it('how long ago, in words', () => {
    const now = new Date('2026-11-23T17:00:00Z');
    expect(ago('2026-11-23T16:59:30Z', now)).toBe('just now');
    expect(ago('2026-11-23T16:59:00Z', now)).toBe('1 minute ago');
    expect(ago('2026-11-23T16:00:00Z', now)).toBe('1 hour ago');
    expect(ago('2026-11-22T12:00:00Z', now)).toBe('29 hours ago');
    expect(ago('2026-11-20T17:00:00Z', now)).toBe('3 days ago');
    expect(ago('2026-01-02T00:00:00Z', now)).toBe('on 2026-01-02');
    expect(ago('not a time', now)).toBe('not a time');
  });
});

describe('local time', () => {
  const now = new Date(2026, 10, 23, 17, 3, 31); // 2026-11-23 17:03:31 local time

  it('the clock today, the date and clock another day, seconds when asked', () => {
    expect(localTime(new Date(2026, 10, 23, 9, 40), now)).toBe('09:40');
    expect(localTime(new Date(2026, 10, 23, 17, 3, 31), now, true)).toBe('17:03:31');
    expect(localTime(new Date(2026, 10, 20, 9, 5), now)).toBe('2026-11-20 09:05');
  });
});

describe('whole seconds', () => {
  it('rounds to the nearest second, without switching units', () => {
    expect(wholeSeconds(5_400)).toBe('5s');
    expect(wholeSeconds(60_000)).toBe('60s');
    expect(wholeSeconds(90_500)).toBe('91s');
  });
});
