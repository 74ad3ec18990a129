/**
 * One lock-file protocol for every lock rekey takes: the run lock of a credential (`locks/<credential>.lock`, held for
 * a whole run), the rewrite lock of a `.env` and the append lock of the audit log (held for milliseconds). All calls
 * are synchronous (the audit append is), and go through a `LockFs` that tests replace to stop one contender between
 * any two calls.
 *
 * Files. A lock at `<path>` is a set of generation files in its folder: `<path>` itself is generation 0 (the name
 * older rekeys used, so they and this one meet), `<path>.<n>` is generation n. Each file holds its writer's pid,
 * host, process start time, boot id, run, time and a random token. It is written to a unique temporary file
 * (`<path>.tmp-<pid>-<hex>`, mode 0600) and published with link(2), which is atomic and fails with EEXIST when the
 * name exists, so a lock file is never seen empty or half written: a crash or a full disk while writing leaves only a
 * temporary file, which a later holder sweeps.
 *
 * Taking the lock, one attempt:
 *   1. List the generations and judge each by reading it: live (its holder runs, or runs on another host where
 *      rekey cannot tell, or it is an empty file of an older rekey younger than 5 s), or stale (the holder's pid is
 *      gone or now belongs to a process that started at another time, the file is older than `staleMs`, or it is an
 *      empty or unreadable file older than 5 s). Any live file: the lock is busy, and the lowest live one is named.
 *   2. Otherwise publish generation max+1 (0 when there is none). EEXIST: someone else got there first; start over.
 *   3. List again. A generation above ours exists: we lost; remove ours and start over. Another generation below
 *      ours is live: either a contender that will see ours and back off, or a holder that took the lock in between;
 *      wait a moment for it to go, and if it stays, remove ours and start over (step 1 then reports it busy).
 *      Otherwise every other file is stale and the lock is ours: remove those stale files and dead temporary files.
 *   Release removes one's own generation, and only if the file at that name is still the one we linked: the same
 *   inode and the same text (with its random token), since a freed inode number is given to the next file at once.
 *
 * Why no two processes hold at once. Say A and B both hold, A's final listing (step 3) came first. A's file was
 * linked before that listing and stays until A releases, so B's listing, later, sees it. If A's generation is
 * higher, B lost; if lower, B read it fresh and found its holder alive, so B did not hold. Only two things remove a
 * file: its owner (releasing, or backing off), and a holder's sweep of files it has just read as stale; no live
 * holder's file is stale, and a stale file cannot be replaced under the sweep, because the only other remover, its
 * owner, is dead. So a judgement made in step 1 is only a hint for which generation to try: a contender stopped for
 * any length of time after it (the race of defect 2: renaming away a lock that had meanwhile become live) decides
 * nothing on it, since step 3 reads everything again after its own file exists. The one exception is the lease:
 * a holder that runs longer than `staleMs` is taken over by design (the run lock has no `staleMs`).
 *
 * What this does not cover: folders shared between hosts, where liveness cannot be read and only `staleMs` frees a
 * lock; and an older rekey running at the same time as this one, which knows only generation 0.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { holderAlive, processIdentity } from './process-alive.js';
import { notRegularFile } from './regular-file.js';
import { wholeSeconds } from './time.js';

/** The synchronous fs calls the lock makes; tests pass their own to interleave contenders deterministically. */
export interface LockFs {
  readdirSync(path: string): string[];
  readFileSync(path: string): string;
  statSync(path: string): { mtimeMs: number; ino: number; dev: number; isFile?: () => boolean };
  openSync(path: string, flags: string, mode: number): number;
  writeSync(fd: number, data: Buffer, offset: number): number;
  fstatSync(fd: number): { ino: number; dev: number };
  closeSync(fd: number): void;
  linkSync(existing: string, created: string): void;
  unlinkSync(path: string): void;
}

/** node:fs, read at call time (so that a test swapping a function on the module is seen). */
export const nodeLockFs: LockFs = {
  readdirSync: (path) => fs.readdirSync(path),
  readFileSync: (path) => fs.readFileSync(path, 'utf8'),
  statSync: (path) => fs.statSync(path),
  openSync: (path, flags, mode) => fs.openSync(path, flags, mode),
  writeSync: (fd, data, offset) => fs.writeSync(fd, data, offset),
  fstatSync: (fd) => fs.fstatSync(fd),
  closeSync: (fd) => fs.closeSync(fd),
  linkSync: (existing, created) => fs.linkSync(existing, created),
  unlinkSync: (path) => fs.unlinkSync(path),
};

export interface LockOptions {
  /** A lock file older than this is stale whoever holds it (default: never, only a dead holder is). */
  readonly staleMs?: number;
  /** Recorded in the lock, for messages and `rekey status`. */
  readonly run?: string;
  /** How long step 3 waits for a live lower generation to go before backing off (default 100 ms). */
  readonly settleMs?: number;
  readonly fs?: LockFs;
}

/** Who a lock file names, as far as it says. */
export interface LockHolderInfo {
  readonly pid: number | undefined;
  readonly host: string | undefined;
  readonly run: string | undefined;
  readonly since: string | undefined;
}

/** One lock file, judged. */
export interface JudgedLock {
  readonly file: string;
  readonly state: 'live' | 'starting' | 'stale';
  readonly holder: LockHolderInfo;
  /** For a stale file: why, as a clause ("pid 4242 is no longer running"). */
  readonly reason?: string;
  /** The holder runs on another host: alive as far as rekey can tell. */
  readonly remote: boolean;
  readonly ageMs: number;
  /** What was read, to tell later whether the name still holds this file (inode numbers are reused at once). */
  readonly seen: FileSeen;
}

/** One lock file as it was read: its inode and its whole text (which holds the writer's random token). */
export interface FileSeen {
  readonly ino: number;
  readonly dev: number;
  readonly text: string;
}

/** A lock this process holds. */
export interface LockClaim extends FileSeen {
  readonly file: string;
  /** The stale files it replaced, newest generation first. */
  readonly replaced: readonly JudgedLock[];
  readonly fs: LockFs;
}

/** An empty lock file (an older rekey killed between creating it and writing its holder) is stale after this. */
export const UNWRITTEN_MS = 5_000;
/** A temporary file this old was left by a writer that died or stalled; its writer, if alive, just tries again. */
const TEMP_STALE_MS = 5_000;
/** Attempts in one call before reporting the lock busy (each is a lost race, which takes microseconds). */
const MAX_ROUNDS = 200;

const pause = new Int32Array(new SharedArrayBuffer(4));
/** Block the thread for `ms` (the lock's waits are milliseconds, and some callers are synchronous). */
export function sleepSync(ms: number): void {
  Atomics.wait(pause, 0, 0, ms);
}

/** How a wait for a lock backs off: pauses doubling from `firstMs` to `maxMs`, for at most `budgetMs` in all. */
export interface BackOff {
  readonly budgetMs: number;
  readonly firstMs: number;
  readonly maxMs: number;
  /** Each pause is drawn from [d, 2d), so that contenders woken together do not collide again. */
  readonly jitter: boolean;
}

/**
 * The one back-off of every wait on a lock file (the settling of a claim here, the waits of ./file-lock.ts): yields
 * the next pause, never past the budget, and ends when the budget is spent. The caller tries, and sleeps as it can
 * (blocking or with await), so the policy exists once for synchronous and asynchronous waits.
 */
export function* backOff(policy: BackOff): Generator<number, void, void> {
  const deadline = performance.now() + policy.budgetMs;
  for (let delay = policy.firstMs; ; delay = Math.min(delay * 2, policy.maxMs)) {
    const left = deadline - performance.now();
    if (left <= 0) return;
    yield Math.min(left, policy.jitter ? delay + Math.random() * delay : delay);
  }
}

const code = (error: unknown) => (error as NodeJS.ErrnoException).code;

interface Generation {
  readonly gen: number;
  readonly file: string;
}

interface Listing {
  readonly gens: Generation[];
  readonly temps: string[];
}

/** The generation files and temporary files of the lock at `path`; undefined when the folder does not exist. */
function list(lockFs: LockFs, path: string): Listing | undefined {
  const dir = dirname(path);
  const base = basename(path);
  let names: string[];
  try {
    names = lockFs.readdirSync(dir);
  } catch (error) {
    if (code(error) === 'ENOENT') return undefined;
    throw error;
  }
  const gens: Generation[] = [];
  const temps: string[] = [];
  for (const name of names) {
    if (name === base) gens.push({ gen: 0, file: path });
    else if (name.startsWith(`${base}.`)) {
      const rest = name.slice(base.length + 1);
      // One spelling per generation (no leading zeros), so two names can never be one generation.
      if (/^[1-9][0-9]{0,15}$/.test(rest)) gens.push({ gen: Number(rest), file: join(dir, name) });
      else if (/^tmp-/.test(rest) && TEMP_NAME.test(name)) temps.push(join(dir, name));
    }
  }
  gens.sort((a, b) => a.gen - b.gen);
  return { gens, temps };
}

interface Parsed {
  pid?: unknown;
  host?: unknown;
  run?: unknown;
  since?: unknown;
  start?: unknown;
  boot?: unknown;
  token?: unknown;
}

/** Read and judge one lock file; undefined when it is gone. */
function judge(lockFs: LockFs, file: string, options: LockOptions): JudgedLock | undefined {
  let text: string;
  let ageMs: number;
  let stat: { mtimeMs: number; ino: number; dev: number; isFile?: () => boolean };
  try {
    stat = lockFs.statSync(file);
    // Only a regular file is read: a link to /dev/zero or a FIFO put in the locks folder would be read, or waited on,
    // forever. Anything else is an unreadable lock (ENOTREGULAR), which no run takes.
    if (stat.isFile?.() === false) throw notRegularFile(file);
    ageMs = Date.now() - stat.mtimeMs;
    text = lockFs.readFileSync(file);
  } catch (error) {
    if (code(error) === 'ENOENT') return undefined;
    throw error;
  }
  let parsed: Parsed = {};
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value === 'object' && value !== null) parsed = value as Parsed;
  } catch {
    // Empty or torn: written by an older rekey that died (or is) between creating the file and filling it.
  }
  const holder: LockHolderInfo = {
    pid: typeof parsed.pid === 'number' && Number.isInteger(parsed.pid) && parsed.pid > 0 ? parsed.pid : undefined,
    host: typeof parsed.host === 'string' ? parsed.host : undefined,
    run: typeof parsed.run === 'string' ? parsed.run : undefined,
    since: typeof parsed.since === 'string' ? parsed.since : undefined,
  };
  const judged = (state: JudgedLock['state'], reason?: string, remote = false): JudgedLock => ({
    file,
    state,
    holder,
    remote,
    ageMs,
    seen: { ino: stat.ino, dev: stat.dev, text },
    ...(reason === undefined ? {} : { reason }),
  });
  if (options.staleMs !== undefined && ageMs > options.staleMs)
    return judged('stale', `the lock is ${wholeSeconds(ageMs)} old, older than the ${wholeSeconds(options.staleMs)} any holder may keep it`);
  if (holder.pid === undefined) {
    if (ageMs <= UNWRITTEN_MS) return judged('starting');
    return judged(
      'stale',
      `${text.trim() === '' ? 'an empty' : 'an unreadable'} lock file, left ${wholeSeconds(ageMs)} ago by a process that died while taking it`,
    );
  }
  if (holder.host !== undefined && holder.host !== hostname()) return judged('live', undefined, true);
  const alive = holderAlive(holder.pid, typeof parsed.start === 'string' ? parsed.start : undefined, typeof parsed.boot === 'string' ? parsed.boot : undefined);
  if (alive === 'alive') return judged('live');
  return judged('stale', alive === 'dead' ? `pid ${holder.pid} is no longer running` : `pid ${holder.pid} now belongs to another process`);
}

/** The text of a new lock file: who, since when, and a token that makes it unique. */
function holderText(run: string | undefined): string {
  const identity = processIdentity();
  return JSON.stringify({
    pid: process.pid,
    host: hostname(),
    ...(run === undefined ? {} : { run }),
    since: new Date().toISOString(),
    ...(identity.start === undefined ? {} : { start: identity.start }),
    ...(identity.boot === undefined ? {} : { boot: identity.boot }),
    token: randomBytes(8).toString('hex'),
  });
}

/**
 * Publish `text` at `target` if no file has that name: written to a temporary file first and linked, so the name
 * never shows a partial holder. Returns the inode, `'taken'` when the name exists, `'no-folder'` when the folder does
 * not exist, or `'again'` when our temporary file was swept meanwhile.
 */
function publish(lockFs: LockFs, target: string, lockPath: string, text: string): FileSeen | 'taken' | 'no-folder' | 'again' {
  const temp = `${lockPath}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
  let fd: number;
  try {
    fd = lockFs.openSync(temp, 'wx', 0o600);
  } catch (error) {
    if (code(error) === 'ENOENT') return 'no-folder';
    throw error;
  }
  let id: FileSeen;
  try {
    const bytes = Buffer.from(text, 'utf8');
    for (let offset = 0; offset < bytes.length; ) offset += lockFs.writeSync(fd, bytes, offset);
    // Not fsynced: other processes see the file through the page cache, which is all a lock is for. After a crash of
    // the machine no holder is alive (its boot id differs), and a file the crash left empty is judged stale (step 1).
    const stat = lockFs.fstatSync(fd);
    id = { ino: stat.ino, dev: stat.dev, text };
  } catch (error) {
    // A full disk while writing the holder: leave nothing behind, and say why.
    lockFs.closeSync(fd);
    removeQuietly(lockFs, temp);
    throw error;
  }
  lockFs.closeSync(fd);
  try {
    lockFs.linkSync(temp, target);
    return id;
  } catch (error) {
    if (code(error) === 'EEXIST') return 'taken';
    if (code(error) === 'ENOENT') return 'again';
    throw error;
  } finally {
    removeQuietly(lockFs, temp);
  }
}

/** Remove `file`; already gone is fine. True when this call removed it. */
function removeQuietly(lockFs: LockFs, file: string): boolean {
  try {
    lockFs.unlinkSync(file);
    return true;
  } catch (error) {
    if (code(error) !== 'ENOENT') throw error;
    return false;
  }
}

/**
 * Remove `file` only if it is still the file that was read or written as `seen`: the same inode and the same text.
 * The inode alone does not tell: ext4 hands a freed inode to the next file created in the folder, so once our file
 * was removed by someone else (a lease taken over, a person clearing the folder), the next holder's file at the same
 * name can carry our old inode number, and removing it would let a third process in beside that holder. The text holds
 * its writer's random token, so no two lock files have the same one. Returns false when the name holds another file
 * (left alone) or none.
 *
 * Between this read and the unlink, the name could only change if the file were removed and replaced in between,
 * which needs the file to be stale to everyone else: our own file while we hold it is not (the run lock has no lease),
 * and a stale file's owner is dead.
 */
function removeIfSame(lockFs: LockFs, file: string, seen: FileSeen): boolean {
  try {
    const now = lockFs.statSync(file);
    if (now.ino !== seen.ino || now.dev !== seen.dev || lockFs.readFileSync(file) !== seen.text) return false;
    lockFs.unlinkSync(file);
    return true;
  } catch (error) {
    if (code(error) !== 'ENOENT') throw error;
    return false;
  }
}

/**
 * Remove the temporary files of lock publications in `dir` that a killed writer left (its pid is not running, or the
 * file is old), for every lock in the folder at once; returns their paths. A lock's own contenders clear them only
 * when they meet the lock busy, so a run killed between writing one and linking it would otherwise leave it there:
 * the state folder's sweep at the start of every run and resume calls this.
 */
export function sweepLockTemporaries(dir: string, lockFs: LockFs = nodeLockFs): string[] {
  let names: string[];
  try {
    names = lockFs.readdirSync(dir);
  } catch {
    return [];
  }
  return sweepTemps(
    lockFs,
    names.filter((name) => TEMP_NAME.test(name)).map((name) => join(dir, name)),
  );
}

/** A lock publication's temporary file: `<lock>.tmp-<pid>-<hex>`, its writer's pid in the name. */
const TEMP_NAME = /\.tmp-([0-9]+)-[0-9a-f]+$/;

/**
 * Remove the temporary files whose writer is gone (its pid, named in the file name, is not running) or that are old;
 * returns the paths removed.
 */
function sweepTemps(lockFs: LockFs, temps: readonly string[]): string[] {
  const removed: string[] = [];
  for (const temp of temps) {
    const pid = Number(TEMP_NAME.exec(temp)?.[1]);
    let old = false;
    try {
      old = Date.now() - lockFs.statSync(temp).mtimeMs > TEMP_STALE_MS;
    } catch (error) {
      if (code(error) === 'ENOENT') continue;
      throw error;
    }
    // A live writer's temporary file lives for microseconds; removing one only makes its writer try again.
    if ((old || (pid !== process.pid && holderAlive(pid, undefined, undefined) !== 'alive')) && removeQuietly(lockFs, temp)) removed.push(temp);
  }
  return removed;
}

/** One attempt to take the lock at `path` (no waiting for a holder): held, busy (naming the holder) or no folder. */
export function tryLock(path: string, options: LockOptions = {}): { held: LockClaim } | { busy: JudgedLock } | 'no-folder' {
  const lockFs = options.fs ?? nodeLockFs;
  const settleMs = options.settleMs ?? 100;
  let lastBusy: JudgedLock | undefined;
  for (let round = 0; round < MAX_ROUNDS; round++) {
    // Step 1: judge what is there.
    const before = list(lockFs, path);
    if (before === undefined) return 'no-folder';
    let busy: JudgedLock | undefined;
    for (const { file } of before.gens) {
      const judged = judge(lockFs, file, options);
      if (judged !== undefined && judged.state !== 'stale') {
        busy = judged;
        break;
      }
    }
    if (busy !== undefined) return { busy };
    // Step 2: publish the next generation.
    const gen = before.gens.length === 0 ? 0 : before.gens[before.gens.length - 1]!.gen + 1;
    const mine = gen === 0 ? path : `${path}.${gen}`;
    const published = publish(lockFs, mine, path, holderText(options.run));
    if (published === 'no-folder') return 'no-folder';
    if (published === 'taken' || published === 'again') continue;
    // Step 3: read everything again, now that our file exists.
    const pauses = backOff({ budgetMs: settleMs, firstMs: 1, maxMs: 20, jitter: false });
    for (;;) {
      const after = list(lockFs, path) ?? { gens: [], temps: [] };
      const own = after.gens.find((g) => g.file === mine);
      if (own === undefined || after.gens.some((g) => g.gen > gen)) break;
      const others = after.gens.filter((g) => g.gen !== gen).map((g) => judge(lockFs, g.file, options));
      const live = others.find((o) => o !== undefined && o.state !== 'stale');
      if (live === undefined) {
        const replaced = others.filter((o): o is JudgedLock => o !== undefined).reverse();
        // Each stale file is removed only if it is still the one judged; a name that now holds another file means
        // the folder changed under us (a lease taken over meanwhile): give ours up and judge everything again.
        const changed = replaced.filter((stale) => !removeIfSame(lockFs, stale.file, stale.seen) && existsNow(lockFs, stale.file));
        if (changed.length > 0) break;
        sweepTemps(lockFs, after.temps);
        return { held: { file: mine, ...published, replaced, fs: lockFs } };
      }
      lastBusy = live;
      const pause = pauses.next();
      if (pause.done === true) break;
      sleepSync(pause.value);
    }
    removeIfSame(lockFs, mine, published);
  }
  // Only a storm of contenders gets here; report the last live holder seen, or the lock itself.
  return {
    busy: lastBusy ?? {
      file: path,
      state: 'starting',
      holder: { pid: undefined, host: undefined, run: undefined, since: undefined },
      remote: false,
      ageMs: 0,
      seen: { ino: 0, dev: 0, text: '' },
    },
  };
}

/** Whether a file by that name exists now. */
function existsNow(lockFs: LockFs, file: string): boolean {
  try {
    lockFs.statSync(file);
    return true;
  } catch (error) {
    if (code(error) === 'ENOENT') return false;
    throw error;
  }
}

/** Let go of a lock: its own file is removed, nothing else (a file that replaced ours is left alone). */
export function releaseLock(claim: LockClaim): void {
  removeIfSame(claim.fs, claim.file, claim);
}

/** The state of the lock at `path`, read only: free, held (by whom), starting, or stale (and why). */
export function inspectLockFile(path: string, options: LockOptions = {}): { state: 'free' } | JudgedLock {
  const lockFs = options.fs ?? nodeLockFs;
  const listing = list(lockFs, path);
  if (listing === undefined) return { state: 'free' };
  const judged = listing.gens.map((g) => judge(lockFs, g.file, options)).filter((j): j is JudgedLock => j !== undefined);
  // The holder is the live one; with none, the newest stale file says who left it.
  return judged.find((j) => j.state !== 'stale') ?? judged.at(-1) ?? { state: 'free' };
}
