/**
 * Issue 12, "Done when": one sandbox credential held at once in a GitHub Actions repository secret (the REST fake,
 * test/fakes/github-actions-server.ts, which opens every sealed box it gets), a Kubernetes Secret with a
 * kubernetes-rollout hook restarting the Deployment that reads it (the API fake, test/fakes/kubernetes-server.ts, whose
 * controller rolls pods on a timer) and a dotenvx-encrypted `.env.production` (seeded with eciesjs, the library dotenvx
 * itself uses, and read back with the dotenvx CLI). The built CLI is SIGKILLed after EVERY journal record k of a run
 * in turn (REKEY_TEST_KILL_AFTER_RECORD, the hook of src/engine/journal.ts) and resumed; every round must end with
 * one key minted, that key live and in all three stores, the old one dead, the Deployment restarted after the Secret
 * changed, nothing of the run left behind, and no value in any output.
 *
 * One fake of each kind serves every round; each round gets its own sandbox account, repository, Secret, Deployment
 * and folder, so that no round sees another's state. Build first: `npx tsc -p tsconfig.build.json`.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { promisify } from 'node:util';
import { parse as dotenvxParse } from '@dotenvx/dotenvx';
import { encrypt, PrivateKey } from 'eciesjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Sandbox, startSandbox } from '../../src/sandbox/server.js';
import { type RunningGitHubServer, startGitHubServer } from '../fakes/github-actions-server.js';
import { type RunningKubernetesServer, rotatorRules, startKubernetesServer } from '../fakes/kubernetes-server.js';
import { allFiles, type CliResult, chainProblem, journal, onlyRun, ROOT, rekey, show, type Workspace } from './helpers.js';

const DOTENVX = resolve(ROOT, 'node_modules/.bin/dotenvx');
const GITHUB_TOKEN = 'fake-github-token-for-the-trio-fake';
const KUBE_TOKEN = 'rotator-token-trio';
const NAMESPACE = 'prod';
const VARIABLE = 'API_KEY';
const CREDENTIAL = 'trio-key';
const KEY = /^sbx_[0-9a-f]{40}$/;
const RESTARTED_AT = 'kubectl.kubernetes.io/restartedAt';
const OTHER_SECRET_KEYS = { DATABASE_URL: 'postgres://db.internal/web' };

/**
 * The runbooks, and which boundaries each plays: every one for `sandbox`; for `sandbox-none` (each round costs two
 * CLI starts) those where overlap none differs, from the mint's intent (the old key dies in the mint call) until the
 * first verify is done (the outage window closes), where the run must fix forward, never roll back.
 */
const cases = [
  { runbook: 'sandbox', overlap: 'until-revoked', tag: 'u', from: undefined, until: undefined },
  { runbook: 'sandbox-none', overlap: 'none', tag: 'n', from: 'mint.intent mint', until: 'step.done verify:whoami' },
] as const;
type Case = (typeof cases)[number];

let gh: RunningGitHubServer;
let k8s: RunningKubernetesServer;
let kubeconfig: string;
const folders: string[] = [];

beforeAll(async () => {
  gh = await startGitHubServer();
  gh.model.addToken(GITHUB_TOKEN);
  k8s = await startKubernetesServer({ tickMs: 10 });
  k8s.model.addToken(KUBE_TOKEN, 'system:serviceaccount:prod:rekey', rotatorRules(NAMESPACE));
  kubeconfig = k8s.kubeconfig([{ name: 'prod', token: KUBE_TOKEN }]);
});

afterAll(async () => {
  await Promise.all([gh?.close(), k8s?.close()]);
  if (kubeconfig !== undefined) rmSync(dirname(kubeconfig), { recursive: true, force: true });
  for (const dir of folders.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** `encrypted:<base64>`, as `dotenvx encrypt` spells a value (ECIES to the file's public key), made with eciesjs. */
const seal = (publicKey: string, value: string) => `encrypted:${Buffer.from(encrypt(publicKey, Buffer.from(value, 'utf8'))).toString('base64')}`;

/** The encrypted file with the key's line cut out: what must be the same before and after a round. */
const withoutKeyLine = (text: string) => text.replace(new RegExp(`^${VARIABLE}=encrypted:[A-Za-z0-9+/=]+$`, 'm'), `${VARIABLE}=…`);

/** A round's folder, in the helpers' shape (`envFile` is the encrypted .env), plus what its stores were seeded with. */
interface Round extends Workspace {
  readonly name: string;
  readonly secure: string;
  readonly account: string;
  readonly repo: string;
  readonly env: Record<string, string>;
  /** Every value no output may hold (the fresh key is added once it is known). */
  readonly secrets: string[];
  readonly encryptedBefore: string;
}

/**
 * A fresh round: its own folder, sandbox account, GitHub repository, Secret and Deployment (named after the round,
 * so that rounds sharing the fakes never meet), every store seeded through its side door with the same key.
 */
function round(s: Sandbox, c: Case, k: number | 'probe'): Round {
  const name = `${c.tag}${k}`;
  const dir = mkdtempSync(join(tmpdir(), `rekey-trio-${name}-`));
  mkdirSync(join(dir, 'secure'));
  folders.push(dir);
  const account = `acct-${name}`;
  const repo = `acme/${name}`;
  const seed = s.mintKey(account);

  gh.model.addScope(`repo:${repo}`);
  gh.model.put(`repo:${repo}`, VARIABLE, seed);
  k8s.model.putSecret(NAMESPACE, `web-${name}`, { [VARIABLE]: seed, ...OTHER_SECRET_KEYS });
  k8s.model.putWorkload('Deployment', NAMESPACE, `web-${name}`, 3);

  const pair = new PrivateKey();
  const publicKey = pair.publicKey.toHex(true);
  const secure = join(dir, 'secure');
  const encryptedBefore = [
    '# billing, production',
    `DOTENV_PUBLIC_KEY_PRODUCTION="${publicKey}"`,
    `${VARIABLE}=${seal(publicKey, seed)}`,
    'BILLING_REGION=eu-west-1',
    `BILLING_WEBHOOK_SECRET=${seal(publicKey, 'whsec_0123456789')}`,
    '',
  ].join('\n');
  writeFileSync(join(secure, '.env.production'), encryptedBefore, { mode: 0o600 });

  const config = join(dir, 'rekey.yaml');
  writeFileSync(
    config,
    [
      'credentials:',
      `  ${CREDENTIAL}:`,
      `    runbook: ${c.runbook}`,
      `    inputs: { baseUrl: "${s.url}", account: ${account} }`,
      '    stores:',
      `      - github-actions-secrets: ${repo}#${VARIABLE}`,
      `        apiUrl: ${gh.url}`,
      `      - kubernetes-secret: ${NAMESPACE}/web-${name}#${VARIABLE}`,
      `      - dotenvx: ./secure/.env.production#${VARIABLE}`,
      '    rollout:',
      '      - kubernetes-rollout:',
      `          namespace: ${NAMESPACE}`,
      `          deployments: [web-${name}]`,
      '          timeout: 30s',
      '    policy: { maxAge: 30d, budget: 5m }',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  const env = { GITHUB_TOKEN, KUBECONFIG: kubeconfig, DOTENV_PRIVATE_KEY_PRODUCTION: pair.toHex(), NO_COLOR: '1' };
  const envFile = join(secure, '.env.production');
  const secrets = [seed, pair.toHex(), GITHUB_TOKEN, KUBE_TOKEN];
  return { dir, config, envFile, stateDir: join(dir, '.rekey'), credential: CREDENTIAL, seed, name, secure, account, repo, env, secrets, encryptedBefore };
}

/** The built CLI in the round's folder; the fakes answer from this process, so it must not block (helpers' rekey spawns). */
const rekeyIn = (r: Round, args: readonly string[], extra: Record<string, string> = {}): Promise<CliResult> =>
  rekey([...args, '--config', r.config], { cwd: r.dir, env: { ...r.env, ...extra }, timeoutMs: 90_000 });

/**
 * The key as dotenvx reads the file: `dotenvx get` (the CLI, which finds the private key by dotenvx's naming
 * convention from the environment) for a clean run and the pinned case; for each kill round, dotenvx's own `parse`
 * in this process with the round's private key (the same decryption, without a third process per round).
 */
async function dotenvxValue(r: Round, how: 'cli' | 'library'): Promise<string | undefined> {
  if (how === 'library') {
    const privateKey = r.env['DOTENV_PRIVATE_KEY_PRODUCTION']!;
    return dotenvxParse(readFileSync(r.envFile, 'utf8'), { privateKey, processEnv: {} })[VARIABLE];
  }
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) if (!name.startsWith('DOTENV')) env[name] = value;
  env['DOTENV_PRIVATE_KEY_PRODUCTION'] = r.env['DOTENV_PRIVATE_KEY_PRODUCTION'];
  const { stdout } = await promisify(execFile)(DOTENVX, ['get', VARIABLE, '-f', '.env.production'], { cwd: r.secure, env, timeout: 30_000 });
  return stdout.replace(/\n$/, '');
}

/**
 * The files of the round's folder that are not what a finished run keeps (its config, the encrypted .env, the
 * journal, the audit chain and its head, the report): staged or previous values, locks, temporary files.
 */
function leftovers(r: Round, run: string): string[] {
  const kept = new Set([
    'rekey.yaml',
    'secure/.env.production',
    `.rekey/runs/${run}.jsonl`,
    '.rekey/audit.jsonl',
    '.rekey/audit.head',
    '.rekey/.gitignore',
    '.rekey/history-index.json',
  ]);
  return [...allFiles(r.dir).keys()]
    .map((path) => relative(r.dir, path))
    .filter((path) => !kept.has(path) && !new RegExp(`^\\.rekey/reports/${run}-${CREDENTIAL}\\.md$`).test(path))
    .sort();
}

type Deployment = {
  metadata: { generation: number };
  spec: { replicas: number; template: { metadata: { annotations?: Record<string, string> } } };
  status: { observedGeneration: number; updatedReplicas: number; availableReplicas: number };
};

/** Everything a finished round promises, checked from the outside; `at` names the round in every failure. */
async function expectFinished(s: Sandbox, r: Round, run: string, outputs: readonly CliResult[], at: string, how: 'cli' | 'library'): Promise<void> {
  const fresh = (await dotenvxValue(r, how))!;
  expect(fresh, `${at}: dotenvx ${how === 'cli' ? 'get' : 'parse'}`).toMatch(KEY);
  expect(fresh, at).not.toBe(r.seed);
  // Exactly one key minted over HTTP (the seed came from mintKey), that key live and the seed dead.
  expect(s.keys(r.account).filter((key) => key.mintedBy === 'http').length, `${at}: keys minted`).toBe(1);
  expect(s.isActive(fresh), `${at}: new key accepted`).toBe(true);
  expect(s.isActive(r.seed), `${at}: old key rejected`).toBe(false);
  // GitHub: the fake opened the sealed box it was sent; only sealed values went over the wire.
  expect(gh.model.value(`repo:${r.repo}`, VARIABLE), `${at}: GitHub secret`).toBe(fresh);
  // Kubernetes: the key holds the new value, the other key is as it was, and no `API_KEY.rekey-previous` remains.
  expect(k8s.model.secretValues(NAMESPACE, `web-${r.name}`), `${at}: Kubernetes Secret`).toEqual({ [VARIABLE]: fresh, ...OTHER_SECRET_KEYS });
  // The Deployment was restarted (kubectl's annotation, a new generation), after the Secret was written, and rolled out.
  const deployment = k8s.model.workload('Deployment', NAMESPACE, `web-${r.name}`) as Deployment;
  expect(Date.parse(deployment.spec.template.metadata.annotations?.[RESTARTED_AT] ?? ''), `${at}: restartedAt`).not.toBeNaN();
  expect(deployment.metadata.generation, `${at}: restarted`).toBeGreaterThanOrEqual(2);
  expect(deployment.status, `${at}: rolled out`).toMatchObject({
    observedGeneration: deployment.metadata.generation,
    updatedReplicas: 3,
    availableReplicas: 3,
  });
  const log = k8s.model.log.map((e) => `${e.method} ${e.path}`);
  const lastRestart = log.lastIndexOf(`PATCH /apis/apps/v1/namespaces/${NAMESPACE}/deployments/web-${r.name}`);
  const firstWrite = log.indexOf(`PUT /api/v1/namespaces/${NAMESPACE}/secrets/web-${r.name}`);
  expect(firstWrite, `${at}: the Secret was written`).toBeGreaterThanOrEqual(0);
  expect(lastRestart, `${at}: restarted after the Secret was written`).toBeGreaterThan(firstWrite);
  // The encrypted .env: only the key's line changed; nothing beside it (staged, previous, lock, temporary files).
  expect(withoutKeyLine(readFileSync(r.envFile, 'utf8')), at).toBe(withoutKeyLine(r.encryptedBefore));
  expect(leftovers(r, run), `${at}: left over`).toEqual([]);
  expect(readdirSync(r.secure), at).toEqual(['.env.production']);
  expect(chainProblem(journal(r, run)), at).toBeUndefined();
  // No value in any output: the commands', the files rekey wrote (the .env holds only ciphertexts), the GitHub wire.
  const said = [
    ...outputs.map((o) => o.stdout + o.stderr),
    ...[...allFiles(r.dir).values()],
    ...gh.requests.filter((q) => q.path.includes(`/repos/${r.repo}/`)).map((q) => q.path + q.body),
  ];
  for (const value of [...r.secrets, fresh]) {
    const where = said.findIndex((text) => text.includes(value));
    expect(where, `${at}: a value of the round is in output ${where}`).toBe(-1);
  }
}

/** Kill a run after its record k, resume it, and check every promise; the failure in words, or undefined when all held. */
async function killAndResume(s: Sandbox, c: Case, k: number, total: number, how: 'cli' | 'library' = 'library'): Promise<string | undefined> {
  let at = `${c.runbook}, killed after record ${k} of ${total}`;
  try {
    const r = round(s, c, k);
    const killed = await rekeyIn(r, ['rotate', CREDENTIAL], { REKEY_TEST_KILL_AFTER_RECORD: String(k) });
    expect(killed.signal, `${at}\n${show(killed)}`).toBe('SIGKILL');
    const run = onlyRun(r);
    const rows = journal(r, run);
    expect(rows.length, at).toBe(k);
    const last = rows.at(-1)!;
    at += ` (${[last.type, last['step']].filter(Boolean).join(' ')})`;
    const resumed = await rekeyIn(r, ['resume', run]);
    if (last.type === 'run.finished') {
      // Killed after its last record: the run was over, and the resume says so (exit 3) and only cleans up.
      expect(resumed.code, `${at}\n${show(resumed)}`).toBe(3);
      expect(resumed.stderr, at).toContain('already finished');
    } else {
      expect(resumed.code, `${at}\n${show(resumed)}`).toBe(0);
    }
    const after = journal(r, run);
    expect(after.slice(0, k), at).toEqual(rows);
    expect(after.at(-1), at).toMatchObject({ type: 'run.finished', result: 'done' });
    await expectFinished(s, r, run, [killed, resumed], at, how);
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message.slice(0, 2000) : `${at}: ${String(error)}`;
  }
}

/** Rounds at most this many at a time: each has its own names in the shared fakes, so they never meet. */
const CONCURRENCY = 3;

async function inPool<T>(items: readonly number[], work: (item: number) => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      out[index] = await work(items[index]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, items.length) }, worker));
  return out;
}

interface Probe {
  readonly total: number;
  /** Each record of the clean run, by seq - 1: its type, and its step when it has one (`step.done verify:whoami`). */
  readonly types: readonly string[];
}

// Each round spawns the CLI twice (each loading client-node) and dotenvx once: on a loaded machine that is seconds a
// round, so the timeouts leave room; they are no timing assertion.
for (const c of cases) {
  describe(`one credential in GitHub Actions secrets, a Kubernetes Secret and an encrypted .env, runbook ${c.runbook} (overlap ${c.overlap})`, () => {
    let s: Sandbox;
    let probed: Promise<Probe> | undefined;
    beforeAll(async () => {
      s = await startSandbox({ overlap: c.overlap });
    });
    afterAll(() => s?.close());

    /** A clean run, held to every promise itself, counts the records N (once for the tests of this case). */
    const probe = () =>
      (probed ??= (async () => {
        const r = round(s, c, 'probe');
        const clean = await rekeyIn(r, ['rotate', CREDENTIAL]);
        expect(clean.code, show(clean)).toBe(0);
        const run = onlyRun(r);
        await expectFinished(s, r, run, [clean], 'clean run', 'cli');
        const rows = journal(r, run);
        expect(rows.length).toBeGreaterThan(10);
        return { total: rows.length, types: rows.map((row) => [row.type, row['step']].filter(Boolean).join(' ')) };
      })());

    const which = c.from === undefined ? 'every journal record k = 1..N' : `every record from ${c.from} to ${c.until}`;
    it(`rotates in all three stores and restarts the Deployment; killed after ${which} and resumed, ends the same`, async () => {
      const { total, types } = await probe();
      const first = c.from === undefined ? 1 : types.indexOf(c.from) + 1;
      const last = c.until === undefined ? total : types.indexOf(c.until) + 1;
      expect(first, types.join(', ')).toBeGreaterThan(0);
      expect(last, types.join(', ')).toBeGreaterThan(first);
      const boundaries = Array.from({ length: last - first + 1 }, (_, i) => first + i);
      // Every boundary is played, and every failing one reported at once.
      const failures = (await inPool(boundaries, (k) => killAndResume(s, c, k, total))).filter((f) => f !== undefined);
      expect(failures).toEqual([]);
    }, 600_000);
  });
}
