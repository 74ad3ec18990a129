/**
 * Preload for `node --import ./bench/lib/peak-rss.mjs …`: when the process exits, writes its peak resident set size
 * (process.resourceUsage().maxRSS, in kilobytes) to the file named by BENCH_PEAK_RSS. For the fleet case, which asks
 * how much memory one `rekey rotate --due` over a thousand credentials takes at its worst, not at its end.
 */
import { writeFileSync } from 'node:fs';

const out = process.env['BENCH_PEAK_RSS'];
if (out !== undefined && out !== '') {
  process.on('exit', () => writeFileSync(out, `${process.resourceUsage().maxRSS}\n`));
}
