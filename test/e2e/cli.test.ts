/**
 * End-to-end tests of the command line itself, on the BUILT CLI (`node dist/src/cli/main.js`; build first with
 * `npx tsc -p tsconfig.build.json`): rehearse, help, exit codes, status, log, audit verify, plan, --json, NO_COLOR.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { type Sandbox, startSandbox } from '../../src/sandbox/server.js';
import {
  CLI,
  audit,
  chainProblem,
  envText,
  fingerprint,
  envValue,
  journal,
  onlyRun,
  rekey,
  rekeyIn,
  removeWorkspaces,
  reports,
  show,
  whoami,
  workspace,
  type CliResult,
  type Row,
  type Workspace,
} from './helpers.js';

const sandboxes: Sandbox[] = [];
const kept: string[] = [];

async function sandbox(overlap: 'until-revoked' | 'none' = 'until-revoked'): Promise<Sandbox> {
  const started = await startSandbox({ overlap });
  sandboxes.push(started);
  return started;
}

afterEach(async () => {
  await Promise.all(sandboxes.splice(0).map((s) => s.close()));
});
afterAll(() => {
  removeWorkspaces();
  for (const dir of kept) rmSync(dir, { recursive: true, force: true });
});

/** A workspace whose credential has been rotated once, and that run's id. */
async function rotated(): Promise<{ ws: Workspace; run: string; s: Sandbox }> {
  const s = await sandbox();
  const ws = workspace({ sandbox: s });
  const result = await rekeyIn(ws, ['rotate', ws.credential]);
  expect(result.code, show(result)).toBe(0);
  return { ws, run: onlyRun(ws), s };
}

/** The events of a --json command: every line of stdout must be one JSON object. */
function ndjson(result: CliResult): Array<Record<string, unknown>> {
  const lines = result.stdout.split('\n').filter((line) => line !== '');
  expect(lines.length, show(result)).toBeGreaterThan(0);
  return lines.map((line) => {
    try {
      return JSON.parse(line) as Record<string, unknown>;
    } catch {
      throw new Error(`not a JSON line: ${JSON.stringify(line)}\n${show(result)}`);
    }
  });
}

describe('rekey rehearse', () => {
  it('runs all five phases in a temporary folder it names and removes, and prints a timeline', async () => {
    const result = await rekey(['rehearse'], { cwd: tmpdir() });
    expect(result.code, show(result)).toBe(0);
    const folder = /rehearsal in (\S+)/.exec(result.stdout)?.[1];
    expect(folder).toBeDefined();
    expect(folder!.startsWith(tmpdir())).toBe(true);
    for (const phase of ['1 generate', '2 roll out', '3 verify', '4 revoke', '5 audit']) expect(result.stdout).toContain(phase);
    expect(result.stdout).toMatch(/▒ you [\d.:]+m?s? · █ rekey [\d.]+m?s · total /);
    expect(result.stdout).toMatch(/sandbox check: old key …[0-9a-f]{4} rejected/);
    expect(existsSync(folder!)).toBe(false);
  });

  for (const overlap of ['until-revoked', 'none'] as const) {
    it(`--keep (overlap ${overlap}) leaves a folder with the new key, a finished journal, a verified audit log and a report`, async () => {
      const result = await rekey(['rehearse', '--keep', '--overlap', overlap], { cwd: tmpdir() });
      expect(result.code, show(result)).toBe(0);
      const folder = /kept: (\S+)/.exec(result.stdout)?.[1];
      expect(folder).toBeDefined();
      kept.push(folder!);
      const seedMask = /seeded key (…[0-9a-f]{4}) in \.env/.exec(result.stdout)?.[1];
      expect(seedMask).toBeDefined();

      const env = readFileSync(join(folder!, '.env'), 'utf8');
      const fresh = /^SANDBOX_API_KEY=(\S+)$/m.exec(env)?.[1];
      expect(fresh).toMatch(/^sbx_[0-9a-f]{40}$/);
      expect(`…${fresh!.slice(-4)}`).not.toBe(seedMask);
      expect(env).toContain('# Other settings are kept byte for byte.\nLOG_LEVEL=info\n');
      expect(result.stdout.includes(fresh!)).toBe(false);

      const ws = { dir: folder!, stateDir: join(folder!, '.rekey') } as Workspace;
      const rows = journal(ws, onlyRun(ws));
      expect(chainProblem(rows)).toBeUndefined();
      expect(rows.at(-1)).toMatchObject({ type: 'run.finished', result: 'done' });
      const preflight = rows.find((r) => r.type === 'step.done' && r['step'] === 'preflight')!;
      const mint = rows.find((r) => r.type === 'step.done' && r['step'] === 'mint')!;
      expect((mint['data'] as Record<string, unknown>)['new']).toBe(fingerprint(fresh!));
      expect((preflight['data'] as Record<string, unknown>)['old']).not.toBe(fingerprint(fresh!));

      const verify = await rekey(['audit', 'verify', '--config', join(folder!, 'rekey.yaml')], { cwd: tmpdir() });
      expect(verify.code, show(verify)).toBe(0);
      expect(verify.stdout).toContain('chain intact');
      const report = [...reports(ws).values()];
      expect(report).toHaveLength(1);
      expect(report[0]).toContain('| result | **done** |');
      expect(result.stdout).toContain(`report ${join(folder!, '.rekey', 'reports')}`);
      if (overlap === 'none') expect(result.stdout).toMatch(/outage window closed after/);
    });
  }
});

describe('help and exit codes', () => {
  it('--help exits 0 and lists the commands and the exit codes', async () => {
    const result = await rekey(['--help'], { cwd: tmpdir() });
    expect(result.code, show(result)).toBe(0);
    for (const command of ['drill', 'rotate', 'plan', 'check', 'resume', 'rollback', 'status', 'log', 'audit', 'runbook', 'rehearse']) {
      expect(result.stdout).toMatch(new RegExp(`^  ${command}\\b`, 'm'));
    }
    expect(result.stdout).toContain('Exit codes: 0 done');
  });

  it('finds the command after global options, and `rekey help <command>` shows its help', async () => {
    // Only the command a line names is defined (src/cli/main.ts): global options before it must not hide it.
    const json = await rekey(['--json', '--config', 'nowhere/rekey.yaml', 'status'], { cwd: tmpdir() });
    expect(json.code, show(json)).toBe(2);
    const [event] = json.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(event.event).toBe('error');
    expect(event.message).toContain('nowhere/rekey.yaml');
    expect(event.message).not.toContain('unknown');
    for (const args of [
      ['--config=nowhere.yaml', 'status', '--help'],
      ['help', 'status'],
      ['--json', 'help', 'status'],
    ]) {
      const help = await rekey(args, { cwd: tmpdir() });
      expect(help.code, show(help)).toBe(0);
      expect(help.stdout, args.join(' ')).toMatch(/^Usage: rekey status /);
      expect(help.stdout).toContain('--offline');
    }
  });

  it('an unknown credential is bad input (exit 2) with a "did you mean" suggestion', async () => {
    const s = await sandbox();
    const ws = workspace({ sandbox: s });
    for (const command of ['rotate', 'plan', 'drill']) {
      const result = await rekeyIn(ws, [command, 'sandbox-kye']);
      expect(result.code, show(result)).toBe(2);
      expect(result.stderr).toContain('no credential "sandbox-kye"');
      expect(result.stderr).toContain('did you mean "sandbox-key"?');
    }
    expect(existsSync(ws.stateDir)).toBe(false);
  });

  it('a usage error (unknown command or option, missing argument) is bad input: exit 2', async () => {
    for (const args of [['rotat'], ['rotate', '--bogus'], ['plan'], ['audit', 'bogus']]) {
      const result = await rekey(args, { cwd: tmpdir() });
      expect(result.code, `${args.join(' ')}\n${show(result)}`).toBe(2);
      expect(result.stderr).toMatch(/^rekey: /);
    }
  });

  it('no rekey.yaml is bad input (exit 2) with a hint', async () => {
    const result = await rekey(['status'], { cwd: tmpdir() });
    expect(result.code, show(result)).toBe(2);
    expect(result.stderr).toContain('no rekey.yaml');
  });
});

describe('status, log and audit verify after a rotation', () => {
  it('status shows the credential with its age, policy and last run done', async () => {
    const { ws, run } = await rotated();
    const result = await rekeyIn(ws, ['status']);
    expect(result.code, show(result)).toBe(0);
    const row = result.stdout.split('\n').find((line) => line.startsWith(ws.credential));
    expect(row, result.stdout).toBeDefined();
    expect(row).toMatch(/^sandbox-key\s+sandbox\s+0m\s+journal\s+30d\s+in 29d\s+\d{4}-\d\d-\d\d done \(0:0\d\)$/);
    const json = ndjson(await rekeyIn(ws, ['--json', 'status']));
    expect(json).toEqual([expect.objectContaining({ event: 'status', credential: ws.credential, lastRunId: run, overdue: false })]);
  });

  it('a run killed mid-way shows as interrupted, and once resumed as done; the audit head covers both processes', async () => {
    const s = await sandbox();
    const ws = workspace({ sandbox: s });
    const rowOf = (result: CliResult) => result.stdout.split('\n').find((line) => line.startsWith(ws.credential));
    // Killed once the verify phase has begun (record 11: run, preflight ×2, mint started/intent/minted/done, promote ×2,
    // readback started and done): the generate and rollout audit records are written.
    const killed = await rekeyIn(ws, ['rotate', ws.credential], { env: { REKEY_TEST_KILL_AFTER_RECORD: '11' } });
    expect(killed.signal, show(killed)).toBe('SIGKILL');
    const run = onlyRun(ws);
    const during = await rekeyIn(ws, ['status']);
    expect(during.code, show(during)).toBe(0);
    expect(rowOf(during), during.stdout).toMatch(/^sandbox-key\s+sandbox\s+—\s+unknown\s+30d\s+unknown\s+\d{4}-\d\d-\d\d interrupted$/);
    expect(ndjson(await rekeyIn(ws, ['--json', 'status']))).toEqual([
      expect.objectContaining({ lastRunId: run, state: 'unknown', overdue: false, lastRun: expect.stringMatching(/ interrupted$/) }),
    ]);
    expect(during.stdout).toContain(`! sandbox-key: run ${run} was interrupted: finish it with \`rekey resume ${run}\``);

    // The killed process's audit records are already covered by the head: cutting the last one off is caught.
    const file = join(ws.stateDir, 'audit.jsonl');
    const original = readFileSync(file, 'utf8');
    const lines = original.split('\n').filter((l) => l !== '');
    expect(lines.length).toBeGreaterThanOrEqual(2);
    writeFileSync(
      file,
      lines
        .slice(0, -1)
        .map((l) => `${l}\n`)
        .join(''),
    );
    const cut = await rekeyIn(ws, ['audit', 'verify']);
    expect(cut.code, show(cut)).toBe(1);
    expect(cut.stdout).toMatch(/removed from the end/);
    writeFileSync(file, original);

    const resumed = await rekeyIn(ws, ['resume', run]);
    expect(resumed.code, show(resumed)).toBe(0);
    const after = await rekeyIn(ws, ['status']);
    expect(rowOf(after), after.stdout).toMatch(/^sandbox-key\s+sandbox\s+0m\s+journal\s+30d\s+in 29d\s+\d{4}-\d\d-\d\d done \(0:0\d\)$/);
    expect(after.stdout).not.toContain('!');
    expect(ndjson(await rekeyIn(ws, ['--json', 'status']))).toEqual([
      expect.objectContaining({ event: 'status', credential: ws.credential, lastRunId: run, overdue: false }),
    ]);
    expect(ndjson(await rekeyIn(ws, ['--json', 'log']))).toEqual([expect.objectContaining({ event: 'run', run, result: 'done', credential: ws.credential })]);

    // After the run the head names the log's last record (durable, not lagging), and the whole chain verifies.
    const records = audit(ws);
    expect(JSON.parse(readFileSync(join(ws.stateDir, 'audit.head'), 'utf8'))).toMatchObject({ seq: records.at(-1)!['seq'], hash: records.at(-1)!['hash'] });
    expect(chainProblem(records)).toBeUndefined();
    const verified = await rekeyIn(ws, ['audit', 'verify']);
    expect(verified.code, show(verified)).toBe(0);
    expect(verified.stdout).toContain(`${records.length} records, chain intact`);
  });

  it('status of a credential whose age nothing records says so, and how to settle it', async () => {
    const s = await sandbox();
    const ws = workspace({ sandbox: s });
    const result = await rekeyIn(ws, ['status']);
    expect(result.code, show(result)).toBe(0);
    expect(result.stdout).toMatch(/^sandbox-key\s+sandbox\s+—\s+unknown\s+30d\s+unknown\s+—$/m);
    expect(result.stdout).toContain(
      '! sandbox-key: age unknown: no store keeps a date — set policy.lastRotated in rekey.yaml or run `rekey rotate sandbox-key`',
    );
  });

  it('log lists the run; log <run> shows its journal', async () => {
    const { ws, run } = await rotated();
    const list = await rekeyIn(ws, ['log']);
    expect(list.code, show(list)).toBe(0);
    expect(list.stdout).toMatch(new RegExp(`^${run}\\s+sandbox-key\\s+scheduled\\s+done`, 'm'));
    const one = await rekeyIn(ws, ['log', run]);
    expect(one.code, show(one)).toBe(0);
    expect(one.stdout).toMatch(/^ {2}1 \S+ run\.started/m);
    expect(one.stdout).toMatch(/run\.finished\s+result=done/);
    const json = ndjson(await rekeyIn(ws, ['--json', 'log']));
    expect(json).toEqual([expect.objectContaining({ event: 'run', run, result: 'done', credential: ws.credential })]);
    const missing = await rekeyIn(ws, ['log', '20990101T000000Z-000000']);
    // An id that names no run is bad input (issue 13), not a refusal.
    expect(missing.code).toBe(2);
  });

  it('audit verify exits 1 naming the record when a fingerprint is altered, and when the last record is removed', async () => {
    const { ws } = await rotated();
    const file = join(ws.stateDir, 'audit.jsonl');
    const original = readFileSync(file, 'utf8');
    const ok = await rekeyIn(ws, ['audit', 'verify']);
    expect(ok.code, show(ok)).toBe(0);
    expect(ok.stdout).toContain('6 records, chain intact');

    // Alter one fingerprint in the second record.
    const lines = original.split('\n');
    const record = JSON.parse(lines[1]!) as Row;
    const fp = (record['fingerprints'] as { new: string }).new;
    const forged = fp.replace(/^./, (c) => (c === '0' ? '1' : '0'));
    lines[1] = lines[1]!.replace(fp, forged);
    writeFileSync(file, lines.join('\n'));
    const altered = await rekeyIn(ws, ['audit', 'verify']);
    expect(altered.code, show(altered)).toBe(1);
    expect(altered.stdout).toMatch(/audit\.jsonl:2: record 2 was altered after it was written\n$/);
    const json = ndjson(await rekeyIn(ws, ['--json', 'audit', 'verify']));
    expect(json[0]).toMatchObject({ event: 'audit.verified', ok: false, seq: 2, line: 2 });

    // Put it back, then cut the last record off the end.
    writeFileSync(file, original);
    expect((await rekeyIn(ws, ['audit', 'verify'])).code).toBe(0);
    const kept = original.split('\n').filter((l) => l !== '');
    writeFileSync(file, `${kept.slice(0, -1).join('\n')}\n`);
    const cut = await rekeyIn(ws, ['audit', 'verify']);
    expect(cut.code, show(cut)).toBe(1);
    expect(cut.stdout).toMatch(/audit\.jsonl:6: record 6 was removed from the end\n$/);
  });
});

describe('output into a closed pipe (`rekey … | head -1`)', () => {
  /** Run the CLI with its stdout closed before it writes a byte (the reader went away): its exit code and stderr. */
  const withReaderGone = async (args: readonly string[], cwd?: string): Promise<{ code: number | null; stderr: string }> => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy();
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const code = await new Promise<number | null>((done) => child.on('close', done));
    return { code, stderr };
  };

  it("ends quietly with the command's exit code: no EPIPE stack trace", async () => {
    const { code, stderr } = await withReaderGone(['runbook', 'show', 'streampixel', '--format', 'md']);
    expect(stderr).toBe('');
    expect(code).toBe(0);
  });

  it('a rotation whose reader went away still finishes: journal, stores and report are written', async () => {
    const s = await sandbox();
    const ws = workspace({ sandbox: s });
    const { code, stderr } = await withReaderGone(['--json', 'rotate', ws.credential], ws.dir);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(journal(ws, onlyRun(ws)).at(-1)).toMatchObject({ type: 'run.finished', result: 'done' });
    const fresh = envValue(ws)!;
    expect(fresh).not.toBe(ws.seed);
    expect(s.isActive(ws.seed)).toBe(false);
    expect(reports(ws).size).toBe(1);
  });
});

describe('rollout hooks', () => {
  it("a successful hook's last lines are shown beside its step, with any value rekey knows scrubbed out", async () => {
    const s = await sandbox();
    const ws = workspace({
      sandbox: s,
      rollout: [
        {
          name: 'restart web',
          exec: ['sh', '-c', 'echo "using $KEY"; echo \'deployment "web" successfully rolled out\''],
          env: { KEY: '{{ new }}' },
        },
      ],
    });
    const result = await rekeyIn(ws, ['rotate', ws.credential]);
    expect(result.code, show(result)).toBe(0);
    const fresh = envValue(ws)!;
    expect(result.stdout).toMatch(/✓ restart web .* exit 0 · using \[redacted …\w{4}\] \| deployment "web" successfully rolled out/);
    expect(result.stdout).not.toContain(fresh);
  });
});

describe('the state folder in a git repository', () => {
  it("is ignored by git from the first run on (a .gitignore of * inside it), and the project's own ignore files are untouched", async () => {
    const s = await sandbox();
    const ws = workspace({ sandbox: s });
    const git = (...args: string[]) => execFileSync('git', ['-C', ws.dir, ...args], { encoding: 'utf8' });
    git('init', '-q');
    const result = await rekeyIn(ws, ['rotate', ws.credential]);
    expect(result.code, show(result)).toBe(0);
    const untracked = git('status', '--porcelain', '--untracked-files=all');
    expect(untracked).not.toContain('.rekey');
    expect(untracked).toContain('rekey.yaml');
    expect(existsSync(join(ws.dir, '.gitignore'))).toBe(false);
    expect(readFileSync(join(ws.dir, '.git', 'info', 'exclude'), 'utf8')).not.toContain('.rekey');
  });
});

describe('rekey plan', () => {
  it('shows the steps and writes nothing: no .rekey folder, .env unchanged, no provider call', async () => {
    const s = await sandbox('none');
    const ws = workspace({ sandbox: s, runbook: 'sandbox-none', rollout: [{ name: 'restart workers', exec: ['true'] }] });
    const before = { env: readFileSync(ws.envFile), mtime: statSync(ws.envFile).mtimeMs, files: readdirSync(ws.dir).sort(), requests: { ...s.stats.requests } };
    const result = await rekeyIn(ws, ['plan', ws.credential]);
    expect(result.code, show(result)).toBe(0);
    expect(result.stdout).toContain('nothing will be written');
    for (const phase of ['generate', 'rollout', 'verify', 'revoke', 'audit']) expect(result.stdout).toMatch(new RegExp(`^\\s+\\d+\\s+${phase}\\s`, 'm'));
    expect(result.stdout).toContain('restart workers');
    expect(result.stdout).toContain('rollback is impossible');
    const json = ndjson(await rekeyIn(ws, ['--json', 'plan', ws.credential]));
    expect(json[0]).toMatchObject({ event: 'plan', credential: ws.credential, overlap: 'none' });

    expect(existsSync(ws.stateDir)).toBe(false);
    expect(readdirSync(ws.dir).sort()).toEqual(before.files);
    expect(readFileSync(ws.envFile).equals(before.env)).toBe(true);
    expect(statSync(ws.envFile).mtimeMs).toBe(before.mtime);
    expect(s.stats.requests).toEqual(before.requests);
  });
});

describe('output modes', () => {
  it('--json prints only NDJSON events, from run.started to run.finished', async () => {
    const s = await sandbox();
    const ws = workspace({ sandbox: s });
    const result = await rekeyIn(ws, ['--json', 'rotate', ws.credential]);
    expect(result.code, show(result)).toBe(0);
    expect(result.stderr).toBe('');
    const events = ndjson(result);
    const run = onlyRun(ws);
    expect(events[0]).toMatchObject({ event: 'run.started', credential: ws.credential, run, mode: 'scheduled', resumed: false });
    expect(events.at(-1)).toMatchObject({ event: 'run.finished', credential: ws.credential, run, result: 'done' });
    const phases = events.filter((e) => e['event'] === 'phase.started').map((e) => e['phase']);
    expect(phases).toEqual(['generate', 'rollout', 'verify', 'revoke', 'audit']);
    const done = events.filter((e) => e['event'] === 'step.done').length;
    expect(done).toBe(journal(ws, run).filter((r) => r.type === 'step.done').length);
  });

  it('--json failures are events too: a refused resume is one error event with exit 3', async () => {
    const { ws, run } = await rotated();
    const result = await rekeyIn(ws, ['--json', 'resume', run]);
    expect(result.code, show(result)).toBe(3);
    expect(ndjson(result)).toEqual([expect.objectContaining({ event: 'error', code: 3, message: expect.stringContaining('already finished') })]);
  });

  it('NO_COLOR=1 (and any non-terminal) output has no escape characters', async () => {
    const s = await sandbox();
    const ws = workspace({ sandbox: s });
    const rotate = await rekeyIn(ws, ['rotate', ws.credential], { env: { NO_COLOR: '1' } });
    expect(rotate.code, show(rotate)).toBe(0);
    const status = await rekeyIn(ws, ['status'], { env: { NO_COLOR: '1' } });
    const bad = await rekeyIn(ws, ['rotate', 'nope'], { env: { NO_COLOR: '1' } });
    for (const text of [rotate.stdout, rotate.stderr, status.stdout, bad.stderr]) expect(text.includes('\x1b')).toBe(false);
    expect(rotate.stdout).toContain('✓');
  });

  const hasScript = existsSync('/usr/bin/script') && process.platform === 'linux';
  it.skipIf(!hasScript)('on a terminal: colour by default, none with NO_COLOR=1', async () => {
    const s = await sandbox();
    // biome-ignore lint/suspicious/noControlCharactersInRegex: the ESC byte is the point: this matches ANSI escape sequences.
    const sgr = /\x1b\[[0-9;]*m/;
    const onTty = async (noColor: boolean) => {
      const ws = workspace({ sandbox: s });
      const command = `${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} rotate ${ws.credential} --config ${JSON.stringify(ws.config)}`;
      return new Promise<{ code: number | null; out: string; ws: Workspace }>((resolve) => {
        const env: NodeJS.ProcessEnv = { ...process.env, TERM: 'xterm-256color' };
        delete env['NO_COLOR'];
        delete env['FORCE_COLOR'];
        if (noColor) env['NO_COLOR'] = '1';
        const child = spawn('script', ['-qec', command, '/dev/null'], { cwd: ws.dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
        child.stderr.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
        child.on('close', (code) => resolve({ code, out, ws }));
      });
    };
    const coloured = await onTty(false);
    expect(coloured.code, coloured.out).toBe(0);
    expect(sgr.test(coloured.out), 'colour on a terminal').toBe(true);
    const plain = await onTty(true);
    expect(plain.code, plain.out).toBe(0);
    expect(plain.out).toContain('done in');
    expect(sgr.test(plain.out), 'no colour with NO_COLOR').toBe(false);
    expect(readFileSync(plain.ws.envFile, 'utf8')).not.toBe(envText(plain.ws.seed));
  });
});

describe('audit log across runs', () => {
  it('two rotations append to one chain that still verifies, each run with its own fingerprints', async () => {
    const { ws, run } = await rotated();
    // Minutes after the first rotation: allowed on purpose (src/engine/recent.ts).
    const second = await rekeyIn(ws, ['rotate', ws.credential, '--allow-recent']);
    expect(second.code, show(second)).toBe(0);
    const records = audit(ws);
    expect(chainProblem(records)).toBeUndefined();
    expect(records).toHaveLength(12);
    const runs = [...new Set(records.map((r) => r['run']))];
    expect(runs[0]).toBe(run);
    expect(runs).toHaveLength(2);
    const [first, next] = runs.map((id) => records.find((r) => r['run'] === id)!['fingerprints'] as { old: string; new: string });
    expect(next!.old).toBe(first!.new);
    expect((await rekeyIn(ws, ['audit', 'verify'])).code).toBe(0);
  });

  it("the audit window starts at the previous rotation's end, not at the run's own start", async () => {
    const { ws, s } = await rotated();
    // Between the two rotations the key is used once: an audit of "since the last rotation" must see that use.
    expect(await whoami(s, envValue(ws)!)).toBe(200);
    // Minutes after the first rotation: allowed on purpose (src/engine/recent.ts).
    const second = await rekeyIn(ws, ['rotate', ws.credential, '--allow-recent']);
    expect(second.code, show(second)).toBe(0);
    // The second run's report is the one that started last: run ids name only the second, so two runs begun in the
    // same second do not sort by their names.
    const startedOf = (text: string) => Date.parse(/\| started \| (\S+) \|/.exec(text)![1]!);
    const report = [...reports(ws).values()].sort((a, b) => startedOf(a) - startedOf(b)).at(-1)!;
    // The provider's activity, a table under the step's name: a column per field, times in local time (`HH:MM:SS`, with
    // the date when not today). rekey's own requests of this run are left out of it.
    const section = /### activity since the last rotation\n\n[^\n]*\n\n((?:\|[^\n]*\n?)+)/.exec(report)?.[1];
    expect(section, report).toBeDefined();
    const [head, , ...body] = section!.trim().split('\n');
    const cells = (line: string) => line.slice(2, -2).split(' | ');
    const columns = cells(head!);
    const events = body.map((line) => Object.fromEntries(cells(line).map((cell, i) => [columns[i]!, cell])));
    const started = Date.parse(/\| started \| (\S+) \|/.exec(report)![1]!);
    const localAt = (text: string) => {
      const [date, clock] = text.includes(' ') ? text.split(' ') : [undefined, text];
      const day = date === undefined ? new Date(started) : new Date(`${date}T00:00:00`);
      const [h, m, sec] = clock!.split(':').map(Number);
      return new Date(day.getFullYear(), day.getMonth(), day.getDate(), h, m, sec).getTime();
    };
    expect(
      events.some((e) => e['action'] === 'whoami' && localAt(e['at']!) < started),
      section,
    ).toBe(true);
  });
});
