import { inspect } from 'node:util';
import { fingerprint, mask } from './mask.js';
import { redactor } from './redactor.js';

export { fingerprint, mask } from './mask.js';

/**
 * A secret value in memory. It prints as its mask everywhere (template strings, JSON, console, util.inspect);
 * only `reveal()` gives the value, and it is called at the edge: an SDK call, an HTTP send, a file write.
 * Every Secret registers its value with the process-wide redactor, the second line of defence.
 */
export class Secret {
  readonly #value: string;
  readonly fingerprint: string;
  readonly mask: string;

  constructor(value: string) {
    if (typeof value !== 'string') throw new TypeError('Secret value must be a string');
    this.#value = value;
    this.fingerprint = fingerprint(value);
    this.mask = mask(value);
    redactor.add(value);
  }

  /** The value itself: for the edge only. */
  reveal(): string {
    return this.#value;
  }

  /** True when both hold the same value (compared by fingerprint, in constant time per length). */
  equals(other: Secret | undefined): boolean {
    return other !== undefined && other.fingerprint === this.fingerprint;
  }

  toString(): string {
    return this.mask;
  }

  toJSON(): string {
    return this.mask;
  }

  [inspect.custom](): string {
    return `Secret(${this.mask} ${this.fingerprint})`;
  }
}
