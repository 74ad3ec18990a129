/**
 * keepHeapSmall (src/util/heap.ts): the young generation stays at its initial size in a process that allocates a lot,
 * unless node was given a heap flag of its own. Each case is a fresh node process, since V8 flags are per process.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { nodeHasHeapFlags } from '../../src/util/heap.js';

// The built module: node runs the child, and node 20 does not run TypeScript (`npm test` builds first).
const MODULE = fileURLToPath(new URL('../../dist/src/util/heap.js', import.meta.url));

// Allocates ~200 MB in short-lived objects while keeping some alive (as in-flight rotations do), then prints the
// young generation's size in MB.
const SCRIPT = `
  const { keepHeapSmall } = await import(process.argv[1]);
  const v8 = await import('node:v8');
  keepHeapSmall();
  const keep = [];
  for (let i = 0; i < 2e6; i++) { const o = { i, s: 'x' + i, a: [i] }; if (i % 10 === 0) keep.push(o); if (keep.length > 20000) keep.length = 0; }
  const young = v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
  console.log(young.space_size / 1048576);
`;

function youngGenerationMb(nodeFlags: string[], env: Record<string, string> = {}): number {
  if (!existsSync(MODULE)) throw new Error(`build first: npx tsc -p tsconfig.build.json (${MODULE} is missing)`);
  const r = spawnSync(process.execPath, [...nodeFlags, '--input-type=module', '-e', SCRIPT, MODULE], {
    encoding: 'utf8',
    env: { ...process.env, NODE_OPTIONS: '', ...env },
  });
  if (r.status !== 0) throw new Error(`the child failed (${r.status}): ${r.stderr}`);
  return Number(r.stdout.trim());
}

describe('keepHeapSmall', () => {
  it('keeps the young generation at its initial few MB where V8 would grow it to 32 MB', () => {
    expect(youngGenerationMb([])).toBeLessThanOrEqual(4);
  });

  it("leaves a person's own heap flags alone (NODE_OPTIONS or node's command line)", () => {
    expect(youngGenerationMb(['--max-semi-space-size=16'])).toBeGreaterThan(8);
    expect(youngGenerationMb([], { NODE_OPTIONS: '--max-old-space-size=512' })).toBeGreaterThan(8);
    // V8 reads `_` as `-` in flag names, and manifests often spell them so.
    expect(youngGenerationMb(['--max_semi_space_size=16'])).toBeGreaterThan(8);
  });

  it('knows the heap flags in either spelling, and no other flag', () => {
    for (const flag of [
      '--max-old-space-size=512',
      '--max_old_space_size=512',
      '--max-semi-space-size=16',
      '--min_semi_space_size=4',
      '--initial-heap-size=64',
      '--max-heap-size=256',
      '--semi_space_growth_factor=4',
      '--heap-growing-percent=50',
      '--optimize-for-size',
    ]) {
      expect(nodeHasHeapFlags([], flag), flag).toBe(true);
      expect(nodeHasHeapFlags([flag], ''), flag).toBe(true);
    }
    for (const flag of ['--enable-source-maps', '--max-http-header-size=16384', '--stack-size=2000', '--heapsnapshot-signal=SIGUSR2', '--max-old-space'])
      expect(nodeHasHeapFlags([flag], ''), flag).toBe(false);
  });
});
