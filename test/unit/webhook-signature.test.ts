/**
 * Webhook signing secrets: the sandbox's receiver (src/sandbox/webhooks.ts) and the `webhook-signature` step adapter
 * that signs rekey's test event, each checked against a signature computed here by hand from the generic scheme
 * (`X-Signature: sha256=<hex HMAC-SHA256 of the raw body>`), never with the code under test.
 */
import { createHmac } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import webhookSignature from '../../adapters/steps/webhook-signature.js';
import type { UsesStep } from '../../src/contract/runbook.js';
import { Secret } from '../../src/contract/secret.js';
import { StepFailedError, type StepContext } from '../../src/contract/steps.js';
import { type Sandbox, startSandbox } from '../../src/sandbox/server.js';

const CURRENT = 'whsec_current_0123456789abcdefghijklmnopqrstuvwx';
const PREVIOUS = 'whsec_previous_0123456789abcdefghijklmnopqrstuvw';
const OTHER = 'whsec_other_0123456789abcdefghijklmnopqrstuvwxyz0';

const hmac = (secret: string, body: string) => `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;

let sandbox: Sandbox | undefined;
afterEach(async () => {
  await sandbox?.close();
  sandbox = undefined;
});

async function receiver(secrets: string[]): Promise<Sandbox> {
  sandbox = await startSandbox({ webhookSecrets: () => secrets });
  return sandbox;
}

const deliver = (url: string, body: string, signature?: string) =>
  fetch(`${url}/v1/webhooks/receive`, { method: 'POST', headers: signature === undefined ? {} : { 'x-signature': signature }, body });

describe('the sandbox webhook receiver', () => {
  it('accepts a signature made with the current or the previous secret, and refuses any other, a tampered body or none', async () => {
    const s = await receiver([CURRENT, PREVIOUS]);
    const body = '{"type":"invoice.paid","id":"evt_1"}';
    expect((await deliver(s.url, body, hmac(CURRENT, body))).status).toBe(204);
    expect((await deliver(s.url, body, hmac(PREVIOUS, body))).status).toBe(204);
    const refused = await deliver(s.url, body, hmac(OTHER, body));
    expect(refused.status).toBe(401);
    const text = await refused.text();
    expect(text).not.toContain(CURRENT);
    expect(text).not.toContain(OTHER);
    expect((await deliver(s.url, `${body} `, hmac(CURRENT, body))).status).toBe(401);
    expect((await deliver(s.url, body)).status).toBe(400);
  });

  it('reads the secrets it holds at each delivery: once the previous one is dropped, its signatures fail', async () => {
    const held = [CURRENT, PREVIOUS];
    const s = await receiver(held);
    const body = '{"id":"evt_2"}';
    expect((await deliver(s.url, body, hmac(PREVIOUS, body))).status).toBe(204);
    held.pop();
    expect((await deliver(s.url, body, hmac(PREVIOUS, body))).status).toBe(401);
    expect((await deliver(s.url, body, hmac(CURRENT, body))).status).toBe(204);
  });

  it('is not there unless configured', async () => {
    sandbox = await startSandbox();
    expect((await deliver(sandbox.url, '{}', hmac(CURRENT, '{}'))).status).toBe(404);
  });
});

function stepContext(vars: { new?: Secret; old?: Secret }): StepContext {
  return {
    vars: { inputs: {}, run: { id: '20261124T024512Z-aaaaaa', since: '2026-11-24T02:45:12Z', started: '2026-11-24T02:45:12Z' }, credential: 'hooks', ...vars },
    runbook: {} as never,
    interaction: {} as never,
    roundTrips: [],
    note() {},
  };
}

const step = (withs: Record<string, unknown>): UsesStep =>
  ({ kind: 'uses', id: 'receiver-accepts', name: 'receiver accepts', adapter: 'webhook-signature', action: 'send-test-event', with: withs }) as never;

describe('the webhook-signature step adapter', () => {
  it('delivers a test event signed with {{ new }} in the named header, naming the run and no value', async () => {
    let seen: { headers: Record<string, string | string[] | undefined>; body: string } | undefined;
    const { createServer } = await import('node:http');
    const server = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => (body += chunk.toString()));
      request.on('end', () => {
        seen = { headers: request.headers, body };
        response.writeHead(202).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/hooks`;
      const call = step({ url, secret: '{{ new }}', header: 'X-Hub-Signature-256' });
      const outcome = await webhookSignature.run({
        action: 'send-test-event',
        with: call.with,
        step: call,
        context: stepContext({ new: new Secret(CURRENT) }),
      });
      expect(outcome.detail).toMatch(/^202/);
      expect(seen!.headers['x-hub-signature-256']).toBe(hmac(CURRENT, seen!.body));
      expect(JSON.parse(seen!.body)).toMatchObject({ type: 'rekey.test', id: '20261124T024512Z-aaaaaa' });
      expect(seen!.body).not.toContain(CURRENT);
    } finally {
      server.close();
    }
  });

  it('passes against a receiver holding the new secret, and fails with the status when the receiver holds only the old one', async () => {
    const s = await receiver([PREVIOUS]);
    const call = step({ url: `${s.url}/v1/webhooks/receive`, secret: '{{ new }}', attempts: 2, delay: '10ms' });
    const failure = await webhookSignature
      .run({ action: 'send-test-event', with: call.with, step: call, context: stepContext({ new: new Secret(CURRENT) }) })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(failure).toBeInstanceOf(StepFailedError);
    expect((failure as Error).message).toContain('got 401');
    expect((failure as Error).message).not.toContain(CURRENT);
    const passing = await webhookSignature.run({ action: 'send-test-event', with: call.with, step: call, context: stepContext({ new: new Secret(PREVIOUS) }) });
    expect(passing.detail).toMatch(/^204/);
  });

  it('refuses a secret that is not the rotated value (a literal in the runbook)', async () => {
    const call = step({ url: 'http://127.0.0.1:9/hooks', secret: 'whsec_literal' });
    await expect(webhookSignature.run({ action: 'send-test-event', with: call.with, step: call, context: stepContext({}) })).rejects.toThrow(
      'must be {{ new }}',
    );
  });
});
