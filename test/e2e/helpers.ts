/**
 * Helpers for the end-to-end tests: they spawn the BUILT CLI (`dist/src/cli/main.js`, so run
 * `npx tsc -p tsconfig.build.json` first) as a child process in a fresh temporary folder holding a rekey.yaml and a
 * .env, against a sandbox provider started in the test process. Nothing here reuses engine code to check the
 * engine: fingerprints, hash chains and .env values are computed independently.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach } from 'vitest';
import { type Sandbox, type SandboxOptions, startSandbox } from '../../src/sandbox/server.js';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const CLI = join(ROOT, 'dist/src/cli/main.js');
export const VARIABLE = 'SANDBOX_API_KEY';
export const ACCOUNT = 'e2e';

if (!existsSync(CLI)) throw new Error(`${CLI} is missing: build first with \`npx tsc -p tsconfig.build.json\``);

export interface CliResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
}

export interface CliOptions {
  readonly cwd: string;
  /** Extra environment (undefined removes a variable). REKEY_* of the test process never leak in. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly timeoutMs?: number;
  /** Called once the child is spawned (for tests that need its pid). */
  readonly onSpawn?: (pid: number) => void;
}

/** The child's environment: the test's, without REKEY_* and colour forcing, plus the overrides. */
function childEnv(extra: Readonly<Record<string, string | undefined>> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (name.startsWith('REKEY_') || name === 'FORCE_COLOR' || name === 'NO_COLOR') continue;
    env[name] = value;
  }
  for (const [name, value] of Object.entries(extra)) {
    if (value === undefined) delete env[name];
    else env[name] = value;
  }
  return env;
}

/** Run `node dist/src/cli/main.js …args` and collect its exit and output. */
export function rekey(args: readonly string[], options: CliOptions): Promise<CliResult> {
  return runNode([CLI, ...args], options);
}

/** Run node with arguments, as `rekey` does, with a hard timeout that kills the child. */
export function runNode(args: readonly string[], options: CliOptions): Promise<CliResult> {
  const started = performance.now();
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, args, { cwd: options.cwd, env: childEnv(options.env), stdio: ['ignore', 'pipe', 'pipe'] });
    if (child.pid !== undefined) options.onSpawn?.(child.pid);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30_000);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ code, signal, stdout, stderr, ms: performance.now() - started });
    });
  });
}

/** A failed expectation's context: the command's output, for the assertion message. */
export function show(result: CliResult): string {
  return `exit ${result.code} signal ${result.signal}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`;
}

/** SHA-256 of a value, first 16 hex digits: how rekey names a value without showing it. */
export function fingerprint(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('hex').slice(0, 16);
}

/** The .env every workspace starts with: comments, `export`, quoting, blank lines and other variables around the key. */
export function envText(key: string): string {
  return [
    '# e2e .env: every byte but the key must survive a rotation.',
    'export APP_NAME="rekey e2e"   # trailing comment',
    '',
    `${VARIABLE}=${key}`,
    "OTHER_TOKEN='not-a-secret-of-rekey'",
    '#SANDBOX_API_KEY=commented-out',
    'LOG_LEVEL=info',
    '',
  ].join('\n');
}

export interface Workspace {
  readonly dir: string;
  readonly config: string;
  readonly envFile: string;
  readonly stateDir: string;
  readonly credential: string;
  /** The key the .env held at the start. */
  readonly seed: string;
}

export interface WorkspaceOptions {
  readonly sandbox: Sandbox;
  /** Runbook name: `sandbox` (default) or `sandbox-none`. */
  readonly runbook?: string;
  readonly credential?: string;
  /** The credential's rollout hooks, written as `rollout:` entries. */
  readonly rollout?: ReadonlyArray<{ name?: string; exec: readonly string[]; env?: Readonly<Record<string, string>>; timeout?: string; retries?: number }>;
  /** Add `runbooks: [<dir>]` to the config, for a test-only runbook. */
  readonly runbooks?: string;
  /** The seed key; default a fresh one minted with `sandbox.mintKey`. */
  readonly seed?: string;
}

const workspaces: string[] = [];

/** A fresh folder with rekey.yaml and .env for one credential rotated against the sandbox. */
export function workspace(options: WorkspaceOptions): Workspace {
  const dir = mkdtempSync(join(tmpdir(), 'rekey-e2e-'));
  workspaces.push(dir);
  const credential = options.credential ?? 'sandbox-key';
  const seed = options.seed ?? options.sandbox.mintKey(ACCOUNT);
  const envFile = join(dir, '.env');
  writeFileSync(envFile, envText(seed), { mode: 0o600 });
  const lines = [
    '# written by test/e2e/helpers.ts',
    ...(options.runbooks === undefined ? [] : [`runbooks: [${JSON.stringify(options.runbooks)}]`]),
    'credentials:',
    `  ${credential}:`,
    `    runbook: ${options.runbook ?? 'sandbox'}`,
    '    inputs:',
    `      baseUrl: ${options.sandbox.url}`,
    `      account: ${ACCOUNT}`,
    '    stores:',
    `      - dotenv: ./.env#${VARIABLE}`,
  ];
  if (options.rollout !== undefined && options.rollout.length > 0) {
    lines.push('    rollout:');
    for (const hook of options.rollout) {
      lines.push(`      - exec: ${JSON.stringify(hook.exec)}`);
      if (hook.name !== undefined) lines.push(`        name: ${JSON.stringify(hook.name)}`);
      if (hook.env !== undefined) lines.push(`        env: ${JSON.stringify(hook.env)}`);
      if (hook.timeout !== undefined) lines.push(`        timeout: ${hook.timeout}`);
      if (hook.retries !== undefined) lines.push(`        retries: ${hook.retries}`);
    }
  }
  lines.push('    policy:', '      maxAge: 30d', '      budget: 5m', '');
  const config = join(dir, 'rekey.yaml');
  writeFileSync(config, lines.join('\n'), { mode: 0o600 });
  return { dir, config, envFile, stateDir: join(dir, '.rekey'), credential, seed };
}

/** Remove every workspace made so far (call from afterAll / afterEach). */
export function removeWorkspaces(): void {
  for (const dir of workspaces.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** `rekey <args> --config <ws config>` in the workspace folder. */
export function rekeyIn(ws: Workspace, args: readonly string[], options: Omit<CliOptions, 'cwd'> = {}): Promise<CliResult> {
  return rekey([...args, '--config', ws.config], { cwd: ws.dir, ...options });
}

/** The value of the key variable in the .env, read independently of rekey (a bare `NAME=value` line). */
export function envValue(ws: Workspace, name = VARIABLE): string | undefined {
  const text = readFileSync(ws.envFile, 'utf8');
  let found: string | undefined;
  for (const line of text.split('\n')) {
    const match = /^(?:export\s+)?([\w.-]+)=(.*)$/.exec(line);
    if (match?.[1] === name) found = match[2]!.trim();
  }
  return found;
}

/** Files rekey leaves beside the .env while a run is under way (staged / previous values, the rewrite lock, temporary files). */
export function siblingLeftovers(ws: Workspace): string[] {
  return readdirSync(ws.dir).filter(
    (f) =>
      f.includes('rekey-staged') ||
      f.includes('rekey-previous') ||
      f.includes('rekey-lock') ||
      f.endsWith('.rekey-tmp') ||
      f.endsWith('.tmp') ||
      /\.tmp-/.test(f),
  );
}

export type Row = Record<string, unknown> & { seq: number; prev: string; hash: string; type?: string };

function readRows(file: string): Row[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Row);
}

/** Run ids with a journal in the workspace, oldest first. */
export function runIds(ws: Workspace): string[] {
  const dir = join(ws.stateDir, 'runs');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.jsonl'))
    .map((f) => f.slice(0, -'.jsonl'.length))
    .sort();
}

/** The one run of a workspace (fails when there is not exactly one). */
export function onlyRun(ws: Workspace): string {
  const ids = runIds(ws);
  if (ids.length !== 1) throw new Error(`expected exactly one run journal, found ${ids.length}: ${ids.join(', ')}`);
  return ids[0]!;
}

export function journalText(ws: Workspace, run: string): string {
  return readFileSync(join(ws.stateDir, 'runs', `${run}.jsonl`), 'utf8');
}

export function journal(ws: Workspace, run: string): Row[] {
  return readRows(join(ws.stateDir, 'runs', `${run}.jsonl`));
}

export function audit(ws: Workspace): Row[] {
  return readRows(join(ws.stateDir, 'audit.jsonl'));
}

/** The reports written in the workspace: file name → Markdown. */
export function reports(ws: Workspace): Map<string, string> {
  const dir = join(ws.stateDir, 'reports');
  if (!existsSync(dir)) return new Map();
  return new Map(readdirSync(dir).map((f) => [f, readFileSync(join(dir, f), 'utf8')]));
}

/**
 * Where a hash chain breaks, computed independently of rekey: each record's `hash` is SHA-256 over its JSON without
 * `hash`, `prev` is the hash of the record before it (64 zeros for the first), `seq` counts from 1.
 */
export function chainProblem(rows: readonly Row[]): string | undefined {
  let prev = '0'.repeat(64);
  for (const [index, row] of rows.entries()) {
    const { hash, ...rest } = row;
    if (row.seq !== index + 1) return `line ${index + 1}: seq ${row.seq}`;
    if (row.prev !== prev) return `line ${index + 1}: prev does not match`;
    if (createHash('sha256').update(JSON.stringify(rest)).digest('hex') !== hash) return `line ${index + 1}: hash does not match`;
    prev = hash;
  }
  return undefined;
}

/** Every file under a folder (recursively), as path → content. */
export function allFiles(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  if (!existsSync(dir)) return out;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    out.set(path, readFileSync(path, 'utf8'));
  }
  return out;
}

/** Poll until the condition holds or the time is up. */
export async function waitFor(condition: () => boolean, timeoutMs = 10_000, stepMs = 10): Promise<void> {
  const until = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > until) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

/** Check a key against the sandbox over HTTP, as a consumer would. */
export async function whoami(sandbox: Sandbox, key: string): Promise<number> {
  const response = await fetch(`${sandbox.url}/v1/whoami`, { headers: { authorization: `Bearer ${key}` } });
  await response.text();
  return response.status;
}

/**
 * A sandbox starter for one test file: every sandbox it starts is closed after each test. Call it once at the top of
 * the file (it registers the afterEach hook there).
 */
export function sandboxPool(): (options?: SandboxOptions) => Promise<Sandbox> {
  const started: Sandbox[] = [];
  afterEach(async () => {
    await Promise.all(started.splice(0).map((s) => s.close()));
  });
  return async (options = {}) => {
    const sandbox = await startSandbox(options);
    started.push(sandbox);
    return sandbox;
  };
}
