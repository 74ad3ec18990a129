/**
 * Count and time fs.fsyncSync while an in-process run executes. rekey imports it by name from node:fs; after
 * syncBuiltinESMExports() those bindings see the wrapper. Timing costs well under a microsecond a call; with
 * `attribute`, each call is also charged to the rekey module that asked for it (one stack capture a call, ~20 µs:
 * for a diagnostic run, not for the timed ones).
 */
import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';

/** Helpers that fsync on someone's behalf: a call is charged to the module above them. */
const HELPERS = ['/dist/src/util/atomic-file.js', '/dist/src/engine/chain.js'];

export function watchFsyncs({ attribute = false } = {}) {
  const original = fs.fsyncSync;
  const counter = { calls: 0, ms: 0, bySource: {}, stop };
  fs.fsyncSync = function timedFsync(fd) {
    const source = attribute ? sourceOf() : undefined;
    const t0 = performance.now();
    try {
      return original.call(this, fd);
    } finally {
      const ms = performance.now() - t0;
      counter.calls++;
      counter.ms += ms;
      if (source !== undefined) {
        counter.bySource[source] ??= { calls: 0, ms: 0 };
        const entry = counter.bySource[source];
        entry.calls++;
        entry.ms += ms;
      }
    }
  };
  syncBuiltinESMExports();
  function stop() {
    fs.fsyncSync = original;
    syncBuiltinESMExports();
  }
  return counter;
}

function sourceOf() {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 40;
  const stack = new Error().stack ?? '';
  Error.stackTraceLimit = limit;
  const frames = stack.split('\n').slice(2);
  const ours = frames.map((f) => /\/dist\/(\S+?\.js)/.exec(f)).filter((m) => m !== null);
  const caller = ours.find((m) => !HELPERS.some((h) => m[0].endsWith(h)));
  const helper = ours.find((m) => HELPERS.some((h) => m[0].endsWith(h)));
  if (caller === undefined) return helper?.[1] ?? 'other';
  return helper === undefined ? caller[1] : `${caller[1]} (via ${helper[1].split('/').pop()})`;
}
