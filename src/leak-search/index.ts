/**
 * The leak search of `rekey incident`: where the leaked (old) value is in the working tree and in the git history of
 * the repository around rekey.yaml (this folder: needles.ts what is looked for, tree.ts the working tree, history.ts
 * the git history, git.ts the git process, words.ts the wording of the result). It reports fingerprints, paths, line
 * numbers and commit ids, dates and subjects; never the value.
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
 * `.git`, `node_modules`, rekey's state folder, the files the stores write (`SecretStore.files`) and the atomic
 * writer's temporary files are skipped. The work is bounded (time,
 * bytes), so an incident is never stuck behind a search: a search that stops early says what it did not cover.
 *
 * Besides the value itself, its base64 spellings are searched for (a Kubernetes Secret manifest, a base64 .env blob),
 * at each of the three byte alignments.
 */
import { resolve } from 'node:path';
import { redactor } from '../contract/redactor.js';
import type { CommitHit, LeakSearchResult } from '../contract/leaks.js';
import { childEnv, run } from './git.js';
import { commitsAdding, searchHistory } from './history.js';
import { DEFAULT_LIMITS, type LeakSearchLimits, type LeakSearchOptions } from './limits.js';
import { needlesFor } from './needles.js';
import { type ScanState, TreeScan } from './tree.js';
import { sizeWords } from './words.js';

export { DEFAULT_LIMITS, type LeakSearchLimits, type LeakSearchOptions } from './limits.js';
export { findIn, needlesFor } from './needles.js';
export { count, describeLeak } from './words.js';

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
  const state: ScanState = { bytes: 0, files: 0, blobs: 0, stopped: [] };
  const tree = new TreeScan({ needles, limits, exclude, scrub, state, deadline });
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
    const files = [...tree.files].sort((a, b) => order[a.kind] - order[b.kind]);
    return {
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
    ? await searchHistory(gitBin, root, env, deadline, limits, needles, state)
    : { hits: new Map<string, { lines: number[]; encoding?: 'base64' }>(), total: 0, oversize: 0, stopped: 'git history was not searched' };
  if (history.stopped !== undefined)
    state.stopped.push(history.stopped === 'limit' ? `${tree.limitWords()}: git history was searched in part (${state.blobs} blobs)` : history.stopped);
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
    const adding = await commitsAdding(gitBin, root, blob, env, deadline);
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
