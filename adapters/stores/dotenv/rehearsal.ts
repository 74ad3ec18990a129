/**
 * The stand-in for a `.env` during `rekey rehearse <credential>`: a copy of the file in the rehearsal's folder, so the
 * rehearsed rotation reads, stages, promotes and retires a real file with the real layout (its quoting, `export `, its
 * line endings, the variables around it), while the real file is only read.
 *
 * The copy holds the rehearsal's seed where the real value is. Every other variable keeps its name and line with its
 * value left out, and the variable that keeps the previous value during an overlap is dropped: a copy that a failed
 * rehearsal leaves behind (it keeps its folder to be read) holds no real secret. The staged and previous sibling
 * files of a real run are not copied, for the same reason.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { RehearsalContext, RehearsalStandIn, StoreRef } from '../../../src/contract/store.js';
import type { Secret } from '../../../src/contract/secret.js';
import { placeOf } from './files.js';
import { chooseStyle, type DotenvDocument, encodeValue, lastEntry, parseDotenv, removeEntry, replaceToken, setValue } from './format.js';

/** The stand-in for one dotenv entry: see the file's header. */
export function rehearseDotenv(options: Readonly<Record<string, unknown>>, ref: StoreRef, context: RehearsalContext, seed: Secret): RehearsalStandIn {
  const previousVariable = typeof options['previousVariable'] === 'string' ? options['previousVariable'] : undefined;
  const place = placeOf(ref, 'rehearse', context, previousVariable);
  // One copy per real file, named after it: two entries of a credential in one .env share their copy, as they share the file.
  const digest = createHash('sha256').update(place.file).digest('hex').slice(0, 8);
  const copy = join(context.folder, 'stores', digest, basename(place.file));
  let text: string;
  let added = false;
  if (existsSync(copy)) {
    const doc = parseDotenv(readFileSync(copy));
    const entry = lastEntry(doc, place.variable);
    added = entry === undefined;
    text = entry === undefined ? appendLine(doc, place.variable, seed.reveal()) : setValue(doc, entry, seed.reveal());
  } else {
    const doc = parseDotenv(existsSync(place.file) ? readFileSync(place.file) : new Uint8Array());
    const seeded = lastEntry(doc, place.variable);
    added = seeded === undefined;
    text = doc.text;
    // From the last entry to the first, so that each edit leaves the offsets of the entries before it valid.
    for (const entry of [...doc.entries].reverse()) {
      const at: DotenvDocument = { ...doc, text };
      if (entry === seeded) text = setValue(at, entry, seed.reveal());
      else if (entry.key === place.previousVariable) text = removeEntry(at, entry);
      else if (entry.valueStart !== entry.valueEnd) text = replaceToken(at, entry, '');
    }
    if (seeded === undefined) text = appendLine({ ...doc, text }, place.variable, seed.reveal());
  }
  mkdirSync(join(context.folder, 'stores', digest), { recursive: true, mode: 0o700 });
  writeFileSync(copy, Buffer.from(text, 'latin1'), { mode: 0o600 });
  const values = (): string[] => {
    const doc = parseDotenv(readFileSync(copy));
    return [place.variable, place.previousVariable].flatMap((name) => {
      const entry = lastEntry(doc, name);
      return entry === undefined || entry.malformed ? [] : [entry.value];
    });
  };
  return {
    kind: 'dotenv',
    ref: `${copy}#${place.variable}`,
    options,
    description:
      `a copy of ${ref.path} in the rehearsal folder, ${place.variable} seeded with the rehearsal's key` +
      `${added ? ` (the real file does not set ${place.variable}: added to the copy)` : ''}; the other variables are kept by name, their values left out`,
    watched: [place.file],
    values,
  };
}

/** The document's text with `NAME=value` added as a last line. */
function appendLine(doc: DotenvDocument, name: string, value: string): string {
  const ending = doc.text === '' || doc.text.endsWith('\n') ? '' : doc.eol;
  return `${doc.text}${ending}${name}=${encodeValue(chooseStyle('none', value), value)}${doc.eol}`;
}
