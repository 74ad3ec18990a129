/** `rekey audit verify`: check the audit log's hash chain and seals; exit 1 naming the first damaged, altered or removed record. */
import { ExitCode } from '../contract/errors.js';
import { openConfig, type CommandInput, type Globals } from './common.js';

export default async function auditVerify(_input: CommandInput, globals: Globals): Promise<number> {
  const config = await openConfig(globals);
  const { verifyAudit, auditFile } = await import('../engine/audit-log.js');
  const result = verifyAudit(config.stateDir);
  const file = auditFile(config.stateDir);
  if (globals.json === true) {
    process.stdout.write(`${JSON.stringify({ event: 'audit.verified', file, ...result })}\n`);
  } else if (result.ok) {
    process.stdout.write(`${file}: ${result.records} records, chain intact\n`);
  } else {
    process.stdout.write(`${file}:${result.line}: ${result.problem}\n`);
  }
  return result.ok ? ExitCode.done : ExitCode.failed;
}
