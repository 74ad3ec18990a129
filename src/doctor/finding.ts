/**
 * What `rekey doctor` reports: findings, each with a severity, the place it applies to and the fix. A finding names
 * values by fingerprint; never a value (git's text, a commit subject, is scrubbed by the redactor, which leaves a mask).
 */
import { ExitCode } from '../contract/errors.js';

/**
 * error: a leak or a broken rule, the CI gate fails · warn: a risk to look at (fails with --strict) · todo: for a
 * person to check, a tool cannot see it · ok: checked and fine (a confirmed checklist item, a runbook written).
 */
export type Severity = 'error' | 'warn' | 'todo' | 'ok';

export interface Where {
  readonly file: string;
  readonly line: number;
  readonly column: number;
}

export interface Finding {
  /** The check that found it (`env-file`, `client-code`, `https`, …): the group it is shown in. */
  readonly check: CheckId;
  readonly severity: Severity;
  readonly where?: Where | undefined;
  /** The credentials it concerns (several when they share a file or a value). */
  readonly credentials: readonly string[];
  readonly message: string;
  readonly fix?: string | undefined;
  /** For a checklist item: its id (the answers file's key) and the answer, as the drill records audit answers. */
  readonly item?: string | undefined;
  readonly confirmed?: boolean | undefined;
}

export const CHECKS = {
  stores: 'the stores, read for their current values (no writes)',
  'env-file': '.env files: ignored by git, never committed, mode 0600',
  'client-code': 'key values in client code (dist/, build/, public/, .next/, out/, mobile bundles)',
  'git-tracked': 'key values in files git tracks and in git history',
  'webhook-token': 'webhook URL tokens: at least 24 random bytes',
  https: 'every URL of runbook inputs and rollout hooks is HTTPS',
  age: 'age against policy, and a working rotation path',
  'shared-value': 'separate keys per environment',
  runbook: 'a written runbook for "API key leaked, what now"',
  checklist: 'for a person: what a tool cannot see',
} as const;
export type CheckId = keyof typeof CHECKS;

const ORDER: Record<Severity, number> = { error: 0, warn: 1, todo: 2, ok: 3 };

/**
 * One finding per place and problem: two credentials sharing a 0644 .env give one mode finding naming both, not one
 * per credential (`rekey check` used to repeat it once per store that uses the file).
 */
export function dedupe(findings: readonly Finding[]): Finding[] {
  const byKey = new Map<string, Finding>();
  for (const finding of findings) {
    const where = finding.where === undefined ? '' : `${finding.where.file}:${finding.where.line}:${finding.where.column}`;
    const key = `${finding.check}\0${where}\0${finding.message}`;
    const seen = byKey.get(key);
    if (seen === undefined) byKey.set(key, finding);
    else {
      const credentials = [...new Set([...seen.credentials, ...finding.credentials])].sort();
      byKey.set(key, { ...seen, severity: ORDER[finding.severity] < ORDER[seen.severity] ? finding.severity : seen.severity, credentials });
    }
  }
  const checks = Object.keys(CHECKS);
  return [...byKey.values()].sort((a, b) => checks.indexOf(a.check) - checks.indexOf(b.check) || ORDER[a.severity] - ORDER[b.severity] || byPlace(a, b));
}

/** File by name, then line and column by number (rekey.yaml:9 before rekey.yaml:13). */
function byPlace(a: Finding, b: Finding): number {
  if (a.where === undefined || b.where === undefined) return (a.where === undefined ? 1 : 0) - (b.where === undefined ? 1 : 0);
  return a.where.file.localeCompare(b.where.file) || a.where.line - b.where.line || a.where.column - b.where.column;
}

export function whereText(finding: Finding): string {
  return finding.where === undefined ? '' : `${finding.where.file}:${finding.where.line}:${finding.where.column}`;
}

/** The exit code a CI job gates on: 1 when an error (or, with strict, a warning) was found, else 0. */
export function exitCodeOf(findings: readonly Finding[], strict: boolean): number {
  return findings.some((f) => f.severity === 'error' || (strict && f.severity === 'warn')) ? ExitCode.failed : ExitCode.done;
}

export function counts(findings: readonly Finding[]): Record<Severity, number> {
  const out: Record<Severity, number> = { error: 0, warn: 0, todo: 0, ok: 0 };
  for (const f of findings) out[f.severity]++;
  return out;
}
