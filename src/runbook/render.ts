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
      return `${step.name} — expects ${step.expect.join(' or ')}${step.retry ? `, up to ${step.retry.attempts} attempts` : ''}`;
    case 'prompt':
      return `${step.message.trim()}${step.url ? ` (${step.url})` : ''}${step.capture ? ' — paste the new key (hidden input)' : ''}${step.confirm ? ` — confirm: ${step.confirm}` : ''}`;
    case 'generate':
      return `${step.bytes} random bytes, ${step.encoding}${step.prefix ? `, prefix ${step.prefix}` : ''}`;
    case 'exec':
      return `run \`${step.argv.join(' ')}\``;
    case 'uses':
      return `${step.adapter}${step.action ? ` ${step.action}` : ''}: ${step.name}`;
  }
}

export function renderRunbook(runbook: Runbook, format: 'text' | 'md'): string {
  const sections: Array<[string, readonly Step[], string]> = [
    ['Generate the new key', runbook.generate, 'The new key is staged in every store before anything else happens.'],
    ['Verify', runbook.verify, 'Every store is read back and must hold the new key; then the provider must accept it.'],
    ['Revoke the old key', runbook.revoke, runbook.overlap === 'none' ? 'Nothing to do: minting the new key already revoked the old one.' : 'Only after verify has passed.'],
    ['Prove the old key dead', runbook.verifyRevoked, 'The provider must reject the old key.'],
    ['Audit', runbook.audit, 'Look for use you do not recognise since the leak or the last rotation.'],
  ];
  const lines: string[] = [];
  if (format === 'md') {
    lines.push(`# ${runbook.title}: rotate the key (API key leaked, what now)`, '');
    if (runbook.summary) lines.push(runbook.summary.trim(), '');
    lines.push(`- **Overlap:** \`${runbook.overlap}\`. ${OVERLAP_WORDS[runbook.overlap]}`);
    lines.push(`- **Rotate every:** ${formatAge(runbook.rotateEveryMs)} (unless the credential sets a shorter \`policy.maxAge\`).`);
    if (runbook.dashboard) lines.push(`- **Dashboard:** ${runbook.dashboard}`);
    if (runbook.secret.description) lines.push(`- **Key format:** ${runbook.secret.description}`);
    lines.push('', `Run it: \`rekey drill <credential>\` (practice first with \`rekey rehearse\`).`, '');
    const inputs = Object.entries(runbook.inputs);
    if (inputs.length > 0) {
      lines.push('## Inputs', '', '| input | meaning | default |', '| --- | --- | --- |');
      for (const [name, spec] of inputs) lines.push(`| \`${name}\` | ${spec.description} | ${spec.default ?? (spec.required ? '(required)' : '')} |`);
      lines.push('');
    }
    let n = 1;
    for (const [title, steps, why] of sections) {
      lines.push(`## ${n++}. ${title}`, '', why, '');
      steps.forEach((step, i) => lines.push(`${i + 1}. ${needsPerson(step) ? '**You:** ' : ''}${describeStep(step)}`));
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
