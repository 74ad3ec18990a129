/**
 * The rules in .dependency-cruiser.cjs, as a specification: each named rule reports the wrong-way import it exists
 * for (a small project written into a temporary folder, checked with the repository's own rule file), and the
 * repository itself breaks none of them. `npm run deps` runs the same check in CI.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '../..');
const CRUISER = join(ROOT, 'node_modules/dependency-cruiser/bin/dependency-cruise.mjs');

interface Violation {
  readonly rule: { readonly name: string };
  readonly from: string;
  readonly to: string;
}

/** The violations dependency-cruiser reports for `paths`, run in `cwd` with the repository's rule file. */
function violations(cwd: string, paths: string[]): Violation[] {
  const result = spawnSync(process.execPath, [CRUISER, ...paths, '--config', join(ROOT, '.dependency-cruiser.cjs'), '--output-type', 'json'], {
    cwd,
    encoding: 'utf8',
    // The whole repository's report is over 1 MB, spawnSync's default cap (a truncated report reads as bad JSON).
    maxBuffer: 64 * 1024 * 1024,
  });
  expect(result.stdout, result.stderr).not.toBe('');
  return (JSON.parse(result.stdout) as { summary: { violations: Violation[] } }).summary.violations;
}

describe('each dependency rule reports the import it forbids', () => {
  let dir: string;
  // One module per wrong-way import, each named after the rule it must break.
  const files: Record<string, string> = {
    'adapters/stores/index.ts': 'export const kinds = [];\n',
    'src/config/types.ts': 'export type Config = { file: string };\n',
    'src/config/find.ts': 'export const find = 1;\n',
    'src/ui/style.ts': 'export const style = 1;\n',
    'src/cli/common.ts': 'export const common = 1;\n',
    'src/cli/other.ts': "import { common } from './common.js';\nexport const other = common;\n",
    'src/engine/to-adapters.ts': "import { kinds } from '../../adapters/stores/index.js';\nexport const a = kinds;\n",
    'src/config/to-adapters.ts': "export const load = () => import('../../adapters/stores/index.js');\n",
    'src/runbook/to-config.ts': "import type { Config } from '../config/types.js';\nexport type R = Config;\n",
    'src/util/to-config.ts': "export const load = () => import('../config/find.js');\n",
    'src/engine/to-ui.ts': "import { style } from '../ui/style.js';\nexport const s = style;\n",
    'src/engine/to-cli.ts': "import { common } from '../cli/common.js';\nexport const c = common;\n",
    'src/report/to-cli.ts': "import { common } from '../cli/common.js';\nexport const c = common;\n",
    'src/util/cycle-a.ts': "import { b } from './cycle-b.js';\nexport const a = () => b;\n",
    'src/util/cycle-b.ts': "import { a } from './cycle-a.js';\nexport const b = () => a;\n",
    'src/cli/main.ts': "import { other } from './other.js';\nexport const main = other;\n",
    'src/util/unresolvable.ts': "import { x } from './nowhere.js';\nexport const u = x;\n",
  };

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'rekey-deps-rules-'));
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(dirname(join(dir, path)), { recursive: true });
      writeFileSync(join(dir, path), text);
    }
    copyFileSync(join(ROOT, 'tsconfig.json'), join(dir, 'tsconfig.json'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('names the rule and the import, lazy and type-only imports included', () => {
    const found = violations(dir, ['src', 'adapters']).map((v) => `${v.rule.name}: ${v.from} -> ${v.to}`);
    expect(found).toEqual(
      expect.arrayContaining([
        'engine-and-config-not-to-adapters: src/engine/to-adapters.ts -> adapters/stores/index.ts',
        'engine-and-config-not-to-adapters: src/config/to-adapters.ts -> adapters/stores/index.ts',
        'runbook-not-to-config: src/runbook/to-config.ts -> src/config/types.ts',
        'util-not-to-config: src/util/to-config.ts -> src/config/find.ts',
        'engine-not-to-ui-or-cli: src/engine/to-ui.ts -> src/ui/style.ts',
        'engine-not-to-ui-or-cli: src/engine/to-cli.ts -> src/cli/common.ts',
        'only-cli-to-cli: src/report/to-cli.ts -> src/cli/common.ts',
        'only-cli-to-cli: src/engine/to-cli.ts -> src/cli/common.ts',
        'cli-main-loads-only-the-parser: src/cli/main.ts -> src/cli/other.ts',
        'not-to-unresolvable: src/util/unresolvable.ts -> ./nowhere.js',
      ]),
    );
    expect(found.filter((v) => v.startsWith('no-cycles: src/util/cycle-')).length).toBeGreaterThan(0);
    // The CLI importing itself is its own business: no rule names it.
    expect(found.filter((v) => v.includes('src/cli/other.ts -> src/cli/common.ts'))).toEqual([]);
  });

  // The whole repository takes a few seconds to cruise, more on a loaded machine.
  it('the repository breaks none of them', () => {
    expect(violations(ROOT, ['src', 'adapters', 'test', 'bench'])).toEqual([]);
  }, 120_000);

  // The cruiser does not follow createRequire(): what the entry point requires that way is checked here instead.
  it('the entry point requires commander only, the one module it may load that the cruiser cannot see', () => {
    const main = readFileSync(join(ROOT, 'src/cli/main.ts'), 'utf8');
    const required = [...main.matchAll(/createRequire\([^)]*\)\(\s*(['"`])([^'"`]+)\1/g)].map((m) => m[2]);
    expect(required).toEqual(['commander']);
    // Every createRequire() there is applied to a name written out, so none can load something else unseen.
    expect(main.match(/createRequire\(/g)?.length).toBe(required.length);
    expect(main).not.toMatch(/\brequire\(/);
  });
});
