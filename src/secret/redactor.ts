import { mask } from './mask.js';

/**
 * The redactor scrubs every secret value known to this process from text before it is printed or written.
 * It is the second line of defence: the first is that values live in `Secret`, which never prints itself.
 */
export class Redactor {
  // Kept longest first so that a value containing another is replaced whole.
  #needles: Array<{ form: string; replacement: string }> = [];
  #seen = new Set<string>();

  /** Remember a value (and its URL- and JSON-encoded spellings) so that `scrub` removes it. */
  add(value: string): void {
    // Very short values would scrub ordinary words; secrets that short are refused by runbook patterns.
    if (value.length < 6) return;
    const replacement = `[redacted ${mask(value)}]`;
    for (const form of spellings(value)) {
      if (this.#seen.has(form)) continue;
      this.#seen.add(form);
      this.#needles.push({ form, replacement });
    }
    this.#needles.sort((a, b) => b.form.length - a.form.length);
  }

  /** Text with every known value replaced by `[redacted …last4]`. */
  scrub(text: string): string {
    let out = text;
    for (const { form, replacement } of this.#needles) {
      if (out.includes(form)) out = out.split(form).join(replacement);
    }
    return out;
  }

  /** Whether any known value occurs in the text. */
  leaks(text: string): boolean {
    return this.#needles.some(({ form }) => text.includes(form));
  }
}

function spellings(value: string): string[] {
  return [...new Set([value, encodeURIComponent(value), JSON.stringify(value).slice(1, -1)])];
}

/** The process-wide redactor that every `Secret` registers with. */
export const redactor = new Redactor();
