/**
 * `rekey schedule`: each output is parsed, and checked by its ecosystem's own validator where one installs from npm:
 * the Kubernetes objects by kubernetes-models (the OpenAPI schemas of the Kubernetes API, as JSON Schema), the GitHub
 * Actions workflow by @action-validator/core (SchemaStore's github-workflow.json), the systemd units by
 * `systemd-analyze verify` when this machine has it (skipped, visibly, when not). No output may hold a value: the
 * store credentials in the environment of the command are canaries that must appear nowhere.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateWorkflow } from '@action-validator/core';
import { CronJob } from 'kubernetes-models/batch/v1/CronJob';
import { PersistentVolumeClaim } from 'kubernetes-models/v1/PersistentVolumeClaim';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { afterAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { rekey, show } from './helpers.js';

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** Values that the stores would read from the environment: none may be printed. */
const CANARIES = { AWS_SECRET_ACCESS_KEY: 'canary-aws-secret-5f1e', AWS_ACCESS_KEY_ID: 'canary-access-key-id-0', MY_VAULT_TOKEN: 'hvs.canary-token-77' };
const DOTENV_VALUE = 'canary-dotenv-value-3c9a';

/** A config with a .env, AWS, Vault (token in a variable the config names) and GCP stores; `policy` per credential. */
function workspace(maxAge: string, extra = ''): { dir: string; config: string } {
  const dir = mkdtempSync(join(tmpdir(), 'rekey-schedule-'));
  dirs.push(dir);
  const config = join(dir, 'rekey.yaml');
  writeFileSync(join(dir, '.env'), `API_KEY=${DOTENV_VALUE}\n`, { mode: 0o600 });
  writeFileSync(
    config,
    `stateDir: ./state\n${extra}credentials:\n  api:\n    runbook: sandbox\n    inputs: { baseUrl: 'http://127.0.0.1:9', account: a }\n    stores:\n` +
      '      - dotenv: ./.env#API_KEY\n      - aws-secrets-manager: prod/app#API_KEY\n      - vault-kv: secret/app#API_KEY\n        token: MY_VAULT_TOKEN\n' +
      `      - gcp-secret-manager: projects/p/secrets/app\n    policy: { maxAge: ${maxAge} }\n  other:\n    runbook: sandbox\n` +
      "    inputs: { baseUrl: 'http://127.0.0.1:9', account: b }\n    stores: [{ dotenv: ./.env#OTHER_KEY }]\n    policy: { maxAge: 90d }\n",
  );
  return { dir, config };
}

async function schedule(args: readonly string[], maxAge = '30d') {
  const ws = workspace(maxAge);
  const result = await rekey(['schedule', ...args], { cwd: ws.dir, env: CANARIES });
  for (const value of [...Object.values(CANARIES), DOTENV_VALUE]) {
    expect(result.stdout + result.stderr, 'a value reached the output').not.toContain(value);
  }
  return { ...result, ...ws };
}

/** One crontab time field: `*`, a number or a range, an optional step, comma lists (crontab(5)). */
const CRON_FIELD = /^(\*|\d+(-\d+)?)(\/\d+)?(,(\*|\d+(-\d+)?)(\/\d+)?)*$/;

describe('rekey schedule --format cron', () => {
  it('prints comment lines and one crontab line: 5 time fields, then rotate --due with the absolute config path', async () => {
    const out = await schedule(['--format', 'cron']);
    expect(out.code, show(out)).toBe(0);
    const lines = out.stdout.trimEnd().split('\n');
    const entries = lines.filter((line) => !line.startsWith('#'));
    expect(entries).toHaveLength(1);
    const fields = entries[0]!.split(/\s+/);
    expect(
      fields.slice(0, 5).every((field) => CRON_FIELD.test(field)),
      entries[0],
    ).toBe(true);
    // maxAge 30d: a tenth is 3d, more than a day, so daily.
    expect(fields.slice(0, 5).join(' ')).toBe('17 3 * * *');
    const command = fields.slice(5).join(' ');
    expect(command).toContain(`--config ${out.config} rotate --due`);
    // Credentials come from a file the line sources, never from the crontab.
    expect(command).toContain('. "$HOME/.config/rekey/env"');
    // The variables the adapters name, the Vault token by the name the config gives it.
    for (const name of ['AWS_REGION', 'AWS_SECRET_ACCESS_KEY', 'VAULT_ADDR', 'MY_VAULT_TOKEN', 'GOOGLE_APPLICATION_CREDENTIALS']) {
      expect(out.stdout).toMatch(new RegExp(`^#   ${name} \\(`, 'm'));
    }
    expect(out.stdout).not.toMatch(/^#   VAULT_TOKEN /m);
  });

  it('runs often enough for a short maxAge: 2d gives every 3 hours (a tenth, rounded down to an even interval)', async () => {
    const out = await schedule(['--format', 'cron'], '2d');
    expect(out.code, show(out)).toBe(0);
    expect(out.stdout).toMatch(/^17 \*\/3 \* \* \* /m);
  });

  it('--every sets the interval; an interval cron cannot repeat evenly is bad input (exit 2, no stack trace)', async () => {
    const six = await schedule(['--format', 'cron', '--every', '6h']);
    expect(six.code, show(six)).toBe(0);
    expect(six.stdout).toMatch(/^17 \*\/6 \* \* \* /m);
    const seven = await schedule(['--format', 'cron', '--every', '7h']);
    expect(seven.code, show(seven)).toBe(2);
    expect(seven.stderr).toContain('--every 7h');
    expect(seven.stderr).not.toMatch(/\n\s+at /);
    const often = await schedule(['--format', 'github-actions', '--every', '1m']);
    expect(often.code, show(often)).toBe(2);
    expect(often.stderr).toContain('at most every 5 minutes');
  });

  it('warns when --every is longer than the shortest maxAge', async () => {
    const out = await schedule(['--format', 'cron', '--every', '1w'], '2d');
    expect(out.code, show(out)).toBe(0);
    expect(out.stderr).toMatch(/warning: .*longer than the shortest maxAge \(2d, api\)/);
  });
});

describe('rekey --json schedule', () => {
  it('prints one NDJSON event holding the text, the cron expression and the variable names', async () => {
    const ws = workspace('30d');
    const out = await rekey(['--json', 'schedule', '--format', 'kubernetes'], { cwd: ws.dir, env: CANARIES });
    expect(out.code, show(out)).toBe(0);
    const lines = out.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    const event = JSON.parse(lines[0]!) as { event: string; format: string; cron: string; variables: string[]; text: string };
    expect(event).toMatchObject({ event: 'schedule', format: 'kubernetes', cron: '17 3 * * *' });
    expect(event.variables).toEqual(expect.arrayContaining(['AWS_SECRET_ACCESS_KEY', 'MY_VAULT_TOKEN', 'VAULT_ADDR']));
    expect(parseAllDocuments(event.text).map((doc) => (doc.toJS() as { kind: string }).kind)).toContain('CronJob');
    for (const value of Object.values(CANARIES)) expect(out.stdout).not.toContain(value);
  });
});

describe('rekey schedule and notify:', () => {
  it("lists each notify channel's URL variable among the secrets to provide, by name only", async () => {
    const ws = workspace('30d', 'notify:\n  - channel: slack\n    url: { env: TEAM_SLACK_WEBHOOK }\n');
    const url = 'https://hooks.slack.invalid/services/canary-notify-url-1';
    const out = await rekey(['--json', 'schedule', '--format', 'kubernetes'], { cwd: ws.dir, env: { ...CANARIES, TEAM_SLACK_WEBHOOK: url } });
    expect(out.code, show(out)).toBe(0);
    const event = JSON.parse(out.stdout.trimEnd()) as { variables: string[]; text: string };
    expect(event.variables).toContain('TEAM_SLACK_WEBHOOK');
    // As a Secret reference in the CronJob, never as a value.
    expect(event.text).toMatch(/name: TEAM_SLACK_WEBHOOK\s+valueFrom:\s+secretKeyRef:/);
    expect(out.stdout).not.toContain(url);
  });
});

/** systemd-analyze, when this machine has it (Debian's systemd package). */
const analyze = spawnSync('systemd-analyze', ['--version']).status === 0;

describe('rekey schedule --format systemd', () => {
  async function units(): Promise<{ service: string; timer: string; dir: string }> {
    const out = await schedule(['--format', 'systemd']);
    expect(out.code, show(out)).toBe(0);
    const at = out.stdout.indexOf('# ~/.config/systemd/user/rekey.timer');
    expect(at).toBeGreaterThan(0);
    return { service: out.stdout.slice(0, at), timer: out.stdout.slice(at), dir: out.dir };
  }

  it('prints a oneshot service and a persistent timer with a randomized delay', async () => {
    const { service, timer } = await units();
    expect(service).toMatch(/^Type=oneshot$/m);
    expect(service).toMatch(/^ExecStart=\/\S+ \S+ --config \S+rekey\.yaml rotate --due$/m);
    expect(service).toMatch(/^EnvironmentFile=%h\/\.config\/rekey\/env$/m);
    expect(timer).toMatch(/^OnCalendar=\*-\*-\* 03:17:00$/m);
    expect(timer).toMatch(/^Persistent=true$/m);
    expect(timer).toMatch(/^RandomizedDelaySec=\d+$/m);
  });

  it.skipIf(!analyze)('systemd-analyze verify accepts both units, and refuses a broken timer (so the check can fail)', async () => {
    const { service, timer, dir } = await units();
    const folder = join(dir, 'units');
    const runtime = join(dir, 'runtime');
    mkdirSync(folder);
    mkdirSync(runtime, { mode: 0o700 });
    writeFileSync(join(folder, 'rekey.service'), service);
    writeFileSync(join(folder, 'rekey.timer'), timer);
    // A user manager needs a runtime folder; none exists outside a login session.
    const verify = (files: string[]) =>
      spawnSync('systemd-analyze', ['verify', '--user', ...files], { cwd: folder, env: { ...process.env, XDG_RUNTIME_DIR: runtime }, encoding: 'utf8' });
    const good = verify(['./rekey.service', './rekey.timer']);
    expect(good.status, good.stderr).toBe(0);
    writeFileSync(join(folder, 'broken.service'), service);
    writeFileSync(join(folder, 'broken.timer'), timer.replace(/^OnCalendar=.*$/m, 'OnCalendar=every other day'));
    expect(verify(['./broken.service', './broken.timer']).status).not.toBe(0);
  });
});

describe('rekey schedule --format kubernetes', () => {
  it('prints a PVC, a ServiceAccount and a CronJob that the Kubernetes schemas accept', async () => {
    const out = await schedule(['--format', 'kubernetes']);
    expect(out.code, show(out)).toBe(0);
    const docs = parseAllDocuments(out.stdout).map((doc) => doc.toJS() as Record<string, unknown>);
    expect(docs.map((d) => d['kind'])).toEqual(['PersistentVolumeClaim', 'ServiceAccount', 'CronJob']);
    const [claim, account, cronJobData] = docs as [Record<string, unknown>, Record<string, unknown>, Record<string, unknown>];
    expect(() => new PersistentVolumeClaim(claim as never).validate()).not.toThrow();
    expect(() => new ServiceAccount(account as never).validate()).not.toThrow();
    expect(() => new CronJob(cronJobData as never).validate()).not.toThrow();
    // The validator is live: a value outside the API's enum is refused.
    const broken = structuredClone(cronJobData) as { spec: Record<string, unknown> };
    broken.spec['concurrencyPolicy'] = 'Sometimes';
    expect(() => new CronJob(broken as never).validate()).toThrow(/concurrencyPolicy/);

    const spec = new CronJob(cronJobData as never).spec!;
    expect(spec.concurrencyPolicy).toBe('Forbid');
    expect(spec.startingDeadlineSeconds).toBeGreaterThan(0);
    expect(spec.schedule).toBe('17 3 * * *');
    const pod = spec.jobTemplate.spec!.template.spec!;
    expect(pod.restartPolicy).toBe('Never');
    expect(pod.securityContext?.runAsNonRoot).toBe(true);
    const container = pod.containers[0]!;
    expect(container.securityContext?.readOnlyRootFilesystem).toBe(true);
    expect(container.command).toEqual(['rekey', '--config', '/rekey/rekey.yaml', '--json', 'rotate', '--due']);
    // stateDir ./state beside rekey.yaml: the claim is mounted there.
    const stateVolume = pod.volumes!.find((v) => v.persistentVolumeClaim?.claimName === (claim['metadata'] as { name: string }).name)!;
    expect(container.volumeMounts).toContainEqual(expect.objectContaining({ name: stateVolume.name, mountPath: '/rekey/state' }));
    // Secrets by reference only; a literal value is only a path or a folder, never a credential.
    const env = Object.fromEntries((container.env ?? []).map((e) => [e.name, e]));
    for (const name of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'MY_VAULT_TOKEN']) expect(env[name]?.valueFrom?.secretKeyRef?.key, name).toBe(name);
    expect(env['VAULT_ADDR']?.valueFrom?.configMapKeyRef?.key).toBe('VAULT_ADDR');
    for (const e of container.env ?? []) if (e.value !== undefined) expect(e.value, e.name).toMatch(/^\//);
  });
});

/** `${{ scope.NAME }}`, as the workflow must spell a reference. */
const expression = (scope: string, name: string) => `\${{ ${scope}.${name} }}`;

describe('rekey schedule --format github-actions', () => {
  it('prints a workflow that SchemaStore’s github-workflow schema accepts, with secrets by name and minimal permissions', async () => {
    const out = await schedule(['--format', 'github-actions']);
    expect(out.code, show(out)).toBe(0);
    expect(validateWorkflow(out.stdout).errors).toEqual([]);
    // The validator is live: a job without runs-on is refused.
    expect(validateWorkflow(out.stdout.replace(/^ {4}runs-on: .*\n/m, '')).errors).not.toEqual([]);

    const workflow = parse(out.stdout) as {
      on: { schedule: { cron: string }[]; workflow_dispatch: unknown };
      permissions: unknown;
      concurrency: { group: string; 'cancel-in-progress': boolean };
      jobs: { rotate: { steps: { uses?: string; run?: string; env?: Record<string, string>; with?: Record<string, unknown> }[] } };
    };
    expect(workflow.on.schedule).toEqual([{ cron: '17 3 * * *' }]);
    expect(workflow.on).toHaveProperty('workflow_dispatch');
    expect(workflow.permissions).toEqual({ contents: 'read' });
    expect(workflow.concurrency).toEqual({ group: 'rekey', 'cancel-in-progress': false });
    const steps = workflow.jobs.rotate.steps;
    for (const step of steps) if (step.uses !== undefined) expect(step.uses).toMatch(/^[\w-]+\/[\w/-]+@v\d+$/);
    const rotate = steps.find((s) => s.run?.includes('rotate --due'))!;
    expect(rotate.run).toBe('rekey --config rekey.yaml rotate --due');
    expect(rotate.env).toMatchObject({
      AWS_SECRET_ACCESS_KEY: expression('secrets', 'AWS_SECRET_ACCESS_KEY'),
      MY_VAULT_TOKEN: expression('secrets', 'MY_VAULT_TOKEN'),
      VAULT_ADDR: expression('vars', 'VAULT_ADDR'),
    });
    for (const value of Object.values(rotate.env ?? {})) expect(value).toMatch(/^\$\{\{ (secrets|vars)\.[A-Z0-9_]+ \}\}$/);
    // The state folder is restored before the run and kept after it.
    const paths = steps.filter((s) => /actions\/(cache|upload-artifact)/.test(s.uses ?? '')).map((s) => s.with?.['path']);
    expect(paths).toEqual(['state', 'state', 'state']);
  });
});
