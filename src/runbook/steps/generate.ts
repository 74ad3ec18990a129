/** The `generate` step: random bytes from the operating system's CSPRNG, hex or base64url, with a prefix. */
import { randomBytes } from 'node:crypto';
import { Secret } from '../../contract/secret.js';
import type { GenerateStep } from '../../contract/runbook.js';
import type { StepOutcome } from '../../contract/steps.js';

export function runGenerate(step: GenerateStep): StepOutcome {
  const bytes = randomBytes(step.bytes);
  const text = step.encoding === 'hex' ? bytes.toString('hex') : bytes.toString('base64url');
  return { minted: new Secret(`${step.prefix}${text}`), detail: `${step.bytes} random bytes` };
}
