/** `rekey config schema`: the JSON Schema of rekey.yaml, for editors (yaml-language-server and others). */
import { readFileSync } from 'node:fs';
import { ExitCode } from '../contract/errors.js';
import type { CommandInput, Globals } from './common.js';

export default async function configSchema(_input: CommandInput, _globals: Globals): Promise<number> {
  const { configJsonSchema, schemaUrl } = await import('../config/schema.js');
  const { storeCatalog } = await import('./stores.js');
  const adapters = await Promise.all(storeCatalog.kinds.map((kind) => storeCatalog.adapter(kind)));
  process.stdout.write(`${JSON.stringify(configJsonSchema(adapters, schemaUrl(ownPackage())), null, 2)}\n`);
  return ExitCode.done;
}

/** rekey's package.json: two folders up from src/cli/, three from dist/src/cli/. */
function ownPackage(): { name: string; version: string } {
  for (const up of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(up, import.meta.url), 'utf8')) as { name?: string; version?: string; bin?: Record<string, string> };
      if (pkg.bin?.['rekey'] !== undefined && pkg.name !== undefined && pkg.version !== undefined) return { name: pkg.name, version: pkg.version };
    } catch {
      // Not there: one more level up.
    }
  }
  throw new Error('rekey installation is missing its package.json');
}
