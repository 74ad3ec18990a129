/**
 * The last line of defence for I3: every write to stdout and stderr passes through the redactor, so a value
 * that slipped past `Secret`'s own masking is still replaced before it reaches a terminal or a log.
 *
 * Stdout that is not a terminal (a pipe to a log shipper, a file) is also gathered: what is written within one turn of
 * the event loop goes out as one write at the end of it, or at once past 64 KiB, and whatever is left when the process
 * exits is written before it does. A fleet's NDJSON is some thirty lines a rotation, from many runs at once, and a
 * write to a pipe is a system call each (stdout pipes are synchronous on Linux). A terminal gets every write at once.
 */
import { redactor } from '../contract/redactor.js';

const GATHER_LIMIT = 64 * 1024;

const textOf = (chunk: unknown): string =>
  typeof chunk === 'string' ? chunk : chunk instanceof Uint8Array ? Buffer.from(chunk).toString('utf8') : String(chunk);

/** Route stdout and stderr through the redactor. */
export function installOutputGuard(): void {
  for (const stream of [process.stdout, process.stderr]) {
    const write = stream.write.bind(stream) as (chunk: unknown, ...rest: unknown[]) => boolean;
    if (stream !== process.stdout || stream.isTTY) {
      stream.write = ((chunk: unknown, ...rest: unknown[]) => write(redactor.scrub(textOf(chunk)), ...rest)) as typeof stream.write;
      continue;
    }
    let gathered = '';
    const flush = () => {
      if (gathered === '') return;
      const text = gathered;
      gathered = '';
      write(text);
    };
    stream.write = ((chunk: unknown, ...rest: unknown[]) => {
      const text = redactor.scrub(textOf(chunk));
      // A write with an encoding or a callback is passed on as it came, after what was gathered before it.
      if (rest.length > 0) {
        flush();
        return write(text, ...rest);
      }
      if (gathered === '') setImmediate(flush);
      gathered += text;
      if (gathered.length >= GATHER_LIMIT) flush();
      return true;
    }) as typeof stream.write;
    process.on('exit', flush);
  }
}
