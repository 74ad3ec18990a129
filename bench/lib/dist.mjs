/** The compiled project's modules the benchmarks drive in-process, imported on first use (after the build). */
import { distUrl } from './fixtures.mjs';

/** src/sandbox/server.js startSandbox. */
export async function startSandbox(options) {
  const { startSandbox: start } = await import(distUrl('src/sandbox/server.js'));
  return start(options);
}
