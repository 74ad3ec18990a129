/**
 * The drill end to end, on the BUILT CLI (`npx tsc -p tsconfig.build.json` first), one scripted drill per overlap:
 * - `rekey rehearse --runbook <name> --answers` for every rehearsable runbook (the sandbox mints where a person would
 *   request a key, and revokes the old key when the person confirms doing so);
 * - `rekey drill` with an answers file for until-revoked (GitHub) and expiring (Stripe), against a sandbox in this
 *   process playing the provider, where the test plays the person in the dashboard;
 * - `rekey drill` of Streampixel (overlap none) through a pseudo-terminal (util-linux `script`): the test waits for
 *   the hidden prompt, requests the key from the sandbox (which kills the old one) and types it in.
 * Each ends in the right state (the .env holds a new key the provider accepts, the old key is rejected) and for
 * overlap none the output and the report state the outage window. No key ever appears in any output.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { type Sandbox, type SandboxOverlap, startSandbox } from '../../src/sandbox/server.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const CLI = join(ROOT, 'dist/src/cli/main.js');
if (!existsSync(CLI)) throw new Error(`${CLI} is missing: build first with \`npx tsc -p tsconfig.build.json\``);
const ACCOUNT = 'e2e-user';

const folders: string[] = [];
const sandboxes: Sandbox[] = [];
const children: ChildProcess[] = [];
/** Every key the tests handled: none may appear in any output. */
const keys: string[] = [];

afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
  await Promise.all(sandboxes.splice(0).map((s) => s.close()));
});
afterAll(() => {
  for (const folder of folders) rmSync(folder, { recursive: true, force: true });
});

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Plain text of terminal output: colours, cursor moves and carriage returns removed. */
function plain(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the ESC byte is the point: this matches ANSI escape sequences.
  return text.replace(/\x1b\[[0-9;?]*[A-Za-z]|\x1b[78]/g, '').replace(/\r/g, '');
}

function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };
  for (const [name, value] of Object.entries(process.env)) if (!name.startsWith('REKEY_') && name !== 'FORCE_COLOR' && name !== 'NO_COLOR') env[name] = value;
  return { ...env, ...extra };
}

/** Run the CLI without a terminal (stdin closed, stdout a pipe). */
function rekey(args: string[], cwd: string, env: Record<string, string> = {}): Promise<Result> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd, env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.on('error', fail);
    child.on('close', (code) => done({ code, stdout, stderr }));
  });
}

function folder(): string {
  const dir = mkdtempSync(join(tmpdir(), 'rekey-drill-e2e-'));
  folders.push(dir);
  return dir;
}

function answers(dir: string, text: string): string {
  const file = join(dir, 'answers.yaml');
  writeFileSync(file, text);
  return file;
}

function show(result: Result): string {
  return `exit ${result.code}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`;
}

function expectNoKey(...texts: string[]): void {
  for (const text of texts) for (const key of keys) expect(text.includes(key), 'a key appeared in the output').toBe(false);
}

function envValue(file: string, name: string): string | undefined {
  return new RegExp(`^${name}=(.*)$`, 'm').exec(readFileSync(file, 'utf8'))?.[1];
}

function reportsIn(dir: string): string[] {
  const reports = join(dir, '.rekey', 'reports');
  return existsSync(reports) ? readdirSync(reports).map((f) => readFileSync(join(reports, f), 'utf8')) : [];
}

async function sandbox(overlap: SandboxOverlap, keyPrefix: string): Promise<Sandbox> {
  const s = await startSandbox({ overlap, keyPrefix });
  sandboxes.push(s);
  return s;
}

/** A workspace for `rekey drill`: a rekey.yaml with one credential and a .env holding the current key. */
function workspace(runbook: string, variable: string, current: string, inputs: Record<string, string>): { dir: string; env: string } {
  const dir = folder();
  const env = join(dir, '.env');
  writeFileSync(env, `# the app's settings\n${variable}=${current}\nLOG_LEVEL=info\n`, { mode: 0o600 });
  const lines = Object.entries(inputs).map(([k, v]) => `      ${k}: ${JSON.stringify(v)}`);
  writeFileSync(
    join(dir, 'rekey.yaml'),
    [
      'credentials:',
      '  prod-key:',
      `    runbook: ${runbook}`,
      '    inputs:',
      ...lines,
      '    stores:',
      `      - dotenv: ./.env#${variable}`,
      '    policy:',
      '      budget: 2m',
      '',
    ].join('\n'),
  );
  return { dir, env };
}

/** Play the person in the dashboard: once the drill has verified the new key (a 200 check with it), call `act`. */
function whenVerified(s: Sandbox, newKeyId: () => string | undefined, act: () => Promise<void>): { stop: () => void } {
  let done = false;
  const timer = setInterval(() => {
    const id = newKeyId();
    if (done || id === undefined) return;
    if (s.activity(ACCOUNT).some((e) => e.keyId === id && e.action === 'check' && e.status === 200)) {
      done = true;
      void act();
    }
  }, 25);
  return { stop: () => clearInterval(timer) };
}

async function revoke(s: Sandbox, key: string): Promise<void> {
  await (await fetch(`${s.url}/v1/keys/self`, { method: 'DELETE', headers: { authorization: `Bearer ${key}` } })).arrayBuffer();
}

describe("rekey rehearse --runbook: the runbook's own drill against the sandbox, answered by a file", () => {
  /** The lines of `everyAnswer` for one runbook's own steps: a rehearsal refuses ids its runbook does not have. */
  const answersFor = (runbook: string): string => {
    const doc = parse(readFileSync(join(ROOT, 'runbooks', `${runbook}.yaml`), 'utf8')) as Record<string, unknown>;
    const prompts = new Set(
      Object.values(doc)
        .filter(Array.isArray)
        .flat()
        .filter((step: { id?: string; prompt?: unknown }) => step?.prompt !== undefined)
        .map((step: { id: string }) => step.id),
    );
    return everyAnswer
      .split('\n')
      .filter((line) => prompts.has(line.split(':')[0]!))
      .join('\n');
  };
  const everyAnswer = [
    'request-key: yes',
    'checklist: yes',
    'rotate-key: yes',
    'expire-old-key: yes',
    'logs: yes',
    'reset-token: yes',
    'audit-log: yes',
    'create-token: yes',
    'delete-old-token: yes',
    'security-log: yes',
    'generate-secret: yes',
    'disable-old-secret: yes',
    'activity: yes',
    'switch-dashboard: yes',
    'switch-sender: yes',
    'deliveries: yes',
  ].join('\n');

  it('overlap none (streampixel): done, old key dead, and the outage window stated on screen and in the report', async () => {
    const dir = folder();
    const result = await rekey(['rehearse', '--runbook', 'streampixel', '--answers', answers(dir, answersFor('streampixel')), '--keep'], dir);
    expect(result.code, show(result)).toBe(0);
    const kept = /kept: (\S+)/.exec(result.stdout)![1]!;
    folders.push(kept);
    expect(result.stdout).toContain('REHEARSAL of runbook streampixel (overlap none)');
    expect(result.stdout).toContain('rehearsal: the sandbox minted a new key');
    for (const phase of ['1 generate', '2 roll out', '3 verify', '4 revoke', '5 audit']) expect(result.stdout).toContain(phase);
    expect(result.stdout).toMatch(/outage window closed after \d+(ms|\.\d+s)/);
    expect(result.stdout).toMatch(/done in [\d.:]+m?s? \(budget 5:00, [\d:]+ to spare\) · outage window /);
    expect(result.stdout).toMatch(/░ outage window/);
    expect(result.stdout).toMatch(/sandbox check: old key …\w{4} rejected · new key …\w{4} in \.env active/);
    const fresh = envValue(join(kept, '.env'), 'STREAMPIXEL_API_KEY')!;
    keys.push(fresh);
    expect(fresh).toMatch(/^sk_[0-9a-f]{40}$/);
    const [report] = reportsIn(kept);
    expect(report).toContain('| result | **done** |');
    expect(report).toContain('| outage window |');
    expectNoKey(result.stdout, result.stderr, report!);
  });

  it('overlap until-revoked (github-token): the confirmed "delete the old token" revokes it in the sandbox', async () => {
    const dir = folder();
    const result = await rekey(['rehearse', '--runbook', 'github-token', '--answers', answers(dir, answersFor('github-token'))], dir);
    expect(result.code, show(result)).toBe(0);
    expect(result.stdout).toContain('rehearsal: the sandbox revoked the old key');
    expect(result.stdout).toMatch(/old key …\w{4} rejected \(401 · message Bad credentials; control: the new key gets 200\) — dead/);
    expect(result.stdout).not.toContain('outage window');
    expect(result.stdout).toMatch(/sandbox check: old key …\w{4} rejected/);
  });

  it('overlap expiring (stripe): the old key is given an expiry at the rotation, then expired', async () => {
    const dir = folder();
    const result = await rekey(['rehearse', '--runbook', 'stripe', '--answers', answers(dir, answersFor('stripe'))], dir);
    expect(result.code, show(result)).toBe(0);
    expect(result.stdout).toContain('set the old one to expire in an hour');
    // Expired now in the dashboard: Stripe answers api_key_expired for an expired key (docs/providers.md#stripe), not invalid_api_key.
    expect(result.stdout).toContain('rehearsal: the sandbox expired the old key');
    expect(result.stdout).toMatch(/rejected \(401 · error\.code api_key_expired( after \d attempts)?; control: the new key gets 200\) — dead/);
    expect(result.stdout).not.toContain('outage window');
  });

  it.each(['discord-bot', 'paypal', 'webhook-url-token', 'webhook-signing-secret', 'sandbox', 'sandbox-none'])('%s rehearses to the end', async (runbook) => {
    const dir = folder();
    const result = await rekey(['rehearse', '--runbook', runbook, '--answers', answers(dir, answersFor(runbook))], dir);
    expect(result.code, show(result)).toBe(0);
    expect(result.stdout).toMatch(/^done in /m);
    expect(result.stdout).toMatch(/(sandbox check: old key …\w{4} rejected|WEBHOOK_(TOKEN|SECRET)_PREVIOUS dropped)/);
  });

  it('aws-iam-access-key cannot be rehearsed against the sandbox: exit 2, saying why', async () => {
    const result = await rekey(['rehearse', '--runbook', 'aws-iam-access-key'], folder());
    expect(result.code, show(result)).toBe(2);
    expect(result.stderr).toContain('cannot be rehearsed against the sandbox: it needs AWS itself');
  });

  it('an answers file with an id the runbook does not have is refused at its line, the nearest id suggested', async () => {
    const dir = folder();
    const result = await rekey(['rehearse', '--runbook', 'streampixel', '--answers', answers(dir, 'request-kye: yes\nchecklist: yes\n')], dir);
    expect(result.code, show(result)).toBe(2);
    expect(result.stderr).toMatch(/answers\.yaml:1:1: .*request-kye/);
    expect(result.stderr).toContain('request-key');
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  it('"no" to the audit checklist is a finding in the report\'s first lines, the audit log and the exit code (6), not a failed rotation', async () => {
    const dir = folder();
    const result = await rekey(['rehearse', '--runbook', 'streampixel', '--answers', answers(dir, 'request-key: yes\nchecklist: no\n'), '--keep'], dir);
    expect(result.code, show(result)).toBe(6);
    const kept = /kept: (\S+)/.exec(result.stdout)![1]!;
    folders.push(kept);
    expect(result.stdout).toMatch(
      new RegExp(
        /check recent activity: answered no — activity you don't recognise since .+? is a leak to investigate: /.source +
          /`rekey incident streampixel-rehearsal --since <when it began>`/.source,
      ),
    );
    expect(result.stdout).toMatch(/sandbox check: old key …\w{4} rejected · new key …\w{4} in \.env active/);
    const [report] = reportsIn(kept);
    expect(report).toContain('| result | **done** |');
    expect(report).toMatch(/\| result \| \*\*done\*\* \|\n\| ⚠ findings \| \*\*1 audit check answered no\*\* \(checklist\)/);
    expect(report).toMatch(
      new RegExp(
        /### check recent activity\n\n\*\*⚠ Answered no:\*\* the person did not confirm this check of the activity(?: since .+)?: /.source +
          /something they do not recognise, to investigate\./.source,
      ),
    );
    expect(report).not.toContain('```json');
    const auditLog = readFileSync(join(kept, '.rekey', 'audit.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { phase: string; detail?: string });
    expect(auditLog.find((r) => r.phase === 'audit')?.detail).toBe('not confirmed: checklist (activity not recognised, to investigate)');
  });

  it('a rehearsal that does not finish keeps its folder (journal and report) and says so, and says "next" once', async () => {
    const dir = folder();
    const result = await rekey(
      [
        'rehearse',
        '--runbook',
        'github-token',
        '--answers',
        answers(dir, 'create-token: yes\ndelete-old-token: no\nsecurity-log: yes\ndelete-new-token: yes\n'),
      ],
      dir,
    );
    expect(result.code, show(result)).toBe(1);
    const kept = /kept: (\S+) — the rehearsal did not finish/.exec(result.stdout)?.[1];
    expect(kept, show(result)).toBeDefined();
    folders.push(kept!);
    expect(readdirSync(join(kept!, '.rekey', 'runs')).length).toBe(1);
    expect(reportsIn(kept!)).toHaveLength(1);
    expect(result.stdout.match(/^next: /gm)).toHaveLength(1);
  });

  it('without a terminal or an answers file, refuses before anything starts (exit 2) and shows the answers to write', async () => {
    const result = await rekey(['rehearse', '--runbook', 'streampixel'], folder());
    expect(result.code, show(result)).toBe(2);
    expect(result.stderr).toContain('there is no terminal to ask');
    expect(result.stderr).toContain('request-key: yes');
    expect(result.stdout).toBe('');
  });

  it('plain `rekey rehearse` (the quick start) is unchanged', async () => {
    const result = await rekey(['rehearse'], folder());
    expect(result.code, show(result)).toBe(0);
    expect(result.stdout).toMatch(/▒ you [\d.:]+m?s? · █ rekey [\d.]+m?s · total /);
    expect(result.stdout).toMatch(/sandbox check: old key …[0-9a-f]{4} rejected/);
  });
});

describe('rekey drill with an answers file', () => {
  it('webhook-url-token shows the new URL once on a screen: without a terminal it is refused before anything (exit 2)', async () => {
    const token = 'ab'.repeat(24);
    keys.push(token);
    const { dir, env } = workspace('webhook-url-token', 'WEBHOOK_TOKEN', token, { receiverUrl: 'https://hooks.example.com/in' });
    const before = readFileSync(env, 'utf8');
    const file = answers(dir, 'switch-dashboard: yes\ndeliveries: yes\n');
    const result = await rekey(['drill', 'prod-key', '--answers', file], dir);
    expect(result.code, show(result)).toBe(2);
    expect(result.stderr).toContain('shows you the new value once (step switch-dashboard');
    expect(result.stderr).toContain('there is no terminal to show it on');
    expect(readFileSync(env, 'utf8')).toBe(before);
    expect(existsSync(join(dir, '.rekey', 'runs'))).toBe(false);
  });

  it('overlap none, a key already requested before the run (the old one dead): the drill takes that key instead of stopping', async () => {
    const s = await sandbox('none', 'sk_');
    const old = s.mintKey(ACCOUNT);
    const { dir, env } = workspace('streampixel', 'STREAMPIXEL_API_KEY', old, { baseUrl: `${s.url}/pixelStripeApi`, userId: ACCOUNT, projectId: 'p-1' });
    // Somebody clicked "Request API Key" before the drill: the old key is dead already, the new one is in hand.
    const fresh = s.mintKey(ACCOUNT);
    keys.push(old, fresh);
    expect(s.isActive(old)).toBe(false);
    const file = answers(dir, 'request-key: { env: NEW_STREAMPIXEL_KEY }\nchecklist: yes\n');
    const result = await rekey(['drill', 'prod-key', '--answers', file], dir, { NEW_STREAMPIXEL_KEY: fresh });
    expect(result.code, show(result)).toBe(0);
    expect(result.stdout).toMatch(/already rejects the old key …\w{4} as revoked: a new key was requested before this run/);
    expect(envValue(env, 'STREAMPIXEL_API_KEY')).toBe(fresh);
    expect(s.isActive(fresh)).toBe(true);
    expect(result.stdout).toMatch(/outage window closed after/);
    expectNoKey(result.stdout, result.stderr, ...reportsIn(dir));
  });

  it('overlap none, a wrong paste of the right shape: refused before anything is written, and the next drill takes the right key', async () => {
    const s = await sandbox('none', 'sk_');
    const old = s.mintKey(ACCOUNT);
    const { dir, env } = workspace('streampixel', 'STREAMPIXEL_API_KEY', old, { baseUrl: `${s.url}/pixelStripeApi`, userId: ACCOUNT, projectId: 'p-1' });
    const before = readFileSync(env, 'utf8');
    // The person clicked "Request API Key" (the old key died) but pasted something else of the same shape.
    const fresh = s.mintKey(ACCOUNT);
    const wrong = `sk_${'f'.repeat(40)}`;
    keys.push(old, fresh, wrong);
    const file = answers(dir, 'request-key: { env: NEW_STREAMPIXEL_KEY }\nchecklist: yes\n');
    const first = await rekey(['drill', 'prod-key', '--answers', file], dir, { NEW_STREAMPIXEL_KEY: wrong });
    expect(first.code, show(first)).toBe(1);
    expect(first.stdout + first.stderr).toMatch(/Streampixel rejects it \(.*401/);
    expect(first.stdout + first.stderr).toContain('nothing was written');
    expect(readFileSync(env, 'utf8')).toBe(before);
    expect(readdirSync(dir).filter((f) => f.includes('rekey-'))).toEqual([]);
    // Not a dead end: a new drill with the right key finds the old one dead and rolls the new one out.
    const second = await rekey(['drill', 'prod-key', '--answers', file], dir, { NEW_STREAMPIXEL_KEY: fresh });
    expect(second.code, show(second)).toBe(0);
    expect(envValue(env, 'STREAMPIXEL_API_KEY')).toBe(fresh);
    expectNoKey(first.stdout, first.stderr, second.stdout, second.stderr, ...reportsIn(dir));
  });

  it('overlap none, a check that fails for another reason (a wrong userId: 401 Invalid User): refused before anything is minted', async () => {
    const s = await sandbox('none', 'sk_');
    const old = s.mintKey(ACCOUNT);
    keys.push(old);
    const { dir, env } = workspace('streampixel', 'STREAMPIXEL_API_KEY', old, { baseUrl: `${s.url}/pixelStripeApi`, userId: 'someone-else', projectId: 'p-1' });
    const file = answers(dir, 'request-key: { env: NEW_STREAMPIXEL_KEY }\nchecklist: yes\n');
    const result = await rekey(['drill', 'prod-key', '--answers', file], dir, { NEW_STREAMPIXEL_KEY: 'sk_never_used_0123456789' });
    expect(result.code, show(result)).toBe(1);
    expect(result.stdout + result.stderr).toMatch(/the runbook's check, run with the old key …\w{4}, failed: .*401/);
    expect(result.stdout + result.stderr).toContain('nothing was minted');
    // The old key still works and is still in the .env: nothing was requested, nothing written.
    expect(s.isActive(old)).toBe(true);
    expect(envValue(env, 'STREAMPIXEL_API_KEY')).toBe(old);
  });

  it('a provider that cannot be reached is said so, not taken for a rejected key', async () => {
    const s = await sandbox('until-revoked', 'ghp_');
    const old = s.mintKey(ACCOUNT);
    keys.push(old);
    const url = s.url;
    await s.close();
    const { dir } = workspace('github-token', 'GITHUB_TOKEN', old, { baseUrl: url });
    const file = answers(dir, 'create-token: { env: NEW_GITHUB_TOKEN }\ndelete-old-token: yes\nsecurity-log: yes\n');
    const result = await rekey(['drill', 'prod-key', '--answers', file], dir, { NEW_GITHUB_TOKEN: 'ghp_never_used_0123456789' });
    expect(result.code, show(result)).toBe(1);
    expect(result.stdout + result.stderr).toMatch(/could not reach GitHub to check the old key …\w{4}: .*no response \(ECONNREFUSED\)/);
    expect(result.stdout + result.stderr).not.toMatch(/rejected/);
  });

  it('overlap until-revoked (github-token): both keys work until the old one is deleted; it ends proven dead', async () => {
    const s = await sandbox('until-revoked', 'ghp_');
    const old = s.mintKey(ACCOUNT);
    const fresh = s.mintKey(ACCOUNT);
    keys.push(old, fresh);
    const [oldId, newId] = s
      .activity(ACCOUNT)
      .filter((e) => e.action === 'mint')
      .map((e) => e.keyId!);
    const { dir, env } = workspace('github-token', 'GITHUB_TOKEN', old, { baseUrl: s.url });
    const file = answers(dir, 'create-token: { env: NEW_GITHUB_TOKEN }\ndelete-old-token: yes\nsecurity-log: yes\n');
    // The person deletes the old token in GitHub's settings once rekey has verified the new one.
    const person = whenVerified(
      s,
      () => newId,
      () => revoke(s, old),
    );
    const result = await rekey(['drill', 'prod-key', '--answers', file], dir, { NEW_GITHUB_TOKEN: fresh });
    person.stop();
    expect(result.code, show(result)).toBe(0);
    expect(oldId).not.toBe(newId);
    expect(envValue(env, 'GITHUB_TOKEN')).toBe(fresh);
    expect(readFileSync(env, 'utf8')).toContain('LOG_LEVEL=info\n');
    expect(s.isActive(old)).toBe(false);
    expect(s.isActive(fresh)).toBe(true);
    expect(result.stdout).toMatch(/^checks: 1 store readable and writable/m);
    expect(result.stdout).toContain('https://github.com/settings/personal-access-tokens');
    expect(result.stdout).toMatch(/old key …\w{4} rejected \(401 · message Bad credentials( after \d attempts)?; control: the new key gets 200\) — dead/);
    expect(result.stdout).not.toContain('outage window');
    expect(result.stdout).toMatch(/▒ you [\d.:]+m?s? · █ rekey [\d.]+m?s · total /);
    const [report] = reportsIn(dir);
    expect(report).toContain('| result | **done** |');
    expect(report).not.toContain('outage window');
    expectNoKey(result.stdout, result.stderr, report!);
  });

  it('overlap expiring (stripe): the old key lapses at the expiry chosen when rotating, and is proven expired', async () => {
    const s = await sandbox('expiring', 'sk_test_');
    const old = s.mintKey(ACCOUNT);
    // "Rotate key" in the dashboard, with the old key expiring a few seconds later.
    const minted = (await (
      await fetch(`${s.url}/v1/accounts/${ACCOUNT}/keys`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ expireOthersInSeconds: 4 }),
      })
    ).json()) as { key: string };
    keys.push(old, minted.key);
    const { dir, env } = workspace('stripe', 'STRIPE_SECRET_KEY', old, { baseUrl: s.url });
    const file = answers(dir, 'rotate-key: { env: NEW_STRIPE_KEY }\nexpire-old-key: yes\nlogs: yes\n');
    const result = await rekey(['drill', 'prod-key', '--answers', file], dir, { NEW_STRIPE_KEY: minted.key });
    expect(result.code, show(result)).toBe(0);
    expect(envValue(env, 'STRIPE_SECRET_KEY')).toBe(minted.key);
    expect(s.isActive(old)).toBe(false);
    expect(result.stdout).toMatch(/old key …\w{4} rejected \(401 · error\.code api_key_expired( after \d attempts)?; control: the new key gets 200\) — dead/);
    expect(result.stdout).toContain('overlap: expiring');
    expectNoKey(result.stdout, result.stderr, ...reportsIn(dir));
  });

  it('refuses, before anything is read or minted, an answers file that gives a key other than through the environment', async () => {
    const s = await sandbox('until-revoked', 'ghp_');
    const old = s.mintKey(ACCOUNT);
    keys.push(old);
    const { dir, env } = workspace('github-token', 'GITHUB_TOKEN', old, { baseUrl: s.url });
    const result = await rekey(['drill', 'prod-key', '--answers', answers(dir, 'create-token: yes\ndelete-old-token: yes\nsecurity-log: yes\n')], dir);
    expect(result.code, show(result)).toBe(2);
    expect(result.stderr).toContain('a key must come from the environment');
    expect(envValue(env, 'GITHUB_TOKEN')).toBe(old);
    expect(existsSync(join(dir, '.rekey', 'runs'))).toBe(false);
    expect(s.stats.minted).toBe(1);
  });
});

const hasScript = (() => {
  try {
    execFileSync('script', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

/** A Streampixel credential (overlap none) against a sandbox, its seeded old key among the keys no output may hold. */
async function streampixelDrill(): Promise<{ s: Sandbox; old: string; dir: string; env: string }> {
  const s = await sandbox('none', 'sk_');
  const old = s.mintKey(ACCOUNT);
  keys.push(old);
  return { s, old, ...workspace('streampixel', 'STREAMPIXEL_API_KEY', old, { baseUrl: `${s.url}/pixelStripeApi`, userId: ACCOUNT, projectId: 'p-1' }) };
}

/**
 * `rekey drill prod-key` in a pseudo-terminal (util-linux `script`), driven by `step`: called with the plain screen so
 * far on every chunk of output and on a 50 ms tick (so a step can wait on the sandbox too), with `type` to send keys.
 * Resolves with the exit code and the plain output.
 */
function drillOnTerminal(
  dir: string,
  step: (screen: string, type: (keys: string) => void) => void | Promise<void>,
): Promise<{ code: number | null; text: string }> {
  const command = `${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} drill prod-key`;
  const child = spawn('script', ['-qfec', command, '/dev/null'], { cwd: dir, env: childEnv({ TERM: 'xterm-256color' }), stdio: ['pipe', 'pipe', 'pipe'] });
  children.push(child);
  let output = '';
  const type = (keys: string) => child.stdin.write(keys);
  const tick = () => void step(plain(output), type);
  const timer = setInterval(tick, 50);
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk;
    tick();
  });
  return new Promise((done) =>
    child.on('close', (code) => {
      clearInterval(timer);
      done({ code, text: plain(output) });
    }),
  );
}

describe('rekey drill in a terminal', () => {
  it.skipIf(!hasScript)('overlap none (streampixel): hidden paste, live outage window, the old key dead, the window in the report', async () => {
    const { s, old, dir, env } = await streampixelDrill();
    const command = `${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} drill prod-key`;
    const child = spawn('script', ['-qfec', command, '/dev/null'], { cwd: dir, env: childEnv({ TERM: 'xterm-256color' }), stdio: ['pipe', 'pipe', 'pipe'] });
    children.push(child);
    let output = '';
    let fresh: string | undefined;
    let answered = 0;
    let promptAt = 0;
    // Each key is typed once the screen shows the step before it; the only waits are the person's hold times, which
    // the timeline assertions below measure (the paste prompt open ≥ 0.9 s, the checklist ≥ 0.3 s).
    const hold = (ms: number, then: () => void) => setTimeout(then, Math.max(0, promptAt + ms - performance.now()));
    const progress = async (): Promise<void> => {
      const text = plain(output);
      if (answered === 0 && text.includes('Paste the new key (hidden):')) {
        answered = 1;
        promptAt = performance.now();
        // The person clicks "Request API Key": the old key dies now, and the new one is pasted.
        const response = await fetch(`${s.url}/v1/accounts/${ACCOUNT}/keys`, { method: 'POST' });
        fresh = ((await response.json()) as { key: string }).key;
        keys.push(fresh);
        child.stdin.write(fresh);
      } else if (answered === 1 && /Paste the new key \(hidden\): \*{24}… 43 characters/.test(text)) {
        // The stars show on the prompt line: Enter, once the prompt has been open 0.9 s.
        answered = 2;
        hold(900, () => child.stdin.write('\r'));
      } else if (answered === 2 && text.includes('Type yes or no:')) {
        answered = 3;
        promptAt = performance.now();
        hold(300, () => child.stdin.write('y\r'));
      }
    };
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
      void progress();
    });
    const code = await new Promise<number | null>((done) => child.on('close', done));
    const text = plain(output);
    expect(code, text).toBe(0);
    expect(answered).toBe(3);
    expect(text).toContain('overlap: none — the old key dies when the new one is minted');
    expect(text).toContain('▸ you  Open the Streampixel dashboard → account menu (top right) → Request API Key.');
    expect(text).toContain('https://dashboard.streampixel.io');
    expect(text).toMatch(/⏱ 0:\d\d of 2:00 · [\d:]+ left/);
    expect(text).toMatch(/outage window open/);
    expect(text).toMatch(/Paste the new key \(hidden\): \*{24}… 43 characters/);
    // The old key died when the person clicked, as the prompt opened; rekey polls it once a second while the prompt is
    // open, so the window opens at the last poll that saw it accepted (or the prompt's opening, if none did).
    expect(text).toContain('outage window open: the provider now rejects the old key');
    expect(text).toMatch(/outage window closed after (?:(\d+)ms|([\d.]+)s)/);
    expect(text).toMatch(/old key …\w{4} rejected \(401 · message Unauthorized: Invalid API Key; control: the new key gets 200\) — dead/);
    expect(text).toMatch(/done in [\d.:]+m?s? \(budget 2:00, [\d:]+ to spare\) · outage window /);
    // The mint step is the person's time (the prompt open: pasted after 0.3 s, Enter after 0.9 s) and rekey's (staging).
    // rekey's share is the pasted key's check with the provider and its staging: milliseconds, or tenths on a busy machine.
    const mintRow = /request a new API key in the … *(▒+)(█*) *you ([\d.]+)s · rekey (?:(\d+)ms|([\d.]+)s)/.exec(text);
    expect(mintRow, text).not.toBeNull();
    expect(Number(mintRow![3])).toBeGreaterThanOrEqual(0.9);
    expect(mintRow![4] !== undefined ? Number(mintRow![4]) : Number(mintRow![5]) * 1000).toBeLessThan(900);
    const totals = /▒ you ([\d.]+)s · █ rekey ([\d.]+)(m?s)/.exec(text);
    expect(totals, text).not.toBeNull();
    // Two prompts were held open ≥ 0.9 s and ≥ 0.3 s; the person's total counts them, rekey's does not.
    expect(Number(totals![1])).toBeGreaterThanOrEqual(1.2);
    expect(envValue(env, 'STREAMPIXEL_API_KEY')).toBe(fresh);
    expect(s.isActive(old)).toBe(false);
    expect(s.isActive(fresh!)).toBe(true);
    const [report] = reportsIn(dir);
    expect(report).toContain('| outage window |');
    expect(report).toMatch(/\| generate \| request a new API key in the dashboard \| person \| you [\d.]+s · rekey (\d+ms|0\.\ds) \| done/);
    expectNoKey(output, report!);
  });
});

describe('rekey drill in a terminal: the outage measured, deliberate answers, Ctrl-C', () => {
  it.skipIf(!hasScript)(
    'overlap none: the window opens at the last poll that saw the old key alive, within a poll of its death, not when the prompt opens',
    async () => {
      const { s, dir, env } = await streampixelDrill();
      let stage = 0;
      let checksAtPrompt = 0;
      let promptAt = 0;
      let killedAt = 0;
      let seenAt = 0;
      let fresh: string | undefined;
      const result = await drillOnTerminal(dir, async (screen, type) => {
        if (stage === 0 && screen.includes('Paste the new key (hidden):')) {
          stage = 1;
          promptAt = Date.now();
          checksAtPrompt = s.stats.checks;
        } else if (stage === 1 && s.stats.checks >= checksAtPrompt + 2) {
          // The person reads the instructions while rekey polls the old key (two polls answered: it still works), then
          // clicks "Request API Key": the old key dies now.
          stage = 2;
          killedAt = Date.now();
          const response = await fetch(`${s.url}/v1/accounts/${ACCOUNT}/keys`, { method: 'POST' });
          fresh = ((await response.json()) as { key: string }).key;
          keys.push(fresh);
          stage = 3;
        } else if (stage === 3 && screen.includes('outage window open: the provider now rejects the old key')) {
          // rekey saw the rejection while the prompt was still open; the person pastes a second later.
          stage = 4;
          seenAt = Date.now();
          setTimeout(() => type(`${fresh}\r`), 1000);
        } else if (stage === 4 && screen.includes('Type yes or no:')) {
          stage = 5;
          type('yes\r');
        }
      });
      expect(result.code, result.text).toBe(0);
      expect(stage).toBe(5);
      // Nothing said the window was open while the old key still worked.
      expect(result.text.indexOf('outage window open')).toBeGreaterThan(result.text.indexOf('Paste the new key (hidden):'));
      const [report] = reportsIn(dir);
      const row = /\| outage window \| ([\d.]+)(m?s): counted from the last poll that still saw the old key accepted/.exec(report ?? '');
      expect(row, report).not.toBeNull();
      const windowMs = Number(row![1]) * (row![2] === 's' ? 1000 : 1);
      // It stayed open at least the second before the paste, and opened at most a poll (1 s, plus its round trip)
      // before the key died: never short of the outage, never the whole prompt.
      expect(windowMs).toBeGreaterThanOrEqual(1000);
      expect(windowMs).toBeLessThanOrEqual(Date.now() - killedAt + 1500);
      // The reading time before the click (two polls, ≥ 1 s each) is not in it.
      expect(windowMs).toBeLessThan(Date.now() - promptAt - 1000);
      // Against the sandbox's own record of the moment the old key died: the journal's window opened no later than it
      // (an outage is never under-counted) and within 1.5 s before it (the polling granularity).
      const journal = readdirSync(join(dir, '.rekey', 'runs')).map((f) => readFileSync(join(dir, '.rekey', 'runs', f), 'utf8'))[0]!;
      const opened = journal
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as { type: string; openedAt?: string; basis?: string })
        .find((r) => r.type === 'window.opened');
      expect(opened?.basis).toBe('rejected');
      const died = s.activity(ACCOUNT).find((e) => e.action === 'mint' && e.route !== 'mintKey');
      expect(died, JSON.stringify(s.activity(ACCOUNT))).toBeDefined();
      expect(Date.parse(opened!.openedAt!)).toBeLessThanOrEqual(Date.parse(died!.at) + 5);
      expect(Date.parse(opened!.openedAt!)).toBeGreaterThanOrEqual(Date.parse(died!.at) - 1500);
      expect(Date.parse(opened!.openedAt!)).toBeLessThanOrEqual(seenAt);
      expect(envValue(env, 'STREAMPIXEL_API_KEY')).toBe(fresh);
      expectNoKey(result.text, report!, journal);
    },
    60_000,
  );

  it.skipIf(!hasScript)(
    'a yes/no question has no default: Enter alone asks again, and "no" to the audit checklist is a finding (exit 6)',
    async () => {
      const { s, dir } = await streampixelDrill();
      let stage = 0;
      const result = await drillOnTerminal(dir, async (screen, type) => {
        if (stage === 0 && screen.includes('Paste the new key (hidden):')) {
          stage = 1;
          const response = await fetch(`${s.url}/v1/accounts/${ACCOUNT}/keys`, { method: 'POST' });
          const fresh = ((await response.json()) as { key: string }).key;
          keys.push(fresh);
          type(`${fresh}\r`);
        } else if (stage === 1 && screen.includes('Type yes or no:')) {
          stage = 2;
          type('\r');
        } else if (stage === 2 && screen.includes('There is no default: type yes or no:')) {
          stage = 3;
          type('maybe\r');
        } else if (stage === 3 && screen.includes('That is neither: type yes or no:')) {
          stage = 4;
          type('no\r');
        }
      });
      expect(stage).toBe(4);
      expect(result.code, result.text).toBe(6);
      // A warning mark, never a ✓, on the checklist; the end line says there is a finding.
      expect(result.text).toMatch(/^ {3}! check recent activity[^\n]*answered no/m);
      expect(result.text).not.toMatch(/^ {3}✓ check recent activity/m);
      expect(result.text).toMatch(/done, with a finding to investigate \(\S+ answered no\)/);
      const [report] = reportsIn(dir);
      const head = report!.split('\n').slice(0, 8).join('\n');
      expect(head).toContain('⚠ findings');
      expect(report).toContain('**⚠ Answered no:**');
      expect(report).not.toContain('```json');
    },
    60_000,
  );

  it.skipIf(!hasScript)(
    'Ctrl-C at the paste prompt exits 130 and says what it means for the outage and how to go on',
    async () => {
      const { old, dir, env } = await streampixelDrill();
      let stage = 0;
      const result = await drillOnTerminal(dir, (screen, type) => {
        if (stage === 0 && screen.includes('Paste the new key (hidden):')) {
          stage = 1;
          type('\u0003');
        }
      });
      expect(result.code, result.text).toBe(130);
      expect(result.text).toMatch(/interrupted during "[^"]+"; every step done so far is in the journal\./);
      expect(result.text).toContain('If you already requested the new key in the dashboard, the old key is dead and the outage window is open');
      expect(result.text).toMatch(/continue with `rekey resume [\w-]+`/);
      expect(envValue(env, 'STREAMPIXEL_API_KEY')).toBe(old);
    },
    60_000,
  );
});
