/**
 * `rekey runbook new <name> [--dir <folder>]`: write a commented runbook template, `<folder>/<name>.yaml` (default
 * folder `runbooks/`), in the shape of the built-in runbooks (a dashboard prompt, an http check and its documented
 * rejection, overlap, rehearsal). It passes `rekey runbook test` as written, so each edit can be tested at once.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { ExitCode, InputError } from '../contract/errors.js';
import type { CommandInput, Globals } from './common.js';

/** A runbook name: what the loader accepts as a file name that is also the `name:`. */
const NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;

export default async function runbookNew(input: CommandInput, globals: Globals): Promise<number> {
  const name = String(input.args[0]);
  if (!NAME.test(name)) {
    throw new InputError(
      `runbook name "${name}" is not a valid name`,
      undefined,
      'use lower-case letters, digits, ".", "_" and "-" (up to 64), starting with a letter or digit, such as acme-api-key',
    );
  }
  const { builtInRunbookDir } = await import('../runbook/load.js');
  const dir = resolve(typeof input.options['dir'] === 'string' ? input.options['dir'] : 'runbooks');
  const file = join(dir, `${name}.yaml`);
  const shown = relative(process.cwd(), file) || file;
  if (existsSync(file) && input.options['force'] !== true) {
    throw new InputError(`${shown} exists already`, undefined, 'edit it, choose another name, or pass --force to overwrite it');
  }
  const title = name
    .split(/[-_.]/)
    .filter((word) => word !== '')
    .map((word) => word[0]!.toUpperCase() + word.slice(1))
    .join(' ');
  const variable = `${name.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_KEY`;
  const template = readFileSync(join(builtInRunbookDir(), 'templates', 'runbook.yaml'), 'utf8');
  const text = template.replaceAll('__NAME__', name).replaceAll('__TITLE__', title).replaceAll('__VARIABLE__', variable.replace(/^(\d)/, '_$1'));
  mkdirSync(dir, { recursive: true });
  writeFileSync(file, text, { mode: 0o644 });
  if (globals.json === true) process.stdout.write(`${JSON.stringify({ event: 'runbook.written', name, file })}\n`);
  else
    process.stdout.write(
      `wrote ${shown}: a commented runbook in the built-in runbooks' shape.\n` +
        `next: edit it, then  rekey runbook test ${shown}  (lint, and a rehearsal against the local sandbox)\n` +
        `use it by name from rekey.yaml with  runbooks: [${relative(process.cwd(), dir) || '.'}]\n`,
    );
  return ExitCode.done;
}
