/**
 * Temporary files of atomic writes (issue 8, defect 7). A kill between a temporary file's creation and its rename
 * used to leave `..env.<hex>.tmp` (the whole .env) or `..env.NAME.rekey-staged.<hex>.tmp` (a live key), with the
 * target's mode, under a name the README's ignore patterns did not cover, and nothing ever removed it. Now every
 * temporary file ends in `.rekey-tmp` (a pattern the README lists), is 0600 while it holds the content, names its
 * writer (pid and host), and `sweepTemporaries` removes those whose writer is gone.
 *
 * The kill is deterministic: the writer is a child process that pauses (an injected fs-ops object) once the whole
 * content is in the temporary file, and is SIGKILLed there (test/support/kill-mid-write.ts).
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  holdTemporary,
  sweepFolderTemporaries,
  sweepTemporaries,
  temporaryPath,
  TEMPORARY_STALE_MS,
  writeFileAtomic,
  writeNewFileAtomicAsync,
} from '../../src/util/atomic-file.js';
import { killMidWrite, pauseMidWrite } from '../support/kill-mid-write.js';
import { gitIgnores, gitRepoWithReadmeIgnores } from '../support/readme-ignore.js';

const CANARY = 'sk_live_CANARY_atomic_7f3e9a1c5b2d8e40';
const OLD_ENV = '# deploy settings\nAPI_KEY=sk_live_old_value_0123456789\nLOG_LEVEL=info\n';

let repo: string;
let deploy: string;
beforeEach(() => {
  repo = mkdtempSync(join(tmpdir(), 'rekey-atomic-'));
  deploy = join(repo, 'deploy');
  mkdirSync(deploy);
});
afterEach(() => {
  rmSync(repo, { recursive: true, force: true });
});

/** Every file in the deploy folder that holds the canary. */
const holdingCanary = () => readdirSync(deploy).filter((name) => readFileSync(join(deploy, name), 'latin1').includes(CANARY));
const mode = (path: string) => statSync(path).mode & 0o777;

describe('atomic writes killed before the rename (defect 7)', () => {
  // The .env itself (0644 here, as many are), and the two sibling files that hold a key during a run.
  for (const target of ['.env', '.env.API_KEY.rekey-staged', '.env.API_KEY.rekey-previous']) {
    it(
      `a SIGKILL while writing ${target} leaves one temporary file that the README's patterns ignore, mode 0600, removed by sweepTemporaries once its ` +
        `writer is dead (defect 7)`,
      async () => {
        writeFileSync(join(deploy, '.env'), OLD_ENV, { mode: 0o644 });
        gitRepoWithReadmeIgnores(repo);
        const path = join(deploy, target);
        const before = new Set(readdirSync(deploy));
        const writer = await pauseMidWrite(path, CANARY, { mode: 0o600 });
        const left = readdirSync(deploy).filter((name) => !before.has(name));
        expect(left).toHaveLength(1);
        const temp = join(deploy, left[0]!);
        // The whole content is in it: this is the file a crash at this instant leaves behind.
        expect(holdingCanary()).toEqual(left);
        // (a) `git add -A` would not pick it up.
        expect(gitIgnores(repo, `deploy/${left[0]}`), `${left[0]} is not covered by the README's ignore patterns`).toBe(true);
        // (b) Nobody else can read it, whatever the target's mode (the .env is 0644).
        expect(mode(temp).toString(8)).toBe('600');
        // A live writer's temporary file is never swept from under it.
        expect(sweepTemporaries(path)).toEqual([]);
        expect(existsSync(temp)).toBe(true);
        await writer.kill();
        // (c) Its writer is dead: the next run's sweep removes it, and no copy of the value is left.
        expect(sweepTemporaries(path)).toEqual([temp]);
        expect(holdingCanary()).toEqual([]);
        expect(readFileSync(join(deploy, '.env'), 'utf8')).toBe(OLD_ENV);
        expect(mode(join(deploy, '.env')).toString(8)).toBe('644');
      },
    );
  }

  it(
    "a sweep removes only the temporary files of its own target: not another file's, not staged or previous files, not unrelated files (defect " + '7)',
    async () => {
      writeFileSync(join(deploy, '.env'), OLD_ENV, { mode: 0o600 });
      writeFileSync(join(deploy, 'app.env'), OLD_ENV, { mode: 0o600 });
      const keep = ['.env.API_KEY.rekey-staged', '.env.API_KEY.rekey-previous', 'notes.tmp', '.env.rekey-lock', 'README'];
      for (const name of keep) writeFileSync(join(deploy, name), 'kept\n', { mode: 0o600 });
      await killMidWrite(join(deploy, 'app.env'), CANARY);
      await killMidWrite(join(deploy, '.env.API_KEY.rekey-staged'), CANARY);
      const appTemp = readdirSync(deploy).filter((n) => n.startsWith('.app.env.') && n.endsWith('.rekey-tmp'));
      expect(appTemp).toHaveLength(1);
      // The .env's own sweep finds none of its own here.
      expect(sweepTemporaries(join(deploy, '.env'))).toEqual([]);
      expect(sweepTemporaries(join(deploy, 'app.env'))).toEqual([join(deploy, appTemp[0]!)]);
      expect(sweepTemporaries(join(deploy, '.env.API_KEY.rekey-staged'))).toHaveLength(1);
      expect(readdirSync(deploy).sort()).toEqual([...keep, '.env', 'app.env'].sort());
      for (const name of keep) expect(readFileSync(join(deploy, name), 'utf8')).toBe('kept\n');
    },
  );

  it(
    'a temporary file named after this very process is swept: writes are synchronous, so none of ours is in progress (a pid reused after a restart) ' +
      '(defect 7)',
    () => {
      const target = join(deploy, '.env');
      const temp = temporaryPath(target);
      writeFileSync(temp, CANARY, { mode: 0o600 });
      expect(sweepTemporaries(target)).toEqual([temp]);
    },
  );

  it("another host's temporary file (a shared folder) is kept while young and swept once older than TEMPORARY_STALE_MS (defect 7)", () => {
    const target = join(deploy, '.env');
    const temp = temporaryPath(target, { pid: process.pid, host: 'another-host.example' });
    writeFileSync(temp, CANARY, { mode: 0o600 });
    expect(sweepTemporaries(target)).toEqual([]);
    expect(sweepTemporaries(target, { now: Date.now() + TEMPORARY_STALE_MS + 1_000 })).toEqual([temp]);
  });

  it("this process's own temporary file: swept (a container's earlier rekey had the same pid), unless it is writing it now", () => {
    const target = join(deploy, 'audit.head');
    const writingNow = temporaryPath(target);
    const leftOver = temporaryPath(target);
    writeFileSync(writingNow, '{}', { mode: 0o600 });
    writeFileSync(leftOver, '{}', { mode: 0o600 });
    const release = holdTemporary(writingNow);
    // Another run of this process sweeps while the file waits for its rename (an asynchronous write): it stays.
    expect(sweepTemporaries(target)).toEqual([leftOver]);
    expect(existsSync(writingNow)).toBe(true);
    release();
    expect(sweepTemporaries(target)).toEqual([writingNow]);
  });

  it('temporary files of earlier rekey versions (`..env.<hex>.tmp`, no writer in the name) are swept once old, kept while young (defect 7)', () => {
    const target = join(deploy, '.env');
    const young = join(deploy, '..env.a1b2c3d4e5f6.tmp');
    const old = join(deploy, '..env.0f0f0f0f0f0f.tmp');
    writeFileSync(young, CANARY, { mode: 0o600 });
    writeFileSync(old, CANARY, { mode: 0o600 });
    const long = new Date(Date.now() - TEMPORARY_STALE_MS - 60_000);
    utimesSync(old, long, long);
    expect(sweepTemporaries(target)).toEqual([old]);
    expect(existsSync(young)).toBe(true);
  });

  it('a missing folder sweeps nothing and throws nothing', () => {
    expect(sweepTemporaries(join(repo, 'nowhere', '.env'))).toEqual([]);
  });
});

describe('atomic writes', () => {
  it("keep the target's mode, give a new file the mode asked for, and leave no temporary file", () => {
    const env = join(deploy, '.env');
    writeFileSync(env, OLD_ENV, { mode: 0o640 });
    writeFileAtomic(env, 'API_KEY=new\n');
    expect(readFileSync(env, 'utf8')).toBe('API_KEY=new\n');
    expect(mode(env).toString(8)).toBe('640');
    writeFileAtomic(join(deploy, 'fresh'), 'x', 0o600);
    expect(mode(join(deploy, 'fresh')).toString(8)).toBe('600');
    expect(readdirSync(deploy).sort()).toEqual(['.env', 'fresh']);
  });
});

describe('writeNewFileAtomicAsync (reports)', () => {
  it('writes a new 0600 file, refuses an existing one with EEXIST and leaves it and no temporary file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rekey-new-file-'));
    try {
      const path = join(dir, 'report.md');
      await writeNewFileAtomicAsync(path, 'first\n');
      expect(readFileSync(path, 'utf8')).toBe('first\n');
      expect(statSync(path).mode & 0o777).toBe(0o600);
      await expect(writeNewFileAtomicAsync(path, 'second\n')).rejects.toMatchObject({ code: 'EEXIST' });
      expect(readFileSync(path, 'utf8')).toBe('first\n');
      expect(readdirSync(dir)).toEqual(['report.md']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a sweep of the folder by this process while the write is under way leaves the write's temporary file", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rekey-new-file-'));
    try {
      const path = join(dir, 'big.md');
      const content = 'x'.repeat(16 * 1024 * 1024);
      const writing = writeNewFileAtomicAsync(path, content);
      let done = false;
      void writing.then(
        () => (done = true),
        () => (done = true),
      );
      let swept = 0;
      // Sweep on every turn until the write is done; at least one sweep must have seen its temporary file.
      while (!done) {
        if (readdirSync(dir).some((name) => name.endsWith('.rekey-tmp'))) {
          swept++;
          expect(sweepFolderTemporaries(dir)).toEqual([]);
        }
        await new Promise((resolve) => setImmediate(resolve));
      }
      await writing;
      expect(swept).toBeGreaterThan(0);
      expect(readFileSync(path, 'utf8').length).toBe(content.length);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
