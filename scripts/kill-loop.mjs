#!/usr/bin/env node
/**
 * The full random-kill loop of issue 8 ("Done when"): `rekey rotate` SIGKILLed at random moments and resumed, over and
 * over, across the three overlap kinds with one and three stores, until at least 200 kills have landed; then the counts
 * per kind and kill point, the keys minted per round, every finding and failed check, and the wall time. The CI subset
 * of the same harness is test/e2e/random-kill.test.ts.
 *
 *   npx tsc -p tsconfig.build.json && node scripts/kill-loop.mjs                 # seed from the clock, ≥ 200 kills
 *   node scripts/kill-loop.mjs --seed 20261202 --rounds 150 --min-kills 200 --concurrency 2
 *   node scripts/kill-loop.mjs --seed 20261202 --only 1,14 --verbose           # replay rounds of a failure
 *   node scripts/kill-loop.mjs --plain-mint                                    # mints without Idempotency-Key
 *
 * Exits 0 when every round held every check, 1 when any failed (each failure names its seed and round), 2 on bad
 * arguments or a missing build. The harness (test/e2e/kill-harness.ts) and the store fakes (test/fakes/) are
 * TypeScript: they are transpiled with the installed `typescript` package on each run, the harness into
 * scripts/.cache/ and the fakes by bench/lib/fakes.mjs into bench/.cache/ (Node 20 cannot run .ts itself).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { transpileFakes } from '../bench/lib/fakes.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cli = join(root, 'dist', 'src', 'cli', 'main.js');

/** @returns {never} */
function fail(message) {
  process.stderr.write(`kill-loop: ${message}\n`);
  process.exit(2);
}

let values;
try {
  ({ values } = parseArgs({
    options: {
      seed: { type: 'string' },
      rounds: { type: 'string' },
      'min-kills': { type: 'string' },
      concurrency: { type: 'string' },
      only: { type: 'string' },
      verbose: { type: 'boolean' },
      'plain-mint': { type: 'boolean' },
    },
    strict: true,
    allowPositionals: false,
  }));
} catch (error) {
  fail(/** @type {Error} */ (error).message);
}
const whole = (name, text, fallback, min = 0) => {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < min) fail(`--${name} must be a whole number ≥ ${min}`);
  return value;
};
const seed = whole('seed', values.seed, Date.now() % 2 ** 31);
const rounds = whole('rounds', values.rounds, 150, 1);
const minKills = whole('min-kills', values['min-kills'], 200);
const concurrency = whole('concurrency', values.concurrency, 2, 1);
const only = values.only === undefined ? undefined : values.only.split(',').map((r) => whole('only', r.trim(), 0));
if (!existsSync(cli)) fail(`${cli} is missing: build first with \`npx tsc -p tsconfig.build.json\``);

/** The harness, transpiled: it imports only node: modules at run time, so one file is enough. */
async function loadHarness() {
  const { default: ts } = await import('typescript');
  const source = join(root, 'test', 'e2e', 'kill-harness.ts');
  const { outputText, diagnostics } = ts.transpileModule(readFileSync(source, 'utf8'), {
    fileName: 'kill-harness.ts',
    reportDiagnostics: true,
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: true, isolatedModules: true },
  });
  const errors = (diagnostics ?? []).filter((d) => d.category === ts.DiagnosticCategory.Error);
  if (errors.length > 0) fail(`transpiling ${source}: ${ts.flattenDiagnosticMessageText(errors[0].messageText, '\n')}`);
  const out = join(root, 'scripts', '.cache');
  mkdirSync(out, { recursive: true });
  const file = join(out, 'kill-harness.js');
  writeFileSync(file, outputText);
  return import(pathToFileURL(file).href);
}

const harness = await loadHarness();
const fake = await transpileFakes();
const { start: startAws } = await import(fake('aws-secrets-manager-server'));
const { startVaultServer } = await import(fake('vault-kv-server'));
const { startSandbox } = await import(pathToFileURL(join(root, 'dist', 'src', 'sandbox', 'server.js')).href);

process.stdout.write(
  `random-kill loop: seed ${seed}, ${values['plain-mint'] ? 'mints without Idempotency-Key, ' : ''}` +
    `${only === undefined ? `${rounds} rounds or more until ${minKills} kills` : `rounds ${only.join(', ')}`}, ${concurrency} at a time\n`,
);
let played = 0;
let kills = 0;
const summary = await harness.runKillLoop(
  { startSandbox, startAws, startVault: startVaultServer, cli },
  {
    seed,
    rounds,
    minKills,
    concurrency,
    mint: values['plain-mint'] ? 'plain' : 'idempotent',
    ...(only === undefined ? {} : { only }),
    onRound(result) {
      played++;
      kills += result.kills;
      const bad = result.failures.length > 0 || result.findings.length > 0;
      if (values.verbose || bad) process.stdout.write(`${harness.describeRound(result)}\n`);
      else if (played % 10 === 0) process.stdout.write(`  ${played} rounds, ${kills} kills\n`);
    },
  },
);
process.stdout.write(`\n${harness.formatSummary(summary)}\n`);
process.exit(summary.results.some((r) => r.failures.length > 0 || r.findings.length > 0) ? 1 : 0);
