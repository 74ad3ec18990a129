/**
 * How human steps reach a person: a terminal (hidden input for pasted keys), an answers file for unattended
 * runs, or nobody (a step that needs a person then fails with a clear message).
 *
 * An answers file maps step ids to answers:
 *   generate.1: { env: NEW_STREAMPIXEL_KEY }   # a pasted key, read from the environment, never from the file
 *   audit.1: yes                               # a confirmation
 */
import { readFileSync, writeSync } from 'node:fs';
import { Secret } from '../secret/secret.js';
import type { Interaction } from '../runbook/steps/context.js';
import { InputError } from '../util/errors.js';
import type { EventSink } from './events.js';

/** Nobody to ask. */
export function noInteraction(): Interaction {
  return {
    canAsk: false,
    instruct() {},
    async askSecret(stepId) {
      throw new InputError(`step ${stepId} needs a person`);
    },
    async confirm(stepId) {
      throw new InputError(`step ${stepId} needs a person`);
    },
    async offerReveal() {},
  };
}

type Answer = boolean | string | { env: string };

/** Answers from a YAML file, with a terminal (if any) as fallback for steps the file does not answer. */
export async function answersInteraction(file: string, sink: EventSink, fallback: Interaction): Promise<Interaction> {
  const { parseYaml } = await import('../config/yaml-source.js');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new InputError(`${file}: cannot read the answers file`);
  }
  const source = await parseYaml(text, file);
  const data = (source.data ?? {}) as Record<string, Answer>;
  if (typeof data !== 'object' || Array.isArray(data)) throw source.error([], 'an answers file maps step ids to answers');
  for (const [key, value] of Object.entries(data)) {
    const ok = typeof value === 'boolean' || typeof value === 'string' || (typeof value === 'object' && value !== null && typeof (value as { env?: unknown }).env === 'string' && Object.keys(value).length === 1);
    if (!ok) throw source.error([key], `answer for ${key} must be yes/no, text, or { env: VARIABLE }`);
  }
  const answerOf = (stepId: string) => data[stepId];
  return {
    canAsk: true,
    instruct(stepId, message, url) {
      sink.emit({ event: 'instructions', step: stepId, message, url });
    },
    async askSecret(stepId, question, validate) {
      const answer = answerOf(stepId);
      if (answer === undefined) {
        if (fallback.canAsk) return fallback.askSecret(stepId, question, validate);
        throw new InputError(`${file}: no answer for step ${stepId}, which needs the new key`, undefined, `add  ${stepId}: { env: VARIABLE }  and set VARIABLE`);
      }
      if (typeof answer !== 'object') {
        throw source.error([stepId], `a key must come from the environment, not the answers file: write ${stepId}: { env: VARIABLE }`);
      }
      const value = process.env[answer.env];
      if (value === undefined || value === '') throw source.error([stepId], `environment variable ${answer.env} is not set`);
      new Secret(value);
      const problem = validate(value);
      if (problem !== undefined) throw source.error([stepId], `the key in ${answer.env} is refused: ${problem}`);
      return value;
    },
    async confirm(stepId, question) {
      const answer = answerOf(stepId);
      if (answer === undefined) {
        if (fallback.canAsk) return fallback.confirm(stepId, question);
        throw new InputError(`${file}: no answer for step ${stepId} ("${question}")`, undefined, `add  ${stepId}: yes`);
      }
      return answer === true || (typeof answer === 'string' && /^(y|yes|true)$/i.test(answer));
    },
    async offerReveal(stepId, label, value) {
      if (fallback.canAsk) return fallback.offerReveal(stepId, label, value);
      sink.emit({ event: 'note', level: 'info', message: `${label}: not shown (no terminal); it is in the stores as ${value.mask}` });
    },
  };
}

/** A person at a terminal. */
export function terminalInteraction(sink: EventSink): Interaction {
  return {
    canAsk: process.stdin.isTTY === true,
    instruct(stepId, message, url) {
      sink.emit({ event: 'instructions', step: stepId, message, url });
    },
    async askSecret(_stepId, question, validate) {
      for (;;) {
        const value = await readHidden(`   ${question}: `);
        const problem = validate(value);
        if (problem === undefined) return value;
        process.stdout.write(`   ✗ ${problem}\n`);
      }
    },
    async confirm(_stepId, question) {
      const answer = await readLine(`   ${question} [y/N] `);
      return /^(y|yes)$/i.test(answer.trim());
    },
    async offerReveal(_stepId, label, value) {
      const answer = await readLine(`   ${label}: show it now, once? It will not be logged. [y/N] `);
      if (!/^(y|yes)$/i.test(answer.trim())) return;
      // The one place a value goes to the screen: written past the output guard, on explicit request.
      process.stdout.write('   ');
      writeRaw(`${value.reveal()}\n`);
      await readLine('   Press Enter when you have copied it (the screen line stays in your scrollback: clear it after). ');
    },
  };
}

/** Write bypassing the output guard (only for a value the person asked to see). */
function writeRaw(text: string): void {
  // writeSync goes straight to file descriptor 1, around the patched stream.write.
  writeSync(1, text);
}

function readLine(question: string): Promise<string> {
  return new Promise((resolve) => {
    process.stdout.write(question);
    const onData = (chunk: Buffer) => {
      process.stdin.off('data', onData);
      process.stdin.pause();
      resolve(chunk.toString('utf8').split(/\r?\n/)[0] ?? '');
    };
    process.stdin.resume();
    process.stdin.on('data', onData);
  });
}

/** Read a line without echo (raw mode), showing one * per character. */
function readHidden(question: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const stdin = process.stdin;
    process.stdout.write(question);
    let value = '';
    stdin.setRawMode?.(true);
    stdin.resume();
    const done = (result: string | Error) => {
      stdin.setRawMode?.(false);
      stdin.pause();
      stdin.off('data', onData);
      process.stdout.write('\n');
      if (result instanceof Error) reject(result);
      else resolve(result);
    };
    const onData = (chunk: Buffer) => {
      for (const ch of chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return done(value);
        if (ch === '\u0003') return done(new InputError('cancelled'));
        if (ch === '\u007f' || ch === '\b') {
          if (value.length > 0) {
            value = value.slice(0, -1);
            process.stdout.write('\b \b');
          }
          continue;
        }
        if (ch >= ' ') {
          value += ch;
          process.stdout.write('*');
        }
      }
    };
    stdin.on('data', onData);
  });
}
