/**
 * The git process of the leak search: an environment without any known secret, a process group killed as one at the
 * deadline, stdout collected. Only object ids and paths are ever passed to git (I3).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { redactor } from '../contract/redactor.js';
import type { Needle } from './needles.js';

/** What one git call gave back. */
export interface GitResult {
  readonly code: number | null;
  readonly stdout: Buffer;
  readonly stderr: string;
  readonly error?: Error;
  readonly timedOut: boolean;
}

/** The environment for git: the caller's, without any variable whose value holds a secret this process knows. */
export function childEnv(base: NodeJS.ProcessEnv, needles: readonly Needle[]): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(base)) {
    if (value === undefined || redactor.leaks(value) || needles.some((n) => value.includes(n.text))) continue;
    env[name] = value;
  }
  // Read-only: no index refresh (which would take a lock), never a prompt, no pager.
  // GIT_NO_LAZY_FETCH: a partial clone must not download from its remote in the middle of an incident (git ≥ 2.45;
  // older gits ignore it, and rev-list's --missing=allow-promisor keeps missing objects out of the list anyway).
  return { ...env, GIT_OPTIONAL_LOCKS: '0', GIT_TERMINAL_PROMPT: '0', GIT_PAGER: 'cat', LC_ALL: 'C', GIT_NO_LAZY_FETCH: '1' };
}

/**
 * End a git started with `detached: true` (a process group of its own), the whole group: a wrapper script (a version
 * manager's shim) or a helper git starts would otherwise live on, holding the pipes open, and the search would wait.
 */
export function killGroup(child: ChildProcess): void {
  try {
    if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
  } catch {
    child.kill('SIGKILL');
  }
}

/** Run git to completion (killed at the deadline), collecting stdout. */
export function run(bin: string, args: readonly string[], options: { env: NodeJS.ProcessEnv; deadline: number }): Promise<GitResult> {
  return new Promise((done) => {
    const child = spawn(bin, args, { env: options.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const out: Buffer[] = [];
    let stderr = '';
    let error: Error | undefined;
    let timedOut = false;
    const timer = setTimeout(
      () => {
        timedOut = true;
        killGroup(child);
      },
      Math.max(0, options.deadline - performance.now()),
    );
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    let settled = false;
    const settle = (code: number | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      done({ code, stdout: Buffer.concat(out), stderr, timedOut, ...(error === undefined ? {} : { error }) });
    };
    // A git that cannot start reports 'error' (and may or may not report 'close' after it).
    child.on('error', (e) => {
      error = e;
      settle(null);
    });
    child.on('close', settle);
  });
}
