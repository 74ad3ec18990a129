/**
 * `rekey rotate --due`, the scheduled job (cron, a CronJob, a CI schedule): it rotates what is due, leaves what is not,
 * sends a reminder for what needs a person, exits 0 when nothing failed, and run again at once does nothing more.
 * A credential's age comes from its stores (AWS CreatedDate of AWSCURRENT), else policy.lastRotated, else the
 * journal; an age nothing records is not due unless --due-unknown.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { Sandbox } from '../../src/sandbox/server.js';
import { start as startAws } from '../fakes/aws-secrets-manager-server.js';
import { type CliResult, rekeyIn, removeWorkspaces, runIds, sandboxPool, show, type Workspace, workspace } from './helpers.js';

const DAY = 86_400_000;
const daysAgo = (days: number) => new Date(Date.now() - days * DAY).toISOString();
const events = (stdout: string) =>
  stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, unknown>);

const sandbox = sandboxPool();
afterAll(removeWorkspaces);
const holders: ChildProcess[] = [];
afterEach(() => {
  for (const holder of holders.splice(0)) holder.kill();
});

describe('rekey rotate --due', () => {
  it('rotates the due credential, skips the fresh one, reminds about the one needing a person; a second pass rotates nothing', async () => {
    const s = await sandbox({ overlap: 'until-revoked' });
    const ws = workspace({ sandbox: s, credential: 'fresh-key' });
    // A second sandbox credential in its own .env, and a Streampixel one (a dashboard step: a person is needed).
    const dueSeed = s.mintKey('due-account');
    writeFileSync(join(ws.dir, 'due.env'), `DUE_KEY=${dueSeed}\n`, { mode: 0o600 });
    writeFileSync(join(ws.dir, 'sp.env'), `STREAMPIXEL_API_KEY=${'sk_'.padEnd(40, 'x')}\n`, { mode: 0o600 });
    const config = readFileSync(ws.config, 'utf8').replace(/maxAge: 30d/, 'maxAge: 1d');
    writeFileSync(
      ws.config,
      `${config}  due-key:\n    runbook: sandbox\n    inputs: { baseUrl: ${s.url}, account: due-account }\n    stores: [{ dotenv: ./due.env#DUE_KEY }]\n  ` +
        `  policy: { maxAge: 1d, lastRotated: ${daysAgo(2)} }\n` +
        `  streampixel-prod:\n    runbook: streampixel\n    inputs: { userId: u, projectId: p, baseUrl: ${s.url}/pixelStripeApi }\n    stores: [{ dotenv: ` +
        `./sp.env#STREAMPIXEL_API_KEY }]\n    policy: { lastRotated: ${daysAgo(100)} }\n`,
    );
    // fresh-key was rotated just now: not due for a day.
    const first = await rekeyIn(ws, ['rotate', 'fresh-key']);
    expect(first.code, show(first)).toBe(0);
    const freshAfterFirst = readFileSync(ws.envFile, 'utf8');

    const pass = await rekeyIn(ws, ['--json', 'rotate', '--due']);
    expect(pass.code, show(pass)).toBe(0);
    const events = pass.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(events).toContainEqual(expect.objectContaining({ event: 'skipped', credential: 'fresh-key', reason: 'not due' }));
    expect(events).toContainEqual(expect.objectContaining({ event: 'reminder', credential: 'streampixel-prod' }));
    expect(events).toContainEqual(expect.objectContaining({ event: 'run.finished', credential: 'due-key', result: 'done' }));
    expect(events.filter((e) => e['event'] === 'run.started').map((e) => e['credential'])).toEqual(['due-key']);
    const dueNow = /^DUE_KEY=(.*)$/m.exec(readFileSync(join(ws.dir, 'due.env'), 'utf8'))![1]!;
    expect(dueNow).not.toBe(dueSeed);
    expect(s.isActive(dueNow)).toBe(true);
    expect(s.isActive(dueSeed)).toBe(false);
    expect(readFileSync(ws.envFile, 'utf8')).toBe(freshAfterFirst);
    expect(readFileSync(join(ws.dir, 'sp.env'), 'utf8')).toContain('sk_xxx');

    // Idempotent from a scheduler's point of view: the next pass finds nothing due among what rekey can rotate alone.
    const runsBefore = runIds(ws).length;
    const again = await rekeyIn(ws, ['rotate', '--due']);
    expect(again.code, show(again)).toBe(0);
    expect(runIds(ws)).toHaveLength(runsBefore);
    // Several credentials: every line after its credential's `[id]`, padded to the longest id.
    expect(again.stdout).toMatch(/^\[due-key\] {11}skipped: not due$/m);
    expect(again.stdout).toMatch(/^\[streampixel-prod\] {2}needs a person \(dashboard step\) — run `rekey drill streampixel-prod`/m);
  });

  it('takes the age from the stores in a fresh state folder: AWS CreatedDate, else policy.lastRotated; an unknown age is skipped', async () => {
    const s = await sandbox({ overlap: 'until-revoked' });
    const aws = await startAws();
    try {
      const ws = workspace({ sandbox: s, credential: 'env-unknown' });
      const oldSeed = s.mintKey('aws-old');
      const newSeed = s.mintKey('aws-new');
      const statedSeed = s.mintKey('env-stated');
      // Seeded through the fake's side door: versions written 100 and 10 days ago (the clock only moves forward).
      aws.model.clock = () => Date.now() - 100 * DAY;
      aws.model.createSecret({ Name: 'prod/old', SecretString: JSON.stringify({ API_KEY: oldSeed }) });
      aws.model.clock = () => Date.now() - 10 * DAY;
      aws.model.createSecret({ Name: 'prod/new', SecretString: JSON.stringify({ API_KEY: newSeed }) });
      aws.model.clock = Date.now;
      writeFileSync(join(ws.dir, 'stated.env'), `STATED_KEY=${statedSeed}\n`, { mode: 0o600 });
      const awsCredential = (id: string, account: string, secret: string) =>
        `  ${id}:\n    runbook: sandbox\n    inputs: { baseUrl: ${s.url}, account: ${account} }\n    stores:\n` +
        `      - aws-secrets-manager: ${secret}#API_KEY\n        region: us-east-1\n        endpoint: ${aws.url}\n    policy: { maxAge: 90d }\n`;
      writeFileSync(
        ws.config,
        readFileSync(ws.config, 'utf8').replace(/maxAge: 30d/, 'maxAge: 90d') +
          awsCredential('aws-old', 'aws-old', 'prod/old') +
          awsCredential('aws-new', 'aws-new', 'prod/new') +
          `  env-stated:\n    runbook: sandbox\n    inputs: { baseUrl: ${s.url}, account: env-stated }\n    stores: [{ dotenv: ./stated.env#STATED_KEY }]\n` +
          `    policy: { maxAge: 90d, lastRotated: ${daysAgo(100).slice(0, 10)} }\n`,
      );
      const env = { AWS_ACCESS_KEY_ID: 'AKIDEXAMPLEREKEYTEST', AWS_SECRET_ACCESS_KEY: 'example-secret-for-local-fake', AWS_CONFIG_FILE: '/dev/null' };
      expect(existsSync(ws.stateDir)).toBe(false);

      // status reads the same ages, with their sources, as ISO dates and numbers.
      const status = await rekeyIn(ws, ['--json', 'status'], { env });
      expect(status.code, show(status)).toBe(0);
      const rows = new Map(events(status.stdout).map((e) => [e['credential'], e]));
      const oldWritten = aws.model.getSecretValue({ SecretId: 'prod/old' })['CreatedDate'] as Date;
      expect(rows.get('aws-old')).toMatchObject({
        state: 'due',
        ageSource: 'store',
        ageFrom: 'aws-secrets-manager:prod/old#API_KEY',
        writtenAt: oldWritten.toISOString(),
        ageDays: 100,
        maxAgeMs: 90 * DAY,
      });
      expect(rows.get('aws-new')).toMatchObject({ state: 'ok', ageSource: 'store', ageDays: 10 });
      expect(rows.get('env-stated')).toMatchObject({ state: 'due', ageSource: 'policy.lastRotated' });
      expect(rows.get('env-unknown')).toMatchObject({ state: 'unknown', ageSource: 'unknown', overdue: false });
      const text = await rekeyIn(ws, ['status'], { env });
      expect(text.stdout).toMatch(/^aws-old\s+sandbox\s+100d\s+aws-secrets-manager:prod\/old#API_KEY\s+90d\s+overdue 10d\s+—$/m);
      expect(text.stdout).toContain(
        '! env-unknown: age unknown: no store keeps a date — set policy.lastRotated in rekey.yaml or run `rekey rotate env-unknown`',
      );

      const pass = await rekeyIn(ws, ['--json', 'rotate', '--due'], { env });
      expect(pass.code, show(pass)).toBe(0);
      const seen = events(pass.stdout);
      expect(seen.filter((e) => e['event'] === 'run.started').map((e) => e['credential'])).toEqual(expect.arrayContaining(['aws-old', 'env-stated']));
      expect(seen.filter((e) => e['event'] === 'run.started')).toHaveLength(2);
      expect(seen).toContainEqual(expect.objectContaining({ event: 'skipped', credential: 'aws-new', reason: 'not due', ageSource: 'store' }));
      expect(seen).toContainEqual(expect.objectContaining({ event: 'skipped', credential: 'env-unknown', reason: 'unknown age' }));
      expect(JSON.parse(aws.model.secretString('prod/old')!)['API_KEY']).not.toBe(oldSeed);
      expect(JSON.parse(aws.model.secretString('prod/new')!)['API_KEY']).toBe(newSeed);
      expect(readFileSync(ws.envFile, 'utf8')).toContain(ws.seed);
      expect(readFileSync(join(ws.dir, 'stated.env'), 'utf8')).not.toContain(statedSeed);

      // Told so, the unknown one rotates too; after that its age is known (the journal) and it is not due.
      const told = await rekeyIn(ws, ['--json', 'rotate', '--due', '--due-unknown'], { env });
      expect(told.code, show(told)).toBe(0);
      expect(
        events(told.stdout)
          .filter((e) => e['event'] === 'run.started')
          .map((e) => e['credential']),
      ).toEqual(['env-unknown']);
      expect(readFileSync(ws.envFile, 'utf8')).not.toContain(ws.seed);
      const after = events((await rekeyIn(ws, ['--json', 'status'], { env })).stdout);
      expect(after).toContainEqual(expect.objectContaining({ credential: 'env-unknown', state: 'ok', ageSource: 'journal' }));
      expect(after).toContainEqual(expect.objectContaining({ credential: 'env-stated', state: 'ok', ageSource: 'journal' }));
    } finally {
      await aws.close();
    }
  });
});

/** Add a sandbox credential `id` (its own .env, account `id`) to a workspace; returns the key its .env starts with. */
function addCredential(ws: Workspace, s: Sandbox, id: string): string {
  const seed = s.mintKey(id);
  writeFileSync(join(ws.dir, `${id}.env`), `KEY=${seed}\n`, { mode: 0o600 });
  appendFileSync(ws.config, `  ${id}:\n    runbook: sandbox\n    inputs: { baseUrl: ${s.url}, account: ${id} }\n    stores: [{ dotenv: ./${id}.env#KEY }]\n`);
  return seed;
}

const keyOf = (ws: Workspace, id: string) => /^KEY=(.*)$/m.exec(readFileSync(join(ws.dir, `${id}.env`), 'utf8'))![1]!;
const ndjson = (result: CliResult) =>
  result.stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, unknown>);

/** Hold a credential's run lock as a live run of another process does (a live pid of this host, a run id). */
function holdLock(ws: Workspace, id: string, run: string): number {
  const holder = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
  holders.push(holder);
  mkdirSync(join(ws.stateDir, 'locks'), { recursive: true });
  writeFileSync(join(ws.stateDir, 'locks', `${id}.lock`), JSON.stringify({ pid: holder.pid, host: hostname(), run, since: '2026-12-02T05:00:00.000Z' }), {
    mode: 0o600,
  });
  return holder.pid!;
}

describe('rekey rotate over several credentials', () => {
  const HELD = '20261202T050000Z-1a2b3c';

  it('skips a credential locked by a live run, names the holder, exits 0; named alone, the same credential is refused (3)', async () => {
    const s = await sandbox();
    const ws = workspace({ sandbox: s, credential: 'api' });
    const seed = addCredential(ws, s, 'billing-key');
    const pid = holdLock(ws, 'billing-key', HELD);

    const pass = await rekeyIn(ws, ['rotate', '--due', '--due-unknown']);
    expect(pass.code, show(pass)).toBe(0);
    expect(pass.stdout).toContain(`[billing-key]  skipped: locked by run ${HELD} (pid ${pid} on ${hostname()}, since 2026-12-02T05:00:00.000Z)`);
    expect(pass.stdout).toMatch(/^rotated 1 · reminded 0 · skipped 1 \(1 locked\) · failed 0 · /m);
    expect(keyOf(ws, 'billing-key')).toBe(seed);
    expect(s.isActive(seed)).toBe(true);

    // Named on its own, by a person: that one was asked for, so the lock is a refusal.
    const alone = await rekeyIn(ws, ['rotate', 'billing-key']);
    expect(alone.code, show(alone)).toBe(3);
    expect(alone.stderr).toContain(`is being rotated by run ${HELD} (pid ${pid}`);
    expect(keyOf(ws, 'billing-key')).toBe(seed);
  });

  it('--json: every line is an event with its credential, run and ISO time; the tally is the last line and names the runs', async () => {
    const s = await sandbox();
    const ws = workspace({ sandbox: s, credential: 'api' });
    addCredential(ws, s, 'billing-key');
    addCredential(ws, s, 'search');
    holdLock(ws, 'search', HELD);

    const pass = await rekeyIn(ws, ['--json', 'rotate', 'api', 'billing-key', 'search']);
    expect(pass.code, show(pass)).toBe(0);
    const events = ndjson(pass);
    const tally = events.at(-1)!;
    expect(tally).toMatchObject({ event: 'tally', rotated: 2, reminded: 0, skipped: { total: 1, locked: 1 }, failed: { total: 0 }, exit: 0 });
    const runs = runIds(ws);
    expect(runs).toHaveLength(2);
    expect(tally['credentials']).toEqual([
      { credential: 'api', outcome: 'rotated', run: expect.any(String) },
      { credential: 'billing-key', outcome: 'rotated', run: expect.any(String) },
      expect.objectContaining({ credential: 'search', outcome: 'skipped', reason: 'locked', run: HELD }),
    ]);
    const runOf = new Map(events.filter((e) => e['event'] === 'run.started').map((e) => [e['credential'], e['run']]));
    expect(new Set(runOf.values())).toEqual(new Set(runs));
    for (const event of events) {
      expect(typeof event['time'], JSON.stringify(event)).toBe('string');
      expect(new Date(event['time'] as string).toISOString()).toBe(event['time']);
      if (event === tally) continue;
      expect(['api', 'billing-key', 'search'], JSON.stringify(event)).toContain(event['credential']);
      // Every event of a run that started carries that run's id (a note may come before run.started).
      if (event['credential'] !== 'search' && event['event'] !== 'note') expect(event['run'], JSON.stringify(event)).toBe(runOf.get(event['credential']));
    }
    expect(events).toContainEqual(
      expect.objectContaining({ event: 'skipped', credential: 'search', reason: 'locked', holder: expect.objectContaining({ run: HELD, host: hostname() }) }),
    );
  });

  it('plain text: every line of a run names its credential, aligned; a rolled-back one is counted with the command to look at it', async () => {
    const s = await sandbox();
    // A second provider that rejects every key a rotation mints: that credential's verify fails and it rolls back.
    const failing = await sandbox({ rejectMintedOverHttp: true });
    const ws = workspace({ sandbox: s, credential: 'api' });
    addCredential(ws, s, 'billing-key');
    const seed = addCredential(ws, failing, 'broken');

    const pass = await rekeyIn(ws, ['rotate', 'api', 'billing-key', 'broken']);
    expect(pass.code, show(pass)).toBe(1);
    const [body, tally] = pass.stdout.split(/\n\n(?=rotated )/);
    for (const line of body!.split('\n').filter((l) => l !== '')) expect(line).toMatch(/^(\[api\] {10}|\[billing-key\] {2}|\[broken\] {7})/);
    expect(body).toMatch(/^\[billing-key\] {2}done in /m);
    expect(pass.stderr).not.toMatch(/\n\s+at /);
    const broken = runIds(ws).find((run) => readFileSync(join(ws.stateDir, 'runs', `${run}.jsonl`), 'utf8').includes('"credential":"broken"'))!;
    expect(tally).toMatch(/^rotated 2 · reminded 0 · skipped 0 · failed 1 \(1 rolled back\) · /);
    expect(tally).toContain(`[broken]       failed, rolled back: \`rekey log ${broken}\``);
    expect(keyOf(ws, 'broken')).toBe(seed);
  });

  it('a credential needing a person, named on the command line without answers, fails clearly (2) and starts nothing', async () => {
    const s = await sandbox();
    const ws = workspace({ sandbox: s });
    writeFileSync(join(ws.dir, 'sp.env'), `STREAMPIXEL_API_KEY=${'sk_'.padEnd(40, 'x')}\n`, { mode: 0o600 });
    appendFileSync(
      ws.config,
      `  streampixel-prod:\n    runbook: streampixel\n    inputs: { userId: u, projectId: p, baseUrl: ${s.url}/pixelStripeApi }\n` +
        '    stores: [{ dotenv: ./sp.env#STREAMPIXEL_API_KEY }]\n',
    );
    const result = await rekeyIn(ws, ['rotate', 'streampixel-prod']);
    expect(result.code, show(result)).toBe(2);
    expect(result.stderr).toContain('streampixel-prod needs a person');
    expect(result.stderr).toContain('`rekey drill streampixel-prod`');
    expect(result.stdout).not.toContain('needs a person');
    expect(runIds(ws)).toEqual([]);
  });

  it('twelve credentials at once (--concurrency 12): all rotated, no MaxListenersExceededWarning', async () => {
    const s = await sandbox();
    const ws = workspace({ sandbox: s, credential: 'key-00' });
    for (let i = 1; i < 12; i++) addCredential(ws, s, `key-${String(i).padStart(2, '0')}`);
    const pass = await rekeyIn(ws, ['rotate', '--due', '--due-unknown', '--concurrency', '12'], { timeoutMs: 60_000 });
    expect(pass.code, show(pass)).toBe(0);
    expect(pass.stderr).not.toContain('MaxListenersExceededWarning');
    expect(pass.stdout).toMatch(/^rotated 12 · reminded 0 · skipped 0 · failed 0 · /m);
  }, 90_000);
});
