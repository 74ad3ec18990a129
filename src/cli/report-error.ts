/** Errors to exit codes and messages: the only place that decides them. No stack traces for known errors. */
import { redactor } from '../contract/redactor.js';
import { StoreEnvironmentError, StoreError } from '../contract/store-errors.js';
import { StepFailedError } from '../contract/steps.js';
import { ExitCode, InputError, InputErrors, InterruptedError, RefusedError, RotationFailedError, StateFileError } from '../contract/errors.js';

/** Print an error for a person (or as a JSON event) and return the exit code. */
export function reportError(error: unknown, json: boolean): number {
  const { code, message, hint } = describeError(error);
  if (json) {
    process.stdout.write(`${JSON.stringify({ event: 'error', code, message, hint })}\n`);
  } else {
    process.stderr.write(`rekey: ${message}\n${hint === undefined ? '' : `  hint: ${hint}\n`}`);
  }
  return code;
}

/** An error's exit code, message (scrubbed of anything secret-shaped) and hint, for a command that prints it its own way. */
export function describeError(error: unknown): { code: number; message: string; hint: string | undefined } {
  let code: number;
  let message: string;
  let hint: string | undefined;
  if (error instanceof InputErrors) {
    code = ExitCode.badInput;
    message = error.errors.map((e) => e.format()).join('\n');
  } else if (error instanceof InputError) {
    code = ExitCode.badInput;
    message = error.format();
  } else if (error instanceof InterruptedError) {
    code = ExitCode.interrupted;
    message = error.message;
  } else if (error instanceof StateFileError) {
    // The machine, not rekey: a full disk, a folder it may not write, a read-only file system.
    code = ExitCode.environment;
    message = error.message;
    hint = error.hint;
  } else if (error instanceof RefusedError) {
    code = ExitCode.refused;
    message = error.message;
    hint = error.hint;
  } else if (error instanceof RotationFailedError) {
    code = ExitCode.failed;
    message = error.message;
    hint = error.hint;
  } else if (error instanceof StoreEnvironmentError) {
    // The machine lacks what a store needs to connect (a kubeconfig file): exit 5, as for the state folder.
    code = ExitCode.environment;
    message = error.message;
    hint = error.hint;
  } else if (error instanceof StoreError || error instanceof StepFailedError) {
    code = ExitCode.failed;
    message = error.message;
    hint = error.hint;
  } else {
    code = ExitCode.internal;
    const e = error as Error;
    message = `internal error: ${e?.message ?? String(error)}`;
    hint = 'this is a bug in rekey; please report it with the output of `REKEY_DEBUG=1` and the run journal (it holds no secrets)';
    if (process.env['REKEY_DEBUG'] === '1' && e?.stack) message += `\n${e.stack}`;
  }
  return { code, message: redactor.scrub(message), hint };
}
