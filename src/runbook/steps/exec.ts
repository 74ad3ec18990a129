/**
 * The `exec` step and rollout hooks: a command as an argv array (no shell), a timeout, retries. A secret reaches
 * the child only through an environment variable or stdin, never its arguments (the loaders refuse templates
 * with `new`/`old` in argv). The child's output is kept for the error message, scrubbed, and never streamed.
 */
import { spawn } from 'node:child_process';
import { Secret } from '../../contract/secret.js';
import { redactor } from '../../contract/redactor.js';
import type { TemplateVars } from '../../contract/runbook.js';
import { render } from '../template.js';
import { StepFailedError, type StepOutcome } from '../../contract/steps.js';

/** A rollout hook of rekey.yaml as loaded: defined here, beside the runner, so that runbooks need nothing of the config. */
export interface HookConfig {
  readonly name: string;
  readonly argv: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly stdin: string | undefined;
  readonly timeoutMs: number;
  readonly retries: number;
  /** A built-in hook (`kubernetes-rollout`) instead of a command: `argv` is then empty (run by ./hook.ts). */
  readonly builtin?: BuiltinHook | undefined;
}

/** A built-in rollout hook as loaded: its kind and its options, as the config schema checked them. */
export interface BuiltinHook {
  readonly kind: 'kubernetes-rollout';
  readonly options: Readonly<Record<string, unknown>>;
}

/** A command to run: a rollout hook of rekey.yaml, or a runbook's exec step, with the step id it runs as. */
export interface CommandSpec extends HookConfig {
  readonly id: string;
  readonly capture?: boolean;
}

/** Run a command with retries; resolves with its outcome or throws StepFailedError. */
export async function runCommand(spec: CommandSpec, vars: TemplateVars, cwd: string): Promise<StepOutcome> {
  const argv = spec.argv.map((arg) => render(arg, vars).text);
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(spec.env)) env[name] = render(value, vars).text;
  const stdin = spec.stdin === undefined ? undefined : render(spec.stdin, vars).text;
  let last = '';
  for (let attempt = 0; attempt <= spec.retries; attempt++) {
    const result = await once(argv, env, stdin, spec.timeoutMs, cwd);
    if (result.code === 0) {
      if (spec.capture) {
        const value = result.stdout.trim();
        if (value === '') throw new StepFailedError(spec.id, `${spec.name}: printed no value on stdout`);
        // stdout is the value: only stderr may be shown.
        return { minted: new Secret(value), detail: `exit 0${lastLines(result.stderr)}` };
      }
      // The hook's last words ("deployment "web" successfully rolled out"), scrubbed of any value rekey knows.
      return { detail: `${attempt > 0 ? `exit 0 after ${attempt + 1} attempts` : 'exit 0'}${lastLines(`${result.stdout}\n${result.stderr}`)}` };
    }
    last = result.timedOut
      ? `timed out after ${Math.round(spec.timeoutMs / 1000)}s`
      : result.code === null
        ? `killed by ${result.signal}`
        : `exit ${result.code}`;
    last += lastLines(result.stderr, 3);
  }
  throw new StepFailedError(spec.id, `${spec.name}: ${last}${spec.retries > 0 ? ` after ${spec.retries + 1} attempts` : ''}`);
}

/** ` · line | line`: the last non-empty lines of a command's output, scrubbed and cut to 200 characters; '' if none. */
function lastLines(output: string, count = 2): string {
  const lines = output
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '');
  const tail = redactor.scrub(lines.slice(-count).join(' | '));
  return tail === '' ? '' : ` · ${tail.length > 200 ? `${tail.slice(0, 199)}…` : tail}`;
}

function once(
  argv: string[],
  env: Record<string, string>,
  stdin: string | undefined,
  timeoutMs: number,
  cwd: string,
): Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string; timedOut: boolean }> {
  return new Promise((resolve) => {
    const [command, ...args] = argv;
    const child = spawn(command!, args, { cwd, env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      resolve({ code: 127, signal: null, stdout, stderr: `${(error as NodeJS.ErrnoException).code ?? error.message}: ${command}`, timedOut });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, timedOut });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(stdin ?? '');
  });
}
