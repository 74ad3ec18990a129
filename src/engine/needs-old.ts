/**
 * Which runbook steps need the old value (`{{ old }}` anywhere in their strings): with only write-only stores the old
 * value is unknown, and the engine refuses such a runbook before anything is minted (run.ts).
 */
import type { Runbook, Step } from '../contract/runbook.js';
import { references } from '../runbook/template.js';

/** Every string inside a step (its URL, headers, body, command, message…), however the step kind nests them. */
function stringsOf(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.flatMap(stringsOf);
  if (value !== null && typeof value === 'object' && !(value instanceof RegExp)) return Object.values(value).flatMap(stringsOf);
  return [];
}

/** Whether a step's templates refer to `{{ old }}`. */
export function needsOld(step: Step): boolean {
  return stringsOf(step).some((text) => references(text).includes('old'));
}

/** The names of the runbook's steps that need the old value, in phase order. */
export function stepsNeedingOld(runbook: Runbook): string[] {
  return [...runbook.generate, ...runbook.verify, ...runbook.revoke, ...runbook.verifyRevoked, ...runbook.audit, ...runbook.discard]
    .filter(needsOld)
    .map((step) => step.name);
}
