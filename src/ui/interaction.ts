/**
 * How human steps reach a person: a terminal (hidden input for pasted keys, a live clock on the prompt line), an
 * answers file for unattended runs, or nobody (a step that needs a person then fails with a clear message).
 *
 * An answers file maps step ids to answers:
 *   request-key: { env: NEW_STREAMPIXEL_KEY }   # a pasted key, read from the environment, never from the file
 *   checklist: yes                             # a confirmation
 * In a rehearsal, `request-key: yes` lets the sandbox mint the key, as the provider's dashboard would.
 */
import { readFileSync, writeSync } from 'node:fs';
import { Secret } from '../contract/secret.js';
import type { Interaction } from '../contract/steps.js';
import type { Runbook, Step } from '../contract/runbook.js';
import { InputError, InputErrors, InterruptedError } from '../contract/errors.js';
import { nearest } from '../util/suggest.js';
import type { EventSink } from '../contract/events.js';
import { visibleLength } from './sink.js';
import { cursorControl } from './style.js';

/**
 * What the sandbox does for the person during a rehearsal: mint a key where the drill would have them click
 * "Request API Key", and carry out a confirmed dashboard step (revoke or expire the old key).
 */
export interface RehearsalActor {
  /** Mint a key for a capture step; returns the key (registered as a Secret by the caller). */
  mint(stepId: string): Promise<string>;
  /** A dashboard step was confirmed: do in the sandbox what the person would have done there. */
  confirmed(stepId: string): Promise<void>;
}

export interface InteractionOptions {
  /** The live clock for the prompt line (TextSink.status): it keeps ticking while the person is in a dashboard. */
  readonly status?: (() => string) | undefined;
  /** Set in a rehearsal: the sandbox acts for the person. */
  readonly rehearsal?: RehearsalActor | undefined;
  /** Where prompts go: stdout, or stderr when stdout carries NDJSON (--json). */
  readonly out?: NodeJS.WriteStream | undefined;
}

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

/** An answers-file interaction, which can also say up front whether it answers a step. */
export interface AnswersInteraction extends Interaction {
  readonly file: string;
  /** Why the file cannot answer a step (missing, or a key not in the environment); undefined when it can. */
  problem(stepId: string, kind: 'secret' | 'confirm'): string | undefined;
  /**
   * Refuse (InputError, exit 2, at the id's file:line:col) every id in the file that is not a step of the runbook
   * that takes an answer, with the nearest such id suggested and the list of them. Only for a file that answers one
   * runbook (a drill, a rehearsal, an incident): `rotate` may share one file between several runbooks.
   */
  refuseUnknownSteps(runbook: Runbook): void;
}

/** The steps of a runbook that take an answer: prompts that capture a key or ask yes or no (rollback's included). */
export function answerableSteps(runbook: Runbook): Step[] {
  const all = [...runbook.generate, ...runbook.verify, ...runbook.revoke, ...runbook.verifyRevoked, ...runbook.audit, ...runbook.discard];
  return all.filter((step) => step.kind === 'prompt' && (step.capture || step.confirm !== undefined));
}

const YES = /^(y|yes|true)$/i;
const NO = /^(n|no|false)$/i;

/** Answers from a YAML file, with a terminal (if any) as fallback for steps the file does not answer. */
export async function answersInteraction(file: string, sink: EventSink, fallback: Interaction, options: InteractionOptions = {}): Promise<AnswersInteraction> {
  const { parseYaml } = await import('../util/yaml-source.js');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new InputError(`${file}: cannot read the answers file`);
  }
  const source = await parseYaml(text, file);
  const data = (source.data ?? {}) as Record<string, Answer>;
  if (typeof data !== 'object' || Array.isArray(data)) throw source.error([], 'an answers file maps step ids to answers');
  const rehearsal = options.rehearsal;
  for (const [key, value] of Object.entries(data)) {
    const ok =
      typeof value === 'boolean' ||
      typeof value === 'string' ||
      (typeof value === 'object' && value !== null && typeof (value as { env?: unknown }).env === 'string' && Object.keys(value).length === 1);
    if (!ok) throw source.error([key], `answer for ${key} must be yes, no, or { env: VARIABLE }`);
    // Text is an answer only to a yes/no question (and `mint` in a rehearsal). Anything else is taken for a key written
    // into the file: refused now, before a lock or a journal exists, whichever step it answers. The text is never
    // printed, and is registered with the redactor in case it is a real key.
    if (typeof value === 'string' && !YES.test(value) && !NO.test(value) && !(rehearsal !== undefined && value === 'mint')) {
      new Secret(value);
      // A word or two of letters (maybe, done, ok) is a confirmation answered in other words, not a pasted key.
      if (/^[A-Za-z]{1,12}(?: [A-Za-z]{1,12}){0,2}$/.test(value))
        throw source.error(
          [key],
          `answer for ${key} is neither yes nor no: a confirmation is answered yes or no`,
          `write  ${key}: yes  or  ${key}: no  (a step that captures a key takes  ${key}: { env: VARIABLE })`,
        );
      throw source.error(
        [key],
        `answer for ${key} is text, not yes or no: a key must come from the environment, never from the answers file`,
        `write  ${key}: { env: VARIABLE }  and set VARIABLE to the key; a confirmation is answered yes or no`,
      );
    }
  }
  const answerOf = (stepId: string) => data[stepId];
  // A missing answer next to an id that is one typo away from it: say so, whichever check meets it first.
  const typoFor = (stepId: string) => Object.keys(data).find((key) => key !== stepId && nearest(key, [stepId]) === stepId);
  const mintsOnYes = (answer: Answer) =>
    rehearsal !== undefined && (answer === true || (typeof answer === 'string' && (YES.test(answer) || answer === 'mint')));
  return {
    file,
    canAsk: true,
    problem(stepId, kind) {
      const answer = answerOf(stepId);
      if (answer === undefined) {
        const typo = typoFor(stepId);
        return fallback.canAsk ? undefined : `no answer for ${stepId}${typo === undefined ? '' : ` (the file has "${typo}": did you mean "${stepId}"?)`}`;
      }
      if (kind === 'confirm' || mintsOnYes(answer)) return undefined;
      if (typeof answer !== 'object') return `${stepId}: a key must come from the environment, not the answers file: write ${stepId}: { env: VARIABLE }`;
      const value = process.env[answer.env];
      return value === undefined || value === '' ? `${stepId}: environment variable ${answer.env} is not set` : undefined;
    },
    refuseUnknownSteps(runbook) {
      const steps = answerableSteps(runbook);
      const valid = steps.map((step) => step.id);
      const every = new Map(
        [...runbook.generate, ...runbook.verify, ...runbook.revoke, ...runbook.verifyRevoked, ...runbook.audit, ...runbook.discard].map((step) => [
          step.id,
          step,
        ]),
      );
      const list =
        valid.length === 0
          ? `Runbook ${runbook.name} has no step that takes an answer: it needs no answers file`
          : `Valid ids (the steps of runbook ${runbook.name} that take an answer): ${valid.join(', ')}`;
      const errors = Object.keys(data)
        .filter((key) => !valid.includes(key))
        .map((key) => {
          const known = every.get(key);
          const suggestion = nearest(key, valid);
          const hint = `${suggestion === undefined ? '' : `did you mean "${suggestion}"? `}${list}`;
          const article = known?.kind === 'http' || known?.kind === 'exec' ? 'an' : 'a';
          const kind = known?.kind === 'prompt' ? 'a prompt with nothing to answer' : `${article} ${known?.kind} step that rekey runs itself`;
          return known === undefined
            ? source.error([key], `unknown step "${key}": runbook ${runbook.name} has no step with that id`, hint, 'key')
            : source.error([key], `step "${key}" of runbook ${runbook.name} asks nobody (it is ${kind}): it takes no answer`, hint, 'key');
        });
      if (errors.length === 1) throw errors[0]!;
      if (errors.length > 1) throw new InputErrors(errors);
    },
    instruct(stepId, message, url) {
      sink.emit({ event: 'instructions', step: stepId, message, url });
    },
    async askSecret(stepId, question, validate) {
      const answer = answerOf(stepId);
      if (answer === undefined) {
        if (fallback.canAsk) return fallback.askSecret(stepId, question, validate);
        throw new InputError(
          `${file}: no answer for step ${stepId}, which needs the new key`,
          undefined,
          `add  ${stepId}: { env: VARIABLE }  and set VARIABLE`,
        );
      }
      let value: string;
      if (mintsOnYes(answer)) {
        value = await rehearsal!.mint(stepId);
      } else if (typeof answer !== 'object') {
        throw source.error([stepId], `a key must come from the environment, not the answers file: write ${stepId}: { env: VARIABLE }`);
      } else {
        const fromEnv = process.env[answer.env];
        if (fromEnv === undefined || fromEnv === '') throw source.error([stepId], `environment variable ${answer.env} is not set`);
        value = fromEnv;
      }
      new Secret(value);
      const problem = validate(value);
      if (problem !== undefined) throw source.error([stepId], `the key for ${stepId} is refused: ${problem}`);
      return value;
    },
    async confirm(stepId, question) {
      const answer = answerOf(stepId);
      if (answer === undefined) {
        if (fallback.canAsk) return fallback.confirm(stepId, question);
        throw new InputError(`${file}: no answer for step ${stepId} ("${question}")`, undefined, `add  ${stepId}: yes`);
      }
      const yes = answer === true || (typeof answer === 'string' && YES.test(answer));
      if (yes) await rehearsal?.confirmed(stepId);
      return yes;
    },
    async offerReveal(stepId, label, value) {
      if (fallback.canAsk) return fallback.offerReveal(stepId, label, value);
      sink.emit({ event: 'note', level: 'info', message: `${label}: not shown (no terminal); it is in the stores as ${value.mask}` });
    },
  };
}

/** A person at a terminal. */
export function terminalInteraction(sink: EventSink, options: InteractionOptions = {}): Interaction {
  const out = options.out ?? process.stdout;
  const rehearsal = options.rehearsal;
  const ask = (prompt: string, hidden: boolean) => readLine(out, prompt, hidden, options.status);
  return {
    canAsk: process.stdin.isTTY === true,
    instruct(stepId, message, url) {
      sink.emit({ event: 'instructions', step: stepId, message, url });
    },
    async askSecret(stepId, question, validate) {
      const prompt = rehearsal !== undefined ? 'Rehearsal: press Enter and the sandbox mints the key for you (or paste one, hidden)' : question;
      for (;;) {
        let value = await ask(`   ${prompt}: `, true);
        if (value === '' && rehearsal !== undefined) {
          value = await rehearsal.mint(stepId);
          new Secret(value);
        }
        const problem = validate(value);
        if (problem === undefined) return value;
        out.write(`   ✗ ${problem}\n`);
      }
    },
    async confirm(stepId, question) {
      // No default: a yes/no here is a finding or a destructive step's go-ahead, so Enter alone (or "maybe") asks
      // again, and the person types the answer, as `terraform apply` asks for "yes".
      let prompt = `   ${question} Type yes or no: `;
      for (;;) {
        const answer = (await ask(prompt, false)).trim();
        const yes = /^(y|yes)$/i.test(answer);
        if (yes || /^(n|no)$/i.test(answer)) {
          if (yes) await rehearsal?.confirmed(stepId);
          return yes;
        }
        // What was typed is not repeated: it may be a key pasted into the wrong prompt.
        prompt = `   ${answer === '' ? 'There is no default:' : 'That is neither:'} type yes or no: `;
      }
    },
    async offerReveal(_stepId, label, value) {
      const answer = await ask(`   ${label}: show it now, once? It will not be logged. [y/N] `, false);
      if (!/^(y|yes)$/i.test(answer.trim())) {
        out.write(`   not shown; it is in the stores as ${value.mask}\n`);
        return;
      }
      // The one place a value goes to the screen: written past the output guard, on explicit request.
      out.write('   ');
      writeRaw(out, `${value.reveal()}\n`);
      const enter = '   Press Enter when you have copied it: rekey then clears it from the screen. ';
      await ask(enter, false);
      // Rub the value out: up over its line(s) and the Enter prompt's, then clear to the end of the screen. A dumb
      // terminal cannot: say so. Either way the scrollback may keep it.
      if (cursorControl(out)) {
        const columns = out.columns || 80;
        const rows = Math.ceil((3 + [...value.reveal()].length) / columns) + Math.ceil(visibleLength(enter) / columns);
        out.write(`\x1b[${rows}A\r\x1b[J   ${label}: shown once and cleared from the screen (clear your scrollback too)\n`);
      } else {
        out.write('   This terminal cannot clear it: clear the screen and your scrollback now.\n');
      }
    },
  };
}

/** Write bypassing the output guard (only for a value the person asked to see). */
function writeRaw(out: NodeJS.WriteStream, text: string): void {
  // writeSync goes straight to the file descriptor, around the patched stream.write.
  writeSync(out === process.stderr ? 2 : 1, text);
}

/** Stars for hidden input, at most 24 and then a count, so that a long key never wraps the prompt line. */
function stars(length: number): string {
  return length <= 24 ? '*'.repeat(length) : `${'*'.repeat(24)}… ${length} characters`;
}

/**
 * Read one line in raw mode: hidden input shows stars, never the characters. On a terminal with a live status (the
 * run clock against the budget, and the outage window), the status has its own line above the prompt and is redrawn
 * in place twice a second, so the clock keeps ticking while the person works in a dashboard. Echo is switched off
 * before the prompt appears, so nothing typed early ever reaches the screen.
 */
function readLine(out: NodeJS.WriteStream, prompt: string, hidden: boolean, status: (() => string) | undefined): Promise<string> {
  return new Promise((resolve, reject) => {
    const stdin = process.stdin;
    stdin.setRawMode?.(true);
    stdin.setEncoding('utf8');
    let value = '';
    let inEscape = false;
    // Cursor control (see style.ts): kept with NO_COLOR, which is about colour only; none at all with TERM=dumb.
    const cursor = cursorControl(out);
    const live = status !== undefined && cursor;
    const shown = () => (hidden ? stars([...value].length) : value);
    let drawn: string | undefined;
    const draw = () => {
      const now = shown();
      if (cursor) out.write(`\r\x1b[K${prompt}${now}`);
      else if (drawn === undefined) out.write(`${prompt}${now}`);
      else {
        // A dumb terminal: rub out what changed with backspaces and blanks, then write the rest. No escape sequence.
        const before = [...drawn];
        const after = [...now];
        let same = 0;
        while (same < before.length && same < after.length && before[same] === after[same]) same++;
        const rub = before.length - same;
        out.write(`${'\b'.repeat(rub)}${' '.repeat(rub)}${'\b'.repeat(rub)}${after.slice(same).join('')}`);
      }
      drawn = now;
    };
    const tick = () => {
      // Only while the prompt line fits: "one line up" must land on the status line, not inside a wrapped prompt.
      if (visibleLength(prompt) + [...shown()].length >= (out.columns || 80)) return;
      // Save the cursor, rewrite the status line above, come back to where typing goes on.
      out.write(`\x1b7\x1b[1A\r\x1b[K   ${status!()}\x1b8`);
    };
    if (live) out.write(`   ${status!()}\n`);
    draw();
    const timer = live ? setInterval(tick, 500) : undefined;
    timer?.unref();
    const finish = (result: string | Error) => {
      if (timer !== undefined) clearInterval(timer);
      if (live) tick();
      stdin.off('data', onData);
      stdin.setRawMode?.(false);
      stdin.pause();
      out.write('\n');
      if (result instanceof Error) reject(result);
      else resolve(result);
    };
    const onData = (chunk: string | Buffer) => {
      for (const ch of typeof chunk === 'string' ? chunk : chunk.toString('utf8')) {
        // Arrow keys and other escape sequences (ESC [ … final byte) are ignored, not typed.
        if (inEscape) {
          if (/[A-Za-z~]/.test(ch)) inEscape = false;
          continue;
        }
        if (ch === '\x1b') {
          inEscape = true;
          continue;
        }
        if (ch === '\r' || ch === '\n') return finish(value);
        if (ch === '\u0003' || (ch === '\u0004' && value === '')) {
          // Raw mode turns Ctrl-C into a character, not a SIGINT: raise the same interruption a SIGINT would. With a run
          // under way its one handler (cli/common.ts onInterrupt) says where it stands, the outage included, and exits
          // 130; with none, the prompt's caller gets an InterruptedError (exit 130 too).
          finish(new InterruptedError());
          if (process.listenerCount('SIGINT') > 0) process.emit('SIGINT', 'SIGINT');
          return;
        }
        if (ch === '\u007f' || ch === '\b') value = [...value].slice(0, -1).join('');
        // Ctrl-U starts the line again (a wrong paste).
        else if (ch === '\u0015') value = '';
        else if (ch >= ' ') value += ch;
      }
      draw();
    };
    stdin.on('data', onData);
    stdin.resume();
  });
}
