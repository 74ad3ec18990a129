/**
 * rekey from a team's own tooling: `import { rotate, status, loadConfig } from '@rekey-cli/rekey'`. The same wiring as
 * the command line (src/cli/), with the same events: what `rekey --json` prints, one object per line, a caller of
 * rotate() receives as objects, in the same order and shape (the NDJSON sink writes them, and this module parses its
 * lines back, so the two cannot drift). Nothing is printed, and no SIGINT handler is installed: the host process is
 * the caller's. Errors are thrown as the typed errors below; `exitCode` on each says what the CLI would exit with.
 * Secrets never cross this API: events carry fingerprints and masks only, as on the command line.
 */
import type { Config } from './config/types.js';
import type { RunSummary } from './engine/run.js';

export type { Config, CredentialConfig } from './config/types.js';
export type { RunSummary } from './engine/run.js';
export { ExitCode, InputError, InputErrors, RefusedError, RotationFailedError, StateFileError } from './contract/errors.js';

/** Where the config is: `config` (a path, relative to `cwd`), else `rekey.yaml` in `cwd` (default: the working directory). */
export interface ConfigOptions {
  readonly config?: string;
  readonly cwd?: string;
}

/**
 * One event, as `rekey --json` prints it: `event` names it (`run.started`, `step.finished`, `run.finished`, …), and
 * `credential`, `run` and `time` (ISO 8601) come first, as on every NDJSON line; the rest is the event's own fields.
 */
export interface RekeyEvent {
  readonly event: string;
  readonly credential?: string;
  readonly run?: string;
  readonly time: string;
  readonly [field: string]: unknown;
}

export interface RotateOptions extends ConfigOptions {
  /** The credential id in rekey.yaml. */
  readonly credential: string;
  /** An answers file for the steps a person would take (as `rekey rotate --answers`); without one such steps fail. */
  readonly answers?: string;
  /** Read the stores and check the old key with the provider; announce every write as "would …" and make none. */
  readonly dryRun?: boolean;
  /** Called with every event as it happens. */
  readonly onEvent?: (event: RekeyEvent) => void;
}

export interface RotateResult {
  /** The exit code `rekey rotate` would end with: 0 done, 1 failed or rolled back, 5 environment fault. */
  readonly code: number;
  /** The run's id (for `rekey log`, `rekey resume`). */
  readonly run: string | undefined;
  /** The run's summary: its result, steps and timings (fingerprints only). */
  readonly summary: RunSummary | undefined;
  /** Every event of the run, in order. */
  readonly events: readonly RekeyEvent[];
}

/** Load and validate rekey.yaml, as every command does (through the same cache). Throws InputErrors (file:line:col). */
export async function loadConfig(options: ConfigOptions = {}): Promise<Config> {
  const [{ findConfigFile }, { loadConfigCached }, { storeCatalog }] = await Promise.all([
    import('./config/find.js'),
    import('./config/cache.js'),
    import('./cli/stores.js'),
  ]);
  return loadConfigCached(findConfigFile(options.config, options.cwd ?? process.cwd()), async () => storeCatalog);
}

/** Rotate one credential unattended, as `rekey rotate <credential>` does, handing its events to `onEvent`. */
export async function rotate(options: RotateOptions): Promise<RotateResult> {
  const config = await loadConfig(options);
  const [{ credentialOf, interactionFor, rotateCredential }, { JsonSink }] = await Promise.all([import('./cli/common.js'), import('./ui/sink.js')]);
  const credential = credentialOf(config, options.credential);
  const events: RekeyEvent[] = [];
  const sink = new JsonSink({
    credential: credential.id,
    write: (line) => {
      const event = JSON.parse(line) as RekeyEvent;
      events.push(event);
      options.onEvent?.(event);
    },
  });
  const interaction = await interactionFor(options.answers === undefined ? {} : { answers: options.answers }, sink, false);
  const { code, summary } = await rotateCredential({
    config,
    credential,
    mode: 'scheduled',
    sink,
    interaction,
    json: true,
    handleInterrupt: false,
    ...(options.dryRun === true ? { dryRun: true } : {}),
  });
  const started = events.find((event) => event.event === 'run.started');
  return { code, run: started?.run, summary, events };
}

export interface StatusOptions extends ConfigOptions {
  /** Read no store: take ages from policy.lastRotated and this machine's journals only (as `rekey status --offline`). */
  readonly offline?: boolean;
}

/** One credential's status, as `rekey --json status` prints it. */
export type StatusEvent = ReturnType<typeof import('./cli/status.js').statusEvent>;

/** Every credential's age against its policy and its last run, as `rekey --json status` prints them. */
export async function status(options: StatusOptions = {}): Promise<StatusEvent[]> {
  const config = await loadConfig(options);
  const { statusRows, statusEvent } = await import('./cli/status.js');
  return (await statusRows(config, options.offline === true)).map(statusEvent);
}
