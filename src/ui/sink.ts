/**
 * Renders engine events: NDJSON with --json; on a terminal, a live screen (the five phases, a ticking line for the
 * running step with the run clock against the budget and, for overlap none, the outage window); otherwise plain lines,
 * one per event, for logs, CI and TERM=dumb. Colour only on a terminal and never with NO_COLOR; NO_COLOR keeps the live
 * redraw, which is cursor control, not colour (see style.ts).
 *
 * The terminal prompts (interaction.ts) ask `status()` for the same clock, so it keeps ticking while a person works in
 * a dashboard. `timelineChart` draws the end-of-run chart: one bar per step, the person's time apart from rekey's.
 */
import { formatClock, formatDuration, formatSeconds } from '../util/time.js';
import { budgetWords, PHASE_TITLES } from '../report/timeline.js';
// The end-of-run chart lives with the report's, which draws the same one.
export { timelineChart } from '../report/timeline.js';
import type { EngineEvent, EventSink, EventStamp } from '../contract/events.js';
import { cursorControl, styler } from './style.js';

const PHASE_NUMBERS: Readonly<Record<string, number>> = { generate: 1, rollout: 2, verify: 3, revoke: 4, audit: 5 };

type Styler = ReturnType<typeof styler>;

/** What a sink knows of the run it renders, given when it is made. */
export interface SinkOptions {
  /** The credential whose run this sink renders: on every NDJSON line, also those before the run has an id. */
  readonly credential?: string;
  /**
   * Text only: put before every line (a run among several, as `[api]   `), drop blank lines, and draw no ticker,
   * since several runs share the screen and a line redrawn in place by one would be overwritten by the others.
   */
  readonly prefix?: string;
  /** NDJSON only: where the lines go (default: stdout). The programmatic API (src/api.ts) hands them to its caller. */
  readonly write?: (line: string) => void;
}

/**
 * One NDJSON line: the event, with the credential, the run (when there is one) and the time it was written (ISO 8601)
 * first, so a log pipeline can group lines by credential and run without knowing each event's shape.
 */
export function ndjsonLine(event: { readonly event: string } & Readonly<Record<string, unknown>>, stamp: Omit<EventStamp, 'time'> = {}): string {
  const { event: name, credential, run, ...rest } = event;
  const line: Record<string, unknown> = {
    event: name,
    credential: credential ?? stamp.credential,
    run: run ?? stamp.run,
    time: new Date().toISOString(),
    ...rest,
  };
  return `${JSON.stringify(line)}\n`;
}

/** NDJSON on stdout: one event a line, each with its credential, run and time (see ndjsonLine). */
export class JsonSink implements EventSink {
  readonly #credential: string | undefined;
  readonly #write: (line: string) => void;
  #run: string | undefined;

  constructor(options: SinkOptions = {}) {
    this.#credential = options.credential;
    this.#write = options.write ?? ((line) => process.stdout.write(line));
  }

  emit(event: EngineEvent): void {
    const out: Record<string, unknown> = { ...event };
    if ('ms' in event) out['ms'] = Math.round(event.ms);
    if ('waitMs' in event) out['waitMs'] = Math.round(event.waitMs);
    // The engine names the credential and the run on the run's first event; the events after it are stamped with them.
    if (event.event === 'run.started') this.#run = event.run;
    const credential = this.#credential ?? ('credential' in event ? event.credential : undefined);
    this.#write(ndjsonLine(out as { event: string }, { credential, run: this.#run }));
  }
}

/** The visible width of a string that may hold colour codes. */
export function visibleLength(text: string): number {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the ESC byte is the point: this matches ANSI escape sequences.
  return [...text.replace(/\x1b\[[0-9;]*m/g, '')].length;
}

/** Lines for people: live on a terminal that can move its cursor, plain otherwise. */
export class TextSink implements EventSink {
  readonly #out: NodeJS.WriteStream;
  readonly #s: Styler;
  readonly #live: boolean;
  readonly #prefix: string | undefined;
  #ticker: NodeJS.Timeout | undefined;
  #running: { name: string; started: number } | undefined;
  #outageStart: number | undefined;
  #runStart: number | undefined;
  #budgetMs = 0;

  constructor(out: NodeJS.WriteStream = process.stdout, options: SinkOptions = {}) {
    this.#out = out;
    this.#s = styler(out);
    this.#prefix = options.prefix;
    // Live (a ticker redrawn in place) on a terminal that can move its cursor; NO_COLOR only drops the colour. Not
    // with a prefix: that run shares the screen with others (see SinkOptions.prefix).
    this.#live = cursorControl(out) && options.prefix === undefined;
  }

  /** True when the screen is live (a terminal, not TERM=dumb): prompts may redraw their line with `status()`. */
  get live(): boolean {
    return this.#live;
  }

  /** The run clock against the budget, and the outage window while it is open: `⏱ 0:42 of 5:00 · outage 0:04`. */
  status(): string {
    if (this.#runStart === undefined) return '';
    const s = this.#s;
    const elapsed = performance.now() - this.#runStart;
    let text: string;
    if (this.#budgetMs <= 0) text = s.dim(`⏱ ${formatClock(elapsed)}`);
    else if (elapsed > this.#budgetMs) text = s.red(`⏱ ${formatClock(elapsed)} · over the ${formatClock(this.#budgetMs)} budget`);
    else text = s.dim(`⏱ ${formatClock(elapsed)} of ${formatClock(this.#budgetMs)} · ${formatClock(this.#budgetMs - elapsed)} left`);
    if (this.#outageStart !== undefined) text += `  ${s.yellow(`outage ${formatClock(performance.now() - this.#outageStart)}`)}`;
    return text;
  }

  emit(event: EngineEvent): void {
    const s = this.#s;
    switch (event.event) {
      case 'run.started': {
        this.#runStart = performance.now();
        this.#budgetMs = event.budgetMs;
        const overlap = event.overlap === 'none' ? s.yellow('overlap: none — the old key dies when the new one is minted') : `overlap: ${event.overlap}`;
        const mode = event.mode === 'rehearsal' ? s.cyan('REHEARSAL') : event.mode;
        this.line(`${s.bold('rekey')} · ${s.bold(event.credential)} · runbook ${event.runbook} (${overlap}) · ${mode}${event.resumed ? ' · resumed' : ''}`);
        this.line(s.dim(`run ${event.run} · stores: ${event.stores.join(', ')}${event.budgetMs > 0 ? ` · budget ${formatClock(event.budgetMs)}` : ''}`));
        break;
      }
      case 'phase.started': {
        const clock = this.#runStart === undefined ? '' : s.dim(`  ${formatClock(performance.now() - this.#runStart)}`);
        const title = `${PHASE_TITLES[event.phase] ?? event.phase}${event.continued === true ? ', continued' : ''}`;
        this.line(`\n ${s.bold(String(PHASE_NUMBERS[event.phase]))} ${s.bold(title)}${clock}`);
        break;
      }
      case 'step.started':
        this.#running = { name: event.name, started: performance.now() };
        // A person's step draws its own live line (the prompt); a machine step gets the ticker.
        if (this.#live && !event.human) this.startTicker();
        break;
      case 'step.done': {
        this.stopTicker();
        const mark = event.skipped ? s.dim('↷') : event.finding === true ? s.yellow('!') : s.green('✓');
        const took = event.skipped
          ? ''
          : event.human
            ? `${s.cyan(`you ${formatDuration(event.waitMs)}`)} ${s.dim(`· rekey ${formatSeconds(event.ms - event.waitMs)}`)}`
            : s.dim(formatSeconds(event.ms));
        this.line(`   ${mark} ${event.name}  ${took}${event.detail ? `  ${s.dim(event.detail)}` : ''}`);
        break;
      }
      case 'step.failed':
        this.stopTicker();
        this.line(
          `   ${s.red('✗')} ${event.name}  ${s.dim(formatSeconds(event.ms))}\n     ` +
            `${s.red(event.error)}${event.hint ? `\n     ${s.dim(`hint: ${event.hint}`)}` : ''}`,
        );
        break;
      case 'note':
        this.stopTicker();
        this.line(`   ${event.level === 'warn' ? s.yellow('!') : s.dim('·')} ${event.message}`);
        break;
      case 'instructions': {
        this.stopTicker();
        const [first = '', ...rest] = event.message.trim().split('\n');
        const body = [`   ${s.cyan('▸ you')}  ${first}`, ...rest.map((l) => `         ${l}`)];
        if (event.url) body.push(`         ${s.cyan(s.bold(event.url))}`);
        this.line(body.join('\n'));
        break;
      }
      case 'outage.started': {
        // From the moment it opened (a resumed run's first attempt, or the poll that saw the old key rejected).
        const at = event.at === undefined ? Number.NaN : Date.parse(event.at);
        this.#outageStart = performance.now() - (Number.isNaN(at) ? 0 : Math.max(0, Date.now() - at));
        const why =
          event.basis === 'rejected'
            ? 'the provider now rejects the old key'
            : event.basis === 'prompt'
              ? 'counted from this prompt: once you request the new key, the old one is dead'
              : 'the old key is dead';
        this.line(`   ${s.yellow('⏱')} outage window open: ${why}; it closes when roll out and verify are done`);
        break;
      }
      case 'outage.ended':
        this.#outageStart = undefined;
        this.line(`   ${s.yellow('⏱')} outage window closed after ${formatSeconds(event.ms)}`);
        break;
      case 'run.finished': {
        this.stopTicker();
        this.#outageStart = undefined;
        const totalMs = event.seconds * 1000;
        const budget = this.#budgetMs > 0 ? ` ${budgetWords(totalMs, this.#budgetMs, s)}` : '';
        const outage = event.outageSeconds === undefined ? '' : ` · ${s.yellow(`outage window ${formatSeconds(event.outageSeconds * 1000)}`)}`;
        const findings = event.findings?.length ?? 0;
        const result =
          event.result !== 'done'
            ? event.result === 'rolled-back'
              ? s.yellow('rolled back')
              : s.red('failed')
            : findings > 0
              ? s.yellow(`done, with ${findings === 1 ? 'a finding' : `${findings} findings`} to investigate (${event.findings!.join(', ')} answered no)`)
              : s.green('done');
        this.line(`\n${result} in ${formatDuration(totalMs)}${budget}${outage}${event.report ? ` · report ${event.report}` : ''}`);
        // What to do next, as the run decided it (resume, or finish a rollback); else the plain resume line.
        if (event.result !== 'done' && event.hint !== undefined) this.line(s.dim(`next: ${event.hint}`));
        else if (event.result === 'failed' && event.resumable) this.line(s.dim(`resume with: rekey resume ${event.run}`));
        break;
      }
    }
  }

  /** Print a line (above the ticker, which redraws itself); with a prefix, every line of it prefixed, blank ones dropped. */
  line(text: string): void {
    if (this.#prefix !== undefined) {
      const prefix = this.#prefix;
      const lines = text.split('\n').filter((l) => l.trim() !== '');
      if (lines.length > 0) this.#out.write(lines.map((l) => `${prefix}${l}\n`).join(''));
      return;
    }
    if (this.#live && this.#ticker !== undefined) this.#out.write('\r\x1b[K');
    this.#out.write(`${text}\n`);
  }

  private startTicker(): void {
    this.stopTicker();
    const s = this.#s;
    const frames = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
    let frame = 0;
    const draw = () => {
      if (this.#running === undefined) return;
      const elapsed = formatSeconds(performance.now() - this.#running.started);
      this.#out.write(`\r\x1b[K   ${s.cyan(frames[frame++ % frames.length]!)} ${this.#running.name}  ${s.dim(elapsed)}   ${this.status()}`);
    };
    draw();
    this.#ticker = setInterval(draw, 100);
    this.#ticker.unref();
  }

  private stopTicker(): void {
    if (this.#ticker === undefined) return;
    clearInterval(this.#ticker);
    this.#ticker = undefined;
    this.#out.write('\r\x1b[K');
  }
}

/** The sink for the current output mode. */
export function createSink(json: boolean, options: SinkOptions = {}): EventSink {
  return json ? new JsonSink(options) : new TextSink(process.stdout, options);
}

/**
 * The line prefixes of a run over several credentials: `[id]` padded to the longest id, so the text after it lines
 * up, each in a colour of its own on a terminal (as `docker compose` prefixes the lines of its services).
 */
export function credentialPrefixes(ids: readonly string[], out: NodeJS.WriteStream = process.stdout): Map<string, string> {
  const s = styler(out);
  const colours = [s.cyan, s.yellow, s.green, s.magenta, s.blue];
  const width = Math.max(0, ...ids.map((id) => [...id].length)) + 2;
  return new Map(ids.map((id, i) => [id, `${colours[i % colours.length]!(`[${id}]`)}${' '.repeat(width - [...id].length - 2)}  `]));
}
