/**
 * Renders engine events: NDJSON with --json; on a terminal, live lines with a ticking timer for the running
 * step (and the outage window for overlap none); otherwise plain lines, one per event, for logs and CI.
 */
import { formatClock, formatSeconds } from '../util/duration.js';
import type { EngineEvent, EventSink } from './events.js';
import { styler } from './style.js';

const PHASE_TITLES: Readonly<Record<string, string>> = { generate: 'generate', rollout: 'roll out', verify: 'verify', revoke: 'revoke', audit: 'audit' };
const PHASE_NUMBERS: Readonly<Record<string, number>> = { generate: 1, rollout: 2, verify: 3, revoke: 4, audit: 5 };

/** NDJSON on stdout: one event a line. */
export class JsonSink implements EventSink {
  emit(event: EngineEvent): void {
    const out: Record<string, unknown> = { ...event };
    if ('ms' in event) out['ms'] = Math.round(event.ms);
    process.stdout.write(`${JSON.stringify(out)}\n`);
  }
}

/** Lines for people: live on a terminal, plain otherwise. */
export class TextSink implements EventSink {
  readonly #s = styler(process.stdout);
  readonly #live = process.stdout.isTTY === true;
  #ticker: NodeJS.Timeout | undefined;
  #running: { name: string; started: number } | undefined;
  #outageStart: number | undefined;
  #runStart = performance.now();
  #budgetMs = 0;

  emit(event: EngineEvent): void {
    const s = this.#s;
    switch (event.event) {
      case 'run.started': {
        this.#runStart = performance.now();
        this.#budgetMs = event.budgetMs;
        const overlap = event.overlap === 'none' ? s.yellow('overlap: none — the old key dies when the new one is minted') : `overlap: ${event.overlap}`;
        this.line(`${s.bold('rekey')} · ${s.bold(event.credential)} · runbook ${event.runbook} (${overlap}) · ${event.mode}${event.resumed ? ' · resumed' : ''}`);
        this.line(s.dim(`run ${event.run} · stores: ${event.stores.join(', ')}`));
        break;
      }
      case 'phase.started':
        this.line(`\n ${s.bold(String(PHASE_NUMBERS[event.phase]))} ${s.bold(PHASE_TITLES[event.phase] ?? event.phase)}`);
        break;
      case 'step.started':
        this.#running = { name: event.name, started: performance.now() };
        if (this.#live && !event.human) this.startTicker();
        break;
      case 'step.done': {
        this.stopTicker();
        const mark = event.skipped ? s.dim('↷') : s.green('✓');
        const who = event.human ? s.cyan(' you') : '';
        this.line(`   ${mark} ${event.name}${who}  ${s.dim(event.skipped ? '' : formatSeconds(event.ms))}${event.detail ? `  ${s.dim(event.detail)}` : ''}`);
        break;
      }
      case 'step.failed':
        this.stopTicker();
        this.line(`   ${s.red('✗')} ${event.name}  ${s.dim(formatSeconds(event.ms))}\n     ${s.red(event.error)}${event.hint ? `\n     ${s.dim(`hint: ${event.hint}`)}` : ''}`);
        break;
      case 'note':
        this.stopTicker();
        this.line(`   ${event.level === 'warn' ? s.yellow('!') : s.dim('·')} ${event.message}`);
        break;
      case 'instructions':
        this.stopTicker();
        this.line(`\n   ${event.message.split('\n').join('\n   ')}${event.url ? `\n   ${s.cyan(event.url)}` : ''}`);
        break;
      case 'outage.started':
        this.#outageStart = performance.now();
        this.line(`   ${s.yellow('⏱')} outage window started: the old key is dead until roll out and verify are done`);
        break;
      case 'outage.ended':
        this.#outageStart = undefined;
        this.line(`   ${s.yellow('⏱')} outage window closed after ${formatSeconds(event.ms)}`);
        break;
      case 'run.finished': {
        this.stopTicker();
        const total = formatClock(event.seconds * 1000);
        const budget = this.#budgetMs > 0 ? ` (budget ${formatClock(this.#budgetMs)})` : '';
        const outage = event.outageSeconds === undefined ? '' : ` · outage window ${formatSeconds(event.outageSeconds * 1000)}`;
        const result = event.result === 'done' ? s.green('done') : event.result === 'rolled-back' ? s.yellow('rolled back') : s.red('failed');
        this.line(`\n${result} in ${total}${budget}${outage}${event.report ? ` · report ${event.report}` : ''}`);
        if (event.result === 'failed' && event.resumable) this.line(s.dim(`resume with: rekey resume ${event.run}`));
        break;
      }
    }
  }

  /** Print a line above the ticker. */
  line(text: string): void {
    if (this.#live && this.#ticker !== undefined) process.stdout.write('\r\x1b[K');
    process.stdout.write(`${text}\n`);
  }

  private startTicker(): void {
    this.stopTicker();
    const s = this.#s;
    const frames = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
    let frame = 0;
    const draw = () => {
      if (this.#running === undefined) return;
      const elapsed = formatSeconds(performance.now() - this.#running.started);
      const outage = this.#outageStart === undefined ? '' : `  ${s.yellow(`⏱ outage ${formatClock(performance.now() - this.#outageStart)}`)}`;
      const clock = this.#budgetMs > 0 ? s.dim(`  ${formatClock(performance.now() - this.#runStart)} / ${formatClock(this.#budgetMs)}`) : '';
      process.stdout.write(`\r\x1b[K   ${s.cyan(frames[frame++ % frames.length]!)} ${this.#running.name}  ${s.dim(elapsed)}${outage}${clock}`);
    };
    draw();
    this.#ticker = setInterval(draw, 100);
    this.#ticker.unref();
  }

  private stopTicker(): void {
    if (this.#ticker === undefined) return;
    clearInterval(this.#ticker);
    this.#ticker = undefined;
    process.stdout.write('\r\x1b[K');
  }
}

/** The sink for the current output mode. */
export function createSink(json: boolean): EventSink {
  return json ? new JsonSink() : new TextSink();
}
