import { existsSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { InputError } from '../contract/errors.js';

const NAMES = ['rekey.yaml', 'rekey.yml'];

/** Find the config: `--config`, else `rekey.yaml` in the working directory. */
export function findConfigFile(explicit: string | undefined, cwd = process.cwd()): string {
  if (explicit !== undefined) {
    const file = resolve(cwd, explicit);
    // A folder is a natural thing to pass (`--config ops`); reading it would fail with a bare EISDIR.
    if (statSync(file, { throwIfNoEntry: false })?.isDirectory() === true) {
      const inside = NAMES.map((name) => join(file, name)).find((candidate) => existsSync(candidate));
      throw new InputError(
        `--config ${explicit}: ${explicit} is a folder; --config takes the rekey.yaml file itself`,
        undefined,
        inside === undefined ? `${explicit} holds no rekey.yaml: pass the file's path` : `pass --config ${relative(cwd, inside) || inside}`,
      );
    }
    return file;
  }
  for (const name of NAMES) {
    const candidate = resolve(cwd, name);
    if (existsSync(candidate)) return candidate;
  }
  throw new InputError('no rekey.yaml in this folder', undefined, 'pass --config <file>, or run `rekey rehearse` to try rekey without one');
}
