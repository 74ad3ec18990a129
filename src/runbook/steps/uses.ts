/** The `uses:` step: hands the step to a step adapter in adapters/steps/ (code for what YAML cannot say). */
import { loadStepAdapter } from '../../../adapters/steps/index.js';
import type { UsesStep } from '../../contract/runbook.js';
import type { StepContext, StepOutcome } from '../../contract/steps.js';

export async function runUses(step: UsesStep, ctx: StepContext): Promise<StepOutcome> {
  const adapter = await loadStepAdapter(step.adapter);
  return adapter.run({ action: step.action, with: step.with, step, context: ctx });
}
