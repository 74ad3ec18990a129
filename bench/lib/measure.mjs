/**
 * Measuring helpers shared by the benchmark cases: order statistics, interleaved side-by-side rounds, and timed
 * child processes. Every case compares candidates measured in the same run, never against a number from elsewhere.
 */
import { spawn } from 'node:child_process';

/** The median of a list of numbers (the mean of the two middle values for an even count). */
export function median(values) {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** A quantile by nearest rank (p90 → quantile(values, 0.9)). */
export function quantile(values, q) {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
  return sorted[rank - 1];
}

export const p90 = (values) => quantile(values, 0.9);

/** Median, p90, min and count of a sample, rounded for the report. */
export function describe(values, digits = 1) {
  const round = (x) => (Number.isFinite(x) ? Number(x.toFixed(digits)) : null);
  return { median: round(median(values)), p90: round(p90(values)), min: round(Math.min(...values)), n: values.length };
}

/**
 * Run candidates side by side: `warmup` rounds (discarded), then `reps` rounds, each round running every candidate
 * once. The order rotates from round to round (A B C, B C A, C A B, …) so that no candidate always runs right after
 * the same neighbour; with two candidates that is A B, B A, A B… Returns, per candidate, the values its function
 * resolved with (a number of ms, or an object the case reads), and per round the values side by side, so that a case
 * can take paired differences (candidate − baseline of the same round) which cancel slow drift of the machine.
 */
/**
 * @param {{ candidates: Record<string, (warmup: boolean) => Promise<any>>, reps: number, warmup?: number,
 *   onRound?: (round: number, warmup: boolean) => void }} options
 */
export async function interleave({ candidates, reps, warmup = 2, onRound }) {
  const names = Object.keys(candidates);
  /** @type {Record<string, any[]>} */
  const samples = Object.fromEntries(names.map((n) => [n, []]));
  /** @type {Record<string, any>[]} */
  const rounds = [];
  for (let r = 0; r < warmup + reps; r++) {
    /** @type {Record<string, any>} */
    const round = {};
    for (let k = 0; k < names.length; k++) {
      const name = names[(r + k) % names.length];
      round[name] = await candidates[name](r < warmup);
    }
    if (r >= warmup) {
      for (const n of names) samples[n].push(round[n]);
      rounds.push(round);
    }
    onRound?.(r, r < warmup);
  }
  return { samples, rounds };
}

/**
 * Spawn a process and time it from spawn() to its exit (stdio drained), in ms. Asynchronous on purpose: a sandbox
 * or fake server living in this process must keep answering while the child runs.
 * @param {string} command
 * @param {readonly string[]} args
 * @param {{ cwd?: string, env?: NodeJS.ProcessEnv, input?: string }} [options]
 */
export function timeSpawn(command, args, { cwd, env, input } = {}) {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(command, args, { cwd, env: env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out = [];
    const err = [];
    child.stdout.on('data', (chunk) => out.push(chunk));
    child.stderr.on('data', (chunk) => err.push(chunk));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      resolve({ ms, code, signal, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    });
    child.stdin.end(input ?? '');
  });
}

/** Like timeSpawn, but throws (with the child's stderr) when the process does not exit 0. */
export async function timeSpawnOk(command, args, options) {
  const result = await timeSpawn(command, args, options);
  if (result.code !== 0) {
    const tail = (result.stderr || result.stdout).trim().split('\n').slice(-8).join('\n');
    throw new Error(`${[command, ...args].join(' ')} exited ${result.code ?? result.signal}:\n${tail}`);
  }
  return result;
}

export const sum = (values) => values.reduce((a, b) => a + b, 0);

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
