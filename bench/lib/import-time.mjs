/**
 * `node bench/lib/import-time.mjs <url>…`: import the modules in order in this fresh process and print, as JSON,
 * the ms each import() took (a module already pulled in by an earlier one costs ~0).
 */
const times = {};
for (const url of process.argv.slice(2)) {
  const started = performance.now();
  await import(url);
  times[url] = performance.now() - started;
}
process.stdout.write(`${JSON.stringify(times)}\n`);
