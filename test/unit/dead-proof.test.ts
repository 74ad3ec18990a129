/**
 * "Dead" means dead (src/runbook/steps/rejection.ts, src/engine/dead.ts): only the runbook's documented rejection
 * proves a key dead. Each fault a firewall, a proxy or a struggling provider produces is unknown, never dead; unknown
 * answers are asked again with back-off within bounds; and a check that rejects the new key too voids the proof.
 * The proofs run against the real sandbox (with its check faults), the runbooks as shipped.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HttpStep, Runbook } from '../../src/contract/runbook.js';
import { Secret } from '../../src/contract/secret.js';
import { proveDead } from '../../src/engine/dead.js';
import { builtInRunbookDir, loadRunbook } from '../../src/runbook/load.js';
import type { HttpAnswer } from '../../src/runbook/steps/http.js';
import { classifyAnswer, MAX_RETRY_AFTER_MS, UNKNOWN_ATTEMPTS, unknownDelay } from '../../src/runbook/steps/rejection.js';
import { type Sandbox, startSandbox } from '../../src/sandbox/server.js';

const json = (status: number, body: unknown, extra: Partial<Extract<HttpAnswer, { kind: 'response' }>> = {}): HttpAnswer => ({
  kind: 'response',
  status,
  contentType: 'application/json; charset=utf-8',
  text: JSON.stringify(body),
  retryAfterMs: undefined,
  ...extra,
});

let github: HttpStep;
let nowpayments: HttpStep;
let panel: HttpStep;
beforeAll(async () => {
  const check = async (name: string) => (await loadRunbook(join(builtInRunbookDir(), `${name}.yaml`))).verifyRevoked[0] as HttpStep;
  [github, nowpayments, panel] = await Promise.all([check('github-token'), check('nowpayments'), check('panel-credentials')]);
});

describe('classifyAnswer: only the documented rejection is dead', () => {
  it('GitHub: 401 "Bad credentials" is dead; 200 is alive', () => {
    expect(classifyAnswer(github, json(401, { message: 'Bad credentials', documentation_url: 'https://docs.github.com/rest' })).state).toBe('dead');
    expect(classifyAnswer(github, json(200, { login: 'octocat' })).state).toBe('alive');
  });

  it.each([
    ['403 from a firewall', json(403, { message: 'Forbidden by policy' })],
    ['401 with another body', json(401, { message: 'Requires authentication' })],
    ['401 that is not JSON', { kind: 'response', status: 401, contentType: 'text/plain', text: 'Unauthorized', retryAfterMs: undefined } as HttpAnswer],
    [
      'an HTML page with 401',
      {
        kind: 'response',
        status: 401,
        contentType: 'text/html',
        text: '<!DOCTYPE html><html><body>Sign in</body></html>',
        retryAfterMs: undefined,
      } as HttpAnswer,
    ],
    ['an HTML page sent as JSON', json(200, 'x', { text: '<html><body>captive portal</body></html>' })],
    ['a redirect to a login page', { kind: 'response', status: 302, contentType: '', text: '', retryAfterMs: undefined } as HttpAnswer],
    ['429 rate limited', json(429, { message: 'API rate limit exceeded' }, { retryAfterMs: 2000 })],
    ['500', json(500, { message: 'Server Error' })],
    ['503', json(503, { message: 'Unavailable' })],
    ['a timeout', { kind: 'none', reason: 'timeout after 10000 ms', timeout: true } as HttpAnswer],
    ['a refused connection', { kind: 'none', reason: 'ECONNREFUSED', timeout: false } as HttpAnswer],
  ])('GitHub: %s is unknown, never dead', (_, answer) => {
    expect(classifyAnswer(github, answer).state).toBe('unknown');
  });

  it('NOWPayments: 403 counts only with the documented code INVALID_API_KEY', () => {
    expect(classifyAnswer(nowpayments, json(403, { status: false, code: 'INVALID_API_KEY', message: 'Invalid api key' })).state).toBe('dead');
    expect(classifyAnswer(nowpayments, json(403, { message: 'Access denied: IP not in allow-list' })).state).toBe('unknown');
  });

  it("HTTP Basic (panel): a 401 is RFC 7617's rejection, but a 401 login page is not", () => {
    expect(classifyAnswer(panel, { kind: 'response', status: 401, contentType: '', text: '', retryAfterMs: undefined }).state).toBe('dead');
    const page = { kind: 'response', status: 401, contentType: 'text/html', text: '<html><form>login</form></html>', retryAfterMs: undefined } as const;
    expect(classifyAnswer(panel, page).state).toBe('unknown');
    expect(classifyAnswer(panel, json(403, {})).state).toBe('unknown');
  });

  it('a verdict never carries the body beyond a scrubbed summary, and names what it saw', () => {
    expect(classifyAnswer(github, json(403, { message: 'Forbidden by policy' })).why).toBe(
      '403 ({"message":"Forbidden by policy"}), not the documented rejection (401)',
    );
    expect(classifyAnswer(github, { kind: 'none', reason: 'ECONNREFUSED', timeout: false }).why).toBe('no answer (ECONNREFUSED)');
  });
});

describe('unknownDelay: bounded, with back-off, never faster than once a second, Retry-After respected', () => {
  it('doubles from at least 1 s, is capped, and stops after the attempts', () => {
    expect([1, 2, 3].map((n) => unknownDelay(n, 200, undefined))).toEqual([1000, 2000, 4000]);
    expect(unknownDelay(UNKNOWN_ATTEMPTS, 200, undefined)).toBeUndefined();
    expect(unknownDelay(3, 5000, undefined, 10)).toBe(8000);
  });
  it('waits at least what Retry-After asks, and gives up on a wait longer than a minute', () => {
    expect(unknownDelay(1, 0, 5000)).toBe(5000);
    expect(unknownDelay(1, 0, MAX_RETRY_AFTER_MS + 1)).toBeUndefined();
  });
});

describe('proveDead against the sandbox, with its check faults', () => {
  let sandbox: Sandbox;
  let runbook: Runbook;
  let old: Secret;
  let fresh: Secret;
  beforeAll(async () => {
    sandbox = await startSandbox({ overlap: 'none' });
    runbook = await loadRunbook(join(builtInRunbookDir(), 'sandbox-none.yaml'));
    // Short timeouts and delays: the test is about what counts, not about waiting.
    const check = runbook.verifyRevoked[0] as HttpStep;
    runbook = { ...runbook, verifyRevoked: [{ ...check, timeoutMs: 300, retry: { attempts: 2, delayMs: 0 } }] };
    old = new Secret(sandbox.mintKey('acct'));
    fresh = new Secret(sandbox.mintKey('acct')); // overlap none: the second key kills the first
  });
  afterAll(() => sandbox.close());

  const ctx = (keys: { old: Secret; newValue: Secret } = { old, newValue: fresh }) => ({
    options: { runbook },
    ...keys,
    roundTrips: [] as number[],
    vars: () => ({ ...keys, new: keys.newValue, inputs: { baseUrl: sandbox.url, account: 'acct' }, run: { id: 'r', since: '', started: '' }, credential: 'c' }),
  });

  it('the documented rejection, with the new key accepted as a control: dead', async () => {
    sandbox.checkFault = undefined;
    const proof = await proveDead(ctx(), { quick: false, control: true });
    expect(proof?.state).toBe('dead');
    expect(proof?.control).toBe('accepted');
    expect(proof?.detail).toContain('error.code invalid_api_key');
  });

  it.each(['forbidden', 'html', 'server-error', 'timeout'] as const)(
    'a %s fault that stays: unknown after the bounded attempts, never dead',
    async (mode) => {
      sandbox.checkFault = { mode };
      const before = sandbox.faulted;
      const proof = await proveDead(ctx(), { quick: false, control: true });
      expect(proof?.state).toBe('unknown');
      expect(proof?.detail).toContain('not proven dead');
      // Asked again, but bounded: UNKNOWN_ATTEMPTS requests in all for the old key (the control, asked beside the
      // first of them, is answered normally and counts as no fault).
      expect(sandbox.faulted - before).toBe(UNKNOWN_ATTEMPTS);
    },
    30_000,
  );

  it('a fault that passes (two 503s): asked again with back-off until the documented rejection comes', async () => {
    sandbox.checkFault = { mode: 'server-error', times: 2 };
    const proof = await proveDead(ctx(), { quick: false, control: true });
    expect(proof?.state).toBe('dead');
    expect(proof?.detail).toContain('after 3 attempts');
  }, 30_000);

  it('quick (pre-run, after the mint, the poll): one request, an unknown answer stays unknown', async () => {
    sandbox.checkFault = { mode: 'forbidden' };
    const before = sandbox.faulted;
    expect((await proveDead(ctx(), { quick: true, control: false }))?.state).toBe('unknown');
    expect(sandbox.faulted - before).toBe(1);
  });

  it('the endpoint rejects the new key too (the same documented answer): the proof is void, never dead', async () => {
    sandbox.checkFault = undefined;
    // The endpoint does not know the new key (pointed at another environment, or rejecting every key): the control
    // gets the same documented rejection as the old key, so that rejection proves nothing.
    const broken = ctx({ old, newValue: new Secret(`sbx_${'0'.repeat(40)}`) });
    const proof = await proveDead(broken, { quick: false, control: true });
    expect(proof?.state).toBe('void');
    expect(proof?.control).toBe('rejected');
    expect(proof?.detail).toContain('the proof is void');
  });

  it('the control goes side by side with the check of the old key: one round trip, not two', async () => {
    // A server that answers the old key's request only once the control's has arrived too (or, after 2 s, with a 503):
    // asked one after the other, the old key's request would wait in vain and the proof would not be dead.
    const { createServer } = await import('node:http');
    const waiting: (() => void)[] = [];
    let controlSeen = false;
    const server = createServer((request, response) => {
      const isOld = request.headers.authorization === `Bearer ${old.reveal()}`;
      const answer = () => {
        if (!isOld) {
          response.writeHead(200, { 'content-type': 'application/json' }).end('{"account":"acct"}');
        } else if (controlSeen) {
          response.writeHead(401, { 'content-type': 'application/json' }).end('{"error":{"code":"invalid_api_key","message":"Invalid API Key"}}');
        } else {
          response.writeHead(503, { 'content-type': 'application/json' }).end('{"error":{"message":"held"}}');
        }
      };
      if (isOld) {
        const timer = setTimeout(answer, 2000);
        waiting.push(() => {
          clearTimeout(timer);
          answer();
        });
      } else {
        controlSeen = true;
        for (const release of waiting.splice(0)) release();
        answer();
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as import('node:net').AddressInfo;
    try {
      const once = { ...runbook, verifyRevoked: [{ ...(runbook.verifyRevoked[0] as HttpStep), timeoutMs: 3000, retry: { attempts: 1, delayMs: 0 } }] };
      const local = { ...ctx(), options: { runbook: once } };
      const vars = local.vars;
      local.vars = () => ({ ...vars(), inputs: { baseUrl: `http://127.0.0.1:${port}`, account: 'acct' } });
      const proof = await proveDead(local, { quick: true, control: true });
      expect(proof?.state).toBe('dead');
      expect(proof?.control).toBe('accepted');
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('the old key still accepted: alive, never dead', async () => {
    sandbox.checkFault = undefined;
    const proof = await proveDead(ctx({ old: fresh, newValue: fresh }), { quick: false, control: true });
    expect(proof?.state).toBe('alive');
  });
});
