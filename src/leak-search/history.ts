/**
 * The git history part of the leak search: every blob reachable from a ref or a reflog entry, streamed out of
 * `git cat-file --batch` and scanned here; then, for each blob that holds the value, the commits that added it.
 */
import { spawn } from 'node:child_process';
import type { Hit, Matcher } from './needles.js';
import { killGroup, run } from './git.js';
import type { LeakSearchLimits } from './limits.js';

const OBJECT_ID = /^[0-9a-f]{40}(?:[0-9a-f]{24})?$/;

/** Scan every reachable blob; the blobs holding the value, by id. */
export async function searchHistory(
  gitBin: string,
  root: string,
  env: NodeJS.ProcessEnv,
  deadline: number,
  limits: LeakSearchLimits,
  match: Matcher,
  state: { bytes: number; blobs: number },
): Promise<{ hits: Map<string, Hit>; total: number; oversize: number; stopped?: string }> {
  const hits = new Map<string, Hit>();
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
            const hit = match(content);
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

/** A commit that put a blob at a path, with its author and dates. */
export interface AddingCommit {
  readonly commit: string;
  readonly date: string;
  readonly author: string;
  readonly authorDate: string;
  readonly subject: string;
  readonly path: string;
}

const FORMAT = '--format=%x01%H%x1f%cI%x1f%an <%ae>%x1f%aI%x1f%s';

/** Parse `git log -z --raw` records of FORMAT: the changes whose new side is the blob. */
function addedBy(stdout: Buffer, blob: string): AddingCommit[] {
  const found: AddingCommit[] = [];
  for (const record of stdout.toString('utf8').split('\x01')) {
    if (record === '') continue;
    const headerEnd = record.indexOf('\0');
    const [commit = '', date = '', author = '', authorDate = '', subject = ''] = (headerEnd === -1 ? record : record.slice(0, headerEnd)).split('\x1f');
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
      if (meta[3] === blob) found.push({ commit, date, author, authorDate, subject, path: fields[i + 1]! });
    }
  }
  return found;
}

/**
 * The commits (any ref, or the reflog) whose change made a path hold this blob. A stash's working-tree commit is a
 * merge, whose changes `git log` does not show: the stash commits given are asked again, against their first parent
 * (the commit the stash was made on), so a key only in a stashed, unstaged change is found too.
 */
export async function commitsAdding(
  gitBin: string,
  root: string,
  blob: string,
  env: NodeJS.ProcessEnv,
  deadline: number,
  stashCommits: readonly string[] = [],
): Promise<AddingCommit[]> {
  if (!OBJECT_ID.test(blob)) return [];
  const args = ['log', '--no-abbrev', '--raw', '--no-renames', '-z', FORMAT, `--find-object=${blob}`];
  const log = await run(gitBin, ['-C', root, ...args, '--all', '--reflog'], { env, deadline });
  if (log.code !== 0) return [];
  const found = addedBy(log.stdout, blob);
  const stashes = stashCommits.filter((c) => OBJECT_ID.test(c));
  if (stashes.length > 0) {
    const merges = await run(gitBin, ['-C', root, ...args, '--no-walk', '--diff-merges=first-parent', ...stashes], { env, deadline });
    if (merges.code === 0)
      for (const hit of addedBy(merges.stdout, blob)) if (!found.some((f) => f.commit === hit.commit && f.path === hit.path)) found.push(hit);
  }
  return found;
}

/** The stash entries, newest first: each entry's commits (working tree, index, untracked files) and its name. */
export async function stashEntries(gitBin: string, root: string, env: NodeJS.ProcessEnv, deadline: number): Promise<Map<string, string>> {
  const entries = new Map<string, string>();
  // `git stash list` is `git log -g refs/stash`: %H the entry (a merge), %P its parents: the commit it was made on,
  // the index commit, and the untracked-files commit when there is one.
  const listed = await run(gitBin, ['-C', root, 'log', '-g', '--format=%H %P', 'refs/stash', '--'], { env, deadline });
  if (listed.code !== 0) return entries;
  listed.stdout
    .toString('utf8')
    .split('\n')
    .filter((line) => line !== '')
    .forEach((line, n) => {
      const [entry, , ...own] = line.split(' ');
      for (const commit of [entry, ...own]) if (commit !== undefined && OBJECT_ID.test(commit) && !entries.has(commit)) entries.set(commit, `stash@{${n}}`);
    });
  return entries;
}

/** The refs that contain a commit, sorted into local branches, remote-tracking branches and tags. */
export async function refsContaining(
  gitBin: string,
  root: string,
  commit: string,
  env: NodeJS.ProcessEnv,
  deadline: number,
): Promise<{ branches: string[]; remotes: string[]; tags: string[] } | undefined> {
  if (!OBJECT_ID.test(commit)) return undefined;
  // One for-each-ref answers what `git branch -a --contains` and `git tag --contains` would, in one process.
  const refs = await run(gitBin, ['-C', root, 'for-each-ref', `--contains=${commit}`, '--format=%(refname)'], { env, deadline });
  if (refs.code !== 0) return undefined;
  const out = { branches: [] as string[], remotes: [] as string[], tags: [] as string[] };
  for (const ref of refs.stdout.toString('utf8').split('\n')) {
    if (ref.startsWith('refs/heads/')) out.branches.push(ref.slice('refs/heads/'.length));
    // refs/remotes/origin/HEAD names the remote's default branch, listed on its own: not a branch of its own.
    else if (ref.startsWith('refs/remotes/') && !ref.endsWith('/HEAD')) out.remotes.push(ref.slice('refs/remotes/'.length));
    else if (ref.startsWith('refs/tags/')) out.tags.push(ref.slice('refs/tags/'.length));
  }
  return out;
}
