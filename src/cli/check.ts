/**
 * `rekey check`: read every store (no writes), check permissions as far as each service allows, and ask each store
 * whether it could stage a new value now (`canStage`: another run's staged value, a secret that moved, a missing or
 * unusable one). A write-only store (capabilities.readBack false) is never read: it is reported as "write-only: not
 * read back" with what its describe() says (version, date, run). Exit 1 when any store cannot be read (or, write-only,
 * holds no value), cannot be written or cannot stage.
 */
import type { Config, CredentialConfig } from '../config/types.js';
import type { SecretStore, StoreCheck, StoredMetadata, StoreRef, VersionId } from '../contract/store.js';
import type { EventSink } from '../contract/events.js';
import { ExitCode } from '../contract/errors.js';
import { credentialOf, openConfig, type CommandInput, type Globals } from './common.js';
import { locksOf } from './locks-of.js';

/** How `checkStores` treats a store that cannot stage because an unfinished run of the same credential holds it. */
export interface CheckOptions {
  /**
   * true (the drill's pre-flight): leave it to the engine, which refuses such a run itself (exit 3) with the precise
   * way out (resume, or rollback where the run allows it). false (`rekey check`): a failure like any other.
   */
  readonly deferUnfinishedRuns?: boolean;
}

/** Check the stores of credentials; returns an exit code (1 when a store cannot be read, written or staged to now). */
export async function checkStores(
  config: Config,
  credentials: readonly CredentialConfig[],
  sink: EventSink,
  json: boolean,
  options: CheckOptions = {},
): Promise<number> {
  const { storeOpener } = await import('./stores.js');
  const openStores = storeOpener(config);
  const defer = options.deferUnfinishedRuns ?? true;
  let failed = false;
  // A note about a file several stores share (a 0644 .env holding five credentials' keys) is said once, at its first
  // store; later stores of that file say "as above" instead of repeating it.
  const said = new Set<string>();
  const locks = await locksOf(
    config.stateDir,
    credentials.map((c) => c.id),
  );
  for (const credential of credentials) {
    const stores = await openStores(credential);
    const results = await Promise.all(
      stores.map(async ({ store, ref }) => {
        const writeOnly = !store.capabilities.readBack;
        let check: StoreCheck = await store
          .check(ref)
          .catch((error: Error) => ({ readable: false, writable: undefined, fingerprint: undefined, notes: [error.message] }));
        // A write-only store is never read: what it says about its value (version, date, run) stands in for a read.
        const described = writeOnly ? await describeOf(store, ref) : undefined;
        const present = writeOnly ? described?.metadata !== undefined : check.readable;
        if (described?.problem !== undefined) check = { ...check, notes: [...check.notes, described.problem] };
        let obstacle = present ? await stagingObstacle(store, ref, described?.metadata?.version) : undefined;
        if (obstacle !== undefined && defer && obstacle.run !== undefined && (await unfinishedRunOf(config.stateDir, credential.id, obstacle.run)))
          obstacle = undefined;
        if (obstacle !== undefined) check = { ...check, notes: [...check.notes, obstacle.text] };
        await store.close?.().catch(() => undefined);
        return { ref, check, canStage: present && obstacle === undefined, present, writeOnly, metadata: described?.metadata };
      }),
    );
    const fingerprints = new Set(results.map((r) => r.check.fingerprint).filter((f) => f !== undefined));
    for (const { ref, check, canStage, present, writeOnly, metadata } of results) {
      const ok = present && check.writable !== false && canStage;
      if (!ok) failed = true;
      if (json) {
        const extra = writeOnly ? { writeOnly: true, ...(metadata === undefined ? {} : { metadata: metadataJson(metadata) }) } : {};
        process.stdout.write(`${JSON.stringify({ event: 'store.checked', credential: credential.id, store: ref.display, ...check, ...extra, canStage })}\n`);
      } else {
        const writable = check.writable === undefined ? 'write not checkable' : check.writable ? 'writable' : 'NOT writable';
        const staging = present ? (canStage ? '' : ' · CANNOT stage') : '';
        const reading = writeOnly
          ? `write-only: not read back${metadata === undefined ? ' · NOT found' : ` (${metadataWords(metadata)})`}`
          : check.readable
            ? `readable (${check.fingerprint})`
            : 'NOT readable';
        const fresh = check.notes.filter((note) => !said.has(note));
        for (const note of fresh) said.add(note);
        const repeated = check.notes.length - fresh.length;
        const notes = [...fresh, ...(repeated === 0 ? [] : [`${repeated === 1 ? 'a note' : `${repeated} notes`} as above`])];
        sink.emit({
          event: 'note',
          level: ok ? 'info' : 'warn',
          message: `${credential.id}: ${ref.display} ${reading} · ${writable}${staging}${notes.length > 0 ? ` — ${notes.join('; ')}` : ''}`,
        });
      }
    }
    if (fingerprints.size > 1) {
      failed = true;
      sink.emit({ event: 'note', level: 'warn', message: `${credential.id}: the stores hold different values (${[...fingerprints].join(', ')})` });
    }
    // A lock that is held or left over is not a store problem, but it decides whether a run can start now; only an
    // unreadable one stops every run, so only that fails the check.
    const lock = locks.get(credential.id);
    if (lock !== undefined) {
      if (lock.status.state === 'unreadable') failed = true;
      if (json) process.stdout.write(`${JSON.stringify({ event: 'lock.checked', credential: credential.id, ...lock.status })}\n`);
      else sink.emit({ event: 'note', level: lock.status.state === 'held' ? 'info' : 'warn', message: `${credential.id}: ${lock.text}` });
    }
  }
  return failed ? ExitCode.failed : ExitCode.done;
}

/**
 * Why the store could not stage a new value now, in words for the person, or undefined when it could. A fresh run id
 * stands for the run a drill or rotation would start, so that any value staged by an earlier run counts.
 */
async function stagingObstacle(store: SecretStore, ref: StoreRef, described?: VersionId): Promise<{ text: string; run: string | undefined } | undefined> {
  const [{ newRunId }, { CannotStageError }] = await Promise.all([import('../engine/run-id.js'), import('../contract/store-errors.js')]);
  try {
    // A write-only store's current version comes from its metadata (describe), never from a read.
    const version = described ?? (await store.read(ref)).version;
    await store.canStage(ref, newRunId(), version);
    return undefined;
  } catch (error) {
    const e = error as { message?: unknown; hint?: unknown };
    const message = typeof e.message === 'string' ? e.message : String(error);
    const text = typeof e.hint === 'string' && e.hint !== '' ? `${message} (${e.hint})` : message;
    return { text, run: error instanceof CannotStageError && error.obstacle === 'staged-by-another' ? error.run : undefined };
  }
}

/** A write-only store's metadata, or why it could not be had (never a reason to read the value). */
async function describeOf(store: SecretStore, ref: StoreRef): Promise<{ metadata?: StoredMetadata; problem?: string }> {
  try {
    const metadata = await store.describe?.(ref);
    return metadata === undefined ? { problem: `${ref.display}: not found` } : { metadata };
  } catch (error) {
    return { problem: error instanceof Error ? error.message : String(error) };
  }
}

/** `version 3, written 2026-12-01T10:00:00.000Z by run 20261201T…`: what a write-only store says about its value. */
function metadataWords(m: StoredMetadata): string {
  return [
    `version ${m.version}`,
    m.createdAt === undefined ? undefined : `written ${m.createdAt.toISOString()}`,
    m.run === undefined ? undefined : `by run ${m.run}`,
  ]
    .filter((w) => w !== undefined)
    .join(', ');
}

function metadataJson(m: StoredMetadata): Record<string, string> {
  return { version: m.version, ...(m.createdAt === undefined ? {} : { createdAt: m.createdAt.toISOString() }), ...(m.run === undefined ? {} : { run: m.run }) };
}

/**
 * Whether `run` is a run of this credential that the journal shows unfinished (no `run.finished`, or finished as
 * failed), the case the engine refuses by itself. A journal that cannot be read is not taken as proof of anything.
 */
async function unfinishedRunOf(stateDir: string, credential: string, run: string): Promise<boolean> {
  const { readJournal } = await import('../engine/journal.js');
  try {
    const records = readJournal(stateDir, run);
    if (records[0]?.type !== 'run.started' || records[0].credential !== credential) return false;
    const last = records.findLast((r) => r.type === 'run.finished' || r.type === 'run.resumed');
    return !(last?.type === 'run.finished' && last.result !== 'failed');
  } catch {
    return false;
  }
}

/** The `rekey check` command: check the given credentials' stores (all when none is named); exits 1 on any problem. */
export default async function check(input: CommandInput, globals: Globals): Promise<number> {
  const config = await openConfig(globals);
  const ids = input.args[0] as string[] | undefined;
  const credentials = ids !== undefined && ids.length > 0 ? ids.map((id) => credentialOf(config, id)) : [...config.credentials.values()];
  const { createSink } = await import('../ui/sink.js');
  return checkStores(config, credentials, createSink(globals.json === true), globals.json === true, { deferUnfinishedRuns: false });
}
