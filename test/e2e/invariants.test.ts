/**
 * End-to-end proofs of the safety invariants (docs/design.md#invariants, I1–I5) with real processes: the BUILT CLI is spawned as a
 * child (`node dist/src/cli/main.js`; build first with `npx tsc -p tsconfig.build.json`) in a fresh folder holding a
 * rekey.yaml and a .env, against the sandbox provider started here, in the test process. Every check reads the
 * real outcome: the .env bytes, the sandbox's own view of its keys, the journal, the audit log and the report.
 */
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type Sandbox, startSandbox } from '../../src/sandbox/server.js';
import {
  ACCOUNT,
  allFiles,
  audit,
  chainProblem,
  envText,
  envValue,
  fingerprint,
  journal,
  journalText,
  onlyRun,
  rekeyIn,
  removeWorkspaces,
  reports,
  runIds,
  sandboxPool,
  show,
  siblingLeftovers,
  VARIABLE,
  waitFor,
  whoami,
  workspace,
  type Row,
  type Workspace,
} from './helpers.js';

const sandbox = sandboxPool();
afterAll(() => removeWorkspaces());

const KEY = /^sbx_[0-9a-f]{40}$/;
const overlaps = [
  { runbook: 'sandbox', overlap: 'until-revoked' },
  { runbook: 'sandbox-none', overlap: 'none' },
] as const;

const steps = (rows: readonly Row[], type: string) => rows.filter((r) => r.type === type).map((r) => String(r['step']));
const stepDone = (rows: readonly Row[], step: string) => rows.find((r) => r.type === 'step.done' && r['step'] === step);

/** Key ids from the sandbox's own activity log: minted with mintKey, minted over HTTP, revoked over HTTP. */
function mintedIds(s: Sandbox): { direct: string[]; http: string[]; revoked: string[] } {
  const events = s.activity(ACCOUNT);
  return {
    direct: events.filter((e) => e.action === 'mint' && e.route === 'mintKey').map((e) => e.keyId!),
    http: events.filter((e) => e.action === 'mint' && e.route !== 'mintKey').map((e) => e.keyId!),
    revoked: events.filter((e) => e.action === 'revoke' && e.status === 204).map((e) => e.keyId!),
  };
}

/** The state of the folder that must hold the keys (.env and rekey's sibling files), as one text to search. */
function durableText(ws: Workspace): string {
  return [...allFiles(ws.dir)]
    .filter(([path]) => !path.includes('/.rekey/') && !path.endsWith('rekey.yaml'))
    .map(([, text]) => text)
    .join('\n');
}

describe('rotate against the sandbox: .env, sandbox, journal, audit log and report agree', () => {
  for (const { runbook, overlap } of overlaps) {
    it(`rotates with overlap ${overlap}: new key current and accepted, old key rejected, exactly one mint`, async () => {
      const s = await sandbox({ overlap });
      const ws = workspace({ sandbox: s, runbook });
      const mintedBefore = s.stats.minted;
      const result = await rekeyIn(ws, ['rotate', ws.credential]);
      expect(result.code, show(result)).toBe(0);

      const fresh = envValue(ws)!;
      expect(fresh).toMatch(KEY);
      expect(fresh).not.toBe(ws.seed);
      // Every other byte of the .env is kept: comments, `export`, quoting, the commented-out line, the blank lines.
      expect(readFileSync(ws.envFile, 'utf8')).toBe(envText(fresh));
      expect(statSync(ws.envFile).mode & 0o777).toBe(0o600);
      expect(s.isActive(fresh)).toBe(true);
      expect(s.isActive(ws.seed)).toBe(false);
      expect(await whoami(s, fresh)).toBe(200);
      expect(await whoami(s, ws.seed)).toBe(401);
      expect(s.stats.minted - mintedBefore).toBe(1);
      expect(siblingLeftovers(ws)).toEqual([]);
      expect(existsSync(join(ws.stateDir, 'locks', `${ws.credential}.lock`))).toBe(false);

      const oldFp = fingerprint(ws.seed);
      const newFp = fingerprint(fresh);
      const run = onlyRun(ws);
      const rows = journal(ws, run);
      expect(chainProblem(rows)).toBeUndefined();
      expect(rows[0]).toMatchObject({ type: 'run.started', credential: ws.credential, runbook, overlap });
      expect(rows.at(-1)).toMatchObject({ type: 'run.finished', result: 'done' });
      expect(stepDone(rows, 'preflight')?.['data']).toMatchObject({ old: oldFp });
      expect(stepDone(rows, 'mint')?.['data']).toMatchObject({ new: newFp });
      // I2: with an overlap, revoke comes after verify passed; with none there is no revoke step at all.
      const done = steps(rows, 'step.done');
      if (overlap === 'until-revoked') expect(done.indexOf('revoke:revoke-old')).toBeGreaterThan(done.indexOf('verify:whoami'));
      else expect(done.filter((id) => id.startsWith('revoke:'))).toEqual([]);
      expect(done.indexOf('verify-revoked:old-rejected')).toBeGreaterThan(done.indexOf('verify:whoami'));

      const records = audit(ws);
      expect(chainProblem(records)).toBeUndefined();
      expect(records.map((r) => r['phase'])).toEqual(['generate', 'rollout', 'verify', 'revoke', 'audit', 'run']);
      for (const record of records) {
        expect(record).toMatchObject({ credential: ws.credential, run, result: 'done', fingerprints: { old: oldFp, new: newFp } });
      }

      const written = [...reports(ws).values()];
      expect(written).toHaveLength(1);
      expect(written[0]).toContain('| result | **done** |');
      expect(written[0]).toContain(`\`${run}\``);
      expect(written[0]).toMatch(new RegExp(`old key \\| …${ws.seed.slice(-4)} \`${oldFp}\``));
      expect(written[0]).toMatch(new RegExp(`new key \\| …${fresh.slice(-4)} \`${newFp}\``));
      if (overlap === 'none') expect(written[0]).toContain('outage window');

      const verify = await rekeyIn(ws, ['audit', 'verify']);
      expect(verify.code, show(verify)).toBe(0);
    });
  }
});

describe('I1/I5: a run killed after any journal record is finished by one resume, minting exactly one key', () => {
  describe.concurrent('at every journal boundary', () => {
    for (const { runbook, overlap } of overlaps) {
      it(`overlap ${overlap}`, async ({ expect }) => {
        // One uninterrupted run counts the records R; then a run is killed after each record 1..R-1 in turn.
        const probe = await startSandbox({ overlap });
        let total: number;
        try {
          const ws = workspace({ sandbox: probe, runbook });
          const result = await rekeyIn(ws, ['rotate', ws.credential]);
          expect(result.code, show(result)).toBe(0);
          total = journal(ws, onlyRun(ws)).length;
        } finally {
          await probe.close();
        }
        expect(total).toBeGreaterThan(10);

        for (let n = 1; n < total; n++) {
          const s = await startSandbox({ overlap });
          try {
            const ws = workspace({ sandbox: s, runbook });
            const before = s.stats.minted;
            const killed = await rekeyIn(ws, ['rotate', ws.credential], { env: { REKEY_TEST_KILL_AFTER_RECORD: String(n) } });
            const at = `killed after record ${n}`;
            expect(killed.signal, `${at}\n${show(killed)}`).toBe('SIGKILL');
            const run = onlyRun(ws);
            const rows = journal(ws, run);
            expect(rows.length, at).toBe(n);
            expect(chainProblem(rows), at).toBeUndefined();
            // I1 at the instant of the crash: the old value is still on disk until retire is done, and whatever the
            // provider minted is on disk too (checked once the resume tells us the new key).
            const onDisk = durableText(ws);
            const retired = stepDone(rows, 'retire:0') !== undefined;
            if (!retired) expect(onDisk.includes(ws.seed), `${at}: old key on disk`).toBe(true);
            const mintedAtCrash = s.stats.minted - before;

            const resumed = await rekeyIn(ws, ['resume', run]);
            expect(resumed.code, `${at}\n${show(resumed)}`).toBe(0);
            expect(resumed.stdout, at).toContain('took over a stale lock');
            const fresh = envValue(ws)!;
            expect(fresh, at).toMatch(KEY);
            expect(fresh, at).not.toBe(ws.seed);
            expect(readFileSync(ws.envFile, 'utf8'), at).toBe(envText(fresh));
            expect(s.isActive(fresh), `${at}: new key accepted`).toBe(true);
            expect(s.isActive(ws.seed), `${at}: old key rejected`).toBe(false);
            expect(s.stats.minted - before, `${at}: keys minted`).toBe(1);
            // Once the mint step is done its key is on disk. Between the mint's intent and its staging the key exists
            // only at the provider and in the dead process: the sandbox's mint is idempotent (Idempotency-Key from the
            // run id), so the resume must have got that same key back — one mint in all, checked above.
            if (mintedAtCrash === 1 && stepDone(rows, 'mint') !== undefined)
              expect(onDisk.includes(fresh), `${at}: the key minted before the crash was on disk`).toBe(true);
            expect(siblingLeftovers(ws), at).toEqual([]);
            const after = journal(ws, run);
            expect(chainProblem(after), at).toBeUndefined();
            expect(after.slice(0, n), at).toEqual(rows);
            expect(
              after.find((r) => r.type === 'run.resumed'),
              at,
            ).toBeDefined();
            expect(after.at(-1), at).toMatchObject({ type: 'run.finished', result: 'done' });
            expect(stepDone(after, 'mint')?.['data'], at).toMatchObject({ new: fingerprint(fresh) });
            // I5: each step is done exactly once across the crash and the resume.
            const done = steps(after, 'step.done');
            expect(new Set(done).size, at).toBe(done.length);
            const records = audit(ws);
            expect(chainProblem(records), at).toBeUndefined();
            expect(records.at(-1), at).toMatchObject({ phase: 'run', result: 'done', fingerprints: { old: fingerprint(ws.seed), new: fingerprint(fresh) } });
            // The report tells the run from its first start, and for overlap none the whole outage window across the
            // crash: from the mint's start, at least until the crash.
            const [report] = [...reports(ws).values()];
            expect(report, at).toContain(`| started | ${rows[0]!['at']} |`);
            expect(report, at).toMatch(/\| total \| [\d:]+ \(budget 5:00\) — this attempt \(resumed\); the run first started as above \|/);
            const mintStarted = rows.find((r) => r.type === 'step.started' && r['step'] === 'mint');
            if (overlap === 'none' && mintStarted !== undefined) {
              const window = /\| outage window \| (?:at most |at least )?(?:(\d+)ms|([\d.]+)s):/.exec(report!);
              expect(window, `${at}: outage window in the report`).not.toBeNull();
              const ms = window![1] !== undefined ? Number(window![1]) : Number(window![2]) * 1000;
              // Closed before the crash (revoke had begun): from the mint's start to the last verify step; else still open.
              const closed = rows.some((r) => r.type === 'step.started' && r['phase'] === 'revoke');
              const end = closed ? rows.findLast((r) => r.type === 'step.done' && r['phase'] === 'verify')! : rows.at(-1)!;
              const openBeforeCrash = Date.parse(end['at'] as string) - Date.parse(mintStarted['at'] as string);
              expect(ms + 100, `${at}: outage ${ms} ms spans the ${openBeforeCrash} ms before the crash`).toBeGreaterThanOrEqual(openBeforeCrash);
            }
          } finally {
            await s.close();
          }
        }
      }, 120_000);
    }
  });
});

/** A rollout hook that fails on its first call only, as a consumer that is down for a moment. */
const FAILS_ONCE = {
  name: 'restart workers',
  exec: ['node', '-e', "const f=require('fs');if(!f.existsSync('hook-ok')){f.writeFileSync('hook-ok','');process.exit(3)}"],
};

describe('I1: a new run is refused while an unfinished run still keeps a value in a store', () => {
  it('overlap none, after a failed run that must be fixed forward: the next rotate mints nothing and keeps the current key alive', async () => {
    const s = await sandbox({ overlap: 'none' });
    const ws = workspace({
      sandbox: s,
      runbook: 'sandbox-none',
      rollout: [FAILS_ONCE],
    });
    const before = s.stats.minted;
    const failed = await rekeyIn(ws, ['rotate', ws.credential]);
    expect(failed.code, show(failed)).toBe(1);
    const run = onlyRun(ws);
    const current = envValue(ws)!;
    expect(s.isActive(current)).toBe(true);

    // A scheduler fires again: without the refusal this mint would kill `current` and strand the new key in memory.
    const again = await rekeyIn(ws, ['rotate', ws.credential]);
    expect(again.code, show(again)).toBe(3);
    expect(again.stderr).toContain(`run ${run} of ${ws.credential} did not finish`);
    expect(again.stderr).toContain(`rekey resume ${run}`);
    expect(s.stats.minted - before).toBe(1);
    expect(s.isActive(current)).toBe(true);
    expect(runIds(ws)).toEqual([run]);

    const resumed = await rekeyIn(ws, ['resume', run]);
    expect(resumed.code, show(resumed)).toBe(0);
    expect(envValue(ws)).toBe(current);
    expect(s.isActive(current)).toBe(true);
    // Once that run is done, the credential rotates again as usual (seconds later: past the short window on purpose).
    const next = await rekeyIn(ws, ['rotate', ws.credential, '--allow-recent']);
    expect(next.code, show(next)).toBe(0);
    expect(s.isActive(envValue(ws)!)).toBe(true);
    expect(s.isActive(current)).toBe(false);
  }, 60_000);

  it('until-revoked, after a run killed mid-way: the next rotate is refused before minting, and resume finishes', async () => {
    const s = await sandbox({ overlap: 'until-revoked' });
    const ws = workspace({ sandbox: s, runbook: 'sandbox' });
    const before = s.stats.minted;
    // Record 7: the mint is done (started, intent, minted, done), its key staged.
    const killed = await rekeyIn(ws, ['rotate', ws.credential], { env: { REKEY_TEST_KILL_AFTER_RECORD: '7' } });
    expect(killed.signal, show(killed)).toBe('SIGKILL');
    const run = onlyRun(ws);
    const again = await rekeyIn(ws, ['rotate', ws.credential]);
    expect(again.code, show(again)).toBe(3);
    expect(again.stderr).toContain(`rekey resume ${run}`);
    expect(s.stats.minted - before).toBe(1);
    expect(runIds(ws)).toEqual([run]);
    const resumed = await rekeyIn(ws, ['resume', run]);
    expect(resumed.code, show(resumed)).toBe(0);
    expect(s.isActive(envValue(ws)!)).toBe(true);
    expect(s.isActive(ws.seed)).toBe(false);
    expect(s.stats.minted - before).toBe(1);
  }, 60_000);
});

describe('I2: no revoke before verify passed; failures before revoke roll back', () => {
  it('verify failing for the new key never reaches revoke, and rolls back to the old key', async () => {
    // The sandbox answers 401 to checks of every key minted over HTTP: the new key fails verify, the seed passes.
    const s = await sandbox({ overlap: 'until-revoked', rejectMintedOverHttp: true });
    const ws = workspace({ sandbox: s, runbook: 'sandbox' });
    const before = s.stats.minted;
    const result = await rekeyIn(ws, ['rotate', ws.credential]);
    expect(result.code, show(result)).toBe(1);
    expect(result.stdout).toContain('rolled back');

    const rows = journal(ws, onlyRun(ws));
    expect(chainProblem(rows)).toBeUndefined();
    const touched = [...steps(rows, 'step.started'), ...steps(rows, 'step.done')];
    expect(touched.filter((id) => /^(revoke|verify-revoked|retire):/.test(id))).toEqual([]);
    expect(rows.find((r) => r.type === 'step.failed')).toMatchObject({ step: 'verify:whoami' });
    expect(rows.at(-1)).toMatchObject({ type: 'run.finished', result: 'rolled-back' });

    // The old key is current again, byte for byte, and still works; the unused new key was discarded.
    expect(readFileSync(ws.envFile, 'utf8')).toBe(envText(ws.seed));
    expect(s.isActive(ws.seed)).toBe(true);
    s.rejectMintedOverHttp = false;
    expect(await whoami(s, ws.seed)).toBe(200);
    expect(s.stats.minted - before).toBe(1);
    const ids = mintedIds(s);
    expect(ids.http).toHaveLength(1);
    expect(ids.revoked).toEqual(ids.http);
    expect(siblingLeftovers(ws)).toEqual([]);

    const report = [...reports(ws).values()][0]!;
    expect(report).toContain('| result | **rolled-back** |');
    expect(report).toContain('still works');
    expect(audit(ws).map((r) => r['result'])).toContain('rolled-back');
    expect((await rekeyIn(ws, ['audit', 'verify'])).code).toBe(0);
    // Rolling back a rolled-back run again only cleans up (defect 4): nothing is minted or discarded a second time,
    // and the old key stays current and alive.
    const requests = { ...s.stats.requests };
    const again = await rekeyIn(ws, ['rollback', onlyRun(ws)]);
    expect(again.code, show(again)).toBe(0);
    expect(again.stdout).toContain('cleaning up after an earlier rollback');
    expect(s.stats.requests).toEqual(requests);
    expect(readFileSync(ws.envFile, 'utf8')).toBe(envText(ws.seed));
    expect(s.isActive(ws.seed)).toBe(true);
  }, 60_000);

  it('a failing rollout hook rolls back: old key current and working, new key discarded', async () => {
    const s = await sandbox({ overlap: 'until-revoked' });
    const ws = workspace({ sandbox: s, runbook: 'sandbox', rollout: [{ name: 'restart workers', exec: ['node', '-e', 'process.exit(3)'] }] });
    const result = await rekeyIn(ws, ['rotate', ws.credential]);
    expect(result.code, show(result)).toBe(1);
    expect(result.stdout).toContain('restart workers: exit 3');
    expect(result.stdout).toContain('rolled back');
    const rows = journal(ws, onlyRun(ws));
    expect(rows.find((r) => r.type === 'step.failed')).toMatchObject({ step: 'hook:0' });
    expect(steps(rows, 'step.started').filter((id) => /^(verify|revoke|verify-revoked|retire):/.test(id))).toEqual([]);
    expect(rows.at(-1)).toMatchObject({ type: 'run.finished', result: 'rolled-back' });
    expect(readFileSync(ws.envFile, 'utf8')).toBe(envText(ws.seed));
    expect(await whoami(s, ws.seed)).toBe(200);
    const ids = mintedIds(s);
    expect(ids.http).toHaveLength(1);
    expect(ids.revoked).toEqual(ids.http);
    expect(siblingLeftovers(ws)).toEqual([]);
    expect([...reports(ws).values()][0]).toContain('**rolled-back**');
  }, 60_000);

  it('overlap none is never rolled back: `rekey rollback` is refused (fix forward), and resume finishes the run', async () => {
    const s = await sandbox({ overlap: 'none' });
    // The hook fails on its first call only, as a consumer that is down for a moment.
    const ws = workspace({
      sandbox: s,
      runbook: 'sandbox-none',
      rollout: [FAILS_ONCE],
    });
    const before = s.stats.minted;
    const failed = await rekeyIn(ws, ['rotate', ws.credential]);
    expect(failed.code, show(failed)).toBe(1);
    expect(failed.stdout).toContain('failed');
    const run = onlyRun(ws);
    expect(journal(ws, run).at(-1)).toMatchObject({ type: 'run.finished', result: 'failed' });
    const fresh = envValue(ws)!;
    expect(fresh).not.toBe(ws.seed);
    expect(s.isActive(ws.seed)).toBe(false);

    const rollback = await rekeyIn(ws, ['rollback', run]);
    expect(rollback.code, show(rollback)).toBe(3);
    expect(rollback.stderr).toMatch(/overlap none/);
    expect(rollback.stderr).toMatch(/fix forward/);
    expect(envValue(ws)).toBe(fresh);

    const resumed = await rekeyIn(ws, ['resume', run]);
    expect(resumed.code, show(resumed)).toBe(0);
    expect(envValue(ws)).toBe(fresh);
    expect(s.isActive(fresh)).toBe(true);
    expect(s.stats.minted - before).toBe(1);
    expect(siblingLeftovers(ws)).toEqual([]);
  }, 60_000);
});

describe('I3: no secret value in output, files or process arguments', () => {
  // The hook proves what it received: it writes its argv (and the kernel's view of its command line) to one file,
  // and only a fingerprint of NEW_KEY to another, so that the test can tell the key did reach its environment.
  const hookScript = [
    "const f=require('fs'),c=require('crypto');",
    "let cmdline='';try{cmdline=f.readFileSync('/proc/self/cmdline','utf8')}catch{}",
    "f.appendFileSync('hook-argv.txt',JSON.stringify({argv:process.argv,execArgv:process.execArgv,cmdline})+'\\n');",
    "const k=process.env.NEW_KEY||'';",
    "f.appendFileSync('hook-env.txt',c.createHash('sha256').update(k).digest('hex').slice(0,16)+'\\n');",
    // The first call also prints the key to stderr and fails: rekey quotes a failing hook's stderr in its error.
    "if(process.env.HOOK_FAIL_ONCE&&!f.existsSync('hook-failed')){f.writeFileSync('hook-failed','');console.error('cannot use key '+k);process.exit(1)}",
  ].join('');

  function canaryWorkspace(s: Sandbox, fail: boolean): { ws: Workspace; decoy: string } {
    const ws = workspace({
      sandbox: s,
      runbook: 'sandbox',
      rollout: [{ name: 'restart workers', exec: ['node', '-e', hookScript], env: { NEW_KEY: '{{ new }}', ...(fail ? { HOOK_FAIL_ONCE: '1' } : {}) } }],
    });
    // A key of the same account that rekey never touches, in the same .env: it must not leak either.
    const decoy = s.mintKey(ACCOUNT);
    writeFileSync(ws.envFile, `${envText(ws.seed)}DECOY_KEY=${decoy}\n`, { mode: 0o600 });
    return { ws, decoy };
  }

  /** Every place a value must never be: command output, and every file rekey wrote (journal, audit, reports, locks). */
  function places(ws: Workspace, outputs: Record<string, string>): Map<string, string> {
    const found = new Map(Object.entries(outputs));
    for (const [path, text] of allFiles(ws.stateDir)) found.set(path, text);
    found.set('hook-argv.txt', readFileSync(join(ws.dir, 'hook-argv.txt'), 'utf8'));
    return found;
  }

  function expectNoCanary(where: Map<string, string>, canaries: readonly string[]): void {
    for (const [place, text] of where) {
      for (const canary of canaries) {
        // The value itself and its last 8 characters: a mask shows 4, anything more is a leak.
        expect(text.includes(canary), `${place} holds a key`).toBe(false);
        expect(text.includes(canary.slice(-8)), `${place} holds the end of a key`).toBe(false);
      }
    }
  }

  it('a successful rotation: no key in stdout, stderr, journal, audit log, report, or the hook argv', async () => {
    const s = await sandbox({ overlap: 'until-revoked' });
    const { ws, decoy } = canaryWorkspace(s, false);
    const rotated = await rekeyIn(ws, ['rotate', ws.credential]);
    expect(rotated.code, show(rotated)).toBe(0);
    const fresh = envValue(ws)!;
    expect(fresh).not.toBe(ws.seed);
    const status = await rekeyIn(ws, ['status']);
    const log = await rekeyIn(ws, ['log', onlyRun(ws)]);
    const json = await rekeyIn(ws, ['log', '--json']);
    const outputs = {
      'rotate stdout': rotated.stdout,
      'rotate stderr': rotated.stderr,
      status: status.stdout + status.stderr,
      log: log.stdout + log.stderr,
      'log --json': json.stdout,
    };
    const where = places(ws, outputs);
    expect([...where.keys()].some((p) => p.includes('/runs/'))).toBe(true);
    expect([...where.keys()].some((p) => p.includes('/reports/'))).toBe(true);
    expectNoCanary(where, [ws.seed, fresh, decoy]);

    // The hook ran, without the key in its command line, and with the key in its environment.
    const argv = readFileSync(join(ws.dir, 'hook-argv.txt'), 'utf8');
    expect(argv).toContain('hook-argv.txt');
    expect(argv.includes(fresh)).toBe(false);
    expect(readFileSync(join(ws.dir, 'hook-env.txt'), 'utf8').trim()).toBe(fingerprint(fresh));
    // Fingerprints and masks are what the output shows instead.
    expect(rotated.stdout).toContain(fingerprint(fresh));
    expect(rotated.stdout).toContain(`…${fresh.slice(-4)}`);
  }, 60_000);

  it('a failing hook that prints the key: the error message, journal and report are scrubbed (--json too)', async () => {
    const s = await sandbox({ overlap: 'until-revoked' });
    const { ws, decoy } = canaryWorkspace(s, true);
    const rotated = await rekeyIn(ws, ['--json', 'rotate', ws.credential]);
    expect(rotated.code, show(rotated)).toBe(1);
    const events = rotated.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    const failure = events.find((e) => e['event'] === 'step.failed');
    expect(failure).toMatchObject({ step: 'hook:0' });
    // The hook's stderr is quoted in the error, with the key replaced: the redaction happened, not an omission.
    expect(String(failure!['error'])).toMatch(/cannot use key \[redacted …[0-9a-f]{4}\]/);
    expect(readFileSync(ws.envFile, 'utf8')).toContain(`${VARIABLE}=${ws.seed}\n`);
    // The key the hook printed is the (discarded) new one: its fingerprint is in hook-env.txt, first line.
    const newFp = readFileSync(join(ws.dir, 'hook-env.txt'), 'utf8').split('\n')[0]!;
    expect(journalText(ws, onlyRun(ws))).toContain(newFp);
    const report = [...reports(ws).values()][0]!;
    expect(report).toContain('[redacted …');
    const where = places(ws, { stdout: rotated.stdout, stderr: rotated.stderr });
    expectNoCanary(where, [ws.seed, decoy]);
    // The new key's value is not known here (it was discarded): no sbx_ key of any kind may appear.
    for (const [place, text] of where) expect(/sbx_[0-9a-f]{8,}/.test(text), `${place} holds a key`).toBe(false);
  }, 60_000);

  it('a config with {{ new }} in a hook command line is refused with exit 2, before anything runs', async () => {
    const s = await sandbox({ overlap: 'until-revoked' });
    const ws = workspace({ sandbox: s, runbook: 'sandbox', rollout: [{ exec: ['deploy', '--key', '{{ new }}'] }] });
    const before = s.stats.minted;
    const result = await rekeyIn(ws, ['rotate', ws.credential]);
    expect(result.code, show(result)).toBe(2);
    expect(result.stderr).toMatch(/rekey\.yaml:\d+:\d+: .*a secret must not appear in a command line/);
    // The location points at the offending line.
    const line =
      readFileSync(ws.config, 'utf8')
        .split('\n')
        .findIndex((l) => l.includes('{{ new }}')) + 1;
    expect(result.stderr).toContain(`rekey.yaml:${line}:`);
    expect(result.stderr).toContain('env:');
    expect(s.stats.minted).toBe(before);
    expect(existsSync(join(ws.stateDir, 'runs'))).toBe(false);
    expect(readFileSync(ws.envFile, 'utf8')).toBe(envText(ws.seed));
  });
});

describe('I4: one run per credential', () => {
  // A rollout hook that holds the run (and so its lock) until the test writes `release` beside the .env: no timing.
  const held = {
    name: 'slow restart',
    exec: ['node', '-e', "const f=require('fs');const t=setInterval(()=>{if(f.existsSync('release'))clearInterval(t)},20)"],
  };

  it('of two concurrent rotations, one runs and the other is refused (exit 3) naming the holder', async () => {
    const s = await sandbox({ overlap: 'until-revoked' });
    const ws = workspace({ sandbox: s, runbook: 'sandbox', rollout: [held] });
    const before = s.stats.minted;
    const pids: number[] = [];
    // Both start at once; the first to end (the refused one) releases the other.
    const runs = [0, 1].map(() => rekeyIn(ws, ['rotate', ws.credential], { onSpawn: (pid) => pids.push(pid) }));
    await Promise.race(runs);
    writeFileSync(join(ws.dir, 'release'), '');
    const results = await Promise.all(runs);
    const codes = results.map((r) => r.code).sort();
    expect(codes, results.map(show).join('\n')).toEqual([0, 3]);
    const winner = results.find((r) => r.code === 0)!;
    const loser = results.find((r) => r.code === 3)!;
    const run = onlyRun(ws);
    const holderPid = journal(ws, run)[0]!['pid'] as number;
    expect(pids).toContain(holderPid);
    expect(loser.stderr).toContain(`is being rotated by run ${run}`);
    expect(loser.stderr).toContain(`pid ${holderPid}`);
    expect(winner.stdout).toContain(run);
    expect(s.stats.minted - before).toBe(1);
    expect(s.isActive(envValue(ws)!)).toBe(true);
    expect(s.isActive(ws.seed)).toBe(false);
  }, 60_000);

  it('a second run while the first one is running is refused; the lock is released when it ends', async () => {
    const s = await sandbox({ overlap: 'until-revoked' });
    const ws = workspace({ sandbox: s, runbook: 'sandbox', rollout: [held] });
    const lock = join(ws.stateDir, 'locks', `${ws.credential}.lock`);
    const first = rekeyIn(ws, ['rotate', ws.credential]);
    await waitFor(() => existsSync(lock) && readFileSync(lock, 'utf8').length > 0);
    const second = await rekeyIn(ws, ['rotate', ws.credential]);
    expect(second.code, show(second)).toBe(3);
    const holder = JSON.parse(readFileSync(lock, 'utf8')) as { run: string; pid: number };
    expect(second.stderr).toContain(`run ${holder.run} (pid ${holder.pid}`);
    writeFileSync(join(ws.dir, 'release'), '');
    expect((await first).code).toBe(0);
    expect(existsSync(lock)).toBe(false);
    const third = await rekeyIn(ws, ['status']);
    expect(third.stdout).toMatch(/done/);
  }, 60_000);

  it('a stale lock left by a killed run is taken over by `rekey resume`, which says so', async () => {
    const s = await sandbox({ overlap: 'until-revoked' });
    const ws = workspace({ sandbox: s, runbook: 'sandbox' });
    const lock = join(ws.stateDir, 'locks', `${ws.credential}.lock`);
    let childPid = 0;
    // Killed right after record 9 (the promote is done): mid-run, holding the lock.
    const killed = await rekeyIn(ws, ['rotate', ws.credential], { env: { REKEY_TEST_KILL_AFTER_RECORD: '9' }, onSpawn: (pid) => (childPid = pid) });
    expect(killed.signal, show(killed)).toBe('SIGKILL');
    const run = onlyRun(ws);
    const stale = JSON.parse(readFileSync(lock, 'utf8')) as { run: string; pid: number };
    expect(stale).toMatchObject({ run, pid: childPid });
    const resumed = await rekeyIn(ws, ['resume', run]);
    expect(resumed.code, show(resumed)).toBe(0);
    expect(resumed.stdout).toContain(`took over a stale lock of run ${run} (pid ${childPid} is no longer running)`);
    expect(existsSync(lock)).toBe(false);
    expect(s.isActive(envValue(ws)!)).toBe(true);
    expect(s.isActive(ws.seed)).toBe(false);
    expect(runIds(ws)).toEqual([run]);
  }, 60_000);
});
