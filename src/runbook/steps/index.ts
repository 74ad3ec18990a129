/** Dispatch a runbook step to its interpreter. */
import type { Step } from '../../contract/runbook.js';
import type { StepContext, StepOutcome } from '../../contract/steps.js';

export async function runStep(step: Step, ctx: StepContext, cwd: string): Promise<StepOutcome> {
  switch (step.kind) {
    case 'http':
      return (await import('./http.js')).runHttp(step, ctx);
    case 'prompt':
      return (await import('./prompt.js')).runPrompt(step, ctx);
    case 'generate':
      return (await import('./generate.js')).runGenerate(step);
    case 'exec':
      return (await import('./exec.js')).runCommand(step, ctx.vars, cwd);
    case 'uses':
      return (await import('./uses.js')).runUses(step, ctx);
  }
}
