/**
 * The fake Secrets Manager checked by the AWS CLI (botocore, a client written by others than the fake's author): its
 * JSON 1.1 replies, error shapes, idempotent PutSecretValue, label moves and NextToken pages, as the API reference
 * documents them (https://docs.aws.amazon.com/secretsmanager/latest/apireference/). Skipped, with the reason in its
 * name, where no `aws` runs (`apt-get install awscli`).
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { start, type RunningSecretsManager } from '../fakes/aws-secrets-manager-server.js';

/** The first AWS CLI that runs (v1 from pip or v2 from Debian: both parse with botocore). */
const cli = ['aws', '/usr/bin/aws'].find((candidate) => spawnSync(candidate, ['--version'], { stdio: 'ignore' }).status === 0);

let server: RunningSecretsManager;
let home: string;
beforeAll(async () => {
  server = await start();
  home = mkdtempSync(join(tmpdir(), 'rekey-awscli-'));
});
afterAll(async () => {
  await server?.close();
  if (home !== undefined) rmSync(home, { recursive: true, force: true });
});

interface Answer {
  readonly code: number | null;
  readonly json: Record<string, unknown>;
  readonly stderr: string;
}

/** Run `aws secretsmanager …` against the fake; asynchronous, since the fake answers from this process. */
async function aws(...args: string[]): Promise<Answer> {
  const child = spawn(cli!, ['secretsmanager', ...args, '--endpoint-url', server.url, '--region', 'us-east-1', '--output', 'json'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      PATH: process.env['PATH'] ?? '/usr/bin:/bin',
      HOME: home,
      AWS_ACCESS_KEY_ID: 'FAKEREKEYAWSCLI00001',
      AWS_SECRET_ACCESS_KEY: 'not-a-secret-fake-awscli-check',
      // Neither the person's files nor an instance's metadata service: only what is given here.
      AWS_CONFIG_FILE: join(home, 'config'),
      AWS_SHARED_CREDENTIALS_FILE: join(home, 'credentials'),
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_PAGER: '',
      AWS_MAX_ATTEMPTS: '1',
    },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  return { code, json: stdout.trim() === '' ? {} : (JSON.parse(stdout) as Record<string, unknown>), stderr };
}

/** A timestamp as the CLI prints it: ISO 8601 (v2's default) or epoch seconds (v1's). */
function when(value: unknown): number {
  return typeof value === 'number' ? value * 1000 : Date.parse(String(value));
}

describe(`the fake Secrets Manager, as the AWS CLI sees it${cli === undefined ? ' (SKIPPED: no aws CLI; apt-get install awscli)' : ''}`, () => {
  it.skipIf(cli === undefined)(
    'creates, reads, stages idempotently, moves AWSCURRENT by compare-and-swap, pages with NextToken, and names its errors',
    async () => {
      const created = await aws('create-secret', '--name', 'app/db', '--secret-string', 'rk_canary_cli_1');
      expect(created.code, created.stderr).toBe(0);
      expect(created.json['ARN']).toMatch(/^arn:aws:secretsmanager:us-east-1:\d{12}:secret:app\/db-[A-Za-z0-9]{6}$/);
      const first = created.json['VersionId'] as string;
      expect(first).toMatch(/^[0-9a-f-]{32,64}$/);

      const read = await aws('get-secret-value', '--secret-id', 'app/db');
      expect(read.code, read.stderr).toBe(0);
      expect(read.json).toMatchObject({ Name: 'app/db', SecretString: 'rk_canary_cli_1', VersionId: first, VersionStages: ['AWSCURRENT'] });
      expect(read.json['ARN']).toBe(created.json['ARN']);
      // A version's CreatedDate is when it was written (rekey's ages come from it): the same on every read.
      const firstCreated = when(read.json['CreatedDate']);
      expect(Math.abs(firstCreated - Date.now())).toBeLessThan(10 * 60_000);
      await new Promise((resolve) => setTimeout(resolve, 1_100));
      const reread = await aws('get-secret-value', '--secret-id', 'app/db');
      expect(when(reread.json['CreatedDate'])).toBe(firstCreated);

      // PutSecretValue with a token: a new version labelled AWSPENDING only; the same call again changes nothing,
      // and the same token with another value is refused (API reference, PutSecretValue, ClientRequestToken).
      const token = randomUUID();
      const put = ['put-secret-value', '--secret-id', 'app/db', '--client-request-token', token, '--version-stages', 'AWSPENDING'];
      const staged = await aws(...put, '--secret-string', 'rk_canary_cli_2');
      expect(staged.code, staged.stderr).toBe(0);
      expect(staged.json).toMatchObject({ VersionId: token, VersionStages: ['AWSPENDING'] });
      const again = await aws(...put, '--secret-string', 'rk_canary_cli_2');
      expect(again.code, again.stderr).toBe(0);
      expect(again.json).toEqual(staged.json);
      const other = await aws(...put, '--secret-string', 'rk_canary_cli_3');
      expect(other.code).not.toBe(0);
      expect(other.stderr).toContain('(ResourceExistsException)');

      // AWSCURRENT is on the first version: moving it without naming that version is refused, naming it moves it
      // (and AWSPREVIOUS with it, which the service does by itself).
      const blind = await aws('update-secret-version-stage', '--secret-id', 'app/db', '--version-stage', 'AWSCURRENT', '--move-to-version-id', token);
      expect(blind.code).not.toBe(0);
      expect(blind.stderr).toContain('(InvalidParameterException)');
      const moved = await aws(
        'update-secret-version-stage',
        '--secret-id',
        'app/db',
        '--version-stage',
        'AWSCURRENT',
        '--move-to-version-id',
        token,
        '--remove-from-version-id',
        first,
      );
      expect(moved.code, moved.stderr).toBe(0);
      const current = await aws('get-secret-value', '--secret-id', 'app/db');
      expect(current.json['SecretString']).toBe('rk_canary_cli_2');

      // One version a page (ListSecretVersionIds is not one the CLI paginates by itself): NextToken to the end.
      const pages: { VersionId: string; VersionStages: string[] }[][] = [];
      for (let next: string | undefined, n = 0; n === 0 || next !== undefined; n++) {
        expect(n).toBeLessThan(5);
        const page = await aws('list-secret-version-ids', '--secret-id', 'app/db', '--max-results', '1', ...(next === undefined ? [] : ['--next-token', next]));
        expect(page.code, page.stderr).toBe(0);
        pages.push(page.json['Versions'] as { VersionId: string; VersionStages: string[] }[]);
        next = page.json['NextToken'] as string | undefined;
      }
      expect(pages.map((page) => page.length)).toEqual([1, 1]);
      const versions = Object.fromEntries(pages.flat().map((v) => [v.VersionId, [...v.VersionStages].sort()]));
      expect(versions).toEqual({ [first]: ['AWSPREVIOUS'], [token]: ['AWSCURRENT', 'AWSPENDING'] });
      const listedFirst = pages.flat().find((v) => v.VersionId === first) as { CreatedDate?: unknown } | undefined;
      expect(when(listedFirst?.CreatedDate)).toBe(firstCreated);
      const described = await aws('describe-secret', '--secret-id', 'app/db');
      expect(described.code, described.stderr).toBe(0);
      expect(
        Object.fromEntries(Object.entries(described.json['VersionIdsToStages'] as Record<string, string[]>).map(([id, stages]) => [id, [...stages].sort()])),
      ).toEqual(versions);

      // PutSecretValue without VersionStages makes the new version AWSCURRENT, and the one it replaces AWSPREVIOUS
      // (API reference, PutSecretValue, VersionStages).
      const plain = await aws('put-secret-value', '--secret-id', 'app/other', '--secret-string', 'x');
      expect(plain.stderr).toContain('(ResourceNotFoundException)');
      const own = await aws('create-secret', '--name', 'app/other', '--secret-string', 'rk_canary_cli_4');
      const replaced = await aws('put-secret-value', '--secret-id', 'app/other', '--secret-string', 'rk_canary_cli_5');
      expect(replaced.code, replaced.stderr).toBe(0);
      expect(replaced.json['VersionStages']).toEqual(['AWSCURRENT']);
      const otherStages = await aws('describe-secret', '--secret-id', 'app/other');
      expect(otherStages.json['VersionIdsToStages']).toEqual({
        [own.json['VersionId'] as string]: ['AWSPREVIOUS'],
        [replaced.json['VersionId'] as string]: ['AWSCURRENT'],
      });

      const missing = await aws('get-secret-value', '--secret-id', 'app/none');
      expect(missing.code).not.toBe(0);
      expect(missing.stderr).toContain('(ResourceNotFoundException)');
      // A token of 65 characters: the CLI sends it (it checks only the minimum, 32), and the service refuses it.
      const long = await aws('put-secret-value', '--secret-id', 'app/db', '--client-request-token', 'a'.repeat(65), '--secret-string', 'x');
      expect(long.code).not.toBe(0);
      expect(long.stderr).toContain('(ValidationException)');
    },
    60_000,
  );
});
