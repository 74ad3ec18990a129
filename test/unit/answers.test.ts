/**
 * Answers files (`--answers`): what they may hold is decided when the file is read, before any run starts. Text is
 * an answer only to a yes/no question; a key must come from the environment, and a key written into the file is
 * refused (exit 2, at its line and column) without ever being printed.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { builtInRunbookDir, loadRunbook } from '../../src/runbook/load.js';
import type { Runbook } from '../../src/contract/runbook.js';
import { answersInteraction, noInteraction } from '../../src/ui/interaction.js';
import type { EngineEvent } from '../../src/contract/events.js';
import { InputError, InputErrors } from '../../src/contract/errors.js';

const CANARY = 'sk_live_CANARY_answers_9d2e7f1a';

let dir: string;
let streampixel: Runbook;
beforeAll(async () => {
  streampixel = await loadRunbook(join(builtInRunbookDir(), 'streampixel.yaml'));
});
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'rekey-answers-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const sink = { emit: (_event: EngineEvent) => {} };
const rehearsal = { mint: async () => 'minted', confirmed: async () => {} };

function file(text: string): string {
  const path = join(dir, 'answers.yaml');
  writeFileSync(path, text);
  return path;
}

async function refusal(text: string, options = {}): Promise<InputError> {
  const error = await answersInteraction(file(text), sink, noInteraction(), options).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(InputError);
  return error as InputError;
}

describe('answers file: checked when it is read', () => {
  it('refuses a key written into the file, at its line and column, with the { env: VARIABLE } hint and without the key', async () => {
    const error = await refusal(`# answers\ncheck: yes\npaste: ${CANARY}\n`);
    expect(error.location).toMatchObject({ line: 3, column: 8 });
    expect(error.format()).toContain('answer for paste');
    expect(error.format()).toContain('paste: { env: VARIABLE }');
    expect(error.format()).not.toContain(CANARY);
    expect(error.format()).not.toContain('CANARY');
  });

  it('refuses text other than yes or no for any step, since a text answer can only be a confirmation', async () => {
    const error = await refusal('revoked: done\n');
    expect(error.location).toMatchObject({ line: 1, column: 10 });
    expect(error.format()).toContain('yes or no');
  });

  it('accepts yes/no in their usual spellings, booleans and { env: VARIABLE }, and answers confirmations with them', async () => {
    const answers = await answersInteraction(file('a: yes\nb: Y\nc: true\nd: no\ne: N\nf: false\ng: FALSE\nh: { env: SOME_KEY }\n'), sink, noInteraction());
    const said = await Promise.all(['a', 'b', 'c', 'd', 'e', 'f', 'g'].map((id) => answers.confirm(id, 'done?')));
    expect(said).toEqual([true, true, true, false, false, false, false]);
  });

  it('accepts `mint` only in a rehearsal, where the sandbox mints the key', async () => {
    await expect(refusal('paste: mint\n')).resolves.toBeInstanceOf(InputError);
    const answers = await answersInteraction(file('paste: mint\n'), sink, noInteraction(), { rehearsal });
    await expect(answers.askSecret('paste', 'the key', () => undefined)).resolves.toBe('minted');
  });

  it('refuses a number or a mapping other than { env: VARIABLE } without quoting it', async () => {
    const error = await refusal('paste: 123456789012\n');
    expect(error.format()).toContain('answer for paste');
    expect(error.format()).not.toContain('123456789012');
    await expect(refusal('paste: { env: X, value: abc }\n')).resolves.toBeInstanceOf(InputError);
  });
});

describe('answers file: ids are the steps of the runbook', () => {
  const runbook = (name: string) => loadRunbook(join(builtInRunbookDir(), `${name}.yaml`));

  it('refuses an unknown step id at its line and column, suggests the nearest, and lists the valid ones', async () => {
    const answers = await answersInteraction(file('checklist: yes\nrequest-kye: { env: NEW_KEY }\n'), sink, noInteraction());
    const error = (() => {
      try {
        answers.refuseUnknownSteps(streampixel);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(InputError);
    const refusal = error as InputError;
    expect(refusal.location).toMatchObject({ file: expect.stringMatching(/answers\.yaml$/), line: 2, column: 1 });
    expect(refusal.message).toContain('unknown step "request-kye"');
    expect(refusal.hint).toContain('did you mean "request-key"?');
    expect(refusal.hint).toContain('Valid ids (the steps of runbook streampixel that take an answer): request-key, checklist');
    expect(refusal.exitCode).toBe(2);
  });

  it('refuses phase-numbered ids (generate.1, audit.1), each at its own line, all at once', async () => {
    const answers = await answersInteraction(file('generate.1: { env: NEW_STREAMPIXEL_KEY }\naudit.1: yes\n'), sink, noInteraction());
    let error: unknown;
    try {
      answers.refuseUnknownSteps(streampixel);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InputErrors);
    const errors = (error as InputErrors).errors;
    expect(errors.map((e) => e.location?.line)).toEqual([1, 2]);
    expect(errors.map((e) => e.message)).toEqual([expect.stringContaining('unknown step "generate.1"'), expect.stringContaining('unknown step "audit.1"')]);
    for (const e of errors) expect(e.hint).toBe('Valid ids (the steps of runbook streampixel that take an answer): request-key, checklist');
  });

  it('refuses the id of a step rekey runs itself, and any id for a runbook that asks nobody', async () => {
    const answers = await answersInteraction(file('new-key-accepted: yes\n'), sink, noInteraction());
    expect(() => answers.refuseUnknownSteps(streampixel)).toThrow(
      /step "new-key-accepted" of runbook streampixel asks nobody \(it is an http step that rekey runs itself\)/,
    );
    const aws = await runbook('aws-iam-access-key');
    const none = await answersInteraction(file('create: yes\n'), sink, noInteraction());
    expect(() => none.refuseUnknownSteps(aws)).toThrow(InputError);
    try {
      none.refuseUnknownSteps(aws);
    } catch (e) {
      expect((e as InputError).hint).toBe('Runbook aws-iam-access-key has no step that takes an answer: it needs no answers file');
    }
  });

  it('accepts every step that takes an answer, rollback steps included', async () => {
    const github = await runbook('github-token');
    const answers = await answersInteraction(
      file('create-token: { env: NEW_GITHUB_TOKEN }\ndelete-old-token: yes\nsecurity-log: yes\ndelete-new-token: yes\n'),
      sink,
      noInteraction(),
    );
    expect(() => answers.refuseUnknownSteps(github)).not.toThrow();
  });

  it("a missing answer next to a near-miss id names it (before the runbook's ids are checked)", async () => {
    const answers = await answersInteraction(file('request-kye: { env: NEW_KEY }\nchecklist: yes\n'), sink, noInteraction());
    expect(answers.problem('request-key', 'secret')).toBe('no answer for request-key (the file has "request-kye": did you mean "request-key"?)');
    expect(answers.problem('checklist', 'confirm')).toBeUndefined();
  });

  it("the README's answers-file example answers every step of the streampixel runbook", async () => {
    const readme = readFileSync(join(builtInRunbookDir(), '..', 'README.md'), 'utf8');
    const example = /An answers file for unattended runs[\s\S]*?```yaml\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(example).toBeDefined();
    const answers = await answersInteraction(file(example!), sink, noInteraction());
    expect(() => answers.refuseUnknownSteps(streampixel)).not.toThrow();
    const asks = [...streampixel.generate, ...streampixel.audit].filter((s) => s.kind === 'prompt');
    expect(asks.map((s) => s.id)).toEqual(['request-key', 'checklist']);
    const previous = process.env['NEW_STREAMPIXEL_KEY'];
    process.env['NEW_STREAMPIXEL_KEY'] = 'sk_0123456789abcdef0123';
    try {
      expect(answers.problem('request-key', 'secret')).toBeUndefined();
      expect(answers.problem('checklist', 'confirm')).toBeUndefined();
      await expect(answers.askSecret('request-key', 'the key', () => undefined)).resolves.toBe('sk_0123456789abcdef0123');
      await expect(answers.confirm('checklist', 'Checked?')).resolves.toBe(true);
    } finally {
      if (previous === undefined) delete process.env['NEW_STREAMPIXEL_KEY'];
      else process.env['NEW_STREAMPIXEL_KEY'] = previous;
    }
  });
});
