/**
 * What the leak search found, as journaled and reported: paths, line numbers and commit ids, never a value.
 *
 * Two layers. `files` and `commits` are the raw hits (where, as git sees it). `findings` is the same hits ranked by
 * exposure, worst first, each with what it means and what to do: the report, the screen and `rekey scan` all render
 * `findings` (src/leak-search/rank.ts makes them; `findingLine` there is the one text rendering of a finding). A
 * journal written before `findings` existed has none: `rankLeaks(result)` makes them from `files` and `commits`.
 */

/** Tracked or untracked (not ignored) in a repository, ignored by git, or a plain file outside any repository. */
export type FileKind = 'tracked' | 'untracked' | 'ignored' | 'file';

/**
 * How the value was spelled where it was found, when not as itself: base64 (one line, or wrapped at 76 columns as
 * MIME and PEM do, with LF or CRLF), or hex (lower or upper case).
 */
export type LeakEncoding = 'base64' | 'hex';

/** A file of the working tree (or the folder) that holds the value. */
export interface FileHit {
  readonly path: string;
  readonly kind: FileKind;
  /** 1-based line numbers (at most 5). */
  readonly lines: number[];
  /** Present when only an encoded spelling of the value was found. */
  readonly encoding?: LeakEncoding;
  /** `rekey scan` only: the fingerprint of the value found (one of the credential's earlier or current values). */
  readonly fingerprint?: string;
}

/** Where a commit is, as far as this clone's refs know (a remote-tracking ref is as fresh as the last fetch). */
export interface CommitRefs {
  /** Local branches that contain it (`git branch --contains`). */
  readonly branches: string[];
  /** Remote-tracking branches that contain it (`git branch -r --contains`), such as `origin/main`: it was pushed. */
  readonly remotes: string[];
  /** Tags that contain it (`git tag --contains`). */
  readonly tags: string[];
  /** The stash entries it belongs to (`stash@{0}`): a stash's working-tree, index or untracked-files commit. */
  readonly stashes: string[];
}

/** A commit that added a blob holding the value. */
export interface CommitHit {
  readonly commit: string;
  /** Committer date, ISO 8601. */
  readonly date: string;
  readonly subject: string;
  readonly path: string;
  readonly lines: number[];
  readonly encoding?: LeakEncoding;
  /** `Name <email>` of the author (absent in journals of older releases). */
  readonly author?: string;
  /** Author date, ISO 8601 (absent in journals of older releases). */
  readonly authorDate?: string;
  /** The refs that contain it (absent in journals of older releases, or when git could not say). */
  readonly refs?: CommitRefs;
  /** A remote-tracking ref contains it (absent when not known). */
  readonly pushed?: boolean;
  /** `rekey scan` only: the fingerprint of the value found. */
  readonly fingerprint?: string;
}

/**
 * Where a copy of the value sits, by how many people can read it there, worst first (EXPOSURES is the order, and
 * docs/leaks.md#the-order-and-why says why):
 *  - `client-bundle`: a file a web server ships (under dist/, build/, public/, .next/, out/, static/, www/, assets/: a
 *    .js, .map, .html, .css…; or anything under public/ and static/), tracked or ignored: every browser that loaded it;
 *  - `pushed-commit`: a commit a remote-tracking ref contains: everyone who can read the remote, every clone and fork;
 *  - `local-commit`: a commit on a local branch or tag only: this clone, one `git push` from the remote;
 *  - `stash`: a stash entry (refs/stash or its reflog): this clone only (`git push` does not send it);
 *  - `reflog-commit`: a commit only the reflog holds (rewritten or dropped): this clone, until the reflog expires;
 *  - `tracked-file`: a file git tracks, in the working tree: the next commit carries it;
 *  - `untracked-file`: a file git does not ignore: one `git add .` from a commit;
 *  - `ignored-file`: a file git ignores (a backup, a dump): never committed, on this disk;
 *  - `loose-object`: a git object that no commit on a ref or in a reflog added (a `git add` never committed);
 *  - `file`: a file outside any git repository.
 */
export type Exposure =
  | 'client-bundle'
  | 'pushed-commit'
  | 'local-commit'
  | 'stash'
  | 'reflog-commit'
  | 'tracked-file'
  | 'untracked-file'
  | 'ignored-file'
  | 'loose-object'
  | 'file';

/** Every exposure, worst first: a finding's `rank` is its exposure's place here (1 is the worst). */
export const EXPOSURES: readonly Exposure[] = [
  'client-bundle',
  'pushed-commit',
  'local-commit',
  'stash',
  'reflog-commit',
  'tracked-file',
  'untracked-file',
  'ignored-file',
  'loose-object',
  'file',
];

/** One place the value is, ranked, with what it means and what to do: what the report and the screen show. */
export interface LeakFinding {
  /** 1 (worst) to EXPOSURES.length: the place of `exposure` in EXPOSURES. Findings are sorted by it. */
  readonly rank: number;
  readonly exposure: Exposure;
  /** A few words for the exposure: `client bundle`, `pushed commit`, `stash`… */
  readonly title: string;
  /** The path in the repository (or the folder). */
  readonly path: string;
  readonly lines: number[];
  readonly encoding?: LeakEncoding;
  /** For the commit exposures (and a client bundle found in a commit): the commit. */
  readonly commit?: CommitHit;
  /** For the file exposures: how git sees the file. */
  readonly kind?: FileKind;
  /** `rekey scan` only: the fingerprint of the value found. */
  readonly fingerprint?: string;
  /** Who can read it there, in one sentence. */
  readonly means: string;
  /** What to do about it, in one sentence (never with the value in it). */
  readonly todo: string;
}

export interface LeakSearchResult {
  /** The folder searched: the repository's top level, or the folder of rekey.yaml. */
  readonly root: string;
  readonly git: 'repository' | 'no-repository' | 'no-git' | 'error';
  /** Why git history was not searched, when it was not. */
  readonly note?: string;
  /** Files holding the value, worst exposure first (client bundles, tracked, untracked, then ignored ones). */
  readonly files: FileHit[];
  /** Commits that added the value, oldest first. */
  readonly commits: CommitHit[];
  /** Every hit ranked by exposure, worst first (absent in journals of older releases: see `rankLeaks`). */
  readonly findings?: LeakFinding[];
  readonly totals: { readonly files: number; readonly blobs: number; readonly commits: number };
  /** What was left out on purpose (rekey's own store files, files over the size limit). */
  readonly skipped: string[];
  /**
   * Store files of this credential that git tracks (a committed .env): the root cause of many leaks, and the new
   * value is in the working copy of it now, one `git commit -a` away from the history.
   */
  readonly trackedStores: string[];
  /** Set when a limit stopped the search: what it did not cover. */
  readonly incomplete?: string;
  /** Which parts were searched to the end: a part that was not is never reported as "not in" it. */
  readonly complete: { readonly tree: boolean; readonly history: boolean };
  readonly scanned: { readonly files: number; readonly blobs: number; readonly bytes: number; readonly ms: number };
}
