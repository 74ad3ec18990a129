/**
 * `rekey runbook test`'s lint: what the loader accepts but a runbook should still not do. Three rules, each reported
 * at file:line:col (with the YAML position mapping of src/util/yaml-source.ts, narrowed to the offending `{{ … }}`):
 *
 * 1. Every template variable is declared — also in the text the loader does not interpret (summary, notes,
 *    explain:), which `runbook show` renders, and in `rehearsal.inputs`, which may name only the sandbox.
 * 2. Every check has a documented rejection: an `http` step of verify has a step in verifyRevoked that presents
 *    `{{ old }}` to the same endpoint, and that step expects a 4xx only; any status but 401 needs `match:` (the
 *    provider's error code), since a 403 or a 404 may come from a proxy or a firewall (docs/providers.md#what-counts-as-dead);
 *    and it cites the public page that documents that rejection (`documented:`).
 * 3. No secret in a URL or text that is printed: a prompt's url, message and confirm, a step's name, and the origin
 *    and path of an http URL (which step names and errors print, and servers log). Only `reveal:` may show a value.
 * 4. The responder's checklist (`respond:`) is shown as written in the incident report, so it holds no template
 *    (`{{ … }}` would be printed as is).
 *
 * The loader's own errors (schema, undeclared variables in steps) come back with the lint's, in file order.
 */
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { InputError, InputErrors } from '../contract/errors.js';
import type { Runbook } from '../contract/runbook.js';
import { readYaml, type PathSegment, type YamlSource } from '../util/yaml-source.js';
import { references } from './template.js';

const FIXED = ['new', 'old', 'run.id', 'run.since', 'run.started', 'credential'];
const SECRET = /\{\{\s*(new|old)\s*\}\}/;
const SECTIONS = ['generate', 'verify', 'revoke', 'verifyRevoked', 'audit', 'discard'] as const;

type Raw = Record<string, unknown>;
/** Report a problem at a data path, narrowed to `needle` when given. */
type At = (path: PathSegment[], message: string, hint: string, needle?: RegExp, which?: 'key' | 'value') => void;

export interface LintResult {
  /** The loaded runbook, when it loaded and nothing was found. */
  readonly runbook: Runbook | undefined;
  /** Every problem, in file order. */
  readonly errors: readonly InputError[];
}

/** Lint one runbook file and load it; never throws for a problem of the file (a YAML syntax error included). */
export async function lintRunbook(file: string): Promise<LintResult> {
  const display = relative(process.cwd(), file) || file;
  const shown = display.startsWith('..') ? file : display;
  let source: YamlSource;
  try {
    source = await readYaml(file, shown);
  } catch (error) {
    return { runbook: undefined, errors: inputErrors(error) };
  }
  const lines = readFileSync(file, 'utf8').split('\n');
  const found: InputError[] = [];
  const at: At = (path, message, hint, needle, which) => found.push(new InputError(message, pinpoint(source.locate(path, which), lines, needle), hint));
  const data = (isRecord(source.data) ? source.data : {}) as Raw;
  const inputs = Object.keys(isRecord(data['inputs']) ? data['inputs'] : {});

  undeclared(data, inputs, at);
  rejections(data, at);
  printedSecrets(data, at);
  untemplatedResponse(data, at);

  let runbook: Runbook | undefined;
  try {
    const { loadRunbook } = await import('./load.js');
    runbook = await loadRunbook(file);
  } catch (error) {
    for (const e of inputErrors(error)) {
      // The loader points at the value; a reference inside it is narrowed to the `{{ … }}` itself.
      const name = /unknown template variable \{\{ (\S+) \}\}/.exec(e.message)?.[1];
      const location = e.location === undefined || name === undefined ? e.location : pinpoint(e.location, lines, referenceTo(name));
      found.push(new InputError(e.message, location, e.hint));
    }
  }
  const errors = dedupe(found).sort((a, b) => (a.location?.line ?? 0) - (b.location?.line ?? 0) || (a.location?.column ?? 0) - (b.location?.column ?? 0));
  return { runbook: errors.length === 0 ? runbook : undefined, errors };
}

/** Rule 4: the text of `respond:` is printed as written, so a `{{ … }}` in it would reach the report verbatim. */
function untemplatedResponse(data: Raw, at: At): void {
  const respond = isRecord(data['respond']) ? data['respond'] : {};
  const texts: Array<[PathSegment[], unknown]> = [];
  if (isRecord(respond['logs'])) texts.push([['respond', 'logs', 'text'], respond['logs']['text']], [['respond', 'logs', 'url'], respond['logs']['url']]);
  for (const list of ['changes', 'notify'] as const) {
    const items = respond[list];
    if (Array.isArray(items)) for (const [i, item] of items.entries()) texts.push([['respond', list, i], item]);
  }
  for (const [path, text] of texts) {
    if (typeof text !== 'string' || references(text).length === 0) continue;
    at(
      path,
      `${describe(path)}: respond: is shown as written in the incident report, so {{ ${references(text)[0]} }} would be printed as is`,
      'write the words without a template: name the page or setting, never a value',
      /\{\{[^}]*\}\}/,
    );
  }
}

/** Rule 1, outside steps: text that `runbook show` renders, and the rehearsal's inputs. */
function undeclared(data: Raw, inputs: readonly string[], at: At): void {
  const known = (name: string) => FIXED.includes(name) || (name.startsWith('inputs.') && inputs.includes(name.slice(7)));
  const check = (value: unknown, path: PathSegment[], allowed: (name: string) => boolean, hint: string) => {
    if (typeof value !== 'string') return;
    for (const name of references(value)) {
      if (!allowed(name)) at(path, `${describe(path)}: unknown template variable {{ ${name} }}`, hint, referenceTo(name));
    }
  };
  const declared = `declare it under inputs:, or use a declared one (${inputs.join(', ') || 'none declared'})`;
  check(data['summary'], ['summary'], known, declared);
  if (Array.isArray(data['notes'])) for (const [i, note] of data['notes'].entries()) check(note, ['notes', i], known, declared);
  if (isRecord(data['explain'])) for (const [phase, text] of Object.entries(data['explain'])) check(text, ['explain', phase], known, declared);
  const rehearsal = isRecord(data['rehearsal']) ? data['rehearsal'] : {};
  if (isRecord(rehearsal['inputs'])) {
    for (const [key, value] of Object.entries(rehearsal['inputs'])) {
      check(
        value,
        ['rehearsal', 'inputs', key],
        (name) => name === 'sandbox.url' || name === 'sandbox.account',
        'a rehearsal input may use {{ sandbox.url }} and {{ sandbox.account }} only',
      );
    }
  }
}

/** An http step as written: method, URL and whether it presents a value. */
interface RawHttp {
  readonly index: number;
  readonly method: string;
  readonly endpoint: string;
  readonly presents: 'new' | 'old' | undefined;
  readonly expect: readonly unknown[];
  readonly match: boolean;
  readonly documented: boolean;
}

function httpSteps(data: Raw, section: string): RawHttp[] {
  const steps = Array.isArray(data[section]) ? (data[section] as unknown[]) : [];
  return steps.flatMap((step, index) => {
    if (!isRecord(step) || !isRecord(step['http'])) return [];
    const http = step['http'];
    const text = JSON.stringify(http);
    const presents = /\{\{\s*old\s*\}\}/.test(text) ? 'old' : /\{\{\s*new\s*\}\}/.test(text) ? 'new' : undefined;
    const url = typeof http['url'] === 'string' ? http['url'] : '';
    return [
      {
        index,
        method: typeof http['method'] === 'string' ? http['method'] : 'GET',
        // The key in the path (which rule 3 refuses) still names the same endpoint, whichever key it is.
        endpoint: url
          .split('?')[0]!
          .trim()
          .replace(/\{\{\s*(new|old)\s*\}\}/g, '{{ key }}'),
        presents,
        expect: Array.isArray(http['expect']) ? http['expect'] : [200],
        match: isRecord(http['match']) && Object.keys(http['match']).length > 0,
        documented: typeof http['documented'] === 'string' && http['documented'].trim() !== '',
      },
    ];
  });
}

/** Rule 2: every check has a documented rejection. */
function rejections(data: Raw, at: At): void {
  const proofs = httpSteps(data, 'verifyRevoked');
  for (const check of httpSteps(data, 'verify')) {
    if (check.presents !== 'new') continue;
    const proven = proofs.some((p) => p.presents === 'old' && p.method === check.method && p.endpoint === check.endpoint);
    if (!proven)
      at(
        ['verify', check.index, 'http'],
        `verify[${check.index}]: the check ${check.method} ${check.endpoint} has no documented rejection: no verifyRevoked step presents {{ old }} to it`,
        "add a verifyRevoked step with the same method and URL and {{ old }}, expecting the provider's documented rejection " +
          '(expect: [401], and match: on its error code)',
        undefined,
        'key',
      );
  }
  for (const proof of proofs) {
    const statuses = proof.expect.filter((s): s is number => typeof s === 'number');
    const path = ['verifyRevoked', proof.index, 'http', 'expect'];
    const notRejection = statuses.filter((s) => s < 400 || s > 499);
    if (notRejection.length > 0) {
      at(
        path,
        `verifyRevoked[${proof.index}]: expects ${notRejection.join(', ')}, which is not a rejection: only a 4xx can prove the old key dead`,
        "expect the provider's documented rejection of a dead key (usually 401)",
      );
    } else if (statuses.some((s) => s !== 401) && !proof.match) {
      at(
        path,
        `verifyRevoked[${proof.index}]: expects ${statuses.join(' or ')} without match:, so a proxy's or a firewall's answer would count as proof`,
        "add match: with the field the provider's documented rejection sets (such as match: { error.code: [invalid_api_key] })",
      );
    }
    if (!proof.documented && proof.presents === 'old') {
      at(
        ['verifyRevoked', proof.index, 'http'],
        `verifyRevoked[${proof.index}]: the rejection it expects is not cited: only the provider's documented answer proves a key dead`,
        'add documented: with the URL of the provider page that documents this rejection (status and body)',
        undefined,
        'key',
      );
    }
  }
}

/** Rule 3: no secret in a URL or text that rekey prints. */
function printedSecrets(data: Raw, at: At): void {
  if (typeof data['dashboard'] === 'string' && SECRET.test(data['dashboard']))
    at(['dashboard'], 'dashboard: a secret in a printed URL', 'the dashboard URL is printed as written: take the secret out', SECRET);
  for (const section of SECTIONS) {
    const steps = Array.isArray(data[section]) ? (data[section] as unknown[]) : [];
    steps.forEach((step, index) => {
      if (!isRecord(step)) return;
      const base: PathSegment[] = [section, index];
      if (typeof step['name'] === 'string' && SECRET.test(step['name']))
        at([...base, 'name'], `${describe([...base, 'name'])}: a secret in a step name, which is printed and journaled`, 'name the step in words', SECRET);
      if (isRecord(step['prompt'])) {
        const prompt = step['prompt'];
        for (const field of ['url', 'message', 'confirm'] as const) {
          const value = prompt[field];
          if (typeof value !== 'string' || !SECRET.test(value)) continue;
          const path = [...base, 'prompt', field];
          at(
            path,
            `${describe(path)}: a secret in a printed ${field === 'url' ? 'URL' : 'text'}: the prompt is shown on screen and written to the journal`,
            'to show a value to the person once, on request and never logged, use reveal: instead',
            SECRET,
          );
        }
      }
      if (isRecord(step['http']) && typeof step['http']['url'] === 'string') {
        const printed = step['http']['url'].split('?')[0]!;
        if (SECRET.test(printed)) {
          const path = [...base, 'http', 'url'];
          at(
            path,
            `${describe(path)}: a secret in the printed part of a URL (origin and path appear in step names, errors and server logs)`,
            'send it in a header (headers: { Authorization: "Bearer {{ new }}" }), in basicAuth:, or in the body; ' +
              'a provider that takes it only in the URL gets it in the query, which rekey never prints',
            SECRET,
          );
        }
      }
    });
  }
}

/** The column of the first `needle` at or after a location: on its line, or in the block scalar that starts there. */
function pinpoint(location: { file: string; line: number; column: number }, lines: readonly string[], needle?: RegExp): typeof location {
  if (needle === undefined) return location;
  const first = lines[location.line - 1] ?? '';
  const same = first.slice(location.column - 1).search(needle);
  if (same >= 0) return { ...location, column: location.column + same };
  // A block scalar (| or >) goes on while lines are blank or indented deeper than the line that opens it.
  const indent = first.search(/\S/);
  for (let n = location.line; n < lines.length; n++) {
    const line = lines[n]!;
    if (line.trim() !== '' && line.search(/\S/) <= indent) break;
    const column = line.search(needle);
    if (column >= 0) return { ...location, line: n + 1, column: column + 1 };
  }
  return location;
}

function referenceTo(name: string): RegExp {
  return new RegExp(`\\{\\{\\s*${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s*\\}\\}`);
}

function describe(path: readonly PathSegment[]): string {
  return path
    .map((p) => (typeof p === 'number' ? `[${p}]` : p))
    .join('.')
    .replace(/\.\[/g, '[');
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function inputErrors(error: unknown): InputError[] {
  if (error instanceof InputErrors) return [...error.errors];
  if (error instanceof InputError) return [error];
  throw error;
}

function dedupe(errors: readonly InputError[]): InputError[] {
  const seen = new Set<string>();
  return errors.filter((e) => {
    const key = e.format();
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
