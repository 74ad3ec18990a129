/** Step adapters by name, each imported only when a runbook uses it. */
import type { StepAdapter } from '../../src/contract/step-adapter.js';

type Loader = () => Promise<{ default: StepAdapter }>;

const loaders: Readonly<Record<string, Loader>> = {
  'aws-iam': () => import('./aws-iam.js'),
  'webhook-signature': () => import('./webhook-signature.js'),
};

/** Every step adapter name. */
export const stepAdapterNames: readonly string[] = Object.keys(loaders);

/** The adapter for a name. */
export async function loadStepAdapter(name: string): Promise<StepAdapter> {
  const load = loaders[name];
  if (load === undefined) throw new Error(`unknown step adapter "${name}"; known: ${stepAdapterNames.join(', ') || 'none'}`);
  return (await load()).default;
}
