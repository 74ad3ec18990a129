/**
 * Loading runbooks: YAML files in `runbooks/` (built in) or in folders a config names. Every problem is reported
 * with file:line:col; templates are checked against the declared inputs; a secret may reach a child process only
 * through its environment or stdin, never its arguments.
 */
import { existsSync, readdirSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { z } from 'zod';
import { issuesToErrors } from '../util/validate.js';
import { readYaml, unknownKeyError, type PathSegment, type YamlSource } from '../util/yaml-source.js';
import { parseDuration } from '../util/duration.js';
import { InputError, InputErrors } from '../contract/errors.js';
import { nearest } from '../util/suggest.js';
import { stepAdapterNames } from '../../adapters/steps/index.js';
import { refersToSecret, unknownReference } from './template.js';
import { mints, runbookSections, type Runbook, type RunbookInput, type Step } from '../contract/runbook.js';

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
    suggestion !== undefined
      ? `did you mean "${suggestion}"? Known runbooks: ${[...known.keys()].join(', ')}`
      : `known runbooks: ${[...known.keys()].join(', ')}`,
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
  const { validateAt } = await import('../util/validate.js');
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
  // Steps keep their index in the file: a step that failed to parse leaves a gap, not a shift.
  const indexed: Record<string, Array<{ step: Step; index: number }>> = {};
  for (const section of runbookSections) {
    const raw = top[section] ?? [];
    indexed[section] = raw.flatMap((item, index) => {
      const step = parseStep(source, stepSchemas, item, [section, index], section, inputNames, errors);
      return step === undefined ? [] : [{ step, index }];
    });
    sections[section] = indexed[section]!.map((s) => s.step);
  }

  const minting = indexed['generate']!.filter((s) => mints(s.step));
  // A generate step that failed to parse has been reported already; counting without it would only add noise.
  const generateParsed = indexed['generate']!.length === top.generate.length;
  if (minting.length === 0 && generateParsed) {
    errors.push(source.error(['generate'], `generate must have exactly one step that produces the new value (${MINTING_KINDS}); found none`, undefined, 'key'));
  } else if (minting.length > 1) {
    errors.push(
      source.error(
        ['generate', minting[1]!.index],
        `generate must have exactly one step that produces the new value; found ${minting.length}: ${minting.map((s) => s.step.id).join(', ')}`,
        'keep the step that mints the key; the others may only read or confirm',
      ),
    );
  }
  for (const section of ['verify', 'revoke', 'verifyRevoked', 'audit', 'discard'] as const) {
    for (const { step, index } of indexed[section]!) {
      if (mints(step))
        errors.push(
          source.error(
            mintingKeyPath(step, [section, index]),
            `only generate may produce the new value; this ${step.kind} step in ${section} captures one`,
            'remove capture here; steps after generate use {{ new }}',
            'key',
          ),
        );
    }
  }
  if (top.overlap === 'none' && sections['revoke']!.length > 0) {
    errors.push(
      source.error(
        ['revoke'],
        'overlap "none" means minting the new key already revoked the old one, so revoke must be empty',
        'prove the old key dead in verifyRevoked instead',
        'key',
      ),
    );
  }
  let pattern: RegExp | undefined;
  // `pattern: "{{ inputs.keyPattern }}"`: the key format is unconfirmed, so each credential may set its own.
  const patternInput = top.secret?.pattern === undefined ? undefined : PATTERN_INPUT.exec(top.secret.pattern)?.[1];
  if (patternInput !== undefined) {
    const spec = inputs[patternInput];
    if (spec === undefined)
      errors.push(source.error(['secret', 'pattern'], `secret.pattern names input "${patternInput}", which is not declared under inputs:`));
    else if (spec.default !== undefined) {
      try {
        new RegExp(spec.default);
      } catch (error) {
        errors.push(
          source.error(['inputs', patternInput, 'default'], `the default of ${patternInput} is not a valid regular expression: ${(error as Error).message}`),
        );
      }
    }
  } else if (top.secret?.pattern !== undefined) {
    try {
      pattern = new RegExp(top.secret.pattern);
    } catch (error) {
      errors.push(
        source.error(
          ['secret', 'pattern'],
          `secret.pattern is not a valid regular expression: ${(error as Error).message.replace(/^Invalid regular expression: \/.*\/[a-z]*: /s, '')}`,
        ),
      );
    }
  }
  for (const key of Object.keys(top.rehearsal?.inputs ?? {})) {
    if (inputs[key] === undefined) errors.push(unknownKeyError(source, ['rehearsal', 'inputs'], key, inputNames, `inputs of runbook ${name}`));
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
    secret: { pattern, patternInput, description: top.secret?.description },
    inputs,
    generate: sections['generate']!,
    verify: sections['verify']!,
    revoke: sections['revoke']!,
    verifyRevoked: sections['verifyRevoked']!,
    audit: sections['audit']!,
    discard: sections['discard']!,
    notes: top.notes ?? [],
    explain: top.explain ?? {},
    respond:
      top.respond === undefined
        ? undefined
        : {
            logs: top.respond.logs === undefined ? undefined : { text: top.respond.logs.text, url: top.respond.logs.url },
            changes: top.respond.changes ?? [],
            notify: top.respond.notify ?? [],
            sources: top.respond.sources ?? [],
          },
    rehearsal: {
      unsupported: top.rehearsal?.unsupported,
      variable: top.rehearsal?.variable ?? 'REKEY_REHEARSAL_KEY',
      keyPrefix: top.rehearsal?.keyPrefix ?? 'sbx_',
      keepPrevious: top.rehearsal?.keepPrevious ?? false,
      inputs: top.rehearsal?.inputs ?? {},
    },
  };
  cache.set(file, runbook);
  return runbook;
}

const STEP_KINDS = ['http', 'prompt', 'generate', 'exec', 'uses'] as const;
/** A secret pattern that is one input, `{{ inputs.NAME }}`, rather than an expression. */
const PATTERN_INPUT = /^\{\{\s*inputs\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}$/;
const MINTING_KINDS = 'a prompt with capture, an http step with capture, a generate step, an exec step with capture, or uses with action: create';

/** Where a step says that it mints: its capture (or action) key, else the step itself. */
function mintingKeyPath(step: Step, path: PathSegment[]): PathSegment[] {
  if (step.kind === 'http' || step.kind === 'prompt' || step.kind === 'exec') return [...path, step.kind, 'capture'];
  if (step.kind === 'uses') return [...path, 'action'];
  return [...path, step.kind];
}
const COMMON_KEYS = ['id', 'name'];
const TEMPLATE_VARIABLES = ['new', 'old', 'run.id', 'run.since', 'run.started', 'credential'];

function describePath(path: readonly PathSegment[]): string {
  return path
    .map((p) => (typeof p === 'number' ? `[${p}]` : p))
    .join('.')
    .replace(/\.\[/g, '[');
}

type StepSchemas = typeof import('./schema.js')['stepSchemas'];

function parseStep(
  source: YamlSource,
  schemas: StepSchemas,
  item: unknown,
  path: PathSegment[],
  section: string,
  inputs: readonly string[],
  errors: InputError[],
): Step | undefined {
  if (item === null || typeof item !== 'object' || Array.isArray(item)) {
    errors.push(source.error(path, `each ${section} step must be a mapping with one of: ${STEP_KINDS.join(', ')}`));
    return undefined;
  }
  const record = item as Record<string, unknown>;
  const kinds = STEP_KINDS.filter((k) => k in record);
  if (kinds.length !== 1) {
    const stray = Object.keys(record).find((k) => !COMMON_KEYS.includes(k) && k !== 'with' && k !== 'action');
    if (kinds.length === 0 && stray !== undefined) errors.push(unknownKeyError(source, path, stray, [...STEP_KINDS, ...COMMON_KEYS], `${section} step`));
    else if (kinds.length === 0) errors.push(source.error(path, `a step needs one of: ${STEP_KINDS.join(', ')}`));
    else errors.push(source.error([...path, kinds[1]!], `a step has exactly one kind, found ${kinds.join(' and ')}`, 'split it into one step per kind', 'key'));
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
        const known = [...TEMPLATE_VARIABLES, ...inputs.map((i) => `inputs.${i}`)];
        const suggestion = nearest(bad, known);
        const declared = `declared inputs: ${inputs.join(', ') || '(none)'}`;
        const hint =
          suggestion !== undefined
            ? `did you mean {{ ${suggestion} }}? ${bad.startsWith('inputs.') ? `(${declared})` : ''}`.trim()
            : bad.startsWith('inputs.')
              ? `declare it under inputs:, or use a declared one (${declared.replace('declared inputs: ', '')})`
              : `variables are ${TEMPLATE_VARIABLES.join(', ')}, inputs.NAME`;
        errors.push(source.error(valuePath, `${describePath(valuePath)}: unknown template variable {{ ${bad} }}`, hint));
      }
    } else if (Array.isArray(value))
      value.forEach((v, i) => {
        checkTemplates(v, [...valuePath, i]);
      });
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
        match: h.match ?? {},
        documented: h.documented,
      };
    }
    case 'prompt': {
      const p = data['prompt'] as z.output<StepSchemas['prompt']>['prompt'];
      return {
        ...base,
        kind,
        name: (data['name'] as string | undefined) ?? firstLine(p.message),
        message: p.message,
        url: p.url,
        capture: p.capture ?? false,
        confirm: p.confirm,
        reveal: p.reveal,
      };
    }
    case 'generate': {
      const g = data['generate'] as z.output<StepSchemas['generate']>['generate'];
      return {
        ...base,
        kind,
        name: (data['name'] as string | undefined) ?? `generate ${g.bytes} random bytes`,
        bytes: g.bytes,
        encoding: g.encoding,
        prefix: g.prefix,
      };
    }
    case 'exec': {
      const e = data['exec'] as z.output<StepSchemas['exec']>['exec'];
      e.argv.forEach((arg, i) => {
        if (refersToSecret(arg)) {
          errors.push(
            source.error(
              [...path, 'exec', 'argv', i],
              `${section}[${String(path[1])}].exec.argv[${i}]: a secret must not appear in a command line, where other users and process listings can read it`,
              'pass it through env: (NAME: "{{ new }}") or stdin: instead',
            ),
          );
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
      if (!stepAdapterNames.includes(u.uses)) {
        const suggestion = nearest(u.uses, stepAdapterNames);
        errors.push(
          source.error(
            [...path, 'uses'],
            `unknown step adapter "${u.uses}"`,
            suggestion !== undefined ? `did you mean "${suggestion}"?` : `known step adapters: ${stepAdapterNames.join(', ') || '(none)'}`,
          ),
        );
      }
      return {
        ...base,
        kind,
        name: u.name ?? `${u.uses}${u.action === undefined ? '' : ` ${u.action}`}`,
        adapter: u.uses,
        action: u.action,
        with: u.with ?? {},
      };
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
