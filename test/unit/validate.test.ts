/**
 * Schema errors located through zod's public API (src/util/validate.ts): a nested unknown key and a nested bad
 * value are placed at their own line and column, and the keys suggested are those of the nested object, reached
 * through optional, record and array wrappers.
 */
import { describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/schema.js';
import { InputErrors } from '../../src/contract/errors.js';
import { validateAt } from '../../src/util/validate.js';
import { parseYaml } from '../../src/util/yaml-source.js';

async function errorsOf(text: string): Promise<string[]> {
  const source = await parseYaml(text, 'rekey.yaml');
  try {
    validateAt(source, configSchema, source.data, [], 'rekey.yaml');
  } catch (error) {
    if (error instanceof InputErrors) return error.errors.map((e) => e.format());
    throw error;
  }
  return [];
}

const config = (policy: string, hook = '[kubectl, rollout]') =>
  `credentials:\n  app:\n    runbook: sandbox\n    stores:\n      - dotenv: ./.env#KEY\n    rollout:\n      - exec: ${hook}\n${policy}`;

describe('validateAt: nested locations', () => {
  it('an unknown key in record → object → optional object: its line and column, the nested keys suggested', async () => {
    const [error, ...rest] = await errorsOf(config('    policy:\n      maxAg: 90d\n'));
    expect(rest).toEqual([]);
    expect(error).toContain('rekey.yaml:9:7: unknown key "maxAg" in credentials.app.policy');
    expect(error).toContain('did you mean "maxAge"? Valid keys: maxAge, budget');
  });

  it('an unknown key in an array item (record → object → array → object) suggests the item keys', async () => {
    const [error] = await errorsOf(config('', '[kubectl]\n        timout: 10s'));
    expect(error).toContain('rekey.yaml:8:9: unknown key "timout" in credentials.app.rollout[0]');
    expect(error).toContain('did you mean "timeout"?');
  });

  it('a bad nested value is placed at the value', async () => {
    expect(await errorsOf(config('    policy:\n      budget: 300\n'))).toEqual([
      expect.stringContaining('rekey.yaml:9:15: credentials.app.policy.budget: a duration needs a unit: 300d? 300h? 300m? 300s?'),
    ]);
  });
});
