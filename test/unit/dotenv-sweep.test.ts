/**
 * The dotenv store's `sweep` (issue 8, defect 7): a process killed while rewriting the .env or one of its sibling
 * files leaves a temporary file holding the whole new content. `sweep(ref)` removes those of the ref's .env and of
 * the ref's own sibling files once their writer is dead, and never a live writer's file, a staged or previous value,
 * or another variable's files. The engine calls it at the start of every run and resume.
 *
 * The kills are deterministic: a child process writes through the built atomic-file module and is SIGKILLed while
 * paused before its rename (test/support/kill-mid-write.ts).
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDotenvStore, siblingFiles } from '../../adapters/stores/dotenv/index.js';
import { Secret } from '../../src/contract/secret.js';
import { parseRef, type SecretStore } from '../../src/contract/store.js';
import { killMidWrite, pauseMidWrite } from '../support/kill-mid-write.js';
import { gitIgnores, gitRepoWithReadmeIgnores } from '../support/readme-ignore.js';

const RUN = '20261124T024512Z-5a5a5a';
const CANARY = 'sk_live_CANARY_dotenv_sweep_4c1d9e7b20a6f385';
const OLD = 'sk_live_old_0123456789abcdef';
const NEW = 'sk_live_new_fedcba9876543210';
const ENV = `# app\nAPI_KEY=${OLD}\nOTHER_KEY=other_0123456789\n`;

let repo: string;
let dir: string;
beforeEach(() => {
  repo = mkdtempSync(join(tmpdir(), 'rekey-dotenv-sweep-'));
  dir = join(repo, 'deploy');
  mkdirSync(dir);
});
afterEach(() => {
  rmSync(repo, { recursive: true, force: true });
});

const open = (): SecretStore => openDotenvStore({ keepPrevious: true }, { baseDir: dir, env: {} });
const ref = (name = 'API_KEY') => parseRef('dotenv', `./.env#${name}`);
const holdingCanary = (folder = dir) => readdirSync(folder).filter((name) => readFileSync(join(folder, name), 'latin1').includes(CANARY));

describe('dotenv: sweep removes what killed writes left (defect 7)', () => {
  it(
    "removes the temporary files of the .env and of the ref's staged and previous files once their writers are dead, keeps the staged value, and " +
      'returns what it removed (defect 7)',
    async () => {
      writeFileSync(join(dir, '.env'), ENV, { mode: 0o600 });
      gitRepoWithReadmeIgnores(repo);
      const store = open();
      const base = (await store.read(ref())).version;
      const version = await store.stage(ref(), new Secret(NEW), RUN, base);
      const { staged, previous } = siblingFiles(join(dir, '.env'), 'API_KEY');
      const listed = () => new Set(readdirSync(dir));
      const before = listed();
      // Killed while rewriting the .env (a promote), the staged file (a stage) and the previous file (a promote).
      for (const target of [join(dir, '.env'), staged, previous]) await killMidWrite(target, CANARY);
      const left = [...listed()].filter((name) => !before.has(name)).sort();
      expect(left).toHaveLength(3);
      for (const name of left) expect(gitIgnores(repo, `deploy/${name}`), `${name} is not covered by the README's ignore patterns`).toBe(true);
      expect(holdingCanary().sort()).toEqual(left);
      expect(store.sweep, 'the dotenv store implements sweep').toBeTypeOf('function');
      const removed = await store.sweep!(ref());
      expect([...removed].sort()).toEqual(left.map((name) => join(dir, name)).sort());
      expect(holdingCanary()).toEqual([]);
      // Nothing of the run's own state is touched: the staged value is there and the run goes on.
      expect([...listed()].sort()).toEqual([...before].sort());
      expect((await store.readStaged(ref(), RUN))?.value.reveal()).toBe(NEW);
      await store.promote(ref(), version, RUN, base);
      expect(readFileSync(join(dir, '.env'), 'utf8')).toBe(`# app\nAPI_KEY=${NEW}\nAPI_KEY_PREVIOUS=${OLD}\nOTHER_KEY=other_0123456789\n`);
      // A second sweep finds nothing.
      expect(await store.sweep!(ref())).toEqual([]);
    },
  );

  it("never removes a live writer's temporary file, nor another variable's (defect 7)", async () => {
    writeFileSync(join(dir, '.env'), ENV, { mode: 0o600 });
    const other = siblingFiles(join(dir, '.env'), 'OTHER_KEY');
    await killMidWrite(other.staged, CANARY);
    const live = await pauseMidWrite(join(dir, '.env'), CANARY);
    try {
      const store = open();
      expect(await store.sweep!(ref())).toEqual([]);
      expect(holdingCanary()).toHaveLength(2);
      // OTHER_KEY's own sweep (its credential's run) removes its leftover; the live writer's file stays.
      expect(await store.sweep!(ref('OTHER_KEY'))).toHaveLength(1);
      expect(holdingCanary()).toHaveLength(1);
    } finally {
      await live.kill();
    }
    expect(await open().sweep!(ref())).toHaveLength(1);
    expect(holdingCanary()).toEqual([]);
  });

  it('a symlinked .env is swept beside the file it points to, where its rewrites put their temporary files (defect 7)', async () => {
    const shared = join(repo, 'shared');
    mkdirSync(shared);
    writeFileSync(join(shared, 'app.env'), ENV, { mode: 0o600 });
    symlinkSync(join(shared, 'app.env'), join(dir, '.env'));
    await killMidWrite(join(shared, 'app.env'), CANARY);
    expect(holdingCanary(shared)).toHaveLength(1);
    expect(await open().sweep!(ref())).toHaveLength(1);
    expect(holdingCanary(shared)).toEqual([]);
    expect(readdirSync(shared)).toEqual(['app.env']);
  });
});
