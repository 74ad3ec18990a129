/**
 * The lint of `rekey runbook test` (src/runbook/lint.ts): every built-in runbook passes it, and each rule refuses
 * what it names at the file:line:col of the offending text, which the test reckons from its own YAML, not from the
 * code under test. The runbook kit's four runbooks state the facts docs/providers.md gives them (their overlap and
 * interval are in the table of test/unit/runbooks.test.ts).
 */
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { builtInRunbookDir, loadRunbook } from '../../src/runbook/load.js';
import { lintRunbook } from '../../src/runbook/lint.js';
import type { HttpStep, PromptStep } from '../../src/contract/runbook.js';

const DIR = builtInRunbookDir();
const folder = mkdtempSync(join(tmpdir(), 'rekey-lint-'));
afterAll(() => rmSync(folder, { recursive: true, force: true }));

/** A small valid runbook; `edit` changes its text before it is written. */
const BASE = `name: NAME
title: Lint
overlap: until-revoked
inputs:
  baseUrl:
    description: the API
    default: https://api.example.com
generate:
  - id: create
    prompt:
      message: Create a key.
      url: https://dashboard.example.com
      capture: true
verify:
  - id: check
    http:
      url: "{{ inputs.baseUrl }}/v1/me"
      headers: { Authorization: "Bearer {{ new }}" }
      expect: [200]
revoke:
  - id: revoke
    prompt:
      message: Revoke the old key.
      confirm: Revoked?
verifyRevoked:
  - id: dead
    http:
      url: "{{ inputs.baseUrl }}/v1/me"
      headers: { Authorization: "Bearer {{ old }}" }
      expect: [401]
      documented: https://api.example.com/docs/errors#unauthorized
notes:
  - Nothing to note.
`;

let count = 0;
async function lint(edit: (text: string) => string): Promise<{ text: string; errors: string[] }> {
  const name = `lint-${++count}`;
  const text = edit(BASE.replace('name: NAME', `name: ${name}`));
  const file = join(folder, `${name}.yaml`);
  writeFileSync(file, text);
  const { errors } = await lintRunbook(file);
  return { text, errors: errors.map((e) => `${e.location?.line}:${e.location?.column} ${e.message}`) };
}

/** 1-based line:column of the first `needle` at or after `from`. */
function at(text: string, needle: string, from = ''): string {
  const index = text.indexOf(needle, from === '' ? 0 : text.indexOf(from));
  expect(index, needle).toBeGreaterThanOrEqual(0);
  const lines = text.slice(0, index).split('\n');
  return `${lines.length}:${lines.at(-1)!.length + 1}`;
}

describe('runbook lint', () => {
  it.each(readdirSync(DIR).filter((f) => f.endsWith('.yaml')))('built-in %s passes', async (file) => {
    const { errors, runbook } = await lintRunbook(join(DIR, file));
    expect(errors.map((e) => e.format())).toEqual([]);
    expect(runbook?.name).toBe(file.replace(/\.yaml$/, ''));
  });

  it('the base runbook of these tests passes (so each failure below is the edit)', async () => {
    expect((await lint((t) => t)).errors).toEqual([]);
  });

  it('an undeclared variable in a step, at the reference itself', async () => {
    const { text, errors } = await lint((t) => t.replace('message: Create a key.', 'message: Create a key for {{ inputs.acount }}.'));
    expect(errors).toEqual([`${at(text, '{{ inputs.acount }}')} generate[0].prompt.message: unknown template variable {{ inputs.acount }}`]);
  });

  it('an undeclared variable in the text runbook show renders (notes, explain) and in rehearsal inputs', async () => {
    const { text, errors } = await lint(
      (t) =>
        `${t.replace('  - Nothing to note.', '  - See {{ inputs.docs }}.')}explain:\n  rollout: Restart {{ inputs.app }}.\n` +
        'rehearsal:\n  inputs:\n    baseUrl: "{{ sandbox.uri }}"\n',
    );
    expect(errors).toEqual([
      `${at(text, '{{ inputs.docs }}')} notes[0]: unknown template variable {{ inputs.docs }}`,
      `${at(text, '{{ inputs.app }}')} explain.rollout: unknown template variable {{ inputs.app }}`,
      `${at(text, '{{ sandbox.uri }}')} rehearsal.inputs.baseUrl: unknown template variable {{ sandbox.uri }}`,
    ]);
  });

  it('a check without a documented rejection: no verifyRevoked step presents the old key to the same endpoint', async () => {
    const { text, errors } = await lint((t) =>
      t.replace(
        'url: "{{ inputs.baseUrl }}/v1/me"\n      headers: { Authorization: "Bearer {{ old }}" }',
        'url: "{{ inputs.baseUrl }}/v1/other"\n      headers: { Authorization: "Bearer {{ old }}" }',
      ),
    );
    expect(errors).toEqual([
      `${at(text, 'http:', 'id: check')} verify[0]: the check GET {{ inputs.baseUrl }}/v1/me has no documented rejection: ` +
        'no verifyRevoked step presents {{ old }} to it',
    ]);
  });

  it('a rejection that is not a 4xx, and a non-401 rejection without match:', async () => {
    const success = await lint((t) => t.replace('expect: [401]', 'expect: [200, 401]'));
    expect(success.errors).toEqual([
      `${at(success.text, '[200, 401]')} verifyRevoked[0]: expects 200, which is not a rejection: only a 4xx can prove the old key dead`,
    ]);
    const forbidden = await lint((t) => t.replace('expect: [401]', 'expect: [401, 403]'));
    expect(forbidden.errors).toEqual([
      `${at(forbidden.text, '[401, 403]')} verifyRevoked[0]: expects 401 or 403 without match:, so a proxy's or a firewall's answer would count as proof`,
    ]);
    const matched = await lint((t) => t.replace('expect: [401]', 'expect: [401, 403]\n      match: { code: [INVALID_API_KEY] }'));
    expect(matched.errors).toEqual([]);
  });

  it('a rejection that cites no page documenting it (documented:), and a documented: that is not a URL', async () => {
    const uncited = await lint((t) => t.replace('      documented: https://api.example.com/docs/errors#unauthorized\n', ''));
    expect(uncited.errors).toEqual([
      `${at(uncited.text, 'http:', 'id: dead')} verifyRevoked[0]: the rejection it expects is not cited: ` +
        "only the provider's documented answer proves a key dead",
    ]);
    const notUrl = await lint((t) => t.replace('documented: https://api.example.com/docs/errors#unauthorized', 'documented: the docs'));
    expect(notUrl.errors.join('\n')).toContain(`${at(notUrl.text, 'the docs')} `);
    expect(notUrl.errors.join('\n')).toContain('documented: must be the URL of the page that documents the answer');
  });

  it('a secret in a printed URL or text: a prompt url, a prompt message, the path of an http URL — but not its query, nor reveal', async () => {
    const { text, errors } = await lint((t) =>
      t
        .replace('message: Revoke the old key.', 'message: Revoke the old key {{ old }}.\n      url: "https://dashboard.example.com/keys/{{ old }}"')
        .replace(
          'url: "{{ inputs.baseUrl }}/v1/me"\n      headers: { Authorization: "Bearer {{ new }}" }',
          'url: "{{ inputs.baseUrl }}/v1/keys/{{ new }}"\n      headers: { Authorization: "Bearer {{ new }}" }',
        )
        .replace(
          'url: "{{ inputs.baseUrl }}/v1/me"\n      headers: { Authorization: "Bearer {{ old }}" }',
          'url: "{{ inputs.baseUrl }}/v1/keys/{{ old }}"\n      headers: { Authorization: "Bearer {{ old }}" }',
        ),
    );
    expect(errors).toEqual([
      `${at(text, '{{ new }}"')} verify[0].http.url: a secret in the printed part of a URL (origin and path appear in step names, errors and server logs)`,
      `${at(text, '{{ old }}.')} revoke[0].prompt.message: a secret in a printed text: the prompt is shown on screen and written to the journal`,
      `${at(text, '{{ old }}"')} revoke[0].prompt.url: a secret in a printed URL: the prompt is shown on screen and written to the journal`,
      `${at(text, '{{ old }}"', 'id: dead')} verifyRevoked[0].http.url: a secret in the printed part of a URL ` +
        '(origin and path appear in step names, errors and server logs)',
    ]);
    const query = await lint((t) =>
      t
        .replace('url: "{{ inputs.baseUrl }}/v1/me"\n      headers: { Authorization: "Bearer {{ new }}" }', 'url: "{{ inputs.baseUrl }}/v1/me?key={{ new }}"')
        .replace('url: "{{ inputs.baseUrl }}/v1/me"\n      headers: { Authorization: "Bearer {{ old }}" }', 'url: "{{ inputs.baseUrl }}/v1/me?key={{ old }}"')
        .replace('confirm: Revoked?', 'confirm: Revoked?\n      reveal: "https://hooks.example.com/{{ new }}"'),
    );
    expect(query.errors).toEqual([]);
  });

  it('respond: is shown as written in the incident report: a template in it is refused at the reference, a source must be https', async () => {
    const section =
      'respond:\n  logs:\n    text: Open the logs of {{ inputs.baseUrl }}.\n    url: https://dashboard.example.com/logs\n' +
      '  changes:\n    - New keys made with {{ old }}.\n  notify:\n    - The provider.\n  sources:\n    - https://docs.example.com/keys\n';
    const { text, errors } = await lint((t) => `${t}${section}`);
    expect(errors).toEqual([
      `${at(text, '{{ inputs.baseUrl }}.')} respond.logs.text: respond: is shown as written in the incident report, ` +
        'so {{ inputs.baseUrl }} would be printed as is',
      `${at(text, '{{ old }}.')} respond.changes[0]: respond: is shown as written in the incident report, so {{ old }} would be printed as is`,
    ]);
    const plain = await lint((t) => `${t}${section.replace('of {{ inputs.baseUrl }}', 'of the API').replace('made with {{ old }}', 'made with the key')}`);
    expect(plain.errors).toEqual([]);
    const insecure = await lint(
      (t) =>
        `${t}${section
          .replace('of {{ inputs.baseUrl }}', 'of the API')
          .replace('made with {{ old }}', 'made with the key')
          .replace('https://docs', 'http://docs')}`,
    );
    expect(insecure.errors).toHaveLength(1);
    expect(insecure.errors[0]).toContain(`${at(insecure.text, 'http://docs')} `);
    expect(insecure.errors[0]).toContain('a source is the https:// URL of a public page');
  });

  it('reports a block scalar reference on its own line, and every fault of a file at once, in file order', async () => {
    const { text, errors } = await lint((t) =>
      t
        .replace('message: Create a key.', 'message: |\n        Create a key.\n        Name it {{ inputs.label }}.')
        .replace('expect: [401]', 'expect: [403]')
        .replace('url: https://dashboard.example.com', 'url: "https://dashboard.example.com/{{ new }}"'),
    );
    expect(errors).toEqual([
      `${at(text, '{{ inputs.label }}')} generate[0].prompt.message: unknown template variable {{ inputs.label }}`,
      `${at(text, '{{ new }}"')} generate[0].prompt.url: a secret in a printed URL: the prompt is shown on screen and written to the journal`,
      `${at(text, '[403]')} verifyRevoked[0]: expects 403 without match:, so a proxy's or a firewall's answer would count as proof`,
    ]);
  });
});

describe('the runbook kit runbooks follow docs/providers.md', () => {
  it('stripe-webhook-secret: no API checks a signing secret, so verify is the receiver accepting a test event, confirmed by a person', async () => {
    const runbook = await loadRunbook(join(DIR, 'stripe-webhook-secret.yaml'));
    for (const step of [...runbook.verify, ...runbook.verifyRevoked]) expect(step.kind).not.toBe('http');
    const verify = runbook.verify[0] as PromptStep;
    expect(verify.message).toMatch(/send a test .* event/);
    expect(verify.confirm).toMatch(/2xx/);
    expect(runbook.inputs['oldSecretExpiry']?.default).toBe('1 hour');
    expect((runbook.generate[0] as PromptStep).message).toContain('Roll secret');
  });

  it('nowpayments: x-api-key against a configurable endpoint that needs a key (never /v1/status), a 403 proof only with its code', async () => {
    const runbook = await loadRunbook(join(DIR, 'nowpayments.yaml'));
    const [check] = runbook.verify as HttpStep[];
    const [proof] = runbook.verifyRevoked as HttpStep[];
    expect(check!.url).toBe('{{ inputs.checkUrl }}');
    expect(runbook.inputs['checkUrl']?.default).toBe('https://api.nowpayments.io/v1/merchant/coins');
    expect(runbook.inputs['checkUrl']?.description).toMatch(/unconfirmed/);
    expect(check!.headers).toEqual({ 'x-api-key': '{{ new }}' });
    expect(proof!.headers).toEqual({ 'x-api-key': '{{ old }}' });
    expect(proof!.match).toEqual({ code: ['INVALID_API_KEY'] });
  });

  it('oauth-client-secret: the RFC 6749 §4.4 token request with HTTP Basic client authentication, rejected as 401 invalid_client', async () => {
    const runbook = await loadRunbook(join(DIR, 'oauth-client-secret.yaml'));
    for (const [step, value] of [
      [runbook.verify[0], '{{ new }}'],
      [runbook.verifyRevoked[0], '{{ old }}'],
    ] as Array<[HttpStep, string]>) {
      expect(step.method).toBe('POST');
      expect(step.url).toBe('{{ inputs.tokenUrl }}');
      expect(step.form).toEqual({ grant_type: 'client_credentials' });
      expect(step.basicAuth).toEqual({ username: '{{ inputs.clientId }}', password: value });
    }
    expect((runbook.verifyRevoked[0] as HttpStep).match).toEqual({ error: ['invalid_client'] });
    expect(runbook.inputs['tokenUrl']?.required).toBe(true);
  });

  it('panel-credentials: a hand-changed password checked with the user’s own call, never in its URL', async () => {
    const runbook = await loadRunbook(join(DIR, 'panel-credentials.yaml'));
    expect(runbook.revoke).toHaveLength(0);
    expect((runbook.generate[0] as PromptStep).capture).toBe(true);
    for (const step of [...runbook.verify, ...runbook.verifyRevoked] as HttpStep[]) {
      expect(step.url).toBe('{{ inputs.checkUrl }}');
      expect(step.basicAuth?.username).toBe('{{ inputs.username }}');
    }
    expect(runbook.inputs['checkUrl']?.required).toBe(true);
  });
});
