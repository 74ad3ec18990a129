/**
 * A writer killed between creating its temporary file and renaming it, made deterministic: a child process imports
 * the built `src/util/atomic-file.js`, writes through an injected fs-ops object whose `writeSync` stops the process
 * (a blocking `Atomics.wait`) as soon as the last byte of the content is in the temporary file, and says so on stdout.
 * The test then looks at the folder while the writer is alive and paused, and SIGKILLs it when it wants.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../..');
const MODULE = join(ROOT, 'dist/src/util/atomic-file.js');

// The content repeats the canary so that it takes many write() calls' worth of bytes (about 1 MB).
const SCRIPT = `
  import * as fs from 'node:fs';
  import { pathToFileURL } from 'node:url';
  const [modulePath, target, mode] = process.argv.slice(1);
  const { writeFileAtomic } = await import(pathToFileURL(modulePath).href);
  const content = Buffer.from(('KEY=' + process.env.CANARY + '\\n').repeat(Math.ceil(1_000_000 / (process.env.CANARY.length + 5))));
  let written = 0;
  const ops = {
    ...fs,
    writeSync(fd, buffer, ...rest) {
      const n = fs.writeSync(fd, buffer, ...rest);
      written += n;
      if (written >= content.length) {
        fs.writeSync(1, 'paused\\n');
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
      }
      return n;
    },
  };
  writeFileAtomic(target, content, Number(mode), { fs: ops });
  fs.writeSync(1, 'finished\\n');
`;

/** A writer paused with the whole content in its temporary file and not yet renamed. */
export interface PausedWriter {
  readonly pid: number;
  /** SIGKILL it and wait until it is gone. */
  kill(): Promise<void>;
}

/** Start writing `canary`-filled content to `target` in a child and wait until it is paused before the rename. */
export async function pauseMidWrite(target: string, canary: string, options: { mode?: number } = {}): Promise<PausedWriter> {
  if (!existsSync(MODULE)) throw new Error(`build first: npx tsc -p tsconfig.build.json (${MODULE} is missing)`);
  const child: ChildProcess = spawn(process.execPath, ['--input-type=module', '-e', SCRIPT, MODULE, target, String(options.mode ?? 0o600)], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, CANARY: canary },
  });
  const exited = new Promise<void>((done) => child.on('exit', () => done()));
  let stdout = '';
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  await new Promise<void>((paused, failed) => {
    child.stdout!.setEncoding('utf8').on('data', (c: string) => {
      stdout += c;
      if (stdout.includes('paused\n')) paused();
      else if (stdout.includes('finished\n')) failed(new Error('the writer finished without pausing: writeFileAtomic ignored the injected fs ops'));
    });
    child.on('exit', (code) => failed(new Error(`the writer exited (${code}) before pausing: ${stderr || stdout}`)));
  });
  return {
    pid: child.pid!,
    async kill() {
      child.kill('SIGKILL');
      await exited;
    },
  };
}

/** Write, pause before the rename, and SIGKILL: what a crash at the worst moment leaves. */
export async function killMidWrite(target: string, canary: string, options: { mode?: number } = {}): Promise<void> {
  await (await pauseMidWrite(target, canary, options)).kill();
}
