/**
 * The end-to-end tests run the BUILT CLI (dist/), so a dist/ older than the sources would test yesterday's code and
 * pass or fail for the wrong reason. Every test file under test/e2e/ checks first (a setup file, so that a unit test
 * run alone never needs a build): the newest source under src/ and adapters/ (what tsc compiles) must not be newer than
 * the newest file in dist/. runbooks/ is not compared: the CLI reads runbooks from there at run time, never from dist/.
 * `npm test` builds first, so this only stops a `npx vitest run test/e2e/…` after an edit without a build.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** The newest modification time of the files under `dir` whose names end with `suffix` (0 when there are none). */
function newest(dir: string, suffix: string): number {
  if (!existsSync(dir)) return 0;
  let latest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile() || !entry.name.endsWith(suffix)) continue;
    latest = Math.max(latest, statSync(join(entry.parentPath, entry.name)).mtimeMs);
  }
  return latest;
}

/** Why dist/ cannot be trusted for `roots` (relative to the repository), or undefined when it is fresh. */
export function staleDist(root = ROOT, roots: readonly string[] = ['src', 'adapters']): string | undefined {
  const built = newest(join(root, 'dist'), '.js');
  if (built === 0) return 'dist/ is missing: run npm run build';
  const source = Math.max(...roots.map((dir) => newest(join(root, dir), '.ts')));
  return source > built ? 'dist/ is older than the sources: run npm run build' : undefined;
}

// biome-ignore lint/correctness/noEmptyPattern: vitest requires a destructuring pattern for the (unused) context; the file is the second argument.
beforeAll(({}, suite) => {
  const file = 'filepath' in suite ? String(suite.filepath) : '';
  if (!file.includes(`${sep}test${sep}e2e${sep}`)) return;
  const problem = staleDist();
  if (problem !== undefined) throw new Error(problem);
});
