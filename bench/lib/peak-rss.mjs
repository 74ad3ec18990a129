/**
 * Preload for `node --import ./bench/lib/peak-rss.mjs …`: when the process exits, writes its peak resident set size
 * (process.resourceUsage().maxRSS, in kilobytes) and its CPU time in ms to the file named by BENCH_PEAK_RSS. For the fleet case, which asks
 * how much memory one `rekey rotate --due` over a thousand credentials takes at its worst, not at its end.
 */
import { writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

const out = process.env['BENCH_PEAK_RSS'];
if (out !== undefined && out !== '') {
  // Beside it, the CPU time the process used (user + system, ms): against the wall time, it tells a run that waits
  // (for the network, the disk or a core of a loaded machine) from one that computes.
  process.on('exit', () => {
    const usage = process.resourceUsage();
    // Then the share of the process's life its main thread was busy (event loop utilisation): near 1, the main thread
    // is what bounds the run; far below, it waits (for the network, the disk, the write quota).
    const busy = performance.eventLoopUtilization().utilization;
    writeFileSync(out, `${usage.maxRSS} ${Math.round((usage.userCPUTime + usage.systemCPUTime) / 1000)} ${busy.toFixed(2)}\n`);
  });
}
