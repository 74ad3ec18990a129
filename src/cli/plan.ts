/** `rekey plan <credential>`: the steps a rotation would run, in order; nothing is read from a store or written. */
import { ExitCode } from '../util/errors.js';
import { credentialOf, openConfig, type CommandInput, type Globals } from './common.js';

export default async function plan(input: CommandInput, globals: Globals): Promise<number> {
  const config = await openConfig(globals);
  const credential = credentialOf(config, String(input.args[0]));
  const { loadRunbook } = await import('../runbook/load.js');
  const { needsPerson } = await import('../runbook/types.js');
  const runbook = await loadRunbook(credential.runbookFile);
  const stores = credential.stores.map((s) => s.ref.display);
  const who = (human: boolean) => (human ? 'you  ' : 'rekey');
  const steps: Array<{ phase: string; who: string; what: string }> = [];
  const add = (phase: string, human: boolean, what: string) => steps.push({ phase, who: who(human), what });
  add('generate', false, `read ${stores.join(', ')}; they must agree; check the old key with the runbook's verify call`);
  for (const step of runbook.generate) add('generate', needsPerson(step), step.name);
  add('generate', false, `stage the new key in ${stores.join(', ')}`);
  for (const s of stores) add('rollout', false, `make current in ${s}`);
  for (const hook of credential.rollout) add('rollout', false, `${hook.name} (timeout ${Math.round(hook.timeoutMs / 1000)}s, ${hook.retries} retries)`);
  add('verify', false, 'read every store back and compare fingerprints');
  for (const step of runbook.verify) add('verify', needsPerson(step), `${step.name} (new key)`);
  if (runbook.overlap === 'none') add('revoke', false, 'nothing to revoke: minting the new key already killed the old one');
  for (const step of runbook.revoke) add('revoke', needsPerson(step), `${step.name} (old key)`);
  for (const step of runbook.verifyRevoked) add('revoke', needsPerson(step), `${step.name} (old key must be rejected)`);
  for (const s of stores) add('revoke', false, `drop the old value from ${s}`);
  for (const step of runbook.audit) add('audit', needsPerson(step), step.name);
  add('audit', false, 'append to the audit log and write the report');
  if (globals.json === true) {
    process.stdout.write(`${JSON.stringify({ event: 'plan', credential: credential.id, runbook: runbook.name, overlap: runbook.overlap, steps })}\n`);
  } else {
    process.stdout.write(`plan for ${credential.id} · runbook ${runbook.name} (overlap: ${runbook.overlap}) · nothing will be written\n\n`);
    for (const [i, step] of steps.entries()) process.stdout.write(`${String(i + 1).padStart(3)}  ${step.phase.padEnd(8)} ${step.who}  ${step.what}\n`);
    if (runbook.overlap === 'none') process.stdout.write(`\nOverlap none: from the mint until verify passes, consumers are down (the outage window); rollback is impossible.\n`);
  }
  return ExitCode.done;
}
