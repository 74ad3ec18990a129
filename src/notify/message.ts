/**
 * The messages rekey sends to people (`notify:` in rekey.yaml), built from what a run reported (its events, its
 * summary, the scheduled pass's outcome), never from a value: the facts these builders take hold no `Secret`, only
 * the credential, what happened, masks and fingerprints, and what the person must do next. Every text is scrubbed by
 * the process's redactor as well (a second line of defence: an error message that quoted a value reaches no channel).
 */
import { hostname } from 'node:os';
import { redactor } from '../contract/redactor.js';
import type { NotifyKind } from '../config/types.js';

/** One step a person takes in a reminder: the runbook's dashboard step, its instructions and where to go. */
export interface PersonStep {
  readonly name: string;
  readonly instructions: string | undefined;
  readonly url: string | undefined;
}

/** What every channel is given (the webhook's JSON body, the exec channel's stdin; Slack gets `text`). */
export interface NotifyMessage {
  readonly source: 'rekey';
  readonly kind: NotifyKind;
  readonly credential: string;
  /** The run, when one ran (a reminder or an overdue credential has none). */
  readonly run: string | undefined;
  /** When the message was made, ISO 8601 UTC. */
  readonly time: string;
  /** The machine that ran the pass. */
  readonly host: string;
  /** One line: `api-key: rotation failed (rolled back)`. */
  readonly title: string;
  /** What happened, in sentences. */
  readonly text: string;
  /** The command the person runs next, when there is one. */
  readonly next: string | undefined;
  readonly reason?: string | undefined;
  /** When the credential fell due (ISO 8601), when known. */
  readonly dueAt?: string | undefined;
  readonly fingerprints?: { readonly old: string | undefined; readonly new: string | undefined } | undefined;
  readonly masks?: { readonly old: string | undefined; readonly new: string | undefined } | undefined;
  /** A reminder's steps for the person (the runbook's dashboard steps). */
  readonly steps?: readonly PersonStep[] | undefined;
}

type Base = Pick<NotifyMessage, 'kind' | 'credential' | 'run' | 'title' | 'text' | 'next'> & Partial<NotifyMessage>;

function message(base: Base): NotifyMessage {
  const clean = (text: string | undefined) => (text === undefined ? undefined : redactor.scrub(text));
  return {
    source: 'rekey',
    time: new Date().toISOString(),
    host: hostname(),
    ...base,
    title: clean(base.title)!,
    text: clean(base.text)!,
    next: clean(base.next),
    ...(base.reason === undefined ? {} : { reason: clean(base.reason) }),
    ...(base.steps === undefined ? {} : { steps: base.steps.map((s) => ({ name: clean(s.name)!, instructions: clean(s.instructions), url: clean(s.url) })) }),
  };
}

const day = (iso: string | undefined) => (iso === undefined ? undefined : iso.slice(0, 10));

/** A rotation that failed: how it ended, the error (scrubbed), and the command that shows or finishes it. */
export function failureMessage(facts: {
  credential: string;
  run: string | undefined;
  reason: string;
  error: string | undefined;
  hint: string | undefined;
  next: string | undefined;
  dueAt?: string | undefined;
  fingerprints?: NotifyMessage['fingerprints'];
  masks?: NotifyMessage['masks'];
}): NotifyMessage {
  const sentences = [
    `The rotation of ${facts.credential} failed (${facts.reason})${facts.run === undefined ? '' : ` in run ${facts.run}`}.`,
    facts.error === undefined ? undefined : `Error: ${facts.error}`,
    facts.hint === undefined ? undefined : `Hint: ${facts.hint}`,
    facts.dueAt === undefined ? undefined : `It has been due since ${day(facts.dueAt)}.`,
    facts.next === undefined ? undefined : `Next: \`${facts.next}\``,
  ];
  return message({
    kind: 'failure',
    credential: facts.credential,
    run: facts.run,
    title: `${facts.credential}: rotation failed (${facts.reason})`,
    text: sentences.filter((s) => s !== undefined).join('\n'),
    next: facts.next,
    reason: facts.reason,
    dueAt: facts.dueAt,
    fingerprints: facts.fingerprints,
    masks: facts.masks,
  });
}

/** A due credential whose runbook needs a person: its steps, and the `rekey drill` command to run. */
export function reminderMessage(facts: { credential: string; title: string; dueAt: string | undefined; steps: readonly PersonStep[] }): NotifyMessage {
  const next = `rekey drill ${facts.credential}`;
  const when = facts.dueAt === undefined ? 'is due (its age is unknown)' : `has been due since ${day(facts.dueAt)}`;
  const steps = facts.steps.map(
    (s, i) =>
      `${i + 1}. ${s.name}${s.instructions === undefined ? '' : `: ${s.instructions.trim().replace(/\n+/g, ' ')}`}${s.url === undefined ? '' : ` (${s.url})`}`,
  );
  return message({
    kind: 'reminder',
    credential: facts.credential,
    run: undefined,
    title: `${facts.credential}: due, and its ${facts.title} rotation needs a person`,
    text: [
      `${facts.credential} ${when}. Its runbook has a dashboard step, so a scheduled run cannot rotate it alone.`,
      `Run \`${next}\` at a terminal; it will ask you to:`,
      ...steps,
    ].join('\n'),
    next,
    reason: 'needs a person',
    dueAt: facts.dueAt,
    steps: facts.steps,
  });
}

/** A due credential the pass did not rotate, for a reason that is neither a failure nor a person's step (a live lock). */
export function overdueMessage(facts: { credential: string; dueAt: string | undefined; why: string; run: string | undefined }): NotifyMessage {
  const next = `rekey status`;
  return message({
    kind: 'overdue',
    credential: facts.credential,
    run: facts.run,
    title: `${facts.credential}: overdue, not rotated (${facts.why})`,
    text: `${facts.credential} has been due since ${day(facts.dueAt) ?? 'an unknown date'} and this pass did not rotate it: ${facts.why}.\nNext: \`${next}\``,
    next,
    reason: facts.why,
    dueAt: facts.dueAt,
  });
}

/** A rotation that finished: old and new key by mask and fingerprint, never by value. */
export function successMessage(facts: {
  credential: string;
  run: string | undefined;
  fingerprints: NonNullable<NotifyMessage['fingerprints']>;
  masks: NonNullable<NotifyMessage['masks']>;
}): NotifyMessage {
  const key = (m: string | undefined, f: string | undefined) => `${m ?? '?'}${f === undefined ? '' : ` (${f})`}`;
  return message({
    kind: 'success',
    credential: facts.credential,
    run: facts.run,
    title: `${facts.credential}: rotated`,
    text:
      `${facts.credential} was rotated${facts.run === undefined ? '' : ` in run ${facts.run}`}: ` +
      `old key ${key(facts.masks.old, facts.fingerprints.old)}, new key ${key(facts.masks.new, facts.fingerprints.new)}.`,
    next: facts.run === undefined ? undefined : `rekey log ${facts.run}`,
    fingerprints: facts.fingerprints,
    masks: facts.masks,
  });
}

/**
 * A Slack incoming webhook's body: `text` in Slack's mrkdwn, with `&`, `<` and `>` escaped as Slack's formatting
 * reference asks (https://api.slack.com/reference/surfaces/formatting#escaping), so that nothing in a message can
 * become a link or a mention. Incoming webhooks take `{"text": …}` (https://api.slack.com/messaging/webhooks).
 */
export function slackBody(msg: NotifyMessage): { text: string } {
  const slackEscape = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  return {
    text: `*${slackEscape(msg.title)}*\n${slackEscape(msg.text)}${msg.run === undefined ? '' : `\n_run ${slackEscape(msg.run)} · ${slackEscape(msg.host)}_`}`,
  };
}
