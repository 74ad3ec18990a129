/**
 * A smaller heap for the long runs: `rekey rotate` over a fleet keeps dozens of rotations in flight for minutes, and
 * V8's defaults, made for throughput, let the young generation grow to 32 MB and the old one to twice its live size
 * before collecting. In a CronJob or a CI runner with a memory limit that is memory the run never needed; collecting
 * sooner costs CPU of a run that mostly waits on the network and the stores' write quotas. The fleet benchmark
 * (bench/cases/fleet.mjs, 1,000 rotations): peak RSS 175 → 114 MB, the process's CPU 25 → 31–34 s, the wall time
 * unchanged (42.8 s). Nearly all of it is the young generation's: the old one's limit alone gave 155 MB.
 *
 * Set at run time with v8.setFlagsFromString: node takes V8 flags on its command line only, and a bin's shebang cannot
 * carry them portably (`env -S` is missing from busybox, Alpine's env). Both flags are read where V8 decides, not at
 * start-up: how far the young generation grows (`semi-space-growth-factor`; 1 keeps it at its initial 1 MB halves)
 * and how far the old one may grow past what the last full collection kept (`heap-growing-percent`). Flags given to
 * node by the person (NODE_OPTIONS, the command line) win: nothing is set when either names a heap size or these.
 */
import { setFlagsFromString } from 'node:v8';

/**
 * Flags that size the heap or steer its collection: `--max-old-space-size`, `--max-semi-space-size`,
 * `--initial-heap-size`, … and the two set here. V8 takes `_` for `-` in every flag name (`--max_old_space_size`).
 */
const THEIRS = /--(?:[a-z-]*(?:space|heap)-size|semi-space-growth-factor|heap-growing-percent|optimize-for-size)(?![a-z-])/;

/** Whether node was given a heap flag of its own: on its command line, or in NODE_OPTIONS. */
export function nodeHasHeapFlags(execArgv: readonly string[] = process.execArgv, nodeOptions = process.env['NODE_OPTIONS'] ?? ''): boolean {
  return THEIRS.test(`${execArgv.join(' ')} ${nodeOptions}`.replaceAll('_', '-'));
}

/** Keep the heap close to what the run holds, unless node was told otherwise. Idempotent. */
export function keepHeapSmall(): void {
  if (nodeHasHeapFlags()) return;
  setFlagsFromString('--semi-space-growth-factor=1');
  setFlagsFromString('--heap-growing-percent=30');
}
