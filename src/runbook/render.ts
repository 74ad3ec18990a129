/**
 * A runbook rendered for people: plain text for the terminal, or Markdown — the written runbook a team keeps ("API
 * key leaked, what now"). Both follow the five phases, generate → roll out → verify → revoke (and prove the old key
 * dead) → audit, and say for each what rekey does and what the person does. A phase without steps says plainly what
 * happens instead (the stores' read-back, or the runbook's `explain:` text); it never claims a check that does not
 * exist. Templates read as a person understands them: inputs by their default, or as `<name>` placeholders.
 *
 * The runbook's own text is written to read right both on screen and on paper; what only makes sense on a screen (a
 * question's [y/N], "press Enter") is the terminal's business and never part of the runbook.
 */
import { formatAge } from '../util/time.js';
import { needsPerson, type ExplainedPhase, type Runbook, type Step } from '../contract/runbook.js';

const OVERLAP_WORDS: Readonly<Record<string, string>> = {
  none:
    'Minting a new key kills the old one at once: consumers are down from the mint until the new key is rolled out (the outage window). There is no ' +
    'rollback; a failure after the mint is fixed forward.',
  'until-revoked': 'Both keys work until the old one is revoked, so the new key is rolled out and verified first, and rollback is always safe until revoke.',
  expiring: 'The old key keeps working until a chosen expiry; revoke means "expire now" or "let it lapse".',
};

type Format = 'text' | 'md';

export interface RenderOptions {
  /** Text format only: the width prompts are wrapped to (default: the terminal's, at most 120; else 100). */
  readonly width?: number;
}

/** Templates as a reader understands them: inputs by their default, or `<name>`; values by role. */
function readable(runbook: Runbook, text: string, format: Format): string {
  return text.replace(/\{\{\s*([A-Za-z_][\w.-]*)\s*\}\}/g, (whole, name: string) => {
    if (name.startsWith('inputs.')) {
      const spec = runbook.inputs[name.slice(7)];
      return spec?.default !== undefined && spec.default !== '' ? spec.default : `<${name.slice(7)}>`;
    }
    if (name === 'new') return '<the new key>';
    if (name === 'old') return '<the old key>';
    if (name === 'run.since') return format === 'md' ? 'the leak (or the last rotation)' : '<the audit window start>';
    if (name === 'run.id') return '<run id>';
    if (name === 'run.started') return '<the start of the run>';
    if (name === 'credential') return '<credential>';
    return whole;
  });
}

function values(list: readonly (string | number | boolean | null)[]): string {
  const shown = list.map((v) => (v === null ? 'absent' : typeof v === 'string' ? `"${v}"` : String(v)));
  return shown.length <= 1 ? (shown[0] ?? '') : `${shown.slice(0, -1).join(', ')} or ${shown.at(-1)!}`;
}

/**
 * A prompt's message as sentences: the YAML breaks long sentences over lines, so a line that does not end a sentence
 * (with . ? ! : or a closing parenthesis) goes on into the next. Each result is one or more whole sentences.
 */
export function sentences(message: string): string[] {
  const out: string[] = [];
  let current = '';
  for (const line of message
    .trim()
    .split('\n')
    .map((l) => l.trim())) {
    if (line === '') continue;
    current = current === '' ? line : `${current} ${line}`;
    if (/[.?!:)]$/.test(line)) {
      out.push(current);
      current = '';
    }
  }
  if (current !== '') out.push(current);
  return out;
}

/** What rekey does in a step that needs no person, in one line. */
function machineLine(step: Step): string {
  switch (step.kind) {
    case 'http': {
      const match = Object.entries(step.match)
        .map(([path, list]) => ` with ${path} ${values(list)}`)
        .join('');
      const attempts = step.retry === undefined || step.retry.attempts === 1 ? 'once' : `up to ${step.retry.attempts} attempts`;
      const cited = step.documented === undefined ? '' : ` (documented at ${step.documented})`;
      return `${step.name} — expects ${step.expect.join(' or ')}${match}${cited}, ${attempts}`;
    }
    case 'generate':
      return `${step.name} — ${step.bytes} random bytes, ${step.encoding}${step.prefix ? `, prefix ${step.prefix}` : ''}`;
    case 'exec':
      return `${step.name} — runs \`${step.argv.join(' ')}\``;
    case 'uses':
      return `${step.name} (${step.adapter}${step.action ? ` ${step.action}` : ''})`;
    case 'prompt':
      return step.name;
  }
}

/** What a person's step asks, besides its message: where to go, what to paste, what rekey shows, what to answer. */
function promptExtras(step: Step): string[] {
  if (step.kind !== 'prompt') return [];
  const extras: string[] = [];
  if (step.url) extras.push(`Open: ${step.url}`);
  if (step.capture) extras.push('Paste the new key when rekey asks for it (hidden input; it must match the key format, and the old key is refused).');
  if (step.reveal) extras.push('rekey shows the new value once, only if you ask for it; it is never logged.');
  if (step.confirm) extras.push(`rekey asks: "${step.confirm.trim()}" Answer yes to go on.`);
  return extras;
}

/**
 * One part of a phase: rekey's own work in prose (Markdown) or as short lines (text), the steps, what stands in for
 * missing steps, and the runbook's own words for the phase (`explain:`), which both formats show.
 */
interface Part {
  readonly title: string;
  /** Markdown: what happens, in sentences (rekey's own work, ordering, consequences). */
  readonly intro: readonly string[];
  /** Text: what rekey does before the steps, one short line each. */
  readonly before?: readonly string[];
  readonly steps: readonly Step[];
  /** Said when there are no steps (never a claim that something is checked when nothing is). */
  readonly empty?: string;
  /** The runbook's `explain:` text for this part (when it is not already the `empty` text). */
  readonly explain?: string;
  /** Text: what rekey does after the steps. */
  readonly after?: readonly string[];
  /** Markdown: said after the steps. */
  readonly outro?: readonly string[];
}

interface Phase {
  readonly title: string;
  readonly parts: readonly Part[];
}

/** Whether any step of a run (rollback aside) waits for a person. */
function needsAPerson(runbook: Runbook): boolean {
  return [...runbook.generate, ...runbook.verify, ...runbook.revoke, ...runbook.verifyRevoked, ...runbook.audit].some(needsPerson);
}

function phases(runbook: Runbook): Phase[] {
  const explained = (phase: ExplainedPhase): string | undefined => runbook.explain[phase]?.trim();
  // The runbook's words for a phase with steps; for a phase without, they replace the generic "nothing checks this".
  const extra = (phase: ExplainedPhase, steps: readonly Step[]): string | undefined => (steps.length > 0 ? explained(phase) : undefined);
  const none = runbook.overlap === 'none';
  const provider = runbook.title;
  return [
    {
      title: 'Generate the new key',
      parts: [
        {
          title: '',
          intro: [
            none
              ? 'Minting the new key kills the old one at once: the outage window starts here and lasts until roll out and verify are done, so ' +
                'have the next steps ready before you start.'
              : 'The old key keeps working meanwhile.',
            'rekey stages the new key in every store (staged, not yet current) before anything else happens, so it is never held only in memory.',
          ],
          steps: runbook.generate,
          explain: explained('generate'),
          after: ['stage the new key in every store (not yet current)'],
        },
      ],
    },
    {
      title: 'Roll out',
      parts: [
        {
          title: '',
          intro: [
            'rekey does this, with no step for you: it makes the new key current in every store the credential lists under `stores:` in rekey.yaml ' +
              "(independent stores are written side by side), then runs the credential's rollout hooks (`rollout:`) one after another, in the " +
              'order listed — for example, restart the consumers so that they load the new key.',
            none
              ? 'It does this at once, right after the new key exists: consumers are down until it is done.'
              : 'The old key still works, so consumers that have not reloaded yet keep running.',
          ],
          before: ['make the new key current in every store of the credential (rekey.yaml `stores:`), then run its rollout hooks (`rollout:`), in order'],
          steps: [],
          explain: explained('rollout'),
        },
      ],
    },
    {
      title: 'Verify',
      parts: [
        {
          title: '',
          intro: [
            'rekey reads every store back: each must hold the new key (compared by fingerprint).',
            ...(runbook.verify.length > 0 ? [`Then the new key is checked with ${provider}:`] : []),
          ],
          before: ['read every store back: each must hold the new key'],
          steps: runbook.verify,
          empty: explained('verify') ?? `No step checks the new key with ${provider}: rekey checks only the stores' read-back.`,
          explain: extra('verify', runbook.verify),
          outro: [
            none
              ? 'If verify fails there is no rollback (the old key is dead): fix the cause and finish with `rekey resume <run>`.'
              : 'If verify fails, rekey rolls back (see the end): the old key still works.',
          ],
        },
      ],
    },
    {
      title: 'Revoke the old key',
      parts: [
        {
          title: '',
          intro: none ? [] : ['Only after verify has passed.'],
          steps: runbook.revoke,
          empty: none
            ? 'Nothing to do: minting the new key already revoked the old one.'
            : (explained('revoke') ?? `No step revokes the old key: revoke it at ${provider} yourself.`),
          explain: none ? explained('revoke') : extra('revoke', runbook.revoke),
        },
        {
          title: 'Prove the old key dead',
          intro: runbook.verifyRevoked.length > 0 ? [`rekey presents the old key to ${provider} and expects a rejection:`] : [],
          steps: runbook.verifyRevoked,
          empty:
            explained('verifyRevoked') ?? `No step asks ${provider} about the old key, so nothing proves it dead: check by hand that ${provider} rejects it.`,
          explain: extra('verifyRevoked', runbook.verifyRevoked),
          after: ['drop the old value from the stores (retire)'],
          outro: [
            'Then rekey drops the old value from the stores (retire): for example `NAME_PREVIOUS` from a `.env` kept with `keepPrevious: true`; AWS Secrets ' +
              'Manager keeps it as `AWSPREVIOUS`.',
          ],
        },
      ],
    },
    {
      title: 'Audit',
      parts: [
        {
          title: '',
          intro: [
            "rekey adds the run's outcome to the hash-chained audit log (`.rekey/audit.jsonl`) and writes the run's report (`.rekey/reports/`: the timeline, " +
              'and the masks and fingerprints of both keys).',
            ...(runbook.audit.length > 0 ? ['Then look for use of the old key you do not recognise, since the leak or the last rotation:'] : []),
          ],
          steps: runbook.audit,
          empty: explained('audit') ?? `No audit step: look through ${provider}'s logs yourself for use of the old key since the leak or the last rotation.`,
          explain: extra('audit', runbook.audit),
          after: ['record the outcome in the audit log, and write the report'],
        },
      ],
    },
  ];
}

function rollback(runbook: Runbook): Part | undefined {
  if (runbook.overlap === 'none') return undefined;
  return {
    title: 'If verify fails: roll back',
    intro: [
      'rekey makes the old key current again in every store and runs the rollout hooks again, back on the old key, which still works.',
      ...(runbook.discard.length > 0 ? ['Then the unused new key is discarded:'] : []),
    ],
    before: ['make the old key current again in every store, and run the rollout hooks again'],
    steps: runbook.discard,
  };
}

export function renderRunbook(runbook: Runbook, format: Format, options: RenderOptions = {}): string {
  return format === 'md' ? renderMarkdown(runbook) : renderText(runbook, options.width ?? defaultWidth());
}

function defaultWidth(): number {
  const columns = process.stdout.isTTY === true ? process.stdout.columns : undefined;
  return columns === undefined || columns <= 0 ? 100 : Math.max(60, Math.min(columns, 120));
}

/** How to run it (and practise), for the header of both formats. */
function howToRun(runbook: Runbook, code: (s: string) => string): string[] {
  const lines = [
    needsAPerson(runbook)
      ? `Run it: ${code('rekey drill <credential>')}, with a person at the keyboard.`
      : `Run it: ${code('rekey rotate <credential>')}. No step needs a person, so it runs unattended (${code('rekey rotate --due')} from cron or CI).`,
    `If the key leaked: ${code('rekey incident <credential> --since <when the leak began>')} runs the same steps, audits from the leak on, and searches ` +
      `the repository for the old key.`,
  ];
  const unsupported = runbook.rehearsal.unsupported?.trim().replace(/\s+/g, ' ');
  lines.push(
    unsupported === undefined
      ? `Practise first: ${code(`rekey rehearse --runbook ${runbook.name}`)} (the local sandbox plays the provider).`
      : `No sandbox rehearsal: ${unsupported.replace(/[.\s]*$/, '')}.`,
  );
  return lines;
}

/** Where the `docs/` files a runbook's notes cite are found by someone who has only the installed package. */
export const DOCS_WHERE = 'Paths under `docs/` are files that ship with rekey: `node_modules/rekey/docs/` in a project that installs it.';

function renderMarkdown(runbook: Runbook): string {
  const text = (s: string) => readable(runbook, s, 'md');
  const lines: string[] = [];
  lines.push(`# ${runbook.title}: rotate the key (API key leaked, what now)`, '');
  if (runbook.summary) lines.push(runbook.summary.trim(), '');
  lines.push(`- **Overlap:** \`${runbook.overlap}\`. ${OVERLAP_WORDS[runbook.overlap]}`);
  lines.push(`- **Rotate every:** ${formatAge(runbook.rotateEveryMs)} (when the credential sets no \`policy.maxAge\`).`);
  if (runbook.dashboard) lines.push(`- **Dashboard:** ${runbook.dashboard}`);
  if (runbook.secret.description)
    lines.push(
      `- **Key format:** ${runbook.secret.description}${runbook.secret.patternInput ? ` (checked against input \`${runbook.secret.patternInput}\`)` : ''}`,
    );
  lines.push('', ...howToRun(runbook, (s) => `\`${s}\``).flatMap((l) => [l, '']));
  const inputs = Object.entries(runbook.inputs);
  if (inputs.length > 0) {
    lines.push('## Inputs', '', '| input | meaning | default |', '| --- | --- | --- |');
    for (const [name, spec] of inputs) lines.push(`| \`${name}\` | ${spec.description} | ${spec.default ?? (spec.required ? '(required)' : '')} |`);
    lines.push('');
  }
  const part = (p: Part, heading: string | undefined) => {
    if (heading !== undefined) lines.push(heading, '');
    if (p.intro.length > 0) lines.push(text(p.intro.join(' ')), '');
    if (p.steps.length === 0 && p.empty !== undefined) lines.push(text(p.empty), '');
    p.steps.forEach((step, i) => {
      const who = needsPerson(step) ? '**You**' : '**rekey**';
      const body = step.kind === 'prompt' ? sentences(step.message) : [machineLine(step)];
      // A multi-line message stays inside its list item, one line per sentence; the extras are a nested list.
      lines.push(`${i + 1}. ${who} (step \`${step.id}\`): ${body.map(text).join('\n   ')}`);
      for (const extra of promptExtras(step)) lines.push(`   - ${text(extra)}`);
    });
    if (p.steps.length > 0) lines.push('');
    if (p.explain !== undefined) lines.push(text(p.explain), '');
    if (p.outro !== undefined && p.outro.length > 0) lines.push(text(p.outro.join(' ')), '');
  };
  phases(runbook).forEach((phase, i) => {
    lines.push(`## ${i + 1}. ${phase.title}`, '');
    for (const p of phase.parts) part(p, p.title === '' ? undefined : `### ${p.title}`);
  });
  const back = rollback(runbook);
  if (back !== undefined) part(back, `## ${back.title}`);
  const respond = runbook.respond;
  if (respond !== undefined) {
    // What `rekey incident` puts at the end of its report for this provider (src/report/checklist.ts).
    lines.push('## After a leak', '');
    if (respond.logs !== undefined) lines.push(`- **Its logs:** ${respond.logs.text.trim()}${respond.logs.url === undefined ? '' : ` ${respond.logs.url}`}`);
    if (respond.changes.length > 0) lines.push('- **Changes to look for and reverse:**', ...respond.changes.map((c) => `  - ${c}`));
    if (respond.notify.length > 0) lines.push('- **Whom to tell:**', ...respond.notify.map((n) => `  - ${n}`));
    if (respond.sources.length > 0) lines.push(`- **Sources:** ${respond.sources.join(', ')}`);
    lines.push('');
  }
  if (runbook.notes.length > 0) {
    lines.push('## Notes and sources', '', ...runbook.notes.map((note) => `- ${text(note)}`), '');
    // A reader of this page may not have the repository: say where a `docs/` citation is found once rekey is installed.
    if (runbook.notes.some((note) => note.includes('docs/'))) lines.push(DOCS_WHERE, '');
  }
  return `${lines.join('\n')}\n`;
}

/** Wrap one paragraph to `width`, at spaces only: a sentence is never cut (a word longer than the line stays whole). */
export function wrap(paragraph: string, width: number, indent: string, firstIndent = indent): string[] {
  const lines: string[] = [];
  let line = firstIndent;
  let empty = true;
  for (const word of paragraph.split(/\s+/).filter((w) => w !== '')) {
    if (!empty && [...line].length + 1 + [...word].length > width) {
      lines.push(line);
      line = indent;
      empty = true;
    }
    line += empty ? word : ` ${word}`;
    empty = false;
  }
  if (!empty) lines.push(line);
  return lines;
}

function renderText(runbook: Runbook, width: number): string {
  const text = (s: string) => readable(runbook, s, 'text');
  const lines: string[] = [];
  lines.push(
    `${runbook.name} — ${runbook.title}`,
    ...wrap(
      `overlap: ${runbook.overlap} · rotate every ${formatAge(runbook.rotateEveryMs)}${runbook.dashboard ? ` · ${runbook.dashboard}` : ''}`,
      width,
      '  ',
      '',
    ),
  );
  for (const line of howToRun(runbook, (s) => s)) lines.push(...wrap(line, width, '  ', ''));
  lines.push('');
  // Each step: who, its id (the key of an answers file) and name; then the message and what it asks, wrapped.
  const body = '           ';
  const rekey = (line: string) => lines.push(...wrap(text(line), width, body, '  rekey    '));
  const said = (line: string) => lines.push(...wrap(text(line), width, body, '  ·        '));
  const part = (p: Part) => {
    if (p.title !== '') lines.push(`  ${p.title.toLowerCase()}`);
    (p.before ?? []).forEach(rekey);
    if (p.steps.length === 0 && p.empty !== undefined) said(p.empty);
    for (const step of p.steps) {
      lines.push(...wrap(`[${step.id}] ${text(machineLine(step))}`, width, body, `  ${needsPerson(step) ? 'you  ' : 'rekey'}    `));
      if (step.kind === 'prompt') {
        for (const sentence of sentences(step.message)) lines.push(...wrap(text(sentence), width, body));
        for (const extra of promptExtras(step)) lines.push(...wrap(text(extra), width, `${body}  `, `${body}▸ `));
      }
    }
    if (p.explain !== undefined) said(p.explain);
    (p.after ?? []).forEach(rekey);
  };
  phases(runbook).forEach((phase, i) => {
    lines.push(`${i + 1} ${phase.title.toLowerCase()}`);
    phase.parts.forEach(part);
  });
  const back = rollback(runbook);
  if (back !== undefined) {
    lines.push(back.title.toLowerCase());
    part({ ...back, title: '' });
  }
  const respond = runbook.respond;
  if (respond !== undefined) {
    lines.push('after a leak');
    if (respond.logs !== undefined) said(`its logs: ${respond.logs.text.trim()}${respond.logs.url === undefined ? '' : ` ${respond.logs.url}`}`);
    for (const change of respond.changes) said(`look for and reverse: ${change}`);
    for (const who of respond.notify) said(`tell: ${who}`);
  }
  return `${lines.join('\n')}\n`;
}
