/** Runbooks as typed values: what the engine and the step interpreters read after loading. */
import { InputError } from './errors.js';
import type { Secret } from './secret.js';

/** What minting a new key does to the old one (docs/providers.md#overlap). */
export type Overlap = 'none' | 'until-revoked' | 'expiring';

/** The runbook sections that hold steps, in the order a run meets them. */
export const runbookSections = ['generate', 'verify', 'revoke', 'verifyRevoked', 'audit', 'discard'] as const;
export type RunbookSection = (typeof runbookSections)[number];

/** The phases a runbook may explain in words (`explain:`): its step sections, and roll out, which has no steps. */
export type ExplainedPhase = 'generate' | 'rollout' | 'verify' | 'revoke' | 'verifyRevoked' | 'audit';

/** Fields shared by every step. */
interface StepBase {
  /** Stable id within the runbook (`generate.1` unless given), used by the journal and by answers files. */
  readonly id: string;
  /** One line for people. */
  readonly name: string;
  /** Where the step was written, for error messages. */
  readonly source: { file: string; line: number; column: number };
}

export interface HttpStep extends StepBase {
  readonly kind: 'http';
  readonly method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string | Readonly<Record<string, unknown>> | undefined;
  readonly form: Readonly<Record<string, string>> | undefined;
  readonly basicAuth: { readonly username: string; readonly password: string } | undefined;
  readonly expect: readonly number[];
  /** Retries for propagation: the step is tried until the status is expected, at most `attempts` times. */
  readonly retry: { readonly attempts: number; readonly delayMs: number } | undefined;
  readonly timeoutMs: number;
  /** Dot path of the new value in the JSON response (`key`, `data.token`): this step mints. */
  readonly capture: string | undefined;
  /** Dot paths of response fields to keep in the report (audit activity). */
  readonly record: readonly string[];
  /**
   * Response fields that must hold one of the listed values for the attempt to count (`error.code`: the provider's
   * reason, where the status alone is ambiguous); `null` in a list accepts an absent field. Empty: status only.
   */
  readonly match: Readonly<Record<string, readonly (string | number | boolean | null)[]>>;
  /** The public page that documents the answer expected (a verifyRevoked step's rejection: only that one counts as dead). */
  readonly documented: string | undefined;
}

export interface PromptStep extends StepBase {
  readonly kind: 'prompt';
  readonly message: string;
  readonly url: string | undefined;
  /** Capture the new value with hidden input, validated against the runbook's pattern: this step mints. */
  readonly capture: boolean;
  /** A yes/no question the person must answer yes to. */
  readonly confirm: string | undefined;
  /** A template holding a secret that is shown to the person only on explicit request, once, never logged. */
  readonly reveal: string | undefined;
}

export interface GenerateStep extends StepBase {
  readonly kind: 'generate';
  readonly bytes: number;
  readonly encoding: 'hex' | 'base64url';
  readonly prefix: string;
}

export interface ExecStep extends StepBase {
  readonly kind: 'exec';
  readonly argv: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly stdin: string | undefined;
  readonly timeoutMs: number;
  readonly retries: number;
  /** When the child prints the new value on stdout: this step mints. */
  readonly capture: boolean;
}

export interface UsesStep extends StepBase {
  readonly kind: 'uses';
  readonly adapter: string;
  readonly action: string | undefined;
  readonly with: Readonly<Record<string, unknown>>;
}

export type Step = HttpStep | PromptStep | GenerateStep | ExecStep | UsesStep;

export interface RunbookInput {
  readonly description: string;
  readonly default: string | undefined;
  readonly required: boolean;
}

export interface Runbook {
  readonly name: string;
  readonly title: string;
  readonly summary: string;
  readonly file: string;
  readonly overlap: Overlap;
  /** Recommended rotation interval, used when a credential sets no maxAge. */
  readonly rotateEveryMs: number;
  readonly dashboard: string | undefined;
  /**
   * The shape of a valid key. `pattern` is fixed by the runbook; `patternInput` names an input that holds it instead
   * (`pattern: "{{ inputs.keyPattern }}"`), for providers whose key format is unconfirmed: see `secretPattern`.
   */
  readonly secret: { readonly pattern: RegExp | undefined; readonly patternInput: string | undefined; readonly description: string | undefined };
  readonly inputs: Readonly<Record<string, RunbookInput>>;
  readonly generate: readonly Step[];
  readonly verify: readonly Step[];
  readonly revoke: readonly Step[];
  readonly verifyRevoked: readonly Step[];
  readonly audit: readonly Step[];
  readonly discard: readonly Step[];
  /** Free text shown in `runbook show`: sources, notes. */
  readonly notes: readonly string[];
  /**
   * Text for the written runbook (`runbook show`), per phase: what consumers need at roll out (restart the receiver),
   * or what the person does where no step checks something (a webhook token has no provider check). Never a claim
   * that rekey checks something it does not.
   */
  readonly explain: Readonly<Partial<Record<ExplainedPhase, string>>>;
  /** How `rekey rehearse --runbook <name>` plays this provider with the local sandbox. */
  readonly rehearsal: RunbookRehearsal;
  /** What a responder does at this provider after a leak, for the incident report's checklist; undefined when not written. */
  readonly respond: RunbookResponse | undefined;
}

/**
 * The provider's part of the responder's checklist (`respond:`), shown at the end of an incident's report and screen
 * as written (never templated: it names places, not values). Each fact comes from the provider's public pages, which
 * `sources` lists.
 */
export interface RunbookResponse {
  /** Where the provider logs what a key did: words, and the dashboard page or log API to open. */
  readonly logs: { readonly text: string; readonly url: string | undefined } | undefined;
  /** Changes someone holding the key could have made, to look for and reverse (new users, webhooks, refunds…). */
  readonly changes: readonly string[];
  /** Whom to tell at or about this provider, beyond your own team. */
  readonly notify: readonly string[];
  /** The public pages the facts above come from. */
  readonly sources: readonly string[];
}

/**
 * A runbook's rehearsal: the sandbox stands in for the provider. `inputs` are the credential inputs of the rehearsal,
 * where `{{ sandbox.url }}` and `{{ sandbox.account }}` name the local sandbox and its account; `keyPrefix` makes the
 * sandbox's keys pass the runbook's secret pattern. `unsupported` says why a runbook cannot be rehearsed.
 */
export interface RunbookRehearsal {
  readonly unsupported: string | undefined;
  readonly variable: string;
  readonly keyPrefix: string;
  readonly keepPrevious: boolean;
  readonly inputs: Readonly<Record<string, string>>;
}

/** Whether a step produces the new value. */
export function mints(step: Step): boolean {
  return (
    (step.kind === 'http' && step.capture !== undefined) ||
    (step.kind === 'prompt' && step.capture) ||
    step.kind === 'generate' ||
    (step.kind === 'exec' && step.capture) ||
    (step.kind === 'uses' && step.action === 'create')
  );
}

/** The key pattern for a credential: the runbook's own, or the one its pattern input holds. Throws on a bad expression. */
export function secretPattern(runbook: Runbook, inputs: Readonly<Record<string, string>>): RegExp | undefined {
  if (runbook.secret.patternInput === undefined) return runbook.secret.pattern;
  const text = inputs[runbook.secret.patternInput];
  if (text === undefined || text === '') return undefined;
  try {
    return new RegExp(text);
  } catch (error) {
    throw new InputError(
      `input ${runbook.secret.patternInput} is not a valid regular expression: ${(error as Error).message}`,
      undefined,
      `set inputs.${runbook.secret.patternInput} of the credential to a JavaScript regular expression, such as ^sk_[A-Za-z0-9]{32}$`,
    );
  }
}

/** Whether a step waits for a person. */
export function needsPerson(step: Step): boolean {
  return step.kind === 'prompt';
}

/** Values a template is rendered with. */
export interface TemplateVars {
  readonly new?: Secret | undefined;
  readonly old?: Secret | undefined;
  readonly inputs: Readonly<Record<string, string>>;
  /**
   * `since`: the audit window's start, ISO 8601 (for URLs); `sinceText`: the same for a person, in local time, or what
   * is known when no date is (prompts show it in place of `{{ run.since }}`).
   */
  readonly run: { readonly id: string; readonly since: string; readonly sinceText?: string; readonly started: string };
  readonly credential: string;
}
