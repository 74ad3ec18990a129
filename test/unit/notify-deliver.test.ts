/**
 * Delivery (src/notify/deliver.ts) against local receivers: what is retried (5xx, 429) and what is not (a 4xx such as
 * Slack's 404 no_service or 410 channel_is_archived, which no retry mends), and that no error names the URL.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { NotifyChannelConfig } from '../../src/config/types.js';
import { deliver } from '../../src/notify/deliver.js';
import { successMessage } from '../../src/notify/message.js';

const servers: Array<ReturnType<typeof createServer>> = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

/** A receiver answering the statuses in turn (the last one for ever); counts requests. */
async function answering(...statuses: number[]): Promise<{ url: string; count: () => number }> {
  let n = 0;
  const server = createServer((request, response) => {
    request.resume();
    request.on('end', () => response.writeHead(statuses[Math.min(n++, statuses.length - 1)]!).end('x'));
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/services/T/B/token-canary`, count: () => n };
}

const channel = (retries: number): NotifyChannelConfig => ({
  channel: 'slack',
  name: 'slack (HOOK)',
  urlEnv: 'HOOK',
  on: ['success'],
  timeoutMs: 2_000,
  retries,
});
const msg = successMessage({ credential: 'api', run: 'r1', fingerprints: { old: 'a', new: 'b' }, masks: { old: '…1', new: '…2' } });

describe('notify delivery', () => {
  it('retries 429 and 5xx, then succeeds', async () => {
    const r = await answering(429, 503, 200);
    const result = await deliver(channel(3), msg, { env: { HOOK: r.url }, minBackoffMs: 1 });
    expect(result).toMatchObject({ ok: true, attempts: 3 });
    expect(r.count()).toBe(3);
  });

  it('does not retry a 404 or a 410, and names the status, not the URL', async () => {
    for (const status of [404, 410]) {
      const r = await answering(status);
      const result = await deliver(channel(3), msg, { env: { HOOK: r.url }, minBackoffMs: 1 });
      expect(result).toMatchObject({ ok: false, attempts: 1, error: `HTTP ${status}` });
      expect(r.count()).toBe(1);
    }
  });

  it('gives up after its retries and says why, without the URL', async () => {
    const r = await answering(500);
    const result = await deliver(channel(2), msg, { env: { HOOK: r.url }, minBackoffMs: 1 });
    expect(result).toMatchObject({ ok: false, attempts: 3, error: 'HTTP 500' });
    // A port nothing listens on: one a receiver had, closed again.
    const gone = await answering(200);
    await new Promise((resolve) => servers.pop()!.close(resolve));
    const refused = await deliver(channel(0), msg, { env: { HOOK: gone.url }, minBackoffMs: 1 });
    expect(refused).toMatchObject({ ok: false, attempts: 1, error: 'could not connect (ECONNREFUSED)' });
    expect(JSON.stringify([result, refused])).not.toContain('token-canary');
  });
});
