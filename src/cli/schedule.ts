/**
 * `rekey schedule [--format cron|systemd|kubernetes|github-actions] [--every <duration>]`: what a person pastes into
 * the scheduler they already use, to run `rekey rotate --due` often enough for the config's policies. Nothing is
 * written and no store is opened: the output names the environment variables the stores read (from each adapter's
 * `environment`, through the store registry), and every secret by name, never by value.
 */
import { realpathSync } from 'node:fs';
import { isAbsolute, posix, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import type { Config } from '../config/types.js';
import { InputError } from '../contract/errors.js';
import type { StoreVariable } from '../contract/store.js';
import { parseDuration } from '../util/duration.js';
import { formatAge } from '../util/time.js';
import { rekeyVersion } from '../util/version.js';
import type { CommandInput, Globals } from './common.js';
import { openConfig } from './open-config.js';
import { storeCatalog } from './stores.js';

export const FORMATS = ['cron', 'systemd', 'kubernetes', 'github-actions'] as const;
type Format = (typeof FORMATS)[number];

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const WEEK = 7 * DAY;
/** The minute past the hour every schedule starts at: not :00, when every scheduler (and GitHub's) is busiest. */
const OFFSET = 17;
/** Intervals chosen by themselves: a credential is rotated at most a tenth of its maxAge late, and checked at least daily. */
const AUTOMATIC = [15 * MINUTE, 30 * MINUTE, HOUR, 2 * HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR, DAY];
/** GitHub: "The shortest interval you can run scheduled workflows is once every 5 minutes" (Events that trigger workflows, schedule). */
const GITHUB_SHORTEST = 5 * MINUTE;

/** How often the job runs, as cron and systemd say it; only intervals that repeat evenly are offered. */
interface Cadence {
  readonly ms: number;
  readonly cron: string;
  readonly onCalendar: string;
}

function cadenceOf(ms: number): Cadence | undefined {
  const minutes = ms / MINUTE;
  const hours = ms / HOUR;
  if (Number.isInteger(minutes) && minutes >= 1 && minutes < 60 && 60 % minutes === 0) {
    return { ms, cron: minutes === 1 ? '* * * * *' : `*/${minutes} * * * *`, onCalendar: `*-*-* *:00/${minutes}:00` };
  }
  if (Number.isInteger(hours) && hours >= 1 && hours < 24 && 24 % hours === 0) {
    return hours === 1
      ? { ms, cron: `${OFFSET} * * * *`, onCalendar: `*-*-* *:${OFFSET}:00` }
      : { ms, cron: `${OFFSET} */${hours} * * *`, onCalendar: `*-*-* 00/${hours}:${OFFSET}:00` };
  }
  if (ms === DAY) return { ms, cron: `${OFFSET} 3 * * *`, onCalendar: `*-*-* 03:${OFFSET}:00` };
  if (ms === WEEK) return { ms, cron: `${OFFSET} 3 * * 1`, onCalendar: `Mon *-*-* 03:${OFFSET}:00` };
  return undefined;
}

/** The interval and the comment lines that explain it. */
function chooseCadence(config: Config, every: string | undefined, format: Format): { cadence: Cadence; why: string[]; warnings: string[] } {
  const policies = [...config.credentials.values()].filter((c) => c.maxAgeMs !== undefined).sort((a, b) => a.maxAgeMs! - b.maxAgeMs!);
  const shortest = policies[0];
  const unbounded = [...config.credentials.values()].filter((c) => c.maxAgeMs === undefined).map((c) => c.id);
  const why: string[] = [];
  const warnings: string[] = [];
  let cadence: Cadence;
  if (every !== undefined) {
    const ms = parseDuration(every);
    const chosen = ms === undefined ? undefined : cadenceOf(ms);
    if (chosen === undefined) {
      throw new InputError(
        `--every ${every}: a schedule repeats evenly only every N minutes (N divides 60), N hours (N divides 24), 1d or 1w`,
        undefined,
        'for example --every 15m, --every 6h or --every 1d',
      );
    }
    if (format === 'github-actions' && chosen.ms < GITHUB_SHORTEST) {
      throw new InputError(`--every ${every}: GitHub Actions runs a scheduled workflow at most every 5 minutes`, undefined, 'use --every 5m or longer');
    }
    cadence = chosen;
    why.push(`Runs every ${formatAge(chosen.ms)} (--every ${every}).`);
  } else {
    const target = shortest === undefined ? DAY : shortest.maxAgeMs! / 10;
    cadence = cadenceOf(AUTOMATIC.filter((ms) => ms <= target).at(-1) ?? AUTOMATIC[0]!)!;
    why.push(
      shortest === undefined
        ? 'Runs daily: no credential has a maxAge policy.'
        : `Runs every ${formatAge(cadence.ms)}: a tenth of the shortest maxAge (${formatAge(shortest.maxAgeMs!)}, ${shortest.id}) or less, at most daily.`,
    );
  }
  why.push(`rotate --due rotates only what has reached its maxAge, so each credential is rotated at most ${formatAge(cadence.ms)} late;`);
  why.push('a run that fails is tried again at the next pass (a credential another run holds is left to it: rekey locks each one).');
  if (shortest !== undefined && cadence.ms > shortest.maxAgeMs!) {
    warnings.push(
      `--every ${every}: longer than the shortest maxAge (${formatAge(shortest.maxAgeMs!)}, ${shortest.id}): that credential would be overdue between passes`,
    );
  }
  if (unbounded.length > 0) {
    warnings.push(`no maxAge for ${unbounded.join(', ')}: rotate --due never rotates them; give them a policy (maxAge) in ${config.file}`);
  }
  return { cadence, why, warnings };
}

/** The variables the configured stores read, from their adapters, once each (a secret wins over a setting of the same name). */
async function variablesOf(config: Config): Promise<StoreVariable[]> {
  const found = new Map<string, StoreVariable>();
  for (const credential of config.credentials.values()) {
    for (const entry of credential.stores) {
      const adapter = await storeCatalog.adapter(entry.ref.kind);
      for (const variable of adapter.environment?.(entry.options, entry.ref) ?? []) {
        const seen = found.get(variable.name);
        if (seen === undefined) found.set(variable.name, variable);
        else if (seen.optional === true && variable.optional !== true) found.set(variable.name, { ...seen, optional: false });
      }
    }
  }
  // The notify channels' URLs are secrets too, read from the environment by name (never written in rekey.yaml).
  for (const channel of config.notify ?? []) {
    if (channel.urlEnv !== undefined && !found.has(channel.urlEnv))
      found.set(channel.urlEnv, { name: channel.urlEnv, kind: 'secret', description: `the URL of the notify channel ${channel.name}` });
  }
  return [...found.values()].sort((a, b) => a.name.localeCompare(b.name));
}

interface Plan {
  readonly config: Config;
  readonly cadence: Cadence;
  readonly why: readonly string[];
  readonly variables: readonly StoreVariable[];
  readonly version: string;
}

const comment = (lines: readonly string[]): string => lines.map((line) => (line === '' ? '#' : `# ${line}`)).join('\n');

function variableLines(variables: readonly StoreVariable[], how: string): string[] {
  if (variables.length === 0) return ['The stores of this config read no environment variable.'];
  return [
    `The stores read these environment variables, ${how}:`,
    ...variables.map(
      (v) => `  ${v.name} (${v.kind === 'file' ? 'the path of a file holding a secret' : v.kind}${v.optional === true ? ', optional' : ''}): ${v.description}`,
    ),
    'Add what your runbooks and rollout hooks read themselves (a provider admin key, for example).',
  ];
}

/** A word for /bin/sh, quoted only when needed. */
const shellWord = (word: string): string => (/^[\w./:=@+-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`);

/** The command as this machine runs it: this node and this rekey, by absolute path (cron's PATH is /usr/bin:/bin). */
function localCommand(plan: Plan): string[] {
  const script = realpathSync(process.argv[1] ?? fileURLToPath(import.meta.url));
  return [process.execPath, script, '--config', resolve(plan.config.file), 'rotate', '--due'];
}

const ENV_FILE = '.config/rekey/env';

function crontab(plan: Plan): string {
  const command = localCommand(plan).map(shellWord).join(' ');
  const line = plan.variables.length === 0 ? `exec ${command}` : `set -a && . "$HOME/${ENV_FILE}" && exec ${command}`;
  // In a crontab line `%` is a newline unless escaped (crontab(5)).
  const text = `${plan.cadence.cron} ${line.replaceAll('%', '\\%')}`;
  return `${comment([
    `rekey: rotate what is due in ${plan.config.file}. Paste into \`crontab -e\` (times are this machine's time zone).`,
    ...plan.why,
    'No flock is needed: rekey locks each credential itself, and a pass that finds one locked leaves it to the run holding it.',
    'The output (plain text) is mailed to the crontab owner by cron; set MAILTO= above the line to send it elsewhere.',
    ...variableLines(plan.variables, `read from ~/${ENV_FILE} (NAME='value' lines, chmod 600), never from the crontab`),
    `The state folder (journals, locks, audit log) is ${plan.config.stateDir}.`,
  ])}\n${text}\n`;
}

/** One word of a systemd command line (systemd.service(5), "Command lines"): quoted when needed, % and $ escaped. */
const unitWord = (word: string): string => {
  const escaped = word.replaceAll('%', '%%').replaceAll('$', '$$$$');
  return /^[^\s"'\\;]+$/.test(escaped) ? escaped : `"${escaped.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;
};

function systemd(plan: Plan): string {
  const delay = Math.round(Math.min(plan.cadence.ms / 10, 30 * MINUTE) / 1000);
  const service = [
    comment([
      '~/.config/systemd/user/rekey.service',
      `rekey: rotate what is due in ${plan.config.file}. Install both files, then`,
      '  systemctl --user daemon-reload && systemctl --user enable --now rekey.timer',
      '  loginctl enable-linger "$USER"    # so that the timer runs while you are logged out',
      ...variableLines(plan.variables, `from ~/${ENV_FILE} (NAME='value' lines, chmod 600), never in the unit`),
      `The output (plain text) goes to the journal: journalctl --user -u rekey. State folder: ${plan.config.stateDir}.`,
    ]),
    '[Unit]',
    `Description=rekey: rotate the credentials that are due`,
    '',
    '[Service]',
    'Type=oneshot',
    ...(plan.variables.length === 0 ? [] : [`EnvironmentFile=%h/${ENV_FILE}`]),
    `ExecStart=${localCommand(plan).map(unitWord).join(' ')}`,
    'NoNewPrivileges=yes',
    'PrivateTmp=yes',
    '',
  ];
  const timer = [
    comment([
      '~/.config/systemd/user/rekey.timer',
      ...plan.why,
      'Persistent=true: a pass missed while the machine was off runs at the next boot. RandomizedDelaySec spreads the start.',
    ]),
    '[Unit]',
    'Description=rekey: rotate the credentials that are due, on a schedule',
    '',
    '[Timer]',
    `OnCalendar=${plan.cadence.onCalendar}`,
    'Persistent=true',
    `RandomizedDelaySec=${delay}`,
    '',
    '[Install]',
    'WantedBy=timers.target',
    '',
  ];
  return `${service.join('\n')}\n${timer.join('\n')}`;
}

/** Where the config and the state folder sit in the container: the config's folder becomes /rekey. */
const CONTAINER_DIR = '/rekey';
const CREDENTIAL_FILES = '/var/run/secrets/rekey';

/** A path relative to the config's folder, as it lies under `base`; an absolute path elsewhere stays as it is. */
function under(base: string, from: string, path: string, absolute: boolean): string {
  const rel = relative(from, path);
  if (rel === '') return base;
  if (rel.startsWith('..') || isAbsolute(rel)) return absolute ? path.split(sep).join('/') : rel.split(sep).join('/');
  return posix.join(base, rel.split(sep).join(posix.sep));
}

function kubernetes(plan: Plan): string {
  const { config, cadence, variables } = plan;
  const stateDir = under(CONTAINER_DIR, config.baseDir, config.stateDir, true);
  const configFile = posix.join(CONTAINER_DIR, 'rekey.yaml');
  const secrets = variables.filter((v) => v.kind === 'secret');
  const settings = variables.filter((v) => v.kind === 'setting');
  const files = variables.filter((v) => v.kind === 'file');
  const env = [
    ...settings.map((v) => ({ name: v.name, valueFrom: { configMapKeyRef: { name: 'rekey', key: v.name, optional: v.optional === true } } })),
    ...secrets.map((v) => ({ name: v.name, valueFrom: { secretKeyRef: { name: 'rekey-credentials', key: v.name, optional: v.optional === true } } })),
    // A path, not a value: the file comes from the Secret, mounted below.
    ...files.map((v) => ({ name: v.name, value: posix.join(CREDENTIAL_FILES, v.name) })),
    // The config cache and HOME must be writable with a read-only root file system.
    { name: 'HOME', value: '/tmp' },
    { name: 'XDG_CACHE_HOME', value: '/tmp/cache' },
  ];
  const claim = {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: { name: 'rekey-state', labels: { 'app.kubernetes.io/name': 'rekey' } },
    spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
  };
  const account = { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'rekey', labels: { 'app.kubernetes.io/name': 'rekey' } } };
  const cronJob = {
    apiVersion: 'batch/v1',
    kind: 'CronJob',
    metadata: { name: 'rekey', labels: { 'app.kubernetes.io/name': 'rekey' } },
    spec: {
      schedule: cadence.cron,
      timeZone: 'Etc/UTC',
      concurrencyPolicy: 'Forbid',
      startingDeadlineSeconds: Math.max(60, Math.min(Math.round(cadence.ms / 2000), 3600)),
      successfulJobsHistoryLimit: 3,
      failedJobsHistoryLimit: 3,
      jobTemplate: {
        spec: {
          backoffLimit: 0,
          template: {
            metadata: { labels: { 'app.kubernetes.io/name': 'rekey' } },
            spec: {
              serviceAccountName: 'rekey',
              restartPolicy: 'Never',
              securityContext: { runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001, fsGroup: 10001, seccompProfile: { type: 'RuntimeDefault' } },
              containers: [
                {
                  name: 'rekey',
                  image: `rekey:${plan.version}`,
                  command: ['rekey', '--config', configFile, '--json', 'rotate', '--due'],
                  env,
                  securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
                  volumeMounts: [
                    { name: 'config', mountPath: configFile, subPath: 'rekey.yaml', readOnly: true },
                    { name: 'state', mountPath: stateDir },
                    { name: 'tmp', mountPath: '/tmp' },
                    ...(files.length === 0 ? [] : [{ name: 'credential-files', mountPath: CREDENTIAL_FILES, readOnly: true }]),
                  ],
                },
              ],
              volumes: [
                { name: 'config', configMap: { name: 'rekey', items: [{ key: 'rekey.yaml', path: 'rekey.yaml' }] } },
                { name: 'state', persistentVolumeClaim: { claimName: 'rekey-state' } },
                { name: 'tmp', emptyDir: {} },
                ...(files.length === 0
                  ? []
                  : [
                      {
                        name: 'credential-files',
                        secret: { secretName: 'rekey-credentials', optional: true, items: files.map((v) => ({ key: v.name, path: v.name })) },
                      },
                    ]),
              ],
            },
          },
        },
      },
    },
  };
  const create = [
    `  kubectl create configmap rekey --from-file=rekey.yaml=${config.file}${settings.map((v) => ` --from-literal=${v.name}=…`).join('')}`,
    ...(secrets.length + files.length === 0
      ? []
      : [
          `  kubectl create secret generic rekey-credentials${secrets.map((v) => ` --from-literal=${v.name}=…`).join('')}` +
            files.map((v) => ` --from-file=${v.name}=<file>`).join(''),
        ]),
  ];
  const header = comment([
    `rekey: rotate what is due in ${config.file}, as a Kubernetes CronJob. Apply with kubectl apply -f, after creating`,
    ...create,
    ...plan.why,
    'concurrencyPolicy Forbid: a pass never starts while the last one runs. backoffLimit 0: a failed run is left to',
    'rekey resume or the next pass, not retried at once by Kubernetes. The output is NDJSON, one event a line, for log collectors.',
    ...variableLines(variables, 'from the ConfigMap rekey (settings) and the Secret rekey-credentials (secrets and key files)'),
    'With workload identity (EKS IRSA or Pod Identity, GKE Workload Identity) annotate the ServiceAccount and leave the keys out.',
    `The PersistentVolumeClaim keeps the state folder (journals, locks, audit log, reports) at ${stateDir} from one pass to the next.`,
    `The image is yours: one with rekey ${plan.version} installed (npm install --global), running as a user other than root.`,
    'Runbooks and .env files the config names by relative path must be in the image or mounted beside it.',
  ]);
  const docs = [claim, account, cronJob].map((doc) => stringify(doc, { lineWidth: 0 }));
  return `${header}\n${docs.join('---\n')}`;
}

function githubActions(plan: Plan): string {
  const { config, cadence, variables } = plan;
  // Paths as the repository sees them: run `rekey schedule` from the repository's root.
  const configFile = under('.', process.cwd(), config.file, false).replace(/^\.\//, '');
  const stateDir = under('.', process.cwd(), config.stateDir, false).replace(/^\.\//, '');
  // A GitHub Actions expression, `${{ … }}`: the runner puts the value in; the workflow holds only its name.
  const expression = (scope: 'secrets' | 'vars' | 'github', name: string) => `\${{ ${scope}.${name} }}`;
  const env: Record<string, string> = {};
  for (const v of variables) if (v.kind !== 'file') env[v.name] = expression(v.kind === 'secret' ? 'secrets' : 'vars', v.name);
  const files = variables.filter((v) => v.kind === 'file');
  const cacheKey = `rekey-state-${expression('github', 'run_id')}`;
  const workflow = {
    name: 'rekey',
    on: { schedule: [{ cron: cadence.cron }], workflow_dispatch: {} },
    permissions: { contents: 'read' },
    concurrency: { group: 'rekey', 'cancel-in-progress': false },
    jobs: {
      rotate: {
        'runs-on': 'ubuntu-latest',
        'timeout-minutes': 60,
        steps: [
          { uses: 'actions/checkout@v4', with: { 'persist-credentials': false } },
          { uses: 'actions/setup-node@v4', with: { 'node-version': 20 } },
          { name: 'Install rekey', run: `npm install --global @rekey-cli/rekey@${plan.version}` },
          {
            name: 'Restore the state folder',
            uses: 'actions/cache/restore@v4',
            with: { path: stateDir, key: cacheKey, 'restore-keys': 'rekey-state-' },
          },
          ...files.map((v) => ({
            name: `Write ${v.name} from the repository's secrets`,
            env: { CONTENT: expression('secrets', v.name) },
            // Only when the secret is set (an optional key file): an empty file would be read as a broken key.
            run:
              `if [ -n "$CONTENT" ]; then umask 077 && printf '%s' "$CONTENT" > "$RUNNER_TEMP/${v.name}" && ` +
              `echo "${v.name}=$RUNNER_TEMP/${v.name}" >> "$GITHUB_ENV"; fi`,
          })),
          {
            name: 'Rotate what is due',
            run: `rekey --config ${shellWord(configFile)} rotate --due`,
            ...(Object.keys(env).length === 0 ? {} : { env }),
          },
          { name: 'Save the state folder', if: 'always()', uses: 'actions/cache/save@v4', with: { path: stateDir, key: cacheKey } },
          {
            name: 'Keep the journals and the audit log',
            if: 'always()',
            uses: 'actions/upload-artifact@v4',
            with: { name: cacheKey, path: stateDir, 'retention-days': 90, 'include-hidden-files': true },
          },
        ],
      },
    },
  };
  const header = comment([
    `rekey: rotate what is due in ${configFile}. Save as .github/workflows/rekey.yml in the repository holding it.`,
    ...plan.why,
    'Scheduled workflows run in UTC, on the default branch, and may start late when GitHub is busy (hence not on the hour).',
    'permissions: contents read is all the job needs (a cloud role through OIDC also needs id-token: write).',
    'concurrency: one pass at a time, and a pass under way is never cancelled half-way through a rotation.',
    ...variableLines(variables, "from the repository's secrets (secrets.NAME) and variables (vars.NAME)"),
    'Keyless alternatives: aws-actions/configure-aws-credentials or google-github-actions/auth with OIDC, instead of keys.',
    `Where the state lives: the runner's disk is thrown away after each run, so the state folder ${stateDir} is restored`,
    'from the Actions cache and saved again after. A cache is evicted after 7 days unused or when the repository exceeds',
    "its quota: the next pass then starts without journals or audit log (and, where a credential's age comes from its",
    "journal, rotates it once more). The artifact keeps each pass's state for 90 days; for a longer record, keep a disk.",
    "Output is plain text, for the run's log. Files the config names (runbooks, a .env) must be in the repository.",
  ]);
  return `${header}\n${stringify(workflow, { lineWidth: 0 })}`;
}

const RENDER: Readonly<Record<Format, (plan: Plan) => string>> = {
  cron: crontab,
  systemd,
  kubernetes,
  'github-actions': githubActions,
};

export default async function schedule(input: CommandInput, globals: Globals): Promise<number> {
  const format = (input.options['format'] ?? 'cron') as Format;
  const every = input.options['every'] as string | undefined;
  const config = await openConfig(globals);
  const { cadence, why, warnings } = chooseCadence(config, every, format);
  const plan: Plan = { config, cadence, why, variables: await variablesOf(config), version: rekeyVersion() ?? 'latest' };
  const text = RENDER[format](plan);
  for (const warning of warnings) process.stderr.write(`warning: ${warning}\n`);
  if (globals.json === true) {
    const event = { event: 'schedule', format, everyMs: cadence.ms, cron: cadence.cron, variables: plan.variables.map((v) => v.name), warnings, text };
    process.stdout.write(`${JSON.stringify(event)}\n`);
  } else {
    process.stdout.write(text);
  }
  return 0;
}
