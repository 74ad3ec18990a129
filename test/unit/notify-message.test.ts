/**
 * The notification messages (src/notify/message.ts): no value reaches a message even when the words handed in quote
 * one (the redactor scrubs every text), and Slack's text escapes what Slack would read as a link or a mention.
 */
import { describe, expect, it } from 'vitest';
import { Secret } from '../../src/contract/secret.js';
import { failureMessage, reminderMessage, slackBody } from '../../src/notify/message.js';

describe('notification messages', () => {
  it('scrub a value known to the process from every text, in its plain and URL-encoded spellings', () => {
    const canary = 'canary-Value/with+chars-0123456789abcdef';
    new Secret(canary);
    const msg = failureMessage({
      credential: 'api',
      run: 'r1',
      reason: 'failed',
      error: `deploy: exit 1 (bad key ${canary})`,
      hint: `curl https://x.test/?k=${encodeURIComponent(canary)}`,
      next: 'rekey log r1',
    });
    const body = JSON.stringify(msg);
    expect(body).not.toContain(canary);
    expect(body).not.toContain(encodeURIComponent(canary));
    expect(msg.text).toContain('deploy: exit 1 (bad key [redacted …cdef])');
    expect(JSON.stringify(slackBody(msg))).not.toContain(canary);
  });

  it('escape &, < and > in Slack text, so that no message becomes a link or a mention', () => {
    const msg = failureMessage({
      credential: 'api',
      run: undefined,
      reason: 'failed',
      error: '<!channel> <https://evil.test|click> & more',
      hint: undefined,
      next: undefined,
    });
    const { text } = slackBody(msg);
    expect(text).toContain('&lt;!channel&gt; &lt;https://evil.test|click&gt; &amp; more');
    expect(text).not.toContain('<');
  });

  it('number a reminder’s steps for the person and name `rekey drill <id>`', () => {
    const msg = reminderMessage({
      credential: 'sp',
      title: 'Streampixel',
      dueAt: '2026-10-30T00:00:00.000Z',
      steps: [{ name: 'request a key', instructions: 'Open the dashboard.\nClick Request.', url: 'https://dash.test' }],
    });
    expect(msg.text).toBe(
      'sp has been due since 2026-10-30. Its runbook has a dashboard step, so a scheduled run cannot rotate it alone.\n' +
        'Run `rekey drill sp` at a terminal; it will ask you to:\n1. request a key: Open the dashboard. Click Request. (https://dash.test)',
    );
    expect(msg.next).toBe('rekey drill sp');
  });
});
