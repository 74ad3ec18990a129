/**
 * Schema validation with positions: zod checks the data, and every issue is mapped back to file:line:col with
 * the offending key named and, for an unknown key, the nearest valid one suggested.
 */
import type { z } from 'zod';
import { type InputError, InputErrors } from '../contract/errors.js';
import { nearest } from './suggest.js';
import { unknownKeyError, type PathSegment, type YamlSource } from './yaml-source.js';

/** Validate `data` (found at `basePath` in `source`) against `schema`; throws InputErrors listing every problem. */
export function validateAt<T extends z.ZodType>(source: YamlSource, schema: T, data: unknown, basePath: readonly PathSegment[], what: string): z.output<T> {
  const result = schema.safeParse(data);
  if (result.success) return result.data;
  throw new InputErrors(issuesToErrors(source, schema, result.error.issues, basePath, what));
}

/** Turn zod issues into located InputErrors. */
export function issuesToErrors(
  source: YamlSource,
  schema: z.ZodType,
  issues: readonly z.core.$ZodIssue[],
  basePath: readonly PathSegment[],
  what: string,
): InputError[] {
  const errors: InputError[] = [];
  // A required key reported missing next to an unknown key that is its likely typo is one mistake, not two:
  // keep only the unknown key, whose hint names the missing one.
  const suggested = new Set<string>();
  for (const issue of issues) {
    if (issue.code !== 'unrecognized_keys') continue;
    const valid = keysAt(schema, issue.path as PathSegment[]);
    for (const key of issue.keys) {
      const suggestion = nearest(key, valid);
      if (suggestion !== undefined) suggested.add(JSON.stringify([...issue.path, suggestion]));
    }
  }
  for (const issue of issues) {
    const path = [...basePath, ...(issue.path as PathSegment[])];
    if (issue.code === 'unrecognized_keys') {
      const valid = keysAt(schema, issue.path as PathSegment[]);
      for (const key of issue.keys) errors.push(unknownKeyError(source, path, key, valid, describe(path, what)));
      continue;
    }
    const found = valueAt(source.data, path);
    if (issue.code === 'invalid_type' && !found.present && path.length > 0) {
      // A missing key: point at the mapping that lacks it (its key, where it has one).
      if (suggested.has(JSON.stringify(issue.path))) continue;
      const parent = path.slice(0, -1);
      errors.push(source.error(parent, `${describe(parent, what)}: missing required key "${String(path.at(-1))}"`, undefined, 'key'));
      continue;
    }
    if (issue.code === 'invalid_key') {
      // A record key that breaks its rule (a credential id, an input name): point at the key itself.
      const inner = issue.issues.map((i) => i.message).join('; ');
      errors.push(source.error(path, `${describe(path.slice(0, -1), what)}: key "${String(path.at(-1))}" is not allowed: ${inner}`, undefined, 'key'));
      continue;
    }
    let hint: string | undefined;
    if (issue.code === 'invalid_value' && typeof found.value === 'string') {
      const suggestion = nearest(
        found.value,
        issue.values.filter((v): v is string => typeof v === 'string'),
      );
      if (suggestion !== undefined) hint = `did you mean "${suggestion}"?`;
    }
    errors.push(source.error(path, `${describe(path, what)}: ${message(issue, found.value)}`, hint));
  }
  return errors;
}

/** The value at `path` in plain data, and whether it is there at all (a missing key differs from `null`). */
function valueAt(data: unknown, path: readonly PathSegment[]): { present: boolean; value: unknown } {
  let node = data;
  for (const segment of path) {
    if (node === null || typeof node !== 'object' || !Object.hasOwn(node, segment)) return { present: false, value: undefined };
    node = (node as Record<string | number, unknown>)[segment];
  }
  return { present: true, value: node };
}

function describe(path: readonly PathSegment[], what: string): string {
  return path.length === 0
    ? what
    : path
        .map((p) => (typeof p === 'number' ? `[${p}]` : p))
        .join('.')
        .replace(/\.\[/g, '[');
}

function message(issue: z.core.$ZodIssue, value: unknown): string {
  switch (issue.code) {
    case 'invalid_type':
      return `expected ${article(typeWord(issue.expected))}, got ${typeName(value)}`;
    case 'invalid_union': {
      // A union of plain types (a duration is a string or a number): name them all.
      const expected = issue.errors.map((branch) =>
        branch.length === 1 && branch[0]!.code === 'invalid_type' && branch[0]!.path.length === 0 ? typeWord(branch[0]!.expected) : undefined,
      );
      return expected.every((e) => e !== undefined) && expected.length > 0
        ? `expected ${expected.map((e) => article(e!)).join(' or ')}, got ${typeName(value)}`
        : issue.message;
    }
    case 'invalid_value':
      return `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    default:
      return issue.message;
  }
}

/** zod's type names in the words of YAML. */
function typeWord(type: string): string {
  return ({ object: 'mapping', record: 'mapping', array: 'list', int: 'whole number' } as Record<string, string>)[type] ?? type;
}

function article(type: string): string {
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}

/** The type of a value as people say it. A string's text is not repeated: it may be a key pasted in the wrong place. */
function typeName(value: unknown): string {
  if (value === null || value === undefined) return 'nothing (null)';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return 'a string';
  return `${typeof value} ${JSON.stringify(value)}`;
}

/**
 * The schema one step further along a path, through zod 4's public API only (`.type`, `.shape`, `.element`,
 * `.valueType`, `.unwrap()`, `.in`; see https://zod.dev/api), so that an upgrade that reshapes zod's internals
 * cannot silently lose the suggestions. The casts are type-only: `.type` names the class.
 */
function unwrap(schema: z.ZodType | undefined): z.ZodType | undefined {
  let current = schema;
  for (let i = 0; i < 10 && current !== undefined; i++) {
    switch (current.type) {
      case 'optional':
      case 'nullable':
      case 'default':
      case 'prefault':
      case 'readonly':
      case 'nonoptional':
        current = (current as z.ZodOptional<z.ZodType>).unwrap();
        break;
      case 'pipe':
        current = (current as z.ZodPipe<z.ZodType, z.ZodType>).in;
        break;
      default:
        return current;
    }
  }
  return current;
}

/** The keys an object schema accepts at `path`, for suggestions. */
function keysAt(schema: z.ZodType, path: readonly PathSegment[]): string[] {
  let node: z.ZodType | undefined = schema;
  for (const segment of path) {
    node = unwrap(node);
    if (node === undefined) return [];
    if (node.type === 'object') node = (node as z.ZodObject).shape[String(segment)] as z.ZodType | undefined;
    else if (node.type === 'array') node = (node as z.ZodArray<z.ZodType>).element;
    else if (node.type === 'record') node = (node as z.ZodRecord<z.ZodString, z.ZodType>).valueType;
    else return [];
  }
  node = unwrap(node);
  return node?.type === 'object' ? Object.keys((node as z.ZodObject).shape) : [];
}
