/**
 * The doctor's git checks, in-process like the leak search (src/leak-search/): git is given paths, variable names and
 * object ids, never a value, in its arguments or environment, and values are compared here, in memory.
 *  - each .env: ignored (`git check-ignore`), not tracked (`git ls-files --error-unmatch`), never committed (the
 *    recipe's `git log -p -- .env`: `git log --all -- <file>`);
 *  - each variable a .env holds: where a value was ever assigned to it in any file (the recipe's
 *    `git log --all -S "<NAME>"`, narrowed to assignment lines with -G, so code that only reads the variable is left out);
 *  - each current value: the leak search (tracked, untracked and ignored files, every blob of the history), its hits
 *    sorted into client code (what a browser or an app receives) and the rest.
 */
import { dirname, join, relative } from 'node:path';
import { type GitResult, childEnv, run } from '../leak-search/git.js';
import { isClientBundle, searchLeak } from '../leak-search/index.js';
import { redactor } from '../contract/redactor.js';
import type { CommitHit, FileHit, LeakEncoding, LeakSearchResult } from '../contract/leaks.js';
import type { Secret } from '../contract/secret.js';
import type { Finding } from './finding.js';
import { envFilesOf } from './checks.js';
import { type DoctorInput, shown } from './input.js';

/** Every git call of the doctor gets this long: a check is never stuck behind git. */
const GIT_MS = 20_000;

function git(args: readonly string[]): Promise<GitResult> {
  return run('git', args, { env: childEnv(process.env, []), deadline: performance.now() + GIT_MS });
}

/** git's output, every known value scrubbed (a commit subject may quote a key): it goes into findings. */
const lines = (r: GitResult) =>
  redactor
    .scrub(r.stdout.toString('utf8'))
    .split('\n')
    .filter((l) => l !== '');

/** The top of the repository holding `dir`, or why there is none. */
async function repositoryOf(dir: string): Promise<{ root: string } | { problem: string }> {
  const top = await git(['-C', dir, 'rev-parse', '--show-toplevel']);
  if (top.error !== undefined) return { problem: `git did not run (${(top.error as NodeJS.ErrnoException).code ?? top.error.message})` };
  if (top.code !== 0) return { problem: /dubious ownership/.test(top.stderr) ? 'git refuses this repository (dubious ownership)' : 'not in a git repository' };
  return { root: top.stdout.toString('utf8').trim() };
}

/** .env files: in .gitignore, not tracked, never committed; each variable never assigned in a committed file. */
export async function envFilesInGit(input: DoctorInput): Promise<Finding[]> {
  const findings: Finding[] = [];
  for (const [file, { variables }] of envFilesOf(input)) {
    const credentials = [...new Set([...variables.values()].flat())].sort();
    const where = { file: shown(input.cwd, file), line: 1, column: 1 };
    const repo = await repositoryOf(dirname(file));
    if ('problem' in repo) {
      findings.push({
        check: 'env-file',
        severity: 'todo',
        where,
        credentials,
        message: `${where.file}: ${repo.problem}, so whether it is ignored or was ever committed is not checked`,
        fix: 'run rekey doctor in the repository that holds it',
      });
      continue;
    }
    const rel = relative(repo.root, file);
    const tracked = (await git(['-C', repo.root, 'ls-files', '--error-unmatch', '--', rel])).code === 0;
    const ignored = (await git(['-C', repo.root, 'check-ignore', '-q', '--no-index', '--', rel])).code === 0;
    const history = lines(await git(['-C', repo.root, 'log', '--all', '--format=%H%x09%cI%x09%s', '--', rel])).map((l) => l.split('\t'));
    if (tracked)
      findings.push({
        check: 'env-file',
        severity: 'error',
        where,
        credentials,
        message: `git tracks ${where.file}: every commit of it carries its keys to everyone who clones the repository`,
        fix: `git rm --cached ${rel}, add it to .gitignore, and rotate every key it holds (rekey drill <credential>)`,
      });
    else if (history.length > 0) {
      const first = history.at(-1)!;
      findings.push({
        check: 'env-file',
        severity: 'error',
        where,
        credentials,
        message:
          `${where.file} was committed (${first[0]!.slice(0, 7)} on ${first[1]!.slice(0, 10)}, "${first[2]}"; ` +
          `${history.length} commit${history.length === 1 ? '' : 's'} ` +
          'touch it): removing it did not remove the keys it held then from the history',
        fix: 'rotate every key it held then (rekey drill <credential>); only then rewrite the history (git filter-repo) if you must',
      });
    }
    if (!ignored)
      findings.push({
        check: 'env-file',
        severity: 'error',
        where,
        credentials,
        message: `${where.file} is not in .gitignore: one \`git add .\` puts its keys in the history`,
        fix: `echo '${rel}' >> ${shown(input.cwd, join(repo.root, '.gitignore'))}`,
      });
    for (const [variable, ids] of variables) findings.push(...(await assignments(input, repo.root, file, variable, ids)));
  }
  return findings;
}

/**
 * Commits that gave the variable a value, in any file but the .env itself (whose own commits are reported above):
 * a `.env.production` committed once, a value pasted into a config file. The diff text stays in this process.
 */
async function assignments(input: DoctorInput, root: string, envFile: string, variable: string, credentials: string[]): Promise<Finding[]> {
  const pattern = `^[[:space:]]*(export[[:space:]]+)?${variable}[[:space:]]*[=:][[:space:]]*[^[:space:]]`;
  const result = await git([
    '-C',
    root,
    'log',
    '--all',
    '-E',
    `-G${pattern}`,
    '--format=%x00%H%x09%cI%x09%s',
    '-p',
    '--no-color',
    '--unified=0',
    '--no-ext-diff',
  ]);
  const assignment = new RegExp(`^\\+\\s*(export\\s+)?${variable}\\s*[=:]\\s*\\S`);
  const seen = new Map<string, Finding>();
  for (const chunk of result.stdout.toString('utf8').split('\0').slice(1)) {
    const [head, ...diff] = chunk.split('\n');
    const [commit, date, rawSubject] = head!.split('\t');
    const subject = redactor.scrub(rawSubject ?? '');
    let path: string | undefined;
    let line = 0;
    for (const text of diff) {
      if (text.startsWith('+++ ')) path = text === '+++ /dev/null' ? undefined : text.slice(6);
      else if (text.startsWith('@@')) line = Number(/\+(\d+)/.exec(text)?.[1] ?? 0);
      else if (text.startsWith('+')) {
        if (path !== undefined && join(root, path) !== envFile && assignment.test(text) && !seen.has(path))
          seen.set(path, {
            check: 'git-tracked',
            severity: 'warn',
            where: { file: shown(input.cwd, join(root, path)), line, column: 1 },
            credentials,
            message: `commit ${commit!.slice(0, 7)} (${date!.slice(0, 10)}, "${subject}") gave ${variable} a value in ${path}: if it was a live key, it leaked`,
            fix: `check that value is no longer live: rotate (rekey drill ${credentials[0]}) unless it was rotated since ${date!.slice(0, 10)}`,
          });
        line++;
      }
    }
  }
  return [...seen.values()];
}

/** What a browser or an app receives: build output and mobile bundles (the leak search's own rule). */
export function isClientCode(path: string): boolean {
  return isClientBundle(path);
}

/** The leak search for each current value (each once), its hits sorted into client code and files git tracks. */
export async function valueLeaks(input: DoctorInput, exclude: readonly string[]): Promise<Finding[]> {
  const findings: Finding[] = [];
  const searched = new Map<string, { value: Secret; credentials: Set<string> }>();
  for (const c of input.credentials)
    for (const { value } of c.values) {
      const entry = searched.get(value.fingerprint) ?? { value, credentials: new Set<string>() };
      entry.credentials.add(c.config.id);
      searched.set(value.fingerprint, entry);
    }
  for (const { value, credentials } of searched.values()) {
    const ids = [...credentials].sort();
    const result = await searchLeak({ folder: input.config.baseDir, value, exclude: [...exclude, input.config.stateDir] });
    findings.push(...leakFindings(input, result, value.fingerprint, ids));
  }
  return findings;
}

function leakFindings(input: DoctorInput, result: LeakSearchResult, fingerprint: string, credentials: string[]): Finding[] {
  const findings: Finding[] = [];
  const at = (path: string, line: number | undefined) => ({ file: shown(input.cwd, join(result.root, path)), line: line ?? 1, column: 1 });
  const encoded = (hit: { encoding?: LeakEncoding }) => (hit.encoding === undefined ? '' : ` (${hit.encoding}-encoded)`);
  for (const hit of result.files) {
    const fix = `remove it and read the key from the environment at run time; then rotate it (rekey drill ${credentials[0]})`;
    if (isClientCode(hit.path))
      findings.push({
        check: 'client-code',
        severity: 'error',
        where: at(hit.path, hit.lines[0]),
        credentials,
        message: `the current key (${fingerprint}) is in ${hit.path}${encoded(hit)}, which a browser or an app receives: anyone who loads it has the key`,
        fix: `keep the key on the server: call the provider from your backend, and rebuild without it; then rotate it (rekey drill ${credentials[0]})`,
      });
    else findings.push(fileFinding(hit, at(hit.path, hit.lines[0]), fingerprint, credentials, encoded(hit), fix, result.commits));
  }
  // A tracked file that holds the key is in history too: its commits are said in its finding, not again here.
  const tracked = new Set(result.files.filter((f) => f.kind === 'tracked').map((f) => f.path));
  for (const commit of result.commits.filter((c) => !tracked.has(c.path)))
    findings.push({
      check: 'git-tracked',
      severity: 'error',
      where: at(commit.path, commit.lines[0]),
      credentials,
      message:
        `the current key (${fingerprint}) is in git history${encoded(commit)}: commit ${commit.commit.slice(0, 7)} ` +
        `(${commit.date.slice(0, 10)}, "${commit.subject}") added it to ${commit.path}`,
      fix: `rotate it now (rekey incident ${credentials[0]} --since ${commit.date.slice(0, 10)}): a key in history is a leaked key`,
    });
  if (result.git !== 'repository')
    findings.push({
      check: 'git-tracked',
      severity: 'todo',
      where: { file: shown(input.cwd, result.root), line: 1, column: 1 },
      credentials,
      message: `${result.note ?? 'not a git repository'}: git history was not checked`,
    });
  if (result.incomplete !== undefined)
    findings.push({ check: 'git-tracked', severity: 'warn', credentials, message: `the search for ${fingerprint} stopped early: ${result.incomplete}` });
  return findings;
}

function fileFinding(
  hit: FileHit,
  where: Finding['where'],
  fingerprint: string,
  credentials: string[],
  encoded: string,
  fix: string,
  commits: readonly CommitHit[],
): Finding {
  const first = commits.find((c) => c.path === hit.path);
  const since = first === undefined ? '' : ` since commit ${first.commit.slice(0, 7)} (${first.date.slice(0, 10)}, "${first.subject}")`;
  const what =
    hit.kind === 'tracked'
      ? `a file git tracks${since}: everyone who clones the repository has the key`
      : hit.kind === 'untracked'
        ? 'a file git does not ignore: one `git add .` puts it in the history'
        : hit.kind === 'ignored'
          ? 'a file git ignores, beside the stores rekey rotates: it will keep the old key after a rotation'
          : 'a file beside the stores rekey rotates: it will keep the old key after a rotation';
  return {
    check: 'git-tracked',
    severity: hit.kind === 'tracked' ? 'error' : 'warn',
    where,
    credentials,
    message: `the current key (${fingerprint}) is in ${hit.path}${encoded}, ${what}`,
    fix,
  };
}
