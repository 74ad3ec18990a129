#!/usr/bin/env node
/**
 * Micro-benchmark of the redactor (not a test): `node bench/redactor.mjs` after `npx tsc -p tsconfig.build.json`.
 * `node bench/redactor.mjs path/to/other/redactor.js` measures another build the same way, for a comparison.
 * The scrub runs on every line rekey prints or writes, so its cost per line matters. Ten registered 44-character
 * values, 200-character lines: one clean (the usual case), one holding a value, one holding its base64 in a Basic
 * header. Prints the median over seven rounds of CPU microseconds per call.
 */
import { randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';

// An optional argument names another build of redactor.js (an older commit's), for a before/after comparison.
const { Redactor } = await import(process.argv[2] === undefined ? '../dist/src/contract/redactor.js' : pathToFileURL(process.argv[2]).href);

const values = Array.from({ length: 10 }, () => `sbx_${randomBytes(20).toString('hex')}`);
const redactor = new Redactor();
for (const value of values) redactor.add(value);

const pad = (text) => (text + ' ordinary log text, status 200, 12 ms, request id 7f3a9c'.repeat(5)).slice(0, 200);
const lines = {
  clean: pad('2026-12-02T10:00:00Z info restart workers: exit 0 after 2 attempts, pid 4242,'),
  'with a value': pad(`2026-12-02T10:00:00Z error cannot use key ${values[7]} for`),
  'with base64(user:value)': pad(`> Authorization: Basic ${Buffer.from(`user:${values[3]}`).toString('base64')}`),
};

function measure(fn, text) {
  const rounds = [];
  for (let round = 0; round < 7; round++) {
    const n = 20_000;
    // CPU time of this process, not wall time: on a shared machine, time spent waiting for a core is not the scrub's.
    const started = process.cpuUsage();
    for (let i = 0; i < n; i++) fn(text);
    const used = process.cpuUsage(started);
    rounds.push((used.user + used.system) / n);
  }
  rounds.sort((a, b) => a - b);
  // The first rounds warm the JIT up; the median of all seven is stable enough for a comparison.
  return rounds[3];
}

for (const [name, text] of Object.entries(lines)) {
  const scrub = measure((t) => redactor.scrub(t), text);
  const leaks = measure((t) => redactor.leaks(t), text);
  process.stdout.write(`${name.padEnd(26)} scrub ${scrub.toFixed(2).padStart(6)} µs/line · leaks ${leaks.toFixed(2).padStart(6)} µs/line\n`);
}
