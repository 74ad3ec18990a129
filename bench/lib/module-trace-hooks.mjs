/** Loader hooks for module-trace.mjs: record each module's format and URL once it is loaded. */
import { appendFileSync } from 'node:fs';

const out = process.env['BENCH_MODULE_TRACE'];

export async function load(url, context, nextLoad) {
  const result = await nextLoad(url, context);
  if (out !== undefined && out !== '' && !url.startsWith('node:')) appendFileSync(out, `${result.format} ${url}\n`);
  return result;
}
