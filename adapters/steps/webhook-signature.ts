/**
 * Webhook signing secrets: the `webhook-signature` step adapter behind `runbooks/webhook-signing-secret.yaml`. rekey
 * plays the sender and delivers a signed test event to the receiver, so that the run proves the receiver accepts the
 * new secret before the sender is switched to it.
 *
 * ```yaml
 * verify:
 *   - id: receiver-accepts
 *     uses: webhook-signature
 *     action: send-test-event
 *     with: { url: "{{ inputs.receiverUrl }}", secret: "{{ new }}", header: X-Signature, expect: [200, 202, 204] }
 * ```
 *
 * The signature is the generic HMAC scheme (what GitHub documents for `X-Hub-Signature-256`,
 * https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries): `sha256=` and the hex HMAC-SHA256
 * of the raw body, keyed with the secret. The body is a small JSON test event naming the run, never a value:
 * `{"type":"rekey.test","id":"<run id>","created":"<ISO time>"}`. A receiver that checks another scheme (Stripe's
 * `t=…,v1=…`, Svix's `webhook-signature`) needs its own runbook.
 */
import { createHmac } from 'node:crypto';
import type { StepAdapter } from '../../src/contract/step-adapter.js';
import { StepFailedError } from '../../src/contract/steps.js';
import { render } from '../../src/runbook/template.js';
import { parseDuration } from '../../src/util/duration.js';

const ACTIONS = ['send-test-event'] as const;

/** The signature header value for `body` signed with `secret`. */
export function signatureOf(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body, 'utf8').digest('hex')}`;
}

export default {
  name: 'webhook-signature',
  summary: 'deliver a test event signed with HMAC-SHA256 (X-Signature: sha256=<hex>) to a webhook receiver',
  actions: ACTIONS,
  async run(call) {
    const { step, context } = call;
    if (call.action !== 'send-test-event') {
      throw new StepFailedError(step.id, `${step.name}: webhook-signature has no action "${call.action ?? ''}"`, `actions: ${ACTIONS.join(', ')}`);
    }
    const text = (name: string, fallback?: string): string => {
      const value = call.with[name];
      if (typeof value === 'string') return value;
      if (fallback !== undefined) return fallback;
      throw new StepFailedError(step.id, `${step.name}: webhook-signature needs "with: { ${name}: … }"`);
    };
    const url = render(text('url'), context.vars).text;
    const secretTemplate = text('secret');
    const rendered = render(secretTemplate, context.vars);
    if (!rendered.secret) throw new StepFailedError(step.id, `${step.name}: "secret" must be {{ new }} or {{ old }}, the value being rotated`);
    const header = render(text('header', 'X-Signature'), context.vars).text;
    const expected = Array.isArray(call.with['expect'])
      ? (call.with['expect'] as unknown[]).filter((s): s is number => typeof s === 'number')
      : [200, 202, 204];
    const attempts = typeof call.with['attempts'] === 'number' ? Math.max(1, call.with['attempts']) : 1;
    const delay = (typeof call.with['delay'] === 'string' ? parseDuration(call.with['delay']) : undefined) ?? 1_000;

    const body = JSON.stringify({ type: 'rekey.test', id: context.vars.run.id, created: new Date().toISOString() });
    const signature = signatureOf(rendered.text, body);
    let last = '';
    for (let attempt = 1; attempt <= attempts; attempt++) {
      const started = performance.now();
      try {
        const response = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', [header]: signature, 'user-agent': 'rekey webhook test' },
          body,
          signal: AbortSignal.timeout(10_000),
        });
        await response.arrayBuffer();
        context.roundTrips.push(performance.now() - started);
        if (expected.includes(response.status)) return { detail: `${response.status} — the receiver accepted the signature` };
        last = `got ${response.status}, expected ${expected.join(' or ')}`;
      } catch (error) {
        last = `the receiver could not be reached (${error instanceof Error ? error.name : 'error'})`;
      }
      if (attempt < attempts) await new Promise((resolve) => setTimeout(resolve, delay));
    }
    throw new StepFailedError(
      step.id,
      `${step.name}: ${last}`,
      'the receiver must accept signatures made with the new secret (and the previous one) before the sender switches: restart it so it loads both',
    );
  },
} satisfies StepAdapter;
