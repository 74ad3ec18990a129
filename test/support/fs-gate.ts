/**
 * A gate on node:fs for deterministic lock races. rekey imports fs functions by name, so the test swaps them on the
 * module object and calls `syncBuiltinESMExports()`, which every importer's live binding follows. A hook runs
 * before and after every synchronous call; a test uses it to stop one contender between two fs calls and run another
 * contender to the end (synchronously, inside the hook) before letting the first go on. No sleeping, no luck.
 */
import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';

export type FsHook = (name: string, args: readonly unknown[], phase: 'before' | 'after') => void;

const NAMES = [
  'closeSync',
  'existsSync',
  'fsyncSync',
  'linkSync',
  'lstatSync',
  'mkdirSync',
  'openSync',
  'readdirSync',
  'readFileSync',
  'renameSync',
  'statSync',
  'unlinkSync',
  'writeFileSync',
  'writeSync',
] as const;

/** Route every synchronous fs call named above through `hook` until the returned function is called. */
export function gateFs(hook: FsHook): () => void {
  const table = fs as unknown as Record<string, (...args: unknown[]) => unknown>;
  const originals = new Map(NAMES.map((name) => [name, table[name]!]));
  let inHook = false;
  for (const [name, original] of originals) {
    table[name] = (...args: unknown[]) => {
      // The hook's own fs calls (a contender it runs) see the hook too, but never re-enter the same hook frame.
      if (!inHook) {
        inHook = true;
        try {
          hook(name, args, 'before');
        } finally {
          inHook = false;
        }
      }
      const result = original(...args);
      if (!inHook) {
        inHook = true;
        try {
          hook(name, args, 'after');
        } finally {
          inHook = false;
        }
      }
      return result;
    };
  }
  syncBuiltinESMExports();
  return () => {
    for (const [name, original] of originals) table[name] = original;
    syncBuiltinESMExports();
  };
}

/**
 * A one-shot pause: the first call matching `when` (made while `active()` holds) runs `meanwhile` in its place,
 * before the call goes on. Returns whether it fired, for tests to assert that the interleaving really happened.
 */
export function pauseOnce(
  when: (name: string, args: readonly unknown[], phase: 'before' | 'after') => boolean,
  meanwhile: () => void,
): { hook: FsHook; fired: () => boolean } {
  let fired = false;
  return {
    hook(name, args, phase) {
      if (fired || !when(name, args, phase)) return;
      fired = true;
      meanwhile();
    },
    fired: () => fired,
  };
}
