/**
 * The leak search of `rekey incident`: where the leaked (old) value is in the working tree and in the git history of
 * the repository around rekey.yaml. It reports fingerprints, paths, line numbers and commit ids, dates and subjects;
 * never the value.
 *
 * I3 is absolute here: the value never leaves this process. It is not in any child's arguments (no `git grep <value>`,
 * no `git log -S<value>`), nor in any child's environment (a variable that holds a known secret is dropped before git
 * starts), nor on any child's stdin. Git is asked only for object ids and file contents, and the comparison happens
 * here, in memory:
 *  - working tree: `git ls-files -z -t -co --exclude-standard` (tracked and untracked files), each file read and
 *    scanned; then files git ignores (`.env.bak`), reported apart, since they were never committed — before the
 *    history, so that a limit the history reaches never leaves these cheap local files out;
 *  - history: `git rev-list --all --reflog --objects --missing=allow-promisor` piped into `git cat-file
 *    --batch-check`, then every blob up to 100 MB streamed out of `git cat-file --batch` and scanned (a partial
 *    clone's missing objects are never fetched); for each blob that holds the value, the commits that
 *    added it come from `git log --find-object=<blob id>` (a content hash, safe to pass).
 * Not a git repository, or no git: the files under the folder are scanned, and the result says so.
 * `.git`, `node_modules`, rekey's state folder and rekey's own store files are skipped. The work is bounded (time,
 * bytes), so an incident is never stuck behind a search: a search that stops early says what it did not cover.
 *
 * Besides the value itself, its base64 spellings are searched for (a Kubernetes Secret manifest, a base64 .env blob),
 * at each of the three byte alignments.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { lstat, readdir, readFile } from 'node:fs/promises';
import { join, relative, resolve, sep } from 'node:path';
import { redactor } from '../contract/redactor.js';
import type { Secret } from '../contract/secret.js';
import type { CommitHit, FileHit, FileKind, LeakSearchResult } from '../contract/leaks.js';
import { ago } from '../util/time.js';

export interface LeakSearchLimits {
  /** Stop after this long, saying what was not searched. */
  readonly maxMs: number;
  /** Stop after reading this many bytes (files and blobs together). */
  readonly maxBytes: number;
  /** Skip files and blobs larger than this. */
  readonly maxFileBytes: number;
  /** Keep at most this many files and this many blobs with a hit (the totals are still counted). */
  readonly maxFindings: number;
}

export const DEFAULT_LIMITS: LeakSearchLimits = { maxMs: 20_000, maxBytes: 1024 ** 3, maxFileBytes: 100 * 1024 ** 2, maxFindings: 20 };

export interface LeakSearchOptions {
  /** The folder of rekey.yaml: the repository around it is searched (or the folder itself). */
  readonly folder: string;
  /** The value to look for. */
  readonly value: Secret;
  /** Absolute paths never searched in the working tree: rekey's state folder, its store files. */
  readonly exclude?: readonly string[];
  readonly limits?: Partial<LeakSearchLimits>;
  /** The git executable (default `git`, found on PATH). */
  readonly git?: string;
  /** The environment git starts from (default process.env); variables holding a known secret are dropped. */
  readonly env?: NodeJS.ProcessEnv;
}

/** Folder names never descended into. */
const SKIP_DIRS = new Set(['.git', 'node_modules', '.rekey']);
/**
 * rekey's own files beside a .env store: they hold values on purpose during a run. A temporary file
 * (`*.rekey-tmp`, see src/util/atomic-file.ts) may be another process rewriting a shared .env this instant; one a
 * killed writer left is removed by the store's sweep at the start of the run.
 */
const OWN_FILE = /\.rekey-(staged|previous|tmp)$/;
const OBJECT_ID = /^[0-9a-f]{40}(?:[0-9a-f]{24})?$/;

interface Needle {
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

/** Search the working tree and git history around `folder` for the value. Never throws for what it finds on disk. */
export async function searchLeak(options: LeakSearchOptions): Promise<LeakSearchResult> {
  const limits: LeakSearchLimits = { ...DEFAULT_LIMITS, ...options.limits };
  const started = performance.now();
  const deadline = started + limits.maxMs;
  const secret = options.value.reveal();
  const needles = needlesFor(secret);
  const scrub = (text: string): string => {
    let out = text;
    for (const n of needles) if (out.includes(n.text)) out = out.split(n.text).join(`[redacted ${options.value.mask}]`);
    return redactor.scrub(out);
  };
  const env = childEnv(options.env ?? process.env, needles);
  const gitBin = options.git ?? 'git';
  const folder = resolve(options.folder);
  const exclude = new Set((options.exclude ?? []).map((p) => resolve(p)));
  const state = { bytes: 0, files: 0, blobs: 0, stopped: [] as string[] };
  const skipped: string[] = [];
  const files: FileHit[] = [];
  let fileTotal = 0;
  const overTime = () => performance.now() > deadline;
  const overBytes = () => state.bytes > limits.maxBytes;
  const limitWords = () => (overTime() ? `stopped after ${Math.round(limits.maxMs / 1000)}s` : `stopped after ${sizeWords(limits.maxBytes)}`);
  let large = 0;
  let largeBlobs = 0;
  const ownSkipped = new Set<string>();
  const trackedStores = new Set<string>();

  /** Scan one file; false when a limit is reached. */
  const scanFile = async (absolute: string, shown: string, kind: FileKind): Promise<boolean> => {
    if (overTime() || overBytes()) return false;
    if (exclude.has(absolute) || OWN_FILE.test(absolute)) {
      ownSkipped.add(shown);
      if (kind === 'tracked' && exclude.has(absolute)) trackedStores.add(shown);
      return true;
    }
    const info = await lstat(absolute).catch(() => undefined);
    if (info === undefined || !info.isFile()) return true;
    if (info.size > limits.maxFileBytes) {
      large++;
      return true;
    }
    const content = await readFile(absolute).catch(() => undefined);
    if (content === undefined) return true;
    state.files++;
    state.bytes += content.length;
    const hit = findIn(content, needles);
    if (hit !== undefined) {
      fileTotal++;
      if (files.length < limits.maxFindings) files.push({ path: scrub(shown), kind, ...hit });
    }
    return true;
  };

  /** Scan the files under a folder (skipping .git, node_modules, rekey's state); false when a limit is reached. */
  const walk = async (dir: string, base: string, kind: FileKind): Promise<boolean> => {
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
    entries.sort((a, b) => a.name.localeCompare(b.name));
    for (const entry of entries) {
      const absolute = join(dir, entry.name);
      if (entry.isDirectory()) {
        if (SKIP_DIRS.has(entry.name) || exclude.has(absolute)) continue;
        if (!(await walk(absolute, base, kind))) return false;
      } else if (entry.isFile()) {
        if (!(await scanFile(absolute, relative(base, absolute).split(sep).join('/'), kind))) return false;
      }
    }
    return true;
  };

  const finish = (
    root: string,
    git: LeakSearchResult['git'],
    commits: CommitHit[],
    totals: { blobs: number; commits: number },
    complete: LeakSearchResult['complete'],
    note?: string,
  ): LeakSearchResult => {
    if (ownSkipped.size > 0) skipped.push(`rekey's own store files: ${[...ownSkipped].sort().join(', ')}`);
    if (large > 0) skipped.push(`${large} file${large === 1 ? '' : 's'} over ${sizeWords(limits.maxFileBytes)}`);
    if (largeBlobs > 0) skipped.push(`${largeBlobs} object${largeBlobs === 1 ? '' : 's'} over ${sizeWords(limits.maxFileBytes)} in git history`);
    const order: Record<FileKind, number> = { tracked: 0, file: 0, untracked: 1, ignored: 2 };
    files.sort((a, b) => order[a.kind] - order[b.kind]);
    return {
      root,
      git,
      ...(note === undefined ? {} : { note }),
      files,
      commits,
      totals: { files: fileTotal, blobs: totals.blobs, commits: totals.commits },
      skipped,
      trackedStores: [...trackedStores].sort(),
      ...(state.stopped.length === 0 ? {} : { incomplete: state.stopped.join('; ') }),
      complete,
      scanned: { files: state.files, blobs: state.blobs, bytes: state.bytes, ms: Math.round(performance.now() - started) },
    };
  };

  // Is the folder in a repository, and is there a git at all?
  const top = await run(gitBin, ['-C', folder, 'rev-parse', '--show-toplevel'], { env, deadline });
  if (top.timedOut) {
    // Out of time before git even answered: nothing was searched, and nothing may be reported as "not in".
    state.stopped.push(`${limitWords()}: nothing was searched`);
    return finish(folder, 'error', [], { blobs: 0, commits: 0 }, { tree: false, history: false }, 'the search ran out of time before git answered');
  }
  if (top.error !== undefined || top.code !== 0) {
    const missing = top.error !== undefined && (top.error as NodeJS.ErrnoException).code === 'ENOENT';
    const dubious = /dubious ownership/.test(top.stderr);
    const git: LeakSearchResult['git'] = missing ? 'no-git' : dubious || top.error !== undefined ? 'error' : 'no-repository';
    const note = missing
      ? 'git is not installed'
      : dubious
        ? 'git refuses this repository (dubious ownership)'
        : top.error !== undefined
          ? `git did not run (${top.error.message})`
          : 'not a git repository';
    const walked = await walk(folder, folder, 'file');
    if (!walked) state.stopped.push(`${limitWords()}: not every file under ${folder} was searched`);
    return finish(
      folder,
      git,
      [],
      { blobs: 0, commits: 0 },
      { tree: walked, history: false },
      `${note}: searched the files under ${folder} only, not git history`,
    );
  }
  const root = top.stdout.toString('utf8').trim();

  // 1. The working tree: tracked and untracked files that git does not ignore.
  const listed = await run(gitBin, ['-C', root, 'ls-files', '-z', '-t', '-co', '--exclude-standard'], { env, deadline });
  let treeDone = listed.code === 0;
  if (treeDone) {
    for (const entry of listed.stdout.toString('utf8').split('\0')) {
      if (entry.length < 3) continue;
      const path = entry.slice(2);
      if (path.split('/').some((part) => SKIP_DIRS.has(part))) continue;
      if (!(await scanFile(join(root, path), path, entry[0] === '?' ? 'untracked' : 'tracked'))) {
        treeDone = false;
        break;
      }
    }
  }
  if (!treeDone) {
    state.stopped.push(
      listed.code === 0
        ? `${limitWords()}: not every file of the working tree was searched`
        : listed.timedOut
          ? `${limitWords()}: the working tree was not searched`
          : 'the working tree could not be listed',
    );
  }

  // A file skipped for its size leaves the working tree searched in part: never report it as "not in" it.
  const treeComplete = treeDone && large === 0;

  // 2. Files git ignores (a `.env.bak`, a local dump): never committed, but on this disk, and cheap to read: before
  // the history, so that a limit the history reaches never leaves them out. Reported apart.
  if (treeDone && !overTime() && !overBytes()) {
    const ignored = await run(gitBin, ['-C', root, 'ls-files', '-z', '-o', '-i', '--exclude-standard', '--directory'], { env, deadline });
    let ignoredDone = ignored.code === 0;
    for (const path of ignoredDone ? ignored.stdout.toString('utf8').split('\0') : []) {
      if (path === '' || path.split('/').some((part) => SKIP_DIRS.has(part))) continue;
      const absolute = join(root, path);
      const ok = path.endsWith('/')
        ? exclude.has(absolute.slice(0, -1)) || (await walk(absolute.slice(0, -1), root, 'ignored'))
        : await scanFile(absolute, path, 'ignored');
      if (!ok) {
        ignoredDone = false;
        break;
      }
    }
    if (!ignoredDone) state.stopped.push(`${limitWords()}: files git ignores were searched in part`);
  } else if (treeDone) {
    state.stopped.push('files git ignores were not searched');
  }
  // 3. History: every blob reachable from a ref or a reflog entry.
  // A partial clone holds only some objects; the rest would be downloaded one by one from its remote: never that.
  const partial = treeDone ? await run(gitBin, ['-C', root, 'config', '--get', 'extensions.partialClone'], { env, deadline }) : undefined;
  const partialClone = partial?.code === 0 && partial.stdout.toString('utf8').trim() !== '';
  const history = treeDone
    ? await searchHistory(gitBin, root, env, deadline, limits, needles, state)
    : { hits: new Map<string, { lines: number[]; encoding?: 'base64' }>(), total: 0, oversize: 0, stopped: 'git history was not searched' };
  if (history.stopped !== undefined)
    state.stopped.push(history.stopped === 'limit' ? `${limitWords()}: git history was searched in part (${state.blobs} blobs)` : history.stopped);
  const commits = new Map<string, CommitHit>();
  let lookedUp = 0;
  let historyDone = treeDone && history.stopped === undefined;
  for (const [blob, hit] of history.hits) {
    if (overTime()) {
      historyDone = false;
      state.stopped.push(
        `${limitWords()}: the commits of ${history.hits.size - lookedUp} of ${history.hits.size} objects holding the value were not looked up`,
      );
      break;
    }
    const adding = await commitsAdding(gitBin, root, blob, env, deadline);
    if (adding.length === 0 && overTime()) {
      historyDone = false;
      state.stopped.push(
        `${limitWords()}: the commits of ${history.hits.size - lookedUp} of ${history.hits.size} objects holding the value were not looked up`,
      );
      break;
    }
    lookedUp++;
    for (const found of adding) {
      const key = `${found.commit}\0${found.path}`;
      if (!commits.has(key))
        commits.set(key, {
          commit: found.commit,
          date: found.date,
          subject: scrub(found.subject),
          path: scrub(found.path),
          lines: hit.lines,
          ...(hit.encoding ? { encoding: hit.encoding } : {}),
        });
    }
  }
  const sorted = [...commits.values()].sort((a, b) => Date.parse(a.date) - Date.parse(b.date));

  largeBlobs = history.oversize;
  if (partialClone) {
    state.stopped.push('this is a partial clone: objects never downloaded from its remote were not searched (nothing is fetched during an incident)');
    historyDone = false;
  }
  return finish(
    root,
    'repository',
    sorted.slice(0, limits.maxFindings),
    { blobs: history.total, commits: sorted.length },
    { tree: treeComplete, history: historyDone && largeBlobs === 0 },
  );
}

/** Scan every reachable blob; the blobs holding the value, by id. */
async function searchHistory(
  gitBin: string,
  root: string,
  env: NodeJS.ProcessEnv,
  deadline: number,
  limits: LeakSearchLimits,
  needles: readonly Needle[],
  state: { bytes: number; blobs: number },
): Promise<{ hits: Map<string, { lines: number[]; encoding?: 'base64' }>; total: number; oversize: number; stopped?: string }> {
  const hits = new Map<string, { lines: number[]; encoding?: 'base64' }>();
  let total = 0;
  const oversize = new Set<string>();
  // rev-list's object list goes straight into batch-check's stdin: ids only, in a pipe this process holds.
  const blobs: string[] = [];
  const listed = await new Promise<{ ok: boolean; timedOut: boolean }>((done) => {
    // --missing=allow-promisor: in a partial clone, objects never downloaded are left out, never fetched mid-incident.
    const list = spawn(gitBin, ['-C', root, 'rev-list', '--all', '--reflog', '--objects', '--missing=allow-promisor'], {
      env,
      stdio: ['ignore', 'pipe', 'ignore'],
      detached: true,
    });
    const check = spawn(gitBin, ['-C', root, 'cat-file', '--batch-check=%(objectname) %(objecttype) %(objectsize) %(rest)'], {
      env,
      stdio: ['pipe', 'pipe', 'ignore'],
      detached: true,
    });
    let timedOut = false;
    const timer = setTimeout(
      () => {
        timedOut = true;
        killGroup(list);
        killGroup(check);
      },
      Math.max(0, deadline - performance.now()),
    );
    // rev-list prints `<id> <path>`: with %(rest) in its format, batch-check splits the id from the path.
    list.stdout.pipe(check.stdin);
    check.stdin.on('error', () => undefined);
    let rest = '';
    check.stdout.setEncoding('latin1').on('data', (chunk: string) => {
      const lines = (rest + chunk).split('\n');
      rest = lines.pop() ?? '';
      for (const line of lines) {
        const [id, type, size] = line.split(' ');
        if (type !== 'blob' || id === undefined) continue;
        if (Number(size) <= limits.maxFileBytes) blobs.push(id);
        else oversize.add(id);
      }
    });
    const ended = new Set<unknown>();
    let failed = false;
    const end = (which: unknown, code: number | null) => {
      if (ended.has(which)) return;
      ended.add(which);
      if (code !== 0) failed = true;
      if (ended.size === 2) {
        clearTimeout(timer);
        done({ ok: !failed && !timedOut, timedOut });
      }
    };
    list.on('error', () => end(list, 1)).on('close', (code) => end(list, code));
    check.on('error', () => end(check, 1)).on('close', (code) => end(check, code));
  });
  if (!listed.ok) return { hits, total, oversize: oversize.size, stopped: listed.timedOut ? 'limit' : 'git history could not be listed' };

  const unique = [...new Set(blobs)];
  const stopped = await new Promise<string | undefined>((done) => {
    if (unique.length === 0) return done(undefined);
    const batch = spawn(gitBin, ['-C', root, 'cat-file', '--batch'], { env, stdio: ['pipe', 'pipe', 'ignore'], detached: true });
    let result: string | undefined;
    const stop = (why: string) => {
      if (result === undefined) result = why;
      killGroup(batch);
    };
    const timer = setTimeout(() => stop('limit'), Math.max(0, deadline - performance.now()));
    batch.stdin.on('error', () => undefined);
    batch.stdin.end(`${unique.join('\n')}\n`);
    let header: Buffer[] = [];
    let current: { id: string; size: number; buffer: Buffer; filled: number } | undefined;
    batch.stdout.on('data', (chunk: Buffer) => {
      let offset = 0;
      while (offset < chunk.length && result === undefined) {
        if (current === undefined) {
          const nl = chunk.indexOf(10, offset);
          if (nl === -1) {
            header.push(chunk.subarray(offset));
            break;
          }
          const line = Buffer.concat([...header, chunk.subarray(offset, nl)]).toString('latin1');
          header = [];
          offset = nl + 1;
          const [id, type, size] = line.split(' ');
          if (id === undefined || type === 'missing' || size === undefined) continue;
          current = { id, size: Number(size), buffer: Buffer.allocUnsafe(Number(size) + 1), filled: 0 };
        } else {
          const take = Math.min(current.buffer.length - current.filled, chunk.length - offset);
          chunk.copy(current.buffer, current.filled, offset, offset + take);
          current.filled += take;
          offset += take;
          if (current.filled === current.buffer.length) {
            const content = current.buffer.subarray(0, current.size);
            state.blobs++;
            state.bytes += current.size;
            const hit = findIn(content, needles);
            if (hit !== undefined) {
              total++;
              if (hits.size < limits.maxFindings) hits.set(current.id, hit);
            }
            current = undefined;
            if (performance.now() > deadline || state.bytes > limits.maxBytes) stop('limit');
          }
        }
      }
    });
    let settled = false;
    const settle = (code: number | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (result === undefined && code !== 0) result = 'git history could not be read';
      done(result);
    };
    batch.on('error', (error) => {
      stop(`git cat-file did not run (${error.message})`);
      settle(null);
    });
    batch.on('close', settle);
  });
  return { hits, total, oversize: oversize.size, ...(stopped === undefined ? {} : { stopped }) };
}

/** The commits (any ref, or the reflog) whose change made a path hold this blob. */
async function commitsAdding(
  gitBin: string,
  root: string,
  blob: string,
  env: NodeJS.ProcessEnv,
  deadline: number,
): Promise<Array<{ commit: string; date: string; subject: string; path: string }>> {
  if (!OBJECT_ID.test(blob)) return [];
  const log = await run(
    gitBin,
    ['-C', root, 'log', '--all', '--reflog', '--no-abbrev', '--raw', '--no-renames', '-z', '--format=%x01%H%x1f%cI%x1f%s', `--find-object=${blob}`],
    { env, deadline },
  );
  if (log.code !== 0) return [];
  const found: Array<{ commit: string; date: string; subject: string; path: string }> = [];
  for (const record of log.stdout.toString('utf8').split('\x01')) {
    if (record === '') continue;
    const headerEnd = record.indexOf('\0');
    const [commit = '', date = '', subject = ''] = (headerEnd === -1 ? record : record.slice(0, headerEnd)).split('\x1f');
    const fields =
      headerEnd === -1
        ? []
        : record
            .slice(headerEnd + 1)
            .replace(/^\n/, '')
            .split('\0');
    for (let i = 0; i + 1 < fields.length; i += 2) {
      // `:100644 100644 <before> <after> M` then the path: the blob is `after` when this change put it there.
      const meta = fields[i]!.replace(/^\n/, '').split(' ');
      if (meta[3] === blob) found.push({ commit, date, subject, path: fields[i + 1]! });
    }
  }
  return found;
}

/** The environment for git: the caller's, without any variable whose value holds a secret this process knows. */
function childEnv(base: NodeJS.ProcessEnv, needles: readonly Needle[]): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(base)) {
    if (value === undefined || redactor.leaks(value) || needles.some((n) => value.includes(n.text))) continue;
    env[name] = value;
  }
  // Read-only: no index refresh (which would take a lock), never a prompt, no pager.
  // GIT_NO_LAZY_FETCH: a partial clone must not download from its remote in the middle of an incident (git ≥ 2.45;
  // older gits ignore it, and rev-list's --missing=allow-promisor keeps missing objects out of the list anyway).
  return { ...env, GIT_OPTIONAL_LOCKS: '0', GIT_TERMINAL_PROMPT: '0', GIT_PAGER: 'cat', LC_ALL: 'C', GIT_NO_LAZY_FETCH: '1' };
}

/**
 * End a git started with `detached: true` (a process group of its own), the whole group: a wrapper script (a version
 * manager's shim) or a helper git starts would otherwise live on, holding the pipes open, and the search would wait.
 */
function killGroup(child: ChildProcess): void {
  try {
    if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
  } catch {
    child.kill('SIGKILL');
  }
}

/** Run git to completion (killed at the deadline), collecting stdout. */
function run(
  bin: string,
  args: readonly string[],
  options: { env: NodeJS.ProcessEnv; deadline: number },
): Promise<{ code: number | null; stdout: Buffer; stderr: string; error?: Error; timedOut: boolean }> {
  return new Promise((done) => {
    const child = spawn(bin, args, { env: options.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const out: Buffer[] = [];
    let stderr = '';
    let error: Error | undefined;
    let timedOut = false;
    const timer = setTimeout(
      () => {
        timedOut = true;
        killGroup(child);
      },
      Math.max(0, options.deadline - performance.now()),
    );
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    let settled = false;
    const settle = (code: number | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      done({ code, stdout: Buffer.concat(out), stderr, timedOut, ...(error === undefined ? {} : { error }) });
    };
    // A git that cannot start reports 'error' (and may or may not report 'close' after it).
    child.on('error', (e) => {
      error = e;
      settle(null);
    });
    child.on('close', settle);
  });
}

/** `1 file`, `3 files`. */
export function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

/** `100 MB`, `49 KB`, `900 bytes`. */
function sizeWords(bytes: number): string {
  if (bytes >= 1024 ** 2) return `${Math.round(bytes / 1024 ** 2)} MB`;
  if (bytes >= 1024) return `${Math.round(bytes / 1024)} KB`;
  return `${bytes} bytes`;
}

function place(path: string, lines: readonly number[]): string {
  return lines.length === 0 ? path : `${path}:${lines.join(',')}`;
}

/**
 * One line for the screen, the audit log and the report:
 * `found in git history — commit a41c9e2 (src/config.ts:12), 3 days ago; not in the working tree`.
 */
export function describeLeak(result: LeakSearchResult, now: Date = new Date()): string {
  const tree = result.files.filter((f) => f.kind !== 'ignored');
  const ignored = result.files.filter((f) => f.kind === 'ignored');
  const treeTotal = result.totals.files - ignored.length;
  const list = <T>(items: readonly T[], total: number, show: (item: T) => string, max = 3) => {
    const shown = items.slice(0, max).map(show);
    const more = total - shown.length;
    return `${shown.join(', ')}${more > 0 ? `, and ${more} more` : ''}`;
  };
  const fileWords = (f: FileHit) => `${place(f.path, f.lines)}${f.kind === 'untracked' ? ' (untracked)' : ''}${f.encoding ? ' (base64)' : ''}`;
  let text: string;
  if (result.git !== 'repository') {
    const inTree =
      tree.length > 0
        ? `found in ${list(tree, treeTotal, fileWords)}`
        : `not found${result.complete.tree ? '' : ' so far'} (${count(result.scanned.files, 'file')})`;
    text = `${result.note ?? 'not a git repository'} — ${inTree}`;
  } else {
    const found: string[] = [];
    const absent: string[] = [];
    if (result.commits.length > 0) {
      const commit = (c: CommitHit) => `${c.commit.slice(0, 7)} (${place(c.path, c.lines)}${c.encoding ? ', base64' : ''}), ${ago(c.date, now)}`;
      found.push(`in git history — commit${result.totals.commits === 1 ? '' : 's'} ${list(result.commits, result.totals.commits, commit)}`);
    } else if (result.totals.blobs > 0) {
      found.push(`in git history — ${result.totals.blobs} object${result.totals.blobs === 1 ? '' : 's'} that no commit on a ref or in the reflog added`);
    } else if (result.complete.history) {
      absent.push('git history');
    }
    if (tree.length > 0) found.push(`in the working tree — ${list(tree, treeTotal, fileWords)}`);
    else if (result.complete.tree) absent.unshift('the working tree');
    if (ignored.length > 0)
      found.push(`in files git ignores — ${list(ignored, ignored.length, (f) => place(f.path, f.lines) + (f.encoding ? ' (base64)' : ''))}`);
    text =
      found.length > 0
        ? `found ${found.join('; and ')}${absent.length > 0 ? `; not in ${absent.join(' or ')}` : ''}`
        : absent.length > 0
          ? `not found in ${absent.join(' or ')} (${count(result.scanned.files, 'file')}, ${count(result.scanned.blobs, 'object')})`
          : `not found so far (${count(result.scanned.files, 'file')}, ${count(result.scanned.blobs, 'object')})`;
  }
  const oversize = result.skipped.filter((what) => / over \d/.test(what));
  if (oversize.length > 0) text += ` — not searched: ${oversize.join(', ')}`;
  if (result.incomplete !== undefined) text += ` — incomplete: ${result.incomplete}`;
  // The store file itself in git: the likeliest way the key leaked, and the new key is in its working copy now.
  const tracked = result.trackedStores ?? [];
  if (tracked.length > 0) {
    text =
      `git tracks the store file ${tracked.join(', ')}: the new key is in it now, one \`git commit -a\` from the history — \`git rm --cached ` +
      `${tracked.join(' ')}\` and add it to .gitignore · ${text}`;
  }
  return text;
}
