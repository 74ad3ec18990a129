/**
 * Nothing outside adapters/stores/ names a store kind: what one store needs is said by its adapter (validateRef,
 * files, describe, options) or its capabilities, and the engine, the config loader, the CLI and the leak search read
 * those. This test reads the kinds from the registry and fails on any of them written as code in src/ (a quoted kind,
 * or `kind:` as in a config line), outside the allow-list below. Comments are left out.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { storeKinds } from '../../adapters/stores/index.js';

const root = join(import.meta.dirname, '../..');

/** Files that may name a kind, and why. */
const ALLOWED: Readonly<Record<string, string>> = {
  'src/cli/rehearse.ts': 'writes a rehearsal rekey.yaml whose store is a .env: config data, not a branch on a kind',
  'src/cli/init.ts': "writes a rekey.yaml whose stores are the project's .env files: config data, not a branch on a kind",
};

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** The code of a file without its comments (block and line comments; a `//` inside a string such as a URL is kept). */
function code(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`\\])\/\/.*$/gm, '$1');
}

const literal = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const patterns = storeKinds.map((kind) => ({ kind, pattern: new RegExp(`(['"\`])${literal(kind)}\\1|(?<![\\w-])${literal(kind)}:(?!\\/)`) }));

/** Where a kind is named in one file's code: `kind at line N`. */
function namedKinds(text: string): string[] {
  return code(text)
    .split('\n')
    .flatMap((line, i) => patterns.filter(({ pattern }) => pattern.test(line)).map(({ kind }) => `${kind} at line ${i + 1}`));
}

describe('store kinds are named only in adapters/stores/', () => {
  it('the check finds a quoted kind and a config line, and ignores comments (so it can fail)', () => {
    const kind = storeKinds[0]!;
    expect(namedKinds(`if (ref.kind === '${kind}') x();`)).toEqual([`${kind} at line 1`]);
    expect(namedKinds(`const yaml = '  - ${kind}: ./x';`)).toEqual([`${kind} at line 1`]);
    expect(namedKinds(`/** such as \`${kind}\` */\n// ${kind}: here\nconst a = 1;`)).toEqual([]);
  });

  it('no file in src/ names a store kind, outside the allow-list', () => {
    const found = sources(join(root, 'src'))
      .map((path) => ({ file: relative(root, path).split('\\').join('/'), hits: namedKinds(readFileSync(path, 'utf8')) }))
      .filter(({ file, hits }) => hits.length > 0 && ALLOWED[file] === undefined)
      .map(({ file, hits }) => `${file}: ${hits.join(', ')}`);
    expect(found, 'use an adapter hook (validateRef, files, describe) or a capability instead of naming a kind').toEqual([]);
  });

  it('every allowed file still names a kind (an allow-list entry that is no longer needed goes)', () => {
    for (const file of Object.keys(ALLOWED)) expect(namedKinds(readFileSync(join(root, file), 'utf8')), file).not.toEqual([]);
  });
});
