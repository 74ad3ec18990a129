/**
 * Where things are, and the throw-away folders the cases work in: a rekey.yaml with sandbox credentials held in a
 * `.env`, written the way `rekey rehearse` writes its own (src/cli/rehearse.ts).
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const benchDir = fileURLToPath(new URL('..', import.meta.url));
export const repoRoot = join(benchDir, '..');
export const distDir = join(repoRoot, 'dist');
export const cliPath = join(distDir, 'src', 'cli', 'main.js');

/** A module of the compiled project, as a URL for import(). */
export function distUrl(relative) {
  return pathToFileURL(join(distDir, relative)).href;
}

export function assertBuilt() {
  if (!existsSync(cliPath)) throw new Error(`${cliPath} is missing: run \`npm run build\` first (npm run bench does)`);
}

const folders = [];

/** A temporary folder, removed by cleanup() at the end of the run (unless BENCH_KEEP=1). */
export function tempFolder(prefix) {
  const folder = mkdtempSync(join(tmpdir(), `rekey-bench-${prefix}-`));
  folders.push(folder);
  return folder;
}

export function cleanup() {
  if (process.env['BENCH_KEEP'] === '1') {
    if (folders.length > 0) process.stderr.write(`kept: ${folders.join(' ')}\n`);
    return;
  }
  for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true });
  cacheHome = undefined;
}

/**
 * Write `<folder>/.env` and `<folder>/rekey.yaml` for sandbox credentials. Each credential is
 * `{ id, account, variable, key, runbook? }`: its key is seeded in the .env under `variable`, and it rotates against
 * the sandbox at `sandboxUrl` with the built-in `sandbox` runbook (overlap until-revoked).
 */
export function writeSandboxConfig(folder, sandboxUrl, credentials) {
  const env = ['# rekey benchmark fixture', 'APP_NAME="bench"', ...credentials.map((c) => `${c.variable}=${c.key}`), 'LOG_LEVEL=info', ''].join('\n');
  writeFileSync(join(folder, '.env'), env, { mode: 0o600 });
  const yaml = ['credentials:'];
  for (const c of credentials) {
    yaml.push(
      `  ${c.id}:`,
      `    runbook: ${c.runbook ?? 'sandbox'}`,
      '    inputs:',
      `      baseUrl: ${sandboxUrl}`,
      `      account: ${c.account}`,
      '    stores:',
      `      - dotenv: ./.env#${c.variable}`,
      '    policy:',
      '      maxAge: 30d',
      '      budget: 5m',
    );
  }
  writeFileSync(join(folder, 'rekey.yaml'), `${yaml.join('\n')}\n`, { mode: 0o600 });
  return join(folder, 'rekey.yaml');
}

let cacheHome;

/**
 * The XDG cache folder the CLI children use (rekey keeps validated configs there, src/config/cache.ts): a
 * temporary one, so that a benchmark neither reads nor fills the user's ~/.cache/rekey.
 */
export function benchCacheHome() {
  cacheHome ??= tempFolder('xdg-cache');
  return cacheHome;
}

/** The environment for the CLI children: this one, minus what would change their behaviour or cost. */
export function childEnv(extra = {}) {
  const env = { ...process.env, NO_COLOR: '1', XDG_CACHE_HOME: benchCacheHome(), ...extra };
  // A benchmark of start-up must not inherit a profiler, a debugger or preloads from the shell that ran it.
  delete env['NODE_OPTIONS'];
  delete env['NODE_DEBUG'];
  return env;
}

/** Parse NDJSON output into events (lines that are not JSON are ignored). */
export function ndjson(text) {
  const events = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      events.push(JSON.parse(line));
    } catch {
      // not an event
    }
  }
  return events;
}
