/**
 * `notify:` in rekey.yaml, against local HTTP receivers that record what they got (test/fakes/notify-receiver.ts):
 * failures, reminders (with the runbook's dashboard steps and `rekey drill <id>`), overdue credentials and successes
 * reach a generic webhook (JSON), a Slack incoming webhook (`text`) and an exec channel (JSON on stdin); no message
 * carries a key value (canaries: the old key, and the new key a failing hook wrote down); the URLs come from the
 * environment and are never printed; a delivery that fails is retried, reported, and leaves the exit code alone.
 */
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { type Receiver, startReceiver } from '../fakes/notify-receiver.js';
import { type CliResult, envValue, fingerprint, rekeyIn, removeWorkspaces, sandboxPool, show, workspace } from './helpers.js';

const sandbox = sandboxPool();
afterAll(removeWorkspaces);
const receivers: Receiver[] = [];
afterEach(async () => {
  await Promise.all(receivers.splice(0).map((r) => r.close()));
});
const receiver = async (options?: Parameters<typeof startReceiver>[0]) => {
  const r = await startReceiver(options);
  receivers.push(r);
  return r;
};
const ndjson = (result: CliResult) =>
  result.stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
const bodies = (r: Receiver) => r.received.map((request) => JSON.parse(request.body) as Record<string, unknown>);

// A Slack URL carries its token in its path: it must appear in no output.
const SLACK_PATH = '/services/T000/B000/slack-token-canary-0123456789';

describe('notify: failures and successes', () => {
  it('a failed rotation reaches the webhook and Slack; no message holds the old or the new key; the URLs are never printed', async () => {
    const s = await sandbox({ overlap: 'until-revoked' });
    // The hook gets the new key, writes it down for the test (the canary), prints it in its error and fails.
    const ws = workspace({
      sandbox: s,
      rollout: [{ name: 'deploy', env: { KEY: '{{ new }}' }, exec: ['sh', '-c', 'printf %s "$KEY" > new-key.txt; echo "bad key $KEY" >&2; exit 1'] }],
    });
    const hook = await receiver();
    const slack = await receiver();
    appendFileSync(
      ws.config,
      'notify:\n  - channel: webhook\n    url: { env: REKEY_TEST_HOOK_URL }\n  - channel: slack\n    url: { env: SLACK_WEBHOOK_URL }\n',
    );
    const env = { REKEY_TEST_HOOK_URL: `${hook.url}/rekey`, SLACK_WEBHOOK_URL: `${slack.url}${SLACK_PATH}` };
    const result = await rekeyIn(ws, ['rotate', ws.credential], { env });
    expect(result.code, show(result)).toBe(1);
    const newKey = readFileSync(join(ws.dir, 'new-key.txt'), 'utf8');
    expect(newKey.length).toBeGreaterThan(16);

    expect(hook.received).toHaveLength(1);
    expect(hook.received[0]).toMatchObject({ method: 'POST', path: '/rekey', headers: expect.objectContaining({ 'content-type': 'application/json' }) });
    const [failure] = bodies(hook);
    expect(failure).toMatchObject({
      source: 'rekey',
      kind: 'failure',
      credential: ws.credential,
      run: expect.stringMatching(/^\d{8}T\d{6}Z-[0-9a-f]{6}$/),
      reason: 'rolled back',
      next: expect.stringMatching(/^rekey log /),
      time: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    });
    expect((failure!['fingerprints'] as Record<string, unknown>)['old']).toBe(fingerprint(ws.seed));
    expect(String(failure!['text'])).toContain('deploy');

    expect(slack.received).toHaveLength(1);
    expect(slack.received[0]!.path).toBe(SLACK_PATH);
    const text = String(bodies(slack)[0]!['text']);
    expect(text).toContain(`*${ws.credential}: rotation failed (rolled back)*`);

    for (const request of [...hook.received, ...slack.received]) {
      expect(request.body).not.toContain(ws.seed);
      expect(request.body).not.toContain(newKey);
      // Nor its base64 or a long piece of it.
      expect(request.body).not.toContain(Buffer.from(newKey).toString('base64').slice(4, 24));
      expect(request.body).not.toContain(newKey.slice(0, 12));
    }
    for (const output of [result.stdout, result.stderr]) {
      expect(output).not.toContain('slack-token-canary');
      expect(output).not.toContain(hook.url);
    }
  });

  it('a success goes only to a channel that lists it, with masks and fingerprints; failures-only channels hear nothing', async () => {
    const s = await sandbox({ overlap: 'until-revoked' });
    const ws = workspace({ sandbox: s });
    const successes = await receiver();
    const failures = await receiver();
    appendFileSync(
      ws.config,
      'notify:\n  - channel: webhook\n    url: { env: OK_URL }\n    on: [success]\n  - channel: webhook\n    url: { env: FAIL_URL }\n    on: [failure]\n',
    );
    const result = await rekeyIn(ws, ['--json', 'rotate', ws.credential], { env: { OK_URL: successes.url, FAIL_URL: failures.url } });
    expect(result.code, show(result)).toBe(0);
    const now = envValue(ws)!;
    expect(failures.received).toHaveLength(0);
    expect(bodies(successes)).toEqual([
      expect.objectContaining({
        kind: 'success',
        credential: ws.credential,
        fingerprints: { old: fingerprint(ws.seed), new: fingerprint(now) },
        masks: { old: `…${ws.seed.slice(-4)}`, new: `…${now.slice(-4)}` },
      }),
    ]);
    expect(successes.received[0]!.body).not.toContain(now);
    expect(successes.received[0]!.body).not.toContain(ws.seed);
    // The delivery is on the NDJSON stream too, stamped like every line, and names the channel by its variable.
    expect(ndjson(result)).toContainEqual(
      expect.objectContaining({ event: 'notify.sent', credential: ws.credential, kind: 'success', channel: 'webhook (OK_URL)', attempts: 1 }),
    );
  });
});

describe('notify: reminders and overdue credentials', () => {
  it("a due credential that needs a person: the reminder names the runbook's dashboard steps and `rekey drill <id>`", async () => {
    const s = await sandbox();
    const ws = workspace({ sandbox: s });
    writeFileSync(join(ws.dir, 'sp.env'), `STREAMPIXEL_API_KEY=${'sk_'.padEnd(40, 'q')}\n`, { mode: 0o600 });
    appendFileSync(
      ws.config,
      `  streampixel-prod:\n    runbook: streampixel\n    inputs: { userId: u, projectId: p, baseUrl: ${s.url}/pixelStripeApi }\n` +
        '    stores: [{ dotenv: ./sp.env#STREAMPIXEL_API_KEY }]\n    policy: { maxAge: 90d, lastRotated: 2026-08-01 }\n' +
        'notify:\n  - channel: webhook\n    url: { env: HOOK_URL }\n  - channel: slack\n    url: { env: SLACK_URL }\n',
    );
    const hook = await receiver();
    const slack = await receiver();
    const result = await rekeyIn(ws, ['rotate', '--due'], { env: { HOOK_URL: hook.url, SLACK_URL: `${slack.url}${SLACK_PATH}` } });
    expect(result.code, show(result)).toBe(0);
    expect(bodies(hook)).toEqual([
      expect.objectContaining({
        kind: 'reminder',
        credential: 'streampixel-prod',
        dueAt: '2026-10-30T00:00:00.000Z',
        next: 'rekey drill streampixel-prod',
        steps: expect.arrayContaining([
          {
            name: 'request a new API key in the dashboard',
            instructions: expect.stringContaining('Open the Streampixel dashboard → account menu (top right) → Request API Key.'),
            url: 'https://dashboard.streampixel.io',
          },
        ]),
      }),
    ]);
    const text = String(bodies(slack)[0]!['text']);
    expect(text).toContain('has been due since 2026-10-30');
    expect(text).toContain('Run `rekey drill streampixel-prod` at a terminal');
    expect(text).toContain('1. request a new API key in the dashboard: Open the Streampixel dashboard → account menu (top right) → Request API Key.');
    expect(hook.received[0]!.body).not.toContain('sk_qqqq');
  });

  it('a due credential held by a live run is reported overdue, with who holds it', async () => {
    const s = await sandbox();
    const ws = workspace({ sandbox: s });
    const { spawn } = await import('node:child_process');
    const { mkdirSync } = await import('node:fs');
    const { hostname } = await import('node:os');
    const holder = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
    try {
      mkdirSync(join(ws.stateDir, 'locks'), { recursive: true });
      const run = '20261202T050000Z-1a2b3c';
      writeFileSync(
        join(ws.stateDir, 'locks', `${ws.credential}.lock`),
        JSON.stringify({ pid: holder.pid, host: hostname(), run, since: '2026-12-02T05:00:00.000Z' }),
      );
      writeFileSync(ws.config, readFileSync(ws.config, 'utf8').replace('maxAge: 30d', 'maxAge: 30d\n      lastRotated: 2026-01-01'));
      appendFileSync(ws.config, 'notify:\n  - channel: webhook\n    url: { env: HOOK_URL }\n');
      const hook = await receiver();
      const result = await rekeyIn(ws, ['rotate', '--due'], { env: { HOOK_URL: hook.url } });
      expect(result.code, show(result)).toBe(0);
      expect(bodies(hook)).toEqual([
        expect.objectContaining({
          kind: 'overdue',
          credential: ws.credential,
          run,
          dueAt: '2026-01-31T00:00:00.000Z',
          reason: expect.stringContaining(`by run ${run}`),
        }),
      ]);
    } finally {
      holder.kill();
    }
  });
});

describe('notify: deliveries that fail', () => {
  it('a receiver that answers 500 twice is tried again and gets the message on the third attempt', async () => {
    const s = await sandbox();
    const ws = workspace({ sandbox: s });
    const flaky = await receiver({ failFirst: 2 });
    appendFileSync(ws.config, 'notify:\n  - channel: webhook\n    url: { env: HOOK_URL }\n    on: [success]\n');
    const result = await rekeyIn(ws, ['--json', 'rotate', ws.credential], { env: { HOOK_URL: flaky.url } });
    expect(result.code, show(result)).toBe(0);
    expect(flaky.received).toHaveLength(3);
    expect(new Set(flaky.received.map((r) => r.body)).size).toBe(1);
    expect(ndjson(result)).toContainEqual(expect.objectContaining({ event: 'notify.sent', kind: 'success', attempts: 3 }));
  });

  it('a receiver that hangs: each attempt times out, the failure is reported, the rotation is done and exits 0', async () => {
    const s = await sandbox();
    const ws = workspace({ sandbox: s });
    const stuck = await receiver({ hang: true });
    appendFileSync(ws.config, 'notify:\n  - channel: webhook\n    url: { env: HOOK_URL }\n    on: [success]\n    timeout: 1s\n    retries: 1\n');
    const result = await rekeyIn(ws, ['rotate', ws.credential], { env: { HOOK_URL: `${stuck.url}/secret-path-canary` } });
    expect(result.code, show(result)).toBe(0);
    expect(stuck.received).toHaveLength(2);
    expect(s.isActive(envValue(ws)!)).toBe(true);
    expect(s.isActive(ws.seed)).toBe(false);
    expect(result.stderr).toContain(
      `${ws.credential}: notify: the success message was not delivered to webhook (HOOK_URL) after 2 attempts: no answer within 1s ` +
        '(the rotation is not affected)',
    );
    expect(`${result.stdout}${result.stderr}`).not.toContain('secret-path-canary');

    // A second rotation minutes after the first: allowed on purpose (src/engine/recent.ts).
    const json = await rekeyIn(ws, ['--json', 'rotate', ws.credential, '--allow-recent'], { env: { HOOK_URL: stuck.url } });
    expect(json.code, show(json)).toBe(0);
    expect(ndjson(json)).toContainEqual(
      expect.objectContaining({
        event: 'notify.failed',
        credential: ws.credential,
        run: expect.any(String),
        kind: 'success',
        attempts: 2,
        error: 'no answer within 1s',
      }),
    );
  });

  it('an unset URL variable is reported and sends nothing; the exit code is the rotation’s', async () => {
    const s = await sandbox();
    const ws = workspace({ sandbox: s });
    appendFileSync(ws.config, 'notify:\n  - channel: slack\n    url: { env: SLACK_WEBHOOK_URL }\n    on: [success]\n');
    const result = await rekeyIn(ws, ['rotate', ws.credential], { env: { SLACK_WEBHOOK_URL: undefined } });
    expect(result.code, show(result)).toBe(0);
    expect(result.stderr).toContain('not delivered to slack (SLACK_WEBHOOK_URL) after 1 attempt: SLACK_WEBHOOK_URL is not set: nothing was sent');
  });
});

describe('notify: the exec channel', () => {
  it('gets the message as JSON on stdin, never in its arguments', async () => {
    const s = await sandbox();
    const ws = workspace({ sandbox: s });
    const script = join(ws.dir, 'record.mjs');
    writeFileSync(
      script,
      "import { appendFileSync, readFileSync } from 'node:fs';\n" +
        "appendFileSync('received.jsonl', JSON.stringify({ argv: process.argv.slice(2), stdin: readFileSync(0, 'utf8') }) + '\\n');\n",
    );
    appendFileSync(
      ws.config,
      `notify:\n  - channel: exec\n    exec: [${JSON.stringify(process.execPath)}, ./record.mjs, --to, ops]\n    on: [success, failure]\n`,
    );
    const result = await rekeyIn(ws, ['rotate', ws.credential]);
    expect(result.code, show(result)).toBe(0);
    const lines = readFileSync(join(ws.dir, 'received.jsonl'), 'utf8').trim().split('\n');
    expect(lines).toHaveLength(1);
    const got = JSON.parse(lines[0]!) as { argv: string[]; stdin: string };
    expect(got.argv).toEqual(['--to', 'ops']);
    expect(JSON.parse(got.stdin)).toMatchObject({ source: 'rekey', kind: 'success', credential: ws.credential });
    expect(got.stdin).not.toContain(envValue(ws)!);
  });
});

describe('notify: bad input', () => {
  it('a URL written in rekey.yaml is refused at its line and column, and not repeated', async () => {
    const ws = workspace({ sandbox: await sandbox() });
    appendFileSync(ws.config, 'notify:\n  - channel: slack\n    url: https://hooks.slack.com/services/T1/B2/literal-token-canary\n');
    const lines = readFileSync(ws.config, 'utf8').split('\n');
    const line = lines.findIndex((l) => l.includes('literal-token-canary')) + 1;
    const result = await rekeyIn(ws, ['rotate', ws.credential]);
    expect(result.code, show(result)).toBe(2);
    expect(result.stderr).toContain(`rekey.yaml:${line}:10: notify[0].url: a webhook URL is a secret (it carries its token) and must not be written in`);
    expect(result.stderr).toContain('url: { env: SLACK_WEBHOOK_URL }');
    expect(result.stderr).not.toContain('literal-token-canary');
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect(existsSync(ws.stateDir)).toBe(false);
  });

  it('a channel without what it needs, or an unknown kind of message, is refused at its place', async () => {
    const ws = workspace({ sandbox: await sandbox() });
    appendFileSync(ws.config, 'notify:\n  - channel: exec\n  - channel: webhook\n    url: { env: HOOK_URL }\n    on: [failures]\n');
    const result = await rekeyIn(ws, ['status']);
    expect(result.code, show(result)).toBe(2);
    expect(result.stderr).toMatch(/rekey\.yaml:\d+:\d+: notify\[1\]\.on\[0\]: must be one of "failure", "reminder", "overdue", "success"/);
    expect(result.stderr).toContain('did you mean "failure"?');

    writeFileSync(ws.config, readFileSync(ws.config, 'utf8').replace('    on: [failures]\n', ''));
    const line = readFileSync(ws.config, 'utf8').split('\n').indexOf('  - channel: exec') + 1;
    const missing = await rekeyIn(ws, ['status']);
    expect(missing.code, show(missing)).toBe(2);
    expect(missing.stderr).toContain(`rekey.yaml:${line}:5: notify[0]: an exec channel needs exec: [command, args…]`);
  });
});
