/** `rekey check`: read every store (no writes) and check permissions as far as each service allows. */
import type { Config, CredentialConfig } from '../config/types.js';
import type { EventSink } from '../engine/events.js';
import { ExitCode } from '../util/errors.js';
import { credentialOf, openConfig, type CommandInput, type Globals } from './common.js';
import { locksOf } from './locks-of.js';

/** Check the stores of credentials; returns an exit code (1 when a store cannot be read or written). */
export async function checkStores(config: Config, credentials: readonly CredentialConfig[], sink: EventSink, json: boolean): Promise<number> {
  const { loadStoreAdapter } = await import('../../adapters/stores/index.js');
  let failed = false;
  const locks = await locksOf(config.stateDir, credentials.map((c) => c.id));
  for (const credential of credentials) {
    const results = await Promise.all(
      credential.stores.map(async (entry) => {
        const store = (await loadStoreAdapter(entry.ref.kind)).open(entry.options, { baseDir: config.baseDir, env: process.env });
        const check = await store.check(entry.ref).catch((error: Error) => ({ readable: false, writable: undefined, fingerprint: undefined, notes: [error.message] }));
        await store.close?.().catch(() => undefined);
        return { entry, check };
      }),
    );
    const fingerprints = new Set(results.map((r) => r.check.fingerprint).filter((f) => f !== undefined));
    for (const { entry, check } of results) {
      const ok = check.readable && check.writable !== false;
      if (!ok) failed = true;
      if (json) {
        process.stdout.write(`${JSON.stringify({ event: 'store.checked', credential: credential.id, store: entry.ref.display, ...check })}\n`);
      } else {
        const writable = check.writable === undefined ? 'write not checkable' : check.writable ? 'writable' : 'NOT writable';
        sink.emit({ event: 'note', level: ok ? 'info' : 'warn', message: `${credential.id}: ${entry.ref.display} ${check.readable ? `readable (${check.fingerprint})` : 'NOT readable'} · ${writable}${check.notes.length > 0 ? ` — ${check.notes.join('; ')}` : ''}` });
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

export default async function check(input: CommandInput, globals: Globals): Promise<number> {
  const config = await openConfig(globals);
  const ids = input.args[0] as string[] | undefined;
  const credentials = ids !== undefined && ids.length > 0 ? ids.map((id) => credentialOf(config, id)) : [...config.credentials.values()];
  const { createSink } = await import('../ui/sink.js');
  return checkStores(config, credentials, createSink(globals.json === true), globals.json === true);
}
