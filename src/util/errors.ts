/**
 * The errors that the CLI turns into exit codes, in one place (src/cli/main.ts):
 * 0 done · 1 rotation failed or rolled back · 2 bad input or configuration · 3 refused · 4 internal error ·
 * 130 interrupted (SIGINT) mid-run, resumable.
 */

/** Exit codes, named. */
export const ExitCode = { done: 0, failed: 1, badInput: 2, refused: 3, internal: 4, interrupted: 130 } as const;

/** Bad input: a config, runbook, answers file or argument. Printed as `file:line:col: message` with a hint. */
export class InputError extends Error {
  readonly exitCode = ExitCode.badInput;
  constructor(
    message: string,
    readonly location?: { file: string; line: number; column: number },
    readonly hint?: string,
  ) {
    super(message);
    this.name = 'InputError';
  }

  /** The message as printed: location first, so editors and terminals can jump to it. */
  format(): string {
    const where = this.location === undefined ? '' : `${this.location.file}:${this.location.line}:${this.location.column}: `;
    return `${where}${this.message}${this.hint === undefined ? '' : `\n  hint: ${this.hint}`}`;
  }
}

/** Several input errors at once, so a person fixes a file in one pass. */
export class InputErrors extends Error {
  readonly exitCode = ExitCode.badInput;
  constructor(readonly errors: readonly InputError[]) {
    super(errors.map((e) => e.format()).join('\n'));
    this.name = 'InputErrors';
  }
}

/** Refused: the credential is locked by another run, or a run is in a state that forbids the command. */
export class RefusedError extends Error {
  readonly exitCode = ExitCode.refused;
  constructor(message: string, readonly hint?: string) {
    super(message);
    this.name = 'RefusedError';
  }
}

/** The rotation failed (and was rolled back, or left resumable, as the message says). */
export class RotationFailedError extends Error {
  readonly exitCode = ExitCode.failed;
  constructor(message: string, readonly hint?: string) {
    super(message);
    this.name = 'RotationFailedError';
  }
}
