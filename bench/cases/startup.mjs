/**
 * Case 1, start-up: `rekey --help`, `rekey --version` and `rekey status` (two sandbox credentials, a couple of
 * journals) against a bare `node -e 0`, each a fresh process, spawned side by side in rotating order.
 * The figure is the paired extra time (command − node of the same round), median and p90. Target ≤ 40 ms.
 *
 * For information it also reports what `rekey status` loads (modules per package, from a loader trace) and what
 * the heavy imports cost, each timed by import() in a fresh process.
 */
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startSandbox } from '../lib/dist.mjs';
import { childEnv, cliPath, distUrl, ndjson, tempFolder, writeSandboxConfig } from '../lib/fixtures.mjs';
import { describe, interleave, median, p90, timeSpawn, timeSpawnOk } from '../lib/measure.mjs';

export const TARGET_EXTRA_MS = 40;
/** Journals in the informational "long history" status fixture: about a year of daily runs of three credentials. */
const MANY_JOURNALS = 1000;
/** The fleet status fixture (issue 10): this many credentials, each with this many past runs. */
const FLEET_CREDENTIALS = 1000;
const FLEET_RUNS_EACH = 10;
const FLEET = `rekey status (${FLEET_CREDENTIALS.toLocaleString('en')} credentials, ${(FLEET_CREDENTIALS * FLEET_RUNS_EACH).toLocaleString('en')} runs)`;

export async function startup({ quick, log }) {
  const folder = tempFolder('startup');
  await seedStatusFolder(folder);
  const env = childEnv();
  const node = process.execPath;
  const run = (args) => async () => {
    const r = await timeSpawn(node, args, { cwd: folder, env });
    if (r.code !== 0) throw new Error(`node ${args.join(' ')} exited ${r.code}: ${r.stderr.trim().slice(0, 400)}`);
    return r.ms;
  };
  // rekey caches a validated config (src/config/cache.ts): `status` is measured with that cache warm (the usual
  // case: the warm-up rounds fill it) and, for information, with it removed before every run (first run, or the
  // config or a runbook just changed), which pays YAML and schema validation.
  const manyFolder = tempFolder('startup-many');
  manyJournals(folder, manyFolder);
  const fleetFolder = tempFolder('startup-fleet');
  await fleetHistory(fleetFolder);
  const coldCache = tempFolder('xdg-cold');
  const coldEnv = { ...env, XDG_CACHE_HOME: coldCache };
  const candidates = {
    'node -e 0': run(['-e', '0']),
    'rekey --help': run([cliPath, '--help']),
    'rekey --version': run([cliPath, '--version']),
    'rekey status': run([cliPath, 'status']),
    [`rekey status (${MANY_JOURNALS} journals)`]: async () => {
      const r = await timeSpawn(node, [cliPath, 'status'], { cwd: manyFolder, env });
      if (r.code !== 0) throw new Error(`rekey status exited ${r.code}: ${r.stderr.trim().slice(0, 400)}`);
      return r.ms;
    },
    [FLEET]: async () => {
      const r = await timeSpawn(node, [cliPath, 'status'], { cwd: fleetFolder, env });
      if (r.code !== 0) throw new Error(`rekey status exited ${r.code}: ${r.stderr.trim().slice(0, 400)}`);
      return r.ms;
    },
    [`${FLEET} --offline`]: async () => {
      const r = await timeSpawn(node, [cliPath, 'status', '--offline'], { cwd: fleetFolder, env });
      if (r.code !== 0) throw new Error(`rekey status exited ${r.code}: ${r.stderr.trim().slice(0, 400)}`);
      return r.ms;
    },
    'rekey status (no config cache)': async () => {
      rmSync(join(coldCache, 'rekey'), { recursive: true, force: true });
      const r = await timeSpawn(node, [cliPath, 'status'], { cwd: folder, env: coldEnv });
      if (r.code !== 0) throw new Error(`rekey status exited ${r.code}: ${r.stderr.trim().slice(0, 400)}`);
      return r.ms;
    },
  };
  const informational = new Set(['rekey status (no config cache)', `rekey status (${MANY_JOURNALS} journals)`, `${FLEET} --offline`]);
  const reps = quick ? 8 : 30;
  log(`start-up: ${reps} rounds × ${Object.keys(candidates).length} processes`);
  const { samples, rounds } = await interleave({ candidates, reps, warmup: 3 });

  const rows = [];
  rows.push({ measure: 'node -e 0 (baseline, absolute ms)', ...describe(samples['node -e 0']), target: '—', pass: undefined });
  const extras = {};
  for (const name of Object.keys(candidates).filter((n) => n !== 'node -e 0')) {
    const paired = rounds.map((round) => round[name] - round['node -e 0']);
    extras[name] = paired;
    const d = describe(paired);
    const info = informational.has(name);
    rows.push({
      measure: `${name}: extra ms over node`,
      ...d,
      absolute: describe(samples[name]),
      target: info ? '(info)' : `≤ ${TARGET_EXTRA_MS} ms`,
      pass: info ? undefined : (d.median ?? Number.NaN) <= TARGET_EXTRA_MS,
    });
  }

  log('start-up: what `rekey status` loads');
  const modules = await traceModules(folder, env);
  const fleetModules = await traceModules(fleetFolder, env);
  rmSync(join(coldCache, 'rekey'), { recursive: true, force: true });
  const coldModules = await traceModules(folder, coldEnv);
  const imports = await importCosts(env, quick ? 4 : 8);
  const statusOverHelp = rounds.map((round) => round['rekey status'] - round['rekey --help']);

  return {
    id: 'startup',
    title: 'Start-up: extra ms over a bare `node -e 0` in the same run',
    target: `median extra ≤ ${TARGET_EXTRA_MS} ms for each command`,
    rows,
    pass: rows.every((r) => r.pass !== false),
    info: {
      statusOverHelpMs: describe(statusOverHelp),
      statusModules: modules,
      statusModulesNoConfigCache: coldModules,
      statusModulesFleet: fleetModules,
      importMs: imports,
      fixture: 'two sandbox credentials with dotenv stores, two finished runs (journals + audit log) in .rekey',
      fleetFixture: `${FLEET_CREDENTIALS} sandbox credentials, one .env each, ${FLEET_RUNS_EACH} sealed journals each (some newest runs failed or interrupted)`,
    },
    notes: [
      `status costs ${median(statusOverHelp).toFixed(0)} ms (p90 ${p90(statusOverHelp).toFixed(0)}) more than --help; files it loads: ` +
        `${groupsText(modules)} (without the config cache: ${groupsText(coldModules)})`,
      `${FLEET}: files it loads: ${groupsText(fleetModules)}`,
      `fresh-process import() medians: ${imports.map((i) => `${i.module} ${i.median} ms`).join(' · ')}`,
    ],
  };
}

/**
 * Two sandbox credentials and one finished rotation each, so `status` reads real journals. One at a time: both
 * live in the same .env, and two concurrent rotations of one file make one of them roll back (see the report).
 */
async function seedStatusFolder(folder) {
  const sandbox = await startSandbox();
  try {
    const credentials = [
      { id: 'api-a', account: 'team-a', variable: 'API_A_KEY' },
      { id: 'api-b', account: 'team-b', variable: 'API_B_KEY' },
    ].map((c) => ({ ...c, key: sandbox.mintKey(c.account) }));
    writeSandboxConfig(folder, sandbox.url, credentials);
    const result = await timeSpawnOk(process.execPath, [cliPath, '--json', 'rotate', '--concurrency', '1', 'api-a', 'api-b'], { cwd: folder, env: childEnv() });
    const finished = ndjson(result.stdout).filter((e) => e.event === 'run.finished' && e.result === 'done');
    if (finished.length !== 2) throw new Error(`seeding the status fixture: expected two finished runs, got ${finished.length}`);
  } finally {
    await sandbox.close();
  }
}

/** A copy of the status fixture whose .rekey/runs holds MANY_JOURNALS journals (older copies of the two real ones). */
function manyJournals(from, to) {
  cpSync(from, to, { recursive: true });
  const runs = join(to, '.rekey', 'runs');
  const real = readdirSync(runs).filter((f) => f.endsWith('.jsonl'));
  const texts = real.map((f) => readFileSync(join(runs, f)));
  for (let i = 0; i < MANY_JOURNALS - real.length; i++) {
    // Older run ids (2025-…) sort before the real ones, so the newest runs stay the real ones.
    const day = new Date(Date.UTC(2025, 0, 1) + i * 3_600_000).toISOString().replace(/[-:]/g, '').slice(0, 15);
    writeFileSync(join(runs, `${day}Z-${String(i).padStart(6, '0')}.jsonl`), texts[i % texts.length], { mode: 0o600 });
  }
}

/**
 * A fleet's state folder: FLEET_CREDENTIALS sandbox credentials, one .env each, each with FLEET_RUNS_EACH past runs whose
 * journals are written here as rekey writes them (hash-chained, sealed with this machine's chain key, which the CLI
 * children share), since rotating ten thousand times would take hours. The newest run of every 50th credential failed
 * and of every 70th was interrupted, so status has unfinished runs to look at.
 */
async function fleetHistory(folder) {
  const { sealingKey, seal } = await import(distUrl('src/engine/chain-key.js'));
  const { hashRecord, GENESIS } = await import(distUrl('src/engine/chain-check.js'));
  const key = sealingKey();
  const credentials = Array.from({ length: FLEET_CREDENTIALS }, (_, i) => ({
    id: `fleet-${String(i).padStart(4, '0')}`,
    account: `team-${i}`,
    variable: `FLEET_${i}_KEY`,
    key: `sk_test_${'0'.repeat(24)}${String(i).padStart(8, '0')}`,
  }));
  // One .env per credential: a .env store's describe() reads and parses its file, and a thousand variables in one file
  // would make that a thousand parses of a thousand lines, a cost of the fixture rather than of status.
  mkdirSync(join(folder, 'env'));
  const yaml = ['credentials:'];
  for (const c of credentials) {
    writeFileSync(join(folder, 'env', `${c.id}.env`), `${c.variable}=${c.key}\n`, { mode: 0o600 });
    yaml.push(`  ${c.id}:`, '    runbook: sandbox', '    inputs: { baseUrl: http://127.0.0.1:9, account: bench }');
    yaml.push(`    stores: [{ dotenv: ./env/${c.id}.env#${c.variable} }]`, '    policy: { maxAge: 30d, budget: 5m }');
  }
  writeFileSync(join(folder, 'rekey.yaml'), `${yaml.join('\n')}\n`, { mode: 0o600 });
  const runs = join(folder, '.rekey', 'runs');
  mkdirSync(runs, { recursive: true, mode: 0o700 });
  const stamp = (ms) => new Date(ms).toISOString();
  const idOf = (ms, n) =>
    `${stamp(ms)
      .replace(/[-:]/g, '')
      .replace(/\.\d+Z$/, 'Z')}-${n.toString(16).padStart(6, '0')}`;
  const base = Date.UTC(2026, 0, 1);
  let n = 0;
  for (let j = 0; j < FLEET_RUNS_EACH; j++) {
    for (const [i, credential] of credentials.entries()) {
      const began = base + (j * FLEET_CREDENTIALS + i) * 60_000;
      const newest = j === FLEET_RUNS_EACH - 1;
      const end = newest && i % 70 === 0 ? undefined : newest && i % 50 === 0 ? 'failed' : 'done';
      const events = [
        { type: 'run.started', credential: credential.id, runbook: 'sandbox', overlap: 'until-revoked', mode: 'scheduled', pid: 1, host: 'bench' },
        { type: 'step.started', phase: 'generate', step: 'preflight', kind: 'preflight' },
        { type: 'step.done', phase: 'generate', step: 'preflight', kind: 'preflight', ms: 20 },
        ...(end === undefined ? [] : [{ type: 'run.finished', result: end, ...(end === 'failed' ? { error: 'the sandbox did not answer' } : {}) }]),
      ];
      let prev = GENESIS;
      const lines = events.map((fields, k) => {
        const body = { seq: k + 1, at: stamp(began + k * 1_000), ...fields, prev, ...(key === undefined ? {} : { key: key.id }) };
        const sealed = key === undefined ? body : { ...body, mac: seal(key, JSON.stringify(body)) };
        const record = { ...sealed, hash: hashRecord(sealed) };
        prev = record.hash;
        return `${JSON.stringify(record)}\n`;
      });
      writeFileSync(join(runs, `${idOf(began, n++)}.jsonl`), lines.join(''), { mode: 0o600 });
    }
  }
}

/** Modules `rekey status` loads, grouped by package, from one traced run. */
async function traceModules(folder, env) {
  const traceFile = join(folder, 'module-trace.txt');
  rmSync(traceFile, { force: true });
  const preload = new URL('../lib/module-trace.mjs', import.meta.url).href;
  await timeSpawnOk(process.execPath, ['--import', preload, cliPath, 'status'], { cwd: folder, env: { ...env, BENCH_MODULE_TRACE: traceFile } });
  const urls = new Set(
    readFileSync(traceFile, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => line.slice(line.indexOf(' ') + 1))
      .filter((url) => !url.includes('/bench/lib/')),
  );
  const groups = new Map();
  const rekeyFiles = [];
  for (const url of urls) {
    const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)?.[1];
    const group = pkg ?? (url.includes('/dist/') ? 'rekey' : url.startsWith('file:') ? 'other' : 'builtin');
    groups.set(group, (groups.get(group) ?? 0) + 1);
    if (group === 'rekey') rekeyFiles.push(url.slice(url.indexOf('/dist/') + 6));
  }
  return {
    byGroup: [...groups].map(([group, files]) => ({ group, files })).sort((a, b) => b.files - a.files),
    rekeyModules: rekeyFiles,
  };
}

function groupsText(modules) {
  return modules.byGroup.map((g) => `${g.group} ${g.files}`).join(', ');
}

/** import() time of the packages `status` pulls in, each in a fresh process (median over rounds). */
async function importCosts(env, reps) {
  const targets = {
    commander: import.meta.resolve('commander'),
    yaml: import.meta.resolve('yaml'),
    zod: import.meta.resolve('zod'),
    'rekey config/schema.js (zod + the config schema)': distUrl('src/config/schema.js'),
  };
  const script = new URL('../lib/import-time.mjs', import.meta.url).pathname;
  const candidates = Object.fromEntries(
    Object.entries(targets).map(([name, url]) => [
      name,
      async () => {
        const r = await timeSpawnOk(process.execPath, [script, url], { env });
        return JSON.parse(r.stdout)[url];
      },
    ]),
  );
  const { samples } = await interleave({ candidates, reps, warmup: 1 });
  return Object.entries(samples).map(([module, values]) => ({ module, ...describe(values) }));
}
