/**
 * Two credentials in one .env, rotated at the same time (two runs, two processes): every rewrite of the file is made
 * under a short-lived lock file beside it (`.env.rekey-lock`, O_EXCL, mode 0600, naming pid and host), so the writers
 * take turns instead of one rolling back with ".env changed while rekey was rewriting it". A lock left by a dead
 * process is taken over; the lock file never outlives the write, whether it succeeded or failed.
 *
 * Expected file texts are written by hand from the input, never computed with the adapter's parser.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { lockFileOf, openDotenvStore, type DotenvHooks } from '../../adapters/stores/dotenv/index.js';
import { Secret } from '../../src/contract/secret.js';
import { parseRef, type SecretStore } from '../../src/contract/store.js';
import { StoreConflictError, type StoreError } from '../../src/contract/store-errors.js';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../..');
const RUN_A = '20261124T024512Z-aaaaaa';
const RUN_B = '20261124T024512Z-bbbbbb';
const NAMES = ['ALPHA_KEY', 'BRAVO_KEY', 'CHARLIE_KEY', 'DELTA_KEY', 'ECHO_KEY', 'FOXTROT_KEY', 'GOLF_KEY', 'HOTEL_KEY'];
const oldOf = (name: string) => `old_${name.toLowerCase()}_0123456789abcdef`;
const newOf = (name: string, round = 0) => `new_${name.toLowerCase()}_${round}_fedcba9876543210`;

/** A .env holding every variable of NAMES between lines nobody rotates. */
function envWith(values: (name: string) => string): string {
  return [
    '# shared by several credentials',
    'export NODE_ENV=production',
    ...NAMES.flatMap((name, i) => [`${name}=${values(name)}`, `# note ${i}`]),
    "REGION='eu-west-1'",
    '',
  ].join('\n');
}

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'rekey-dotenv-lock-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const envFile = () => join(dir, '.env');
const lockFile = () => join(dir, '.env.rekey-lock');
const open = (hooks?: DotenvHooks): SecretStore => openDotenvStore({}, { baseDir: dir, env: {} }, hooks);
const ref = (name: string) => parseRef('dotenv', `./.env#${name}`);
const leftovers = () => readdirSync(dir).filter((f) => f !== '.env');

/** A pid that is certainly not running: a child that has exited and been reaped. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
  await new Promise((exited) => child.on('exit', exited));
  return child.pid!;
}

describe('dotenv: writers of one file take turns under a lock file', () => {
  it('eight variables of one file promoted at the same time all become current, with every other line byte-identical', async () => {
    writeFileSync(envFile(), envWith(oldOf), { mode: 0o600 });
    const stores = NAMES.map(() => open());
    const staged = await Promise.all(
      NAMES.map(async (name, i) => {
        const base = (await stores[i]!.read(ref(name))).version;
        const version = await stores[i]!.stage(ref(name), new Secret(newOf(name)), `20261124T024512Z-${String(i).padStart(6, '0')}`, base);
        return { base, version };
      }),
    );
    const results = await Promise.allSettled(
      NAMES.map((name, i) => stores[i]!.promote(ref(name), staged[i]!.version, `20261124T024512Z-${String(i).padStart(6, '0')}`, staged[i]!.base)),
    );
    expect(results.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason))).toEqual([]);
    expect(readFileSync(envFile(), 'utf8')).toBe(envWith((name) => newOf(name)));
    // The previous files (one per variable) stay until retire; no lock and no temporary file is left.
    expect(leftovers().sort()).toEqual(NAMES.map((name) => `.env.${name}.rekey-previous`).sort());
    await Promise.all(NAMES.map((name, i) => stores[i]!.retire(ref(name), `20261124T024512Z-${String(i).padStart(6, '0')}`)));
    expect(leftovers()).toEqual([]);
  });

  it('two processes rotating two variables of one file, forty times each, never conflict', async () => {
    writeFileSync(envFile(), envWith(oldOf), { mode: 0o600 });
    const adapter = join(ROOT, 'dist/adapters/stores/dotenv/index.js');
    const secret = join(ROOT, 'dist/src/contract/secret.js');
    const contract = join(ROOT, 'dist/src/contract/store.js');
    expect(existsSync(adapter), 'build first: npx tsc -p tsconfig.build.json').toBe(true);
    // Each process rotates its own variable through stage, promote and retire, as a run does, as fast as it can.
    const script = `
      const { openDotenvStore } = await import(${JSON.stringify(adapter)});
      const { Secret } = await import(${JSON.stringify(secret)});
      const { parseRef } = await import(${JSON.stringify(contract)});
      const [name, tag] = process.argv.slice(1);
      const store = openDotenvStore({}, { baseDir: ${JSON.stringify(dir)}, env: {} });
      const ref = parseRef('dotenv', './.env#' + name);
      for (let round = 0; round < 40; round++) {
        const run = '20261124T0245' + String(round).padStart(2, '0') + 'Z-' + tag;
        const base = (await store.read(ref)).version;
        const version = await store.stage(ref, new Secret('new_' + name.toLowerCase() + '_' + round + '_fedcba9876543210'), run, base);
        await store.promote(ref, version, run, base);
        await store.retire(ref, run);
      }
    `;
    const runOne = (name: string, tag: string) =>
      new Promise<{ code: number | null; stderr: string }>((done) => {
        const child = spawn(process.execPath, ['--input-type=module', '-e', script, name, tag], { stdio: ['ignore', 'ignore', 'pipe'] });
        let stderr = '';
        child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
        child.on('close', (code) => done({ code, stderr }));
      });
    const [a, b] = await Promise.all([runOne('ALPHA_KEY', 'aaaaaa'), runOne('BRAVO_KEY', 'bbbbbb')]);
    expect(a.stderr).toBe('');
    expect(b.stderr).toBe('');
    expect([a.code, b.code]).toEqual([0, 0]);
    expect(readFileSync(envFile(), 'utf8')).toBe(envWith((name) => (name === 'ALPHA_KEY' || name === 'BRAVO_KEY' ? newOf(name, 39) : oldOf(name))));
    expect(leftovers()).toEqual([]);
  });

  it('holds the lock, mode 0600 with its pid and host, only while the file is rewritten', async () => {
    writeFileSync(envFile(), envWith(oldOf), { mode: 0o644 });
    const seen: Array<{ step: string; mode: number; holder: { pid: number; host: string } } | { step: string; absent: true }> = [];
    const store = open({
      afterStep(_operation, step) {
        if (!existsSync(lockFile())) return void seen.push({ step, absent: true });
        seen.push({ step, mode: statSync(lockFile()).mode & 0o777, holder: JSON.parse(readFileSync(lockFile(), 'utf8')) as { pid: number; host: string } });
      },
    });
    const base = (await store.read(ref('ALPHA_KEY'))).version;
    const version = await store.stage(ref('ALPHA_KEY'), new Secret(newOf('ALPHA_KEY')), RUN_A, base);
    await store.promote(ref('ALPHA_KEY'), version, RUN_A, base);
    expect(seen[0]).toEqual({ step: 'staged-written', absent: true });
    const during = seen.find((s) => s.step === 'env-written');
    expect(during).toEqual({ step: 'env-written', mode: 0o600, holder: expect.objectContaining({ pid: process.pid, host: hostname() }) });
    expect(existsSync(lockFile())).toBe(false);
  });

  it('takes over a lock left by a dead process on this host, and removes it afterwards', async () => {
    writeFileSync(envFile(), envWith(oldOf), { mode: 0o600 });
    const pid = await deadPid();
    writeFileSync(lockFile(), JSON.stringify({ pid, host: hostname(), since: new Date().toISOString() }), { mode: 0o600 });
    const store = open({ lockWaitMs: 5_000 });
    const base = (await store.read(ref('BRAVO_KEY'))).version;
    const version = await store.stage(ref('BRAVO_KEY'), new Secret(newOf('BRAVO_KEY')), RUN_B, base);
    const started = performance.now();
    await store.promote(ref('BRAVO_KEY'), version, RUN_B, base);
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(readFileSync(envFile(), 'utf8')).toBe(envWith((name) => (name === 'BRAVO_KEY' ? newOf(name) : oldOf(name))));
    expect(leftovers()).toEqual(['.env.BRAVO_KEY.rekey-previous']);
  });

  it('waits for a live holder, and writes as soon as it lets go', async () => {
    writeFileSync(envFile(), envWith(oldOf), { mode: 0o600 });
    // This very process holds it (alive), as another run's writer would.
    writeFileSync(lockFile(), JSON.stringify({ pid: process.pid, host: hostname(), since: new Date().toISOString(), token: 'someone-else' }), { mode: 0o600 });
    const store = open({ lockWaitMs: 5_000 });
    const base = (await store.read(ref('ALPHA_KEY'))).version;
    const version = await store.stage(ref('ALPHA_KEY'), new Secret(newOf('ALPHA_KEY')), RUN_A, base);
    setTimeout(() => rmSync(lockFile()), 300);
    const started = performance.now();
    await store.promote(ref('ALPHA_KEY'), version, RUN_A, base);
    expect(performance.now() - started).toBeGreaterThanOrEqual(250);
    expect(readFileSync(envFile(), 'utf8')).toBe(envWith((name) => (name === 'ALPHA_KEY' ? newOf(name) : oldOf(name))));
    expect(existsSync(lockFile())).toBe(false);
  });

  it('gives up after the bounded wait with a conflict naming the holder, leaves its lock alone, and writes nothing', async () => {
    const text = envWith(oldOf);
    writeFileSync(envFile(), text, { mode: 0o600 });
    const held = JSON.stringify({ pid: process.pid, host: 'build-host-7', since: '2026-11-24T02:45:12.000Z', token: 'theirs' });
    writeFileSync(lockFile(), held, { mode: 0o600 });
    const store = open({ lockWaitMs: 300 });
    const base = (await store.read(ref('ALPHA_KEY'))).version;
    const version = await store.stage(ref('ALPHA_KEY'), new Secret(newOf('ALPHA_KEY')), RUN_A, base);
    const error = await store.promote(ref('ALPHA_KEY'), version, RUN_A, base).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(StoreConflictError);
    const message = `${(error as StoreError).message} ${(error as StoreError).hint ?? ''}`;
    expect(message).toContain('.env.rekey-lock');
    expect(message).toContain('build-host-7');
    expect(message).not.toContain(newOf('ALPHA_KEY'));
    expect(message).not.toContain(oldOf('ALPHA_KEY'));
    expect(readFileSync(lockFile(), 'utf8')).toBe(held);
    expect(readFileSync(envFile(), 'utf8')).toBe(text);
  });

  it('removes the lock when the write fails half-way', async () => {
    writeFileSync(envFile(), envWith(oldOf), { mode: 0o600 });
    const store = open({
      afterStep(_operation, step) {
        if (step === 'previous-written') throw new Error('simulated failure');
      },
    });
    const base = (await store.read(ref('ALPHA_KEY'))).version;
    const version = await store.stage(ref('ALPHA_KEY'), new Secret(newOf('ALPHA_KEY')), RUN_A, base);
    await expect(store.promote(ref('ALPHA_KEY'), version, RUN_A, base)).rejects.toThrow('simulated failure');
    expect(existsSync(lockFile())).toBe(false);
  });

  it('keeps the optimistic check as a second line of defence: a writer that ignores the lock is still caught', async () => {
    writeFileSync(envFile(), envWith(oldOf), { mode: 0o600 });
    const store = open({
      afterStep(_operation, step) {
        if (step === 'previous-written') writeFileSync(envFile(), `${readFileSync(envFile(), 'utf8')}ADDED=by-hand\n`);
      },
    });
    const base = (await store.read(ref('ALPHA_KEY'))).version;
    const version = await store.stage(ref('ALPHA_KEY'), new Secret(newOf('ALPHA_KEY')), RUN_A, base);
    const error = await store.promote(ref('ALPHA_KEY'), version, RUN_A, base).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(StoreConflictError);
    expect(String((error as Error).message)).toContain('changed while rekey was rewriting it');
    expect(readFileSync(envFile(), 'utf8')).toBe(`${envWith(oldOf)}ADDED=by-hand\n`);
    expect(existsSync(lockFile())).toBe(false);
  });

  it('names the lock of a file that is not hidden with a leading dot', () => {
    expect(lockFileOf('/srv/app/app.env')).toBe('/srv/app/.app.env.rekey-lock');
    expect(lockFileOf('/srv/app/.env')).toBe('/srv/app/.env.rekey-lock');
  });
});
