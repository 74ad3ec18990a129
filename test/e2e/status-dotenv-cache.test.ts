/**
 * `rekey status` keeps what the config's `.env` files held (fingerprints and file states, beside the config cache) so
 * that the next status over a fleet stats each file instead of reading it. Attacked here from outside: a rotation
 * between two statuses (the file changes under the cache), a cache planted with a wrong fingerprint for a file that
 * then changed, a torn cache file; and the file itself is searched for the key in every encoding.
 */
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { type CliResult, envValue, fingerprint, rekeyIn, removeWorkspaces, sandboxPool, show, VARIABLE, workspace, type Workspace } from './helpers.js';

const sandbox = sandboxPool();
afterAll(removeWorkspaces);

const cacheOf = (ws: Workspace) => join(ws.dir, 'cache');
const env = (ws: Workspace) => ({ XDG_CACHE_HOME: cacheOf(ws) });
const dotenvCache = (ws: Workspace) => {
  const names = readdirSync(join(cacheOf(ws), 'rekey')).filter((name) => name.startsWith('describe-'));
  expect(names).toHaveLength(1);
  return join(cacheOf(ws), 'rekey', names[0]!);
};
const row = (result: CliResult) => {
  expect(result.code, show(result)).toBe(0);
  return JSON.parse(result.stdout.trim()) as Record<string, unknown>;
};
/** A file is kept only when read well after its last change (2 s: a coarse file clock could hide a change). */
const settle = () => sleep(2_100);

describe('rekey status: what it keeps of the .env files', () => {
  it('keeps fingerprints only (never the key, in any encoding), and sees each change of the file since', async () => {
    const ws = workspace({ sandbox: await sandbox({ overlap: 'until-revoked' }) });
    await settle();
    const before = row(await rekeyIn(ws, ['--json', 'status'], { env: env(ws) }));
    expect(before).toMatchObject({ credential: ws.credential, ageSource: 'unknown' });
    const file = dotenvCache(ws);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const kept = readFileSync(file, 'utf8');
    expect(kept).toContain(fingerprint(ws.seed));
    for (const encoded of [ws.seed, Buffer.from(ws.seed).toString('base64'), Buffer.from(ws.seed).toString('hex'), encodeURIComponent(ws.seed)])
      expect(kept).not.toContain(encoded);

    const rotated = await rekeyIn(ws, ['rotate', ws.credential], { env: env(ws) });
    expect(rotated.code, show(rotated)).toBe(0);
    const key = envValue(ws)!;
    expect(key).not.toBe(ws.seed);
    // The .env changed under the cache: its new value is the one this run wrote, so the age is the run's.
    const after = row(await rekeyIn(ws, ['--json', 'status'], { env: env(ws) }));
    expect(after).toMatchObject({ credential: ws.credential, ageSource: 'journal', ageDays: 0 });
    await settle();
    row(await rekeyIn(ws, ['--json', 'status'], { env: env(ws) }));
    const keptAfter = readFileSync(dotenvCache(ws), 'utf8');
    expect(keptAfter).toContain(fingerprint(key));
    expect(keptAfter).not.toContain(key);
    // The variable taken out of the file (same length, another name) after the cache learned it was there: seen.
    writeFileSync(ws.envFile, readFileSync(ws.envFile, 'utf8').replace(`${VARIABLE}=`, `${VARIABLE.replace('S', 'Z')}=`));
    expect(row(await rekeyIn(ws, ['--json', 'status'], { env: env(ws) }))).toMatchObject({
      ageNotes: [{ from: `dotenv:./.env#${VARIABLE}`, problem: 'the secret does not exist', fault: true }],
    });
  }, 30_000);

  it('keeps one file per config: two rekey.yaml of two folders do not replace each other (each status after the first writes nothing)', async () => {
    const one = workspace({ sandbox: await sandbox({ overlap: 'until-revoked' }) });
    const two = workspace({ sandbox: await sandbox({ overlap: 'until-revoked' }) });
    const shared = { XDG_CACHE_HOME: cacheOf(one) };
    await settle();
    for (const ws of [one, two]) row(await rekeyIn(ws, ['--json', 'status'], { env: shared }));
    const folder = join(cacheOf(one), 'rekey');
    const files = () => readdirSync(folder).filter((name) => name.startsWith('describe-'));
    expect(files()).toHaveLength(2);
    const written = new Map(files().map((name) => [name, statSync(join(folder, name)).mtimeMs]));
    for (const ws of [one, two, one]) row(await rekeyIn(ws, ['--json', 'status'], { env: shared }));
    expect(new Map(files().map((name) => [name, statSync(join(folder, name)).mtimeMs]))).toEqual(written);
  }, 30_000);

  it('trusts a kept entry only while the file is as it was, and ignores a torn cache', async () => {
    const ws = workspace({ sandbox: await sandbox({ overlap: 'until-revoked' }) });
    const rotated = await rekeyIn(ws, ['rotate', ws.credential], { env: env(ws) });
    expect(rotated.code, show(rotated)).toBe(0);
    await settle();
    expect(row(await rekeyIn(ws, ['--json', 'status'], { env: env(ws) }))).toMatchObject({ ageSource: 'journal' });
    const file = dotenvCache(ws);
    const kept = JSON.parse(readFileSync(file, 'utf8')) as { kinds: { dotenv: Record<string, { variables: Record<string, unknown> }> } };
    // Planted: the cache says the variable is not in the file. While the file is unchanged, status believes the cache
    // (that is what it is for: no read); once the file changes, it reads the file again.
    for (const entry of Object.values(kept.kinds.dotenv)) entry.variables[VARIABLE] = null;
    writeFileSync(file, JSON.stringify(kept));
    const missing = { from: `dotenv:./.env#${VARIABLE}`, problem: 'the secret does not exist', fault: true };
    const present = { from: `dotenv:./.env#${VARIABLE}`, problem: 'keeps no date', fault: false };
    expect(row(await rekeyIn(ws, ['--json', 'status'], { env: env(ws) }))).toMatchObject({ ageNotes: [missing] });
    // What one reader learned is not another's (the same user with other groups may not open the file): read again.
    writeFileSync(file, JSON.stringify({ ...kept, reader: '4321:4321:4321' }));
    expect(row(await rekeyIn(ws, ['--json', 'status'], { env: env(ws) }))).toMatchObject({ ageNotes: [present] });
    // Nor is what another version of the describer's code learned (another parser, another fingerprint).
    writeFileSync(file, JSON.stringify({ ...kept, code: '0'.repeat(64) }));
    expect(row(await rekeyIn(ws, ['--json', 'status'], { env: env(ws) }))).toMatchObject({ ageNotes: [present] });
    writeFileSync(file, JSON.stringify(kept));
    expect(row(await rekeyIn(ws, ['--json', 'status'], { env: env(ws) }))).toMatchObject({ ageNotes: [missing] });
    writeFileSync(ws.envFile, readFileSync(ws.envFile, 'utf8'));
    expect(row(await rekeyIn(ws, ['--json', 'status'], { env: env(ws) }))).toMatchObject({ ageSource: 'journal', ageNotes: [present] });
    // Torn (a crash mid-write of an older rekey, a full disk): read as no cache, and status is as right as before.
    writeFileSync(file, '{"v":1,"code":"');
    expect(row(await rekeyIn(ws, ['--json', 'status'], { env: env(ws) }))).toMatchObject({ ageSource: 'journal', ageNotes: [present] });
  }, 30_000);
});
