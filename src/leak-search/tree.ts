/**
 * The working-tree part of the leak search: tracked and untracked files (`git ls-files`), then files git ignores,
 * reported apart; or, outside a repository, every file under the folder. Files the stores write (their own `files`)
 * and the atomic writer's temporary files (src/util/atomic-file.ts) are left out: they hold values on purpose during
 * a run, a temporary one may be another process rewriting a shared file this instant, and one a killed writer left is
 * removed by the store's sweep at the start of the run.
 */
import { lstat, readdir, readFile } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import type { FileHit, FileKind } from '../contract/leaks.js';
import { isAtomicTempFile } from '../util/atomic-file.js';
import { run } from './git.js';
import type { LeakSearchLimits } from './limits.js';
import type { Matcher } from './needles.js';
import { sizeWords } from './words.js';

/** Folder names never descended into. */
export const SKIP_DIRS = new Set(['.git', 'node_modules', '.rekey']);

/** What the whole search has read so far and where it stopped early, shared by the tree and the history. */
export interface ScanState {
  bytes: number;
  files: number;
  blobs: number;
  readonly stopped: string[];
}

export interface TreeScanOptions {
  /** What is looked for in each file. */
  readonly match: Matcher;
  readonly limits: LeakSearchLimits;
  /** Absolute paths (files or folders) never searched: rekey's state folder, the stores' own files. */
  readonly exclude: ReadonlySet<string>;
  readonly scrub: (text: string) => string;
  readonly state: ScanState;
  readonly deadline: number;
}

/** The scan of files on disk, and what it found. */
export class TreeScan {
  readonly files: FileHit[] = [];
  total = 0;
  large = 0;
  /** Store files and temporary files left out, as shown. */
  readonly ownSkipped = new Set<string>();
  /** Store files that git tracks: the likeliest way a key leaks. */
  readonly trackedStores = new Set<string>();

  constructor(private readonly options: TreeScanOptions) {}

  overTime(): boolean {
    return performance.now() > this.options.deadline;
  }

  overBytes(): boolean {
    return this.options.state.bytes > this.options.limits.maxBytes;
  }

  limitWords(): string {
    return this.overTime() ? `stopped after ${Math.round(this.options.limits.maxMs / 1000)}s` : `stopped after ${sizeWords(this.options.limits.maxBytes)}`;
  }

  /** Scan one file; false when a limit is reached. */
  async scanFile(absolute: string, shown: string, kind: FileKind): Promise<boolean> {
    const { exclude, limits, state, match } = this.options;
    if (this.overTime() || this.overBytes()) return false;
    if (exclude.has(absolute) || isAtomicTempFile(absolute)) {
      this.ownSkipped.add(shown);
      if (kind === 'tracked' && exclude.has(absolute)) this.trackedStores.add(shown);
      return true;
    }
    const info = await lstat(absolute).catch(() => undefined);
    if (info === undefined || !info.isFile()) return true;
    if (info.size > limits.maxFileBytes) {
      this.large++;
      return true;
    }
    const content = await readFile(absolute).catch(() => undefined);
    if (content === undefined) return true;
    state.files++;
    state.bytes += content.length;
    const hit = match(content);
    if (hit !== undefined) {
      this.total++;
      if (this.files.length < limits.maxFindings) this.files.push({ path: this.options.scrub(shown), kind, ...hit });
    }
    return true;
  }

  /** Scan the files under a folder (skipping .git, node_modules, rekey's state); false when a limit is reached. */
  async walk(dir: string, base: string, kind: FileKind): Promise<boolean> {
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
    entries.sort((a, b) => a.name.localeCompare(b.name));
    for (const entry of entries) {
      const absolute = join(dir, entry.name);
      if (entry.isDirectory()) {
        if (SKIP_DIRS.has(entry.name) || this.options.exclude.has(absolute)) continue;
        if (!(await this.walk(absolute, base, kind))) return false;
      } else if (entry.isFile()) {
        if (!(await this.scanFile(absolute, relative(base, absolute).split(sep).join('/'), kind))) return false;
      }
    }
    return true;
  }

  /**
   * The working tree of the repository at `root`: tracked and untracked files git does not ignore, then (cheap,
   * local, never committed) the files it ignores, before the history, so that a limit the history reaches never
   * leaves them out. Returns whether the tracked and untracked files were all listed and scanned.
   */
  async searchRepository(gitBin: string, root: string, env: NodeJS.ProcessEnv): Promise<boolean> {
    const { state, deadline } = this.options;
    // 1. The working tree: tracked and untracked files that git does not ignore.
    const listed = await run(gitBin, ['-C', root, 'ls-files', '-z', '-t', '-co', '--exclude-standard'], { env, deadline });
    let treeDone = listed.code === 0;
    if (treeDone) {
      for (const entry of listed.stdout.toString('utf8').split('\0')) {
        if (entry.length < 3) continue;
        const path = entry.slice(2);
        if (path.split('/').some((part) => SKIP_DIRS.has(part))) continue;
        if (!(await this.scanFile(join(root, path), path, entry[0] === '?' ? 'untracked' : 'tracked'))) {
          treeDone = false;
          break;
        }
      }
    }
    if (!treeDone) {
      state.stopped.push(
        listed.code === 0
          ? `${this.limitWords()}: not every file of the working tree was searched`
          : listed.timedOut
            ? `${this.limitWords()}: the working tree was not searched`
            : 'the working tree could not be listed',
      );
    }

    // 2. Files git ignores (a `.env.bak`, a local dump): never committed, but on this disk. Reported apart.
    if (treeDone && !this.overTime() && !this.overBytes()) {
      const ignored = await run(gitBin, ['-C', root, 'ls-files', '-z', '-o', '-i', '--exclude-standard', '--directory'], { env, deadline });
      let ignoredDone = ignored.code === 0;
      for (const path of ignoredDone ? ignored.stdout.toString('utf8').split('\0') : []) {
        if (path === '' || path.split('/').some((part) => SKIP_DIRS.has(part))) continue;
        const absolute = join(root, path);
        const ok = path.endsWith('/')
          ? this.options.exclude.has(absolute.slice(0, -1)) || (await this.walk(absolute.slice(0, -1), root, 'ignored'))
          : await this.scanFile(absolute, path, 'ignored');
        if (!ok) {
          ignoredDone = false;
          break;
        }
      }
      if (!ignoredDone) state.stopped.push(`${this.limitWords()}: files git ignores were searched in part`);
    } else if (treeDone) {
      state.stopped.push('files git ignores were not searched');
    }
    return treeDone;
  }
}
