/**
 * Unfinished runs found in the stores: a value staged by a rekey run that this machine has no journal of (a job on a
 * machine whose disk was thrown away, a state folder lost). See docs/design.md, "Unfinished runs found in the stores".
 *
 * Found by asking each store whether it could stage now (`canStage`, which writes nothing): a store holding a value
 * another run staged names that run (`CannotStageError` 'staged-by-another' with its run id, where the store records
 * one). A scheduled pass never mints over such a value and never acts on it alone: the run may still be alive on
 * another machine (rekey's lock is per state folder), and only a person can say it is not. So the pass reports it with
 * the command to run, `rekey resume <run> --from-stores`, which adopts it: it writes this machine a journal for the
 * run from what the stores say (the old value's fingerprint and versions, the staged value's fingerprint and versions,
 * as preflight and mint would have journaled them) and resumes it as any run: promote, roll out, verify with the
 * provider, and on a failed verify the usual rollback, which also discards the staged key at the provider.
 *
 * Adopted only when that is sound: every store can be read back; the stores that hold a value of the run hold it
 * staged, not current (a run that had begun promoting may have revoked the old key: only its own journal knows), and
 * agree on it; the other stores still hold the value current everywhere else. Otherwise the run is reported and
 * refused, with what the person must check by hand.
 */
import { hostname } from 'node:os';
import { RefusedError } from '../contract/errors.js';
import { CannotStageError } from '../contract/store-errors.js';
import type { OpenStore } from './context.js';
import { Journal, listRuns } from './journal.js';
import { acquireLock } from './lock.js';
import { newRunId } from './run-id.js';

/** A run that left a value in a store and has no journal here. */
export interface ForeignRun {
  readonly run: string;
  /** The stores that name it (`dotenv:./.env#KEY`). */
  readonly stores: readonly string[];
}

/** The runs, not journaled in `stateDir`, whose staged values the stores hold; read only. */
export async function foreignRuns(stateDir: string, stores: readonly OpenStore[]): Promise<ForeignRun[]> {
  const local = new Set(listRuns(stateDir));
  const probe = newRunId();
  const found = new Map<string, string[]>();
  for (const { store, ref } of stores) {
    if (!store.capabilities.readBack) continue;
    let version: string;
    try {
      version = (await store.read(ref)).version;
    } catch {
      // A store that cannot be read is the run's own problem: preflight reports it.
      continue;
    }
    try {
      await store.canStage(ref, probe, version);
    } catch (error) {
      if (!(error instanceof CannotStageError) || error.obstacle !== 'staged-by-another' || error.run === undefined || local.has(error.run)) continue;
      found.set(error.run, [...(found.get(error.run) ?? []), ref.display]);
    }
  }
  return [...found].map(([run, where]) => ({ run, stores: where }));
}

/**
 * Write this machine a journal for `run` from what the stores hold (see above), under the credential's lock, so that
 * `executeRun({ resume: run })` continues it. Refused (exit 3) when the stores do not let it be adopted soundly.
 */
export async function adoptRun(args: {
  stateDir: string;
  credential: string;
  runbook: { name: string; overlap: string };
  stores: readonly OpenStore[];
  run: string;
}): Promise<{ oldFp: string; newFp: string }> {
  const { run, stores } = args;
  if (listRuns(args.stateDir).includes(run)) throw new RefusedError(`run ${run} has a journal here: resume it with \`rekey resume ${run}\``);
  const byHand = `check ${stores.map((s) => s.ref.display).join(', ')} by hand (the value current, anything staged beside it)`;
  const writeOnly = stores.filter(({ store }) => !store.capabilities.readBack);
  if (writeOnly.length > 0)
    throw new RefusedError(`run ${run} cannot be adopted: ${writeOnly.map((s) => s.ref.display).join(', ')} cannot be read back`, byHand);
  const base: string[] = [];
  const staged: string[] = [];
  const olds = new Set<string>();
  const news = new Set<string>();
  for (const { store, ref } of stores) {
    const current = await store.read(ref);
    const previous = await store.readPrevious(ref, run);
    if (current.run === run || previous !== undefined)
      throw new RefusedError(
        `run ${run} had begun making its key current in ${ref.display}: it may have revoked the old key, which only its own journal can tell`,
        `${byHand}; finish it on the machine that has its journal, or check with the provider which key works`,
      );
    const mine = await store.readStaged(ref, run);
    if (mine === undefined)
      throw new RefusedError(`run ${run} staged no value in ${ref.display}: its mint did not reach every store`, `${byHand}; then roll it back by hand`);
    base.push(current.version);
    staged.push(mine.version);
    olds.add(current.value.fingerprint);
    news.add(mine.value.fingerprint);
  }
  if (olds.size !== 1 || news.size !== 1)
    throw new RefusedError(`run ${run} cannot be adopted: the stores disagree on the current or the staged value`, byHand);
  const oldFp = [...olds][0]!;
  const newFp = [...news][0]!;
  const lock = acquireLock(args.stateDir, args.credential, run);
  let journal: Journal | undefined;
  try {
    journal = new Journal(args.stateDir, run);
    await journal.append({
      type: 'run.started',
      credential: args.credential,
      runbook: args.runbook.name,
      overlap: args.runbook.overlap,
      mode: 'scheduled',
      pid: process.pid,
      host: hostname(),
    });
    // As preflight and mint journal them (src/engine/handlers.ts): the walker then skips both and goes on from promote.
    await journal.append({ type: 'step.started', phase: 'generate', step: 'preflight', kind: 'preflight' });
    await journal.append({ type: 'step.done', phase: 'generate', step: 'preflight', kind: 'preflight', ms: 0, data: { old: oldFp, base, adopted: true } });
    await journal.append({ type: 'step.started', phase: 'generate', step: 'mint', kind: 'mint' });
    await journal.append(
      { type: 'step.done', phase: 'generate', step: 'mint', kind: 'mint', ms: 0, data: { new: newFp, staged, adopted: true } },
      { durable: true },
    );
  } finally {
    await journal?.close();
    lock.release();
  }
  return { oldFp, newFp };
}
