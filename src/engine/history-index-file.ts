/**
 * The history index's file, `.rekey/history-index.json`: what it holds, how it is sealed and read (src/engine/
 * history-index-write.ts replaces it). What it is for, and how readers keep it true to the journals, is
 * src/engine/history-index.ts. It loads only node:fs and the chain key, and never the journal reader (the journal's
 * write path marks the index through the writer module, which would otherwise make a cycle with src/engine/journal.ts).
 *
 * The index is a cache: it is never fsynced except for a mark (below), and a file that is missing, torn, of another
 * version, sealed under another key or not sealed where a key exists is not read but rebuilt from the journals.
 */
import { closeSync, fstatSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { checkingKey, sealMatches } from './chain-key.js';
import { JsonlEnds, journalFile } from './jsonl-files.js';
import { isNotRegularFile, openRegularSync } from '../util/regular-file.js';

/** What the journals say about one run (src/engine/run-summary.ts computes it). */
export interface RunInfo {
  readonly run: string;
  readonly credential: string;
  readonly mode: string;
  readonly runbook: string;
  readonly startedAt: string;
  readonly finishedAt: string | undefined;
  /** `done`, `failed`, `rolled-back`, `interrupted` when the journal stops without an end, or `damaged`. */
  readonly result: string;
  readonly ms: number | undefined;
  readonly error: string | undefined;
  /** Why the journal cannot be trusted (`line 7 (record 7): …`), when it fails its check. */
  readonly damaged: string | undefined;
}

/** A run's summary in the index, with the fingerprint of its journal file when it was summarised. */
export type IndexedRun = RunInfo & { readonly fp: string };

/**
 * A run's summary as the file holds it: an array of its fields (credential, mode, runbook, startedAt, finishedAt, result,
 * ms, error, damaged, fp), which parses several times faster than an object of named fields, a thousand times over.
 */
export type StoredRun = [string, string, string, string, string | null, string, number | null, string | null, string | null, string];

export function storeRun(info: RunInfo, fp: string): StoredRun {
  return [
    info.credential,
    info.mode,
    info.runbook,
    info.startedAt,
    info.finishedAt ?? null,
    info.result,
    info.ms ?? null,
    info.error ?? null,
    info.damaged ?? null,
    fp,
  ];
}

export function storedRun(run: string, s: StoredRun): IndexedRun {
  return {
    run,
    credential: s[0],
    mode: s[1],
    runbook: s[2],
    startedAt: s[3],
    finishedAt: s[4] ?? undefined,
    result: s[5],
    ms: s[6] ?? undefined,
    error: s[7] ?? undefined,
    damaged: s[8] ?? undefined,
    fp: s[9],
  };
}

export interface CredentialIndex {
  /** The newest run (by start time, then run id). */
  last?: string;
  /** The newest run that finished `done`. */
  lastDone?: string;
  /** Runs that may still hold a value in a store (`refuseWhileUnfinished`), each with its journal's fingerprint. */
  open: Record<string, string>;
}

/**
 * A run whose `run.resumed` is about to be appended: a run that looked finished is becoming unfinished, the one
 * change of a journal that would make the index claim more than the journal says. The mark is written (durably)
 * before the record and holds until a reader sees the journal changed since (`fp`, its fingerprint when marked).
 */
export interface Mark {
  readonly credential: string;
  readonly fp: string;
}

export interface IndexBody {
  v: 1;
  /** The id of the chain key that sealed it; null when this machine has none (then it proves nothing, as its journals). */
  key: string | null;
  /** False for a file holding only marks, written when there was no index to mark: a reader rebuilds it. */
  complete: boolean;
  /** The runs folder's identity and change time when `names` was its listing; null when unknown. */
  dir: string | null;
  /** Whether `dir` was read long enough after the folder's last change that a later change must show in it. */
  certified: boolean;
  /** The runs whose journals are summarised here, one a line (a single string parses much faster than 10,000). */
  names: string;
  /** The runs an entry of `credentials` points at. */
  runs: Record<string, StoredRun>;
  credentials: Record<string, CredentialIndex>;
  marks: Record<string, Mark>;
}

export const INDEX_NAME = 'history-index.json';

export function indexFile(stateDir: string): string {
  return join(stateDir, INDEX_NAME);
}

export const indexLockFile = (stateDir: string) => join(stateDir, 'history-index.lock');

export function emptyIndex(complete: boolean): IndexBody {
  return { v: 1, key: checkingKey()?.id ?? null, complete, dir: null, certified: false, names: '', runs: {}, credentials: {}, marks: {} };
}

/** A file's identity and state: inode, size, modification and change times (ns); '' when it does not exist. */
export function fileFingerprint(path: string): string {
  try {
    const s = statSync(path, { bigint: true });
    return `${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
  } catch {
    return '';
  }
}

export function journalFingerprint(stateDir: string, run: string): string {
  return fileFingerprint(journalFile(stateDir, run));
}

export interface IndexRead {
  /** Undefined when the file is missing or is not to be trusted (see `problem`). */
  readonly body: IndexBody | undefined;
  /** The file's fingerprint as read, '' when missing: a writer replaces the file only if it is still this one. */
  readonly id: string;
  readonly problem: string | undefined;
}

/** Read and check the index file. Never throws: any fault is a `problem`, and the index is rebuilt. */
export function readIndexFile(stateDir: string): IndexRead {
  const file = indexFile(stateDir);
  let fd: number;
  try {
    fd = openRegularSync(file).fd;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return { body: undefined, id: '', problem: code === 'ENOENT' ? undefined : isNotRegularFile(error) ? 'not a regular file' : `not readable (${code})` };
  }
  let text: string;
  let id: string;
  try {
    const s = fstatSync(fd, { bigint: true });
    id = `${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
    text = readFileSync(fd, 'utf8');
  } catch (error) {
    return { body: undefined, id: '', problem: `not readable (${(error as NodeJS.ErrnoException).code})` };
  } finally {
    closeSync(fd);
  }
  return { ...checkIndexText(text), id };
}

/**
 * Parse and check an index file's text: its seal under this machine's chain key (the first line, over the exact bytes
 * of the rest, so that checking costs one HMAC and no second serialisation), its version and its shape.
 */
export function checkIndexText(text: string): { body: IndexBody | undefined; problem: string | undefined } {
  const newline = text.indexOf('\n');
  const mac = newline === -1 ? '' : text.slice(0, newline);
  const json = newline === -1 ? text : text.slice(newline + 1);
  const key = checkingKey();
  if (key !== undefined && !(/^[0-9a-f]{64}$/.test(mac) && sealMatches(key, json, mac))) {
    return { body: undefined, problem: mac === '-' ? 'not sealed, where this machine has a chain key' : 'its seal does not match' };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    return { body: undefined, problem: 'not JSON (torn or truncated)' };
  }
  if (!isRecord(parsed)) return { body: undefined, problem: 'not an index' };
  if (parsed['v'] !== 1) return { body: undefined, problem: `version ${String(parsed['v'])}, not 1` };
  if ((parsed['key'] ?? null) !== (key?.id ?? null)) return { body: undefined, problem: 'sealed under another chain key' };
  // A seal of this machine's key proves this release's format (the version says which); an unsealed file proves nothing.
  if (key === undefined && !shapeOk(parsed)) return { body: undefined, problem: 'not an index' };
  return { body: parsed as unknown as IndexBody, problem: undefined };
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * The index's shape, checked in full: a seal proves who wrote it, not that this release reads it as that one wrote it,
 * and without a chain key there is no seal at all.
 */
function shapeOk(body: Record<string, unknown>): boolean {
  const { names, runs, credentials, marks } = body;
  if (typeof body['complete'] !== 'boolean' || typeof body['certified'] !== 'boolean') return false;
  if (body['dir'] !== null && typeof body['dir'] !== 'string') return false;
  if (typeof names !== 'string') return false;
  if (!isRecord(runs) || !isRecord(credentials) || !isRecord(marks)) return false;
  const text = (v: unknown) => typeof v === 'string';
  const orNull = (v: unknown, type: string) => v === null || typeof v === type;
  for (const r of Object.values(runs)) {
    if (!Array.isArray(r) || r.length !== 10 || ![0, 1, 2, 3, 5, 9].every((i) => text(r[i]))) return false;
    if (!orNull(r[4], 'string') || !orNull(r[6], 'number') || !orNull(r[7], 'string') || !orNull(r[8], 'string')) return false;
  }
  for (const entry of Object.values(credentials)) {
    if (!isRecord(entry) || !isRecord(entry['open']) || !Object.values(entry['open']).every(text)) return false;
    for (const ref of [entry['last'], entry['lastDone']]) if (ref !== undefined && (!text(ref) || runs[ref as string] === undefined)) return false;
  }
  return Object.values(marks).every((m) => isRecord(m) && text(m['credential']) && text(m['fp']));
}

/** The credential a journal's first record names, unchecked (it only chooses what to read). */
export function claimedCredential(stateDir: string, run: string): string | undefined {
  let file: JsonlEnds | undefined;
  try {
    file = JsonlEnds.open(journalFile(stateDir, run));
    const line = file?.firstLine();
    if (line === undefined) return undefined;
    const first = JSON.parse(line) as { type?: unknown; credential?: unknown } | null;
    return first?.type === 'run.started' && typeof first.credential === 'string' ? first.credential : undefined;
  } catch {
    return undefined;
  } finally {
    file?.close();
  }
}
