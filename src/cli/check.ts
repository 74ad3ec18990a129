/**
 * `rekey check`: read every store (no writes), check permissions as far as each service allows, and ask each store
 * whether it could stage a new value now (`canStage`: another run's staged value, a secret that moved, a missing or
 * unusable one). Exit 1 when any store cannot be read, cannot be written or cannot stage.
 */
import type { Config, CredentialConfig } from '../config/types.js';
import type { SecretStore, StoreCheck, StoreRef } from '../store/contract.js';
import type { EventSink } from '../ui/events.js';
import { ExitCode } from '../util/errors.js';
import { credentialOf, openConfig, type CommandInput, type Globals } from './common.js';

/** Check the stores of credentials; returns an exit code (1 when a store cannot be read, written or staged to now). */
export async function checkStores(config: Config, credentials: readonly CredentialConfig[], sink: EventSink, json: boolean): Promise<number> {
  const { loadStoreAdapter } = await import('../../adapters/stores/index.js');
  let failed = false;
  for (const credential of credentials) {
    const results = await Promise.all(
      credential.stores.map(async (entry) => {
        const store = (await loadStoreAdapter(entry.ref.kind)).open(entry.options, { baseDir: config.baseDir, env: process.env });
        let check: StoreCheck = await store.check(entry.ref).catch((error: Error) => ({ readable: false, writable: undefined, fingerprint: undefined, notes: [error.message] }));
        const stageable = check.readable ? await stagingObstacle(store, entry.ref) : undefined;
        if (stageable !== undefined) check = { ...check, notes: [...check.notes, stageable] };
        await store.close?.().catch(() => undefined);
        return { entry, check, canStage: check.readable && stageable === undefined };
      }),
    );
    const fingerprints = new Set(results.map((r) => r.check.fingerprint).filter((f) => f !== undefined));
    for (const { entry, check, canStage } of results) {
      const ok = check.readable && check.writable !== false && canStage;
      if (!ok) failed = true;
      if (json) {
        process.stdout.write(`${JSON.stringify({ event: 'store.checked', credential: credential.id, store: entry.ref.display, ...check, canStage })}\n`);
      } else {
        const writable = check.writable === undefined ? 'write not checkable' : check.writable ? 'writable' : 'NOT writable';
        const staging = check.readable ? (canStage ? '' : ' · CANNOT stage') : '';
        sink.emit({ event: 'note', level: ok ? 'info' : 'warn', message: `${credential.id}: ${entry.ref.display} ${check.readable ? `readable (${check.fingerprint})` : 'NOT readable'} · ${writable}${staging}${check.notes.length > 0 ? ` — ${check.notes.join('; ')}` : ''}` });
      }
    }
    if (fingerprints.size > 1) {
      failed = true;
      sink.emit({ event: 'note', level: 'warn', message: `${credential.id}: the stores hold different values (${[...fingerprints].join(', ')})` });
    }
  }
  return failed ? ExitCode.failed : ExitCode.done;
}

/**
 * Why the store could not stage a new value now, in words for the person, or undefined when it could. A fresh run id
 * stands for the run a drill or rotation would start, so that any value staged by an earlier run counts.
 */
async function stagingObstacle(store: SecretStore, ref: StoreRef): Promise<string | undefined> {
  const { newRunId } = await import('../engine/run-id.js');
  try {
    const { version } = await store.read(ref);
    await store.canStage(ref, newRunId(), version);
    return undefined;
  } catch (error) {
    const e = error as { message?: unknown; hint?: unknown };
    const message = typeof e.message === 'string' ? e.message : String(error);
    return typeof e.hint === 'string' && e.hint !== '' ? `${message} (${e.hint})` : message;
  }
}

/** The `rekey check` command: check the given credentials' stores (all when none is named); exits 1 on any problem. */
export default async function check(input: CommandInput, globals: Globals): Promise<number> {
  const config = await openConfig(globals);
  const ids = input.args[0] as string[] | undefined;
  const credentials = ids !== undefined && ids.length > 0 ? ids.map((id) => credentialOf(config, id)) : [...config.credentials.values()];
  const { createSink } = await import('../ui/sink.js');
  return checkStores(config, credentials, createSink(globals.json === true), globals.json === true);
}
