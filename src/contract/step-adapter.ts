/** The contract of a step adapter: code that a runbook calls with `uses: <name>` and `action:`. */
import type { StepContext, StepOutcome } from './steps.js';
import type { UsesStep } from './runbook.js';

export interface StepAdapterCall {
  readonly action: string | undefined;
  readonly with: Readonly<Record<string, unknown>>;
  readonly step: UsesStep;
  readonly context: StepContext;
}

/** A step adapter module's default export, checked with `satisfies StepAdapter`. */
export interface StepAdapter {
  readonly name: string;
  readonly summary: string;
  /** Actions the adapter offers, for validation and `runbook show`. */
  readonly actions: readonly string[];
  run(call: StepAdapterCall): Promise<StepOutcome>;
}
