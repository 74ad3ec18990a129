/**
 * Loading runbooks: YAML files in `runbooks/` (built in) or in folders a config names. Every problem is reported
 * with file:line:col; templates are checked against the declared inputs; a secret may reach a child process only
 * through its environment or stdin, never its arguments.
 */
import { existsSync, readdirSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { z } from 'zod';
import { issuesToErrors } from '../config/validate.js';
import { readYaml, unknownKeyError, type PathSegment, type YamlSource } from '../config/yaml-source.js';
import { parseDuration } from '../util/duration.js';
import { InputError, InputErrors } from '../util/errors.js';
import { nearest } from '../util/suggest.js';
import { refersToSecret, unknownReference } from './template.js';
import { mints, runbookSections, type Runbook, type RunbookInput, type Step } from './types.js';

/** The folder of the runbooks that ship with rekey (works from src/ under vitest and from dist/src/ when built). */
export function builtInRunbookDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    if (existsSync(join(dir, 'runbooks')) && existsSync(join(dir, 'package.json'))) return join(dir, 'runbooks');
    dir = dirname(dir);
  }
  throw new Error('rekey installation is missing its runbooks/ folder');
}

/** Runbook names found in the folders, first folder winning; values are file paths. */
export function listRunbooks(dirs: readonly string[]): Map<string, string> {
  const found = new Map<string, string>();
  for (const dir of dirs) {
    if (!existsSync(dir)) continue;
    for (const entry of readdirSync(dir).sort()) {
      if (!entry.endsWith('.yaml') && !entry.endsWith('.yml')) continue;
      const name = entry.replace(/\.ya?ml$/, '');
      if (!found.has(name)) found.set(name, join(dir, entry));
    }
  }
  return found;
}

/** Find a runbook by name or path; unknown names get a suggestion. */
export function resolveRunbook(nameOrPath: string, dirs: readonly string[], baseDir: string): string {
  if (nameOrPath.includes('/') || nameOrPath.endsWith('.yaml') || nameOrPath.endsWith('.yml')) return resolve(baseDir, nameOrPath);
  const known = listRunbooks(dirs);
  const file = known.get(nameOrPath);
  if (file !== undefined) return file;
  const suggestion = nearest(nameOrPath, known.keys());
  throw new InputError(
    `unknown runbook "${nameOrPath}"`,
    undefined,
    suggestion !== undefined ? `did you mean "${suggestion}"? Known runbooks: ${[...known.keys()].join(', ')}` : `known runbooks: ${[...known.keys()].join(', ')}`,
  );
}

const cache = new Map<string, Runbook>();

/** Load and validate one runbook file. */
export async function loadRunbook(file: string): Promise<Runbook> {
  const cached = cache.get(file);
  if (cached !== undefined) return cached;
  const display = relative(process.cwd(), file) || file;
  const source = await readYaml(file, display.startsWith('..') ? file : display);
  const { runbookSchema, stepSchemas } = await import('./schema.js');
  const { validateAt } = await import('../config/validate.js');
  const top = validateAt(source, runbookSchema, source.data, [], 'runbook');
  const errors: InputError[] = [];
  const name = basename(file).replace(/\.ya?ml$/, '');
  if (top.name !== name) errors.push(source.error(['name'], `runbook name "${top.name}" must match its file name "${name}"`));

  const inputs: Record<string, RunbookInput> = {};
  for (const [key, spec] of Object.entries(top.inputs ?? {})) {
    inputs[key] = { description: spec.description, default: spec.default, required: spec.required ?? spec.default === undefined };
  }
  const inputNames = Object.keys(inputs);

  const sections: Record<string, Step[]> = {};
  for (const section of runbookSections) {
    const raw = top[section] ?? [];
    sections[section] = raw.map((item, index) => parseStep(source, stepSchemas, item, [section, index], section, inputNames, errors)).filter((s): s is Step => s !== undefined);
  }

  const minting = sections['generate']!.filter(mints);
  if (minting.length !== 1) {
    errors.push(source.error(['generate'], `generate must have exactly one step that produces the new value (a prompt with capture, an http step with capture, a generate step, or an exec step with capture); found ${minting.length}`));
  }
  for (const section of ['verify', 'revoke', 'verifyRevoked', 'audit', 'discard'] as const) {
    sections[section]!.forEach((step, index) => {
      if (mints(step)) errors.push(source.error([section, index], `only generate may produce the new value; this ${step.kind} step in ${section} captures one`));
    });
  }
  if (top.overlap === 'none' && sections['revoke']!.length > 0) {
    errors.push(source.error(['revoke'], 'overlap "none" means minting the new key already revoked the old one, so revoke must be empty', 'prove the old key dead in verifyRevoked instead'));
  }
  let pattern: RegExp | undefined;
  if (top.secret?.pattern !== undefined) {
    try {
      pattern = new RegExp(top.secret.pattern);
    } catch (error) {
      errors.push(source.error(['secret', 'pattern'], `secret.pattern is not a valid regular expression: ${(error as Error).message}`));
    }
  }
  if (errors.length > 0) throw new InputErrors(errors);

  const runbook: Runbook = {
    name,
    title: top.title,
    summary: top.summary ?? '',
    file,
    overlap: top.overlap,
    rotateEveryMs: parseDuration(top.rotateEvery ?? '90d')!,
    dashboard: top.dashboard,
    secret: { pattern, description: top.secret?.description },
    inputs,
    generate: sections['generate']!,
    verify: sections['verify']!,
    revoke: sections['revoke']!,
    verifyRevoked: sections['verifyRevoked']!,
    audit: sections['audit']!,
    discard: sections['discard']!,
    notes: top.notes ?? [],
  };
  cache.set(file, runbook);
  return runbook;
}

const STEP_KINDS = ['http', 'prompt', 'generate', 'exec', 'uses'] as const;
const COMMON_KEYS = ['id', 'name'];

type StepSchemas = typeof import('./schema.js')['stepSchemas'];

function parseStep(source: YamlSource, schemas: StepSchemas, item: unknown, path: PathSegment[], section: string, inputs: readonly string[], errors: InputError[]): Step | undefined {
  if (item === null || typeof item !== 'object' || Array.isArray(item)) {
    errors.push(source.error(path, `each ${section} step must be a mapping with one of: ${STEP_KINDS.join(', ')}`));
    return undefined;
  }
  const record = item as Record<string, unknown>;
  const kinds = STEP_KINDS.filter((k) => k in record);
  if (kinds.length !== 1) {
    const stray = Object.keys(record).find((k) => !COMMON_KEYS.includes(k) && k !== 'with' && k !== 'action');
    if (kinds.length === 0 && stray !== undefined) errors.push(unknownKeyError(source, path, stray, [...STEP_KINDS, ...COMMON_KEYS], `${section} step`));
    else errors.push(source.error(path, kinds.length === 0 ? `a step needs one of: ${STEP_KINDS.join(', ')}` : `a step has exactly one kind, found ${kinds.join(' and ')}`));
    return undefined;
  }
  const kind = kinds[0]!;
  const schema = schemas[kind] as z.ZodType;
  const result = schema.safeParse(record);
  if (!result.success) {
    errors.push(...issuesToErrors(source, schema, result.error.issues, path, `${section} step`));
    return undefined;
  }
  const data = result.data as Record<string, unknown>;
  const at = source.locate(path);
  const index = path[1] as number;
  const base = { id: (data['id'] as string | undefined) ?? `${section}.${index + 1}`, source: at };

  // Templates may only name declared inputs and the fixed variables.
  const checkTemplates = (value: unknown, valuePath: PathSegment[]): void => {
    if (typeof value === 'string') {
      const bad = unknownReference(value, inputs);
      if (bad !== undefined) {
        const hint = bad.startsWith('inputs.') ? `declare it under inputs:, or use one of: ${inputs.map((i) => `inputs.${i}`).join(', ') || '(no inputs declared)'}` : 'variables are new, old, inputs.NAME, run.id, run.since, run.started, credential';
        errors.push(source.error(valuePath, `unknown template variable {{ ${bad} }}`, hint));
      }
    } else if (Array.isArray(value)) value.forEach((v, i) => checkTemplates(v, [...valuePath, i]));
    else if (value !== null && typeof value === 'object') for (const [k, v] of Object.entries(value)) checkTemplates(v, [...valuePath, k]);
  };
  checkTemplates(data[kind], [...path, kind]);
  if (kind === 'uses') checkTemplates(data['with'], [...path, 'with']);

  switch (kind) {
    case 'http': {
      const h = data['http'] as z.output<StepSchemas['http']>['http'];
      const timeoutMs = parseDuration(h.timeout ?? '10s')!;
      return {
        ...base,
        kind,
        name: (data['name'] as string | undefined) ?? `${h.method} ${describeUrl(h.url)}`,
        method: h.method,
        url: h.url,
        headers: h.headers ?? {},
        body: h.body,
        form: h.form,
        basicAuth: h.basicAuth,
        expect: h.expect,
        retry: h.retry === undefined ? undefined : { attempts: h.retry.attempts, delayMs: parseDuration(h.retry.delay)! },
        timeoutMs,
        capture: h.capture,
        record: h.record ?? [],
      };
    }
    case 'prompt': {
      const p = data['prompt'] as z.output<StepSchemas['prompt']>['prompt'];
      return { ...base, kind, name: (data['name'] as string | undefined) ?? firstLine(p.message), message: p.message, url: p.url, capture: p.capture ?? false, confirm: p.confirm, reveal: p.reveal };
    }
    case 'generate': {
      const g = data['generate'] as z.output<StepSchemas['generate']>['generate'];
      return { ...base, kind, name: (data['name'] as string | undefined) ?? `generate ${g.bytes} random bytes`, bytes: g.bytes, encoding: g.encoding, prefix: g.prefix };
    }
    case 'exec': {
      const e = data['exec'] as z.output<StepSchemas['exec']>['exec'];
      e.argv.forEach((arg, i) => {
        if (refersToSecret(arg)) {
          errors.push(source.error([...path, 'exec', 'argv', i], 'a secret must not appear in a command line, where other users and process listings can read it', 'pass it through env: (NAME: "{{ new }}") or stdin: instead'));
        }
      });
      return {
        ...base,
        kind,
        name: (data['name'] as string | undefined) ?? e.argv.join(' '),
        argv: e.argv,
        env: e.env ?? {},
        stdin: e.stdin,
        timeoutMs: parseDuration(e.timeout ?? '60s')!,
        retries: e.retries ?? 0,
        capture: e.capture ?? false,
      };
    }
    case 'uses': {
      const u = data as z.output<StepSchemas['uses']>;
      return { ...base, kind, name: u.name ?? `${u.uses}${u.action === undefined ? '' : ` ${u.action}`}`, adapter: u.uses, action: u.action, with: u.with ?? {} };
    }
  }
}

/** The printable part of a URL template: origin and path, never the query (which may carry a key). */
export function describeUrl(url: string): string {
  return url.split('?')[0]!.replace(/^https?:\/\//, '');
}

function firstLine(text: string): string {
  const line = text.trim().split('\n')[0] ?? '';
  return line.length > 72 ? `${line.slice(0, 71)}…` : line;
}
