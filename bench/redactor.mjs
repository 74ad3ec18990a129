#!/usr/bin/env node
/**
 * Micro-benchmark of the redactor (not a test): `node bench/redactor.mjs` after `npx tsc -p tsconfig.build.json`.
 * `node bench/redactor.mjs path/to/other/redactor.js` measures another build the same way, for a comparison.
 * The scrub runs on every line rekey prints or writes, so its cost per line matters. Ten registered 44-character
 * values, 200-character lines: one clean (the usual case), one holding a value, one holding its base64 in a Basic
 * header. Then the same lines with a fleet's 1,000 values registered (500 keys sharing the `sbx_` prefix, 500 webhook
 * URLs sharing their host and path), plus a line that names that prefix and host, as a fleet's logs do. Prints the
 * median over seven rounds of CPU microseconds per call.
 */
import { randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';

// An optional argument names another build of redactor.js (an older commit's), for a before/after comparison.
const { Redactor } = await import(process.argv[2] === undefined ? '../dist/src/contract/redactor.js' : pathToFileURL(process.argv[2]).href);

const values = Array.from({ length: 10 }, () => `sbx_${randomBytes(20).toString('hex')}`);
const redactor = new Redactor();
for (const value of values) redactor.add(value);
const fleet = new Redactor();
for (const value of values) fleet.add(value);
for (let i = 0; i < 490; i++) fleet.add(`sbx_${randomBytes(20).toString('hex')}`);
// Webhook URLs are registered whole (src/contract/redactor.ts): all 500 start with the same public host and path.
for (let i = 0; i < 500; i++) fleet.add(`https://hooks.example.com/services/T0/B${i}/${randomBytes(12).toString('hex')}`);

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

const fleetLines = {
  ...lines,
  'naming sbx_ keys': pad(
    `2026-12-02T10:00:00Z info minted sbx_…a1b2 and sbx_…c3d4, retired sbx_…e5f6 (sbx_7362), posted to https://hooks.example.com/services/…`,
  ),
};
for (const [who, scrubber, table] of [
  ['10 values', redactor, lines],
  ['1,000 values', fleet, fleetLines],
]) {
  for (const [name, text] of Object.entries(table)) {
    const scrub = measure((t) => scrubber.scrub(t), text);
    const leaks = measure((t) => scrubber.leaks(t), text);
    process.stdout.write(
      `${who.padEnd(13)} ${name.padEnd(26)} scrub ${scrub.toFixed(2).padStart(7)} µs/line · leaks ${leaks.toFixed(2).padStart(7)} µs/line\n`,
    );
  }
}
