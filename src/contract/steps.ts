/** What a step interpreter is given and returns. Interpreters do I/O and know nothing of phases. */
import type { Secret } from './secret.js';
import type { Runbook, TemplateVars } from './runbook.js';

/** How a step reaches the person at the keyboard, or the answers file when nobody is there. */
export interface Interaction {
  /** True when a person can answer now (a terminal, or an answers file). */
  readonly canAsk: boolean;
  /** Show instructions for a human step. */
  instruct(stepId: string, message: string, url: string | undefined): void;
  /** Ask for a secret with hidden input; `validate` returns an error text or undefined. */
  askSecret(stepId: string, question: string, validate: (value: string) => string | undefined): Promise<string>;
  /** A yes/no question that must be answered yes to go on. */
  confirm(stepId: string, question: string): Promise<boolean>;
  /** Offer to show a secret to the person, once, on explicit request. */
  offerReveal(stepId: string, label: string, value: Secret): Promise<void>;
}

export interface StepContext {
  readonly vars: TemplateVars;
  readonly runbook: Runbook;
  readonly interaction: Interaction;
  /** Round trips to providers in milliseconds, for the engine-overhead benchmark. */
  readonly roundTrips: number[];
  /** A line for the person (never a value). */
  note(message: string): void;
  /**
   * Ask the provider about a pasted key before anything is written (the runbook's own checks of the new key): a text
   * saying why it is rejected, or undefined when it is accepted or the provider cannot be reached (verify decides).
   */
  checkNew?(candidate: Secret): Promise<string | undefined>;
  /** Every request an http step makes is added here, so the report can tell rekey's own calls from a provider's log. */
  readonly calls?: ProviderCall[];
}

/**
 * One request rekey made to a provider, as the incident report uses it to leave rekey's own calls out of the
 * provider's activity: the step, the method, the URL's host and path (never its query, which may carry a key), when it
 * was sent and answered, and the status (undefined when no answer came).
 */
export interface ProviderCall {
  readonly step: string;
  readonly name: string;
  readonly method: string;
  readonly host: string;
  readonly path: string;
  /** ISO times the request was sent and its answer read. */
  readonly sent: string;
  readonly answered: string;
  readonly status: number | undefined;
  /** What the call was for, in words (`its check of the old key before the run`); the engine fills it in. */
  readonly purpose?: string;
}

export interface StepOutcome {
  /** The new value, when the step mints. */
  readonly minted?: Secret;
  /** A short, printable summary: `200`, `401 — rejected`, `exit 0`. */
  readonly detail?: string;
  /** Printable data for the report (audit activity). */
  readonly record?: Readonly<Record<string, unknown>>;
}

/** A step that failed for a reason worth saying plainly (a wrong status, a refused confirmation). */
export class StepFailedError extends Error {
  constructor(
    readonly step: string,
    message: string,
    readonly hint?: string,
  ) {
    super(message);
    this.name = 'StepFailedError';
  }
}

/** A person answered no to a prompt's question (a checklist not done, something not recognised). */
export class NotConfirmedError extends StepFailedError {
  constructor(step: string, message: string, hint?: string) {
    super(step, message, hint);
    this.name = 'NotConfirmedError';
  }
}

/** An HTTP step that never got an answer (refused, timed out, no route): the provider said nothing about the key. */
export class ProviderUnreachableError extends StepFailedError {
  constructor(step: string, message: string, hint?: string) {
    super(step, message, hint);
    this.name = 'ProviderUnreachableError';
  }
}
