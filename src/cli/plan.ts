/**
 * `rekey plan <credential>`: the steps a rotation would run, in order; nothing is read from a store or written. The
 * stores are opened (no I/O: the contract forbids it in `open`) only to learn their capabilities, which shape the plan.
 */
import { ExitCode } from '../contract/errors.js';

const phaseOrder = ['generate', 'rollout', 'verify', 'revoke', 'audit'];
import { credentialOf, openConfig, type CommandInput, type Globals } from './common.js';
import { wholeSeconds } from '../util/time.js';

export default async function plan(input: CommandInput, globals: Globals): Promise<number> {
  const config = await openConfig(globals);
  const credential = credentialOf(config, String(input.args[0]));
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
