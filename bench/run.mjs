#!/usr/bin/env node
/**
 * rekey benchmarks (not tests): `npm run bench` builds, then runs every case here; `node bench/run.mjs [--quick]
 * [case…]` runs some (cases: startup, engine, four-store, drill, fleet, dead). Each case measures its candidates side by side in
 * this one run (interleaved, warm-up discarded, medians and p90), states its target and PASS/FAIL, and the whole run
 * prints a table and writes bench/results.json. It always exits 0: benchmarks inform, they do not gate.
 */
import { writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { deadTimes } from './cases/dead.mjs';
import { drillToolTime } from './cases/drill.mjs';
import { engine } from './cases/engine.mjs';
import { fleet } from './cases/fleet.mjs';
import { fourStore } from './cases/four-store.mjs';
import { startup } from './cases/startup.mjs';
import { assertBuilt, benchDir, cleanup } from './lib/fixtures.mjs';

const cases = {
  startup,
  engine,
  // Slots filled in by other engineers; each resolves with `{ skipped }` until it can run.
  'four-store': fourStore,
  drill: drillToolTime,
  fleet,
  dead: deadTimes,
};

const args = process.argv.slice(2);
const quick = args.includes('--quick') || process.env['BENCH_QUICK'] === '1';
const selected = args.filter((a) => !a.startsWith('--'));
for (const name of selected) {
  if (!(name in cases)) {
    process.stderr.write(`unknown case "${name}"; cases: ${Object.keys(cases).join(', ')}\n`);
    process.exit(0);
  }
}

const log = (message) => process.stderr.write(`· ${message}\n`);
const started = performance.now();
const results = [];
const loadBefore = loadavg();

try {
  assertBuilt();
  for (const [name, run] of Object.entries(cases)) {
    if (selected.length > 0 && !selected.includes(name)) continue;
    const t0 = performance.now();
    try {
      const result = await run({ quick, log });
      results.push({ ...result, seconds: Number(((performance.now() - t0) / 1000).toFixed(1)) });
    } catch (error) {
      results.push({
        id: name,
        title: name,
        error: error instanceof Error ? (error.stack ?? error.message) : String(error),
        seconds: Number(((performance.now() - t0) / 1000).toFixed(1)),
      });
    }
    cleanup();
  }
} catch (error) {
  process.stderr.write(`bench: ${error instanceof Error ? error.message : String(error)}\n`);
} finally {
  cleanup();
}

const totalSeconds = (performance.now() - started) / 1000;
print(results);
const file = join(benchDir, 'results.json');
writeFileSync(
  file,
  `${JSON.stringify(
    {
      generatedAt: new Date().toISOString(),
      node: process.version,
      platform: `${process.platform}-${process.arch}`,
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model,
      loadAverage: { before: loadBefore, after: loadavg() },
      extraCaCerts: process.env['NODE_EXTRA_CA_CERTS'] !== undefined,
      quick,
      totalSeconds: Number(totalSeconds.toFixed(1)),
      cases: results,
    },
    null,
    2,
  )}\n`,
);
process.stdout.write(
  `\nwrote ${file} · ${totalSeconds.toFixed(1)} s · node ${process.version} · ${cpus().length} cpus · load ${loadBefore.map((l) => l.toFixed(2)).join(' ')}\n`,
);
process.exitCode = 0;

function status(result) {
  if (result.error !== undefined) return 'ERROR';
  if (result.skipped !== undefined) return 'SKIPPED';
  return result.pass ? 'PASS' : 'FAIL';
}

function print(all) {
  const out = [];
  for (const r of all) {
    out.push('', `▌ ${r.title}  [${status(r)}]${r.target ? `  target: ${r.target}` : ''}${r.seconds !== undefined ? `  (${r.seconds} s)` : ''}`);
    if (r.error !== undefined) {
      out.push(`  error: ${r.error.split('\n').slice(0, 6).join('\n         ')}`);
      continue;
    }
    if (r.skipped !== undefined) {
      out.push(`  skipped: ${r.skipped}`);
      continue;
    }
    out.push(...table(r.rows));
    for (const note of r.notes ?? []) out.push(`  · ${note}`);
  }
  out.push('', `summary: ${all.map((r) => `${r.id} ${status(r)}`).join(' · ')}`);
  process.stdout.write(`${out.join('\n')}\n`);
}

function table(rows) {
  const head = ['measure', 'median', 'p90', 'min', 'n', 'target', 'result'];
  const body = rows.map((r) => [
    r.measure,
    fmt(r.median),
    fmt(r.p90),
    fmt(r.min),
    String(r.n ?? ''),
    r.target ?? '',
    r.pass === undefined ? 'info' : r.pass ? 'PASS' : 'FAIL',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((row) => row[i].length)));
  const line = (cells) => `  ${cells.map((c, i) => (i >= 1 && i <= 4 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ')}`.trimEnd();
  return [line(head), `  ${widths.map((w) => '─'.repeat(w)).join('  ')}`, ...body.map(line)];
}

function fmt(x) {
  return x === undefined || x === null ? '' : String(x);
}
