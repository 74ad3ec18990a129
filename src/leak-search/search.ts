/**
 * The search itself, shared by `rekey incident` (the leaked value: index.ts) and `rekey scan` (any known value, by
 * fingerprint: scan.ts): the working tree, then the git history, with a matcher that says what a buffer holds. The
 * order and the bounds are described in index.ts.
 */
import { resolve } from 'node:path';
import type { CommitHit, LeakSearchResult } from '../contract/leaks.js';
import { isClientBundle, rankLeaks } from './rank.js';
import { run } from './git.js';
import { commitsAdding, refsContaining, searchHistory, stashEntries } from './history.js';
import { DEFAULT_LIMITS, type LeakSearchLimits } from './limits.js';
import type { Hit, Matcher } from './needles.js';
import { type ScanState, TreeScan } from './tree.js';
import { sizeWords } from './words.js';

/** What one search is given: where, what to look for in each buffer, and how to clean what git says. */
export interface SearchCore {
  readonly folder: string;
  readonly exclude?: readonly string[] | undefined;
  readonly limits?: Partial<LeakSearchLimits> | undefined;
  readonly git?: string | undefined;
  /** git's environment, already without any variable that holds a value looked for. */
  readonly env: NodeJS.ProcessEnv;
  readonly match: Matcher;
  /** Applied to every path and subject git gives (a commit subject may quote the key). */
  readonly scrub: (text: string) => string;
}

/**
 * Search the working tree and git history around `folder` with a matcher: the value (`searchLeak`), or any known
 * value by fingerprint (`rekey scan`). Never throws for what it finds on disk.
 */
export async function searchFolder(core: SearchCore): Promise<LeakSearchResult> {
  const limits: LeakSearchLimits = { ...DEFAULT_LIMITS, ...core.limits };
  const started = performance.now();
  const deadline = started + limits.maxMs;
  const { env, match, scrub } = core;
  const gitBin = core.git ?? 'git';
  const folder = resolve(core.folder);
  const exclude = new Set((core.exclude ?? []).map((p) => resolve(p)));
  const state: ScanState = { bytes: 0, files: 0, blobs: 0, stopped: [] };
  const tree = new TreeScan({ match, limits, exclude, scrub, state, deadline });
  const skipped: string[] = [];
  let largeBlobs = 0;

  const finish = (
    root: string,
    git: LeakSearchResult['git'],
    commits: CommitHit[],
    totals: { blobs: number; commits: number },
    complete: LeakSearchResult['complete'],
    note?: string,
  ): LeakSearchResult => {
    if (tree.ownSkipped.size > 0) skipped.push(`rekey's own store files: ${[...tree.ownSkipped].sort().join(', ')}`);
    if (tree.large > 0) skipped.push(`${tree.large} file${tree.large === 1 ? '' : 's'} over ${sizeWords(limits.maxFileBytes)}`);
    if (largeBlobs > 0) skipped.push(`${largeBlobs} object${largeBlobs === 1 ? '' : 's'} over ${sizeWords(limits.maxFileBytes)} in git history`);
    const order = { tracked: 0, file: 0, untracked: 1, ignored: 2 } as const;
    // Client bundles first (the worst exposure), then as git sees them.
    const files = [...tree.files].sort((a, b) => Number(isClientBundle(b.path)) - Number(isClientBundle(a.path)) || order[a.kind] - order[b.kind]);
    const result: LeakSearchResult = {
      root,
      git,
      ...(note === undefined ? {} : { note }),
      files,
      commits,
      totals: { files: tree.total, blobs: totals.blobs, commits: totals.commits },
      skipped,
      trackedStores: [...tree.trackedStores].sort(),
      ...(state.stopped.length === 0 ? {} : { incomplete: state.stopped.join('; ') }),
      complete,
      scanned: { files: state.files, blobs: state.blobs, bytes: state.bytes, ms: Math.round(performance.now() - started) },
    };
    return { ...result, findings: rankLeaks(result) };
  };

  // Is the folder in a repository, and is there a git at all?
  const top = await run(gitBin, ['-C', folder, 'rev-parse', '--show-toplevel'], { env, deadline });
  if (top.timedOut) {
    // Out of time before git even answered: nothing was searched, and nothing may be reported as "not in".
    state.stopped.push(`${tree.limitWords()}: nothing was searched`);
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
    const walked = await tree.walk(folder, folder, 'file');
    if (!walked) state.stopped.push(`${tree.limitWords()}: not every file under ${folder} was searched`);
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

  const treeDone = await tree.searchRepository(gitBin, root, env);
  // A file skipped for its size leaves the working tree searched in part: never report it as "not in" it.
  const treeComplete = treeDone && tree.large === 0;

  // 3. History: every blob reachable from a ref or a reflog entry.
  // A partial clone holds only some objects; the rest would be downloaded one by one from its remote: never that.
  const partial = treeDone ? await run(gitBin, ['-C', root, 'config', '--get', 'extensions.partialClone'], { env, deadline }) : undefined;
  const partialClone = partial?.code === 0 && partial.stdout.toString('utf8').trim() !== '';
  const history = treeDone
    ? await searchHistory(gitBin, root, env, deadline, limits, match, state)
    : { hits: new Map<string, Hit>(), total: 0, oversize: 0, stopped: 'git history was not searched' };
  if (history.stopped !== undefined)
    state.stopped.push(history.stopped === 'limit' ? `${tree.limitWords()}: git history was searched in part (${state.blobs} blobs)` : history.stopped);
  const stashes = history.hits.size > 0 ? await stashEntries(gitBin, root, env, deadline) : new Map<string, string>();
  const commits = new Map<string, CommitHit>();
  let lookedUp = 0;
  let historyDone = treeDone && history.stopped === undefined;
  for (const [blob, hit] of history.hits) {
    if (tree.overTime()) {
      historyDone = false;
      state.stopped.push(
        `${tree.limitWords()}: the commits of ${history.hits.size - lookedUp} of ${history.hits.size} objects holding the value were not looked up`,
      );
      break;
    }
    const adding = await commitsAdding(gitBin, root, blob, env, deadline, [...stashes.keys()]);
    if (adding.length === 0 && tree.overTime()) {
      historyDone = false;
      state.stopped.push(
        `${tree.limitWords()}: the commits of ${history.hits.size - lookedUp} of ${history.hits.size} objects holding the value were not looked up`,
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
          author: scrub(found.author),
          authorDate: found.authorDate,
          ...(hit.fingerprint ? { fingerprint: hit.fingerprint } : {}),
        });
    }
  }
  const sorted = await withRefs(
    [...commits.values()].sort((a, b) => Date.parse(a.date) - Date.parse(b.date)).slice(0, limits.maxFindings),
    (commit) => refsContaining(gitBin, root, commit, env, deadline),
    stashes,
  );

  largeBlobs = history.oversize;
  if (partialClone) {
    state.stopped.push('this is a partial clone: objects never downloaded from its remote were not searched (nothing is fetched during an incident)');
    historyDone = false;
  }
  return finish(root, 'repository', sorted, { blobs: history.total, commits: commits.size }, { tree: treeComplete, history: historyDone && largeBlobs === 0 });
}

/**
 * Each commit with the refs that contain it and the stash entries it belongs to, and whether it was pushed (a
 * remote-tracking ref contains it). Commit ids only reach git (I3).
 */
async function withRefs(
  commits: readonly CommitHit[],
  refsOf: (commit: string) => Promise<{ branches: string[]; remotes: string[]; tags: string[] } | undefined>,
  stashes: ReadonlyMap<string, string>,
): Promise<CommitHit[]> {
  const known = new Map<string, Awaited<ReturnType<typeof refsOf>>>();
  const out: CommitHit[] = [];
  for (const hit of commits) {
    if (!known.has(hit.commit)) known.set(hit.commit, await refsOf(hit.commit));
    const refs = known.get(hit.commit);
    const stash = stashes.get(hit.commit);
    if (refs === undefined) {
      out.push(stash === undefined ? hit : { ...hit, refs: { branches: [], remotes: [], tags: [], stashes: [stash] } });
      continue;
    }
    out.push({ ...hit, refs: { ...refs, stashes: stash === undefined ? [] : [stash] }, pushed: refs.remotes.length > 0 });
  }
  return out;
}
