/**
 * Answers files (`--answers`): what they may hold is decided when the file is read, before any run starts. Text is
 * an answer only to a yes/no question; a key must come from the environment, and a key written into the file is
 * refused (exit 2, at its line and column) without ever being printed.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { answersInteraction, noInteraction } from '../../src/ui/interaction.js';
import type { EngineEvent } from '../../src/ui/events.js';
import { InputError } from '../../src/util/errors.js';

const CANARY = 'sk_live_CANARY_answers_9d2e7f1a';

let dir: string;
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
