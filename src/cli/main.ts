#!/usr/bin/env node
/**
 * The rekey command line. Only commander is imported here; every command's module (and with it YAML, zod, the
 * SDKs) is imported when that command runs, so `rekey --help` and `rekey status` start fast.
 * Errors become exit codes in one place, below: 0 done · 1 failed or rolled back · 2 bad input · 3 refused · 4 internal.
 */
import { createRequire } from 'node:module';
import type * as Commander from 'commander';
import { installOutputGuard } from './output-guard.js';

// commander is CommonJS: required, it loads as CommonJS; imported, node's loader first parses its source for the names
// it exports and wraps it as a module (~2 ms of every start). The types are commander's own either way.
const { Argument, Command, Option } = createRequire(import.meta.url)('commander') as typeof Commander;
type Command = Commander.Command;

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

// The version comes from package.json, read only when it is asked for (-V, --version): every other command starts
// without the read, and the entry point keeps to the parser.
const asksVersion = process.argv.slice(2).some((arg) => arg === '-V' || arg === '--version');
const version = asksVersion ? ((await import('../util/version.js')).rekeyVersion() ?? 'unknown') : '';

const program = new Command();
program
  .name('rekey')
  .description('Credential rotation as a scripted, timed, resumable run: generate → roll out → verify → revoke → audit.')
  .version(version)
  .option('--config <file>', 'the rekey.yaml to use (default: ./rekey.yaml)')
  .option('--json', 'print NDJSON events on stdout instead of text')
  // Every command's --help lists --config and --json too (subcommands inherit this, set before they are added).
  .configureHelp({ showGlobalOptions: true })
  .addHelpText(
    'after',
    examples('rekey rehearse', 'rekey status', 'rekey drill streampixel-prod --dry-run') +
      '\nExit codes: 0 done · 1 rotation failed or rolled back · 2 bad input or configuration · 3 refused (locked) · 4 internal error · 130 ' +
      'interrupted\nFirst time? `rekey rehearse` runs a full rotation against a built-in sandbox, touching none of your files.\n' +
      'Shell completion: `rekey completion bash|zsh|fish --help`.',
  );

/** The "Examples:" block of a command's --help. */
function examples(...lines: string[]): string {
  return `\nExamples:\n${lines.map((line) => `  $ ${line}\n`).join('')}`;
}

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

/**
 * The commands, each defined when it is needed: all of them for `rekey --help`, `rekey help`, a mistyped command (its
 * suggestion) and Tab completion; only the one named otherwise, as defining all eighteen with their options and help
 * texts costs every start a few milliseconds.
 */
const definitions = new Map<string, (command: Command) => void>();
/** A top-level command: `body` gives `rekey <name>` its arguments, options, help and action (and subcommands). */
function define(name: string, body: (command: Command) => void): void {
  definitions.set(name, body);
}

define('drill', (command) => {
  command
    .description('rotate a credential now, with a person at the keyboard: timed, human steps prompted, timeline at the end')
    .argument('<credential>', 'credential id from rekey.yaml')
    .option('--answers <file>', 'answers for human steps (YAML: step id → yes, or { env: VAR } for a pasted key)')
    .option('--budget <duration>', 'time budget shown as a countdown (default: policy budget, 5m)')
    .option(
      '--dry-run',
      'check and read the stores and check the old key with the provider; show every write and every step of yours as "would …", ask nothing and make no write',
    )
    .option('--allow-recent', 'drill even if the last rotation finished less than 10 minutes ago (see `rekey rotate --help`)')
    .addHelpText(
      'after',
      examples(
        'rekey drill streampixel-prod --dry-run',
        'NEW_STREAMPIXEL_KEY=… rekey drill streampixel-prod --answers answers.yaml',
        'rekey drill webhook-token --budget 10m',
      ),
    )
    .action(run(() => import('./drill.js')));
});

define('incident', (command) => {
  command
    .description('a leaked credential: rotate it now, prove the old key dead, then find where it leaked (working tree, git history) and audit since the leak')
    .argument('<credential>', 'credential id from rekey.yaml')
    .requiredOption('--since <time>', 'when the leak began: ISO 8601, "YYYY-MM-DD HH:MM" (local time), or an age such as 3h or 2d')
    .option(
      '--revoke-first',
      'revoke and prove the old key dead right after the new key is staged, before roll out (consumers fail until roll out is done; no rollback)',
    )
    .option('--answers <file>', 'answers for human steps (YAML: step id → yes, or { env: VAR } for a pasted key)')
    .option('--budget <duration>', 'time budget shown as a countdown (default: policy budget, 5m)')
    .addHelpText('after', examples('rekey incident streampixel-prod --since 3h', 'rekey incident streampixel-prod --since "2026-11-30 09:00" --revoke-first'))
    .action(run(() => import('./incident.js')));
});

define('scan', (command) => {
  command
    .description(
      "search the working tree and git history for any value the credential ever had, by fingerprint (the runbook's key pattern finds candidates): " +
        'did a scrub work, is an earlier key still there',
    )
    .argument('<credential>', 'credential id from rekey.yaml')
    .option('--offline', "read no store: compare with the fingerprints of this machine's journals only")
    .addHelpText(
      'after',
      examples(
        'rekey scan streampixel-prod',
        'rekey --json scan streampixel-prod | jq -c \'select(.event == "scan.finding")\'',
        'rekey scan webhook-token --offline',
      ) +
        '\nExit codes: 0 none found, everything searched · 6 a value of the credential found · 1 none found, but not everything was searched · ' +
        '2 bad input',
    )
    .action(run(() => import('./scan.js')));
});

define('rotate', (command) => {
  command
    .description('rotate unattended (cron, CI): steps that need a person fail unless --answers supplies them')
    .argument('[credentials...]', 'credential ids (default with --due: every credential past its max age)')
    .option('--due', 'rotate every credential whose age (from its stores) has reached its policy (others, and unknown ages, are skipped)')
    .option('--due-unknown', 'with --due: also rotate credentials whose age nothing records (no store keeps a date, no policy.lastRotated)')
    .option('--answers <file>', 'answers for human steps (YAML: step id → yes, or { env: VAR })')
    .option('--concurrency <n>', 'credentials rotated at once', '16')
    .option('--audit-stdout', 'print each audit record as NDJSON on stdout, for a log pipeline; the text for people goes to stderr')
    .option('--dry-run', 'read the stores and check the old key with the provider; show every write as "would …" and make none')
    .option(
      '--allow-recent',
      'rotate even if the last rotation finished less than 10 minutes ago (a new version each time: AWS advises one write per secret per 10 minutes)',
    )
    .addHelpText('after', examples('rekey rotate --due', 'rekey rotate webhook-token --dry-run', 'rekey --json rotate --due --answers answers.yaml'))
    .action(run(() => import('./rotate.js')));
});

define('schedule', (command) => {
  command
    .description("print what to paste into your scheduler to run `rekey rotate --due` often enough for the config's policies")
    .addOption(
      new Option('--format <format>', 'a crontab line, systemd units, a Kubernetes CronJob or a GitHub Actions workflow')
        .choices(['cron', 'systemd', 'kubernetes', 'github-actions'])
        .default('cron'),
    )
    .option('--every <duration>', 'how often to run (default: a tenth of the shortest maxAge, at most daily), such as 15m, 6h or 1d')
    .addHelpText('after', examples('rekey schedule', 'rekey schedule --format github-actions', 'rekey schedule --format systemd --every 6h'))
    .action(run(() => import('./schedule.js')));
});

define('plan', (command) => {
  command
    .description('show the steps a rotation would run, or with --due what a scheduled `rotate --due` would do; nothing is written')
    .argument('[credential]', 'credential id from rekey.yaml')
    .option('--due', "every credential: would it be rotated, reminded or skipped, and why (reads the stores' metadata, never a value)")
    .option('--due-unknown', 'with --due: as `rotate --due --due-unknown`, count an unknown age as due')
    // The credential is optional only with --due: without it, a usage error as commander gives for a missing argument.
    .hook('preAction', (command) => {
      if (command.args.length === 0 && command.opts()['due'] !== true) command.error("error: missing required argument 'credential' (or pass --due)");
    })
    .addHelpText('after', examples('rekey plan streampixel-prod', 'rekey plan --due', 'rekey --config ops/rekey.yaml plan webhook-token'))
    .action(run(() => import('./plan.js')));
});

define('check', (command) => {
  command
    .description('read every store of a credential (no writes) and check permissions, before a drill')
    .argument('[credentials...]', 'credential ids (default: all)')
    .addHelpText('after', examples('rekey check', 'rekey check streampixel-prod', 'rekey --json check'))
    .action(run(() => import('./check.js')));
});

define('doctor', (command) => {
  command
    .description('check what can be checked (.env files, keys in client code and git, HTTPS, token length, age, shared keys) and list what cannot')
    .argument('[credentials...]', 'credential ids (default: all)')
    .option('--answers <file>', 'answers for the checklist for a person (YAML: item id → yes or no)')
    .option('--write-runbooks <dir>', "write each credential's runbook there as Markdown (rekey runbook show <name> --format md)")
    .option('--report <file>', 'also write the findings as a Markdown report')
    .option('--strict', 'exit 1 on warnings too, not only errors')
    .addHelpText('after', examples('rekey doctor', 'rekey doctor streampixel-prod --answers doctor-answers.yaml', 'rekey doctor --strict --report doctor.md'))
    .action(run(() => import('./doctor.js')));
});

define('init', (command) => {
  command
    .description("read this project's .env files and write a commented rekey.yaml for the keys of providers rekey knows (never a value)")
    .option('--runbook <NAME=runbook>', 'the runbook for a variable init cannot tell, or skip (repeatable)', (v: string, all: string[]) => [...all, v], [])
    .option('--input <[credential.]name=value>', 'an input a runbook requires, such as userId (repeatable)', (v: string, all: string[]) => [...all, v], [])
    .option('--yes', 'ask nothing, even on a terminal: what the flags do not answer is refused')
    .option('--force', 'replace an existing rekey.yaml')
    .addHelpText('after', examples('rekey init', 'rekey init --yes --runbook STREAMPIXEL_KEY=streampixel --input userId=u-123'))
    .action(run(() => import('./init.js')));
});

define('resume', (command) => {
  command
    .description('continue an interrupted or failed run from its journal, checking the real state of stores and provider')
    .argument('[run]', 'run id (see `rekey log`)')
    .option('--all', "every credential's unfinished run (its newest run, when it failed or was interrupted), one after another, with a tally")
    .option('--last', 'the newest of those runs')
    .option('--from-stores', 'a run this machine has no journal of, whose key a store holds staged: adopt it from the stores and finish it')
    .hook('preAction', (command) => {
      const { all, last } = command.opts();
      if (command.args.length === 0 && all !== true && last !== true) command.error("error: missing required argument 'run' (or pass --all or --last)");
    })
    .option('--answers <file>', 'answers for human steps')
    .option('--mint-again', 'the interrupted attempt may have minted a key rekey never received: you revoked it (or found none), so mint again')
    .addHelpText(
      'after',
      examples(
        'rekey resume 20261124T024512Z-3fa9c1',
        'rekey resume 20261124T024512Z-3fa9c1 --answers answers.yaml',
        'rekey resume 20261124T024512Z-3fa9c1 --mint-again',
      ),
    )
    .action(run(() => import('./resume.js')));
});

define('rollback', (command) => {
  command
    .description('restore the previous value of a run wherever the overlap allows it')
    .argument('<run>', 'run id (see `rekey log`)')
    .addHelpText('after', examples('rekey rollback 20261124T024512Z-3fa9c1', 'rekey --json rollback 20261124T024512Z-3fa9c1'))
    .action(run(() => import('./rollback.js')));
});

define('status', (command) => {
  command
    .description('age of every credential against its policy (read from its stores), where the age comes from, and its last run')
    .option('--offline', "read no store: take ages from policy.lastRotated and this machine's journals only")
    .option('--exit-code', 'exit 10 when a credential is due or overdue, 0 when none is (as terraform plan -detailed-exitcode)')
    .addHelpText('after', examples('rekey status', 'rekey status --offline', 'rekey --json status'))
    .action(run(() => import('./status.js')));
});

define('log', (command) => {
  command
    .description('runs, newest first, or one run step by step')
    .argument('[run]', 'a run id to show in full')
    .addHelpText('after', examples('rekey log', 'rekey log 20261124T024512Z-3fa9c1', 'rekey --json log 20261124T024512Z-3fa9c1'))
    .action(run(() => import('./log.js')));
});

define('audit', (audit) => {
  audit.description('the hash-chained audit log').addHelpText('after', examples('rekey audit verify', 'rekey --json audit verify'));
  audit
    .command('verify')
    .description('check the audit log hash chain; names the first altered or removed record and exits 1')
    .addHelpText('after', examples('rekey audit verify', 'rekey --json audit verify'))
    .action(run(() => import('./audit-verify.js')));
});

define('runbook', (runbook) => {
  runbook.description('the runbooks rekey knows').addHelpText('after', examples('rekey runbook list', 'rekey runbook show stripe'));
  runbook
    .command('list')
    .description('list runbooks')
    .addHelpText('after', examples('rekey runbook list', 'rekey --config ops/rekey.yaml runbook list'))
    .action(run(() => import('./runbook-list.js')));
  runbook
    .command('show')
    .description("show a runbook's steps; --format md renders the team's written runbook")
    .argument('<name>', 'runbook name or path')
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'md']).default('text'))
    .addHelpText(
      'after',
      examples('rekey runbook show stripe', 'rekey runbook show streampixel --format md > RUNBOOK.md', 'rekey runbook show ./runbooks/own.yaml'),
    )
    .action(run(() => import('./runbook-show.js')));
  runbook
    .command('new')
    .description("write a commented runbook template, <dir>/<name>.yaml, in the built-in runbooks' shape")
    .argument('<name>', "the new runbook's name (its file name)")
    .option('--dir <folder>', 'where to write it', 'runbooks')
    .option('--force', 'overwrite an existing file')
    .addHelpText('after', examples('rekey runbook new acme-api', 'rekey runbook new acme-api --dir ops/runbooks'))
    .action(run(() => import('./runbook-new.js')));
  runbook
    .command('test')
    .description('lint a runbook (file:line:col), then rehearse it end to end against the local sandbox and print the timeline')
    .argument('<file>', 'runbook file or name')
    .option('--keep', 'keep the rehearsal folder (config, .env, journal, report) and print its path')
    .option('--budget <duration>', 'time budget shown as a countdown (default 5m)')
    .addHelpText('after', examples('rekey runbook test runbooks/acme-api.yaml', 'rekey runbook test runbooks/acme-api.yaml --keep'))
    .action(run(() => import('./runbook-test.js')));
});

define('config', (config) => {
  config.description('configuration helpers').addHelpText('after', examples('rekey config schema > rekey.schema.json', "rekey config schema | jq .'$id'"));
  config
    .command('schema')
    .description('print the JSON Schema of rekey.yaml (for editors)')
    .addHelpText('after', examples('rekey config schema > rekey.schema.json', 'rekey config schema | jq .properties.credentials'))
    .action(run(() => import('./config-schema.js')));
});

define('rehearse', (command) => {
  command
    .description(
      "practise a rotation against the built-in sandbox provider: the quick start, a runbook's drill, or your own credential with its stores replaced by " +
        'throw-away copies and its rollout hooks run for real',
    )
    .argument('[credential]', 'a credential id from rekey.yaml: its runbook, inputs and rollout hooks, with the sandbox as the provider')
    .addOption(
      new Option('--overlap <overlap>', "how the sandbox treats the old key (the quick start; a --runbook rehearsal uses the runbook's overlap)")
        .choices(['until-revoked', 'none'])
        .default('until-revoked'),
    )
    .option('--runbook <name>', "rehearse that runbook's own drill, with the sandbox playing the provider (e.g. streampixel)")
    .option('--answers <file>', 'answers for human steps (YAML: step id → yes; a capture answered yes is minted by the sandbox)')
    .option('--budget <duration>', 'time budget shown as a countdown (default 5m)')
    .option('--keep', 'keep the temporary folder (config, .env, journal, report) and print its path')
    .option('--no-hooks', "with a credential: leave out its rollout hooks (they run for real otherwise, seeing only the rehearsal's key)")
    .addHelpText(
      'after',
      examples(
        'rekey rehearse --overlap none',
        'rekey rehearse --runbook streampixel --keep',
        'rekey rehearse streampixel-prod --no-hooks --answers answers.yaml   # your own credential; without --no-hooks its hooks run for real',
      ),
    )
    .action(run(() => import('./rehearse.js')));
});

define('completion', (command) => {
  command
    .description('print the shell completion script: commands, options, credential ids, runbook names and run ids complete on Tab')
    .addArgument(new Argument('<shell>', 'the shell to complete in').choices(['bash', 'zsh', 'fish']))
    .addHelpText(
      'after',
      examples(
        'rekey completion bash > ~/.local/share/bash-completion/completions/rekey',
        'rekey completion zsh > ~/.zfunc/_rekey   # with fpath+=(~/.zfunc) before compinit in ~/.zshrc',
        'rekey completion fish > ~/.config/fish/completions/rekey.fish',
      ),
    )
    .action(run(() => import('./completion.js')));
});

/**
 * The command a command line names (`status` in `rekey --json status`) when it is one defined here and only global
 * options come before it; undefined otherwise (`rekey`, `rekey --help`, `rekey help status`, a mistyped command).
 */
function namedCommand(words: readonly string[]): string | undefined {
  for (let i = 0; i < words.length; i++) {
    const word = words[i]!;
    if (word === '--config') i++;
    else if (word !== '--json' && !word.startsWith('--config=')) return word.startsWith('-') || !definitions.has(word) ? undefined : word;
  }
  return undefined;
}
const named = namedCommand(process.argv.slice(2));
for (const [name, body] of definitions) if (named === undefined || name === named) body(program.command(name));

/**
 * Usage errors (unknown command or option, missing argument, a value not among the choices) in rekey's own words, as
 * src/cli/report-error.ts prints every other error (`rekey: …` and a hint; an `error` event with --json), exit 2: bad
 * input. commander's own exit 1 would read as "rotation failed" to a scheduler. Set on every command once all are
 * defined, so a command added above gets it too. Written here, not in report-error.ts: this runs on every usage
 * error before anything else is loaded, and exits synchronously (stderr and stdout are synchronous on Linux pipes).
 */
function usageStyle(command: Command): void {
  const path: string[] = [];
  for (let c: Command | null = command; c !== null; c = c.parent) path.unshift(c.name());
  command.configureOutput({ outputError: () => {} });
  command.exitOverride((error) => {
    // --help, --version (0); `rekey runbook` alone shows its help, which commander has printed (bad input: 2).
    if (error.exitCode === 0 || error.code === 'commander.help') process.exit(error.exitCode === 0 ? 0 : 2);
    const [first = '', ...rest] = error.message.replace(/^error: /, '').split('\n');
    const suggestion = /\(Did you mean (.+)\?\)/.exec(rest.join(' '))?.[1];
    const help = `\`${path.join(' ')} --help\``;
    const hint = suggestion === undefined ? `see ${help}` : `did you mean ${suggestion}? (see ${help})`;
    const words = process.argv.slice(2);
    const end = words.indexOf('--');
    const json = (end === -1 ? words : words.slice(0, end)).includes('--json');
    if (json) process.stdout.write(`${JSON.stringify({ event: 'error', code: 2, message: first, hint })}\n`);
    else process.stderr.write(`rekey: ${first}\n  hint: ${hint}\n`);
    process.exit(2);
  });
  for (const sub of command.commands) usageStyle(sub);
}
usageStyle(program);

// The shell's Tab: `rekey __complete <words…>` prints the candidates for the last word (src/cli/completion.ts). Taken
// before commander parses, since the words are a half-typed command line, not one to run; hidden from --help.
if (process.argv[2] === '__complete') {
  const { complete } = await import('./completion.js');
  process.exitCode = await complete(program, process.argv.slice(3));
} else await program.parseAsync(process.argv);
