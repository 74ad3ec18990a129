/**
 * A credential kept in a `.env` and in a GitHub Actions repository secret, rotated through the built CLI against the
 * local GitHub REST API fake (test/fakes/github-actions-server.ts), which opens every sealed value it receives: the
 * secret ends up holding the new key, the plan, the run and `rekey check` say the store is write-only and what verify
 * relies on, and neither key nor the token is ever printed. A failed verify puts the old key back into the secret.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { Sandbox } from '../../src/sandbox/server.js';
import { type RunningGitHubServer, startGitHubServer } from '../fakes/github-actions-server.js';
import { ACCOUNT, envValue, rekeyIn, removeWorkspaces, sandboxPool, show, VARIABLE, type Workspace, workspace } from './helpers.js';

const startPooled = sandboxPool();
const TOKEN = 'fake-github-token-for-the-e2e-fake';
const REF = `github-actions-secrets:acme/api#${VARIABLE}`;
let server: RunningGitHubServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});
afterAll(() => removeWorkspaces());

/** A workspace whose credential is also kept in the fake's repository secret, seeded with the same key. */
async function githubWorkspace(options: { rejectMintedOverHttp?: boolean } = {}): Promise<{ ws: Workspace; gh: RunningGitHubServer; s: Sandbox }> {
  const s = await startPooled({ overlap: 'until-revoked', ...options });
  const ws = workspace({ sandbox: s });
  const gh = await startGitHubServer();
  server = gh;
  gh.model.addScope('repo:acme/api');
  gh.model.addToken(TOKEN);
  gh.model.put('repo:acme/api', VARIABLE, ws.seed);
  const text = readFileSync(ws.config, 'utf8');
  const store = `      - github-actions-secrets: acme/api#${VARIABLE}\n        apiUrl: ${gh.url}\n`;
  writeFileSync(ws.config, text.replace(/( {6}- dotenv: .*\n)/, `$1${store}`));
  return { ws, gh, s };
}

const env = { GITHUB_TOKEN: TOKEN };

function expectNoLeak(output: string, ...values: string[]): void {
  for (const value of [...values, TOKEN]) expect(output).not.toContain(value);
}

describe('a credential in a .env and a GitHub Actions secret, through the CLI', () => {
  it('rotates: the secret holds the new key (sealed, opened by the fake), the run says write-only, no key is printed', async () => {
    const { ws, gh } = await githubWorkspace();
    const plan = await rekeyIn(ws, ['plan', ws.credential], { env });
    expect(plan.code, show(plan)).toBe(0);
    expect(plan.stdout).toContain(`${REF} cannot be read back: relies on the provider's check`);

    const result = await rekeyIn(ws, ['rotate', ws.credential], { env });
    expect(result.code, show(result)).toBe(0);
    const fresh = envValue(ws)!;
    expect(fresh).not.toBe(ws.seed);
    expect(gh.model.value('repo:acme/api', VARIABLE)).toBe(fresh);
    expect(result.stdout + result.stderr).toContain(`${REF} cannot be read back: relies on the provider's check`);
    expectNoLeak(plan.stdout + plan.stderr + result.stdout + result.stderr, ws.seed, fresh);
    // Only sealed values went over the wire, and never in a URL.
    for (const request of gh.requests) expectNoLeak(request.path + request.body, ws.seed, fresh);

    const check = await rekeyIn(ws, ['check', ws.credential], { env });
    expect(check.code, show(check)).toBe(0);
    expect(check.stdout + check.stderr).toContain('write-only: not read back');
    expectNoLeak(check.stdout + check.stderr, ws.seed, fresh);
  });

  it('a verify that fails rolls back: the old key goes back into the GitHub secret, taken from the .env', async () => {
    const { ws, gh } = await githubWorkspace({ rejectMintedOverHttp: true });
    const result = await rekeyIn(ws, ['rotate', ws.credential], { env });
    expect(result.code, show(result)).toBe(1);
    expect(envValue(ws)).toBe(ws.seed);
    expect(gh.model.value('repo:acme/api', VARIABLE)).toBe(ws.seed);
    // The new key did reach the secret before the rollback (a write without staging is current at once).
    expect(gh.requests.filter((r) => r.method === 'PUT').length).toBe(2);
    expectNoLeak(result.stdout + result.stderr, ws.seed);
  });

  it('without a token: the pre-flight refuses before anything is minted, naming the variable', async () => {
    const { ws, gh, s } = await githubWorkspace();
    const keysBefore = s.keys(ACCOUNT).length;
    const result = await rekeyIn(ws, ['rotate', ws.credential], { env: { GITHUB_TOKEN: undefined } });
    expect(result.code, show(result)).toBe(1);
    expect(result.stdout).toContain(`describe ${REF}: no GitHub token: GITHUB_TOKEN is not set`);
    expect(result.stdout).toContain('"Secrets: read and write"');
    expect(result.stdout + result.stderr).not.toMatch(/\n\s+at /);
    expect(s.keys(ACCOUNT).length).toBe(keysBefore);
    expect(gh.model.value('repo:acme/api', VARIABLE)).toBe(ws.seed);
    expect(envValue(ws)).toBe(ws.seed);
  });

  it('a ref with a name GitHub reserves is bad input: exit 2, at its file:line:col, before any store is opened', async () => {
    const { ws, gh } = await githubWorkspace();
    writeFileSync(ws.config, readFileSync(ws.config, 'utf8').replace(`acme/api#${VARIABLE}`, 'acme/api#GITHUB_DEPLOY_KEY'));
    const line =
      readFileSync(ws.config, 'utf8')
        .split('\n')
        .findIndex((l) => l.includes('GITHUB_DEPLOY_KEY')) + 1;
    const result = await rekeyIn(ws, ['plan', ws.credential], { env });
    expect(result.code, show(result)).toBe(2);
    expect(result.stderr).toMatch(new RegExp(`rekey\\.yaml:${line}:\\d+`));
    expect(result.stderr).toContain('secret name "GITHUB_DEPLOY_KEY" starts with GITHUB_, which GitHub reserves for its own');
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect(gh.requests).toEqual([]);
  });
});
