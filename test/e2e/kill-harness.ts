/**
 * The random-kill harness (issue 8, "Done when"): `rekey rotate` is SIGKILLed at random moments — inside the mint call,
 * while the stores stage in parallel, during a rollout hook, during a resume, several times in a row — and resumed to
 * the end; then every promise is checked from the outside: exactly one key minted and live at the provider, that key
 * in every store, the old key dead, no AWSPENDING label off the current version, no sibling or temporary file, both hash chains intact, no
 * process left behind.
 *
 * Both the vitest file (test/e2e/random-kill.test.ts, a fixed-seed subset) and the loop script (scripts/kill-loop.mjs,
 * the full run) use this one module. It imports nothing of the project at run time: the sandbox and the store fakes
 * are passed in (`KillDeps`), the CLI is the built one spawned as a child, and every check (chains, .env, labels) is
 * computed here, independently of the engine under test. The script transpiles this file on its own, so keep its
 * imports to `node:` modules and `import type`.
 *
 * Reproducible choices, not reproducible timing: a seeded PRNG (mulberry32) picks every round's overlap, stores,
 * latencies, kill triggers and resume kills, so a seed and a round number name the same scenario again; where the
 * kill lands within it still depends on the machine, which is why each kill's landing point is read back and reported.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, sep } from 'node:path';
import type { Sandbox, SandboxOptions } from '../../src/sandbox/server.js';
import type { RunningSecretsManager } from '../fakes/aws-secrets-manager-server.js';
import type { RunningVaultServer, VaultServerOptions } from '../fakes/vault-kv-server.js';

/** What the harness needs from outside: the servers to rotate against and the built CLI. */
export interface KillDeps {
  readonly startSandbox: (options: SandboxOptions) => Promise<Sandbox>;
  readonly startAws: () => Promise<RunningSecretsManager>;
  readonly startVault: (options: VaultServerOptions) => Promise<RunningVaultServer>;
  /** `dist/src/cli/main.js`. */
  readonly cli: string;
}

export type Overlap = 'until-revoked' | 'none' | 'expiring';

/** The sandbox runbook of each overlap kind (runbooks/sandbox*.yaml). */
const RUNBOOKS: Readonly<Record<Overlap, string>> = { 'until-revoked': 'sandbox', none: 'sandbox-none', expiring: 'sandbox-expiring' };
const KINDS: readonly Overlap[] = ['until-revoked', 'none', 'expiring'];

const CREDENTIAL = 'kt';
const VARIABLE = 'API_KEY';
const AWS_SECRET = 'kt/app';
const VAULT_PATH = 'kt/app';

/** At most this many commands per round (rotate, resumes, a fresh rotate): more means resume cannot finish. */
const MAX_COMMANDS = 8;
/** At most this many kills per round; the command after the last kill runs to its end. */
const MAX_KILLS = 3;
/** A command that takes longer than this is killed and reported: a hang is a finding too. */
const COMMAND_TIMEOUT_MS = 60_000;

// ── A small seeded PRNG ──────────────────────────────────────────────────────────────────────────────────────────

/** mulberry32: a 32-bit seeded generator, uniform on [0, 1); tiny, fast and plenty for picking test scenarios. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** The seed of one round, derived from the loop's seed so that any round can be replayed on its own. */
export function roundSeed(seed: number, round: number): number {
  return createHash('sha256').update(`${seed}:${round}`).digest().readUInt32BE(0);
}

// ── Results ──────────────────────────────────────────────────────────────────────────────────────────────────────

/** How a command was to be killed. */
export type Trigger =
  | { readonly kind: 'none' }
  /** After a delay from the spawn, drawn over the command's measured duration. */
  | { readonly kind: 'time'; readonly ms: number }
  /** A delay after the journal gains its n-th new record. */
  | { readonly kind: 'record'; readonly after: number; readonly extraMs: number }
  /** A delay after a given step's `step.started` record appears (the mint call, a hook). */
  | { readonly kind: 'step'; readonly step: string; readonly extraMs: number };

export interface CommandLog {
  readonly args: readonly string[];
  readonly trigger: Trigger;
  readonly killed: boolean;
  readonly code: number | null;
  readonly signal: string | null;
  readonly ms: number;
  /** Where the kill landed, read back from the journal and the provider (set when killed). */
  readonly landed: string | undefined;
  /** The last lines of output, for a finding. */
  readonly tail: string;
}

export interface RoundResult {
  readonly round: number;
  readonly seed: number;
  readonly overlap: Overlap;
  readonly stores: 1 | 3;
  readonly latencyMs: number;
  readonly commands: readonly CommandLog[];
  readonly kills: number;
  /** Keys the provider minted over HTTP in this round (the seed excluded). */
  readonly mints: number;
  /** Non-zero exits and refusals the harness met (a finding, reported, never retried away). */
  readonly findings: readonly string[];
  /** Checks that did not hold at the end of the round. */
  readonly failures: readonly string[];
  readonly ms: number;
}

export interface KillLoopOptions {
  readonly seed: number;
  readonly rounds: number;
  /** Rounds played at the same time (each has its own servers and folder); default 1. */
  readonly concurrency?: number;
  /** Play only these round numbers (to replay a failure). */
  readonly only?: readonly number[];
  /** Go on past `rounds` until the kills that landed reach this many (at most three times `rounds` in all). */
  readonly minKills?: number;
  /**
   * `idempotent` (default): the shipped sandbox runbooks, whose mint sends `Idempotency-Key: rekey-<run id>`.
   * `plain`: the same runbooks without that header, as most providers' mint calls are: what the engine's own orphan
   * handling must cope with.
   */
  readonly mint?: 'idempotent' | 'plain';
  /** Called after each round. */
  readonly onRound?: (result: RoundResult) => void;
}

export interface KillLoopSummary {
  readonly seed: number;
  readonly results: readonly RoundResult[];
  readonly ms: number;
  /** Measured durations the time triggers were drawn over: per store count, spawn → exit and spawn → journal. */
  readonly calibration: Readonly<Record<string, Calibration>>;
  readonly mint: 'idempotent' | 'plain';
}

interface Calibration {
  readonly totalMs: number;
  readonly startupMs: number;
  readonly records: number;
}

// ── The loop ─────────────────────────────────────────────────────────────────────────────────────────────────────

/** Play the rounds and return every result; never throws for a failed check (the results say what failed). */
export async function runKillLoop(deps: KillDeps, options: KillLoopOptions): Promise<KillLoopSummary> {
  const started = performance.now();
  const cache = mkdtempSync(join(tmpdir(), 'rekey-kill-cache-'));
  const mint = options.mint ?? 'idempotent';
  try {
    const setup: Setup = { cache, mint, runbooks: runbookFiles(deps, mint, cache) };
    const calibration: Record<string, Calibration> = {};
    for (const stores of [1, 3] as const) calibration[String(stores)] = await calibrate(deps, stores, setup);
    const rounds = options.only ?? Array.from({ length: options.rounds }, (_, i) => i);
    const results: RoundResult[] = [];
    let next = 0;
    let kills = 0;
    const more = (): number | undefined => {
      if (next < rounds.length) return rounds[next++];
      // Past the planned rounds only to reach the kill count, and never without bound.
      if (options.only === undefined && kills < (options.minKills ?? 0) && next < options.rounds * 3) return next++;
      return undefined;
    };
    const worker = async (): Promise<void> => {
      for (let round = more(); round !== undefined; round = more()) {
        const result = await playRound(deps, options.seed, round, calibration, setup);
        kills += result.kills;
        results.push(result);
        options.onRound?.(result);
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, options.concurrency ?? 1) }, worker));
    results.sort((a, b) => a.round - b.round);
    return { seed: options.seed, results, ms: performance.now() - started, calibration, mint };
  } finally {
    rmSync(cache, { recursive: true, force: true });
  }
}

/** What every round shares: the config cache folder, and the runbook each overlap kind rotates with. */
interface Setup {
  readonly cache: string;
  readonly mint: 'idempotent' | 'plain';
  /** Runbook name or file per overlap kind, as the config's `runbook:` takes it. */
  readonly runbooks: Readonly<Record<Overlap, string>>;
}

/** The shipped sandbox runbooks, or copies of them without the mint's Idempotency-Key (in the cache folder). */
function runbookFiles(deps: KillDeps, mint: 'idempotent' | 'plain', cache: string): Record<Overlap, string> {
  if (mint === 'idempotent') return { ...RUNBOOKS };
  // dist/src/cli/main.js → the repository's runbooks/ folder.
  const shipped = join(dirname(deps.cli), '..', '..', '..', 'runbooks');
  const out: Partial<Record<Overlap, string>> = {};
  // A runbook's name must match its file's, so the copies keep their names in a folder of their own.
  const folder = join(cache, 'plain-mint');
  mkdirSync(folder, { recursive: true });
  for (const kind of KINDS) {
    const text = readFileSync(join(shipped, `${RUNBOOKS[kind]}.yaml`), 'utf8');
    const plain = text.replace(/^\s*headers: \{ Idempotency-Key: .*\n/m, '');
    if (plain === text) throw new Error(`runbooks/${RUNBOOKS[kind]}.yaml: no Idempotency-Key header on the mint to take off`);
    const file = join(folder, `${RUNBOOKS[kind]}.yaml`);
    writeFileSync(file, plain);
    out[kind] = file;
  }
  return out as Record<Overlap, string>;
}

/** One unkilled rotation, to learn how long a command takes before its journal starts and in all. */
async function calibrate(deps: KillDeps, stores: 1 | 3, setup: Setup): Promise<Calibration> {
  const world = await makeWorld(deps, { overlap: 'until-revoked', stores, latencyMs: 50, storeLatencyMs: 10, hookMs: 10, account: 'calibrate' }, setup);
  try {
    const spawned = Date.now();
    const result = await runCli(world, ['rotate', CREDENTIAL], { kind: 'none' });
    if (result.code !== 0) throw new Error(`calibration rotate (${stores} store(s)) exited ${result.code}:\n${result.tail}`);
    const records = journalRecords(world).flatMap((j) => j.records);
    const first = records[0];
    const startupMs = first === undefined ? result.ms / 2 : Math.max(0, Date.parse(String(first['at'])) - spawned);
    return { totalMs: result.ms, startupMs, records: records.length };
  } finally {
    await world.close();
  }
}

interface Scenario {
  readonly overlap: Overlap;
  readonly stores: 1 | 3;
  readonly latencyMs: number;
  readonly storeLatencyMs: number;
  readonly hookMs: number;
  readonly account: string;
}

/** One round: rotate under a kill, resume (sometimes killed again) until the run is done, then check everything. */
async function playRound(deps: KillDeps, seed: number, round: number, calibration: Readonly<Record<string, Calibration>>, setup: Setup): Promise<RoundResult> {
  const started = performance.now();
  const rng = mulberry32(roundSeed(seed, round));
  // Every six rounds cover the three overlap kinds with one and with three stores.
  const scenario: Scenario = {
    overlap: KINDS[round % 3]!,
    stores: Math.floor(round / 3) % 2 === 0 ? 1 : 3,
    latencyMs: 30 + Math.floor(rng() * 51),
    storeLatencyMs: 2 + Math.floor(rng() * 15),
    hookMs: 2 + Math.floor(rng() * 10),
    account: `kill-${round}`,
  };
  const cal = calibration[String(scenario.stores)]!;
  const world = await makeWorld(deps, scenario, setup);
  const commands: CommandLog[] = [];
  const findings: string[] = [];
  let failures: string[] = [];
  let kills = 0;
  let mints = 0;
  try {
    let lastKilled = false;
    for (let index = 0; index < MAX_COMMANDS; index++) {
      const state = runState(world);
      if (state.finished !== undefined) {
        // An operator whose rotate was killed resumes it without reading the journal first; for a run that had
        // finished, "already finished: done" (exit 3) is the clear answer, and the checks below say whether it is true.
        if (lastKilled && state.run !== undefined) {
          const log = await runCli(world, ['resume', state.run], { kind: 'none' });
          commands.push(log);
          if (log.code !== 0 && !(log.code === 3 && /already finished: done/.test(log.tail))) {
            findings.push(`\`rekey resume\` of a finished run exited ${log.code}: ${firstLine(log.tail)}`);
          }
        }
        break;
      }
      // No journal yet: the rotate died before it wrote one, so the operator simply rotates again.
      const args = state.run === undefined ? ['rotate', CREDENTIAL] : ['resume', state.run];
      const first = index === 0;
      // The first rotate is always aimed at; a resume is killed half the time, and again a third of the time after
      // a killed resume, so that some rounds see two or three kills in a row.
      const aim = first || (kills < MAX_KILLS && rng() < (lastKilled ? 0.35 : 0.5));
      const trigger = aim ? drawTrigger(rng, args[0]!, scenario, cal) : { kind: 'none' as const };
      const log = await runCli(world, args, trigger);
      commands.push(log);
      lastKilled = log.killed;
      if (log.killed) {
        kills++;
        continue;
      }
      if (log.code !== 0) {
        findings.push(
          `\`rekey ${log.args.join(' ')}\` exited ${log.code}${log.signal === null ? '' : ` (${log.signal})`} after ${describeKills(commands)}: ` +
            `${firstLine(log.tail)}`,
        );
        break;
      }
    }
    const state = runState(world);
    if (state.finished === undefined && findings.length === 0) findings.push(`the run did not finish within ${MAX_COMMANDS} commands`);
    else if (state.finished !== undefined && state.finished !== 'done') findings.push(`the run ended "${state.finished}" after ${describeKills(commands)}`);
    const checked = await checkWorld(world, setup.mint);
    failures = checked.failures;
    mints = checked.mints;
  } catch (error) {
    failures.push(`harness error: ${(error as Error).stack ?? String(error)}`);
  } finally {
    await world.close();
  }
  return {
    round,
    seed,
    overlap: scenario.overlap,
    stores: scenario.stores,
    latencyMs: scenario.latencyMs,
    commands,
    kills,
    mints,
    findings,
    failures,
    ms: performance.now() - started,
  };
}

/** Pick how to kill a command: at a chosen step, after a number of new journal records, or after a time. */
function drawTrigger(rng: () => number, command: string, scenario: Scenario, cal: Calibration): Trigger {
  const pick = rng();
  if (command === 'rotate') {
    // Inside the mint call: the request is in flight (the sandbox answers after latencyMs, and mints even when the
    // caller is gone by then), or the provider has answered and the stores are staging in parallel.
    if (pick < 0.3) return { kind: 'step', step: 'mint', extraMs: rng() * (scenario.latencyMs + 10 + 4 * scenario.storeLatencyMs) };
    // During the rollout hook, which sleeps a few ms after node starts.
    if (pick < 0.45) return { kind: 'step', step: 'hook:0', extraMs: rng() * 120 };
    if (pick < 0.75) return { kind: 'record', after: 1 + Math.floor(rng() * Math.max(1, cal.records - 1)), extraMs: rng() * (scenario.latencyMs + 20) };
    return { kind: 'time', ms: cal.startupMs * 0.6 + rng() * (cal.totalMs - cal.startupMs * 0.6) };
  }
  // A resume: its own start-up, then the steps left.
  if (pick < 0.6) return { kind: 'record', after: 1 + Math.floor(rng() * 4), extraMs: rng() * (scenario.latencyMs + 20) };
  return { kind: 'time', ms: cal.startupMs * 0.6 + rng() * (cal.totalMs * 0.8 - cal.startupMs * 0.6) };
}

function describeKills(commands: readonly CommandLog[]): string {
  const killed = commands.filter((c) => c.killed);
  if (killed.length === 0) return 'no kill';
  return `${killed.length} kill${killed.length === 1 ? '' : 's'} (${killed.map((c) => `${c.args[0]}: ${c.landed ?? '?'}`).join('; ')})`;
}

function firstLine(text: string): string {
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');
  const error = lines.find((l) => /error|refus|fail|cannot|locked|already/i.test(l));
  return (error ?? lines.at(-1) ?? '(no output)').slice(0, 300);
}

// ── A world: servers, a workspace, and the CLI run against them ────────────────────────────────────────────────────

interface World {
  readonly dir: string;
  readonly config: string;
  readonly scenario: Scenario;
  readonly sandbox: Sandbox;
  readonly aws: RunningSecretsManager | undefined;
  readonly vault: RunningVaultServer | undefined;
  readonly seedKey: string;
  readonly env: NodeJS.ProcessEnv;
  readonly marker: string;
  readonly cli: string;
  close(): Promise<void>;
}

async function makeWorld(deps: KillDeps, scenario: Scenario, setup: Setup): Promise<World> {
  const dir = mkdtempSync(join(tmpdir(), 'rekey-kill-'));
  const sandbox = await deps.startSandbox({ overlap: scenario.overlap, latencyMs: scenario.latencyMs });
  let aws: RunningSecretsManager | undefined;
  let vault: RunningVaultServer | undefined;
  const seedKey = sandbox.mintKey(scenario.account);
  const stores: string[] = [];
  if (scenario.stores === 3) {
    aws = await deps.startAws();
    aws.model.latencyMs = scenario.storeLatencyMs;
    vault = await deps.startVault({ latencyMs: scenario.storeLatencyMs });
    // Seeded through their side doors, never through the adapters under test; the other fields must survive.
    aws.model.createSecret({ Name: AWS_SECRET, SecretString: JSON.stringify({ [VARIABLE]: seedKey, DB_HOST: 'db.internal' }) });
    vault.model.put('secret', VAULT_PATH, { api_key: seedKey, owner: 'team-a' });
    stores.push(`      - aws-secrets-manager: ${AWS_SECRET}#${VARIABLE}`, '        region: us-east-1', `        endpoint: ${aws.url}`);
    stores.push(`      - vault-kv: secret/${VAULT_PATH}#api_key`, `        address: ${vault.url}`);
  }
  stores.push(`      - dotenv: ./.env#${VARIABLE}`);
  writeFileSync(join(dir, '.env'), `# kill harness\n${VARIABLE}=${seedKey}\nLOG_LEVEL=info\n`, { mode: 0o600 });
  // The marker names this world on the hook's command line, so the process-table check can find a hook left behind.
  const marker = `rekey-kill-hook-${relative(tmpdir(), dir).split(sep).join('-')}`;
  const config = join(dir, 'rekey.yaml');
  writeFileSync(
    config,
    [
      '# written by test/e2e/kill-harness.ts',
      'credentials:',
      `  ${CREDENTIAL}:`,
      `    runbook: ${JSON.stringify(setup.runbooks[scenario.overlap])}`,
      `    inputs: { baseUrl: "${sandbox.url}", account: ${scenario.account} }`,
      '    stores:',
      ...stores,
      '    rollout:',
      `      - exec: ${JSON.stringify([process.execPath, '-e', `setTimeout(() => {}, ${scenario.hookMs})`, marker])}`,
      '        name: restart workers',
      '    policy: { maxAge: 30d, budget: 5m }',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (name.startsWith('REKEY_') || name === 'FORCE_COLOR' || name.startsWith('VAULT_') || name.startsWith('AWS_')) continue;
    env[name] = value;
  }
  Object.assign(env, {
    NO_COLOR: '1',
    XDG_CACHE_HOME: setup.cache,
    AWS_ACCESS_KEY_ID: 'AKIDEXAMPLEREKEYKILL',
    AWS_SECRET_ACCESS_KEY: 'example-secret-for-local-fake',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    ...(vault === undefined ? {} : { VAULT_TOKEN: vault.model.rootToken }),
  });
  let closed = false;
  return {
    dir,
    config,
    scenario,
    sandbox,
    aws,
    vault,
    seedKey,
    env,
    marker,
    cli: deps.cli,
    async close() {
      if (closed) return;
      closed = true;
      await Promise.all([sandbox.close(), aws?.close(), vault?.close()]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Run `rekey <args> --config <world>` and kill it when the trigger fires; resolves when the child has exited. */
function runCli(world: World, args: readonly string[], trigger: Trigger): Promise<CommandLog> {
  const started = performance.now();
  const base = journalLineCounts(world);
  const handled = (): number => (world.sandbox.stats.mintsByAccount[world.scenario.account] ?? 0) + world.sandbox.stats.replays;
  const handledAtSpawn = handled();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [world.cli, ...args, '--config', world.config], {
      cwd: world.dir,
      env: world.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output = (output + chunk).slice(-8000)));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output = (output + chunk).slice(-8000)));
    let exited = false;
    let killedAt: { handled: number } | undefined;
    const timers: NodeJS.Timeout[] = [];
    const kill = (): void => {
      if (exited || killedAt !== undefined) return;
      // The provider's side at the moment of the kill: whether the mint request had been answered yet.
      killedAt = { handled: handled() };
      child.kill('SIGKILL');
    };
    timers.push(setTimeout(kill, COMMAND_TIMEOUT_MS));
    if (trigger.kind === 'time') timers.push(setTimeout(kill, trigger.ms));
    if (trigger.kind === 'record' || trigger.kind === 'step') {
      // Poll the journal: a few ms of lag at most, which the random extra delay dwarfs.
      const poll = setInterval(() => {
        if (
          newRecords(world, base).some((r, i) =>
            trigger.kind === 'record' ? i + 1 >= trigger.after : r['type'] === 'step.started' && r['step'] === trigger.step,
          )
        ) {
          clearInterval(poll);
          timers.push(setTimeout(kill, trigger.extraMs));
        }
      }, 2);
      timers.push(poll);
    }
    child.on('error', (error) => {
      for (const timer of timers) clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code, signal) => {
      exited = true;
      for (const timer of timers) clearTimeout(timer);
      const ms = performance.now() - started;
      const killed = killedAt !== undefined && signal === 'SIGKILL';
      const timedOut = killed && ms >= COMMAND_TIMEOUT_MS;
      const landed = killed ? landing(newRecords(world, base), killedAt!.handled > handledAtSpawn) : undefined;
      resolve({
        args,
        trigger,
        killed: killed && !timedOut,
        code: timedOut ? -1 : code,
        signal,
        ms,
        landed: timedOut ? 'timed out' : landed,
        tail: timedOut ? `timed out after ${COMMAND_TIMEOUT_MS} ms\n${output}` : output,
      });
    });
  });
}

/** Where a kill landed, from the records the killed process wrote and whether the provider had answered a mint. */
function landing(records: readonly Row[], providerMinted: boolean): string {
  const last = records.at(-1);
  if (last === undefined) return 'before its first journal record';
  const type = String(last['type']);
  const step = typeof last['step'] === 'string' ? stepClass(last['step']) : '';
  if (type === 'step.started' && step === 'mint') return providerMinted ? 'in mint: provider answered, staging' : 'in mint: request in flight';
  if (type === 'step.started') return `in ${step}`;
  if (type === 'step.done') return `after ${step}`;
  if (type === 'step.failed') return `after ${step} failed`;
  return `after ${type}`;
}

/** A step id without its index or runbook step: `promote:1` → promote, `verify-revoked:old-rejected` → verify-revoked. */
function stepClass(step: string): string {
  const colon = step.indexOf(':');
  return colon < 0 ? step : step.slice(0, colon);
}

// ── Reading the workspace independently of rekey ───────────────────────────────────────────────────────────────────

type Row = Record<string, unknown>;

function runsDir(world: World): string {
  return join(world.dir, '.rekey', 'runs');
}

function journalFiles(world: World): string[] {
  const dir = runsDir(world);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.jsonl'))
    .sort();
}

/** Lines per journal file now, to tell a command's own records from earlier ones. */
function journalLineCounts(world: World): Map<string, number> {
  return new Map(journalFiles(world).map((f) => [f, tolerantRows(join(runsDir(world), f)).length]));
}

/** The records written since `base`, over every journal. */
function newRecords(world: World, base: ReadonlyMap<string, number>): Row[] {
  return journalFiles(world).flatMap((f) => tolerantRows(join(runsDir(world), f)).slice(base.get(f) ?? 0));
}

/** A journal being written: its complete lines (a line cut by a kill is not a record yet). */
function tolerantRows(file: string): Row[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  const rows: Row[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      rows.push(JSON.parse(line) as Row);
    } catch {
      // A torn line: the engine mends it on the next append.
    }
  }
  return rows;
}

function journalRecords(world: World): { file: string; records: Row[] }[] {
  return journalFiles(world).map((f) => ({ file: f, records: tolerantRows(join(runsDir(world), f)) }));
}

/** The run to continue, if any, and how it ended, if it did. */
function runState(world: World): { run: string | undefined; finished: string | undefined } {
  const journals = journalRecords(world);
  const unfinished = journals.find((j) => !j.records.some((r) => r['type'] === 'run.finished'));
  if (unfinished !== undefined) return { run: unfinished.file.slice(0, -'.jsonl'.length), finished: undefined };
  const last = journals.at(-1);
  if (last === undefined) return { run: undefined, finished: undefined };
  const finished = last.records.find((r) => r['type'] === 'run.finished');
  return { run: last.file.slice(0, -'.jsonl'.length), finished: String(finished?.['result']) };
}

/**
 * Where a hash chain breaks, read strictly (every line must parse): each record's `hash` is SHA-256 over its JSON
 * without `hash`, `prev` is the hash of the record before (64 zeros for the first), `seq` counts from 1.
 */
export function chainProblem(text: string): string | undefined {
  let prev = '0'.repeat(64);
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  for (const [index, line] of lines.entries()) {
    let row: Row;
    try {
      row = JSON.parse(line) as Row;
    } catch {
      return `line ${index + 1} is not JSON`;
    }
    const { hash, ...rest } = row;
    if (row['seq'] !== index + 1) return `line ${index + 1}: seq ${String(row['seq'])}`;
    if (row['prev'] !== prev) return `line ${index + 1}: prev does not match the line before`;
    if (createHash('sha256').update(JSON.stringify(rest)).digest('hex') !== hash) return `line ${index + 1}: hash does not match`;
    prev = String(hash);
  }
  return undefined;
}

/** The value of NAME in a .env, read by hand: the last `NAME=` line, with one pair of quotes taken off. */
function envValue(text: string, name: string): string | undefined {
  let found: string | undefined;
  for (const line of text.split(/\r?\n/)) {
    const match = /^\s*(?:export\s+)?([\w.-]+)\s*=\s*(.*)$/.exec(line);
    if (match?.[1] !== name) continue;
    let value = match[2]!.trim();
    if (/^(["']).*\1$/.test(value)) value = value.slice(1, -1);
    found = value;
  }
  return found;
}

/** Files a finished rotation may leave: the workspace's own, the journals, the reports and the audit log. */
function allowed(path: string): boolean {
  return (
    path === '.env' ||
    path === 'rekey.yaml' ||
    path === '.rekey' ||
    path === '.rekey/audit.jsonl' ||
    path === '.rekey/audit.head' ||
    // The history index (src/engine/history-index.ts): a cache of the journals, rebuilt whenever it is not to be trusted.
    path === '.rekey/history-index.json' ||
    // The state folder's own ignore file (src/util/state-dir.ts): written on purpose, once.
    path === '.rekey/.gitignore' ||
    path === '.rekey/locks' ||
    path === '.rekey/runs' ||
    path === '.rekey/reports' ||
    /^\.rekey\/runs\/[\w-]+\.jsonl$/.test(path) ||
    /^\.rekey\/reports\/[\w.-]+\.md$/.test(path)
  );
}

/** Every path under a folder, relative, with `/` separators. */
function listTree(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).map((p) => p.split(sep).join('/'));
}

/** Processes whose command line names the world's folder or hook marker: rekey runs or hooks left behind. */
function leftoverProcesses(world: World): string[] {
  if (!existsSync('/proc')) return [];
  const found: string[] = [];
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue;
    let cmdline: string;
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
    } catch {
      continue;
    }
    if (cmdline.includes(world.marker) || cmdline.includes(world.config)) found.push(`pid ${pid}: ${cmdline.slice(0, 160)}`);
  }
  return found;
}

/** Every check of the issue's "Done when", from the outside; returns what failed and how many keys were minted. */
async function checkWorld(world: World, mint: 'idempotent' | 'plain'): Promise<{ failures: string[]; mints: number }> {
  const failures: string[] = [];
  const { sandbox, scenario } = world;
  const keys = sandbox.keys(scenario.account);
  const minted = keys.filter((k) => k.mintedBy === 'http');
  const live = keys.filter((k) => k.status === 'active');
  // With an idempotent mint a resumed run can always get its key back, so one mint is the only right count. Without
  // one, a mint cut off in flight leaves a key nobody holds: counted and reported, and it must not stay live (below).
  if (minted.length === 0 || (mint === 'idempotent' && minted.length !== 1)) {
    failures.push(`${minted.length} keys minted (expected exactly one): ${minted.map((k) => `${k.id} ${k.status}`).join(', ') || 'none'}`);
  }
  if (live.length !== 1) failures.push(`${live.length} live keys at the provider (expected exactly one)`);
  const seed = keys.find((k) => k.matches(world.seedKey));
  if (seed?.status === 'active') failures.push('the old key is still active');
  const key = live.length === 1 ? live[0]! : undefined;
  if (key !== undefined && key.mintedBy !== 'http') failures.push('the live key is not one this rotation minted');

  // Every store holds the live key.
  const holds = (where: string, value: string | undefined): void => {
    if (value === undefined) failures.push(`${where}: no value`);
    else if (key !== undefined && !key.matches(value)) {
      const other = sandbox.keyOf(value);
      const held =
        other === undefined ? 'a value the provider never issued' : `key ${other.id} (${other.status}${other.matches(world.seedKey) ? ', the old key' : ''})`;
      failures.push(`${where} holds ${held}, not the live key ${key.id}`);
    }
  };
  holds('.env', envValue(readFileSync(join(world.dir, '.env'), 'utf8'), VARIABLE));
  if (world.aws !== undefined) {
    const current = world.aws.model.secretString(AWS_SECRET);
    const json = current === undefined ? {} : (JSON.parse(current) as Record<string, string>);
    holds('aws AWSCURRENT', json[VARIABLE]);
    if (json['DB_HOST'] !== 'db.internal') failures.push('aws: the other field DB_HOST was not kept');
    // AWSPENDING on the AWSCURRENT version is how a finished rotation ends (AWS API reference, RotateSecret); on any
    // other version it is a left-over that blocks the next rotation.
    for (const [version, labels] of Object.entries(world.aws.model.stages(AWS_SECRET))) {
      if (labels.includes('AWSPENDING') && !labels.includes('AWSCURRENT')) failures.push(`aws: version ${version} still labelled AWSPENDING`);
    }
  }
  if (world.vault !== undefined) {
    const latest = world.vault.model.latest('secret', VAULT_PATH);
    holds('vault latest version', latest?.['api_key'] as string | undefined);
    if (latest?.['owner'] !== 'team-a') failures.push('vault: the other field owner was not kept');
  }

  // No sibling, temporary or lock file, nothing the workspace did not have besides journals, reports and the audit log.
  const strays = listTree(world.dir).filter((p) => !allowed(p) && !p.startsWith('.rekey/locks/'));
  if (strays.length > 0) failures.push(`files left in the workspace: ${strays.join(', ')}`);
  // A run's lock must be gone once the run is done; say whose it is (pid and run, no secret in it).
  const locks = join(world.dir, '.rekey', 'locks');
  for (const lock of existsSync(locks) ? readdirSync(locks) : []) {
    let holder = '';
    try {
      const info = JSON.parse(readFileSync(join(locks, lock), 'utf8')) as { pid?: number; run?: string };
      holder = ` (held by dead pid ${String(info.pid)}, run ${String(info.run)})`;
    } catch {
      holder = ' (empty or unreadable)';
    }
    failures.push(`lock left after the run: .rekey/locks/${lock}${holder}`);
  }

  // Journals and audit log: intact chains, the run done.
  const journals = journalFiles(world);
  if (journals.length === 0) failures.push('no run journal');
  for (const file of journals) {
    const text = readFileSync(join(runsDir(world), file), 'utf8');
    const problem = chainProblem(text);
    if (problem !== undefined) failures.push(`journal ${file}: chain broken at ${problem}`);
    const records = tolerantRows(join(runsDir(world), file));
    const finished = records.filter((r) => r['type'] === 'run.finished');
    if (finished.length !== 1 || finished[0]!['result'] !== 'done')
      failures.push(`journal ${file}: ends ${finished.map((r) => String(r['result'])).join(', ') || 'unfinished'}, expected one run.finished done`);
  }
  const auditFile = join(world.dir, '.rekey', 'audit.jsonl');
  if (!existsSync(auditFile)) failures.push('no audit log');
  else {
    const text = readFileSync(auditFile, 'utf8');
    const problem = chainProblem(text);
    if (problem !== undefined) failures.push(`audit.jsonl: chain broken at ${problem}`);
    const headFile = join(world.dir, '.rekey', 'audit.head');
    if (existsSync(headFile)) {
      // The head may lag the log (it is moved after each append), never lead it, and must name a record as it is.
      const rows = tolerantRows(auditFile);
      try {
        const head = JSON.parse(readFileSync(headFile, 'utf8')) as { seq: number; hash: string };
        const named = rows[head.seq - 1];
        if (named === undefined) failures.push(`audit.head names record ${head.seq}, past the log's end (${rows.length})`);
        else if (named['hash'] !== head.hash) failures.push(`audit.head names record ${head.seq} with another hash`);
      } catch {
        failures.push('audit.head is not JSON');
      }
    }
  }

  // Nothing left running: a rekey process or a rollout hook of this world (a hook sleeps a few ms, so wait a moment).
  let procs = leftoverProcesses(world);
  for (let i = 0; i < 50 && procs.length > 0; i++) {
    await new Promise((r) => setTimeout(r, 40));
    procs = leftoverProcesses(world);
  }
  if (procs.length > 0) failures.push(`processes left: ${procs.join('; ')}`);
  return { failures, mints: minted.length };
}

// ── Reporting ────────────────────────────────────────────────────────────────────────────────────────────────────

function count(map: Map<string, number>, key: string, by = 1): void {
  map.set(key, (map.get(key) ?? 0) + by);
}

function table(title: string, map: ReadonlyMap<string, number>): string[] {
  const rows = [...map].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  return [title, ...rows.map(([k, v]) => `  ${String(v).padStart(5)}  ${k}`)];
}

/** The loop's counts: rounds and kills per kind and store count, kill landing points, mints, findings, failures. */
export function formatSummary(summary: KillLoopSummary, replay = 'node scripts/kill-loop.mjs'): string {
  const { results } = summary;
  const kills = results.reduce((n, r) => n + r.kills, 0);
  const failed = results.filter((r) => r.failures.length > 0 || r.findings.length > 0);
  const perKind = new Map<string, number>();
  const killsPerKind = new Map<string, number>();
  const failedPerKind = new Map<string, number>();
  const landed = new Map<string, number>();
  const mints = new Map<string, number>();
  const failureKinds = new Map<string, number>();
  const findingKinds = new Map<string, number>();
  let twiceInARow = 0;
  let resumesKilled = 0;
  let finishedResumes = 0;
  for (const r of results) {
    const kind = `${r.overlap}, ${r.stores} store${r.stores === 1 ? '' : 's'}`;
    count(perKind, kind);
    count(killsPerKind, kind, r.kills);
    if (r.failures.length > 0 || r.findings.length > 0) count(failedPerKind, kind);
    count(mints, `${r.mints} minted`);
    let run = 0;
    let longest = 0;
    for (const c of r.commands) {
      if (c.args[0] === 'resume' && c.code === 3) finishedResumes++;
      if (c.killed) {
        count(landed, `${c.args[0]}: ${c.landed ?? '?'}`);
        if (c.args[0] === 'resume') resumesKilled++;
        run++;
        longest = Math.max(longest, run);
      } else run = 0;
    }
    if (longest >= 2) twiceInARow++;
    // Failures grouped by their wording without ids and numbers, so that the same failure counts once per kind.
    for (const f of r.failures) count(failureKinds, normalise(f));
    for (const f of r.findings) count(findingKinds, normalise(f.replace(/ after (no kill|\d+ kills?) \(.*?\)(?=:)/, ' after a kill')));
  }
  const lines = [
    `random-kill loop · seed ${summary.seed} · ${summary.mint} mints · ${results.length} rounds · ${kills} kills (${resumesKilled} of them resumes; ` +
      `${twiceInARow} round${twiceInARow === 1 ? '' : 's'} killed twice or more in a row) · ${(summary.ms / 1000).toFixed(1)} s`,
    `calibration (spawn → journal, spawn → exit): ${Object.entries(summary.calibration)
      .map(([stores, c]) => `${stores} store(s) ${Math.round(c.startupMs)} / ${Math.round(c.totalMs)} ms`)
      .join(', ')}`,
    ...table('rounds per kind:', perKind),
    ...table('kills per kind:', killsPerKind),
    ...table('rounds with a failure or finding, per kind:', failedPerKind),
    ...table('where the kills landed:', landed),
    ...table('keys minted per round:', mints),
    `resumes of a run that had finished before its kill, answered "already finished: done" (exit 3): ${finishedResumes}`,
    ...(findingKinds.size === 0 ? ['findings: none'] : table('findings (rounds):', findingKinds)),
    ...(failureKinds.size === 0 ? ['failed checks: none'] : table('failed checks (rounds):', failureKinds)),
  ];
  if (failed.length > 0) {
    lines.push(`${failed.length} of ${results.length} rounds failed; the first ones:`);
    for (const r of failed.slice(0, 5)) lines.push(describeRound(r, replay));
  }
  return lines.join('\n');
}

/** A failure's wording without run ids, key ids, pids and counts, so that one kind of failure is counted as one. */
function normalise(text: string): string {
  return text
    .replace(/\d{8}T\d{6}Z-[0-9a-f]{6}/g, '<run>')
    .replace(/\bkey_[0-9a-f]+/g, 'key_…')
    .replace(/\b\d+\b/g, 'N')
    .slice(0, 160);
}

/** One round in full: its scenario, every command with its trigger and landing point, findings and failures. */
export function describeRound(r: RoundResult, replay = 'node scripts/kill-loop.mjs'): string {
  const trigger = (t: Trigger): string =>
    t.kind === 'none'
      ? 'not killed'
      : t.kind === 'time'
        ? `kill at ${Math.round(t.ms)} ms`
        : t.kind === 'record'
          ? `kill ${Math.round(t.extraMs)} ms after new record ${t.after}`
          : `kill ${Math.round(t.extraMs)} ms after ${t.step} started`;
  return [
    `  round ${r.round} (seed ${r.seed}; replay: ${replay} --seed ${r.seed} --only ${r.round}) · ${r.overlap}, ${r.stores} store(s), provider latency ` +
      `${r.latencyMs} ms · ${r.mints} minted`,
    ...r.commands.map(
      (c) => `    rekey ${c.args.join(' ')} · ${trigger(c.trigger)} · ${c.killed ? `KILLED ${c.landed}` : `exit ${c.code}`} · ${Math.round(c.ms)} ms`,
    ),
    ...r.findings.map((f) => `    finding: ${f}`),
    ...r.failures.map((f) => `    FAILED: ${f}`),
  ].join('\n');
}
