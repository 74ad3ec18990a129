/**
 * `rekey init` on the BUILT CLI, in fixture projects: what it tells from the .env files (by name, by the runbooks'
 * key patterns), the rekey.yaml it writes (no key value in it), and `rekey plan` on each credential it wrote.
 * Without a terminal it asks nothing: what the flags do not answer is refused (exit 2) and nothing is written.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { rekey, show } from './helpers.js';

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

// Shapes from the runbooks' documented key formats (runbooks/*.yaml secret.pattern), made up for the test.
const STRIPE = `sk_test_${'Q7'.repeat(12)}`;
const GITHUB = `ghp_${'x9'.repeat(18)}`;
const DISCORD = `${'M'.repeat(24)}.${'G'.repeat(6)}.${'h'.repeat(27)}`;
const WEBHOOK = 'ab'.repeat(24);
const STREAMPIXEL = 'sk_streampixel_made_up_value';
const OTHER = 'other-secret-value-1234';
// Shaped as an access key id, and plainly made up.
const AWS_KEY_ID = `AKIA${'F'.repeat(12)}FAKE`;
const VALUES = [STRIPE, GITHUB, DISCORD, WEBHOOK, STREAMPIXEL, OTHER];

function project(): string {
  const dir = mkdtempSync(join(tmpdir(), 'rekey-init-'));
  dirs.push(dir);
  writeFileSync(
    join(dir, '.env'),
    [
      `STRIPE_SECRET_KEY=${STRIPE}`,
      'STRIPE_PUBLISHABLE_KEY=pk_test_public',
      `GITHUB_TOKEN=${GITHUB}`,
      `STREAMPIXEL_API_KEY=${STREAMPIXEL}`,
      'STREAMPIXEL_USER_ID=6650aa',
      `MY_SERVICE_TOKEN=${OTHER}`,
      `AWS_ACCESS_KEY_ID=${AWS_KEY_ID}`,
      'LOG_LEVEL=info',
      '',
    ].join('\n'),
  );
  mkdirSync(join(dir, 'deploy'));
  // A value told by its shape alone: the variable's name says nothing.
  writeFileSync(join(dir, 'deploy/.env.production'), `WEBHOOK_TOKEN=${WEBHOOK}\nBOT=${DISCORD}\n`);
  writeFileSync(join(dir, '.env.example'), `STRIPE_SECRET_KEY=sk_test_${'0'.repeat(24)}\n`);
  return dir;
}

describe('rekey init', () => {
  it('writes a rekey.yaml with the known providers’ keys, no value in it, and `rekey plan` accepts every credential', async () => {
    const dir = project();
    const result = await rekey(['--json', 'init', '--input', 'projectId=66a1', '--input', 'receiverUrl=https://hooks.example.com/in'], { cwd: dir });
    expect(result.code, show(result)).toBe(0);
    const text = readFileSync(join(dir, 'rekey.yaml'), 'utf8');
    for (const value of VALUES) expect(text).not.toContain(value);
    for (const value of VALUES) expect(`${result.stdout}${result.stderr}`).not.toContain(value);
    const config = parse(text) as { credentials: Record<string, { runbook: string; inputs?: Record<string, string>; stores: Record<string, unknown>[] }> };
    const runbookOf = Object.fromEntries(Object.values(config.credentials).map((c) => [String(c.stores[0]!['dotenv']), c.runbook]));
    expect(runbookOf).toEqual({
      './.env#STRIPE_SECRET_KEY': 'stripe',
      './.env#GITHUB_TOKEN': 'github-token',
      './.env#STREAMPIXEL_API_KEY': 'streampixel',
      './deploy/.env.production#WEBHOOK_TOKEN': 'webhook-url-token',
      './deploy/.env.production#BOT': 'discord-bot',
    });
    const streampixel = Object.values(config.credentials).find((c) => c.runbook === 'streampixel')!;
    expect(streampixel.inputs).toEqual({ userId: '6650aa', projectId: '66a1' });
    const webhook = Object.values(config.credentials).find((c) => c.runbook === 'webhook-url-token')!;
    expect(webhook.stores[0]).toMatchObject({ keepPrevious: true });
    // Said, not guessed: the secret-looking variable no runbook claims, and the AWS pair.
    expect(text).toMatch(/^# not set up: MY_SERVICE_TOKEN in \.env/m);
    expect(text).toMatch(/^# left out: AWS_ACCESS_KEY_ID in \.env/m);
    const events = result.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { event: string; by?: string; variable?: string });
    expect(events.find((e) => e.variable === 'BOT')).toMatchObject({ event: 'init.credential', by: 'pattern' });
    expect(events.at(-1)).toMatchObject({ event: 'init.written', credentials: 5 });
    for (const id of Object.keys(config.credentials)) {
      const plan = await rekey(['plan', id], { cwd: dir });
      expect(plan.code, `${id}\n${show(plan)}`).toBe(0);
      expect(plan.stdout).toContain(`plan for ${id}`);
    }
  });

  it('without a terminal, refuses the inputs it cannot tell (exit 2), naming the flags, and writes nothing', async () => {
    const dir = project();
    const result = await rekey(['init'], { cwd: dir });
    expect(result.code, show(result)).toBe(2);
    expect(result.stderr).toMatch(/cannot tell 2 inputs/);
    expect(result.stderr).toMatch(/--input streampixel-api-key\.projectId=…/);
    expect(result.stderr).toMatch(/--input webhook-token-production-deploy\.receiverUrl=…/);
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect(existsSync(join(dir, 'rekey.yaml'))).toBe(false);
  });

  it('takes --runbook for a variable it cannot tell, ends by suggesting doctor and rehearse, and never overwrites rekey.yaml', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rekey-init-'));
    dirs.push(dir);
    writeFileSync(join(dir, '.env'), `MY_SERVICE_TOKEN=${'k'.repeat(48)}\n`);
    const none = await rekey(['init'], { cwd: dir });
    expect(none.code, show(none)).toBe(2);
    expect(none.stderr).toMatch(/no key of a provider rekey knows in \.env/);
    const told = await rekey(['init', '--runbook', 'MY_SERVICE_TOKEN=paypal', '--input', 'clientId=app-1'], { cwd: dir });
    expect(told.code, show(told)).toBe(0);
    expect(told.stdout).toMatch(/my-service-token +paypal +\.env#MY_SERVICE_TOKEN \(flag\)/);
    expect(told.stdout).toMatch(/Next: `rekey doctor` checks the project; `rekey rehearse --runbook paypal` practises a rotation/);
    const before = readFileSync(join(dir, 'rekey.yaml'), 'utf8');
    const again = await rekey(['init', '--runbook', 'MY_SERVICE_TOKEN=paypal', '--input', 'clientId=app-2'], { cwd: dir });
    expect(again.code, show(again)).toBe(2);
    expect(again.stderr).toMatch(/rekey\.yaml already exists/);
    expect(readFileSync(join(dir, 'rekey.yaml'), 'utf8')).toBe(before);
    const plan = await rekey(['plan', 'my-service-token'], { cwd: dir });
    expect(plan.code, show(plan)).toBe(0);
  });
});
