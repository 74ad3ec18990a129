/**
 * Preload for `node --import ./bench/lib/module-trace.mjs …`: appends every module the process loads to the file
 * named by BENCH_MODULE_TRACE, one `<kind> <url>` a line. ES modules come from a load hook (which runs on the
 * loader thread in Node 20, hence the file rather than a message); CommonJS files from Module._load, since a require()
 * inside a CommonJS package does not pass through ESM hooks on Node 20. For information only: never timed.
 */
import { appendFileSync } from 'node:fs';
import NodeModule, { register } from 'node:module';
import { pathToFileURL } from 'node:url';

// Module._load and Module._resolveFilename are Node's internal CommonJS loader, absent from its type definitions.
const Module = /** @type {any} */ (NodeModule);
const out = process.env['BENCH_MODULE_TRACE'];
if (out !== undefined && out !== '') {
  register('./module-trace-hooks.mjs', import.meta.url);
  const load = Module._load;
  Module._load = function traced(request, parent, isMain, ...rest) {
    const result = load.call(this, request, parent, isMain, ...rest);
    if (!request.startsWith('node:') && !Module.builtinModules.includes(request)) {
      try {
        appendFileSync(out, `commonjs ${pathToFileURL(Module._resolveFilename(request, parent, isMain)).href}\n`);
      } catch {
        // unresolvable here: not worth a line
      }
    }
    return result;
  };
}
