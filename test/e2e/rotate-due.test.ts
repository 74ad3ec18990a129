/**
 * `rekey rotate --due`, the scheduled job (cron, a CronJob, a CI schedule): it rotates what is due, leaves what is not,
 * sends a reminder for what needs a person, exits 0 when nothing failed, and run again at once does nothing more.
 * A credential's age comes from its stores (AWS CreatedDate of AWSCURRENT), else policy.lastRotated, else the
 * journal; an age nothing records is not due unless --due-unknown.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { start as startAws } from '../fakes/aws-secrets-manager-server.js';
import { rekeyIn, removeWorkspaces, runIds, sandboxPool, show, workspace } from './helpers.js';

const DAY = 86_400_000;
const daysAgo = (days: number) => new Date(Date.now() - days * DAY).toISOString();
const events = (stdout: string) =>
  stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, unknown>);

const sandbox = sandboxPool();
afterAll(removeWorkspaces);

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
    expect(again.stdout).toMatch(/due-key: not due/);
    expect(again.stdout).toMatch(/streampixel-prod: needs a person \(dashboard step\) — run `rekey drill streampixel-prod`/);
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
