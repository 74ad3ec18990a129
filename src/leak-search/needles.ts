/**
 * What the leak search looks for: the value and its base64 spellings, as bytes, and where they occur in a buffer.
 * Needles stay in this process (I3): nothing here hands them to a child.
 */

export interface Needle {
  readonly bytes: Buffer;
  readonly text: string;
  readonly encoding: 'raw' | 'base64';
}

/** The value and its base64 spellings at each byte alignment (only those long enough not to match by chance). */
export function needlesFor(value: string): Needle[] {
  const raw = Buffer.from(value, 'utf8');
  const needles: Needle[] = [{ bytes: raw, text: value, encoding: 'raw' }];
  for (let k = 0; k < 3; k++) {
    const encoded = Buffer.concat([Buffer.alloc(k), raw]).toString('base64');
    // Drop the first group when it mixes in bytes before the value, and the last one when it is padded (the bytes
    // after the value would change it): what is left is the same wherever the value sits at this alignment.
    const start = k === 0 ? 0 : 4;
    const end = (k + raw.length) % 3 === 0 ? encoded.length : encoded.length - 4;
    const core = encoded.slice(start, Math.max(start, end));
    if (core.length >= 16 && !needles.some((n) => n.text === core)) needles.push({ bytes: Buffer.from(core, 'latin1'), text: core, encoding: 'base64' });
  }
  return needles;
}

/** Where the needles occur in a buffer: 1-based lines (at most 5), and whether only base64 spellings matched. */
export function findIn(buffer: Buffer, needles: readonly Needle[]): { lines: number[]; encoding?: 'base64' } | undefined {
  const hits: Array<{ index: number; raw: boolean }> = [];
  for (const needle of needles) {
    for (let i = buffer.indexOf(needle.bytes); i !== -1 && hits.length < 100; i = buffer.indexOf(needle.bytes, i + 1))
      hits.push({ index: i, raw: needle.encoding === 'raw' });
  }
  if (hits.length === 0) return undefined;
  hits.sort((a, b) => a.index - b.index);
  const lines: number[] = [];
  let line = 1;
  let from = 0;
  for (const { index } of hits) {
    for (let nl = buffer.indexOf(10, from); nl !== -1 && nl < index; nl = buffer.indexOf(10, from)) {
      line++;
      from = nl + 1;
    }
    if (lines.at(-1) !== line) lines.push(line);
    if (lines.length === 5) break;
  }
  return hits.some((h) => h.raw) ? { lines } : { lines, encoding: 'base64' };
}
