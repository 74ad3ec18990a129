/**
 * `rekey plan <credential>`: the steps a rotation would run, in order; nothing is read from a store or written. The
 * stores are opened (no I/O: the contract forbids it in `open`) only to learn their capabilities, which shape the plan.
 *
 * `rekey plan --due`: what the scheduled `rekey rotate --due` would do now, credential by credential: rotate, remind
 * (its runbook needs a person), or skip (not due, unknown age, no maxAge, locked), with the date it fell due. The ages
 * come from the stores' describe() as for `rotate --due` (metadata only: no value is read, nothing is minted, checked
 * with the provider or written). `rotate --due --dry-run` goes further: it reads the values and checks the old keys.
 */
import { ExitCode, InputError } from '../contract/errors.js';
import type { Config } from '../config/types.js';

const phaseOrder = ['generate', 'rollout', 'verify', 'revoke', 'audit'];
import { credentialOf, openConfig, type CommandInput, type Globals } from './common.js';
import { wholeSeconds } from '../util/time.js';

export default async function plan(input: CommandInput, globals: Globals): Promise<number> {
  const config = await openConfig(globals);
  const named = input.args[0] as string | undefined;
  if (input.options['due'] === true) {
    if (named !== undefined) throw new InputError('--due plans every credential: name none', undefined, `run \`rekey plan --due\` or \`rekey plan ${named}\``);
    return planDue(config, globals, input.options['dueUnknown'] === true);
  }
  if (input.options['dueUnknown'] === true) throw new InputError('--due-unknown only works with --due', undefined, 'run `rekey plan --due --due-unknown`');
  if (named === undefined)
    throw new InputError('name a credential to plan, or pass --due', undefined, `credentials: ${[...config.credentials.keys()].join(', ') || '(none)'}`);
  const credential = credentialOf(config, named);
  const [{ loadRunbook }, { needsPerson }, { planRun, stepsOf, NOT_READ_BACK }, { storeOpener }] = await Promise.all([
    import('../runbook/load.js'),
    import('../contract/runbook.js'),
    import('../engine/plan.js'),
    import('./stores.js'),
  ]);
  const runbook = await loadRunbook(credential.runbookFile);
  const opened = await storeOpener(config)(credential);
  await Promise.allSettled(opened.map(({ store }) => store.close?.()));
  const readBack = opened.map(({ store }) => store.capabilities.readBack);
  const stores = credential.stores.map((s) => s.ref.display);
  const readable = stores.filter((_, i) => readBack[i]);
  const direct = stores.filter((_, i) => !opened[i]!.store.capabilities.staging);
  const staging = stores.filter((_, i) => opened[i]!.store.capabilities.staging);
  const who = (human: boolean) => (human ? 'you  ' : 'rekey');
  const steps: Array<{ phase: string; who: string; what: string }> = [];
  const add = (phase: string, human: boolean, what: string) => steps.push({ phase, who: who(human), what });
  // The engine's own plan, described: what runs here is what a rotation runs, in its order.
  const planned = planRun({ runbook, stores, readBack, hooks: credential.rollout.map((h) => h.name), mode: 'scheduled', revokeFirst: false });
  if (runbook.overlap === 'none') add('revoke', false, 'nothing to revoke: minting the new key already killed the old one');
  for (const step of stepsOf(planned)) {
    switch (step.kind) {
      case 'preflight':
        add(
          step.phase,
          false,
          readable.length === 0
            ? `ask ${stores.join(', ')} for their metadata (write-only: not read); the old key is unknown; every store must be able to stage`
            : `read ${readable.join(', ')}; they must agree; check the old key with the runbook's verify call; every store must be able to stage`,
        );
        break;
      case 'mint':
        for (const s of runbook.generate) add(step.phase, needsPerson(s), s.name);
        if (staging.length > 0) add(step.phase, false, `stage the new key in ${staging.join(', ')}`);
        // A store without staging makes the value current with its write: it is written once the others hold it.
        if (direct.length > 0) {
          const then = staging.length > 0 ? 'then ' : '';
          add(step.phase, false, `${then}write the new key to ${direct.join(', ')} (no staging: current at once)`);
        }
        break;
      case 'hook': {
        const hook = credential.rollout[step.hook!]!;
        add(step.phase, false, `${hook.name} (timeout ${wholeSeconds(hook.timeoutMs)}, ${hook.retries} retries)`);
        break;
      }
      case 'readback':
        add(step.phase, false, `read ${readable.length === stores.length ? 'every store' : readable.join(', ')} back and compare fingerprints`);
        break;
      case 'verify':
        add(step.phase, step.human, `${step.name} (new key)`);
        break;
      case 'revoke':
        add(step.phase, step.human, `${step.name} (old key)`);
        break;
      case 'verify-revoked':
        add(step.phase, step.human, `${step.name} (old key must be rejected)`);
        break;
      default:
        add(step.phase, step.human, step.name);
    }
  }
  // A store that cannot be read back gets no read back: say what verify relies on instead.
  for (const display of planned.notReadBack) add('verify', false, `${display} ${NOT_READ_BACK}`);
  add('audit', false, 'append to the audit log and write the report');
  // "Nothing to revoke" belongs at the head of the revoke phase.
  steps.sort((a, b) => phaseOrder.indexOf(a.phase) - phaseOrder.indexOf(b.phase));
  if (globals.json === true) {
    process.stdout.write(`${JSON.stringify({ event: 'plan', credential: credential.id, runbook: runbook.name, overlap: runbook.overlap, steps })}\n`);
  } else {
    process.stdout.write(`plan for ${credential.id} · runbook ${runbook.name} (overlap: ${runbook.overlap}) · nothing will be written\n\n`);
    for (const [i, step] of steps.entries()) process.stdout.write(`${String(i + 1).padStart(3)}  ${step.phase.padEnd(8)} ${step.who}  ${step.what}\n`);
    if (runbook.overlap === 'none')
      process.stdout.write(`\nOverlap none: from the mint until verify passes, consumers are down (the outage window); rollback is impossible.\n`);
  }
  return ExitCode.done;
}

/** One credential's line of `plan --due`. */
interface DueLine {
  readonly credential: string;
  readonly action: 'rotate' | 'remind' | 'skip';
  readonly reason: string;
  readonly dueAt: string | undefined;
  readonly next: string | undefined;
  readonly facts: Readonly<Record<string, unknown>>;
}

async function planDue(config: Config, globals: Globals, dueUnknown: boolean): Promise<number> {
  const [{ dueSelection }, { lastRunsOf }, { loadRunbook }, { needsPerson }, { locksOf }] = await Promise.all([
    import('./rotate.js'),
    import('../engine/history.js'),
    import('../runbook/load.js'),
    import('../contract/runbook.js'),
    import('./locks-of.js'),
  ]);
  const credentials = [...config.credentials.values()];
  const ids = credentials.map((c) => c.id);
  const history = await lastRunsOf(config.stateDir, ids);
  const [selection, locks] = await Promise.all([dueSelection(config, credentials, history, dueUnknown), locksOf(config.stateDir, ids)]);
  const lines: DueLine[] = [];
  for (const credential of credentials) {
    const dueAt = selection.dueAt.get(credential.id)?.toISOString();
    const skipped = selection.skipped.find((s) => s.credential === credential.id);
    if (skipped !== undefined) {
      const reason = skipped.detail === undefined ? skipped.reason : `${skipped.reason} ${skipped.detail}`;
      lines.push({ credential: credential.id, action: 'skip', reason, dueAt, next: undefined, facts: skipped.facts ?? {} });
      continue;
    }
    // A lock held by a live run: rotate --due would skip it. A stale one (its holder died) is taken over: not a skip.
    const lock = locks.get(credential.id)?.status;
    if (lock !== undefined && (lock.state === 'held' || lock.state === 'starting')) {
      lines.push({ credential: credential.id, action: 'skip', reason: 'locked', dueAt, next: undefined, facts: { lock } });
      continue;
    }
    const runbook = await loadRunbook(credential.runbookFile);
    const human = [...runbook.generate, ...runbook.verify, ...runbook.revoke, ...runbook.verifyRevoked, ...runbook.audit].some(needsPerson);
    lines.push(
      human
        ? { credential: credential.id, action: 'remind', reason: 'needs a person (dashboard step)', dueAt, next: `rekey drill ${credential.id}`, facts: {} }
        : {
            credential: credential.id,
            action: 'rotate',
            reason: dueAt === undefined ? 'unknown age (--due-unknown)' : 'due',
            dueAt,
            next: `rekey plan ${credential.id}`,
            facts: {},
          },
    );
  }
  if (globals.json === true) {
    for (const line of lines) {
      const { facts, ...rest } = line;
      process.stdout.write(`${JSON.stringify({ event: 'plan.due', ...rest, ...facts, time: new Date().toISOString() })}\n`);
    }
    return ExitCode.done;
  }
  const words = { rotate: 'would rotate', remind: 'would remind', skip: 'would skip' } as const;
  const width = Math.max(...lines.map((l) => l.credential.length), 0);
  process.stdout.write('plan for `rekey rotate --due` · nothing will be written (stores asked for their metadata only)\n\n');
  for (const line of lines) {
    const when = line.dueAt === undefined ? '' : ` · due ${line.dueAt.slice(0, 10)}`;
    const next = line.next === undefined ? '' : ` — ${line.action === 'remind' ? 'run' : 'steps:'} \`${line.next}\``;
    process.stdout.write(`${line.credential.padEnd(width)}  ${words[line.action]}: ${line.reason}${when}${next}\n`);
  }
  const count = (action: DueLine['action']) => lines.filter((l) => l.action === action).length;
  process.stdout.write(`\nwould rotate ${count('rotate')} · remind ${count('remind')} · skip ${count('skip')}\n`);
  return ExitCode.done;
}
