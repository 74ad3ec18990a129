/**
 * One pace of writes per service endpoint, shared by every store and worker of the process: the services meter writes
 * per region, project or cluster, not per secret, so a fleet of workers each retrying its own throttled writes would
 * fail rotations in turn (and starve the rollbacks of the ones that failed). Here writes wait for a token instead.
 *
 * - A token bucket at the documented quota (AWS Secrets Manager: 50 writes a second per region; GCP Secret Manager:
 *   600 a minute per project), holding `burst` tokens, so that writes go out evenly rather than in a burst the service
 *   would throttle.
 * - Rollbacks are served before any waiting write: a rotation that is undoing itself must not queue behind the
 *   writes of rotations that are still going forward.
 * - When the service throttles anyway (other writers share the quota, or the quota is lower than documented), the pace
 *   halves at once (once for all the writes throttled within a quarter of a second: they were one burst, not many)
 *   and recovers by a tenth of the quota each second without a throttle (additive increase, multiplicative
 *   decrease, as TCP does and as AWS advises for its quotas), and the throttled write waits its turn
 *   again instead of failing.
 * - Reads never take a token: they have quotas of their own, far higher.
 * - A service with no documented rate (Vault, whose rate-limit quotas are whatever its operator set) gets an
 *   adaptive pace instead: `recovery: 'rate'` starts at a ceiling, halves on each throttle down to `floor`, and grows
 *   back by a tenth of the pace it has (not of the ceiling) for each calm second, so that it settles just under the
 *   quota it keeps discovering rather than overshooting it every few seconds.
 *
 * Hand-written: the limiters on npm (bottleneck, p-limit, p-throttle) pace or cap calls but none has priorities
 * together with a rate that backs off on a throttle; the whole of it is the few lines below.
 */

/** Who waits: a rollback (served first) or any other write. */
export type WritePriority = 'rollback' | 'write';

export interface WriteLimiter {
  /** Wait for this write's turn. */
  take(priority: WritePriority): Promise<void>;
  /** The service answered a write "slow down": halve the pace. */
  throttled(): void;
  /** The current pace, writes per second (for tests and messages). */
  readonly rate: number;
}

interface Options {
  /** Writes per second at most: the service's documented quota. */
  readonly perSecond: number;
  /** Tokens the bucket holds when full; 1 by default, so that writes are spread evenly. */
  readonly burst?: number;
  /** The clock, in ms (tests pass a fake one with fake timers). */
  readonly now?: () => number;
  /**
   * How the pace grows back after a throttle: `quota` (default) by a tenth of `perSecond` a calm second, for a
   * documented quota; `rate` by a tenth of the current pace (at least one write a second), for an unknown one.
   */
  readonly recovery?: 'quota' | 'rate';
  /** The slowest pace a throttle can bring it to; `perSecond / 50` by default. */
  readonly floor?: number;
}

/** Options of a process-wide limiter beyond its rate (see `Options`). */
export type WriteLimiterOptions = Pick<Options, 'recovery' | 'floor' | 'burst'>;

export function createWriteLimiter({ perSecond, burst = 1, now = () => performance.now(), recovery = 'quota', floor = perSecond / 50 }: Options): WriteLimiter {
  const waiting: Record<WritePriority, (() => void)[]> = { rollback: [], write: [] };
  let rate = perSecond;
  let tokens = burst;
  let at = now();
  let calmSince = at;
  let halvedAt = Number.NEGATIVE_INFINITY;
  let timer: ReturnType<typeof setTimeout> | undefined;

  const refill = () => {
    const t = now();
    // Recovery for each whole second since the last throttle: a tenth of the quota (additive), or of the pace itself.
    if (rate < perSecond && t - calmSince >= 1000) {
      const seconds = Math.floor((t - calmSince) / 1000);
      for (let i = 0; i < seconds && rate < perSecond; i++) rate = Math.min(perSecond, rate + (recovery === 'quota' ? perSecond / 10 : Math.max(1, rate / 10)));
      calmSince += seconds * 1000;
    }
    tokens = Math.min(burst, tokens + ((t - at) / 1000) * rate);
    at = t;
  };

  const pump = () => {
    timer = undefined;
    refill();
    while (tokens >= 1) {
      const next = waiting.rollback.shift() ?? waiting.write.shift();
      if (next === undefined) return;
      tokens -= 1;
      next();
    }
    if (waiting.rollback.length + waiting.write.length > 0) timer = setTimeout(pump, Math.max(1, ((1 - tokens) / rate) * 1000));
  };

  return {
    get rate() {
      refill();
      return rate;
    },
    take(priority) {
      return new Promise<void>((resolve) => {
        waiting[priority].push(resolve);
        if (timer === undefined) pump();
      });
    },
    throttled() {
      refill();
      const t = now();
      // Writes in flight together come back throttled together: one halving for them all, or a burst of twenty
      // would bring the pace down a millionfold.
      if (t - halvedAt >= 250) {
        rate = Math.max(floor, rate / 2);
        halvedAt = t;
      }
      calmSince = t;
    },
  };
}

const limiters = new Map<string, WriteLimiter>();

/** The process's limiter for the endpoint `key` (made on first use at `perSecond`). */
export function writeLimiter(key: string, perSecond: number, options: WriteLimiterOptions = {}): WriteLimiter {
  let limiter = limiters.get(key);
  if (limiter === undefined) {
    limiter = createWriteLimiter({ perSecond, ...options });
    limiters.set(key, limiter);
  }
  return limiter;
}
