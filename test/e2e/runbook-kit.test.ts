/**
 * The runbook kit end to end, on the BUILT CLI (build first with `npx tsc -p tsconfig.build.json`): `runbook new`
 * writes a template, the test edits it into another provider's shape, `runbook test` lints and rehearses it, and
 * `rehearse --runbook <file>` runs its drill; `runbook show` renders it by path and, from rekey.yaml's `runbooks:`,
 * by name. A runbook with an undeclared variable, a check without a rejection and a secret in a printed URL is
 * refused with each problem at file:line:col. No key the rehearsal handled appears in any output.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type CliResult, rekey, show } from './helpers.js';

const folders: string[] = [];
afterAll(() => {
  for (const folder of folders) rmSync(folder, { recursive: true, force: true });
});

function tempFolder(): string {
  const folder = mkdtempSync(join(tmpdir(), 'rekey-kit-e2e-'));
  folders.push(folder);
  return folder;
}

/** The folder a `--keep` rehearsal left, as it names it on its last lines; queued for removal. */
function keptFolder(result: CliResult): string {
  const folder = /^kept: (\S+) \(/m.exec(result.stdout)?.[1];
  expect(folder, show(result)).toBeDefined();
  folders.push(folder!);
  return folder!;
}

/** The value of `NAME=` in a .env. */
function envValue(file: string, name: string): string {
  const value = new RegExp(`^${name}=(.*)$`, 'm').exec(readFileSync(file, 'utf8'))?.[1];
  expect(value, `${name} in ${file}`).toBeDefined();
  return value!;
}

/** 1-based line and column of the first `needle` in `text` (the test's own reckoning, not rekey's). */
function position(text: string, needle: string, from = 0): string {
  const index = text.indexOf(needle, from);
  expect(index, needle).toBeGreaterThanOrEqual(0);
  const before = text.slice(0, index).split('\n');
  return `${before.length}:${before.at(-1)!.length + 1}`;
}

describe('rekey runbook new → edit → runbook test → rehearse --runbook <file>', () => {
  it('works for a runbook written from the template, and never prints a key', async () => {
    const cwd = tempFolder();
    const created = await rekey(['runbook', 'new', 'acme-pay'], { cwd });
    expect(created.code, show(created)).toBe(0);
    const file = join(cwd, 'runbooks', 'acme-pay.yaml');
    const template = readFileSync(file, 'utf8');
    expect(template).toMatch(/^name: acme-pay$/m);
    // A second `new` does not overwrite the person's edits.
    const again = await rekey(['runbook', 'new', 'acme-pay'], { cwd });
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('exists already');

    // The template as written passes, and its rehearsal prints the drill's timeline.
    const asWritten = await rekey(['runbook', 'test', 'runbooks/acme-pay.yaml', '--keep'], { cwd, timeoutMs: 60_000 });
    expect(asWritten.code, show(asWritten)).toBe(0);
    expect(asWritten.stdout).toContain('lint: acme-pay is clean');
    expect(asWritten.stdout).toMatch(/^ ▒ you .* · █ rekey .* · total /m);
    expect(asWritten.stdout).toMatch(/sandbox check: old key …\w{4} rejected · new key …\w{4} in \.env active/);
    const firstKey = envValue(join(keptFolder(asWritten), '.env'), 'ACME_PAY_KEY');
    expect(asWritten.stdout + asWritten.stderr).not.toContain(firstKey);

    // Edit: the provider takes the key as x-api-key at /v1/merchant/coins and rejects a dead one with a 403 code.
    const edited = template
      .replace('title: Acme Pay', 'title: Acme Payments')
      .replaceAll('url: "{{ inputs.baseUrl }}/v1/whoami"', 'url: "{{ inputs.baseUrl }}/v1/merchant/coins"')
      .replace('headers: { Authorization: "Bearer {{ new }}" }', 'headers: { x-api-key: "{{ new }}" }')
      .replace('headers: { Authorization: "Bearer {{ old }}" }', 'headers: { x-api-key: "{{ old }}" }')
      .replace('expect: [401]\n      match: { error.code: [invalid_api_key, api_key_expired] }', 'expect: [403]\n      match: { code: [INVALID_API_KEY] }')
      .replace("pattern: '^sbx_", "pattern: '^ak_")
      .replace('keyPrefix: sbx_', 'keyPrefix: ak_');
    expect(edited).not.toBe(template);
    expect(edited).toContain('match: { code: [INVALID_API_KEY] }');
    writeFileSync(file, edited);

    const tested = await rekey(['runbook', 'test', file, '--keep'], { cwd, timeoutMs: 60_000 });
    expect(tested.code, show(tested)).toBe(0);
    expect(tested.stdout).toContain('REHEARSAL of runbook acme-pay (overlap until-revoked)');
    expect(tested.stdout).toMatch(/✓ the check call with the old key \(401\)\s+.*403 · code INVALID_API_KEY/);
    const secondKey = envValue(join(keptFolder(tested), '.env'), 'ACME_PAY_KEY');
    expect(secondKey).toMatch(/^ak_[0-9a-f]{40}$/);
    expect(tested.stdout + tested.stderr).not.toContain(secondKey);

    // The same file through `rehearse --runbook`, with the person's answers in a file.
    const answers = join(cwd, 'answers.yaml');
    writeFileSync(answers, 'create-key: yes\nrevoke-old-key: yes\nactivity: yes\n');
    const rehearsed = await rekey(['rehearse', '--runbook', 'runbooks/acme-pay.yaml', '--answers', answers, '--keep'], { cwd, timeoutMs: 60_000 });
    expect(rehearsed.code, show(rehearsed)).toBe(0);
    expect(rehearsed.stdout).toMatch(/sandbox check: old key …\w{4} rejected/);
    const thirdKey = envValue(join(keptFolder(rehearsed), '.env'), 'ACME_PAY_KEY');
    expect(rehearsed.stdout + rehearsed.stderr).not.toContain(thirdKey);

    // runbook show renders it like a built-in one: by path, and by name from the config's runbooks: folder.
    const byPath = await rekey(['runbook', 'show', 'runbooks/acme-pay.yaml', '--format', 'md'], { cwd });
    expect(byPath.code, show(byPath)).toBe(0);
    expect(byPath.stdout).toContain('# Acme Payments: rotate the key');
    expect(byPath.stdout).toContain('step `old-key-rejected`');
    writeFileSync(join(cwd, 'rekey.yaml'), 'runbooks: [./runbooks]\ncredentials: {}\n');
    const byName = await rekey(['runbook', 'show', 'acme-pay', '--format', 'md'], { cwd });
    expect(byName.code, show(byName)).toBe(0);
    expect(byName.stdout).toBe(byPath.stdout);
  }, 180_000);

  it('refuses an undeclared variable, a check without a rejection and a secret in a printed URL, each at file:line:col', async () => {
    const cwd = tempFolder();
    expect((await rekey(['runbook', 'new', 'broken'], { cwd })).code).toBe(0);
    const file = join(cwd, 'runbooks', 'broken.yaml');
    const template = readFileSync(file, 'utf8');
    const text = template
      // 1. a mistyped input
      .replace('url: "{{ inputs.dashboardUrl }}"\n      capture: true', 'url: "{{ inputs.dashbordUrl }}"\n      capture: true')
      // 2. the proof of the old key's death now calls another endpoint, so the check has no rejection
      .replace(
        '      url: "{{ inputs.baseUrl }}/v1/whoami"\n      headers: { Authorization: "Bearer {{ old }}" }',
        '      url: "{{ inputs.baseUrl }}/v1/status"\n      headers: { Authorization: "Bearer {{ old }}" }',
      )
      // 3. a secret in the printed part of a URL
      .replace(
        'url: "{{ inputs.dashboardUrl }}"\n      confirm: Is the new key deleted?',
        'url: "{{ inputs.dashboardUrl }}/keys/{{ new }}"\n      confirm: Is the new key deleted?',
      );
    writeFileSync(file, text);

    const result = await rekey(['runbook', 'test', 'runbooks/broken.yaml'], { cwd });
    expect(result.code, show(result)).toBe(2);
    expect(result.stdout).not.toContain('REHEARSAL');
    const undeclared = position(text, '{{ inputs.dashbordUrl }}');
    const check = position(text, 'http:', text.indexOf('id: new-key-accepted'));
    const secret = position(text, '{{ new }}"\n      confirm: Is the new key deleted?');
    expect(result.stderr).toContain(`runbooks/broken.yaml:${undeclared}: generate[0].prompt.url: unknown template variable {{ inputs.dashbordUrl }}`);
    expect(result.stderr).toContain('did you mean {{ inputs.dashboardUrl }}?');
    expect(result.stderr).toContain(`runbooks/broken.yaml:${check}: verify[0]: the check GET {{ inputs.baseUrl }}/v1/whoami has no documented rejection`);
    expect(result.stderr).toContain(`runbooks/broken.yaml:${secret}: discard[0].prompt.url: a secret in a printed URL`);
    // Bad input: no stack trace.
    expect(result.stderr).not.toMatch(/^\s+at /m);
  }, 60_000);

  it('refuses, at the step, an http step that the rehearsal would send to the real provider or to a path no dialect answers', async () => {
    const cwd = tempFolder();
    expect((await rekey(['runbook', 'new', 'elsewhere'], { cwd })).code).toBe(0);
    const file = join(cwd, 'runbooks', 'elsewhere.yaml');
    const text = readFileSync(file, 'utf8')
      .replace('    baseUrl: "{{ sandbox.url }}"\n', '    dashboardUrl: https://dashboard.example.invalid\n')
      .replace('default: https://api.example.com', 'default: https://api.acme.example');
    writeFileSync(file, text);
    const result = await rekey(['runbook', 'test', 'runbooks/elsewhere.yaml'], { cwd });
    expect(result.code, show(result)).toBe(2);
    // The step's own position: its mapping starts at its first key.
    expect(result.stderr).toContain(`runbooks/elsewhere.yaml:${position(text, 'id: new-key-accepted')}: step new-key-accepted: `);
    expect(result.stderr).toContain('in a rehearsal it would call https://api.acme.example, not the sandbox');
    expect(result.stdout).not.toContain('REHEARSAL');

    writeFileSync(
      file,
      readFileSync(file, 'utf8').replace('    dashboardUrl: https://dashboard.example.invalid\n', '    baseUrl: "{{ sandbox.url }}/nowhere"\n'),
    );
    const unknown = await rekey(['runbook', 'test', 'runbooks/elsewhere.yaml'], { cwd });
    expect(unknown.code, show(unknown)).toBe(2);
    expect(unknown.stderr).toContain('step new-key-accepted: the sandbox speaks no dialect at GET /nowhere/v1/whoami');
  }, 60_000);
});

describe('the runbook kit runbooks rehearse end to end with runbook test', () => {
  it.each(['stripe-webhook-secret', 'nowpayments', 'panel-credentials', 'oauth-client-secret'])(
    '%s',
    async (name) => {
      const cwd = tempFolder();
      const result = await rekey(['runbook', 'test', name, '--keep'], { cwd, timeoutMs: 60_000 });
      expect(result.code, show(result)).toBe(0);
      expect(result.stdout).toContain(`lint: ${name} is clean`);
      expect(result.stdout).toMatch(/sandbox check: old key …\w{4} rejected · new key …\w{4} in \.env active/);
      const folder = keptFolder(result);
      const variable = /holds (\w+) \(seeded/.exec(result.stdout)?.[1];
      expect(variable, show(result)).toBeDefined();
      const key = envValue(join(folder, '.env'), variable!);
      expect(result.stdout + result.stderr).not.toContain(key);
      // The report, which a team keeps, names the key by mask and fingerprint only.
      const reports = join(folder, '.rekey', 'reports');
      for (const report of readdirSync(reports)) expect(readFileSync(join(reports, report), 'utf8')).not.toContain(key);
    },
    60_000,
  );
});
