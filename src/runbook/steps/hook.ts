/**
 * A rollout hook of rekey.yaml: a command (exec.ts), or a built-in hook from adapters/steps/, imported only when a
 * configuration uses it (the Kubernetes client costs more to load than the whole CLI start-up). Retries apply to
 * both, as they do to commands.
 */
import type { TemplateVars } from '../../contract/runbook.js';
import { StepFailedError, type StepOutcome } from '../../contract/steps.js';
import { StoreEnvironmentError } from '../../contract/store-errors.js';
import { type CommandSpec, runCommand } from './exec.js';

/** What a hook may tell the person while it runs (progress; never a value). */
export type HookNote = (message: string) => void;

/** Run one rollout hook; resolves with its outcome or throws StepFailedError (StoreEnvironmentError: no kubeconfig). */
export async function runHook(spec: CommandSpec, vars: TemplateVars, cwd: string, note: HookNote): Promise<StepOutcome> {
  if (spec.builtin === undefined) return runCommand(spec, vars, cwd);
  const { runKubernetesRollout } = await import('../../../adapters/steps/kubernetes-rollout.js');
  const options = spec.builtin.options as unknown as import('../../../adapters/steps/kubernetes-rollout.js').KubernetesRolloutOptions;
  let last: unknown;
  for (let attempt = 0; attempt <= spec.retries; attempt++) {
    try {
      return await runKubernetesRollout(options, { id: spec.id, name: spec.name, timeoutMs: spec.timeoutMs, baseDir: cwd, env: process.env, note });
    } catch (error) {
      // The machine lacks what the hook needs (a kubeconfig): trying again cannot help.
      if (error instanceof StoreEnvironmentError) throw error;
      last = error;
      if (attempt < spec.retries) note(`${spec.name}: ${error instanceof Error ? error.message : String(error)}; trying again`);
    }
  }
  if (last instanceof StepFailedError && spec.retries > 0)
    throw new StepFailedError(last.step, `${last.message} after ${spec.retries + 1} attempts`, last.hint);
  throw last;
}
