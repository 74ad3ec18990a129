/**
 * In-memory store: a real store kind whose values live in this process only. Tests use it as a fake with the
 * full contract (staging, versions, compare-and-swap); nothing else should, since values vanish with the process.
 *
 * ```yaml
 * stores:
 *   - memory: app#API_KEY      # field API_KEY of the JSON secret "app"
 *     space: demo              # optional: separate namespaces in one process
 *     writeOnly: true          # optional: behave like a write-only store (GitHub Actions secrets): values can be
 *                              # written and described (version, date, run) but never read back
 * ```
 */
import { Secret } from '../../src/contract/secret.js';
import type { RunId, SecretStore, SecretStoreAdapter, StoreRef, StoredValue, VersionId } from '../../src/contract/store.js';
import { CannotStageError, NotSupportedError, SecretNotFoundError, StoreConflictError, StorePermissionError } from '../../src/contract/store-errors.js';
import { extractField, replaceField } from './kit/json-field.js';

interface MemoryVersion {
  readonly id: VersionId;
  readonly payload: string;
  readonly run: RunId | undefined;
  readonly createdAt: Date;
}

interface MemorySecret {
  versions: MemoryVersion[];
  current: VersionId;
  pending: VersionId | undefined;
  previous: VersionId | undefined;
  /** Runs whose versions were rolled back: a second rollback of the same run is a no-op. */
  rolledBack: Set<RunId>;
}

/** One namespace of in-memory secrets; tests reach into it to seed values and to play a concurrent writer. */
export class MemorySpace {
  readonly secrets = new Map<string, MemorySecret>();
  /** Paths for which every call fails with a permission error, to exercise that path. */
  readonly denied = new Set<string>();

  /** Create or overwrite a secret's current payload, as another writer would. */
  put(path: string, payload: string, run?: RunId): VersionId {
    const secret = this.secrets.get(path);
    const version: MemoryVersion = { id: String((secret?.versions.length ?? 0) + 1), payload, run, createdAt: new Date() };
    if (secret === undefined) {
      this.secrets.set(path, { versions: [version], current: version.id, pending: undefined, previous: undefined, rolledBack: new Set() });
    } else {
      secret.versions.push(version);
      secret.previous = secret.current;
      secret.current = version.id;
    }
    return version.id;
  }

  /** The current payload of a secret, bypassing the adapter. */
  payload(path: string): string | undefined {
    const secret = this.secrets.get(path);
    return secret?.versions.find((v) => v.id === secret.current)?.payload;
  }
}

const spaces = new Map<string, MemorySpace>();

/** The named in-memory namespace, created on first use. */
export function memorySpace(name = 'default'): MemorySpace {
  let space = spaces.get(name);
  if (space === undefined) {
    space = new MemorySpace();
    spaces.set(name, space);
  }
  return space;
}

function openMemoryStore(space: MemorySpace, writeOnly: boolean): SecretStore {
  // A write-only store refuses every read of a value, as GitHub's Actions secrets API has no endpoint that returns one
  // (https://docs.github.com/en/rest/actions/secrets): the engine must not ask (capabilities.readBack is false).
  const readable = (operation: string, ref: StoreRef): void => {
    if (writeOnly) throw new NotSupportedError(operation, ref.display, 'this store is write-only: its values cannot be read back');
  };
  const secretAt = (operation: string, ref: StoreRef): MemorySecret => {
    if (space.denied.has(ref.path)) throw new StorePermissionError(operation, ref.display, 'access denied', 'grant this process access to the space');
    const secret = space.secrets.get(ref.path);
    if (secret === undefined) throw new SecretNotFoundError(operation, ref.display);
    return secret;
  };
  const versionOf = (secret: MemorySecret, id: VersionId | undefined): MemoryVersion | undefined =>
    id === undefined ? undefined : secret.versions.find((v) => v.id === id);
  const storedValueOf = (ref: StoreRef, operation: string, version: MemoryVersion): StoredValue => ({
    value: new Secret(extractField(ref, operation, version.payload)),
    version: version.id,
    createdAt: version.createdAt,
    run: version.run,
  });

  return {
    kind: 'memory',
    capabilities: { readBack: !writeOnly, staging: true, versions: true, compareAndSwap: true },

    async read(ref) {
      readable('read', ref);
      const secret = secretAt('read', ref);
      return storedValueOf(ref, 'read', versionOf(secret, secret.current)!);
    },

    async readStaged(ref, run) {
      readable('read staged', ref);
      const secret = secretAt('read staged', ref);
      const mine = secret.versions.find((v) => v.run === run);
      return mine === undefined ? undefined : storedValueOf(ref, 'read staged', mine);
    },

    async readPrevious(ref, run) {
      readable('read previous', ref);
      const secret = secretAt('read previous', ref);
      const current = versionOf(secret, secret.current)!;
      if (current.run !== run) return undefined;
      const previous = versionOf(secret, secret.previous);
      return previous === undefined ? undefined : storedValueOf(ref, 'read previous', previous);
    },

    async canStage(ref, run, base) {
      let secret: MemorySecret;
      try {
        secret = secretAt('pre-flight', ref);
      } catch (error) {
        throw CannotStageError.from(error, ref.display);
      }
      // The same checks as stage, in the same order, without the write.
      if (secret.versions.some((v) => v.run === run)) return;
      if (secret.pending !== undefined) {
        const holder = versionOf(secret, secret.pending)?.run;
        throw new CannotStageError(
          'staged-by-another',
          ref.display,
          `version ${secret.pending} is already pending from another run`,
          'finish or roll back that run first',
          holder === undefined ? {} : { run: holder },
        );
      }
      if (secret.current !== base) {
        throw new CannotStageError(
          'base-moved',
          ref.display,
          `current version is ${secret.current}, expected ${base}`,
          'someone else changed the secret since this run read it; start a new run',
        );
      }
    },

    async stage(ref, value, run, base) {
      const secret = secretAt('stage', ref);
      const mine = secret.versions.find((v) => v.run === run);
      if (mine !== undefined) return mine.id;
      if (secret.pending !== undefined) {
        throw new StoreConflictError(
          'stage',
          ref.display,
          `version ${secret.pending} is already pending from another run`,
          'finish or roll back that run first',
        );
      }
      if (secret.current !== base) throw new StoreConflictError('stage', ref.display, `current version is ${secret.current}, expected ${base}`);
      const current = versionOf(secret, secret.current)!;
      const version: MemoryVersion = {
        id: String(secret.versions.length + 1),
        payload: replaceField(ref, 'stage', current.payload, value.reveal()),
        run,
        createdAt: new Date(),
      };
      secret.versions.push(version);
      secret.pending = version.id;
      return version.id;
    },

    async promote(ref, version, run, base) {
      const secret = secretAt('promote', ref);
      if (secret.current === version) return;
      if (secret.current !== base) throw new StoreConflictError('promote', ref.display, `current version is ${secret.current}, expected ${base}`);
      if (versionOf(secret, version)?.run !== run) throw new StoreConflictError('promote', ref.display, `version ${version} was not staged by this run`);
      secret.previous = secret.current;
      secret.current = version;
      secret.pending = undefined;
    },

    async rollback(ref, run) {
      const secret = secretAt('rollback', ref);
      const current = versionOf(secret, secret.current)!;
      const pending = versionOf(secret, secret.pending);
      if (pending?.run === run) {
        // Staged, never current: dropping the pending mark is the whole rollback. It is remembered, so that a second
        // rollback (after a late stage of the same run, say) knows this run's version was discarded, not overtaken.
        secret.pending = undefined;
        secret.rolledBack.add(run);
      }
      if (current.run !== run) {
        const promotedOnce = secret.versions.some((v) => v.run === run && v.id !== pending?.id);
        if (promotedOnce && !secret.rolledBack.has(run)) {
          throw new StoreConflictError('rollback', ref.display, `version ${current.id} was written after this run`);
        }
        return;
      }
      if (secret.previous === undefined) throw new StoreConflictError('rollback', ref.display, 'no previous version to return to');
      secret.current = secret.previous;
      secret.previous = current.id;
      secret.rolledBack.add(run);
    },

    async retire(ref, run) {
      const secret = secretAt('retire', ref);
      if (versionOf(secret, secret.current)?.run === run) secret.previous = undefined;
    },

    async describe(ref) {
      if (space.denied.has(ref.path)) throw new StorePermissionError('describe', ref.display, 'access denied', 'grant this process access to the space');
      const secret = space.secrets.get(ref.path);
      const current = secret === undefined ? undefined : versionOf(secret, secret.current);
      return current === undefined ? undefined : { version: current.id, createdAt: current.createdAt, run: current.run };
    },

    async check(ref) {
      if (writeOnly) {
        try {
          const found = await this.describe!(ref);
          if (found === undefined) return { readable: false, writable: undefined, notes: [new SecretNotFoundError('describe', ref.display).message] };
          return { readable: false, writable: true, notes: [] };
        } catch (error) {
          return { readable: false, writable: undefined, notes: [(error as Error).message] };
        }
      }
      try {
        const value = await this.read(ref);
        return { readable: true, writable: true, fingerprint: value.value.fingerprint, notes: [] };
      } catch (error) {
        return { readable: false, writable: undefined, notes: [(error as Error).message] };
      }
    },
  };
}

export default {
  kind: 'memory',
  summary: 'values held in this process only (tests and demos)',
  options: {
    space: { type: 'string', description: 'the in-process space holding the values', default: 'default' },
    writeOnly: { type: 'boolean', description: 'behave as a store whose values cannot be read back (for tests of write-only stores)', default: false },
  },
  validateRef(ref) {
    // A space path is a map key here; empty or blank-containing paths are almost always a typo in rekey.yaml.
    if (ref.path === '' || /\s/.test(ref.path)) return 'a memory reference names a secret without spaces: "name" or "name#FIELD"';
    if (ref.field !== undefined && ref.field === '') return 'a memory reference with "#" names a field after it: "name#FIELD"';
    return undefined;
  },
  open(options, _context) {
    return openMemoryStore(memorySpace(typeof options['space'] === 'string' ? options['space'] : 'default'), options['writeOnly'] === true);
  },
} satisfies SecretStoreAdapter;
