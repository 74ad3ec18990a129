/**
 * What rekey ships cites only what a user can open: a public URL or a file under docs/. The team's working notes
 * (the provider facts and design notes that docs/ now holds) are not part of the package, so a shipped file that names
 * them points a user at nothing. Every `docs/…#anchor` must name a heading that exists, and every relative link in
 * the shipped Markdown must reach a file and a heading, so a renamed heading breaks this test instead of a reader's
 * link. The package also ships the LICENSE its package.json names, and the docs its runbook output cites.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadRunbook } from '../../src/runbook/load.js';
import { DOCS_WHERE, renderRunbook } from '../../src/runbook/render.js';
import type { Runbook } from '../../src/contract/runbook.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Every file under `dir` (relative to the repository), recursively. */
function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(ROOT, dir))) {
    const path = join(dir, name);
    if (statSync(join(ROOT, path)).isDirectory()) out.push(...filesUnder(path));
    else out.push(path);
  }
  return out;
}

/** The files a user gets (package.json "files", minus the build output, which is made from src/) and the adapters. */
const SHIPPED = [
  ...filesUnder('src'),
  ...filesUnder('adapters'),
  ...filesUnder('runbooks'),
  ...filesUnder('docs'),
  'README.md',
  'CHANGELOG.md',
  'CONTRIBUTING.md',
].sort();

const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');

/** The anchor GitHub gives a Markdown heading: lower case, punctuation dropped, spaces as hyphens. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replace(/ /g, '-');
}

/** The anchors of a Markdown file's headings (outside code blocks), with GitHub's `-1`, `-2` for repeats. */
function anchorsOf(path: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  let fenced = false;
  for (const line of read(path).split('\n')) {
    if (/^\s*```/.test(line)) fenced = !fenced;
    const heading = fenced ? null : /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (heading === null) continue;
    const base = slug(heading[1]!);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    anchors.add(n === 0 ? base : `${base}-${n}`);
  }
  return anchors;
}

/** Whether `file#anchor` (a repository path) names an existing file and, when given, one of its headings. */
function resolves(file: string, anchor: string | undefined): boolean {
  if (!existsSync(join(ROOT, file))) return false;
  return anchor === undefined || anchorsOf(file).has(anchor);
}

/** Every `docs/<file>.md[#anchor]` a text names. */
function docsCitations(text: string): Array<{ file: string; anchor: string | undefined; cited: string }> {
  return [...text.matchAll(/(?<![\w./-])docs\/([\w.-]+\.md)(?:#([\w-]+))?/g)].map((m) => ({ file: `docs/${m[1]!}`, anchor: m[2], cited: m[0] }));
}

// The notes' names, spelled as a citation would spell them; built from parts so this file does not cite them itself.
const NOTES = ['PROVIDERS', 'DESIGN', 'STACK', 'STYLE', 'EXPERIENCE'];
const CITES_NOTES = new RegExp(`\\b(?:${NOTES.join('|')})(?:\\.md\\b|\\s+I[1-5]\\b|'s\\b)|/work/shared`);

describe('shipped files cite only what ships', () => {
  it('no shipped file (src, adapters, runbooks, docs, README, CHANGELOG, CONTRIBUTING) cites the team notes', () => {
    const offenders = SHIPPED.flatMap((path) =>
      read(path)
        .split('\n')
        .flatMap((line, i) => (CITES_NOTES.test(line) ? [`${path}:${i + 1}: ${line.trim()}`] : [])),
    );
    expect(offenders).toEqual([]);
  });

  it('the check above catches each spelling of such a citation', () => {
    for (const cited of ['(see PROVIDERS.md)', 'DESIGN.md I1–I5', "DESIGN I2's one exception", "from DESIGN's five phases", '/work/shared/DESIGN.md']) {
      expect(CITES_NOTES.test(cited), cited).toBe(true);
    }
    expect(CITES_NOTES.test('docs/design.md#i2-no-early-revoke')).toBe(false);
  });

  it('every docs/ citation in a shipped file names a file and a heading that exist', () => {
    const cited = SHIPPED.flatMap((path) => docsCitations(read(path)).map((c) => ({ ...c, in: path })));
    // The runbooks cite docs/ for their facts; if none did, this test would prove nothing about them.
    expect(cited.filter((c) => c.in.startsWith('runbooks/')).length).toBeGreaterThan(0);
    expect(cited.filter((c) => !resolves(c.file, c.anchor)).map((c) => `${c.in}: ${c.cited}`)).toEqual([]);
  });

  it('every relative link in the shipped Markdown reaches a file and, when it names one, a heading', () => {
    const markdown = SHIPPED.filter((path) => path.endsWith('.md'));
    const broken = markdown.flatMap((path) =>
      [...read(path).matchAll(/\]\(([^)\s]+)\)/g)]
        .map((m) => m[1]!)
        .filter((target) => !/^[a-z]+:/.test(target))
        .filter((target) => {
          const [file, anchor] = target.split('#') as [string, string | undefined];
          const into = file === '' ? path : relative(ROOT, resolve(ROOT, dirname(path), file));
          return !resolves(into, anchor);
        })
        .map((target) => `${path}: ${target}`),
    );
    expect(broken).toEqual([]);
  });

  it('the anchor of a heading is computed as GitHub computes it', () => {
    expect(slug('I2 no early revoke')).toBe('i2-no-early-revoke');
    expect(slug('`.env` files')).toBe('env-files');
    expect(slug('Adding a store')).toBe('adding-a-store');
  });
});

describe('rekey runbook show --format md prints only citations a user can open', () => {
  const dir = join(ROOT, 'runbooks');
  const runbooks = new Map<string, Runbook>();
  beforeAll(async () => {
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.yaml'))) runbooks.set(file.replace(/\.yaml$/, ''), await loadRunbook(join(dir, file)));
  });

  it('no runbook page names the team notes, and every docs/ citation on it resolves', () => {
    expect(runbooks.size).toBeGreaterThan(0);
    for (const [name, runbook] of runbooks) {
      const page = renderRunbook(runbook, 'md');
      expect(CITES_NOTES.test(page), name).toBe(false);
      for (const c of docsCitations(page)) expect(resolves(c.file, c.anchor), `${name}: ${c.cited}`).toBe(true);
    }
  });

  it('every provider runbook page cites its facts by public URL and by docs/providers.md, and says where docs/ is', () => {
    const providers = [...runbooks.keys()].filter((name) => !name.startsWith('sandbox'));
    expect(providers.length).toBeGreaterThan(0);
    for (const name of providers) {
      const page = renderRunbook(runbooks.get(name)!, 'md');
      const notes = page.slice(page.indexOf('## Notes and sources'));
      expect(page, name).toContain('## Notes and sources');
      expect(notes, name).toMatch(/https:\/\/[\w.-]+\//);
      expect(notes, name).toContain('docs/providers.md#');
      expect(notes, name).toContain(DOCS_WHERE);
    }
  });
});

describe('the package ships its license and its docs', () => {
  const pkg = JSON.parse(read('package.json')) as { license: string; files: string[] };

  it('LICENSE holds the full text of the license package.json names', () => {
    expect(pkg.license).toBe('Apache-2.0');
    const text = read('LICENSE');
    expect(text).toContain('Apache License');
    expect(text).toContain('Version 2.0, January 2004');
    expect(text).toContain('TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION');
    expect(text).toContain('END OF TERMS AND CONDITIONS');
  });

  it('package.json "files" includes docs/, which runbook output cites, and the LICENSE', () => {
    expect(pkg.files).toContain('docs');
    expect(pkg.files).toContain('LICENSE');
    expect(existsSync(join(ROOT, 'docs', 'providers.md'))).toBe(true);
    expect(existsSync(join(ROOT, 'docs', 'design.md'))).toBe(true);
  });

  it('CONTRIBUTING.md exists with the sections the store index points contributors at', () => {
    const anchors = anchorsOf('CONTRIBUTING.md');
    expect(anchors.has('adding-a-store')).toBe(true);
    expect(anchors.has('adding-a-runbook')).toBe(true);
    expect(read('adapters/stores/index.ts')).toContain('CONTRIBUTING');
  });
});
