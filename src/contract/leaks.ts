/** What the leak search found, as journaled and reported: paths, line numbers and commit ids, never a value. */

/** Tracked or untracked (not ignored) in a repository, ignored by git, or a plain file outside any repository. */
export type FileKind = 'tracked' | 'untracked' | 'ignored' | 'file';

/** A file of the working tree (or the folder) that holds the value. */
export interface FileHit {
  readonly path: string;
  readonly kind: FileKind;
  /** 1-based line numbers (at most 5). */
  readonly lines: number[];
  /** Present when only a base64 spelling of the value was found. */
  readonly encoding?: 'base64';
}

/** A commit that added a blob holding the value. */
export interface CommitHit {
  readonly commit: string;
  /** Committer date, ISO 8601. */
  readonly date: string;
  readonly subject: string;
  readonly path: string;
  readonly lines: number[];
  readonly encoding?: 'base64';
}

export interface LeakSearchResult {
  /** The folder searched: the repository's top level, or the folder of rekey.yaml. */
  readonly root: string;
  readonly git: 'repository' | 'no-repository' | 'no-git' | 'error';
  /** Why git history was not searched, when it was not. */
  readonly note?: string;
  /** Files holding the value, tracked and untracked first, then ignored ones. */
  readonly files: FileHit[];
  /** Commits that added the value, oldest first. */
  readonly commits: CommitHit[];
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
