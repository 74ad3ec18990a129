/**
 * The errors that the CLI turns into exit codes, in one place (src/cli/main.ts):
 * 0 done · 1 rotation failed or rolled back (for `rekey doctor`: a finding of severity error, or a warning with
 * --strict) · 2 bad input or configuration · 3 refused · 4 internal error ·
 * 5 environment fault (the state folder cannot be written: disk full, permission, read-only) · 6 rotated, with audit
 * findings to investigate (a person answered no to an audit check) · 130 interrupted
 * (SIGINT) mid-run, resumable.
 */

/** Exit codes, named. `due` is only `rekey status --exit-code`'s (something is due), as terraform plan -detailed-exitcode's 2. */
export const ExitCode = { done: 0, failed: 1, badInput: 2, refused: 3, internal: 4, environment: 5, findings: 6, due: 10, interrupted: 130 } as const;

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
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
    this.name = 'RefusedError';
  }
}

/**
 * A scheduled run found a value staged in its stores by a rekey run this state folder has no journal of (a job on a
 * machine whose disk was thrown away): it mints nothing over it (src/engine/adopt.ts). Exit 3, naming the run.
 */
export class ForeignRunError extends RefusedError {
  constructor(
    readonly run: string,
    readonly stores: readonly string[],
    stateDir: string,
  ) {
    super(
      `run ${run} left a value staged in ${stores.join(', ')}, and ${stateDir} has no journal of it (a job on another ` +
        'machine, or a state folder that was lost): rekey will not mint over it',
      `if no rekey is still running it elsewhere, finish it with \`rekey resume ${run} --from-stores\` (the staged key is rolled out, ` +
        'verified with the provider, and rolled back if it fails); otherwise let that machine finish it',
    );
    this.name = 'ForeignRunError';
  }
}

/** The person pressed Ctrl-C (or Ctrl-D) at a prompt with no run under way to say where it stands: exit 130. */
export class InterruptedError extends Error {
  readonly exitCode = ExitCode.interrupted;
  constructor(message = 'interrupted at the keyboard; nothing more was done') {
    super(message);
    this.name = 'InterruptedError';
  }
}

/** The rotation failed (and was rolled back, or left resumable, as the message says). */
export class RotationFailedError extends Error {
  readonly exitCode = ExitCode.failed;
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
    this.name = 'RotationFailedError';
  }
}

/**
 * A file of the state folder (a journal, the audit log, its head, a lock, the folder itself) could not be read or
 * written for a reason of the machine: the disk is full, permission is denied, the file system is read-only. That is
 * an environment fault (exit 5), not a bug: the message names the operation, the path and the reason in plain words.
 */
export class StateFileError extends Error {
  readonly exitCode = ExitCode.environment;
  /** The system's error code (`ENOSPC`, `EACCES`, …) when there is one. */
  readonly code: string | undefined;
  readonly hint: string;
  constructor(
    readonly op: string,
    readonly path: string,
    cause: unknown,
    hint?: string,
  ) {
    const code = (cause as NodeJS.ErrnoException | undefined)?.code;
    super(`cannot ${op} ${path}: ${plainReason(cause)}`, { cause });
    this.name = 'StateFileError';
    this.code = code;
    this.hint = hint ?? hintFor(code);
  }
}

/** A system error in plain words: `ENOSPC` is "the disk is full". */
export function plainReason(error: unknown): string {
  const e = error as NodeJS.ErrnoException | undefined;
  switch (e?.code) {
    case 'ENOSPC':
      return 'the disk is full (ENOSPC)';
    case 'EDQUOT':
      return 'the disk quota is used up (EDQUOT)';
    case 'EACCES':
    case 'EPERM':
      return `permission denied (${e.code})`;
    case 'EROFS':
      return 'read-only file system (EROFS)';
    case 'ENOTDIR':
      return 'a part of the path is a file, not a folder (ENOTDIR)';
    case 'EEXIST':
      return 'a file is in the way where a folder should be (EEXIST)';
    case 'EISDIR':
      return 'it is a folder, not a file (EISDIR)';
    case 'ENOENT':
      return 'a folder on the path does not exist (ENOENT)';
    case 'EIO':
      return 'the disk reported an input/output error (EIO)';
    case 'EMFILE':
    case 'ENFILE':
      return `too many open files (${e.code})`;
    case 'ENOTREGULAR':
      // rekey's own code (src/engine/jsonl-files.ts, src/util/lock-file.ts): a file it wrote is now something else.
      return `${e.path === undefined ? 'a file there' : e.path} is not a regular file (a link to a device, a FIFO): the folder was tampered with`;
    default:
      return e?.code ?? (error instanceof Error ? error.message : String(error));
  }
}

function hintFor(code: string | undefined): string {
  const again = 'then run the command again (a run that stopped half-way continues with `rekey resume <run>`; `rekey status` names it)';
  switch (code) {
    case 'ENOSPC':
    case 'EDQUOT':
      return `free some space on that disk, ${again}`;
    case 'EACCES':
    case 'EPERM':
      return `let the user running rekey write there (or point stateDir in rekey.yaml at a folder it can write), ${again}`;
    case 'EROFS':
      return `point stateDir in rekey.yaml at a writable folder (in a container: mount a writable volume there), ${again}`;
    case 'ENOTDIR':
    case 'EEXIST':
    case 'EISDIR':
    case 'ENOTREGULAR':
      return `move the file that is in the way aside, ${again}`;
    default:
      return `fix the cause above, ${again}`;
  }
}

/** Turn a system error from a state-folder operation into a StateFileError; anything else is thrown as it is. */
export function asStateFileError(op: string, path: string, error: unknown): unknown {
  if (error instanceof StateFileError) return error;
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' && /^E[A-Z]+$/.test(code) ? new StateFileError(op, path, error) : error;
}

/**
 * A run's journal failed its check (a damaged line, a broken chain, a forged or unsealed record): rekey refuses to act
 * on it (exit 3) and names the first bad record.
 */
export class JournalBrokenError extends RefusedError {
  constructor(
    readonly run: string,
    readonly file: string,
    readonly line: number,
    readonly seq: number | undefined,
    readonly problem: string,
  ) {
    super(
      `run ${run}: its journal ${file} cannot be trusted: line ${line}${seq === undefined ? '' : ` (record ${seq})`}: ${problem}; rekey will not act on it`,
      `the stores and the provider are the truth: see \`rekey log ${run}\`, check which key the provider accepts and the stores hold, and finish ` +
        `or undo by hand; move the journal aside to rotate again`,
    );
    this.name = 'JournalBrokenError';
  }
}

/**
 * The audit log was cut, replaced at its end or damaged: rekey refuses to add records to it (exit 3), since a record
 * chained to the rest would make the cut look intact.
 */
export class AuditLogBrokenError extends RefusedError {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly problem: string,
  ) {
    super(
      `the audit log ${file} was altered (line ${line}: ${problem}); rekey will not add records to it, since they would hide the change`,
      'run `rekey audit verify` to see the break; restore audit.jsonl and audit.head from a backup or your log pipeline, or move both aside to start a new log',
    );
    this.name = 'AuditLogBrokenError';
  }
}
