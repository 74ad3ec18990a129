/**
 * The words of the leak search's result, next to the report that prints them (src/report/report.ts): one line for the
 * screen, the audit log and the report, and the small helpers they share.
 */
import type { CommitHit, FileHit, LeakSearchResult } from '../contract/leaks.js';
import { ago } from '../util/time.js';
import { isClientBundle } from './rank.js';

/** `1 file`, `3 files`. */
export function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

/** `100 MB`, `49 KB`, `900 bytes`. */
export function sizeWords(bytes: number): string {
  if (bytes >= 1024 ** 2) return `${Math.round(bytes / 1024 ** 2)} MB`;
  if (bytes >= 1024) return `${Math.round(bytes / 1024)} KB`;
  return `${bytes} bytes`;
}

function place(path: string, lines: readonly number[]): string {
  return lines.length === 0 ? path : `${path}:${lines.join(',')}`;
}

/** Where a commit is, when that is worse than a local commit or says what it is: pushed, or a stash. */
function commitPlace(c: CommitHit): string {
  if (c.refs === undefined) return '';
  if (c.refs.remotes.length > 0) return `, pushed to ${c.refs.remotes.slice(0, 2).join(', ')}${c.refs.remotes.length > 2 ? '…' : ''}`;
  if (c.refs.branches.length === 0 && c.refs.tags.length === 0 && c.refs.stashes.length > 0) return `, in ${c.refs.stashes[0]}`;
  return '';
}

/**
 * One line for the screen, the audit log and the report, the worst exposure first (a client bundle, then git history):
 * `found in git history — commit a41c9e2 (src/config.ts:12), 3 days ago; not in the working tree`.
 */
export function describeLeak(result: LeakSearchResult, now: Date = new Date()): string {
  const bundles = result.files.filter((f) => isClientBundle(f.path));
  const tree = result.files.filter((f) => f.kind !== 'ignored' && !bundles.includes(f));
  const ignored = result.files.filter((f) => f.kind === 'ignored' && !bundles.includes(f));
  const treeTotal = result.totals.files - ignored.length - bundles.length;
  const list = <T>(items: readonly T[], total: number, show: (item: T) => string, max = 3) => {
    const shown = items.slice(0, max).map(show);
    const more = total - shown.length;
    return `${shown.join(', ')}${more > 0 ? `, and ${more} more` : ''}`;
  };
  const encoded = (f: { encoding?: string }) => (f.encoding ? ` (${f.encoding})` : '');
  const fileWords = (f: FileHit) => `${place(f.path, f.lines)}${f.kind === 'untracked' ? ' (untracked)' : ''}${encoded(f)}`;
  const bundleWords = (f: FileHit) =>
    `${place(f.path, f.lines)}${f.kind === 'ignored' ? ' (ignored by git)' : f.kind === 'untracked' ? ' (untracked)' : ''}${encoded(f)}`;
  // A file a web server ships is the worst leak: said first, whatever git thinks of it.
  const shipped = bundles.length > 0 ? `found in a client bundle, public to every browser — ${list(bundles, bundles.length, bundleWords)}` : undefined;
  let text: string;
  if (result.git !== 'repository') {
    const inTree =
      tree.length > 0
        ? `found in ${list(tree, treeTotal, fileWords)}`
        : `not found${result.complete.tree ? '' : ' so far'} (${count(result.scanned.files, 'file')})`;
    text = `${result.note ?? 'not a git repository'} — ${shipped === undefined ? inTree : tree.length > 0 ? `${shipped}; and ${inTree}` : shipped}`;
  } else {
    const found: string[] = [];
    const absent: string[] = [];
    if (result.commits.length > 0) {
      const commit = (c: CommitHit) =>
        `${c.commit.slice(0, 7)} (${place(c.path, c.lines)}${c.encoding ? `, ${c.encoding}` : ''}), ${ago(c.date, now)}${commitPlace(c)}`;
      found.push(`in git history — commit${result.totals.commits === 1 ? '' : 's'} ${list(result.commits, result.totals.commits, commit)}`);
    } else if (result.totals.blobs > 0) {
      found.push(`in git history — ${result.totals.blobs} object${result.totals.blobs === 1 ? '' : 's'} that no commit on a ref or in the reflog added`);
    } else if (result.complete.history) {
      absent.push('git history');
    }
    if (tree.length > 0) found.push(`in the working tree — ${list(tree, treeTotal, fileWords)}`);
    else if (result.complete.tree && bundles.length === 0) absent.unshift('the working tree');
    if (ignored.length > 0) found.push(`in files git ignores — ${list(ignored, ignored.length, (f) => place(f.path, f.lines) + encoded(f))}`);
    const rest = found.length > 0 ? `found ${found.join('; and ')}` : undefined;
    const all = shipped === undefined ? rest : rest === undefined ? shipped : `${shipped}; and ${rest.slice('found '.length)}`;
    text =
      all !== undefined
        ? `${all}${absent.length > 0 ? `; not in ${absent.join(' or ')}` : ''}`
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
