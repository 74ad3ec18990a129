/**
 * The ref grammar of a GitHub Actions secret: where it lives (a repository, one of its environments, an organisation)
 * before `#`, its name after.
 *
 * - `OWNER/REPO#NAME`: a repository secret;
 * - `OWNER/REPO@ENVIRONMENT#NAME`: a secret of the repository's deployment environment ENVIRONMENT;
 * - `org:ORG#NAME`: an organisation secret.
 *
 * Names follow GitHub's rules: letters, digits and underscores only, not starting with a digit nor with the reserved
 * `GITHUB_` prefix, and case-insensitive (GitHub stores them in upper case).
 * https://docs.github.com/en/actions/security-for-github-actions/security-guides/using-secrets-in-github-actions#naming-your-secrets
 */
import type { StoreRef } from '../../../src/contract/store.js';

export type Scope =
  | { readonly type: 'repository'; readonly owner: string; readonly repo: string }
  | { readonly type: 'environment'; readonly owner: string; readonly repo: string; readonly environment: string }
  | { readonly type: 'organization'; readonly org: string };

/** One secret: its scope and its name. */
export interface Target {
  readonly scope: Scope;
  readonly name: string;
}

const ORG_PREFIX = 'org:';
// A GitHub login: letters, digits and single hyphens, at most 39 characters, not starting with a hyphen.
const OWNER = /^[A-Za-z0-9][A-Za-z0-9-]{0,38}$/;
// A repository name: letters, digits, '.', '-' and '_' (GitHub replaces anything else with '-' when one is created).
const REPO = /^[A-Za-z0-9._-]{1,100}$/;
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
// Control characters in an environment name (GitHub allows up to 255 characters of almost anything else).
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what this pattern refuses
const CONTROL = /[\u0000-\u001f\u007f]/;

const GRAMMAR = 'OWNER/REPO#NAME, OWNER/REPO@ENVIRONMENT#NAME or org:ORG#NAME';

/** What is wrong with a secret name, in a few words; undefined when GitHub would accept it. */
export function nameProblem(name: string): string | undefined {
  if (name === '') return `a GitHub Actions secret ref names the secret after "#": ${GRAMMAR}`;
  if (/^[0-9]/.test(name)) return `secret name "${name}" starts with a digit, which GitHub does not allow`;
  if (!NAME.test(name)) return `secret name "${name}" may hold only letters, digits and underscores`;
  if (name.toUpperCase().startsWith('GITHUB_')) return `secret name "${name}" starts with GITHUB_, which GitHub reserves for its own`;
  return undefined;
}

function scopeOf(path: string): Scope | string {
  if (path.startsWith(ORG_PREFIX)) {
    const org = path.slice(ORG_PREFIX.length);
    return OWNER.test(org) ? { type: 'organization', org } : `"${org}" is not a GitHub organisation name (${GRAMMAR})`;
  }
  const at = path.indexOf('@');
  const repoPart = at === -1 ? path : path.slice(0, at);
  const parts = repoPart.split('/');
  if (parts.length !== 2) return `"${path}" does not name a repository: ${GRAMMAR}`;
  const [owner, repo] = parts as [string, string];
  if (!OWNER.test(owner)) return `"${owner}" is not a GitHub user or organisation name`;
  if (!REPO.test(repo) || repo === '.' || repo === '..') return `"${repo}" is not a GitHub repository name`;
  if (at === -1) return { type: 'repository', owner, repo };
  const environment = path.slice(at + 1);
  if (environment === '') return `an environment secret names the environment after "@": ${GRAMMAR}`;
  if (environment.length > 255 || CONTROL.test(environment)) return `"${environment}" is not a GitHub environment name (at most 255 printable characters)`;
  return { type: 'environment', owner, repo, environment };
}

/** What is wrong with a ref, for the config loader (which points at its file:line:col); undefined when it is fine. */
export function refProblem(ref: StoreRef): string | undefined {
  if (ref.field === undefined) return `a GitHub Actions secret ref names the secret after "#": ${GRAMMAR}`;
  const scope = scopeOf(ref.path);
  return typeof scope === 'string' ? scope : nameProblem(ref.field);
}

/** The secret a valid ref names (validateRef has refused the others when the config was loaded). */
export function targetOf(ref: StoreRef): Target {
  const problem = refProblem(ref);
  if (problem !== undefined) throw new Error(`${ref.display}: ${problem}`);
  return { scope: scopeOf(ref.path) as Scope, name: ref.field! };
}

/** The REST path of a scope's secrets, every segment URL-encoded. */
export function secretsPath(scope: Scope): string {
  const e = encodeURIComponent;
  switch (scope.type) {
    case 'repository':
      return `/repos/${e(scope.owner)}/${e(scope.repo)}/actions/secrets`;
    case 'environment':
      return `/repos/${e(scope.owner)}/${e(scope.repo)}/environments/${e(scope.environment)}/secrets`;
    case 'organization':
      return `/orgs/${e(scope.org)}/actions/secrets`;
  }
}

/** The scope in words: `repository acme/api`, `environment production of acme/api`, `organisation acme`. */
export function scopeWords(scope: Scope): string {
  switch (scope.type) {
    case 'repository':
      return `repository ${scope.owner}/${scope.repo}`;
    case 'environment':
      return `environment ${scope.environment} of ${scope.owner}/${scope.repo}`;
    case 'organization':
      return `organisation ${scope.org}`;
  }
}
