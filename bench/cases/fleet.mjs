/**
 * Case 5, the fleet: N credentials, each held in one AWS Secrets Manager secret (a field of a JSON secret), rotated by
 * one `rekey --json rotate --due` process (its default concurrency) against the wire-level fake enforcing the region's
 * write quota, 50 writes a second shared by every writer (excess answered ThrottlingException), and the sandbox
 * provider; both answer every call after LATENCY_MS (lib/fleet-servers.mjs, a process of their own).
 *
 * Floor: the rotation protocol's minimum writes, 2 per credential (PutSecretValue with AWSPENDING, one
 * UpdateSecretVersionStage moving AWSCURRENT), at 50 a second: 1,000 credentials → 40 s. Not the writes rekey
 * makes, so that a redundant write raises the ratio instead of the floor. Targets at 1,000: process wall time ≤ 1.1 ×
 * floor, 0 failures, peak RSS ≤ 150 MB. Also run at 10 and 100 (where the latency chain of one rotation, not the
 * quota, bounds the time: their ratios are for information), and a second run at the largest size over the first
 * run's journals, so that what grows with the history shows.
 *
 * Also reported per run: the calls and writes per rotation by operation, the throttled writes, the TCP connections the
 * fake accepted (one client per endpoint keeps that near the concurrency; one per credential opens one each), and the
 * seconds by the run's own clock (the tally) beside the process's.
 */
import { fork } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fakesOutUrl, missing, transpileFakes } from '../lib/fakes.mjs';
import { childEnv, cliPath, distUrl, ndjson, tempFolder } from '../lib/fixtures.mjs';
import { timeSpawn } from '../lib/measure.mjs';

export const LATENCY_MS = 20;
export const WRITES_PER_SECOND = 50;
/** The protocol's minimum writes per rotation (see the top of this file). */
export const PROTOCOL_WRITES = 2;
export const TARGET_RATIO = 1.1;
export const TARGET_RSS_MB = 150;

const REQUIRED = ['test/fakes/aws-secrets-manager-server.ts', 'test/fakes/aws-secrets-manager-model.ts', 'dist/adapters/stores/aws-secrets-manager/index.js'];
const TITLE = `Fleet (rotate --due, one AWS secret each, fake at ${WRITES_PER_SECOND} writes/s, ${LATENCY_MS} ms a call): wall time / protocol's write floor`;

export async function fleet({ quick, log }) {
  const absent = missing(REQUIRED);
  if (absent.length > 0) return { id: 'fleet', title: TITLE, skipped: `not there yet: ${absent.join(', ')}` };
  await transpileFakes();
  const sizes = quick ? [10, 100] : [10, 100, 1000];
  const runs = [];
  for (const size of sizes) {
    const servers = await startServers(size);
    try {
      const folder = tempFolder(`fleet-${size}`);
      writeConfig(folder, size, servers.ready);
      log(`fleet: ${size} credentials, first run`);
      runs.push({ size, history: 'none', ...(await rotateDue(folder, size, servers)) });
      if (size === sizes.at(-1)) {
        log(`fleet: ${size} credentials again, over the first run's journals`);
        // Minutes after the first: the 10-minute guard would skip every one (src/engine/recent.ts), so allowed on purpose.
        runs.push({ size, history: `${size} runs`, ...(await rotateDue(folder, size, servers, ['--allow-recent'])) });
      }
    } finally {
      await servers.close();
    }
  }
  const largest = runs.filter((r) => r.size === sizes.at(-1));
  const headline = largest[0];
  const gated = sizes.at(-1) === 1000;
  const rows = [];
  for (const r of runs) {
    const label = `${r.size}${r.history === 'none' ? '' : ', 2nd run'}`;
    const judged = gated && r.size === 1000;
    rows.push(
      {
        measure: `${label}: wall s / floor s (${r.floorS} s)`,
        median: r.ratio,
        n: 1,
        target: judged ? `≤ ${TARGET_RATIO}` : '(info)',
        pass: judged ? r.ratio <= TARGET_RATIO : undefined,
      },
      { measure: `${label}: failed rotations`, median: r.failed, n: 1, target: judged ? '0' : '(info)', pass: judged ? r.failed === 0 : undefined },
      {
        measure: `${label}: peak RSS MB`,
        median: r.peakRssMb,
        n: 1,
        target: judged ? `≤ ${TARGET_RSS_MB}` : '(info)',
        pass: judged ? r.peakRssMb <= TARGET_RSS_MB : undefined,
      },
    );
  }
  const judgedRows = rows.filter((row) => row.pass !== undefined);
  return {
    id: 'fleet',
    title: TITLE,
    target: gated ? `at 1,000: ratio ≤ ${TARGET_RATIO}, 0 failed, peak RSS ≤ ${TARGET_RSS_MB} MB` : 'informational (--quick: 10 and 100 only)',
    rows,
    pass: gated ? judgedRows.every((row) => row.pass) : true,
    info: { latencyMs: LATENCY_MS, writesPerSecond: WRITES_PER_SECOND, protocolWrites: PROTOCOL_WRITES, runs },
    notes: [
      `floor = credentials × ${PROTOCOL_WRITES} writes ÷ ${WRITES_PER_SECOND}/s (the protocol's minimum, not the writes rekey makes)`,
      ...runs.map(
        (r) =>
          `${r.size}${r.history === 'none' ? '' : ' (2nd run, over the history)'}: ${r.wallS} s process ` +
          `(CPU ${r.cpuS} s, main thread busy ${Math.round(r.mainBusy * 100)}%), ${r.runS} s by the tally; ` +
          `first run began at ${r.beforeS} s, the last ended ${r.afterS} s before exit; rotated ${r.rotated}, ` +
          `failed ${r.failed}; per rotation ${r.callsPer} AWS calls, ${r.writesPer} writes (${r.opsPer}), ${r.providerPer} provider calls; ` +
          `${r.throttled} writes throttled; ${r.connections} connections accepted; peak RSS ${r.peakRssMb} MB`,
      ),
      ...(headline === undefined || largest.length < 2
        ? []
        : [
            `second run over ${headline.size} journals: ${largest[1].wallS} s vs ${headline.wallS} s ` +
              `(${(largest[1].wallS - headline.wallS).toFixed(1)} s of difference)`,
          ]),
    ],
  };
}

/** The sandbox and the AWS fake in a process of their own, seeded with `size` secrets. */
async function startServers(size) {
  const child = fork(
    fileURLToPath(new URL('../lib/fleet-servers.mjs', import.meta.url)),
    [fakesOutUrl, distUrl('src/sandbox/server.js'), String(LATENCY_MS), String(WRITES_PER_SECOND), String(size)],
    { env: childEnv(), stdio: ['ignore', 'inherit', 'inherit', 'ipc'] },
  );
  const replies = [];
  const waiting = [];
  child.on('message', (message) => (waiting.length > 0 ? waiting.shift()(message) : replies.push(message)));
  const exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  const next = () =>
    replies.length > 0
      ? Promise.resolve(replies.shift())
      : Promise.race([
          new Promise((resolve) => waiting.push(resolve)),
          exited.then((code) => Promise.reject(new Error(`the fleet's fake servers exited (${code})`))),
        ]);
  const ready = await next();
  return {
    ready,
    async stats() {
      child.send({ type: 'stats' });
      return next();
    },
    async close() {
      if (child.exitCode === null && child.connected) child.send({ type: 'close' });
      const timer = setTimeout(() => child.kill(), 3000);
      await exited;
      clearTimeout(timer);
    },
  };
}

function writeConfig(folder, size, ready) {
  const yaml = ['credentials:'];
  for (let i = 1; i <= size; i++) {
    const id = `c${String(i).padStart(4, '0')}`;
    yaml.push(
      `  ${id}:`,
      '    runbook: sandbox',
      `    inputs: { baseUrl: ${ready.sandboxUrl}, account: ${id} }`,
      '    stores:',
      `      - aws-secrets-manager: fleet/${id}#API_KEY`,
      '        region: us-east-1',
      `        endpoint: ${ready.awsUrl}`,
      '    policy: { maxAge: 30d, budget: 10m }',
    );
  }
  writeFileSync(join(folder, 'rekey.yaml'), `${yaml.join('\n')}\n`, { mode: 0o600 });
}

/** One `rekey --json rotate --due` over the folder's credentials, with what the fake counted meanwhile. */
async function rotateDue(folder, size, servers, extra = []) {
  const rssFile = join(folder, 'peak-rss.txt');
  const env = childEnv({
    AWS_ACCESS_KEY_ID: 'FAKEREKEYBENCH000001',
    AWS_SECRET_ACCESS_KEY: 'bench-secret-access-key',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    BENCH_PEAK_RSS: rssFile,
  });
  await servers.stats();
  const preload = fileURLToPath(new URL('../lib/peak-rss.mjs', import.meta.url));
  // BENCH_CPU_PROF=<folder>: a V8 CPU profile of each rekey process, for finding where its CPU goes.
  const profile = process.env['BENCH_CPU_PROF'] ? ['--cpu-prof', `--cpu-prof-dir=${process.env['BENCH_CPU_PROF']}`] : [];
  // BENCH_NODE_FLAGS="--max-semi-space-size=4 …": node flags for each rekey process, for finding where its memory goes.
  profile.push(...(process.env['BENCH_NODE_FLAGS'] ?? '').split(' ').filter((flag) => flag !== ''));
  const spawnedAt = Date.now();
  const r = await timeSpawn(process.execPath, [...profile, '--import', preload, cliPath, '--json', 'rotate', '--due', ...extra], { cwd: folder, env });
  const stats = await servers.stats();
  const events = ndjson(r.stdout);
  const tally = events.findLast((e) => e.event === 'tally');
  if (tally === undefined) throw new Error(`rekey rotate --due exited ${r.code} without a tally: ${(r.stderr || r.stdout).trim().slice(-800)}`);
  const floorS = (size * PROTOCOL_WRITES) / WRITES_PER_SECOND;
  const wallS = r.ms / 1000;
  const writes = (stats.byOperation.PutSecretValue ?? 0) + (stats.byOperation.UpdateSecretVersionStage ?? 0);
  const per = (n) => Number((n / size).toFixed(2));
  const usage = readFileSync(rssFile, 'utf8').trim().split(' ');
  const firstError = events.find((e) => e.event === 'error' || e.event === 'step.failed');
  // Where the process's time went outside the rotations: before the first run began (start-up, the config, --due's
  // reads of every store) and after the last one ended (the tally, closing clients).
  const times = (name) => events.filter((e) => e.event === name && typeof e.time === 'string').map((e) => Date.parse(e.time));
  const firstStart = Math.min(...times('run.started'));
  const lastEnd = Math.max(...times('run.finished'));
  return {
    exit: r.code,
    wallS: Number(wallS.toFixed(1)),
    runS: tally.seconds,
    floorS,
    ratio: Number((wallS / floorS).toFixed(2)),
    rotated: tally.rotated,
    failed: tally.failed.total,
    skipped: tally.skipped.total,
    firstFailure: firstError === undefined ? undefined : JSON.stringify(firstError).slice(0, 300),
    callsPer: per(stats.requests),
    writesPer: per(writes),
    opsPer: Object.entries(stats.byOperation)
      .map(([op, n]) => `${op} ${per(n)}`)
      .join(', '),
    providerPer: per(stats.provider),
    throttled: stats.throttled,
    connections: stats.connections.accepted,
    peakRssMb: Math.round(Number(usage[0]) / 1024),
    cpuS: Number((Number(usage[1]) / 1000).toFixed(1)),
    mainBusy: Number(usage[2]),
    beforeS: Number(((firstStart - spawnedAt) / 1000).toFixed(2)),
    afterS: Number(((spawnedAt + r.ms - lastEnd) / 1000).toFixed(2)),
  };
}
