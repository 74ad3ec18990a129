/**
 * What no tool can see, as a checklist for a person: each item has an id, which an answers file (`--answers`, the
 * drill's format: `id: yes` or `id: no`) answers. Answers are recorded as the drill records its audit answers: yes is
 * confirmed, no is a finding to act on, no answer leaves the item to do.
 */
import type { Finding } from './finding.js';
import { configWhere, type DoctorInput } from './input.js';
import { isWebhookToken } from './checks.js';

export interface ChecklistItem {
  readonly id: string;
  readonly question: string;
  /** What to do when the answer is no (or to check it). */
  readonly fix: string;
  readonly credentials: readonly string[];
}

/** The items for this config: the dashboard checks for every API key, the handler check where a webhook token is. */
export function checklistItems(input: DoctorInput): ChecklistItem[] {
  const keys = input.credentials.filter((c) => !isWebhookToken(c.runbook)).map((c) => c.config.id);
  const hooks = input.credentials.filter((c) => isWebhookToken(c.runbook)).map((c) => c.config.id);
  const items: ChecklistItem[] = [];
  if (keys.length > 0)
    items.push(
      {
        id: 'allowed-domains',
        question: "each key's allowed domains (or IPs) in the provider's dashboard list only your own sites and servers",
        fix: "open each provider's key settings and remove any domain or address that is not yours",
        credentials: keys,
      },
      {
        id: 'team-reviewed',
        question: "the team members with access to the providers' dashboards were reviewed in the last 90 days",
        fix: 'review who can see or create keys in each dashboard; remove people who left or no longer need it',
        credentials: keys,
      },
    );
  if (hooks.length > 0)
    items.push({
      id: 'webhook-handler',
      question: 'the webhook handler checks projectId and the event name against the ones it expects, and answers within a second',
      fix: 'refuse deliveries for other projects and unknown events, and answer before doing the work (the provider does not wait, nor retry)',
      credentials: hooks,
    });
  return items;
}

/** An answer from the answers file: true (yes), false (no), or undefined (not answered). */
export type Answer = (id: string, question: string) => Promise<boolean | undefined>;

export async function checklist(input: DoctorInput, answer: Answer | undefined, answersFile: string | undefined): Promise<Finding[]> {
  const findings: Finding[] = [];
  for (const item of checklistItems(input)) {
    const given = answer === undefined ? undefined : await answer(item.id, item.question);
    const where = configWhere(input, [item.credentials[0]!], 'key');
    const base = { check: 'checklist' as const, where, credentials: item.credentials, item: item.id };
    if (given === true) findings.push({ ...base, severity: 'ok', confirmed: true, message: `[${item.id}] ${item.question}: confirmed (${answersFile})` });
    else if (given === false)
      findings.push({ ...base, severity: 'error', confirmed: false, message: `[${item.id}] ${item.question}: answered no (${answersFile})`, fix: item.fix });
    else
      findings.push({
        ...base,
        severity: 'todo',
        message: `[${item.id}] ${item.question}?`,
        fix: `${item.fix}; then record it: ${item.id}: yes in an answers file (rekey doctor --answers <file>)`,
      });
  }
  return findings;
}
