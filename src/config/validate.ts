/**
 * Schema validation with positions: zod checks the data, and every issue is mapped back to file:line:col with
 * the offending key named and, for an unknown key, the nearest valid one suggested.
 */
import type { z } from 'zod';
import { InputError, InputErrors } from '../util/errors.js';
import { unknownKeyError, type PathSegment, type YamlSource } from './yaml-source.js';

/** Validate `data` (found at `basePath` in `source`) against `schema`; throws InputErrors listing every problem. */
export function validateAt<T extends z.ZodType>(source: YamlSource, schema: T, data: unknown, basePath: readonly PathSegment[], what: string): z.output<T> {
  const result = schema.safeParse(data);
  if (result.success) return result.data;
  throw new InputErrors(issuesToErrors(source, schema, result.error.issues, basePath, what));
}

/** Turn zod issues into located InputErrors. */
export function issuesToErrors(source: YamlSource, schema: z.ZodType, issues: readonly z.core.$ZodIssue[], basePath: readonly PathSegment[], what: string): InputError[] {
  const errors: InputError[] = [];
  for (const issue of issues) {
    const path = [...basePath, ...(issue.path as PathSegment[])];
    if (issue.code === 'unrecognized_keys') {
      const valid = keysAt(schema, issue.path as PathSegment[]);
      for (const key of issue.keys) errors.push(unknownKeyError(source, path, key, valid, describe(path, what)));
      continue;
    }
    errors.push(source.error(path, `${describe(path, what)}: ${message(issue)}`));
  }
  return errors;
}

function describe(path: readonly PathSegment[], what: string): string {
  return path.length === 0 ? what : path.map((p) => (typeof p === 'number' ? `[${p}]` : p)).join('.').replace(/\.\[/g, '[');
}

function message(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'invalid_type':
      return issue.input === undefined ? `required ${issue.expected} is missing` : `expected ${article(issue.expected)}, got ${typeName(issue.input)}`;
    case 'invalid_value':
      return `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    default:
      return issue.message;
  }
}

function article(type: string): string {
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return `${typeof value} ${JSON.stringify(value)}`;
}

type Def = { type: string; shape?: Record<string, z.ZodType>; element?: z.ZodType; valueType?: z.ZodType; innerType?: z.ZodType; options?: z.ZodType[]; in?: z.ZodType };

/** The keys an object schema accepts at `path`, for suggestions. */
function keysAt(schema: z.ZodType, path: readonly PathSegment[]): string[] {
  let node: z.ZodType | undefined = schema;
  const unwrap = (n: z.ZodType | undefined): z.ZodType | undefined => {
    let current = n;
    for (let i = 0; i < 10 && current !== undefined; i++) {
      const def = (current as unknown as { _zod: { def: Def } })._zod.def;
      if (def.type === 'optional' || def.type === 'default' || def.type === 'nullable' || def.type === 'prefault') current = def.innerType;
      else if (def.type === 'pipe') current = def.in;
      else return current;
    }
    return current;
  };
  for (const segment of path) {
    node = unwrap(node);
    if (node === undefined) return [];
    const def = (node as unknown as { _zod: { def: Def } })._zod.def;
    if (def.type === 'object') node = def.shape?.[String(segment)];
    else if (def.type === 'array') node = def.element;
    else if (def.type === 'record') node = def.valueType;
    else return [];
  }
  node = unwrap(node);
  const def = node === undefined ? undefined : (node as unknown as { _zod: { def: Def } })._zod.def;
  return def?.type === 'object' && def.shape !== undefined ? Object.keys(def.shape) : [];
}
