/**
 * Run the sandbox provider as its own process, for tests that need it apart from the CLI under test:
 *
 *   node dist/src/sandbox/serve.js --overlap none --port 0 --state-file /tmp/sbx.json
 *
 * Prints one JSON line, `{"url":"http://127.0.0.1:PORT"}`, once it listens, then runs until SIGTERM or SIGINT
 * (or, with `--exit-on-stdin-close`, until its stdin closes, so a crashed parent leaves no orphan behind).
 * Other options: `--latency-ms N`, `--key-prefix P`. Bad arguments exit 2 with one line on stderr.
 */
import { parseArgs } from 'node:util';
import { sandboxOverlaps, type SandboxOverlap } from './registry.js';
import { type SandboxOptions, startSandbox } from './server.js';

/** Turn the command line into sandbox options; throws an Error with a one-line message on bad input. */
function parseOptions(argv: readonly string[]): { options: SandboxOptions; exitOnStdinClose: boolean } {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: false,
    options: {
      overlap: { type: 'string' },
      port: { type: 'string' },
      'state-file': { type: 'string' },
      'latency-ms': { type: 'string' },
      'key-prefix': { type: 'string' },
      'exit-on-stdin-close': { type: 'boolean' },
    },
  });
  const overlap = values.overlap ?? 'until-revoked';
  if (!(sandboxOverlaps as readonly string[]).includes(overlap)) {
    throw new Error(`--overlap must be one of ${sandboxOverlaps.join(', ')}`);
  }
  const number = (name: string, text: string | undefined, max: number): number | undefined => {
    if (text === undefined) return undefined;
    const value = Number(text);
    if (text.trim() === '' || !Number.isInteger(value) || value < 0 || value > max) {
      throw new Error(`--${name} must be a whole number from 0 to ${max}`);
    }
    return value;
  };
  return {
    options: {
      overlap: overlap as SandboxOverlap,
      port: number('port', values.port, 65_535),
      latencyMs: number('latency-ms', values['latency-ms'], 60_000),
      keyPrefix: values['key-prefix'],
      stateFile: values['state-file'],
    },
    exitOnStdinClose: values['exit-on-stdin-close'] ?? false,
  };
}

async function main(): Promise<void> {
  let parsed: ReturnType<typeof parseOptions>;
  try {
    parsed = parseOptions(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`sandbox: ${(error as Error).message}\n`);
    process.exit(2);
  }
  const sandbox = await startSandbox(parsed.options);
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    void sandbox.close().then(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  if (parsed.exitOnStdinClose) {
    process.stdin.on('end', stop);
    process.stdin.on('close', stop);
    process.stdin.resume();
  }
  process.stdout.write(`${JSON.stringify({ url: sandbox.url })}\n`);
}

main().catch((error: unknown) => {
  // A state file that cannot be read or a port in use: say which, in one line, without a stack.
  process.stderr.write(`sandbox: ${error instanceof Error ? error.message : 'failed to start'}\n`);
  process.exit(1);
});
