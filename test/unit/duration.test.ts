/** The one duration grammar (src/util/duration.ts): what it reads, and the hint for a number without a unit. */
import { describe, expect, it } from 'vitest';
import { durationProblem, parseDuration } from '../../src/util/duration.js';

describe('parseDuration', () => {
  it('reads one amount or several, each with its unit', () => {
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('45s')).toBe(45_000);
    expect(parseDuration('5m')).toBe(300_000);
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('1h 30m')).toBe(5_400_000);
    expect(parseDuration('1.5h')).toBe(5_400_000);
    expect(parseDuration('90d')).toBe(7_776_000_000);
    expect(parseDuration('2w')).toBe(1_209_600_000);
    expect(parseDuration(' 10S ')).toBe(10_000);
  });

  it.each(['90', '', '5x', 'h', '1h30', '-5m', 'ms', '1h,30m'])('refuses %j', (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });
});

describe('durationProblem', () => {
  it('a bare number, as YAML reads it or as text, is asked for its unit', () => {
    expect(durationProblem(90)).toBe('a duration needs a unit: 90d? 90h? 90m? 90s?');
    expect(durationProblem('30')).toBe('a duration needs a unit: 30d? 30h? 30m? 30s?');
  });

  it('names what is not a duration, and has nothing to say about one', () => {
    expect(durationProblem('soon')).toBe('"soon" is not a duration: expected one such as 500ms, 30s, 5m, 1h30m or 90d');
    expect(durationProblem(true)).toBe('expected a duration such as 500ms, 30s, 5m, 1h30m or 90d');
    expect(durationProblem('1h30m')).toBeUndefined();
  });
});
