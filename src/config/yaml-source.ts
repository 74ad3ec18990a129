/**
 * YAML files read with positions kept, so that every error names file, line and column.
 * Shared by the config loader and the runbook loader.
 */
import { readFileSync } from 'node:fs';
import { InputError, InputErrors } from '../util/errors.js';
import { nearest } from '../util/suggest.js';

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

/** Read and parse a YAML file; syntax errors become InputErrors with file:line:col. `display` is the name shown. */
export async function readYaml(path: string, display = path): Promise<YamlSource> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new InputError(code === 'ENOENT' ? `${display}: no such file` : `${display}: cannot read (${code ?? 'error'})`);
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
        const { line, col } = lines.linePos(problem.pos[0]);
        return new InputError(`YAML ${yamlProblem(problem.code, problem.message)}`, { file: display, line, column: col });
      }),
    );
  }
  const data = doc.toJS({ maxAliasCount: 100 }) as unknown;
  return new YamlSource(display, data, doc, lines, yaml);
}

function yamlProblem(code: string, message: string): string {
  // The library's first line is the useful part; the rest repeats the source with a caret.
  const first = message.split('\n')[0] ?? message;
  return code === 'DUPLICATE_KEY' ? 'duplicate key: a key may appear only once in a mapping' : first.replace(/ at line \d+, column \d+:?$/, '');
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
