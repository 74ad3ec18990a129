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
 * Two floors. The headline one is the protocol's: PROTOCOL_MINIMUM below names, per step and per store, the fewest
 * dependent round trips the services' APIs allow for what the step does (each number with the API doc that makes it
 * the minimum), and the provider's from the sandbox runbook's steps. Different stores are independent (the engine may
 * run them side by side), and the provider's calls depend on the stores' values and vice versa (check the old key
 * after reading it; stage the new key after minting it), so a step's floor is provider minimum + the deepest store's
 * minimum, and the run's floor is the sum over steps × latency. The .env is local (no round trip).
 * Ratio = run wall time (RunSummary.ms) / protocol floor; target ≤ 1.3. A redundant call rekey makes raises the ratio.
 * For information, the floor of the calls rekey made: every store and provider call is logged with its time and
 * assigned to the step (or concurrent group of steps, e.g. the four `promote:i`) during which it was made; within a
 * step, calls to one store are a chain the adapter makes one after another (its depth: the longest run of
 * non-overlapping calls), combined as above. Per step, the calls made are printed against the minimum.
 * Also reported: each step's time against its floors, the time between steps (journal, audit log, fsyncs), and the
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

/**
 * The protocol's minimum dependent round trips, per step (a step id without its `:i` store index) and per store
 * (`provider` is the sandbox; stores named as lib/four-store-servers.mjs logs them; the .env has none). The stores
 * are configured below: AWS, GCP with readers on the alias `current` (the default), Vault without `destroyOnRetire`.
 * The provider's numbers are the sandbox runbook's steps (runbooks/sandbox.yaml), one HTTP call each:
 *   preflight: its verify step (GET /v1/whoami) run with the old key · mint: POST /v1/accounts/:account/keys ·
 *   verify: GET /v1/whoami (new key) · revoke: DELETE /v1/keys/self (old key) · verify-revoked: GET /v1/whoami
 *   answered 401 for the old key (rekey's control call with the new key is independent of it, so it adds no depth) ·
 *   audit: GET /v1/accounts/:account/activity.
 * Docs: AWS https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_<Operation>.html; GCP
 * https://cloud.google.com/secret-manager/docs/reference/rest/v1/projects.secrets… (below); Vault
 * https://developer.hashicorp.com/vault/api-docs/secret/kv/kv-v2.
 * @type {Record<string, Record<string, number>>}
 */
export const PROTOCOL_MINIMUM = {
  preflight: {
    provider: 1,
    // GetSecretValue (AWSCURRENT by default) returns the value, its VersionId and VersionStages in one call.
    aws: 1,
    // versions/current:access: "after an alias is assigned, you can access the secret versions using their aliases in
    // the same way … as by their version number" (docs/assign-alias-to-secret-version), and the response's `name` is
    // the version it resolved to (…/projects.secrets.versions/access).
    gcp: 1,
    // Read secret version: GET /:mount/data/:path returns the data and metadata.version (the base for cas). The mount
    // is taken as given (the store option `mount`); asking Vault for it (sys/internal/ui/mounts) is rekey's lookup.
    vault: 1,
  },
  mint: {
    provider: 1,
    // PutSecretValue with VersionStages [AWSPENDING]: without VersionStages AWSCURRENT would move at once;
    // ClientRequestToken makes it idempotent, so a retried stage needs no look-up first.
    aws: 1,
    // projects.secrets/addVersion: its body is the payload alone and it returns the SecretVersion (its number). The
    // new version is ENABLED and reached through `latest` at once, but alias readers see it only once promote moves
    // the alias. GCP asks for nothing more: a version has no labels to set (projects.secrets.versions: name, times,
    // state), and cannot be added disabled. rekey's run record (an UpdateSecret of the secret's annotations before
    // the add, because addVersion takes no idempotency token) is rekey's own, and shows as a call above the minimum.
    gcp: 1,
    // Create/Update secret: POST /:mount/data/:path with options.cas = the version read (the write fails if it is no
    // longer current). The run record in custom_metadata (POST /:mount/metadata/:path) is rekey's own.
    vault: 1,
  },
  promote: {
    // UpdateSecretVersionStage AWSCURRENT, MoveToVersionId the new version, RemoveFromVersionId the old ("if the
    // staging label is already attached to a different version … you must also specify RemoveFromVersionId");
    // AWSPREVIOUS moves to the old version by itself.
    aws: 1,
    // projects.secrets/patch with updateMask version_aliases: the alias then points at the new version (the Secret's
    // etag is an optional guard, not a call of its own).
    gcp: 1,
    // KV v2 has no staging: the latest version is what a read returns, so the cas write of the mint was the promote.
    vault: 0,
  },
  readback: { aws: 1, gcp: 1, vault: 1 },
  'verify:whoami': { provider: 1 },
  'revoke:revoke-old': { provider: 1 },
  'verify-revoked:old-rejected': { provider: 1 },
  retire: {
    // Nothing: the old version keeps AWSPREVIOUS (moved there by the promote), AWS's own convention.
    aws: 0,
    // projects.secrets.versions/disable of the old version ("sets the state of the SecretVersion to DISABLED").
    gcp: 1,
    // Nothing without destroyOnRetire: KV v2 keeps old versions until max_versions (10 by default) prunes them.
    // With it, one PUT /:mount/destroy/:path (versions [old]).
    vault: 0,
  },
  'audit:activity': { provider: 1 },
};

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

const TITLE = `Four stores (.env + AWS + GCP + Vault fakes, ${LATENCY_MS} ms a call): rotation wall time / the protocol's minimum dependent round trips`;

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
    const calls = await takeCalls();
    if (process.env.BENCH_TRACE) {
      const t0 = Math.min(...[...windows.values()].map((w) => w.start), ...calls.map((c) => c.start));
      const rows = [
        ...[...windows.values()].map((w) => ({ t: w.start, s: `step ${w.step} ${(w.start - t0).toFixed(1)}..${(w.end - t0).toFixed(1)}` })),
        ...calls.map((c) => ({ t: c.start, s: `   ${c.store} ${c.op} ${(c.start - t0).toFixed(1)}..${(c.end - t0).toFixed(1)}` })),
      ].sort((a, b) => a.t - b.t);
      console.error(rows.map((r) => r.s).join('\n'));
    }
    return { wallMs: summary.ms, fsyncCalls: fsyncs.calls, fsyncMs: fsyncs.ms, ...floorOf([...windows.values()], calls, L) };
  };

  log(`four-store: first (cold) run, loading the AWS, GCP and Vault clients`);
  const cold = await rotate();
  const reps = quick ? 4 : 8;
  log(`four-store: ${reps} runs, ${L} ms per call`);
  // One candidate: nothing to alternate with, but the same warm-up and order statistics.
  const { samples } = await interleave({ candidates: { run: rotate }, reps, warmup: 1 });
  const runs = samples.run;
  const ratio = runs.map((r) => r.wallMs / r.protocolMs);
  const callsRatio = runs.map((r) => r.wallMs / r.callsMs);
  const last = runs.at(-1);
  // Per stage (same stages in every run): median time taken against its floors.
  const stageMs = last.stages.map((_, i) => median(runs.map((r) => r.stages[i]?.ms ?? Number.NaN)));
  const betweenMs = runs.map((r) => r.wallMs - sum(r.stages.map((st) => st.ms)));
  const overheadMs = runs.map((r) => r.wallMs - r.protocolMs);
  const gapStores = [...new Set(runs.flatMap((r) => Object.keys(r.gaps)))];
  const gapMs = Object.fromEntries(gapStores.map((store) => [store, describe(runs.flatMap((r) => r.gaps[store] ?? []))]));
  const headline = describe(ratio, 2);
  // PASS/FAIL on the median as printed (2 decimals).
  const pass = (headline.median ?? Number.NaN) <= TARGET_RATIO;
  /** `store made/minimum` for every store the stage called or has a minimum for; depth shown where calls overlapped. */
  const callsVsMinimum = (st) =>
    [...new Set([...Object.keys(st.calls), ...Object.keys(st.minimum)])]
      .sort((a, b) => STORE_ORDER.indexOf(a) - STORE_ORDER.indexOf(b))
      .map((store) => {
        const c = st.calls[store];
        const made = c === undefined ? 0 : c.ops.length;
        const over = (c?.depth ?? 0) > (st.minimum[store] ?? 0) ? ' ▲' : '';
        return `${store} ${made}${c !== undefined && c.depth !== made ? ` (depth ${c.depth})` : ''}/${st.minimum[store] ?? 0}${over}`;
      })
      .join(', ') || 'no round trip';

  return {
    id: 'four-store',
    title: TITLE,
    target: `ratio ≤ ${TARGET_RATIO}`,
    rows: [
      { measure: "run ms / protocol floor (protocol's minimum round trips × latency)", ...headline, target: `≤ ${TARGET_RATIO}`, pass },
      { measure: 'run ms / floor of the calls rekey made', ...describe(callsRatio, 2), target: '(info)', pass: undefined },
      { measure: 'run ms', ...describe(runs.map((r) => r.wallMs)), target: '(info)', pass: undefined },
      { measure: 'protocol floor ms', ...describe(runs.map((r) => r.protocolMs)), target: '(info)', pass: undefined },
      { measure: 'floor of the calls rekey made ms', ...describe(runs.map((r) => r.callsMs)), target: '(info)', pass: undefined },
      { measure: 'overhead ms (run − protocol floor)', ...describe(overheadMs), target: '(info)', pass: undefined },
      { measure: '  of which dependent calls above the minimum', ...describe(runs.map((r) => r.callsMs - r.protocolMs)), target: '(info)', pass: undefined },
      { measure: '  of which between steps (journal, audit, …)', ...describe(betweenMs), target: '(info)', pass: undefined },
      { measure: '  fsyncSync ms per run', ...describe(runs.map((r) => r.fsyncMs)), target: '(info)', pass: undefined },
    ],
    pass,
    info: {
      latencyMs: L,
      protocolDepth: last.protocolDepth,
      callsDepth: last.callsDepth,
      protocolMinimum: PROTOCOL_MINIMUM,
      callsPerRun: last.callCount,
      fsyncCallsPerRun: median(runs.map((r) => r.fsyncCalls)),
      gapBetweenDependentCallsMs: gapMs,
      stages: last.stages.map((st, i) => ({ ...st, ms: Number(stageMs[i].toFixed(1)) })),
      outsideSteps: last.outside,
      coldRun: {
        runMs: Math.round(cold.wallMs),
        protocolFloorMs: cold.protocolMs,
        ratio: Number((cold.wallMs / cold.protocolMs).toFixed(2)),
        callsFloorMs: cold.callsMs,
        callsRatio: Number((cold.wallMs / cold.callsMs).toFixed(2)),
      },
    },
    notes: [
      `protocol floor = Σ over steps of (provider's minimum + the deepest store's minimum) = ${last.protocolDepth} round trips × ${L} ms = ` +
        `${last.protocolMs} ms (PROTOCOL_MINIMUM in cases/four-store.mjs)`,
      `floor of the calls rekey made = the same sum over the calls' dependent depth = ${last.callsDepth} round trips × ${L} ms = ${last.callsMs} ms; ` +
        `${last.callCount} calls in all; ${median(runs.map((r) => r.fsyncCalls))} fsyncs per run`,
      'per step — calls made/minimum per store (▲: dependent calls above the minimum) → protocol floor (calls floor), median time taken:',
      ...last.stages.map(
        (st, i) =>
          `  ${st.phase.padEnd(8)} ${abbreviate(st.steps)}: ${callsVsMinimum(st)} → floor ${st.protocolDepth * L} ms (calls ${st.callsDepth * L} ms), ` +
          `took ${stageMs[i].toFixed(0)} ms`,
      ),
      `time between a store's dependent calls (client, transport, server framing — beyond the latency): ${Object.entries(gapMs)
        .map(([store, d]) => `${store} ${d.median} ms (n ${d.n})`)
        .join(' · ')}`,
      ...(last.outside.length > 0 ? [`calls outside any step: ${last.outside.join(', ')}`] : []),
      `first (cold) run: ${Math.round(cold.wallMs)} ms vs protocol floor ${cold.protocolMs} ms (ratio ${(cold.wallMs / cold.protocolMs).toFixed(2)}; ` +
        `calls floor ${cold.callsMs} ms, ratio ${(cold.wallMs / cold.callsMs).toFixed(2)}), the SDK imports included`,
    ],
  };
}

/** The order stores are listed in, per step. */
const STORE_ORDER = ['provider', 'aws', 'gcp', 'vault'];

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

/** The protocol's minimum per store for a stage: steps that ran side by side take, per store, the deepest of theirs. */
function minimumOf(steps) {
  /** @type {Record<string, number>} */
  const minimum = {};
  for (const step of steps) {
    const key = step.replace(/:\d+$/, '');
    const table = PROTOCOL_MINIMUM[key];
    if (table === undefined) throw new Error(`four-store: no protocol minimum for the step ${step}: add it to PROTOCOL_MINIMUM`);
    for (const [store, n] of Object.entries(table)) minimum[store] = Math.max(minimum[store] ?? 0, n);
  }
  return minimum;
}

/** A stage's floor in dependent round trips: the provider's, then the deepest store's (stores run side by side). */
function stageDepth(perStore) {
  const provider = perStore['provider'] ?? 0;
  const deepestStore = Math.max(
    0,
    ...Object.entries(perStore)
      .filter(([s]) => s !== 'provider')
      .map(([, n]) => n),
  );
  return provider + deepestStore;
}

/**
 * Group steps into stages (steps that overlap in time ran as one concurrent group), assign calls, and compute both
 * floors: the protocol's (PROTOCOL_MINIMUM) and that of the calls rekey made (their dependent depth).
 */
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
  let protocolDepth = 0;
  let callsDepth = 0;
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
    const minimum = minimumOf(stage.steps);
    const stageCallsDepth = stageDepth(Object.fromEntries(Object.entries(calls).map(([store, c]) => [store, c.depth])));
    const stageProtocolDepth = stageDepth(minimum);
    protocolDepth += stageProtocolDepth;
    callsDepth += stageCallsDepth;
    report.push({
      phase: stage.phase,
      steps: stage.steps,
      calls,
      minimum,
      protocolDepth: stageProtocolDepth,
      callsDepth: stageCallsDepth,
      ms: stage.end - stage.start,
    });
  }
  return {
    gaps,
    protocolDepth,
    protocolMs: protocolDepth * latency,
    callsDepth,
    callsMs: callsDepth * latency,
    callCount: runCalls.length,
    stages: report,
    outside,
  };
}
