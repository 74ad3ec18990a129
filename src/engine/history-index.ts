/**
 * The history index: per credential its newest run, its newest run that finished `done` and its runs that may still
 * hold a value in a store, so that `status`, `rotate` (`refuseWhileUnfinished`, the old value's age) and
 * `lastFinished` do not read every journal of the state folder. The journals are the truth and the index a cache
 * (src/engine/history-index-file.ts is its file): whatever the index says is checked against the journals by the
 * cheapest test that catches each way it can fall behind, and a journal is read whenever that test fails.
 *
 * - A new or removed journal changes the runs folder (its inode and change time, `dir`): then the folder is listed
 *   and the journals the index does not know are read (one removed rebuilds the index). A folder change in the same
 *   clock tick as the index's listing could go unseen, so a listing is trusted (`certified`) only when taken well
 *   after the folder's last change; until then every reader lists the folder (as git treats "racily clean" files).
 * - A run that has not finished changes by appends: each open run's journal fingerprint (inode, size, mtime and
 *   ctime) is compared, and a journal that changed is read again. A run killed right after its `run.finished` record
 *   is therefore never shown unfinished for longer than it takes to stat it.
 * - A finished run becomes unfinished only by `run.resumed`, and the journal marks it in the index, durably, before
 *   appending that record (`markResuming`): a marked run is read from its journal until the journal has changed.
 * - A run's own credential's finished runs are compared by fingerprint too when the engine decides for it
 *   (`verifyFinished`), so a journal altered after it was summarised is read again; `status` leaves that test out to
 *   stay quick at a thousand credentials, and a damaged journal shows there when `rekey log` reads it.
 * - An index that is missing, torn, truncated, of another version, not sealed by this machine's chain key or sealed
 *   wrongly is rebuilt from every journal.
 * The writers of journals never write the index (except a mark): readers write what they learned back, replacing the
 * file only if it is still the one they read, so a mark is never lost to a reader that read the index before it.
 */
import { statSync } from 'node:fs';
import { listRuns, runsDir } from './jsonl-files.js';
import {
  claimedCredential,
  emptyIndex,
  fileFingerprint,
  indexFile,
  journalFingerprint,
  readIndexFile,
  storeRun,
  storedRun,
  type IndexBody,
  type IndexedRun,
  type RunInfo,
} from './history-index-file.js';
import type { JournalSummary } from './run-summary.js';

export type { RunInfo } from './history-index-file.js';

export interface LastRuns {
  /** The newest run that finished `done`. */
  readonly lastDone: RunInfo | undefined;
  /** The newest run of any result. */
  readonly last: RunInfo | undefined;
}

/** A listing is trusted only when read this long after the runs folder last changed (coarse file times: 2 s on FAT). */
const RACY_MS = 2_000;

/** What this process knows beyond the file: the index as refreshed here, and journals listed but not yet read. */
interface Memo {
  /** The file's fingerprint this body came from or was written as. */
  fileId: string;
  body: IndexBody;
  /** `body.names` as a set, made when first needed (a listing to compare), not on every read. */
  names: Set<string> | undefined;
  /**
   * Journals in the folder whose credentials no caller has asked about yet (read when one does), each with the
   * credential its first record claims once that record was seen: a first record never changes, so a fleet's
   * refreshes open each other run's journal once, not once per refresh.
   */
  unread: Map<string, string | undefined>;
  /** What it learned that the file does not hold yet. */
  dirty: boolean;
}

const memos = new Map<string, Memo>();

type Summarize = (stateDir: string, run: string) => JournalSummary;

/** Which credentials a refresh is for: their entries are brought up to date, others may stay behind. */
type Scope = ReadonlySet<string>;

interface RefreshOptions {
  /** Also compare the fingerprints of the scope's last and last done runs (the engine's decisions). */
  readonly verifyFinished?: boolean;
  /**
   * When to write what was learned back to the file: never (a dry run writes nothing), after a rebuild only (a fleet's
   * rotations, which would otherwise rewrite it for every journal the others add), or whenever it changed (`status`).
   */
  readonly write?: 'never' | 'rebuilt' | 'changed';
}

/** The run that starts later (`status`'s "last run"): by start time, then run id; two ids of one second tie otherwise. */
function newer(a: RunInfo, b: RunInfo): boolean {
  const ka = startKey(a);
  const kb = startKey(b);
  return ka === kb ? a.run > b.run : ka > kb;
}

/** When a run started: its first record's time, else (a damaged journal) the second its id names. */
function startKey(info: RunInfo): string {
  if (/^\d{4}-\d\d-\d\dT/.test(info.startedAt)) return info.startedAt;
  const m = /^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z-/.exec(info.run);
  return m === null ? '' : `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}.000Z`;
}

/**
 * Put a journal's summary into the index. False when the index must be rebuilt: the run was its credential's newest
 * done run and no longer is, or it changed credential, so an older run of which the index kept nothing takes its place.
 */
function apply(memo: Memo, s: JournalSummary, fresh = false): boolean {
  const { body } = memo;
  if (!fresh) {
    for (const [credential, entry] of Object.entries(body.credentials)) {
      if (credential !== s.claimed) delete entry.open[s.run];
      if (entry.last === s.run && credential !== s.info?.credential) return false;
      if (entry.lastDone === s.run && (credential !== s.info?.credential || s.info?.result !== 'done')) return false;
    }
  }
  const entryOf = (credential: string) => (body.credentials[credential] ??= { open: {} });
  if (s.claimed !== undefined) {
    if (s.open) entryOf(s.claimed).open[s.run] = s.fp;
    else delete entryOf(s.claimed).open[s.run];
  }
  if (s.info !== undefined) {
    const entry = entryOf(s.info.credential);
    const indexed: IndexedRun = { ...s.info, fp: s.fp };
    const at = (run: string | undefined) => {
      const stored = run === undefined ? undefined : body.runs[run];
      return stored === undefined ? undefined : storedRun(run!, stored);
    };
    const last = at(entry.last);
    const lastDone = at(entry.lastDone);
    if (last === undefined || last.run === s.run || newer(indexed, last)) entry.last = s.run;
    if (s.info.result === 'done' && (lastDone === undefined || lastDone.run === s.run || newer(indexed, lastDone))) entry.lastDone = s.run;
    if (entry.last === s.run || entry.lastDone === s.run) body.runs[s.run] = storeRun(s.info, s.fp);
    // Keep only the runs an entry points at: the file stays the size of the fleet, not of its history.
    for (const run of [last?.run, lastDone?.run]) if (run !== undefined && run !== entry.last && run !== entry.lastDone) delete body.runs[run];
  }
  const names = namesOf(memo);
  if (!names.has(s.run)) {
    names.add(s.run);
    body.names = body.names === '' ? s.run : `${body.names}\n${s.run}`;
  }
  return true;
}

function namesOf(memo: Memo): Set<string> {
  memo.names ??= new Set(memo.body.names === '' ? [] : memo.body.names.split('\n'));
  return memo.names;
}

function folderId(stateDir: string): { id: string; certified: boolean } {
  try {
    const s = statSync(runsDir(stateDir), { bigint: true });
    return { id: `${s.ino}:${s.ctimeNs}:${s.mtimeNs}`, certified: Date.now() - Number(s.mtimeNs / 1_000_000n) > RACY_MS };
  } catch {
    return { id: '', certified: Date.now() > 0 };
  }
}

/** Every journal read again: for an index that is missing or cannot be trusted, or after a journal went away. */
function rebuild(stateDir: string, summarize: Summarize, marks: IndexBody['marks']): Memo {
  const dir = folderId(stateDir);
  const memo: Memo = { fileId: '', body: emptyIndex(true), names: new Set(), unread: new Map(), dirty: true };
  for (const run of listRuns(stateDir)) apply(memo, summarize(stateDir, run), true);
  memo.body.dir = dir.id;
  memo.body.certified = dir.certified;
  // A mark whose journal has not changed since still holds (the record it announces may be on its way).
  for (const [run, mark] of Object.entries(marks)) if (journalFingerprint(stateDir, run) === mark.fp) memo.body.marks[run] = mark;
  return memo;
}

async function summarizer(): Promise<Summarize> {
  return (await import('./run-summary.js')).summarizeJournal;
}

/** The index, brought up to date for the credentials in `scope` (see the header for how). */
async function refreshed(stateDir: string, scope: Scope, options: RefreshOptions = {}): Promise<Memo> {
  let memo = memos.get(stateDir);
  // This process's copy is the file as it last read or wrote it, and more: only a file changed since is read again.
  const current = memo === undefined ? undefined : fileFingerprint(indexFile(stateDir));
  const read = current !== undefined && current === memo!.fileId ? { body: undefined, id: current, problem: undefined } : readIndexFile(stateDir);
  let summarize: Summarize | undefined;
  const load = async () => (summarize ??= await summarizer());
  let rebuilt = false;
  if (memo === undefined || memo.fileId !== read.id) {
    if (read.body?.complete === true) memo = { fileId: read.id, body: read.body, names: undefined, unread: new Map(), dirty: false };
    else {
      memo = rebuild(stateDir, await load(), read.body?.marks ?? {});
      rebuilt = true;
    }
  }
  const again = async () => {
    memo = rebuild(stateDir, await load(), memo!.body.marks);
    rebuilt = true;
  };
  const readJournal = async (run: string) => {
    memo!.dirty = true;
    return apply(memo!, (await load())(stateDir, run));
  };
  const inScope = (credential: string | undefined) => credential !== undefined && scope.has(credential);

  if (!rebuilt) {
    const dir = folderId(stateDir);
    if (!memo.body.certified || memo.body.dir !== dir.id) {
      const listed = listRuns(stateDir);
      const present = new Set(listed);
      const names = namesOf(memo);
      if ([...names].some((run) => !present.has(run))) await again();
      else {
        for (const run of listed) if (!names.has(run) && !memo.unread.has(run)) memo.unread.set(run, undefined);
        for (const run of memo.unread.keys()) if (!present.has(run)) memo.unread.delete(run);
        for (const [run, known] of [...memo.unread]) {
          // A journal of another credential waits until someone asks about that one; one naming none is read now.
          const claimed = known ?? claimedCredential(stateDir, run);
          if (claimed !== undefined) memo.unread.set(run, claimed);
          if (claimed !== undefined && !inScope(claimed)) continue;
          memo.unread.delete(run);
          if (!(await readJournal(run))) {
            await again();
            break;
          }
        }
        if (!rebuilt && memo.unread.size === 0 && (memo.body.dir !== dir.id || memo.body.certified !== dir.certified)) {
          memo.body.dir = dir.id;
          memo.body.certified = dir.certified;
          memo.dirty = true;
        }
      }
    }
  }
  // Marks first: a marked run's journal that changed since is read, and its mark goes.
  for (const [run, mark] of Object.entries(memo.body.marks)) {
    if (rebuilt) break;
    if (!inScope(mark.credential) || journalFingerprint(stateDir, run) === mark.fp) continue;
    delete memo.body.marks[run];
    memo.dirty = true;
    if (!(await readJournal(run))) await again();
  }
  for (const credential of scope) {
    const entry = memo.body.credentials[credential];
    if (rebuilt) break;
    if (entry === undefined) continue;
    const check = Object.entries(entry.open);
    if (options.verifyFinished === true) for (const run of [entry.last, entry.lastDone]) if (run !== undefined) check.push([run, memo.body.runs[run]![9]]);
    for (const [run, fp] of check) {
      if (journalFingerprint(stateDir, run) === fp) continue;
      if (!(await readJournal(run))) {
        await again();
        break;
      }
    }
  }
  if ((rebuilt && options.write === 'rebuilt') || (memo.dirty && options.write === 'changed')) {
    // Not written (another process wrote meanwhile, or the folder is read-only): what was learned here still holds
    // for this process while the file stays the one it read.
    const { writeIndexIfUnchanged } = await import('./history-index-write.js');
    const written = writeIndexIfUnchanged(stateDir, memo.body, read.id);
    memo.fileId = written ?? read.id;
    if (written !== undefined) memo.dirty = false;
  }
  memos.set(stateDir, memo);
  return memo;
}

const strip = (run: IndexedRun | undefined): RunInfo | undefined => {
  if (run === undefined) return undefined;
  const { fp: _fp, ...info } = run;
  return info;
};

/**
 * For each credential, its newest run that finished `done` and its newest run (by start time), from the index. A
 * damaged journal can be a credential's newest run (so that `status` flags it), never its newest done run.
 */
export async function lastRunsOf(stateDir: string, credentials: Iterable<string>, options: RefreshOptions = {}): Promise<Map<string, LastRuns>> {
  const scope = new Set(credentials);
  const { body } = await refreshed(stateDir, scope, options);
  const found = new Map<string, LastRuns>();
  // A thousand credentials at status: each run's summary made once (a last run is often the last done one too),
  // straight from the stored array, with no closure or copy per credential.
  const infos = new Map<string, RunInfo | undefined>();
  const at = (run: string | undefined): RunInfo | undefined => {
    if (run === undefined) return undefined;
    let info = infos.get(run);
    if (info === undefined && !infos.has(run)) {
      const stored = body.runs[run];
      info = stored === undefined ? undefined : strip(storedRun(run, stored));
      infos.set(run, info);
    }
    return info;
  };
  for (const credential of scope) {
    const entry = body.credentials[credential];
    found.set(credential, entry === undefined ? { last: undefined, lastDone: undefined } : { last: at(entry.last), lastDone: at(entry.lastDone) });
  }
  return found;
}

/** A credential's newest done run and newest run, checked against its journals as the engine needs (`verifyFinished`). */
export async function lastRuns(stateDir: string, credential: string, write: RefreshOptions['write'] = 'never'): Promise<LastRuns> {
  return (await lastRunsOf(stateDir, [credential], { verifyFinished: true, write })).get(credential)!;
}

/**
 * The runs of a credential that may still hold a value in a store (they did not finish, or failed), oldest first:
 * what `refuseWhileUnfinished` must look at, with a run being resumed right now counted among them.
 */
export async function openRunsOf(stateDir: string, credential: string, write: RefreshOptions['write'] = 'never'): Promise<string[]> {
  const { body } = await refreshed(stateDir, new Set([credential]), { verifyFinished: true, write });
  const open = new Set(Object.keys(body.credentials[credential]?.open ?? {}));
  for (const [run, mark] of Object.entries(body.marks)) if (mark.credential === credential) open.add(run);
  return [...open].sort();
}

/**
 * When the credential's value was last written by a run that ended, as far as this machine's journals say: the later
 * end of its newest run and of its newest done run (a rolled-back run wrote the store too). For a guard against
 * rotating one secret twice within minutes. Undefined when neither ended.
 */
export async function lastFinished(stateDir: string, credential: string): Promise<{ run: string; result: string; finishedAt: string } | undefined> {
  const { last, lastDone } = await lastRuns(stateDir, credential);
  const ended = [last, lastDone].filter((r): r is RunInfo & { finishedAt: string } => r?.finishedAt !== undefined);
  const latest = ended.sort((a, b) => b.finishedAt.localeCompare(a.finishedAt))[0];
  return latest === undefined ? undefined : { run: latest.run, result: latest.result, finishedAt: latest.finishedAt };
}

/** Forget what this process learned (tests: the next read starts from the file, as a new process does). */
export function forgetHistoryIndex(): void {
  memos.clear();
}
