/**
 * The last line of defence for I3: every write to stdout and stderr passes through the redactor, so a value
 * that slipped past `Secret`'s own masking is still replaced before it reaches a terminal or a log.
 */
import { redactor } from '../contract/redactor.js';

/** Route stdout and stderr through the redactor. */
export function installOutputGuard(): void {
  for (const stream of [process.stdout, process.stderr]) {
    const write = stream.write.bind(stream) as (chunk: unknown, ...rest: unknown[]) => boolean;
    stream.write = ((chunk: unknown, ...rest: unknown[]) => {
      const text = typeof chunk === 'string' ? chunk : chunk instanceof Uint8Array ? Buffer.from(chunk).toString('utf8') : String(chunk);
      return write(redactor.scrub(text), ...rest);
    }) as typeof stream.write;
  }
}
