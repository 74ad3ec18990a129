#!/usr/bin/env node
/**
 * The rekey command line. Only commander is imported here; every command's module (and with it YAML, zod, the
 * SDKs) is imported when that command runs, so `rekey --help` and `rekey status` start fast.
 * Errors become exit codes in one place, below: 0 done · 1 failed or rolled back · 2 bad input · 3 refused · 4 internal.
 */
import { Command, Option } from 'commander';
import { installOutputGuard } from './output-guard.js';

installOutputGuard();
// `rekey log | head -1`, `rekey --json incident … | grep -m1 old.dead`: the reader has gone. That is no error of the
// command, and a run under way must not stop half-way for it (the journal, the stores and the report still need
// their writes): what would have been printed is dropped, and the command ends with its own exit code.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE' || error.code === 'ERR_STREAM_DESTROYED') return;
    throw error;
  });
}

const program = new Command();
program
  .name('rekey')
  .description('Credential rotation as a scripted, timed, resumable run: generate → roll out → verify → revoke → audit.')
  .version('0.1.0')
  .option('--config <file>', 'the rekey.yaml to use (default: ./rekey.yaml)')
  .option('--json', 'print NDJSON events on stdout instead of text')
  .showHelpAfterError('(run `rekey --help` for the commands)')
  // A usage error (unknown command or option, missing argument) is bad input, exit 2: commander's own 1 would read
  // as "rotation failed" to a scheduler. Subcommands inherit this, since it is set before they are added.
  .exitOverride((error) => process.exit(error.exitCode === 0 ? 0 : 2))
  .addHelpText(
    'after',
    '\nExit codes: 0 done · 1 rotation failed or rolled back · 2 bad input or configuration · 3 refused (locked) · 4 internal error · 130 ' +
      'interrupted\nFirst time? `rekey rehearse` runs a full rotation against a built-in sandbox, touching none of your files.',
  );

type Global = { config?: string; json?: boolean };
const globals = (): Global => program.opts<Global>();
const run =
  (load: () => Promise<{ default: (args: never, globals: Global) => Promise<number> }>) =>
  async (...args: unknown[]) => {
    const command = args.at(-1) as Command;
    const positional = args.slice(0, -2);
    const options = command.opts();
    try {
      const { default: action } = await load();
      process.exitCode = await action({ args: positional, options } as never, globals());
    } catch (error) {
      // Loaded only on the error path: a command that succeeds never pays for it.
      const { reportError } = await import('./report-error.js');
      process.exitCode = reportError(error, globals().json === true);
    }
  };

program
  .command('drill')
  .description('rotate a credential now, with a person at the keyboard: timed, human steps prompted, timeline at the end')
  .argument('<credential>', 'credential id from rekey.yaml')
  .option('--answers <file>', 'answers for human steps (YAML: step id → yes, or { env: VAR } for a pasted key)')
  .option('--budget <duration>', 'time budget shown as a countdown (default: policy budget, 5m)')
  .option(
    '--dry-run',
    'check and read the stores and check the old key with the provider; show every write and every step of yours as "would …", ask nothing and make no write',
  )
  .action(run(() => import('./drill.js')));

program
  .command('incident')
  .description('a leaked credential: rotate it now, prove the old key dead, then find where it leaked (working tree, git history) and audit since the leak')
  .argument('<credential>', 'credential id from rekey.yaml')
  .requiredOption('--since <time>', 'when the leak began: ISO 8601, "YYYY-MM-DD HH:MM" (local time), or an age such as 3h or 2d')
  .option(
    '--revoke-first',
    'revoke and prove the old key dead right after the new key is staged, before roll out (consumers fail until roll out is done; no rollback)',
  )
  .option('--answers <file>', 'answers for human steps (YAML: step id → yes, or { env: VAR } for a pasted key)')
  .option('--budget <duration>', 'time budget shown as a countdown (default: policy budget, 5m)')
  .action(run(() => import('./incident.js')));

program
  .command('rotate')
  .description('rotate unattended (cron, CI): steps that need a person fail unless --answers supplies them')
  .argument('[credentials...]', 'credential ids (default with --due: every credential past its max age)')
  .option('--due', 'rotate every credential whose age (from its stores) has reached its policy (others, and unknown ages, are skipped)')
  .option('--due-unknown', 'with --due: also rotate credentials whose age nothing records (no store keeps a date, no policy.lastRotated)')
  .option('--answers <file>', 'answers for human steps (YAML: step id → yes, or { env: VAR })')
  .option('--concurrency <n>', 'credentials rotated at once', '16')
  .option('--dry-run', 'read the stores and check the old key with the provider; show every write as "would …" and make none')
  .action(run(() => import('./rotate.js')));

program
  .command('schedule')
  .description("print what to paste into your scheduler to run `rekey rotate --due` often enough for the config's policies")
  .addOption(
    new Option('--format <format>', 'a crontab line, systemd units, a Kubernetes CronJob or a GitHub Actions workflow')
      .choices(['cron', 'systemd', 'kubernetes', 'github-actions'])
      .default('cron'),
  )
  .option('--every <duration>', 'how often to run (default: a tenth of the shortest maxAge, at most daily), such as 15m, 6h or 1d')
  .action(run(() => import('./schedule.js')));

program
  .command('plan')
  .description('show the steps a rotation would run; nothing is written')
  .argument('<credential>', 'credential id from rekey.yaml')
  .action(run(() => import('./plan.js')));

program
  .command('check')
  .description('read every store of a credential (no writes) and check permissions, before a drill')
  .argument('[credentials...]', 'credential ids (default: all)')
  .action(run(() => import('./check.js')));

program
  .command('resume')
  .description('continue an interrupted or failed run from its journal, checking the real state of stores and provider')
  .argument('<run>', 'run id (see `rekey log`)')
  .option('--answers <file>', 'answers for human steps')
  .option('--mint-again', 'the interrupted attempt may have minted a key rekey never received: you revoked it (or found none), so mint again')
  .action(run(() => import('./resume.js')));

program
  .command('rollback')
  .description('restore the previous value of a run wherever the overlap allows it')
  .argument('<run>', 'run id (see `rekey log`)')
  .action(run(() => import('./rollback.js')));

program
  .command('status')
  .description('age of every credential against its policy (read from its stores), where the age comes from, and its last run')
  .option('--offline', "read no store: take ages from policy.lastRotated and this machine's journals only")
  .action(run(() => import('./status.js')));

program
  .command('log')
  .description('runs, newest first, or one run step by step')
  .argument('[run]', 'a run id to show in full')
  .action(run(() => import('./log.js')));

const audit = program.command('audit').description('the hash-chained audit log');
audit
  .command('verify')
  .description('check the audit log hash chain; names the first altered or removed record and exits 1')
  .action(run(() => import('./audit-verify.js')));

const runbook = program.command('runbook').description('the runbooks rekey knows');
runbook
  .command('list')
  .description('list runbooks')
  .action(run(() => import('./runbook-list.js')));
runbook
  .command('show')
  .description("show a runbook's steps; --format md renders the team's written runbook")
  .argument('<name>', 'runbook name or path')
  .addOption(new Option('--format <format>', 'output format').choices(['text', 'md']).default('text'))
  .action(run(() => import('./runbook-show.js')));

const config = program.command('config').description('configuration helpers');
config
  .command('schema')
  .description('print the JSON Schema of rekey.yaml (for editors)')
  .action(run(() => import('./config-schema.js')));

program
  .command('rehearse')
  .description('a full rotation against the built-in sandbox provider and a throw-away .env: practice, nothing of yours touched')
  .addOption(
    new Option('--overlap <overlap>', "how the sandbox treats the old key (the quick start; a --runbook rehearsal uses the runbook's overlap)")
      .choices(['until-revoked', 'none'])
      .default('until-revoked'),
  )
  .option('--runbook <name>', "rehearse that runbook's own drill, with the sandbox playing the provider (e.g. streampixel)")
  .option('--answers <file>', 'answers for human steps (YAML: step id → yes; a capture answered yes is minted by the sandbox)')
  .option('--budget <duration>', 'time budget shown as a countdown (default 5m)')
  .option('--keep', 'keep the temporary folder (config, .env, journal, report) and print its path')
  .action(run(() => import('./rehearse.js')));

await program.parseAsync(process.argv);
