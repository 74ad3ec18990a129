/** A runbook rendered for people: plain text for the terminal, or Markdown — the team's written runbook. */
import { formatAge } from '../util/duration.js';
import { needsPerson, type Runbook, type Step } from './types.js';

const OVERLAP_WORDS: Readonly<Record<string, string>> = {
  none: 'Minting a new key kills the old one at once: consumers are down from the mint until the new key is rolled out (the outage window). There is no rollback; a failure after the mint is fixed forward.',
  'until-revoked': 'Both keys work until the old one is revoked, so the new key is rolled out and verified first, and rollback is always safe until revoke.',
  expiring: 'The old key keeps working until a chosen expiry; revoke means "expire now" or "let it lapse".',
};

function describeStep(step: Step): string {
  switch (step.kind) {
    case 'http':
      return `${step.name} — expects ${step.expect.join(' or ')}${Object.entries(step.match)
        .map(([path, values]) => ` with ${path} ${values.map((v) => (v === null ? 'absent' : String(v))).join(' or ')}`)
        .join('')}${step.retry ? `, up to ${step.retry.attempts} attempt${step.retry.attempts === 1 ? '' : 's'}` : ''}`;
    case 'prompt':
      return `${step.message.trim()}${step.url ? ` (${step.url})` : ''}${step.capture ? ' — paste the new key (hidden input)' : ''}${step.reveal ? ' — rekey shows the new value once, only if you ask (never logged)' : ''}${step.confirm ? ` — confirm: ${step.confirm}` : ''}`;
    case 'generate':
      return `${step.bytes} random bytes, ${step.encoding}${step.prefix ? `, prefix ${step.prefix}` : ''}`;
    case 'exec':
      return `run \`${step.argv.join(' ')}\``;
    case 'uses':
      return `${step.adapter}${step.action ? ` ${step.action}` : ''}: ${step.name}`;
  }
}

/** Templates as a reader of the written runbook understands them: inputs by their default (or name), values by role. */
function readable(runbook: Runbook, text: string): string {
  return text.replace(/\{\{\s*([A-Za-z_][\w.-]*)\s*\}\}/g, (whole, name: string) => {
    if (name.startsWith('inputs.')) {
      const spec = runbook.inputs[name.slice(7)];
      return spec?.default !== undefined && spec.default !== '' ? spec.default : `<${name.slice(7)}>`;
    }
    if (name === 'new') return '<the new key>';
    if (name === 'old') return '<the old key>';
    if (name === 'run.since') return 'the leak (or the last rotation)';
    if (name === 'credential') return '<credential>';
    return whole;
  });
}

export function renderRunbook(runbook: Runbook, format: 'text' | 'md'): string {
  const sections: Array<[string, readonly Step[], string]> = [
    ['Generate the new key', runbook.generate, 'The new key is staged in every store before anything else happens.'],
    ['Verify', runbook.verify, 'Every store is read back and must hold the new key; then the provider must accept it.'],
    ['Revoke the old key', runbook.revoke, runbook.overlap === 'none' ? 'Nothing to do: minting the new key already revoked the old one.' : 'Only after verify has passed.'],
    ['Prove the old key dead', runbook.verifyRevoked, 'The provider must reject the old key.'],
    ['Audit', runbook.audit, 'Look for use you do not recognise since the leak or the last rotation.'],
  ];
  if (runbook.discard.length > 0) sections.push(['Roll back (only if verify fails)', runbook.discard, 'The stores get the old key back, and the unused new key is discarded.']);
  const lines: string[] = [];
  if (format === 'md') {
    lines.push(`# ${runbook.title}: rotate the key (API key leaked, what now)`, '');
    if (runbook.summary) lines.push(runbook.summary.trim(), '');
    lines.push(`- **Overlap:** \`${runbook.overlap}\`. ${OVERLAP_WORDS[runbook.overlap]}`);
    lines.push(`- **Rotate every:** ${formatAge(runbook.rotateEveryMs)} (unless the credential sets a shorter \`policy.maxAge\`).`);
    if (runbook.dashboard) lines.push(`- **Dashboard:** ${runbook.dashboard}`);
    if (runbook.secret.description) lines.push(`- **Key format:** ${runbook.secret.description}${runbook.secret.patternInput ? ` (checked against input \`${runbook.secret.patternInput}\`)` : ''}`);
    const practice = runbook.rehearsal.unsupported === undefined ? `practice first with \`rekey rehearse --runbook ${runbook.name}\`` : `no sandbox rehearsal: ${runbook.rehearsal.unsupported}`;
    lines.push('', `Run it: \`rekey drill <credential>\` (${practice}).`, '');
    const inputs = Object.entries(runbook.inputs);
    if (inputs.length > 0) {
      lines.push('## Inputs', '', '| input | meaning | default |', '| --- | --- | --- |');
      for (const [name, spec] of inputs) lines.push(`| \`${name}\` | ${spec.description} | ${spec.default ?? (spec.required ? '(required)' : '')} |`);
      lines.push('');
    }
    let n = 1;
    for (const [title, steps, why] of sections) {
      lines.push(`## ${n++}. ${title}`, '', why, '');
      // A written runbook reads with the defaults filled in, and a multi-line message stays inside its list item.
      steps.forEach((step, i) => lines.push(`${i + 1}. ${needsPerson(step) ? '**You:** ' : ''}${readable(runbook, describeStep(step)).split('\n').join('\n   ')}`));
      if (steps.length > 0) lines.push('');
    }
    if (runbook.notes.length > 0) lines.push('## Notes and sources', '', ...runbook.notes.map((note) => `- ${note}`), '');
    return `${lines.join('\n')}\n`;
  }
  lines.push(`${runbook.name} — ${runbook.title}`, `overlap: ${runbook.overlap} · rotate every ${formatAge(runbook.rotateEveryMs)}${runbook.dashboard ? ` · ${runbook.dashboard}` : ''}`, '');
  for (const [title, steps] of sections) {
    if (steps.length === 0) continue;
    lines.push(title);
    steps.forEach((step) => lines.push(`  ${needsPerson(step) ? 'you  ' : 'rekey'}  [${step.id}] ${describeStep(step).split('\n')[0]}`));
  }
  return `${lines.join('\n')}\n`;
}
