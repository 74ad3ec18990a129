/**
 * The git history part of the leak search: every blob reachable from a ref or a reflog entry, streamed out of
 * `git cat-file --batch` and scanned here; then, for each blob that holds the value, the commits that added it.
 */
import { spawn } from 'node:child_process';
import { findIn, type Needle } from './needles.js';
import { killGroup, run } from './git.js';
import type { LeakSearchLimits } from './limits.js';

const OBJECT_ID = /^[0-9a-f]{40}(?:[0-9a-f]{24})?$/;

/** Scan every reachable blob; the blobs holding the value, by id. */
export async function searchHistory(
  gitBin: string,
  root: string,
  env: NodeJS.ProcessEnv,
  deadline: number,
  limits: LeakSearchLimits,
  needles: readonly Needle[],
  state: { bytes: number; blobs: number },
): Promise<{ hits: Map<string, { lines: number[]; encoding?: 'base64' }>; total: number; oversize: number; stopped?: string }> {
  const hits = new Map<string, { lines: number[]; encoding?: 'base64' }>();
  let total = 0;
  const oversize = new Set<string>();
  // rev-list's object list goes straight into batch-check's stdin: ids only, in a pipe this process holds.
  const blobs: string[] = [];
  const listed = await new Promise<{ ok: boolean; timedOut: boolean }>((done) => {
    // --missing=allow-promisor: in a partial clone, objects never downloaded are left out, never fetched mid-incident.
    const list = spawn(gitBin, ['-C', root, 'rev-list', '--all', '--reflog', '--objects', '--missing=allow-promisor'], {
      env,
      stdio: ['ignore', 'pipe', 'ignore'],
      detached: true,
    });
    const check = spawn(gitBin, ['-C', root, 'cat-file', '--batch-check=%(objectname) %(objecttype) %(objectsize) %(rest)'], {
      env,
      stdio: ['pipe', 'pipe', 'ignore'],
      detached: true,
    });
    let timedOut = false;
    const timer = setTimeout(
      () => {
        timedOut = true;
        killGroup(list);
        killGroup(check);
      },
      Math.max(0, deadline - performance.now()),
    );
    // rev-list prints `<id> <path>`: with %(rest) in its format, batch-check splits the id from the path.
    list.stdout.pipe(check.stdin);
    check.stdin.on('error', () => undefined);
    let rest = '';
    check.stdout.setEncoding('latin1').on('data', (chunk: string) => {
      const lines = (rest + chunk).split('\n');
      rest = lines.pop() ?? '';
      for (const line of lines) {
        const [id, type, size] = line.split(' ');
        if (type !== 'blob' || id === undefined) continue;
        if (Number(size) <= limits.maxFileBytes) blobs.push(id);
        else oversize.add(id);
      }
    });
    const ended = new Set<unknown>();
    let failed = false;
    const end = (which: unknown, code: number | null) => {
      if (ended.has(which)) return;
      ended.add(which);
      if (code !== 0) failed = true;
      if (ended.size === 2) {
        clearTimeout(timer);
        done({ ok: !failed && !timedOut, timedOut });
      }
    };
    list.on('error', () => end(list, 1)).on('close', (code) => end(list, code));
    check.on('error', () => end(check, 1)).on('close', (code) => end(check, code));
  });
  if (!listed.ok) return { hits, total, oversize: oversize.size, stopped: listed.timedOut ? 'limit' : 'git history could not be listed' };

  const unique = [...new Set(blobs)];
  const stopped = await new Promise<string | undefined>((done) => {
    if (unique.length === 0) return done(undefined);
    const batch = spawn(gitBin, ['-C', root, 'cat-file', '--batch'], { env, stdio: ['pipe', 'pipe', 'ignore'], detached: true });
    let result: string | undefined;
    const stop = (why: string) => {
      if (result === undefined) result = why;
      killGroup(batch);
    };
    const timer = setTimeout(() => stop('limit'), Math.max(0, deadline - performance.now()));
    batch.stdin.on('error', () => undefined);
    batch.stdin.end(`${unique.join('\n')}\n`);
    let header: Buffer[] = [];
    let current: { id: string; size: number; buffer: Buffer; filled: number } | undefined;
    batch.stdout.on('data', (chunk: Buffer) => {
      let offset = 0;
      while (offset < chunk.length && result === undefined) {
        if (current === undefined) {
          const nl = chunk.indexOf(10, offset);
          if (nl === -1) {
            header.push(chunk.subarray(offset));
            break;
          }
          const line = Buffer.concat([...header, chunk.subarray(offset, nl)]).toString('latin1');
          header = [];
          offset = nl + 1;
          const [id, type, size] = line.split(' ');
          if (id === undefined || type === 'missing' || size === undefined) continue;
          current = { id, size: Number(size), buffer: Buffer.allocUnsafe(Number(size) + 1), filled: 0 };
        } else {
          const take = Math.min(current.buffer.length - current.filled, chunk.length - offset);
          chunk.copy(current.buffer, current.filled, offset, offset + take);
          current.filled += take;
          offset += take;
          if (current.filled === current.buffer.length) {
            const content = current.buffer.subarray(0, current.size);
            state.blobs++;
            state.bytes += current.size;
            const hit = findIn(content, needles);
            if (hit !== undefined) {
              total++;
              if (hits.size < limits.maxFindings) hits.set(current.id, hit);
            }
            current = undefined;
            if (performance.now() > deadline || state.bytes > limits.maxBytes) stop('limit');
          }
        }
      }
    });
    let settled = false;
    const settle = (code: number | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (result === undefined && code !== 0) result = 'git history could not be read';
      done(result);
    };
    batch.on('error', (error) => {
      stop(`git cat-file did not run (${error.message})`);
      settle(null);
    });
    batch.on('close', settle);
  });
  return { hits, total, oversize: oversize.size, ...(stopped === undefined ? {} : { stopped }) };
}

/** The commits (any ref, or the reflog) whose change made a path hold this blob. */
export async function commitsAdding(
  gitBin: string,
  root: string,
  blob: string,
  env: NodeJS.ProcessEnv,
  deadline: number,
): Promise<Array<{ commit: string; date: string; subject: string; path: string }>> {
  if (!OBJECT_ID.test(blob)) return [];
  const log = await run(
    gitBin,
    ['-C', root, 'log', '--all', '--reflog', '--no-abbrev', '--raw', '--no-renames', '-z', '--format=%x01%H%x1f%cI%x1f%s', `--find-object=${blob}`],
    { env, deadline },
  );
  if (log.code !== 0) return [];
  const found: Array<{ commit: string; date: string; subject: string; path: string }> = [];
  for (const record of log.stdout.toString('utf8').split('\x01')) {
    if (record === '') continue;
    const headerEnd = record.indexOf('\0');
    const [commit = '', date = '', subject = ''] = (headerEnd === -1 ? record : record.slice(0, headerEnd)).split('\x1f');
    const fields =
      headerEnd === -1
        ? []
        : record
            .slice(headerEnd + 1)
            .replace(/^\n/, '')
            .split('\0');
    for (let i = 0; i + 1 < fields.length; i += 2) {
      // `:100644 100644 <before> <after> M` then the path: the blob is `after` when this change put it there.
      const meta = fields[i]!.replace(/^\n/, '').split(' ');
      if (meta[3] === blob) found.push({ commit, date, subject, path: fields[i + 1]! });
    }
  }
  return found;
}
