/**
 * The leak search's hits ranked by exposure (src/contract/leaks.ts: EXPOSURES, worst first), each with what it means
 * and what to do, and the one text rendering of a finding (`findingLine`, `findingText`) that the screen, the
 * incident report and `rekey scan` share. docs/leaks.md#the-order-and-why explains the order.
 */
import { EXPOSURES, type CommitHit, type Exposure, type FileHit, type LeakFinding, type LeakSearchResult } from '../contract/leaks.js';
import { ago } from '../util/time.js';

/**
 * Folders of build output a web server (or an app store) ships: a script, a source map, a page or a stylesheet
 * there is sent to every browser that loads the site. dist/ and build/ may hold a server build too; rekey cannot tell,
 * so it ranks them as shipped (the worse case), and says so.
 */
const BUNDLE_DIRS = /(^|\/)(dist|build|\.next|out|www|assets|_next|\.output|\.nuxt|\.svelte-kit)\//;
/** Folders a static file server serves as they are: every file in them is public, whatever its name. */
const STATIC_DIRS = /(^|\/)(public|static)\//;
/** What a web server sends as part of a page. */
const WEB_FILES = /\.(m?js|cjs|jsx|map|html?|css|json|txt|svg|xml|webmanifest|wasm)$/i;
/** Mobile bundles: what an app on every phone carries. */
const APP_BUNDLES = /\.(jsbundle|bundle|bundle\.js)$|(^|\/)android\/app\/src\/main\/assets\//;

/** Whether a path (in the repository, `/`-separated) is a file a web server or an app ships to everyone. */
export function isClientBundle(path: string): boolean {
  return STATIC_DIRS.test(path) || (BUNDLE_DIRS.test(path) && WEB_FILES.test(path)) || APP_BUNDLES.test(path);
}

const TITLES: Record<Exposure, string> = {
  'client-bundle': 'client bundle',
  'pushed-commit': 'pushed commit',
  'local-commit': 'unpushed commit',
  stash: 'stash',
  'reflog-commit': 'commit only in the reflog',
  'tracked-file': 'tracked file',
  'untracked-file': 'untracked file',
  'ignored-file': 'ignored file',
  'loose-object': 'loose git object',
  file: 'file',
};

const SCRUB =
  'rewrite the history with `git filter-repo --replace-text` (a file of the values to replace, by fingerprint from ' +
  '`rekey scan`, never pasted into a shell history)';

/** The refs that contain a commit, as people name them: `main`, `origin/main`, `tag v1.2`, `stash@{0}`. */
export function refNames(c: CommitHit): string[] {
  const refs = c.refs;
  return refs === undefined ? [] : [...refs.branches, ...refs.remotes, ...refs.tags.map((t) => `tag ${t}`), ...refs.stashes];
}

/** Where a commit is, in a few words: `on main, origin/main, tag v1.2`. */
function refWords(c: CommitHit): string {
  const names = refNames(c);
  return names.length === 0 ? '' : `on ${names.slice(0, 4).join(', ')}${names.length > 4 ? ` and ${names.length - 4} more` : ''}`;
}

function commitExposure(c: CommitHit): Exposure {
  // A journal of an older release does not say where the commit is: treat it as pushed, the worse case.
  if (c.refs === undefined) return 'pushed-commit';
  if (c.pushed === true || c.refs.remotes.length > 0) return 'pushed-commit';
  if (c.refs.branches.length > 0 || c.refs.tags.length > 0) return 'local-commit';
  if (c.refs.stashes.length > 0) return 'stash';
  return 'reflog-commit';
}

function commitFinding(c: CommitHit): LeakFinding {
  const exposure = commitExposure(c);
  const bundle = isClientBundle(c.path) ? ' It is build output: if that build was deployed, the key was public to every browser too.' : '';
  const since = c.date.slice(0, 10);
  const means: Record<string, string> = {
    'pushed-commit':
      c.refs === undefined
        ? `in a commit of ${since}; whether it was pushed is not recorded: treat it as pushed (everyone who can read the remote, every clone and fork).`
        : `pushed (${c.refs.remotes.join(', ')}): everyone who can read the remote, and every clone, fork and CI cache made since ${since}, has the key.`,
    'local-commit': `in this clone only (${refWords(c)}), as far as its remote-tracking refs know (the last fetch): one \`git push\` from the remote.`,
    stash: `in ${c.refs?.stashes.join(', ') ?? 'a stash'} of this clone: \`git push\` does not send a stash; it stays until dropped, then in the reflog.`,
    'reflog-commit':
      'only in a reflog of this clone (a commit reset, amended or rebased away): it stays until the reflog expires (90 days by default); ' +
      'if it was pushed before it was rewritten, the host may still serve it by its id.',
  };
  const todo: Record<string, string> = {
    'pushed-commit':
      `rotate first (done by rekey incident: a pushed key is leaked for good); then ${SCRUB}, force-push every branch and tag that holds it, ` +
      'have every clone re-cloned, and ask the host to purge cached views and pull-request refs.',
    'local-commit':
      'rewrite it before anyone pushes it (`git commit --amend`, `git rebase -i`, or `git filter-repo` for many commits), ' +
      'then `git reflog expire --expire=now --all && git gc --prune=now`.',
    stash: `\`git stash drop ${c.refs?.stashes[0] ?? 'stash@{N}'}\`, then \`git reflog expire --expire=now --all && git gc --prune=now\`.`,
    'reflog-commit': '`git reflog expire --expire=now --all && git gc --prune=now`; if it was ever pushed, ask the host to purge it.',
  };
  return { ...placed(exposure, c), commit: c, means: `${means[exposure]!}${bundle}`, todo: todo[exposure]! };
}

/** The fields every finding has, from its exposure and the place it was found (a file or a commit's blob). */
function placed(exposure: Exposure, hit: FileHit | CommitHit) {
  return {
    rank: EXPOSURES.indexOf(exposure) + 1,
    exposure,
    title: TITLES[exposure],
    path: hit.path,
    lines: hit.lines,
    ...(hit.encoding === undefined ? {} : { encoding: hit.encoding }),
    ...(hit.fingerprint === undefined ? {} : { fingerprint: hit.fingerprint }),
  };
}

function fileExposure(f: FileHit): Exposure {
  if (isClientBundle(f.path)) return 'client-bundle';
  return f.kind === 'tracked' ? 'tracked-file' : f.kind === 'untracked' ? 'untracked-file' : f.kind === 'ignored' ? 'ignored-file' : 'file';
}

function fileFinding(f: FileHit): LeakFinding {
  const exposure = fileExposure(f);
  const means: Record<string, string> = {
    'client-bundle':
      `a file a web server or an app ships${f.kind === 'ignored' ? ' (git ignores it; the web server does not)' : ''}: every browser that loaded it ` +
      'has the key, and CDN and browser caches keep it (rekey cannot tell a server build in dist/ or build/ from a browser one: it assumes the worse).',
    'tracked-file': 'a file git tracks: each commit of it carries the key to everyone who clones the repository.',
    'untracked-file': 'a file git does not ignore: one `git add .` from a commit.',
    'ignored-file': 'a file git ignores (a backup, a dump): never committed, but on this disk and in its backups.',
    file: 'a file outside any git repository: on this disk and in its backups.',
  };
  const todo: Record<string, string> = {
    'client-bundle':
      'keep the key on the server (call the provider from your backend), rebuild and redeploy without it, and purge the CDN cache; ' +
      'the rotation made the copy dead, but it stays public until then.',
    'tracked-file': 'take the key out of the file (read it from the environment at run time) and commit that.',
    'untracked-file': 'delete the file, or take the key out of it and add it to .gitignore.',
    'ignored-file': 'delete it (the key is dead, but a copy invites reuse).',
    file: 'take the key out of it, or delete it.',
  };
  return {
    ...placed(exposure, f),
    kind: f.kind,
    means: means[exposure]!,
    todo: todo[exposure]!,
  };
}

/** Every hit of a search, ranked by exposure, worst first (the order of the hits within a rank is kept). */
export function rankLeaks(result: Pick<LeakSearchResult, 'files' | 'commits' | 'totals'>): LeakFinding[] {
  const findings = [...result.files.map(fileFinding), ...result.commits.map(commitFinding)];
  if (result.commits.length === 0 && result.totals.blobs > 0)
    findings.push({
      rank: EXPOSURES.indexOf('loose-object') + 1,
      exposure: 'loose-object',
      title: TITLES['loose-object'],
      path: `${result.totals.blobs} object${result.totals.blobs === 1 ? '' : 's'}`,
      lines: [],
      means: 'git objects that no commit on a ref or in a reflog added (a `git add` never committed): this clone only, until git prunes them.',
      todo: '`git gc --prune=now`.',
    });
  return findings
    .map((f, i) => ({ f, i }))
    .sort((a, b) => a.f.rank - b.f.rank || a.i - b.i)
    .map(({ f }) => f);
}

/** The ranked findings of a result: as journaled, or (a journal of an older release) ranked now. */
export function leakFindings(result: LeakSearchResult): LeakFinding[] {
  return result.findings ?? rankLeaks(result);
}

/**
 * One finding in a line, without what it means or what to do:
 * `client bundle — dist/app.js:3 (hex)`, `pushed commit — a41c9e2 src/config.ts:12 by Dev <dev@…>, 3 days ago, on main, origin/main`.
 */
export function findingLine(f: LeakFinding, now: Date = new Date()): string {
  const place = `${f.path}${f.lines.length === 0 ? '' : `:${f.lines.join(',')}`}${f.encoding === undefined ? '' : ` (${f.encoding})`}`;
  const c = f.commit;
  if (c === undefined) return `${f.title} — ${place}${f.kind === 'ignored' && f.exposure === 'client-bundle' ? ' (ignored by git)' : ''}`;
  const where = refWords(c);
  const by = c.author === undefined ? '' : ` by ${c.author}`;
  return `${f.title} — ${c.commit.slice(0, 7)} ${place}${by}, ${ago(c.date, now)}${where === '' ? '' : `, ${where}`}`;
}

/** One finding with what it means and what to do, for a screen or a log. */
export function findingText(f: LeakFinding, now: Date = new Date()): string {
  return `${findingLine(f, now)}: ${f.means} To do: ${f.todo}`;
}
