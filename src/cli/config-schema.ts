/** `rekey config schema`: the JSON Schema of rekey.yaml, for editors (yaml-language-server and others). */
import { ExitCode } from '../contract/errors.js';
import type { CommandInput, Globals } from './common.js';

export default async function configSchema(_input: CommandInput, _globals: Globals): Promise<number> {
  const { configJsonSchema } = await import('../config/schema.js');
  const { storeCatalog } = await import('./stores.js');
  const adapters = await Promise.all(storeCatalog.kinds.map((kind) => storeCatalog.adapter(kind)));
  process.stdout.write(`${JSON.stringify(configJsonSchema(adapters), null, 2)}\n`);
  return ExitCode.done;
}
