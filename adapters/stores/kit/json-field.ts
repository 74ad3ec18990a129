/**
 * Reading and writing one field of a secret whose payload may be a JSON object (`prod/app#API_KEY`).
 *
 * Every byte outside the field's value is kept exactly as it was. Parsing and re-serialising the document would
 * not do: `JSON.stringify(JSON.parse(text))` turns `12345678901234567890` into `12345678901234567000`, `1.50` into
 * `1.5`, `1e400` into `null`, and rewrites escapes (`\u00e9`, `\/`) and whitespace, all in fields rekey does not own.
 * So the document is parsed into a syntax tree with offsets (jsonc-parser) and only the text of the one value is
 * replaced (`applyEdits`); a missing field is inserted with `modify`.
 *
 * Which field counts: a JSON object may repeat a key. JSON.parse, and so most consumers, keep the LAST one, so read
 * and write both use the last top-level property of that name. (jsonc-parser's own lookup takes the first, which
 * would write a value that nobody reads: that is why the property is found here.)
 *
 * What is accepted: strict JSON (RFC 8259) with an object at the top, optionally after one leading byte-order mark,
 * which is tolerated and kept. Comments, trailing commas and other JSONC extensions are refused, as JSON.parse
 * would refuse them in every consumer of the secret.
 */
import { applyEdits, modify, type Node, parseTree, type ParseError } from 'jsonc-parser';
import { SecretNotFoundError, StoreError } from '../../../src/contract/store-errors.js';
import type { StoreRef } from '../../../src/contract/store.js';

const BOM = '\ufeff';

/** The field's value inside a payload; the whole payload when the ref has no field. */
export function extractField(ref: StoreRef, operation: string, payload: string): string {
  if (ref.field === undefined) return payload;
  const doc = parseDocument(ref, operation, payload);
  const node = lastProperty(doc.root, ref.field);
  if (node === undefined) throw new SecretNotFoundError(operation, ref.display, `field ${ref.field} is not in the secret`);
  return stringValue(ref, operation, doc, node);
}

/** A new payload with the field set to `value`, every other byte untouched; the value itself when there is no field. */
export function replaceField(ref: StoreRef, operation: string, payload: string | undefined, value: string): string {
  if (ref.field === undefined) return value;
  if (payload === undefined) return `{${jsonString(ref.field)}:${jsonString(value)}}`;
  let doc = parseDocument(ref, operation, payload);
  let node = lastProperty(doc.root, ref.field);
  if (node === undefined) {
    // Insert the property with a placeholder value, then write the value below, so that it is escaped the same way
    // as an overwrite. `modify` appends after the last property and leaves every existing byte where it was.
    const inserted = applyEdits(doc.body, modify(doc.body, [ref.field], '', {}));
    doc = parseDocument(ref, operation, doc.bom + inserted);
    node = lastProperty(doc.root, ref.field);
    if (node === undefined) throw new StoreError('invalid', operation, ref.display, `field ${ref.field} could not be added to the secret`);
  } else {
    // Refuse to overwrite a number, an object or anything else that is not a string: it is not a key rekey wrote, and
    // replacing it would destroy data that a read would also have refused to return.
    stringValue(ref, operation, doc, node);
  }
  return doc.bom + applyEdits(doc.body, [{ offset: node.offset, length: node.length, content: jsonString(value) }]);
}

interface Document {
  /** The leading byte-order mark, or ''. */
  readonly bom: string;
  /** The payload without the byte-order mark: the offsets in `root` point into it. */
  readonly body: string;
  readonly root: Node;
}

function parseDocument(ref: StoreRef, operation: string, payload: string): Document {
  const bom = payload.startsWith(BOM) ? BOM : '';
  const body = payload.slice(bom.length);
  const notAnObject = () =>
    // Never quote the payload, or say where it broke with the text around: it is a secret.
    new StoreError('invalid', operation, ref.display, `the secret is not a JSON object, so field ${ref.field} cannot be read`);
  // JSON.parse is the reference for what is valid JSON; the tree gives the offsets. Both must accept the text.
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw notAnObject();
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw notAnObject();
  const errors: ParseError[] = [];
  const root = parseTree(body, errors, { disallowComments: true, allowTrailingComma: false, allowEmptyContent: false });
  if (root === undefined || root.type !== 'object' || errors.length > 0) throw notAnObject();
  return { bom, body, root };
}

/** The value node of the last top-level property named `field` (last wins, as in JSON.parse). */
function lastProperty(root: Node, field: string): Node | undefined {
  let found: Node | undefined;
  for (const property of root.children ?? []) {
    const [key, value] = property.children ?? [];
    if (key?.value === field && value !== undefined) found = value;
  }
  return found;
}

/** The string held by a value node, decoded exactly as JSON.parse decodes it; throws when it is not a string. */
function stringValue(ref: StoreRef, operation: string, doc: Document, node: Node): string {
  if (node.type !== 'string') throw new StoreError('invalid', operation, ref.display, `field ${ref.field} is not a string (it is ${describe(node)})`);
  return JSON.parse(doc.body.slice(node.offset, node.offset + node.length)) as string;
}

function describe(node: Node): string {
  return node.type === 'null' ? 'null' : node.type === 'array' || node.type === 'object' ? `an ${node.type}` : `a ${node.type}`;
}

/**
 * A JSON string literal for `value`. JSON.stringify already escapes quotes, backslashes, control characters and lone
 * surrogates; U+2028 and U+2029 are escaped too, because they are legal raw in JSON but end a line in older
 * JavaScript and in some log pipelines.
 */
function jsonString(value: string): string {
  return JSON.stringify(value).replace(/[\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16)}`);
}
