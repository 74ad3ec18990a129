/**
 * `rekey rehearse <credential>` on the BUILT CLI (`npx tsc -p tsconfig.build.json` first): the person's own credential
 * from rekey.yaml, its runbook's steps and its rollout hooks, with the sandbox as the provider and every store replaced
 * by a throw-away stand-in. The tests hold it to its promises:
 * - nothing real is written: the real .env keeps every byte, and no request reaches the address the credential's
 *   inputs give for the provider (a local server here, playing the real provider, counts every request);
 * - the rollout hooks run for real (a hook posts to a local receiver, which is called) and get the rehearsal's new key,
 *   never the real value;
 * - every built-in runbook the sandbox can play rehearses to the end this way, and one it cannot is refused (exit 2);
 * - a rehearsal that fails keeps its folder and names it, and offers no `rekey resume`; `--budget` is a duration;
 * - no canary (the real value, another variable's value), nor its base64 or hex spelling, appears in any output or in
 *   any file the rehearsal leaves behind.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { type CliResult, rekey, ROOT, show } from './helpers.js';

const REAL = `rk_canary_${'5e'.repeat(20)}`;
const OTHER = `rk_canary_other_${'a7'.repeat(12)}`;
const CANARIES = [REAL, OTHER].flatMap((c) => [c, Buffer.from(c).toString('base64'), Buffer.from(c).toString('hex')]);

const folders: string[] = [];
afterAll(() => {
  for (const folder of folders) rmSync(folder, { recursive: true, force: true });
});

/** A local HTTP server that records every request (method, path, body) and answers 200. */
interface Recorder {
  readonly url: string;
  readonly requests: Array<{ method: string; path: string; body: string }>;
  close(): Promise<void>;
}

async function recorder(): Promise<Recorder> {
  const requests: Recorder['requests'] = [];
  const server: Server = createServer((request, response) => {
    let body = '';
    request.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
    request.on('end', () => {
      requests.push({ method: request.method ?? '', path: request.url ?? '', body });
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: () => new Promise<void>((done) => server.close(() => done())),
  };
}

/** The "real provider" the credential's inputs name, and the receiver a rollout hook calls. */
let provider: Recorder;
let receiver: Recorder;
beforeAll(async () => {
  [provider, receiver] = await Promise.all([recorder(), recorder()]);
});
afterAll(async () => {
  await Promise.all([provider.close(), receiver.close()]);
});

interface Rehearsable {
  readonly doc: Record<string, unknown> & { rehearsal?: { variable?: string; keyPrefix?: string; keepPrevious?: boolean; inputs?: Record<string, string> } };
}

function runbookDoc(name: string): Rehearsable['doc'] {
  return parse(readFileSync(join(ROOT, 'runbooks', `${name}.yaml`), 'utf8')) as Rehearsable['doc'];
}

/** The ids of a runbook's prompts outside discard, each answered yes: the person does every step. */
function answersFor(name: string): string {
  const doc = runbookDoc(name);
  const ids = ['generate', 'verify', 'revoke', 'verifyRevoked', 'audit']
    .flatMap((phase) => (doc[phase] as Array<{ id: string; prompt?: unknown }> | undefined) ?? [])
    .filter((step) => step.prompt !== undefined)
    .map((step) => step.id);
  return ids.map((id) => `${id}: yes\n`).join('');
}

/**
 * The credential's inputs as a person would write them for production: every URL the rehearsal block points at the
 * sandbox points at the "real provider" instead, and the account is a real-looking one. Other inputs a runbook
 * requires get the rehearsal's stand-in value (a dashboard page), or a plain word.
 */
function productionInputs(name: string): Record<string, string> {
  const doc = runbookDoc(name);
  const inputs: Record<string, string> = {};
  for (const [key, spec] of Object.entries((doc['inputs'] as Record<string, { default?: string }> | undefined) ?? {}))
    if (spec?.default === undefined) inputs[key] = `real-${key}`;
  for (const [key, value] of Object.entries(doc.rehearsal?.inputs ?? {}))
    inputs[key] = value.replaceAll('{{ sandbox.url }}', provider.url).replaceAll('{{ sandbox.account }}', 'prod-account');
  return inputs;
}

interface Project {
  readonly dir: string;
  readonly env: string;
  readonly envBytes: Buffer;
}

/**
 * A project folder: rekey.yaml with credential `prod` of `runbook`, stored in ./deploy/.env (holding the real value
 * canary, beside another variable's canary) and in a Vault KV secret, with a rollout hook that posts the new value
 * it is given to the receiver.
 */
function project(runbook: string, options: { hook?: string[]; runbookFile?: string } = {}): Project {
  const dir = mkdtempSync(join(tmpdir(), 'rekey-rehearse-credential-'));
  folders.push(dir);
  const doc = runbookDoc(runbook);
  const variable = doc.rehearsal?.variable ?? 'API_KEY';
  mkdirSync(join(dir, 'deploy'));
  const env = join(dir, 'deploy', '.env');
  writeFileSync(env, `# production settings\nexport OTHER_SECRET="${OTHER}"\n${variable}=${REAL}\n${variable}_PREVIOUS=${REAL}\nLOG_LEVEL=info\n`, {
    mode: 0o600,
  });
  const hook = options.hook ?? [process.execPath, '-e', "fetch(process.env.RECEIVER, { method: 'POST', body: process.env.API_KEY }).then((r) => r.text())"];
  const inputs = Object.entries(productionInputs(runbook)).map(([k, v]) => `      ${k}: ${JSON.stringify(v)}`);
  writeFileSync(
    join(dir, 'rekey.yaml'),
    [
      'credentials:',
      '  prod:',
      `    runbook: ${options.runbookFile ?? runbook}`,
      ...(inputs.length > 0 ? ['    inputs:', ...inputs] : []),
      '    stores:',
      `      - dotenv: ./deploy/.env#${variable}`,
      ...(doc.rehearsal?.keepPrevious ? ['        keepPrevious: true'] : []),
      '      - vault-kv: secret/web/app#api_key',
      '    rollout:',
      `      - exec: ${JSON.stringify(hook)}`,
      `        env: { API_KEY: "{{ new }}", RECEIVER: "${receiver.url}/restarted" }`,
      '    policy: { budget: 2m }',
      '',
    ].join('\n'),
  );
  writeFileSync(join(dir, 'answers.yaml'), answersFor(runbook));
  return { dir, env, envBytes: readFileSync(env) };
}

function rehearse(p: Project, ...args: string[]): Promise<CliResult> {
  return rekey(['rehearse', 'prod', '--answers', 'answers.yaml', ...args], { cwd: p.dir, timeoutMs: 60_000 });
}

function expectNoCanary(...texts: string[]): void {
  for (const text of texts) for (const canary of CANARIES) expect(text.includes(canary), 'a real value appeared').toBe(false);
}

/** Every file under a folder, as text. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .map((name) => join(dir, name))
    .filter((path) => statSync(path).isFile())
    .map((path) => readFileSync(path, 'latin1'));
}

/** The runbooks the sandbox can play: every built-in one without `rehearsal.unsupported`. */
const REHEARSABLE = readdirSync(join(ROOT, 'runbooks'))
  .filter((f) => f.endsWith('.yaml'))
  .map((f) => f.replace(/\.yaml$/, ''))
  .filter((name) => (runbookDoc(name).rehearsal as { unsupported?: string } | undefined)?.unsupported === undefined)
  .sort();

describe('rekey rehearse <credential>: the real drill, with nothing real written or revoked', () => {
  it('streampixel: the hook is called with the rehearsal key, the provider address and the .env are untouched, each store says its stand-in', async () => {
    const p = project('streampixel');
    const before = { provider: provider.requests.length, receiver: receiver.requests.length };
    const result = await rehearse(p, '--keep');
    expect(result.code, show(result)).toBe(0);
    const kept = /^kept: (\S+)/m.exec(result.stdout)?.[1];
    expect(kept, show(result)).toBeDefined();
    folders.push(kept!);

    expect(readFileSync(p.env).equals(p.envBytes), 'the real .env changed').toBe(true);
    expect(provider.requests.slice(before.provider), 'a request reached the real provider').toEqual([]);
    const calls = receiver.requests.slice(before.receiver);
    expect(calls).toHaveLength(1);
    // The hook got the rehearsal's new key: a sandbox key of the runbook's shape, the one the run verified.
    const given = calls[0]!.body;
    expect(given).toMatch(/^sk_[0-9a-f]{40}$/);
    expect(result.stdout).toContain(`new key …${given.slice(-4)} active`);

    // Before anything ran: each store and its stand-in, the hook named as running for real.
    const head = result.stdout.slice(0, result.stdout.indexOf('checks:'));
    expect(head).toContain('REHEARSAL of prod (runbook streampixel, overlap none) — nothing real is written or revoked.');
    expect(head).toMatch(/dotenv:\.\/deploy\/\.env#STREAMPIXEL_API_KEY → a copy of \.\/deploy\/\.env in the rehearsal folder/);
    expect(head).toContain('vault-kv:secret/web/app#api_key → the in-memory store (this process only)');
    expect(head).toMatch(/Rollout hooks run FOR REAL, as configured, in \S+ — they get the rehearsal's key, never the real one:\n {2}1\. /);
    expect(head).toContain('inputs baseUrl, userId point there');

    // The drill's own timeline and report, the outage window included.
    for (const phase of ['1 generate', '2 roll out', '3 verify', '4 revoke', '5 audit']) expect(result.stdout).toContain(phase);
    expect(result.stdout).toMatch(/outage window closed after/);
    expect(result.stdout).toMatch(/░ outage window/);
    expect(result.stdout).toMatch(/sandbox check: old key …\w{4} rejected · new key …\w{4} active/);
    expect(result.stdout).toContain(`your files: ${p.env} unchanged`);
    expect(readdirSync(join(kept!, '.rekey', 'reports'))).toHaveLength(1);
    // The real project got no journal, lock or report: the run's state lives in the rehearsal's folder.
    expect(existsSync(join(p.dir, '.rekey'))).toBe(false);

    // The copy keeps the layout, with no real value in it (nor anywhere else the rehearsal left).
    const copies = readdirSync(join(kept!, 'stores'));
    expect(copies).toHaveLength(1);
    const copy = readFileSync(join(kept!, 'stores', copies[0]!, '.env'), 'utf8');
    expect(copy).toBe(`# production settings\nexport OTHER_SECRET=\nSTREAMPIXEL_API_KEY=${given}\nLOG_LEVEL=\n`);
    expectNoCanary(result.stdout, result.stderr, ...filesUnder(kept!));
  });

  it.each(REHEARSABLE)('%s rehearses to the end from a production rekey.yaml, calling nothing but the sandbox and the hook', async (runbook) => {
    const p = project(runbook);
    const before = { provider: provider.requests.length, receiver: receiver.requests.length };
    const result = await rehearse(p);
    expect(result.code, show(result)).toBe(0);
    expect(result.stdout).toMatch(/^done in /m);
    expect(readFileSync(p.env).equals(p.envBytes), 'the real .env changed').toBe(true);
    expect(provider.requests.slice(before.provider), 'a request reached the real provider').toEqual([]);
    expect(receiver.requests.slice(before.receiver)).toHaveLength(1);
    expect(receiver.requests.at(-1)!.body).not.toBe(REAL);
    expect(result.stdout).toMatch(/removed \S+ with its report/);
    expectNoCanary(result.stdout, result.stderr);
  });

  it('--no-hooks leaves the rollout hooks out, and says so before the run', async () => {
    const p = project('github-token');
    const before = receiver.requests.length;
    const result = await rehearse(p, '--no-hooks');
    expect(result.code, show(result)).toBe(0);
    expect(receiver.requests.length).toBe(before);
    expect(result.stdout.slice(0, result.stdout.indexOf('checks:'))).toMatch(/Rollout hooks: left out \(--no-hooks\): /);
    expect(result.stdout).not.toContain('FOR REAL');
  });

  it('a failed rehearsal keeps its folder, says where, offers no `rekey resume`, and leaves no real value there', async () => {
    const p = project('github-token', { hook: [process.execPath, '-e', 'process.exit(3)'] });
    const result = await rehearse(p);
    expect(result.code, show(result)).toBe(1);
    const kept = /^kept: (\S+) — the rehearsal did not finish/m.exec(result.stdout)?.[1];
    expect(kept, show(result)).toBeDefined();
    folders.push(kept!);
    expect(readdirSync(join(kept!, '.rekey', 'runs'))).toHaveLength(1);
    expect(result.stdout).not.toContain('rekey resume');
    expect(result.stdout).toMatch(/^next: a rehearsal cannot be resumed/m);
    expect(readFileSync(p.env).equals(p.envBytes)).toBe(true);
    expectNoCanary(result.stdout, result.stderr, ...filesUnder(kept!));
  });

  it('a runbook the sandbox cannot play (aws-iam-access-key) is refused before anything starts: exit 2, saying why', async () => {
    const p = project('aws-iam-access-key');
    const result = await rehearse(p);
    expect(result.code, show(result)).toBe(2);
    expect(result.stderr).toContain('credential prod cannot be rehearsed: the sandbox speaks no dialect of its runbook aws-iam-access-key');
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect(result.stdout).toBe('');
  });

  it("a runbook of the person's own without a rehearsal: block is refused (exit 2): its calls would reach the real provider", async () => {
    const p = project('sandbox', { runbookFile: './own.yaml' });
    const own = readFileSync(join(ROOT, 'runbooks', 'sandbox.yaml'), 'utf8').replace(/^name: sandbox$/m, 'name: own');
    writeFileSync(join(p.dir, 'own.yaml'), own.slice(0, own.indexOf('\nrehearsal:')));
    const result = await rehearse(p);
    expect(result.code, show(result)).toBe(2);
    expect(result.stderr).toContain('its runbook own has no sandbox dialect');
    expect(result.stdout).toBe('');
    expect(provider.requests.filter((r) => r.path.startsWith('/v1/'))).toEqual([]);
  });

  it('a step whose URL the rehearsal inputs do not cover is refused at its line (exit 2) before any call', async () => {
    const p = project('sandbox', { runbookFile: './own.yaml' });
    const own = readFileSync(join(ROOT, 'runbooks', 'sandbox.yaml'), 'utf8')
      .replace(/^name: sandbox$/m, 'name: own')
      .replace('"{{ inputs.baseUrl }}/v1/accounts/{{ inputs.account }}/activity?since={{ run.since }}"', `"${provider.url}/v1/activity"`);
    writeFileSync(join(p.dir, 'own.yaml'), own);
    const before = provider.requests.length;
    const result = await rehearse(p);
    expect(result.code, show(result)).toBe(2);
    expect(result.stderr).toMatch(new RegExp(`own\\.yaml:\\d+:\\d+: step activity: in a rehearsal it would call ${provider.url}, not the sandbox`));
    expect(provider.requests.length).toBe(before);
    expect(result.stdout).toBe('');
  });

  it.each([['prod'], []])('--budget is a duration like every other (exit 2 before anything starts) %#', async (...credential: string[]) => {
    const p = project('streampixel');
    const result = await rekey(['rehearse', ...credential, '--budget', '90'], { cwd: p.dir });
    expect(result.code, show(result)).toBe(2);
    expect(result.stderr).toContain('--budget 90: a duration needs a unit');
    expect(result.stdout).toBe('');
  });

  it('a credential with --runbook or --overlap is refused (exit 2): the credential names its runbook', async () => {
    const p = project('streampixel');
    const result = await rekey(['rehearse', 'prod', '--runbook', 'stripe'], { cwd: p.dir });
    expect(result.code, show(result)).toBe(2);
    expect(result.stderr).toContain('--runbook is for a rehearsal without a credential');
  });
});
