/**
 * The package as a user gets it. SLOW (about 20–60 s: npm pack, then npm install of the tarball, whose dependencies
 * come from the registry or npm's cache): the tarball `npm pack` makes from this folder's dist/ (built by `npm test`)
 * is installed into an empty folder outside the repository, and from there `rekey --version` runs from
 * node_modules/.bin, and a consumer script imports the package by its name (`@rekey-cli/rekey`, through package.json
 * `exports`) and rotates a sandbox key with the programmatic API, receiving the same events as `rekey --json rotate`.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Sandbox, startSandbox } from '../../src/sandbox/server.js';
import { envValue, ROOT, rekeyIn, removeWorkspaces, runNode, workspace } from './helpers.js';

const NAME = '@rekey-cli/rekey';
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { name: string; version: string; bin: Record<string, string> };
let dir: string;
let files: string[];
let sandbox: Sandbox;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'rekey-package-'));
  // --ignore-scripts: dist/ is built already (`npm test` builds first); `prepare` would build it again.
  const packed = JSON.parse(
    execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }),
  ) as Array<{ filename: string; files: Array<{ path: string }> }>;
  files = packed[0]!.files.map((f) => f.path);
  const consumer = join(dir, 'consumer');
  execFileSync('mkdir', [consumer]);
  // A consumer's own project, outside the repository: nothing of rekey's node_modules is reachable from here.
  writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  const install = spawnSync('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', join(dir, packed[0]!.filename)], {
    cwd: consumer,
    encoding: 'utf8',
    timeout: 170_000,
  });
  if (install.status !== 0) throw new Error(`npm install of the tarball failed:\n${install.stderr}`);
  sandbox = await startSandbox();
}, 180_000);

afterAll(async () => {
  await sandbox?.close();
  removeWorkspaces();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
}, 120_000);

describe(`the npm package ${NAME} (slow: npm pack + npm install)`, () => {
  it('is named so it can be published (the name rekey is another package) and keeps the rekey bin', () => {
    expect(pkg.name).toBe(NAME);
    expect(Object.keys(pkg.bin)).toEqual(['rekey']);
  });

  it('packs the built CLI, the API with its types, the runbooks and the schema, and no sources or tests', () => {
    expect(files).toEqual(
      expect.arrayContaining([
        'dist/src/cli/main.js',
        'dist/src/api.js',
        'dist/src/api.d.ts',
        'dist/rekey.schema.json',
        'runbooks/sandbox.yaml',
        'package.json',
        'README.md',
        'LICENSE',
      ]),
    );
    expect(files.filter((f) => /^(src|test|adapters)\//.test(f) || f.endsWith('.test.js'))).toEqual([]);
  });

  it('the schema it ships is the one `rekey config schema` prints, and its $id is where unpkg serves that file', () => {
    const shipped = JSON.parse(readFileSync(join(dir, 'consumer/node_modules', NAME, 'dist/rekey.schema.json'), 'utf8')) as { $id: string };
    const printed = execFileSync(join(dir, 'consumer/node_modules/.bin/rekey'), ['config', 'schema'], { cwd: dir, encoding: 'utf8' });
    expect(shipped).toEqual(JSON.parse(printed));
    expect(shipped.$id).toBe(`https://unpkg.com/${NAME}@${pkg.version}/dist/rekey.schema.json`);
  });

  it('installed from the tarball, `rekey --version` runs from node_modules/.bin', () => {
    const result = spawnSync(join(dir, 'consumer/node_modules/.bin/rekey'), ['--version'], { cwd: dir, encoding: 'utf8' });
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout.trim()).toBe(pkg.version);
  });

  it('a consumer imports it by name and rotates a key, receiving the events `rekey --json rotate` prints', { timeout: 120_000 }, async () => {
    const api = workspace({ sandbox });
    const cli = workspace({ sandbox });
    const script = join(dir, 'consumer', 'rotate.mjs');
    writeFileSync(
      script,
      [
        `import { rotate, status, loadConfig, InputError } from '${NAME}';`,
        'const [config] = process.argv.slice(2);',
        'const seen = [];',
        'const result = await rotate({ config, credential: "sandbox-key", onEvent: (e) => seen.push(e.event) });',
        'const rows = await status({ config, offline: true });',
        'const loaded = await loadConfig({ config });',
        'let refused;',
        'try { await rotate({ config, credential: "nope" }); } catch (e) { refused = { input: e instanceof InputError, code: e.exitCode }; }',
        'console.log(JSON.stringify({ code: result.code, run: result.run, events: result.events, seen, rows, ids: [...loaded.credentials.keys()], refused }));',
      ].join('\n'),
    );
    // Spawned asynchronously: the sandbox answers from this process, whose event loop a spawnSync would block.
    const run = await runNode([script, api.config], { cwd: join(dir, 'consumer'), timeoutMs: 60_000 });
    expect(run.code, run.stderr).toBe(0);
    const out = JSON.parse(run.stdout) as {
      code: number;
      run: string;
      events: Array<Record<string, unknown>>;
      seen: string[];
      rows: Array<Record<string, unknown>>;
      ids: string[];
      refused: { input: boolean; code: number };
    };
    expect(out.code).toBe(0);
    expect(envValue(api)).not.toBe(api.seed);
    expect(sandbox.stats.minted).toBeGreaterThanOrEqual(1);
    expect(out.seen).toEqual(out.events.map((e) => e.event));
    expect(out.events.at(-1)).toEqual(expect.objectContaining({ event: 'run.finished', run: out.run, credential: 'sandbox-key' }));
    // The key itself never reaches the caller: only fingerprints.
    expect(run.stdout).not.toContain(envValue(api)!);
    expect(out.rows).toEqual([expect.objectContaining({ event: 'status', credential: 'sandbox-key', lastRunId: out.run })]);
    expect(out.ids).toEqual(['sandbox-key']);
    expect(out.refused).toEqual({ input: true, code: 2 });

    // The same rotation through the CLI: the same events, in the same order, with the same fields.
    const json = await rekeyIn(cli, ['--json', 'rotate', cli.credential]);
    expect(json.code, json.stderr).toBe(0);
    const cliEvents = json.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(out.events.map((e) => e.event)).toEqual(cliEvents.map((e) => e.event));
    expect(out.events.map((e) => Object.keys(e).sort())).toEqual(cliEvents.map((e) => Object.keys(e).sort()));
  });
});
