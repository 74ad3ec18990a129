/** rekey's own version, from its package.json. */
import { readFileSync } from 'node:fs';

let known: string | undefined | null = null;

/**
 * The version in rekey's package.json (two levels above the sources, three above dist/), known by its `rekey` bin:
 * the package's name is @rekey-cli/rekey (the name rekey on npm is another package's). Undefined when it cannot be
 * found (a copied file, a bundle). Read once per process.
 */
export function rekeyVersion(): string | undefined {
  if (known !== null) return known;
  known = undefined;
  for (const up of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(up, import.meta.url), 'utf8')) as { version?: unknown; bin?: Record<string, string> };
      if (pkg.bin?.['rekey'] !== undefined && typeof pkg.version === 'string') {
        known = pkg.version;
        break;
      }
    } catch {
      // Not there: one more level up.
    }
  }
  return known;
}
