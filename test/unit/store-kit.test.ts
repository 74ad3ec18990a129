/**
 * The store kit (adapters/stores/kit): a client built on first use and rebuilt after a failed build or a reset, one
 * service call mapped to typed errors and retried only when retriable, and a bounded compare-and-swap loop.
 */
import { describe, expect, it } from 'vitest';
import { callService, casLoop, lazyClient } from '../../adapters/stores/kit/index.js';
import { StoreConflictError, StoreError, StoreUnavailableError } from '../../src/contract/store-errors.js';

const noWait = { retries: 3, minTimeout: 0, maxTimeout: 0 };

describe('lazyClient', () => {
  it('builds nothing until asked, then shares one build between concurrent calls', async () => {
    let builds = 0;
    const client = lazyClient(async () => ({ id: ++builds }));
    expect(builds).toBe(0);
    const [a, b] = await Promise.all([client.get(), client.get()]);
    expect(a).toBe(b);
    expect(builds).toBe(1);
  });

  it('forgets a failed build: the first build throws, the second call builds again and works', async () => {
    let builds = 0;
    const client = lazyClient(async () => {
      builds++;
      if (builds === 1) throw new Error('login refused');
      return { id: builds };
    });
    await expect(client.get()).rejects.toThrow('login refused');
    await expect(client.get()).resolves.toEqual({ id: 2 });
    await expect(client.get()).resolves.toEqual({ id: 2 });
    expect(builds).toBe(2);
  });

  it('builds a new client after reset, and disposes of the old one', async () => {
    let builds = 0;
    const disposed: number[] = [];
    const client = lazyClient(
      async () => ({ id: ++builds }),
      (c) => disposed.push(c.id),
    );
    const first = await client.get();
    await client.reset();
    expect(disposed).toEqual([1]);
    const second = await client.get();
    expect(second).not.toBe(first);
    expect(builds).toBe(2);
  });
});

describe('callService', () => {
  it('maps a failure through the store mapping and retries it while it is retriable', async () => {
    let calls = 0;
    const result = await callService(
      async () => {
        calls++;
        if (calls < 3) throw new Error('ECONNRESET');
        return 'ok';
      },
      () => new StoreUnavailableError('read', 'x:y', 'connection reset'),
      noWait,
    );
    expect(result).toBe('ok');
    expect(calls).toBe(3);
  });

  it('does not retry what the mapping calls final, and throws the mapped error', async () => {
    let calls = 0;
    const call = callService(
      async () => {
        calls++;
        throw new Error('AccessDenied');
      },
      () => new StoreError('permission', 'read', 'x:y', 'not allowed'),
      noWait,
    );
    await expect(call).rejects.toMatchObject({ code: 'permission', message: expect.stringContaining('not allowed') });
    expect(calls).toBe(1);
  });
});

describe('casLoop', () => {
  const conflict = () => new StoreConflictError('promote', 'x:y', 'etag mismatch');

  it('reads again after a lost race and returns what the winning pass returns', async () => {
    const reads: number[] = [];
    const result = await casLoop(async (attempt) => {
      reads.push(attempt.number);
      try {
        if (attempt.number < 2) throw conflict();
        return 'written';
      } catch (error) {
        return attempt.retryIf(error, error instanceof StoreConflictError);
      }
    });
    expect(result).toBe('written');
    expect(reads).toEqual([1, 2]);
  });

  it('gives up after the bounded number of passes with the last conflict itself', async () => {
    let passes = 0;
    const loop = casLoop(async (attempt) => {
      passes++;
      return attempt.retryIf(conflict(), true);
    }, 4);
    await expect(loop).rejects.toBeInstanceOf(StoreConflictError);
    expect(passes).toBe(4);
  });

  it('never reruns a pass for an error it was not told to retry', async () => {
    let passes = 0;
    const loop = casLoop(async () => {
      passes++;
      throw new Error('current version moved');
    });
    await expect(loop).rejects.toThrow('current version moved');
    expect(passes).toBe(1);
  });
});
