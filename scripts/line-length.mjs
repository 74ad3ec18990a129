#!/usr/bin/env node
/**
 * The line-length check `npm run lint` runs after Biome: Biome's formatter has a line width but its linter has no rule for
 * it, and the tree is not formatted as a whole. Every tracked source line (TypeScript and JavaScript under src, adapters,
 * test, bench and scripts) must fit in MAX_COLUMNS characters, so that it fits a reader's screen beside another file.
 * Exits 0 when every line fits, 1 listing each `file:line (length)` that does not.
 *
 *   node scripts/line-length.mjs            # the whole tree, as CI runs it
 *   node scripts/line-length.mjs src/a.ts   # only the files named
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** The widest a source line may be, counted in characters (code points), as a reader's screen shows them. */
const MAX_COLUMNS = 160;
const SOURCE = /^(src|adapters|test|bench|scripts)\/.*\.(ts|mts|cts|js|mjs|cjs)$/;

/** The tracked source files, or the files named on the command line. */
function files(args) {
  if (args.length > 0) return args;
  // git's own list keeps untracked caches (bench/.cache, scripts/.cache) and build output out of the check.
  const tracked = execFileSync('git', ['ls-files', '-z'], { encoding: 'utf8' }).split('\0');
  return tracked.filter((file) => SOURCE.test(file));
}

const long = [];
for (const file of files(process.argv.slice(2))) {
  readFileSync(file, 'utf8')
    .split('\n')
    .forEach((line, i) => {
      const length = [...line].length;
      if (length > MAX_COLUMNS) long.push(`${file}:${i + 1} (${length})`);
    });
}
if (long.length > 0) {
  process.stderr.write(`${long.join('\n')}\n${long.length} line(s) longer than ${MAX_COLUMNS} characters: wrap them.\n`);
  process.exit(1);
}
