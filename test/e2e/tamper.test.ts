/**
 * Tampered and damaged state, and a state folder the machine will not let rekey write, through the built CLI:
 * - defect 8: a run killed right after verify, with two forged `step.done` records (revoke, verify-revoked) appended,
 *   hashes recomputed or not: `rekey resume` refuses (exit 3) naming the first forged record, and the old key is still
 *   accepted by the provider (nothing was retired on the forger's word); `status` and `log` flag the run.
 * - defect 10: one damaged middle line in one journal leaves `status`, `log` and `rotate` of another credential
 *   working; one in audit.jsonl makes `audit verify` exit 1 naming the line; a full disk (a 64 KiB tmpfs) or a
 *   read-only state folder (a read-only bind mount: root ignores modes) exits 5 naming the file, never "internal
 *   error".
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { envValue, journal, onlyRun, rekeyIn, removeWorkspaces, runIds, sandboxPool, show, VARIABLE, workspace, type Row, type Workspace } from './helpers.js';

const sandbox = sandboxPool();
afterAll(removeWorkspaces);

/** The journal record after which verify has passed and revoke not begun (sandbox runbook, one store). */
function verifyDoneSeq(rows: readonly Row[]): number {
  const done = rows.find((r) => r.type === 'step.done' && r['step'] === 'verify:whoami');
  if (done === undefined) throw new Error('no verify step in the journal');
  return done.seq;
}

/** Append `step.done` records for revoke and verify-revoked, as someone who can write .rekey/ but not read the chain key. */
function forgeRevoke(ws: Workspace, run: string, recompute: boolean): number {
  const file = join(ws.stateDir, 'runs', `${run}.jsonl`);
  const rows = journal(ws, run);
  let last = rows.at(-1)!;
  const first = last.seq + 1;
  for (const step of ['revoke:revoke-old', 'verify-revoked:old-rejected']) {
    const body = { seq: last.seq + 1, at: new Date().toISOString(), type: 'step.done', phase: 'revoke', step, ms: 2, prev: last.hash };
    const hash = recompute ? createHash('sha256').update(JSON.stringify(body)).digest('hex') : 'e'.repeat(64);
    appendFileSync(file, `${JSON.stringify({ ...body, hash })}\n`);
    last = { ...body, hash };
  }
  return first;
}

describe('a forged journal is refused by resume (defect 8)', () => {
  it.each([{ recompute: false }, { recompute: true }])(
    'forged step.done records, plain hashes recomputed: $recompute — exit 3, the old key still works',
    async ({ recompute }) => {
      const s = await sandbox();
      const ws = workspace({ sandbox: s });
      // A first run, to learn the record number at which verify has passed.
      const probe = workspace({ sandbox: s });
      const full = await rekeyIn(probe, ['rotate', probe.credential]);
      expect(full.code, show(full)).toBe(0);
      const after = verifyDoneSeq(journal(probe, onlyRun(probe)));

      const killed = await rekeyIn(ws, ['rotate', ws.credential], { env: { REKEY_TEST_KILL_AFTER_RECORD: String(after) } });
      expect(killed.signal, show(killed)).toBe('SIGKILL');
      const run = onlyRun(ws);
      const forged = forgeRevoke(ws, run, recompute);

      const resumed = await rekeyIn(ws, ['resume', run]);
      expect(resumed.code, show(resumed)).toBe(3);
      expect(resumed.stderr).toContain(`run ${run}: its journal`);
      expect(resumed.stderr).toMatch(new RegExp(`line ${forged} \\(record ${forged}\\): record ${forged} `));
      expect(resumed.stderr).toContain('rekey will not act on it');
      expect(resumed.stderr).not.toMatch(/internal error/);
      // Nothing was retired on the forger's word: the provider still accepts the old key, and the run went no further.
      expect(s.isActive(ws.seed)).toBe(true);
      expect(journal(ws, run).at(-1)!.seq).toBe(forged + 1);

      const status = await rekeyIn(ws, ['status']);
      expect(status.code, show(status)).toBe(0);
      expect(status.stdout).toContain(`! ${ws.credential}: the journal of run ${run} cannot be trusted (line ${forged}: record ${forged} `);
      const log = await rekeyIn(ws, ['log']);
      expect(log.code, show(log)).toBe(0);
      expect(log.stdout).toMatch(new RegExp(`^${run}\\s+${ws.credential}\\s+scheduled\\s+damaged\\s+journal cannot be trusted: line ${forged}`, 'm'));
      const one = await rekeyIn(ws, ['log', run]);
      expect(one.code, show(one)).toBe(0);
      expect(one.stdout).toMatch(new RegExp(`^\\?\\s*${forged} \\S+ step\\.done\\s+phase=revoke step=revoke:revoke-old`, 'm'));
      expect(one.stdout).toContain(`this journal cannot be trusted from record ${forged} on`);
    },
  );
});

describe('damage stays where it is (defect 10)', () => {
  it('a damaged middle line in one journal: status and log exit 0 and flag it; another credential still rotates', async () => {
    const s = await sandbox();
    const ws = workspace({ sandbox: s });
    const first = await rekeyIn(ws, ['rotate', ws.credential]);
    expect(first.code, show(first)).toBe(0);
    const run = onlyRun(ws);
    const file = join(ws.stateDir, 'runs', `${run}.jsonl`);
    const lines = readFileSync(file, 'utf8').split('\n');
    lines[4] = lines[4]!.slice(0, 20);
    writeFileSync(file, lines.join('\n'));
    // A second credential in the same config and state folder.
    const other = 'other-key';
    writeFileSync(join(ws.dir, 'other.env'), `${VARIABLE}=${s.mintKey('e2e')}\n`, { mode: 0o600 });
    const config = readFileSync(ws.config, 'utf8').replace(/\n {4}policy:[\s\S]*$/, '\n');
    writeFileSync(
      ws.config,
      `${readFileSync(ws.config, 'utf8')}  ${other}:\n${config.slice(config.indexOf('    runbook:')).replace('./.env#', './other.env#')}`,
    );

    const status = await rekeyIn(ws, ['status']);
    expect(status.code, show(status)).toBe(0);
    expect(status.stdout).toMatch(new RegExp(`^${ws.credential}\\s.*damaged$`, 'm'));
    expect(status.stdout).toContain(`! ${ws.credential}: the journal of run ${run} cannot be trusted (line 5: the line is not valid JSON`);
    expect(status.stdout).toMatch(new RegExp(`^${other}\\s+sandbox\\s+—\\s+unknown\\s.*\\sunknown\\s+—$`, 'm'));
    expect(status.stdout).toContain(`! ${other}: age unknown: no store keeps a date`);

    const rotated = await rekeyIn(ws, ['rotate', other]);
    expect(rotated.code, show(rotated)).toBe(0);
    const log = await rekeyIn(ws, ['log']);
    expect(log.code, show(log)).toBe(0);
    expect(log.stdout).toMatch(new RegExp(`^${run}\\s+${ws.credential}\\s+scheduled\\s+damaged`, 'm'));
    expect(log.stdout).toMatch(new RegExp(`^\\S+\\s+${other}\\s+scheduled\\s+done`, 'm'));
    const resume = await rekeyIn(ws, ['resume', run]);
    expect(resume.code, show(resume)).toBe(3);
    expect(resume.stderr).toContain('line 5');
  });

  it('a damaged middle line in audit.jsonl: audit verify exits 1 with a sentence naming the line', async () => {
    const s = await sandbox();
    const ws = workspace({ sandbox: s });
    const rotated = await rekeyIn(ws, ['rotate', ws.credential]);
    expect(rotated.code, show(rotated)).toBe(0);
    const file = join(ws.stateDir, 'audit.jsonl');
    const lines = readFileSync(file, 'utf8').split('\n');
    expect(lines.length).toBeGreaterThan(3);
    lines[1] = '{"seq":2,"at":';
    writeFileSync(file, lines.join('\n'));
    const verified = await rekeyIn(ws, ['audit', 'verify']);
    expect(verified.code, show(verified)).toBe(1);
    expect(verified.stdout).toBe(`${file}:2: the line is not valid JSON: the file was damaged or edited there\n`);
  });

  it('runs/ is a regular file: rotate exits 5 naming it, never "internal error"', async () => {
    const s = await sandbox();
    const ws = workspace({ sandbox: s });
    mkdirSync(ws.stateDir, { recursive: true });
    writeFileSync(join(ws.stateDir, 'runs'), 'not a folder\n');
    const result = await rekeyIn(ws, ['rotate', ws.credential]);
    expect(result.code, show(result)).toBe(5);
    expect(result.stderr).toContain(`cannot create the runs folder ${join(ws.stateDir, 'runs')}: a file is in the way where a folder should be (EEXIST)`);
    expect(result.stderr).toContain('hint: move the file that is in the way aside');
    expect(result.stderr).not.toMatch(/internal error|a bug/);
    expect(envValue(ws)).toBe(ws.seed);
  });
});

/** Whether this process may mount (root with the capability): a tmpfs and a read-only bind are then the real faults. */
function canMount(): boolean {
  if (process.getuid?.() !== 0) return false;
  try {
    const probe = mkdtempSync(join(tmpdir(), 'rekey-mount-probe-'));
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', probe], { stdio: 'ignore' });
      execFileSync('umount', [probe], { stdio: 'ignore' });
    } finally {
      rmSync(probe, { recursive: true, force: true });
    }
    return true;
  } catch {
    return false;
  }
}

const mounts: string[] = [];
afterAll(() => {
  for (const path of mounts.splice(0).reverse()) execFileSync('umount', ['-l', path], { stdio: 'ignore' });
});

// Mounting needs root (tests here run as root); elsewhere the unit tests inject the same faults through the writer's
// file operations (test/unit/journal-integrity.test.ts, test/unit/audit-log.test.ts).
describe.runIf(canMount())('a disk that will not take the state (defect 10, real file systems)', () => {
  it('a full disk (64 KiB tmpfs): exit 5, "the disk is full", naming what could not be written; the .env untouched', async () => {
    const s = await sandbox();
    const ws = workspace({ sandbox: s });
    mkdirSync(ws.stateDir);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', ws.stateDir]);
    mounts.push(ws.stateDir);
    // Leave room for a page or so: the state folder's .gitignore, the lock or the journal's first record finds it full.
    writeFileSync(join(ws.stateDir, 'filler'), Buffer.alloc(60 * 1024));
    const result = await rekeyIn(ws, ['rotate', ws.credential]);
    expect(result.code, show(result)).toBe(5);
    expect(result.stderr).toMatch(/cannot .+ \/\S+: the disk is full \(ENOSPC\)/);
    expect(result.stderr).toContain('hint: free some space on that disk');
    expect(result.stderr).not.toMatch(/internal error|a bug/);
    expect(envValue(ws)).toBe(ws.seed);
    expect(s.isActive(ws.seed)).toBe(true);
  });

  it('a read-only state folder (read-only bind mount): exit 5, "read-only file system"', async () => {
    const s = await sandbox();
    const ws = workspace({ sandbox: s });
    const first = await rekeyIn(ws, ['rotate', ws.credential]);
    expect(first.code, show(first)).toBe(0);
    execFileSync('mount', ['--bind', ws.stateDir, ws.stateDir]);
    mounts.push(ws.stateDir);
    execFileSync('mount', ['-o', 'remount,bind,ro', ws.stateDir]);
    const result = await rekeyIn(ws, ['rotate', ws.credential]);
    expect(result.code, show(result)).toBe(5);
    expect(result.stderr).toContain('read-only file system (EROFS)');
    expect(result.stderr).toContain(ws.stateDir.slice(ws.dir.length + 1));
    expect(result.stderr).not.toMatch(/internal error|a bug/);
    // Looking still works on a read-only folder.
    const status = await rekeyIn(ws, ['status']);
    expect(status.code, show(status)).toBe(0);
    expect(runIds(ws)).toHaveLength(1);
  });
});
