/**
 * The JSON Schema that `rekey config schema` prints (for editors: yaml-language-server, VS Code) against every example
 * config in the repository: examples/, the YAML code blocks of the README and the docs that are a rekey.yaml, and the
 * valid configs among the test fixtures. Checked with ajv, a maintained JSON Schema validator independent of the zod
 * schema the schema is generated from; a few configs the loader refuses show the schema is no rubber stamp.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { configJsonSchema, schemaUrl } from '../../src/config/schema.js';
import { storeCatalog } from '../../src/cli/stores.js';
import { ROOT } from '../e2e/helpers.js';

let validate: ((data: unknown) => boolean) & { errors?: unknown };
let schema: Record<string, unknown>;

beforeAll(async () => {
  const adapters = await Promise.all(storeCatalog.kinds.map((kind) => storeCatalog.adapter(kind)));
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { name: string; version: string };
  schema = configJsonSchema(adapters, schemaUrl(pkg)) as Record<string, unknown>;
  // strict: an unknown keyword or a malformed schema is an error, not silently ignored; a duration is a string or a
  // number (type: [string, number]), which strict mode takes only with allowUnionTypes.
  validate = new Ajv2020({ strict: true, allowUnionTypes: true, allErrors: true }).compile(schema);
});

/** The YAML code blocks of a Markdown file that are a rekey.yaml (a mapping with `credentials`), with their line. */
function configBlocks(file: string): Array<{ where: string; data: unknown }> {
  const text = readFileSync(join(ROOT, file), 'utf8');
  const blocks: Array<{ where: string; data: unknown }> = [];
  const fence = /^( *)```ya?ml\n([\s\S]*?)^\1```$/gm;
  for (const match of text.matchAll(fence)) {
    const line = text.slice(0, match.index).split('\n').length;
    const body = match[2]!.replace(new RegExp(`^${match[1]}`, 'gm'), '');
    const data: unknown = parse(body);
    if (data !== null && typeof data === 'object' && 'credentials' in data) blocks.push({ where: `${file}:${line}`, data });
  }
  return blocks;
}

const markdown = [
  'README.md',
  'CONTRIBUTING.md',
  ...readdirSync(join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];
const examples = readdirSync(join(ROOT, 'examples'))
  .filter((f) => /\.ya?ml$/.test(f))
  .map((f) => `examples/${f}`);
// The fixtures that are valid configs (the others are bad on purpose: see test/fixtures/bad-input/cases.yaml).
const fixtures = ['test/fixtures/bad-input/configs/answers-host.yaml', 'test/fixtures/bad-input/configs/runbooks.yaml'];

describe('rekey config schema against the example configs', () => {
  it('has a resolvable $id: the release on unpkg', () => {
    expect(schema['$id']).toMatch(/^https:\/\/unpkg\.com\/@rekey-cli\/rekey@\d+\.\d+\.\d+[^/]*\/dist\/rekey\.schema\.json$/);
  });

  it('the README shows the yaml-language-server line with that $id, and the VS Code setting', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    expect(readme).toContain(`# yaml-language-server: $schema=${String(schema['$id'])}`);
    expect(readme).toMatch(/"yaml\.schemas": \{\s*"https:\/\/unpkg\.com\/@rekey-cli\/rekey@[^"]+\/dist\/rekey\.schema\.json": \[/);
  });

  const found = [
    ...examples.map((file) => ({ where: file, data: parse(readFileSync(join(ROOT, file), 'utf8')) as unknown })),
    ...markdown.flatMap(configBlocks),
  ];
  it('finds the examples: examples/, and the README configuration block', () => {
    expect(found.map((f) => f.where)).toEqual(expect.arrayContaining(['examples/rekey.yaml', expect.stringMatching(/^README\.md:\d+$/)]));
  });

  for (const { where, data } of [...found, ...fixtures.map((file) => ({ where: file, data: parse(readFileSync(join(ROOT, file), 'utf8')) as unknown }))])
    it(`${where} is valid`, () => {
      const ok = validate(data);
      expect(validate.errors ?? [], where).toEqual([]);
      expect(ok).toBe(true);
    });

  const refused: Array<[string, unknown]> = [
    ['a typo of credentials', { credentails: {} }],
    ['stores as a mapping', { credentials: { app: { runbook: 'stripe', stores: { dotenv: '.env#K' } } } }],
    ['an unknown store kind', { credentials: { app: { runbook: 'stripe', stores: [{ dotenvz: '.env#K' }] } } }],
    ['an option of another store kind', { credentials: { app: { runbook: 'stripe', stores: [{ dotenv: '.env#K', region: 'eu-west-1' }] } } }],
    ['version 2', { version: 2, credentials: {} }],
    ['an upper-case credential id', { credentials: { App: { runbook: 'stripe', stores: [{ dotenv: '.env#K' }] } } }],
  ];
  for (const [why, data] of refused)
    it(`refuses ${why}, as the loader does`, () => {
      expect(validate(data)).toBe(false);
    });
});
