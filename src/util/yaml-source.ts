/**
 * YAML files read with positions kept, so that every error names file, line and column.
 * Shared by the config loader and the runbook loader.
 */
import { closeSync, readFileSync } from 'node:fs';
import { isNotRegularFile, openRegularSync } from './regular-file.js';
import { InputError, InputErrors } from '../contract/errors.js';
import { nearest } from './suggest.js';

type YamlModule = typeof import('yaml');
type Document = import('yaml').Document.Parsed;
type LineCounter = import('yaml').LineCounter;
export type PathSegment = string | number;

/** A parsed YAML file: its plain data and a way back from a data path to a position in the text. */
export class YamlSource {
  constructor(
    readonly file: string,
    readonly data: unknown,
    private readonly doc: Document,
    private readonly lines: LineCounter,
    private readonly yaml: YamlModule,
  ) {}

  /** Line and column of the value at `path` (or of its key, or of the nearest existing parent). */
  locate(path: readonly PathSegment[], which: 'key' | 'value' = 'value'): { file: string; line: number; column: number } {
    for (let depth = path.length; depth >= 0; depth--) {
      const parentPath = path.slice(0, Math.max(0, depth - 1));
      if (which === 'key' && depth === path.length && depth > 0) {
        const parent = parentPath.length === 0 ? this.doc.contents : this.doc.getIn(parentPath, true);
        if (this.yaml.isMap(parent)) {
          const pair = parent.items.find((item) => this.yaml.isScalar(item.key) && item.key.value === path[depth - 1]);
          const range = pair !== undefined && this.yaml.isNode(pair.key) ? pair.key.range : undefined;
          if (range) return this.position(range[0]);
        }
      }
      const node = depth === 0 ? this.doc.contents : this.doc.getIn(path.slice(0, depth), true);
      if (this.yaml.isNode(node) && node.range) return this.position(node.range[0]);
    }
    return { file: this.file, line: 1, column: 1 };
  }

  /** An InputError located at `path`. */
  error(path: readonly PathSegment[], message: string, hint?: string, which: 'key' | 'value' = 'value'): InputError {
    return new InputError(message, this.locate(path, which), hint);
  }

  private position(offset: number): { file: string; line: number; column: number } {
    const { line, col } = this.lines.linePos(offset);
    return { file: this.file, line, column: col };
  }
}

/** The largest config or runbook read: a thousand credentials take some 150 KB. */
export const MAX_YAML_BYTES = 8 * 1024 * 1024;

/**
 * Read and parse a YAML file; syntax errors become InputErrors with file:line:col. `display` is the name shown. Only
 * a regular file is read: a rekey.yaml or a runbook that is a FIFO, or a link to a device such as /dev/zero (a
 * cloned repository may hold such a link), would make the read wait or run forever.
 */
export async function readYaml(path: string, display = path): Promise<YamlSource> {
  let text: string;
  let fd: number | undefined;
  try {
    const opened = openRegularSync(path);
    fd = opened.fd;
    if (opened.stats.size > MAX_YAML_BYTES)
      throw new InputError(`${display}: ${opened.stats.size} bytes, more than a config or runbook may have (${MAX_YAML_BYTES} bytes)`);
    text = readFileSync(fd, 'utf8');
  } catch (error) {
    if (error instanceof InputError) throw error;
    if (isNotRegularFile(error)) throw new InputError(`${display}: not a regular file`, undefined, 'rekey reads its config and runbooks from files');
    const code = (error as NodeJS.ErrnoException).code;
    throw new InputError(code === 'ENOENT' ? `${display}: no such file` : `${display}: cannot read (${code ?? 'error'})`);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  return parseYaml(text, display);
}

/** Parse YAML text that came from `display`. */
export async function parseYaml(text: string, display: string): Promise<YamlSource> {
  const yaml = await import('yaml');
  const lines = new yaml.LineCounter();
  // uniqueKeys: a key written twice is a mistake in a config, never an intended override.
  const doc = yaml.parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true, strict: true });
  const problems = [...doc.errors];
  if (problems.length > 0) {
    throw new InputErrors(
      problems.map((problem) => {
        const { offset, message, hint } = yamlProblem(yaml, doc, text, problem);
        const { line, col } = lines.linePos(offset);
        return new InputError(`YAML syntax: ${message}`, { file: display, line, column: col }, hint);
      }),
    );
  }
  let data: unknown;
  try {
    // maxAliasCount: the library refuses, fast, aliases that would expand exponentially (a "billion laughs").
    data = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT }) as unknown;
  } catch (error) {
    if (!(error instanceof ReferenceError)) throw error;
    // The library's error carries no position: point at the alias that expands furthest (see aliasBomb).
    const { offset, values } = aliasBomb(yaml, doc);
    const { line, col } = lines.linePos(offset);
    const expands = values > 1 ? ` (this alias alone stands for ${values.toLocaleString('en-US')} values)` : '';
    throw new InputError(
      /resource exhaustion/.test(error.message)
        ? `YAML aliases expand too far${expands}: nested anchors and aliases ("billion laughs") are refused`
        : `YAML: ${lowerFirst(error.message)}`,
      { file: display, line, column: col },
      'write the values out, or use fewer aliases of aliases',
    );
  }
  return new YamlSource(display, data, doc, lines, yaml);
}

/** The yaml library's limit (its default): aliases counted with what they expand to, before any is expanded. */
const MAX_ALIAS_COUNT = 100;

/**
 * Where to fix an alias bomb: the alias whose value is largest once expanded (the first such, in document order),
 * and that size. Hand-written because the library reports no position; it only locates, counting each node once
 * (sizes are memoised per node, so a bomb is measured without being expanded).
 */
function aliasBomb(yaml: YamlModule, doc: Document): { offset: number; values: number } {
  const sizes = new Map<unknown, number>();
  const anchors = new Map<string, import('yaml').Node>();
  let worst = { offset: 0, values: 0 };
  const size = (node: unknown): number => {
    const known = sizes.get(node);
    if (known !== undefined) return known;
    // An alias inside its own anchor would loop: count it as one while it is being measured.
    sizes.set(node, 1);
    let total = 1;
    if (yaml.isAlias(node)) {
      const target = anchors.get(node.source);
      total = target === undefined ? 1 : size(target);
      if (total > worst.values && node.range) worst = { offset: node.range[0], values: total };
    } else if (yaml.isNode(node) && node.anchor !== undefined) {
      anchors.set(node.anchor, node);
    }
    if (yaml.isCollection(node)) for (const item of node.items) total += yaml.isPair(item) ? size(item.key) + size(item.value) : size(item);
    sizes.set(node, total);
    return total;
  };
  size(doc.contents);
  return worst;
}

/** A YAML problem in words, placed where a person would fix it (the library places some at the end of what it read). */
function yamlProblem(yaml: YamlModule, doc: Document, text: string, problem: import('yaml').YAMLError): { offset: number; message: string; hint?: string } {
  // The library's first line is the useful part; the rest repeats the source with a caret.
  const first = (problem.message.split('\n')[0] ?? problem.message).replace(/ at line \d+, column \d+:?$/, '');
  const offset = problem.pos[0];
  switch (problem.code) {
    case 'DUPLICATE_KEY': {
      let found: { key: string; line: number } | undefined;
      yaml.visit(doc, {
        Map(_, map) {
          const index = map.items.findIndex((pair) => yaml.isNode(pair.key) && pair.key.range?.[0] === offset);
          if (index === -1) return undefined;
          const key = map.items[index]!.key as import('yaml').Node;
          const value = yaml.isScalar(key) ? key.value : key.toString();
          const earlier = map.items.slice(0, index).find((pair) => yaml.isScalar(pair.key) && pair.key.value === value);
          const range = earlier !== undefined && yaml.isNode(earlier.key) ? earlier.key.range : undefined;
          const at = range ? lineOf(text, range[0]) : 0;
          found = { key: String(value), line: at };
          return yaml.visit.BREAK;
        },
      });
      return {
        offset,
        message: `duplicate key${found === undefined ? '' : ` "${found.key}"`}: a key may appear only once in a mapping`,
        ...(found !== undefined && found.line > 0 ? { hint: `it is first written on line ${found.line}; keep one` } : {}),
      };
    }
    case 'MISSING_CHAR': {
      // An unclosed quote is reported where the text ran out; the place to fix is the opening quote.
      const quote = /closing "quote/.test(first) ? '"' : /closing 'quote/.test(first) ? "'" : undefined;
      if (quote === undefined) return { offset, message: lowerFirst(first) };
      const opening = openingQuote(text, offset, quote);
      return {
        offset: opening ?? offset,
        message: `a quoted string is never closed (missing closing ${quote})`,
        hint: `close the ${quote === '"' ? 'double' : 'single'} quote on the same line`,
      };
    }
    case 'TAB_AS_INDENT':
      return { offset, message: 'tabs are not allowed as indentation', hint: 'indent with spaces' };
    default: {
      // An unclosed [ or { is reported on the next line; the place to fix is the bracket that opened it.
      const flow = /^Flow (map|sequence) in block collection/.exec(first);
      if (flow !== null) {
        const open = flow[1] === 'map' ? '{' : '[';
        const opening = openingBracket(text, offset, open);
        if (opening !== undefined)
          return {
            offset: opening,
            message: lowerFirst(first),
            hint: `close this ${open} with ${open === '{' ? '}' : ']'}, or indent its continuation lines more than its key`,
          };
      }
      // Indentation problems are placed at the start of the line; the key that is out of line is more useful.
      let at = offset;
      while (text[at] === ' ') at++;
      if (text[at] === '\n' || at >= text.length) return { offset, message: lowerFirst(first) };
      const key = /^[A-Za-z_][\w.-]*(?=[ \t]*:(\s|$))/.exec(text.slice(at, at + 200))?.[0];
      return { offset: at, message: `${key === undefined ? '' : `at key "${key}": `}${lowerFirst(first)}` };
    }
  }
}

function lowerFirst(text: string): string {
  return /^[A-Z][a-z]/.test(text) ? `${text[0]!.toLowerCase()}${text.slice(1)}` : text;
}

function lineOf(text: string, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset && i < text.length; i++) if (text[i] === '\n') line++;
  return line;
}

/** The last `open` bracket before `end` that is not closed before it (quotes are not tracked: a best guess). */
function openingBracket(text: string, end: number, open: '{' | '['): number | undefined {
  const close = open === '{' ? '}' : ']';
  let depth = 0;
  for (let i = Math.min(end, text.length) - 1; i >= 0; i--) {
    if (text[i] === close) depth++;
    else if (text[i] === open) {
      if (depth === 0) return i;
      depth--;
    }
  }
  return undefined;
}

/** The quote that opened the unclosed string ending at `end`: the last one before it that is not escaped. */
function openingQuote(text: string, end: number, quote: '"' | "'"): number | undefined {
  for (let i = Math.min(end, text.length) - 1; i >= 0; i--) {
    if (text[i] !== quote) continue;
    if (quote === "'" && text[i - 1] === "'") {
      i--; // '' is an escaped single quote
      continue;
    }
    let backslashes = 0;
    while (quote === '"' && text[i - 1 - backslashes] === '\\') backslashes++;
    if (backslashes % 2 === 0) return i;
  }
  return undefined;
}

/** An "unknown key" error with the nearest valid key suggested. */
export function unknownKeyError(source: YamlSource, path: readonly PathSegment[], key: string, valid: readonly string[], what: string): InputError {
  const suggestion = nearest(key, valid);
  return source.error(
    [...path, key],
    `unknown key "${key}" in ${what}`,
    suggestion !== undefined ? `did you mean "${suggestion}"? Valid keys: ${valid.join(', ')}` : `valid keys: ${valid.join(', ')}`,
    'key',
  );
}
