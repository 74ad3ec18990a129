/**
 * The leak search of `rekey incident`: where the leaked (old) value is in the working tree and in the git history of
 * the repository around rekey.yaml (this folder: needles.ts what is looked for, search.ts the search, tree.ts the
 * working tree, history.ts the git history, git.ts the git process, rank.ts the ranking by exposure, words.ts the
 * wording of the result; scan.ts is `rekey scan`, which looks for any known value by fingerprint). It reports
 * fingerprints, paths, line numbers, commit ids, authors, dates, subjects and refs; never the value.
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
 *    added it come from `git log --find-object=<blob id>` (a content hash, safe to pass; a stash's own commit, a
 *    merge, is asked again against its first parent), and the refs that contain each commit from
 *    `git for-each-ref --contains=<commit id>` (pushed when a remote-tracking ref does), stashes from
 *    `git log -g refs/stash`.
 * Not a git repository, or no git: the files under the folder are scanned, and the result says so.
 * `.git`, `node_modules`, rekey's state folder, the files the stores write (`SecretStore.files`) and the atomic
 * writer's temporary files are skipped. The work is bounded (time,
 * bytes), so an incident is never stuck behind a search: a search that stops early says what it did not cover.
 *
 * Besides the value itself, its base64 spellings are searched for (a Kubernetes Secret manifest, a base64 .env blob),
 * at each of the three byte alignments, on one line or wrapped at any width (MIME's 76 columns, PEM's 64, LF or
 * CRLF), and its hex spellings, lower and upper case.
 *
 * Each hit is then ranked by exposure (rank.ts: a client bundle first, then pushed commits, local commits, stashes…),
 * each with what it means and what to do: `findings` in the result.
 */
import { redactor } from '../contract/redactor.js';
import type { LeakSearchResult } from '../contract/leaks.js';
import { childEnv } from './git.js';
import type { LeakSearchOptions } from './limits.js';
import { needlesFor, valueMatcher } from './needles.js';
import { searchFolder } from './search.js';

export { DEFAULT_LIMITS, type LeakSearchLimits, type LeakSearchOptions } from './limits.js';
export { findIn, needlesFor } from './needles.js';
export { findingLine, findingText, isClientBundle, leakFindings, rankLeaks, refNames } from './rank.js';
export { fingerprintMatcher, scanFingerprints, unanchored, type ScanOptions } from './scan.js';
export { count, describeLeak } from './words.js';

/** Search the working tree and git history around `folder` for the value. Never throws for what it finds on disk. */
export function searchLeak(options: LeakSearchOptions): Promise<LeakSearchResult> {
  const needles = needlesFor(options.value.reveal());
  const scrub = (text: string): string => {
    let out = text;
    for (const n of needles) if (out.includes(n.text)) out = out.split(n.text).join(`[redacted ${options.value.mask}]`);
    return redactor.scrub(out);
  };
  return searchFolder({
    folder: options.folder,
    exclude: options.exclude,
    limits: options.limits,
    git: options.git,
    env: childEnv(options.env ?? process.env, needles),
    match: valueMatcher(needles),
    scrub,
  });
}
