/**
 * ┌──────────────────────────────────────────────────────────────────────────────────────────────────────────────┐
 * │ SLOT — case 3: a four-store rotation with injected latency against local AWS / GCP / Vault servers.          │
 * │ Implemented below; it reports SKIPPED (naming what is missing) until the fakes and adapters all exist.      │
 * └──────────────────────────────────────────────────────────────────────────────────────────────────────────────┘
 *
 * One sandbox credential held in five places — a .env, AWS Secrets Manager, GCP Secret Manager and Vault KV v2 (the
 * last three each a local fake from test/fakes/, transpiled by lib/fakes.mjs) — rotated in-process with
 * executeRun(). The sandbox provider and every fake answer each call after the same fixed latency; they run in a
 * child process (lib/four-store-servers.mjs), so their CPU is not on the engine's event loop.
 *
 * The floor: every store and provider call is logged with its time, and assigned to the step (or concurrent group
 * of steps, e.g. the four `promote:i`) during which it was made. Within a step, calls to one store are a chain the
 * adapter makes one after another (its dependent round trips: the longest run of non-overlapping calls), different
 * stores are independent (the engine may run them side by side), and the provider's calls depend on the stores'
 * values and vice versa (check the old key after reading it; stage the new key after minting it). So a step's floor
 * is provider depth + the deepest store's depth, and the run's floor is the sum over steps × latency. The .env is
 * local (no round trip). Ratio = run wall time (RunSummary.ms) / floor; target ≤ 1.3.
 * Also reported: each step's time against its floor, the time between steps (journal, audit log, fsyncs), and the
 * first (cold) run of the process, which loads the three SDKs.
 */
import { fork } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fakesOutUrl, missing, transpileFakes } from '../lib/fakes.mjs';
import { childEnv, distUrl, tempFolder } from '../lib/fixtures.mjs';
import { watchFsyncs } from '../lib/fsync.mjs';
import { describe, interleave, median, sum } from '../lib/measure.mjs';

export const TARGET_RATIO = 1.3;
export const LATENCY_MS = 20;

const REQUIRED = [
  'test/fakes/aws-secrets-manager-server.ts',
  'test/fakes/gcp-secret-manager-server.ts',
  'test/fakes/vault-kv-server.ts',
  'adapters/stores/aws-secrets-manager/index.ts',
  'adapters/stores/gcp-secret-manager/index.ts',
  'adapters/stores/vault-kv/index.ts',
  'dist/adapters/stores/aws-secrets-manager/index.js',
  'dist/adapters/stores/gcp-secret-manager/index.js',
  'dist/adapters/stores/vault-kv/index.js',
];

const TITLE = `Four stores (.env + AWS + GCP + Vault fakes, ${LATENCY_MS} ms a call): rotation wall time / floor of dependent round trips`;

export async function fourStore({ quick, log }) {
  const absent = missing(REQUIRED);
  if (absent.length > 0) return { id: 'four-store', title: TITLE, skipped: `not there yet: ${absent.join(', ')}` };
  await transpileFakes();
  const saved = { ...process.env };
  // The engine opens stores with process.env as their environment: the AWS SDK takes its keys from there.
  Object.assign(process.env, {
    AWS_ACCESS_KEY_ID: 'FAKEREKEYBENCH000001',
    AWS_SECRET_ACCESS_KEY: 'bench-secret-access-key',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    METADATA_SERVER_DETECTION: 'none',
  });
  const servers = [];
  try {
    return await measure({ quick, log, servers });
  } finally {
    for (const server of servers.reverse()) await server.close().catch(() => undefined);
    for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
    Object.assign(process.env, saved);
  }
}

async function measure({ quick, log, servers }) {
  const L = LATENCY_MS;
  // The provider and the three fakes live in a child process (lib/four-store-servers.mjs): see there why.
  const child = fork(fileURLToPath(new URL('../lib/four-store-servers.mjs', import.meta.url)), [fakesOutUrl, distUrl('src/sandbox/server.js'), String(L)], {
    env: childEnv(),
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const replies = [];
  const waiting = [];
  child.on('message', (message) => (waiting.length > 0 ? waiting.shift()(message) : replies.push(message)));
  const exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  const next = () =>
    replies.length > 0
      ? Promise.resolve(replies.shift())
      : Promise.race([
          new Promise((resolve) => waiting.push(resolve)),
          exited.then((code) => Promise.reject(new Error(`the fake servers' process exited (${code})`))),
        ]);
  servers.push({
    close: async () => {
      if (child.exitCode === null && child.connected) child.send({ type: 'close' });
      const timer = setTimeout(() => child.kill(), 3000);
      await exited;
      clearTimeout(timer);
    },
  });
  const ready = await next();
  const now = () => performance.now();
  /** The child's calls since the last ask, on this process's performance.now() clock. */
  const takeCalls = async () => {
    child.send({ type: 'calls' });
    const { calls } = await next();
    return calls.map((c) => ({ ...c, start: c.start - performance.timeOrigin, end: c.end - performance.timeOrigin }));
  };
  const { key } = ready;
  const sandbox = { url: ready.sandboxUrl };
  const aws = { url: ready.awsUrl };
  const gcp = { endpoint: ready.gcpEndpoint };
  const vault = { url: ready.vaultUrl };
  process.env['BENCH_VAULT_TOKEN'] = ready.vaultToken;

  const folder = tempFolder('four-store');
  writeFileSync(join(folder, '.env'), `APP_NAME=bench\nAPI_KEY=${key}\n`, { mode: 0o600 });
  writeFileSync(
    join(folder, 'rekey.yaml'),
    [
      'credentials:',
      '  four-store:',
      '    runbook: sandbox',
      '    inputs:',
      `      baseUrl: ${sandbox.url}`,
      '      account: four-store',
      '    stores:',
      '      - dotenv: ./.env#API_KEY',
      '      - aws-secrets-manager: bench/app#API_KEY',
      '        region: us-east-1',
      `        endpoint: ${aws.url}`,
      '      - gcp-secret-manager: projects/rekey-bench/secrets/app#API_KEY',
      `        endpoint: ${gcp.endpoint}`,
      '      - vault-kv: secret/bench/app#API_KEY',
      `        address: ${vault.url}`,
      '        token: BENCH_VAULT_TOKEN',
      '    policy:',
      '      budget: 5m',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );

  // The store registry is handed to the loader and the engine as the CLI hands it (src/cli/stores.ts).
  const [{ loadConfig }, { loadRunbook }, { executeRun }, { noInteraction }, { storeCatalog, storeOpener }] = await Promise.all([
    import(distUrl('src/config/load.js')),
    import(distUrl('src/runbook/load.js')),
    import(distUrl('src/engine/run.js')),
    import(distUrl('src/ui/interaction.js')),
    import(distUrl('src/cli/stores.js')),
  ]);
  const config = await loadConfig(join(folder, 'rekey.yaml'), storeCatalog);
  const openStores = storeOpener(config);
  const credential = config.credentials.get('four-store');
  const runbook = await loadRunbook(credential.runbookFile);

  const rotate = async () => {
    await takeCalls();
    const windows = new Map();
    const sink = {
      emit(event) {
        if (event.event === 'step.started') windows.set(event.step, { step: event.step, phase: event.phase, start: now(), end: Number.NaN });
        if (event.event === 'step.done' || event.event === 'step.failed') windows.get(event.step).end = now();
      },
    };
    let summary;
    const fsyncs = watchFsyncs();
    try {
      summary = await executeRun({ config, credential, runbook, mode: 'scheduled', allowRecent: true, interaction: noInteraction(), sink, openStores });
    } catch (caught) {
      // A failed run's error carries its summary (see RunFailedError); the timeline names the step that failed.
      const error = /** @type {Error & { summary?: { timeline?: { result: string, step: string, detail?: string }[] } }} */ (caught);
      throw new Error(
        `four-store rotation failed: ${error.message}${
          error.summary?.timeline
            ? ` (${error.summary.timeline
                .filter((t) => t.result === 'failed')
                .map((t) => `${t.step}: ${t.detail}`)
                .join('; ')})`
            : ''
        }`,
      );
    } finally {
      fsyncs.stop();
    }
    return { wallMs: summary.ms, fsyncCalls: fsyncs.calls, fsyncMs: fsyncs.ms, ...floorOf([...windows.values()], await takeCalls(), L) };
  };

  log(`four-store: first (cold) run, loading the AWS, GCP and Vault clients`);
  const cold = await rotate();
  const reps = quick ? 4 : 8;
  log(`four-store: ${reps} runs, ${L} ms per call`);
  // One candidate: nothing to alternate with, but the same warm-up and order statistics.
  const { samples } = await interleave({ candidates: { run: rotate }, reps, warmup: 1 });
  const runs = samples.run;
  const ratio = runs.map((r) => r.wallMs / r.floorMs);
  const last = runs.at(-1);
  // Per stage (same stages in every run): median time taken against its floor.
  const stageMs = last.stages.map((_, i) => median(runs.map((r) => r.stages[i]?.ms ?? Number.NaN)));
  const betweenMs = runs.map((r) => r.wallMs - sum(r.stages.map((st) => st.ms)));
  const overheadMs = runs.map((r) => r.wallMs - r.floorMs);
  const gapStores = [...new Set(runs.flatMap((r) => Object.keys(r.gaps)))];
  const gapMs = Object.fromEntries(gapStores.map((store) => [store, describe(runs.flatMap((r) => r.gaps[store] ?? []))]));

  return {
    id: 'four-store',
    title: TITLE,
    target: `ratio ≤ ${TARGET_RATIO}`,
    rows: [
      // PASS/FAIL on the median as printed (2 decimals).
      {
        measure: 'run ms / floor (dependent round trips × latency)',
        ...describe(ratio, 2),
        target: `≤ ${TARGET_RATIO}`,
        pass: (describe(ratio, 2).median ?? Number.NaN) <= TARGET_RATIO,
      },
      { measure: 'run ms', ...describe(runs.map((r) => r.wallMs)), target: '(info)', pass: undefined },
      { measure: 'floor ms', ...describe(runs.map((r) => r.floorMs)), target: '(info)', pass: undefined },
      { measure: 'overhead ms (run − floor)', ...describe(overheadMs), target: '(info)', pass: undefined },
      { measure: '  of which between steps (journal, audit, …)', ...describe(betweenMs), target: '(info)', pass: undefined },
      { measure: '  fsyncSync ms per run', ...describe(runs.map((r) => r.fsyncMs)), target: '(info)', pass: undefined },
    ],
    pass: (describe(ratio, 2).median ?? Number.NaN) <= TARGET_RATIO,
    info: {
      latencyMs: L,
      floorDepth: last.floorDepth,
      callsPerRun: last.callCount,
      fsyncCallsPerRun: median(runs.map((r) => r.fsyncCalls)),
      gapBetweenDependentCallsMs: gapMs,
      stages: last.stages.map((st, i) => ({ ...st, ms: Number(stageMs[i].toFixed(1)) })),
      outsideSteps: last.outside,
      coldRun: { runMs: Math.round(cold.wallMs), floorMs: cold.floorMs, ratio: Number((cold.wallMs / cold.floorMs).toFixed(2)) },
    },
    notes: [
      `floor = Σ over steps of (provider depth + deepest store's depth) = ${last.floorDepth} round trips × ${L} ms = ${last.floorMs} ms; ` +
        `${last.callCount} calls in all; ${median(runs.map((r) => r.fsyncCalls))} fsyncs per run`,
      'per step — calls (dependent depth) per store → floor, and the median time the step took:',
      ...last.stages.map(
        (st, i) =>
          `  ${st.phase.padEnd(8)} ${abbreviate(st.steps)}: ${
            Object.entries(st.calls)
              .map(([store, c]) => `${store} ${c.ops.length}${c.depth !== c.ops.length ? ` (depth ${c.depth})` : ''}`)
              .join(', ') || 'no round trip'
          } → floor ${st.floorDepth * L} ms, took ${stageMs[i].toFixed(0)} ms`,
      ),
      `time between a store's dependent calls (client, transport, server framing — beyond the latency): ${Object.entries(gapMs)
        .map(([store, d]) => `${store} ${d.median} ms (n ${d.n})`)
        .join(' · ')}`,
      ...(last.outside.length > 0 ? [`calls outside any step: ${last.outside.join(', ')}`] : []),
      `first (cold) run: ${Math.round(cold.wallMs)} ms vs floor ${cold.floorMs} ms (ratio ${(cold.wallMs / cold.floorMs).toFixed(2)}), the SDK ` +
        `imports included`,
    ],
  };
}

function abbreviate(steps) {
  return steps.length > 1 ? `${steps[0].split(':')[0]}:0…${steps.length - 1}` : steps[0];
}

/** The longest chain of calls each starting after the previous one ended (greedy by end time). */
function depth(list, tolerance) {
  let count = 0;
  let end = -Infinity;
  for (const call of [...list].sort((a, b) => a.end - b.end)) {
    if (call.start >= end - tolerance) {
      count++;
      end = call.end;
    }
  }
  return count;
}

/** @typedef {{ store: string, op: string, start: number, end: number }} Call One round trip a server saw. */

/** Group steps into stages (steps that overlap in time ran as one concurrent group), assign calls, compute depths. */
function floorOf(windows, runCalls, latency) {
  const tolerance = latency / 4;
  const stages = [];
  for (const w of [...windows].sort((a, b) => a.start - b.start)) {
    const open = stages.at(-1);
    if (open !== undefined && w.start < open.end) {
      open.steps.push(w.step);
      open.end = Math.max(open.end, w.end);
    } else stages.push({ phase: w.phase, steps: [w.step], start: w.start, end: w.end, calls: /** @type {Call[]} */ ([]) });
  }
  const outside = [];
  for (const call of runCalls) {
    // By the call's midpoint: the two processes' clocks may differ by a fraction of a ms, the latency is far more.
    const mid = (call.start + call.end) / 2;
    const stage = stages.find((s) => mid >= s.start && mid <= s.end);
    if (stage !== undefined) stage.calls.push(call);
    else outside.push(`${call.store} ${call.op}`);
  }
  let floorDepth = 0;
  const report = [];
  // Per store: the time between one call's end and the next dependent call's start (client + transport + server
  // framing: what each client stack adds to every round trip beyond the latency).
  const gaps = {};
  for (const stage of stages) {
    /** @type {Record<string, Call[]>} */
    const byStore = {};
    for (const call of stage.calls) {
      byStore[call.store] ??= [];
      byStore[call.store].push(call);
    }
    for (const [store, list] of Object.entries(byStore)) {
      const sorted = [...list].sort((a, b) => a.start - b.start);
      for (let i = 1; i < sorted.length; i++) {
        const gap = sorted[i].start - sorted[i - 1].end;
        if (gap < -tolerance) continue;
        gaps[store] ??= [];
        gaps[store].push(Math.max(0, gap));
      }
    }
    const calls = Object.fromEntries(Object.entries(byStore).map(([store, list]) => [store, { ops: list.map((c) => c.op), depth: depth(list, tolerance) }]));
    const provider = calls['provider']?.depth ?? 0;
    const deepestStore = Math.max(
      0,
      ...Object.entries(calls)
        .filter(([s]) => s !== 'provider')
        .map(([, c]) => c.depth),
    );
    const stageFloor = provider + deepestStore;
    floorDepth += stageFloor;
    report.push({ phase: stage.phase, steps: stage.steps, calls, floorDepth: stageFloor, ms: stage.end - stage.start });
  }
  return { gaps, floorDepth, floorMs: floorDepth * latency, callCount: runCalls.length, stages: report, outside };
}
