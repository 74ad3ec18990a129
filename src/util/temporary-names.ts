/**
 * The names of rekey's temporary files (written by ./atomic-file.ts), apart from the writer: the `.env` store lists the
 * files it writes and `rekey status` loads that store's describer, which must not load the writer with it.
 */

/** Every temporary file rekey writes ends so; the README lists `*.rekey-tmp` among the ignore patterns. */
export const TEMPORARY_SUFFIX = '.rekey-tmp';

/** What a temporary file's name says: the target's file name and, for current names, the writer. */
export interface TemporaryName {
  readonly target: string;
  readonly pid?: number;
  readonly host?: string;
}

const CURRENT_NAME = /^\.(?<target>.+)\.(?<pid>\d+)-(?<host>[0-9a-f]{8})-[0-9a-f]{12}\.rekey-tmp$/;
// Names written by rekey before temporary files named their writer (`.<name>.<12 hex>.tmp`); they may hold secrets.
const LEGACY_NAME = /^\.(?<target>.+)\.[0-9a-f]{12}\.tmp$/;

/** Parse a file name as one of rekey's temporary files, or undefined when it is not one. */
export function parseTemporaryName(name: string): TemporaryName | undefined {
  const current = CURRENT_NAME.exec(name);
  if (current?.groups !== undefined) return { target: current.groups['target']!, pid: Number(current.groups['pid']), host: current.groups['host']! };
  const legacy = LEGACY_NAME.exec(name);
  if (legacy?.groups !== undefined) return { target: legacy.groups['target']! };
  return undefined;
}

/**
 * The name of the file a temporary file of rekey's is for (`.env` for `..env.123-ab12cd34-….rekey-tmp`), or undefined
 * when `fileName` (a base name, not a path) is not one: for stores that list the files they write.
 */
export function temporaryTarget(fileName: string): string | undefined {
  return parseTemporaryName(fileName)?.target;
}
