import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { InputError } from '../contract/errors.js';

/** Find the config: `--config`, else `rekey.yaml` in the working directory. */
export function findConfigFile(explicit: string | undefined, cwd = process.cwd()): string {
  if (explicit !== undefined) return resolve(cwd, explicit);
  for (const name of ['rekey.yaml', 'rekey.yml']) {
    const candidate = resolve(cwd, name);
    if (existsSync(candidate)) return candidate;
  }
  throw new InputError('no rekey.yaml in this folder', undefined, 'pass --config <file>, or run `rekey rehearse` to try rekey without one');
}
