/**
 * The ignore patterns the README tells users to add (its first ```gitignore block), checked with git itself: a file
 * rekey leaves is covered only if `git check-ignore` says so against a .gitignore made of exactly those lines.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../..');

/** The lines of the README's first ```gitignore block (empty when there is none). */
export function readmeIgnorePatterns(): string[] {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const block = /^```gitignore\n([\s\S]*?)^```/m.exec(readme);
  return block === null ? [] : block[1]!.split('\n').filter((line) => line.trim() !== '' && !line.startsWith('#'));
}

/** Make `dir` a git repository whose .gitignore holds the README's patterns and nothing else. */
export function gitRepoWithReadmeIgnores(dir: string): void {
  execFileSync('git', ['init', '-q', dir], { stdio: 'ignore' });
  writeFileSync(join(dir, '.gitignore'), `${readmeIgnorePatterns().join('\n')}\n`);
}

/** Whether git ignores `path` (relative to the repository `dir`). */
export function gitIgnores(dir: string, path: string): boolean {
  return spawnSync('git', ['check-ignore', '-q', path], { cwd: dir, stdio: 'ignore' }).status === 0;
}
