/**
 * Audit findings as a person reads them: what a person answered, in sentences, and what a provider listed (its
 * activity log), as a table. rekey's own requests are left out of the provider's activity, by time and request: each
 * call rekey made (ProviderCall: when it was sent and answered, its method, path and status) accounts for at most one
 * entry of the log whose time falls within it (give or take CLOCK_SLACK_MS) and whose status, path and method, where
 * the entry has them, are the call's. What is left is the activity to review, and the report says how many were left
 * out and why. Never a value: the records were scrubbed when the step kept them, and so is the report.
 */
import type { ProviderCall } from '../contract/steps.js';
import type { RunSummary } from '../engine/summary.js';
import { localTime, span } from '../util/time.js';

/**
 * How far a log entry's time may be from rekey's call and still be that call: providers log at whole seconds (the
 * entry of a call sent at 10:02:05.900 may read 10:02:05), and their clock is not this machine's.
 */
export const CLOCK_SLACK_MS = 1_000;

/** Field names a provider's log entry gives its time, status, request path and method under, as providers name them. */
const TIME_FIELDS = ['at', 'time', 'timestamp', 'created', 'createdAt', 'created_at', 'date', 'eventTime', 'event_time'];
const STATUS_FIELDS = ['status', 'statusCode', 'status_code', 'response_status'];
const PATH_FIELDS = ['route', 'path', 'endpoint', 'url', 'request_path', 'requestPath'];
const METHOD_FIELDS = ['method', 'httpMethod', 'http_method'];

type Entry = Readonly<Record<string, unknown>>;

const isEntry = (value: unknown): value is Entry => typeof value === 'object' && value !== null && !Array.isArray(value);
const field = (entry: Entry, names: readonly string[]): unknown => names.map((name) => entry[name]).find((v) => v !== undefined && v !== null);

/** An entry's time in epoch milliseconds: an ISO text, or a number of seconds (Unix time) or milliseconds. */
function entryTime(entry: Entry): number | undefined {
  const value = field(entry, TIME_FIELDS);
  if (typeof value === 'string') {
    const ms = Date.parse(value);
    return Number.isFinite(ms) ? ms : undefined;
  }
  if (typeof value === 'number' && Number.isFinite(value)) return value < 1e11 ? value * 1000 : value;
  return undefined;
}

/** Whether a logged path (`/v1/whoami`, `/users/:id`, `/users/{id}`, a full URL) is the path rekey requested. */
function samePath(logged: string, requested: string): boolean {
  let path = logged;
  if (/^https?:\/\//.test(path)) {
    try {
      path = new URL(path).pathname;
    } catch {
      return false;
    }
  }
  path = path.split('?')[0]!;
  const pattern = path
    .split('/')
    .map((segment) => (/^:\w+$|^\{\w+\}$/.test(segment) ? '[^/]+' : segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('/');
  return new RegExp(`^${pattern}/?$`).test(requested);
}

/** Whether `entry` can be the log of `call`: its time within the call, and its status, path and method the call's. */
function isCall(entry: Entry, at: number, call: ProviderCall): boolean {
  if (at < Date.parse(call.sent) - CLOCK_SLACK_MS || at > Date.parse(call.answered) + CLOCK_SLACK_MS) return false;
  const status = field(entry, STATUS_FIELDS);
  if (status !== undefined && Number(status) !== call.status) return false;
  const path = field(entry, PATH_FIELDS);
  if (typeof path === 'string' && !samePath(path, call.path)) return false;
  const method = field(entry, METHOD_FIELDS);
  if (typeof method === 'string' && method.toUpperCase() !== call.method) return false;
  return true;
}

/** How far `at` lies outside the time `call` was in flight (0 inside it). */
const distance = (at: number, call: ProviderCall) => Math.max(0, Date.parse(call.sent) - at, at - Date.parse(call.answered));

/** A provider's log split into rekey's own requests (with what each was for) and the rest, in the log's order. */
export function splitOwnCalls(
  entries: readonly Entry[],
  calls: readonly ProviderCall[],
): { others: Entry[]; own: Array<{ entry: Entry; call: ProviderCall }> } {
  // One call is one request: it accounts for one entry at most. Pairs are matched closest first across the whole log,
  // not in the log's order, so a look-alike request someone else made a moment before rekey's own (inside the clock
  // slack) is not taken for rekey's and rekey's own left listed in its place.
  const pairs: Array<{ entry: number; call: number; gap: number }> = [];
  entries.forEach((entry, e) => {
    const at = entryTime(entry);
    if (at === undefined) return;
    calls.forEach((call, c) => {
      if (isCall(entry, at, call)) pairs.push({ entry: e, call: c, gap: distance(at, call) });
    });
  });
  pairs.sort((a, b) => a.gap - b.gap);
  const callOf = new Map<number, number>();
  const taken = new Set<number>();
  for (const { entry, call } of pairs) {
    if (callOf.has(entry) || taken.has(call)) continue;
    callOf.set(entry, call);
    taken.add(call);
  }
  const others: Entry[] = [];
  const own: Array<{ entry: Entry; call: ProviderCall }> = [];
  entries.forEach((entry, e) => {
    const c = callOf.get(e);
    if (c === undefined) others.push(entry);
    else own.push({ entry, call: calls[c]! });
  });
  return { others, own };
}

/** The title of the audit findings: in an incident, the activity since the leak; otherwise, as the drill says it. */
export function findingsTitle(summary: Pick<RunSummary, 'mode'>): string {
  return summary.mode === 'incident' ? 'Activity since the leak' : 'Audit findings';
}

/** The report's audit findings section, one sub-section per audit step that recorded something. */
export function findingsSection(summary: RunSummary): string[] {
  const recorded = Object.entries(summary.findings);
  if (recorded.length === 0) return [];
  const until = new Date(summary.incident?.until ?? Date.now());
  const lines = [`## ${findingsTitle(summary)}`, ''];
  for (const [step, record] of recorded) {
    const name = summary.timeline.find((e) => e.phase === 'audit' && e.step.endsWith(`:${step}`))?.name ?? step;
    lines.push(`### ${cell(name)}`, '', ...findingLines(record, summary, until), '');
  }
  return lines;
}

/** One step's record: an answer in a sentence, lists of entries as tables, anything else as `name: value`. */
function findingLines(record: unknown, summary: RunSummary, until: Date): string[] {
  if (!isEntry(record)) return [`- ${plain(record, until)}`];
  const lines: string[] = [];
  const since = typeof record['since'] === 'string' ? ` since ${localTime(new Date(record['since']), until)}` : '';
  if (record['confirmed'] === false) {
    lines.push(`**⚠ Answered no:** the person did not confirm this check of the activity${since}: something they do not recognise, to investigate.`, '');
  } else if (record['confirmed'] === true) {
    lines.push(`Answered yes: the person checked${since} and recognised everything.`, '');
  }
  for (const [key, value] of Object.entries(record)) {
    if (key === 'confirmed' || key === 'since' || (key === 'finding' && typeof record['confirmed'] === 'boolean')) continue;
    if (Array.isArray(value)) lines.push(...listLines(key, value, summary, until));
    else lines.push(`- ${key}: ${plain(value, until)}`);
  }
  if (lines.at(-1) === '') lines.pop();
  return lines;
}

/** A list a provider returned (its activity, a key inventory): a sentence with the counts, then a table. */
function listLines(key: string, items: readonly unknown[], summary: RunSummary, until: Date): string[] {
  const entries = items.filter(isEntry);
  const scalars = items.filter((item) => !isEntry(item));
  const { others, own } = splitOwnCalls(entries, summary.calls ?? []);
  const lines: string[] = [];
  const window =
    summary.incident === undefined
      ? ''
      : ` since ${localTime(new Date(summary.incident.since), until)} (${span(until.getTime() - Date.parse(summary.incident.since))})`;
  let sentence = `The provider listed ${count(items.length, 'entry', 'entries')} in \`${key}\`${window}`;
  if (own.length > 0) {
    const why = tally(own.map(({ call }) => call.purpose ?? `its step ${call.step}`));
    const are = own.length === 1 ? "1 is rekey's own request" : `${own.length} are rekey's own requests`;
    sentence += `. ${are} during this run, left out below: ${why}`;
  }
  const left = others.length + scalars.length;
  sentence +=
    left === 0
      ? items.length === 0
        ? ': nothing to review.'
        : '. Nothing else: no other activity to review.'
      : `. ${own.length > 0 ? 'The other ' : ''}${count(left, 'entry is', 'entries are')} to review:`;
  lines.push(sentence, '');
  if (summary.resumed && own.length + left > 0)
    lines.push('_This run was resumed: requests its earlier attempts made are not known to this report, so any of them are listed below as activity._', '');
  // In time order (the provider's own order where an entry has no time), oldest first, as a person reads a log.
  const timed = others.map((entry, i) => ({ entry, i, at: entryTime(entry) ?? Number.NaN }));
  const ordered = timed.every((t) => Number.isFinite(t.at)) ? timed.sort((a, b) => a.at - b.at || a.i - b.i).map((t) => t.entry) : others;
  if (ordered.length > 0) lines.push(...table(ordered, until), '');
  for (const item of scalars) lines.push(`- ${plain(item, until)}`);
  if (scalars.length > 0) lines.push('');
  return lines;
}

/** Entries as a Markdown table: a column per field, in the order fields first appear; times in local time. */
function table(entries: readonly Entry[], until: Date): string[] {
  const columns = [...new Set(entries.flatMap((entry) => Object.keys(entry)))];
  return [
    `| ${columns.map(cell).join(' | ')} |`,
    `| ${columns.map(() => '---').join(' | ')} |`,
    ...entries.map((entry) => `| ${columns.map((c) => cell(TIME_FIELDS.includes(c) ? when(entry[c], until) : plain(entry[c], until))).join(' | ')} |`),
  ];
}

/** A log time as a person reads it: local time with seconds (and the date when not today). */
function when(value: unknown, until: Date): string {
  const ms = typeof value === 'string' ? Date.parse(value) : typeof value === 'number' ? (value < 1e11 ? value * 1000 : value) : Number.NaN;
  return Number.isFinite(ms) ? localTime(new Date(ms), until, true) : plain(value, until);
}

/** A value as a person reads it: text as is, nothing as —, an object as `name: value · name: value`. */
function plain(value: unknown, until: Date): string {
  if (value === undefined || value === null) return '—';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return value.map((v) => plain(v, until)).join(', ');
  return Object.entries(value as Entry)
    .map(([k, v]) => `${k}: ${plain(v, until)}`)
    .join(' · ');
}

/** `its verify of the new key (2), its check of the old key before the run`: what each left-out call was for. */
function tally(purposes: readonly string[]): string {
  const counts = new Map<string, number>();
  for (const p of purposes) counts.set(p, (counts.get(p) ?? 0) + 1);
  return [...counts].map(([p, n]) => (n === 1 ? p : `${p} (${n})`)).join(', ');
}

const count = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
