/**
 * The runbooks that ship in runbooks/: every one parses and validates, says what it rotates and where its facts come
 * from, and follows docs/providers.md (overlap, rotation interval, check calls). Every `http` step of every runbook is
 * run against the local sandbox speaking that provider's dialect — the success shape with the current key, the
 * rejection shape with a revoked one — and no key (canaries included) ever appears in a detail, a note or an error.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { builtInRunbookDir, loadRunbook } from '../../src/runbook/load.js';
import { renderRunbook, sentences, wrap } from '../../src/runbook/render.js';
import { StepFailedError, type StepContext, type StepOutcome } from '../../src/contract/steps.js';
import { runStep } from '../../src/runbook/steps/index.js';
import { runPrompt } from '../../src/runbook/steps/prompt.js';
import { render } from '../../src/runbook/template.js';
import { secretPattern, type HttpStep, type PromptStep, type Runbook, type Step } from '../../src/contract/runbook.js';
import { type Sandbox, startSandbox } from '../../src/sandbox/server.js';
import { Secret } from '../../src/contract/secret.js';
import { noInteraction } from '../../src/ui/interaction.js';
import { InputError } from '../../src/contract/errors.js';
import { parseDuration } from '../../src/util/duration.js';

const DIR = builtInRunbookDir();
const FILES = readdirSync(DIR)
  .filter((f) => f.endsWith('.yaml'))
  .sort();
const ACCOUNT = 'rehearsal';

/** What docs/providers.md says of each provider runbook. */
const PROVIDERS: Readonly<Record<string, { overlap: string; rotateEvery: string; baseUrl?: string }>> = {
  streampixel: { overlap: 'none', rotateEvery: '90d', baseUrl: 'https://api.streampixel.io/pixelStripeApi' },
  'webhook-url-token': { overlap: 'until-revoked', rotateEvery: '90d' },
  'webhook-signing-secret': { overlap: 'until-revoked', rotateEvery: '90d' },
  stripe: { overlap: 'expiring', rotateEvery: '365d', baseUrl: 'https://api.stripe.com' },
  'discord-bot': { overlap: 'none', rotateEvery: '365d', baseUrl: 'https://discord.com/api/v10' },
  'github-token': { overlap: 'until-revoked', rotateEvery: '90d', baseUrl: 'https://api.github.com' },
  paypal: { overlap: 'until-revoked', rotateEvery: '365d', baseUrl: 'https://api-m.paypal.com' },
  'aws-iam-access-key': { overlap: 'until-revoked', rotateEvery: '90d' },
  'stripe-webhook-secret': { overlap: 'expiring', rotateEvery: '365d' },
  nowpayments: { overlap: 'until-revoked', rotateEvery: '365d' },
  'panel-credentials': { overlap: 'none', rotateEvery: '180d' },
  'oauth-client-secret': { overlap: 'until-revoked', rotateEvery: '90d' },
};

const runbooks = new Map<string, Runbook>();
beforeAll(async () => {
  for (const file of FILES) runbooks.set(file.replace(/\.yaml$/, ''), await loadRunbook(join(DIR, file)));
});

function sections(runbook: Runbook): Array<[string, readonly Step[]]> {
  return [
    ['generate', runbook.generate],
    ['verify', runbook.verify],
    ['revoke', runbook.revoke],
    ['verifyRevoked', runbook.verifyRevoked],
    ['audit', runbook.audit],
    ['discard', runbook.discard],
  ];
}

function httpSteps(runbook: Runbook): Array<[string, HttpStep]> {
  return sections(runbook).flatMap(([section, steps]) => steps.filter((s): s is HttpStep => s.kind === 'http').map((s) => [section, s] as [string, HttpStep]));
}

describe('every runbook in runbooks/', () => {
  it('ships the provider runbooks of docs/providers.md', () => {
    for (const name of Object.keys(PROVIDERS)) expect(FILES).toContain(`${name}.yaml`);
  });

  it.each(FILES)('%s parses and validates, and opens with a header saying what it rotates and its sources', async (file) => {
    const runbook = runbooks.get(file.replace(/\.yaml$/, ''))!;
    expect(runbook.name).toBe(file.replace(/\.yaml$/, ''));
    const text = readFileSync(join(DIR, file), 'utf8');
    const header = text.slice(0, text.indexOf('\nname:'));
    expect(header.split('\n').every((line) => line.startsWith('#'))).toBe(true);
    expect(header).toMatch(/Source/);
    expect(runbook.generate.length).toBeGreaterThan(0);
    expect(renderRunbook(runbook, 'md')).toContain(`# ${runbook.title}`);
    expect(renderRunbook(runbook, 'text')).toContain(runbook.name);
  });

  it.each(Object.entries(PROVIDERS))('%s follows docs/providers.md: overlap and recommended rotation interval', (name, facts) => {
    const runbook = runbooks.get(name)!;
    expect(runbook.overlap).toBe(facts.overlap);
    expect(runbook.rotateEveryMs).toBe(parseDuration(facts.rotateEvery));
    if (runbook.overlap === 'none') expect(runbook.revoke).toHaveLength(0);
    else expect(runbook.revoke.length).toBeGreaterThan(0);
    // Where the provider has a check call, the old key is proven dead with it.
    if (facts.baseUrl !== undefined) expect(runbook.verifyRevoked.length).toBeGreaterThan(0);
  });

  it.each(Object.entries(PROVIDERS).filter(([, f]) => f.baseUrl !== undefined))(
    '%s points every http step at an overridable baseUrl with the real default',
    (name, facts) => {
      const runbook = runbooks.get(name)!;
      expect(runbook.inputs['baseUrl']?.default).toBe(facts.baseUrl);
      const steps = httpSteps(runbook);
      expect(steps.length).toBeGreaterThan(0);
      for (const [, step] of steps) expect(step.url.startsWith('{{ inputs.baseUrl }}/')).toBe(true);
    },
  );

  it.each(FILES)("%s has the responder's part of the incident checklist (respond:), each provider's citing its public pages", (file) => {
    const runbook = runbooks.get(file.replace(/\.yaml$/, ''))!;
    const respond = runbook.respond;
    expect(respond?.logs?.text.length ?? 0, 'respond.logs.text').toBeGreaterThan(20);
    expect(respond?.changes.length ?? 0, 'respond.changes').toBeGreaterThan(0);
    // The sandbox is this project's own: its facts are in src/sandbox/, not on a public page.
    if (!runbook.name.startsWith('sandbox')) {
      expect(respond!.sources.length, 'respond.sources').toBeGreaterThan(0);
      for (const source of respond!.sources) expect(source).toMatch(/^https:\/\/[^\s]+$/);
    }
    expect(renderRunbook(runbook, 'md')).toContain('## After a leak');
  });

  it('never uses a rate-limited Streampixel endpoint (upload, distribute) as a check', () => {
    for (const runbook of runbooks.values()) for (const [, step] of httpSteps(runbook)) expect(step.url).not.toMatch(/upload-file|distribute-file/);
  });

  it('Discord checks the old token exactly once: never loops on an invalid token', () => {
    const steps = runbooks.get('discord-bot')!.verifyRevoked as HttpStep[];
    expect(steps.map((s) => s.retry?.attempts ?? 1)).toEqual([1]);
  });

  it('Streampixel takes its unconfirmed facts as inputs: key pattern, dashboard URL and where the button is', () => {
    const runbook = runbooks.get('streampixel')!;
    expect(runbook.secret.patternInput).toBe('keyPattern');
    expect(secretPattern(runbook, { keyPattern: runbook.inputs['keyPattern']!.default! })!.test('sk_0123456789abcdef0123')).toBe(true);
    expect(secretPattern(runbook, { keyPattern: '^sk_[0-9a-f]{40}$' })!.test('sk_0123456789abcdef0123')).toBe(false);
    expect(() => secretPattern(runbook, { keyPattern: '([' })).toThrow(InputError);
    expect(runbook.inputs['dashboardUrl']?.default).toBe('https://dashboard.streampixel.io');
    expect(runbook.inputs['keyPage']?.default).toContain('Request API Key');
    expect((runbook.generate[0] as PromptStep).message).toContain('Settings → API Key');
  });

  it('the webhook token is 24 random bytes in hex, and its URL is shown only through reveal', async () => {
    const runbook = runbooks.get('webhook-url-token')!;
    const ctx = context(runbook, {}, { receiverUrl: 'https://hooks.example.com/sp', tokenJoin: '/' });
    const outcome = await runStep(runbook.generate[0]!, ctx, process.cwd());
    expect(outcome.minted!.reveal()).toMatch(runbook.secret.pattern!);
    const prompt = runbook.revoke.find((s): s is PromptStep => s.kind === 'prompt' && s.reveal !== undefined)!;
    expect(render(prompt.reveal!, { ...ctx.vars, new: outcome.minted }).text).toBe(`https://hooks.example.com/sp/${outcome.minted!.reveal()}`);
    expect(prompt.message).not.toContain('{{ new }}');
  });

  it('aws-iam-access-key is automated end to end (no person) and says why it cannot be rehearsed', () => {
    const runbook = runbooks.get('aws-iam-access-key')!;
    for (const [, steps] of sections(runbook)) for (const step of steps) expect(step.kind).toBe('uses');
    expect(runbook.rehearsal.unsupported).toMatch(/AWS/);
  });

  it('every other runbook can be rehearsed: its rehearsal inputs cover its required inputs', () => {
    for (const runbook of runbooks.values()) {
      if (runbook.rehearsal.unsupported !== undefined) continue;
      for (const [name, spec] of Object.entries(runbook.inputs)) {
        if (spec.required) expect(runbook.rehearsal.inputs, `${runbook.name} input ${name}`).toHaveProperty(name);
      }
    }
  });
});

// ── The written runbook (`rekey runbook show <name> [--format md]`) ───────────────────────────────────────────────

/** The `## ` sections of a Markdown rendering, by heading, with their text. */
function mdSections(md: string): Map<string, string> {
  const found = new Map<string, string>();
  for (const chunk of md.split(/^## /m).slice(1)) found.set(chunk.slice(0, chunk.indexOf('\n')), chunk.slice(chunk.indexOf('\n') + 1));
  return found;
}

/** Screen-only words: what a document cannot point at (a mask "shown above", a prompt "here", [y/N], resume hints). */
const SCREEN_ONLY = [/shown above/i, /paste it here/i, /\[y\/N\]/, /no stops here/i, /continues later/i, /press Enter/i];

describe('the written runbook (--format md)', () => {
  it.each(FILES)('%s: one section per phase — 1 Generate, 2 Roll out, 3 Verify, 4 Revoke (with the proof the old key is dead), 5 Audit', (file) => {
    const runbook = runbooks.get(file.replace(/\.yaml$/, ''))!;
    const md = renderRunbook(runbook, 'md');
    const numbered = [...md.matchAll(/^## (\d+)\. (.*)$/gm)].map((m) => `${m[1]}. ${m[2]}`);
    expect(numbered).toEqual(['1. Generate the new key', '2. Roll out', '3. Verify', '4. Revoke the old key', '5. Audit']);
    const revoke = mdSections(md).get('4. Revoke the old key')!;
    expect(revoke).toContain('### Prove the old key dead');
    // Roll out says what rekey does there: the stores of rekey.yaml, then the credential's rollout hooks.
    const rollout = mdSections(md).get('2. Roll out')!;
    expect(rollout).toMatch(/every store the credential lists under `stores:` in rekey\.yaml/);
    expect(rollout).toMatch(/rollout hooks \(`rollout:`\) one after another/);
    if (runbook.overlap === 'none') expect(rollout).toContain('at once');
    // Every section says something; none is a bare heading.
    for (const [heading, body] of mdSections(md)) expect(body.trim().length, heading).toBeGreaterThan(20);
  });

  it.each(FILES)('%s: reads as a document — no template, no screen-only words, no stray punctuation, every step id shown', (file) => {
    const runbook = runbooks.get(file.replace(/\.yaml$/, ''))!;
    const md = renderRunbook(runbook, 'md');
    expect(md).not.toMatch(/\{\{|\}\}/);
    for (const pattern of SCREEN_ONLY) expect(md).not.toMatch(pattern);
    // A folded YAML string must not leave its line break in a sentence ("…test account.\n).").
    expect(md).not.toMatch(/\n\s*\)\.?\s*$/m);
    expect(md).not.toMatch(/\.\s*\n\)/);
    for (const [, steps] of sections(runbook)) for (const step of steps) expect(md).toContain(`step \`${step.id}\``);
  });

  it.each(FILES)('%s: a phase without steps says what rekey checks (the read-back) or what the person does, and claims no check', (file) => {
    const runbook = runbooks.get(file.replace(/\.yaml$/, ''))!;
    const md = renderRunbook(runbook, 'md');
    const verify = mdSections(md).get('3. Verify')!;
    expect(verify).toContain('rekey reads every store back');
    if (runbook.verify.length === 0) expect(verify).not.toMatch(/checked with|must accept/);
    const proof = mdSections(md).get('4. Revoke the old key')!.split('### Prove the old key dead')[1]!;
    if (runbook.verifyRevoked.length === 0) {
      expect(proof).not.toMatch(/must reject|expects a rejection/);
      expect(proof).toMatch(/proves nothing|nothing proves it dead/);
    } else {
      expect(proof).toContain('expects a rejection');
    }
  });

  it('recommends the command that fits: rekey drill where a person acts, rekey rotate where none does (aws-iam)', () => {
    for (const runbook of runbooks.values()) {
      const md = renderRunbook(runbook, 'md');
      const person = [...runbook.generate, ...runbook.verify, ...runbook.revoke, ...runbook.verifyRevoked, ...runbook.audit].some((s) => s.kind === 'prompt');
      if (person) expect(md, runbook.name).toContain('Run it: `rekey drill <credential>`');
      else expect(md, runbook.name).toMatch(/Run it: `rekey rotate <credential>`/);
      if (!person) expect(md, runbook.name).not.toContain('rekey drill');
    }
    expect(renderRunbook(runbooks.get('aws-iam-access-key')!, 'md')).toContain(
      'No sandbox rehearsal: it needs AWS itself (IAM and STS), which the local sandbox does not play;',
    );
  });

  it('webhook-url-token: restarting the receiver is in Roll out, the empty checks say what stands in, and the audit claims nothing untrue', () => {
    const md = renderRunbook(runbooks.get('webhook-url-token')!, 'md');
    const parts = mdSections(md);
    expect(parts.get('2. Roll out')).toMatch(/Restart or redeploy the receiver that checks the token/);
    expect(parts.get('3. Verify')).toContain('rekey checks only that every store reads back the new token');
    const proof = parts.get('4. Revoke the old key')!.split('### Prove the old key dead')[1]!;
    expect(proof).toContain('No provider call can prove a webhook token dead, so rekey proves nothing here');
    expect(proof).toMatch(/restart or redeploy the receiver/);
    const audit = parts.get('5. Audit')!;
    expect(audit).not.toMatch(/old URL are now refused/);
    expect(audit).toContain('Requests to the old URL are refused once the receiver no longer holds it');
  });

  it("stripe: the audit points at the old key's mask in rekey's output and the report, not at the screen", () => {
    const audit = mdSections(renderRunbook(runbooks.get('stripe')!, 'md')).get('5. Audit')!;
    expect(audit).toContain("keeps in the run's report");
    expect(audit).not.toMatch(/above/);
  });
});

describe('runbook show (text)', () => {
  const WIDTH = 80;
  /** The text output as a person reads it: wrapped lines joined back, indentation dropped. */
  const flat = (text: string) =>
    text
      .split('\n')
      .map((l) => l.replace(/^  (?:you  |rekey|·    )    /, '').replace(/^\s*(?:▸ )?/, ''))
      .join(' ')
      .replace(/\s+/g, ' ');

  it.each(FILES)('%s: no template is left, the five phases are numbered, and no line is wider than asked', (file) => {
    const runbook = runbooks.get(file.replace(/\.yaml$/, ''))!;
    const text = renderRunbook(runbook, 'text', { width: WIDTH });
    expect(text).not.toMatch(/\{\{|\}\}/);
    expect([...text.matchAll(/^(\d) (.*)$/gm)].map((m) => m[1])).toEqual(['1', '2', '3', '4', '5']);
    for (const line of text.split('\n')) if (line.trimEnd().includes(' ', line.search(/\S/))) expect([...line].length, line).toBeLessThanOrEqual(WIDTH);
  });

  it.each(FILES)('%s: every prompt is shown whole, never cut mid-sentence', (file) => {
    const runbook = runbooks.get(file.replace(/\.yaml$/, ''))!;
    const text = flat(renderRunbook(runbook, 'text', { width: WIDTH }));
    for (const [, steps] of sections(runbook)) {
      for (const step of steps) {
        if (step.kind !== 'prompt') continue;
        for (const sentence of sentences(step.message)) {
          const shown = sentence
            .replace(/\{\{[^}]*\}\}/g, '\u0000')
            .split('\u0000')
            .map((piece) => piece.trim())
            .filter((piece) => piece !== '');
          for (const piece of shown) expect(text, `${runbook.name}:${step.id}`).toContain(piece.replace(/\s+/g, ' '));
        }
        if (step.confirm !== undefined) expect(text).toContain(step.confirm);
      }
    }
  });

  it('fills inputs that have defaults, and shows the others (and the audit window) as readable placeholders', () => {
    const streampixel = renderRunbook(runbooks.get('streampixel')!, 'text', { width: WIDTH });
    expect(flat(streampixel)).toContain('Open the Streampixel dashboard → account menu (top right) → Request API Key.');
    expect(flat(streampixel)).toContain('calls since <the audit window start> for activity');
    expect(flat(renderRunbook(runbooks.get('paypal')!, 'text', { width: WIDTH }))).toContain('your app (client id <clientId>).');
    expect(flat(renderRunbook(runbooks.get('stripe')!, 'text', { width: WIDTH }))).toContain('choose 1 hour — not "Now"');
  });

  it('wraps at spaces only, and keeps a word longer than the line whole', () => {
    expect(wrap('aaa bbb ccc', 7, '  ', '')).toEqual(['aaa bbb', '  ccc']);
    expect(wrap('aaa bbb ccc', 7, '  ')).toEqual(['  aaa', '  bbb', '  ccc']);
    expect(wrap('https://example.com/a/very/long/path x', 10, '', '')).toEqual(['https://example.com/a/very/long/path', 'x']);
    expect(sentences('One sentence that goes\non.\n(A second.)\nA third\nwithout end')).toEqual([
      'One sentence that goes on.',
      '(A second.)',
      'A third without end',
    ]);
  });
});

describe('runbook headers cite what they rest on', () => {
  it.each([
    ['discord-bot', "the billing platform's schedule (rule 3 of https://iptvbp.com/documentation/api-security-best-practices"],
    ['stripe', "the billing platform's schedule (rule 3 of https://iptvbp.com/documentation/api-security-best-practices"],
    ['paypal', "the project's own recommendation (no published source"],
  ])('%s: the 12-month interval names where it comes from, and says the provider publishes none', (name, origin) => {
    const text = readFileSync(join(DIR, `${name}.yaml`), 'utf8');
    const header = text.slice(0, text.indexOf('\nname:')).replace(/\n#\s*/g, ' ');
    const provider = runbooks.get(name)!.title.split(' ')[0];
    expect(runbooks.get(name)!.rotateEveryMs).toBe(parseDuration('365d'));
    expect(header).toContain(`Recommended rotation: every 12 months, ${origin}`);
    expect(header).toMatch(new RegExp(`${provider}\\s+publishes no\\s+interval`));
    expect(header).toContain('docs/providers.md#rotation-intervals');
  });
});

// ── The http steps against the sandbox dialects ───────────────────────────────────────────────────────────────────

const outputs: string[] = [];
const canaries: string[] = [];
const exercised = new Set<string>();
const sandboxes: Sandbox[] = [];

afterEach(async () => {
  await Promise.all(sandboxes.splice(0).map((s) => s.close()));
});

function context(runbook: Runbook, values: { old?: Secret; fresh?: Secret }, inputs: Record<string, string>): StepContext {
  const defaults = Object.fromEntries(Object.entries(runbook.inputs).flatMap(([k, v]) => (v.default === undefined ? [] : [[k, v.default]])));
  return {
    vars: {
      new: values.fresh,
      old: values.old,
      inputs: { ...defaults, ...inputs },
      run: { id: 'test-run', since: '2026-01-01T00:00:00.000Z', started: '2026-01-01T00:00:00.000Z' },
      credential: 'test',
    },
    runbook,
    interaction: noInteraction(),
    roundTrips: [],
    note: (message) => outputs.push(message),
  };
}

/** A key the sandbox issued, as a Secret (so the redactor and the canary list know it). */
function key(value: string): Secret {
  canaries.push(value);
  return new Secret(value);
}

async function revokeOverHttp(sandbox: Sandbox, value: Secret): Promise<void> {
  const response = await fetch(`${sandbox.url}/v1/keys/self`, { method: 'DELETE', headers: { authorization: `Bearer ${value.reveal()}` } });
  await response.arrayBuffer();
}

async function passes(step: Step, ctx: StepContext): Promise<StepOutcome> {
  const outcome = await runStep(step, ctx, process.cwd());
  outputs.push(outcome.detail ?? '', JSON.stringify(outcome.record ?? {}));
  return outcome;
}

async function fails(step: Step, ctx: StepContext): Promise<StepFailedError> {
  // No propagation retries on the negative path: the answer will not change.
  const once = step.kind === 'http' ? { ...step, retry: undefined } : step;
  const error = await runStep(once, ctx, process.cwd()).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, `${step.id} should have failed`).toBeInstanceOf(StepFailedError);
  const failure = error as StepFailedError;
  outputs.push(failure.message, failure.hint ?? '');
  return failure;
}

/** The rehearsal inputs of a runbook, pointed at a sandbox. */
function rehearsalInputs(runbook: Runbook, sandbox: Sandbox): Record<string, string> {
  return Object.fromEntries(
    Object.entries(runbook.rehearsal.inputs).map(([k, v]) => [k, v.replaceAll('{{ sandbox.url }}', sandbox.url).replaceAll('{{ sandbox.account }}', ACCOUNT)]),
  );
}

const dialects = FILES.map((f) => f.replace(/\.yaml$/, '')).filter(
  (name) => !['webhook-url-token', 'webhook-signing-secret', 'aws-iam-access-key'].includes(name),
);

describe('every http step against the sandbox dialect', () => {
  it.each(dialects)('%s: success shape with the current key, rejection shape with a revoked one', async (name) => {
    const runbook = runbooks.get(name)!;
    const sandbox = await startSandbox({ overlap: runbook.overlap, keyPrefix: runbook.rehearsal.keyPrefix });
    sandboxes.push(sandbox);
    const inputs = rehearsalInputs(runbook, sandbox);
    const pattern = secretPattern(runbook, context(runbook, {}, inputs).vars.inputs);

    const revoked = key(sandbox.mintKey(ACCOUNT));
    await revokeOverHttp(sandbox, revoked);
    const current = key(sandbox.mintKey(ACCOUNT));
    expect(sandbox.isActive(current.reveal())).toBe(true);
    expect(sandbox.isActive(revoked.reveal())).toBe(false);
    if (pattern !== undefined) expect(current.reveal()).toMatch(pattern);
    // A key the provider never issued is also a dead key, and a canary.
    const neverIssued = key(`${runbook.rehearsal.keyPrefix}CANARY${'0'.repeat(40)}`);

    for (const [section, step] of httpSteps(runbook)) {
      exercised.add(`${name}:${step.id}`);
      switch (section) {
        case 'generate': {
          const outcome = await passes(step, context(runbook, { old: current }, inputs));
          canaries.push(outcome.minted!.reveal());
          if (pattern !== undefined) expect(outcome.minted!.reveal()).toMatch(pattern);
          break;
        }
        case 'verify':
        case 'audit': {
          const fresh = key(sandbox.mintKey(ACCOUNT));
          expect((await passes(step, context(runbook, { fresh, old: current }, inputs))).detail).toMatch(/^200/);
          const failure = await fails(step, context(runbook, { fresh: revoked, old: current }, inputs));
          expect(failure.message).toMatch(/got 40[13]/);
          break;
        }
        case 'revoke':
        case 'discard': {
          const value = key(sandbox.mintKey(ACCOUNT));
          await passes(step, context(runbook, { old: value, fresh: value }, inputs));
          expect(sandbox.isActive(value.reveal())).toBe(false);
          // Revoking again meets "already gone", which must count as done.
          await passes(step, context(runbook, { old: value, fresh: value }, inputs));
          break;
        }
        case 'verifyRevoked': {
          const dead = key(sandbox.mintKey(ACCOUNT));
          await revokeOverHttp(sandbox, dead);
          // 401, or a 403 that names the key's own rejection (NOWPayments: match on code INVALID_API_KEY).
          expect((await passes(step, context(runbook, { old: dead }, inputs))).detail).toMatch(/^40[13]/);
          expect((await passes(step, context(runbook, { old: neverIssued }, inputs))).detail).toMatch(/^40[13]/);
          const alive = key(sandbox.mintKey(ACCOUNT));
          const failure = await fails(step, context(runbook, { old: alive }, inputs));
          expect(failure.message).toMatch(/got 200/);
          break;
        }
      }
    }
  });

  it('Stripe: an expired key (error.code api_key_expired) and an invalid one (invalid_api_key) are both proven dead', async () => {
    const runbook = runbooks.get('stripe')!;
    const sandbox = await startSandbox({ overlap: 'expiring', keyPrefix: 'sk_test_' });
    sandboxes.push(sandbox);
    const inputs = rehearsalInputs(runbook, sandbox);
    const old = key(sandbox.mintKey(ACCOUNT));
    // "Rotate key" with the old key expiring now.
    const response = await fetch(`${sandbox.url}/v1/accounts/${ACCOUNT}/keys`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ expireOthersInSeconds: 0 }),
    });
    canaries.push(((await response.json()) as { key: string }).key);
    const step = runbook.verifyRevoked[0]!;
    expect((await passes(step, context(runbook, { old }, inputs))).detail).toBe('401 · error.code api_key_expired');
    // The runbook's revoke step: the person expires the old key now in the dashboard (the sandbox's revoke, under
    // overlap expiring). Stripe then answers as for any expired key: api_key_expired, not invalid_api_key.
    const expiredNow = key(sandbox.mintKey(ACCOUNT));
    await revokeOverHttp(sandbox, expiredNow);
    expect((await passes(step, context(runbook, { old: expiredNow }, inputs))).detail).toBe('401 · error.code api_key_expired');
    // A key Stripe does not know (deleted, or never issued) is invalid_api_key, also dead.
    const unknown = key(`sk_test_CANARY${'1'.repeat(30)}`);
    expect((await passes(step, context(runbook, { old: unknown }, inputs))).detail).toBe('401 · error.code invalid_api_key');
  });

  it('Streampixel: a 401 "Invalid User" is not taken as proof that the old key is dead', async () => {
    const runbook = runbooks.get('streampixel')!;
    const sandbox = await startSandbox({ overlap: 'none', keyPrefix: 'sk_' });
    sandboxes.push(sandbox);
    const old = key(sandbox.mintKey(ACCOUNT));
    key(sandbox.mintKey(ACCOUNT));
    const failure = await fails(runbook.verifyRevoked[0]!, context(runbook, { old }, { ...rehearsalInputs(runbook, sandbox), userId: 'someone-else' }));
    expect(failure.message).toContain('message is "Invalid User", expected "Unauthorized: Invalid API Key"');
    // The key travels in the query: the message names the origin and path of the template, never the URL.
    expect(failure.message + (failure.hint ?? '')).not.toMatch(/apikey=|userId=|someone-else/);
    expect(failure.hint).toBe('request was GET {{ inputs.baseUrl }}/projects/userStats/{{ inputs.projectId }}');
  });

  it('Discord: a check sent with a dead token (the pre-run check of the old token, a mistyped paste) is one request, never retried', async () => {
    // rekey runs the verify check with the old token before the run, and with each pasted token before writing it:
    // Discord bans a client after many invalid requests (docs/providers.md#discord-bot-token) get a client banned, so no Discord check may retry.
    const runbook = runbooks.get('discord-bot')!;
    const sandbox = await startSandbox({ overlap: 'none', keyPrefix: runbook.rehearsal.keyPrefix });
    sandboxes.push(sandbox);
    const dead = key(sandbox.mintKey(ACCOUNT));
    key(sandbox.mintKey(ACCOUNT));
    for (const step of [...runbook.verify, ...runbook.verifyRevoked]) expect(step.kind === 'http' ? (step.retry?.attempts ?? 1) : 1, step.id).toBe(1);
    const before = sandbox.stats.checks;
    const error = await runStep(runbook.verify[0]!, context(runbook, { fresh: dead, old: dead }, rehearsalInputs(runbook, sandbox)), process.cwd()).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(StepFailedError);
    outputs.push((error as Error).message);
    expect(sandbox.stats.checks - before).toBe(1);
  });

  it('Discord: the old-token check sends exactly one request, even when it fails', async () => {
    const runbook = runbooks.get('discord-bot')!;
    const sandbox = await startSandbox({ overlap: 'none', keyPrefix: runbook.rehearsal.keyPrefix });
    sandboxes.push(sandbox);
    const alive = key(sandbox.mintKey(ACCOUNT));
    const before = sandbox.stats.checks;
    const error = await runStep(runbook.verifyRevoked[0]!, context(runbook, { old: alive }, rehearsalInputs(runbook, sandbox)), process.cwd()).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(StepFailedError);
    outputs.push((error as Error).message);
    expect(sandbox.stats.checks - before).toBe(1);
  });

  it('a pasted key is checked against the pattern and refused when it is the old key', async () => {
    const runbook = runbooks.get('github-token')!;
    const step = runbook.generate[0] as PromptStep;
    const old = key(`ghp_${'a'.repeat(36)}`);
    const problems: string[] = [];
    const attempts = ['not-a-token', old.reveal(), `ghp_${'b'.repeat(36)}`];
    const interaction = {
      ...noInteraction(),
      canAsk: true,
      async askSecret(_id: string, _q: string, validate: (v: string) => string | undefined) {
        for (const attempt of attempts) {
          const problem = validate(attempt);
          if (problem === undefined) return attempt;
          problems.push(problem);
        }
        throw new Error('no valid key');
      },
    };
    const outcome = await runPrompt(step, { ...context(runbook, { old }, {}), interaction });
    canaries.push(outcome.minted!.reveal());
    expect(problems).toEqual([
      'that does not look like a GitHub key (github_pat_… (fine-grained) or ghp_… (classic))',
      'that is the old key: request a new one in the dashboard first',
    ]);
    expect(outcome.detail).toBe('captured …bbbb');
  });

  afterAll(() => {
    // Every http step of every runbook ran against the sandbox.
    const all = [...runbooks.values()].flatMap((rb) => httpSteps(rb).map(([, s]) => `${rb.name}:${s.id}`));
    expect(all.length).toBeGreaterThan(10);
    expect([...exercised].sort()).toEqual(all.sort());
    // No key, canary or not, in any detail, note, record or error.
    const text = outputs.join('\n');
    expect(outputs.length).toBeGreaterThan(40);
    for (const canary of canaries) expect(text.includes(canary), 'a key appeared in step output').toBe(false);
    expect(text).not.toMatch(/CANARY/);
  });
});
