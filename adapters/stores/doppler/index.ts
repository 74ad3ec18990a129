/**
 * Doppler (https://docs.doppler.com/reference/api): one secret of one config, `project/config#NAME`.
 *
 * ```yaml
 * stores:
 *   - doppler: backend/prd#STRIPE_API_KEY   # project "backend", config "prd", secret STRIPE_API_KEY
 *     token: DOPPLER_TOKEN_ROTATE           # optional: the environment variable holding the token (default DOPPLER_TOKEN)
 *     apiHost: https://api.doppler.com      # optional: else DOPPLER_API_HOST, else Doppler's API
 * ```
 *
 * What Doppler offers, said as it is (`capabilities`):
 * - No staging: a config holds one value per name, and a companion name (`NAME_REKEY_STAGED`) would land in every
 *   environment Doppler injects. `stage` writes the new value at once, in the second wave with the other stores
 *   without staging (`rekey plan` lists it there).
 * - Compare-and-swap on the value: every write is a change request with `originalValue`, which Doppler processes "only
 *   [...] if the provided values match the latest values" (https://docs.doppler.com/reference/secrets-update). There
 *   is no version number to compare, so a version here is the value's fingerprint.
 * - Versions through the config logs: every change is logged with a diff of the values
 *   (https://docs.doppler.com/reference/config-log-object), and every version is kept for the secret's lifetime
 *   (https://docs.doppler.com/docs/versioning). `readPrevious` finds the old value there; `retire` has nothing to drop.
 *
 * Which run wrote what is kept in rekey's state folder (records.ts): Doppler has no metadata on a secret to hold it.
 *
 * The token needs read and write on the config's secrets and read on its logs: a service token with read/write
 * access to the config, or a service account token with write access to it.
 */
import { join } from 'node:path';
import { Secret } from '../../../src/contract/secret.js';
import type { SecretStore, SecretStoreAdapter, StoreCheck, StoreContext, StoreRef, StoredValue, VersionId } from '../../../src/contract/store.js';
import { CannotStageError, SecretNotFoundError, StoreConflictError, StoreError } from '../../../src/contract/store-errors.js';
import type { RetryOptions } from '../../../src/util/retry.js';
import { callService, stringOption } from '../kit/index.js';

import { DEFAULT_API, type DopplerClient, dopplerClient, KIND, type LogEntry } from './client.js';
import { MissingTokenError, toStoreError } from './errors.js';
import { type RunRecord, RunRecords, tag } from './records.js';

export type { DopplerClient } from './client.js';

/** Doppler's rule for secret names (https://docs.doppler.com/docs/secrets, Secret Names). */
const SECRET_NAME = /^[A-Z_][A-Z0-9_]*$/;

/** How many pages of config logs (20 entries each) are searched for a secret's previous value or last change. */
const LOG_PAGES = 5;
const LOG_PAGE_SIZE = 20;

export function refProblem(ref: StoreRef): string | undefined {
  const parts = ref.path.split('/');
  if (parts.length !== 2 || parts.some((p) => p.trim() === '')) return 'a Doppler ref is <project>/<config>#<SECRET_NAME>, as in backend/prd#STRIPE_API_KEY';
  if (ref.field === undefined || ref.field === '') return 'a Doppler ref names the secret after #, as in backend/prd#STRIPE_API_KEY';
  if (!SECRET_NAME.test(ref.field)) return `"${ref.field}" is not a Doppler secret name (uppercase letters, digits and underscores, not starting with a digit)`;
  return undefined;
}

export interface DopplerStoreOptions {
  /** Builds the client on first use: the token is read then, not at open. */
  readonly client: () => DopplerClient;
  /** The state folder holding the run records. */
  readonly stateDir: string;
  /** Backoff for 429, 5xx and dropped connections (tests shorten it). */
  readonly retry?: RetryOptions | undefined;
}

interface Place {
  readonly project: string;
  readonly config: string;
  readonly name: string;
  readonly records: RunRecords;
}

const versionOf = (value: string): VersionId => new Secret(value).fingerprint;

/** Open a Doppler store over a client; the adapter's `open` passes the fetch client, tests may pass their own. */
export function openDopplerStore(options: DopplerStoreOptions): SecretStore {
  let client: DopplerClient | undefined;

  const placeOf = (operation: string, ref: StoreRef): Place => {
    const problem = refProblem(ref);
    if (problem !== undefined) throw new StoreError('invalid', operation, ref.display, problem);
    const [project, config] = ref.path.split('/') as [string, string];
    return { project, config, name: ref.field!, records: new RunRecords(options.stateDir, `${project}/${config}#${ref.field!}`) };
  };

  const call = <T>(operation: string, ref: StoreRef, place: Place, fn: (c: DopplerClient) => Promise<T>): Promise<T> =>
    callService(
      () => {
        client ??= options.client();
        return fn(client);
      },
      (error) => toStoreError(error, operation, ref, `secret ${place.name} of config ${place.project}/${place.config}`),
      options.retry,
    );

  const current = (operation: string, ref: StoreRef, place: Place): Promise<string | undefined> =>
    call(operation, ref, place, (c) => c.getSecret(place.project, place.config, place.name));

  const currentOrThrow = async (operation: string, ref: StoreRef, place: Place): Promise<string> => {
    const value = await current(operation, ref, place);
    if (value === undefined) {
      throw new SecretNotFoundError(
        operation,
        ref.display,
        `no secret ${place.name} in config ${place.project}/${place.config}`,
        'create the secret in Doppler first (rekey never creates one), or fix the ref',
      );
    }
    return value;
  };

  /** The run whose recorded new value is `value`, among the runs not rolled back. */
  const writerOf = (place: Place, value: string): RunRecord | undefined =>
    place.records.all().findLast((r) => r.rolledBack !== true && tag(r.run, value) === r.new);

  /** The config's log entries that changed this secret, newest first, as far as LOG_PAGES reaches. */
  async function* changes(operation: string, ref: StoreRef, place: Place): AsyncGenerator<{ log: LogEntry; added?: string; removed?: string }> {
    for (let page = 1; page <= LOG_PAGES; page++) {
      const logs = await call(operation, ref, place, (c) => c.listLogs(place.project, place.config, page, LOG_PAGE_SIZE));
      for (const log of logs) {
        const entry = log.diff.find((d) => d.name === place.name);
        if (entry !== undefined)
          yield { log, ...(entry.added === undefined ? {} : { added: entry.added }), ...(entry.removed === undefined ? {} : { removed: entry.removed }) };
      }
      if (logs.length < LOG_PAGE_SIZE) return;
    }
  }

  /** The value this run replaced, from the log entry of its write (its diff removed the old value, added the new). */
  const previousOf = async (operation: string, ref: StoreRef, place: Place, record: RunRecord): Promise<string | undefined> => {
    for await (const change of changes(operation, ref, place)) {
      const { added, removed } = change;
      if (added !== undefined && removed !== undefined && tag(record.run, added) === record.new && tag(record.run, removed) === record.old) return removed;
    }
    return undefined;
  };

  /**
   * Write `value` if the secret still holds `expected`. A refusal (Doppler's status for a mismatch is not documented)
   * or a lost reply is settled by reading again: the write is done when the secret now holds `value`.
   */
  const writeIf = async (operation: string, ref: StoreRef, place: Place, value: string, expected: string): Promise<void> => {
    try {
      await call(operation, ref, place, (c) => c.setSecret(place.project, place.config, place.name, value, expected));
    } catch (error) {
      if (!(error instanceof StoreError) || error.code === 'permission' || error.code === 'not-found') throw error;
      const now = await current(operation, ref, place);
      if (now === value) return;
      if (now !== expected) {
        throw new StoreConflictError(
          operation,
          ref.display,
          'the value changed since this run read it (Doppler refused the conditional write)',
          'start a new run',
        );
      }
      throw error;
    }
  };

  const store: SecretStore = {
    kind: KIND,
    capabilities: { readBack: true, staging: false, versions: true, compareAndSwap: true },

    async read(ref) {
      const place = placeOf('read', ref);
      const value = await currentOrThrow('read', ref, place);
      return { value: new Secret(value), version: versionOf(value), run: writerOf(place, value)?.run };
    },

    async describe(ref) {
      const place = placeOf('describe', ref);
      const value = await current('describe', ref, place);
      if (value === undefined) return undefined;
      // The date of the last change is the newest log entry naming the secret (config logs carry created_at).
      let createdAt: Date | undefined;
      for await (const change of changes('describe', ref, place)) {
        createdAt = change.log.createdAt;
        break;
      }
      return { version: versionOf(value), createdAt, run: writerOf(place, value)?.run };
    },

    async readStaged(ref, run) {
      const place = placeOf('readStaged', ref);
      const record = place.records.get(run);
      if (record === undefined || record.rolledBack === true) return undefined;
      const value = await current('readStaged', ref, place);
      if (value === undefined || tag(run, value) !== record.new) return undefined;
      return { value: new Secret(value), version: versionOf(value), run } satisfies StoredValue;
    },

    async readPrevious(ref, run) {
      const place = placeOf('readPrevious', ref);
      const record = place.records.get(run);
      if (record === undefined) return undefined;
      const value = await previousOf('readPrevious', ref, place, record);
      return value === undefined ? undefined : { value: new Secret(value), version: versionOf(value) };
    },

    async canStage(ref, run, base) {
      const place = placeOf('pre-flight', ref);
      let value: string;
      try {
        value = await currentOrThrow('pre-flight', ref, place);
      } catch (error) {
        throw CannotStageError.from(error, ref.display);
      }
      const own = place.records.get(run);
      if (own !== undefined && own.rolledBack !== true && tag(run, value) === own.new) return;
      if (versionOf(value) === base) return;
      const other = writerOf(place, value);
      if (other !== undefined && other.run !== run) {
        throw new CannotStageError(
          'staged-by-another',
          ref.display,
          `run ${other.run} wrote the current value and did not finish`,
          `finish it with \`rekey resume ${other.run}\` or undo it with \`rekey rollback ${other.run}\``,
          { run: other.run },
        );
      }
      throw new CannotStageError(
        'base-moved',
        ref.display,
        'the value changed since this run read it',
        'someone else changed the secret since this run read it; start a new run',
      );
    },

    async stage(ref, value, run, base) {
      const place = placeOf('stage', ref);
      const now = await currentOrThrow('stage', ref, place);
      const wanted = value.reveal();
      const record = place.records.get(run);
      if (now === wanted && record !== undefined && tag(run, wanted) === record.new) {
        if (record.rolledBack === true) place.records.put({ ...record, rolledBack: undefined });
        return versionOf(wanted);
      }
      if (versionOf(now) !== base) {
        throw new StoreConflictError('stage', ref.display, 'the value changed since this run read it (its version is no longer the base)', 'start a new run');
      }
      // The record first: a crash after the write still lets the resumed run recognise its value.
      place.records.put({ run, base, new: tag(run, wanted), old: tag(run, now), at: new Date().toISOString() });
      await writeIf('stage', ref, place, wanted, now);
      return versionOf(wanted);
    },

    async promote(ref, version, run, base) {
      const place = placeOf('promote', ref);
      const record = place.records.get(run);
      if (record === undefined)
        throw new StoreConflictError('promote', ref.display, `version ${version} was not written by this run`, 'stage the value in this run first');
      const now = await currentOrThrow('promote', ref, place);
      if (versionOf(now) === version && tag(run, now) === record.new) return;
      if (versionOf(now) === base) {
        throw new StoreConflictError(
          'promote',
          ref.display,
          'the value of this run was never written (the secret still holds the base)',
          'stage the value again',
        );
      }
      throw new StoreConflictError('promote', ref.display, 'someone else wrote the secret after this run', 'decide by hand which value should be current');
    },

    async rollback(ref, run) {
      const place = placeOf('rollback', ref);
      const record = place.records.get(run);
      if (record === undefined) return;
      const now = await currentOrThrow('rollback', ref, place);
      if (tag(run, now) === record.old) {
        // Never written, or restored already.
        if (record.rolledBack !== true) place.records.put({ ...record, rolledBack: true });
        return;
      }
      if (tag(run, now) !== record.new) {
        throw new StoreConflictError(
          'rollback',
          ref.display,
          'someone else wrote the secret after this run; a rollback would overwrite it',
          'decide by hand which value should be current',
        );
      }
      const previous = await previousOf('rollback', ref, place, record);
      if (previous === undefined) {
        throw new SecretNotFoundError(
          'rollback',
          ref.display,
          `the value before this run is not in the last ${LOG_PAGES * LOG_PAGE_SIZE} entries of the config's logs`,
          "restore it from the config's Logs tab in Doppler (Rollback Changes)",
        );
      }
      place.records.put({ ...record, rolledBack: true });
      await writeIf('rollback', ref, place, previous, now);
    },

    async retire() {
      // Doppler keeps every version for the secret's lifetime ("Versioning", Retention): there is nothing to drop.
    },

    async check(ref) {
      const notes: string[] = [];
      let readable = false;
      let fingerprint: string | undefined;
      try {
        const value = await store.read(ref);
        readable = true;
        fingerprint = value.value.fingerprint;
      } catch (error) {
        if (!(error instanceof StoreError)) throw error;
        notes.push(error.hint === undefined ? error.message : `${error.message} (${error.hint})`);
        return { readable, writable: undefined, notes };
      }
      notes.push('Doppler cannot say whether the token may write without a write: `rekey drill` proves it');
      return { readable, writable: undefined, fingerprint, notes } satisfies StoreCheck;
    },

    async sweep(ref) {
      return placeOf('sweep', ref).records.sweep();
    },
  };
  return store;
}

export default {
  kind: KIND,
  summary: 'Doppler: one secret of a project config; conditional writes, versions in the config logs, no staging',
  validateRef: refProblem,
  options: {
    token: { type: 'string', description: 'the NAME of the environment variable holding the Doppler token (never the token)', default: 'DOPPLER_TOKEN' },
    apiHost: { type: 'string', description: 'the Doppler API address; else DOPPLER_API_HOST, else https://api.doppler.com' },
  },
  environment(options) {
    const token = typeof options['token'] === 'string' && options['token'] !== '' ? options['token'] : 'DOPPLER_TOKEN';
    return [{ name: token, kind: 'secret' as const, description: 'a Doppler service token (read/write on the config) or service account token' }];
  },
  open(options, context: StoreContext) {
    const tokenEnv = stringOption(options, 'token', KIND) ?? 'DOPPLER_TOKEN';
    const apiUrl = stringOption(options, 'apiHost', KIND) ?? context.env['DOPPLER_API_HOST'] ?? DEFAULT_API;
    return openDopplerStore({
      stateDir: context.stateDir ?? join(context.baseDir, '.rekey'),
      client: () => {
        const token = context.env[tokenEnv];
        if (token === undefined || token === '') throw new MissingTokenError(tokenEnv);
        return dopplerClient({ apiUrl, token });
      },
    });
  },
} satisfies SecretStoreAdapter;
