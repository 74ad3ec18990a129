/**
 * The store kit's write limiter (adapters/stores/kit/write-limiter.ts): one pace of writes per endpoint, rollbacks
 * served first, the pace halved on a throttle and recovered by a tenth of the quota a calm second. On fake timers and
 * a fake clock, so that what is asserted is the order and the count of writes let through, never how long they took.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createWriteLimiter } from '../../adapters/stores/kit/index.js';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('write limiter', () => {
  it('lets through no more writes in a second than the quota (plus the one token the bucket holds)', async () => {
    const limiter = createWriteLimiter({ perSecond: 50, now: () => Date.now() });
    let done = 0;
    for (let i = 0; i < 200; i++) void limiter.take('write').then(() => done++);
    await vi.advanceTimersByTimeAsync(1000);
    expect(done).toBeGreaterThanOrEqual(45);
    expect(done).toBeLessThanOrEqual(51);
    await vi.advanceTimersByTimeAsync(3000);
    expect(done).toBe(200);
  });

  it('a bucket of five lets five writes through at once, then paces the rest; over a minute no more than burst + 60 × rate', async () => {
    // GCP's quota is per minute (600): its store holds 5 and refills at (600 − 5) / 60 a second.
    const limiter = createWriteLimiter({ perSecond: 595 / 60, burst: 5, now: () => Date.now() });
    let done = 0;
    for (let i = 0; i < 1000; i++) void limiter.take('write').then(() => done++);
    await vi.advanceTimersByTimeAsync(0);
    expect(done).toBe(5);
    await vi.advanceTimersByTimeAsync(50);
    expect(done).toBe(5);
    await vi.advanceTimersByTimeAsync(60_000 - 50);
    expect(done).toBeLessThanOrEqual(600);
    expect(done).toBeGreaterThanOrEqual(595);
  });

  it('serves a rollback before every write that was already waiting', async () => {
    const limiter = createWriteLimiter({ perSecond: 10, now: () => Date.now() });
    const order: string[] = [];
    for (const name of ['w1', 'w2', 'w3']) void limiter.take('write').then(() => order.push(name));
    void limiter.take('rollback').then(() => order.push('rollback'));
    await vi.advanceTimersByTimeAsync(1000);
    // w1 took the one token there was; the rollback came later than w2 and w3 but goes before them.
    expect(order).toEqual(['w1', 'rollback', 'w2', 'w3']);
  });

  it('halves its pace when the service throttles, and recovers a tenth of the quota for each calm second', async () => {
    const limiter = createWriteLimiter({ perSecond: 50, now: () => Date.now() });
    limiter.throttled();
    expect(limiter.rate).toBe(25);
    vi.advanceTimersByTime(250);
    limiter.throttled();
    expect(limiter.rate).toBe(12.5);
    let done = 0;
    for (let i = 0; i < 100; i++) void limiter.take('write').then(() => done++);
    await vi.advanceTimersByTimeAsync(999);
    expect(done).toBeLessThanOrEqual(14);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(limiter.rate).toBe(50);
    expect(done).toBe(100);
  });

  it('halves once for writes throttled together: twenty throttles within a quarter second are one burst', () => {
    const limiter = createWriteLimiter({ perSecond: 100, now: () => Date.now() });
    for (let i = 0; i < 20; i++) limiter.throttled();
    expect(limiter.rate).toBe(50);
    vi.advanceTimersByTime(250);
    limiter.throttled();
    expect(limiter.rate).toBe(25);
  });

  it("with recovery 'rate' (an unknown quota) grows back by a tenth of its pace a calm second, not a tenth of the ceiling", () => {
    const limiter = createWriteLimiter({ perSecond: 100, now: () => Date.now(), recovery: 'rate', floor: 1 });
    for (let i = 0; i < 3; i++) {
      limiter.throttled();
      vi.advanceTimersByTime(250);
    }
    // 100 → 50 → 25 → 12.5, then calm.
    expect(limiter.rate).toBe(12.5);
    vi.advanceTimersByTime(1000);
    expect(limiter.rate).toBeCloseTo(13.75, 5);
    vi.advanceTimersByTime(1000);
    expect(limiter.rate).toBeCloseTo(15.125, 5);
  });

  it('never halves below its floor', () => {
    const limiter = createWriteLimiter({ perSecond: 100, now: () => Date.now(), floor: 5 });
    for (let i = 0; i < 10; i++) {
      limiter.throttled();
      vi.advanceTimersByTime(250);
    }
    expect(limiter.rate).toBe(5);
  });
});
