/**
 * The store registry: the adapters by kind, and the one function that opens a credential's stores. Each adapter is
 * imported only when a configuration names it, so that `rekey --help` and `rekey status` never load an SDK. The CLI
 * hands this registry to the config loader and the engine, which import nothing from adapters/. Adding a store: an
 * adapter (a file, or a folder with an index.ts) in this folder and one line here (see CONTRIBUTING).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createHash, randomBytes } from 'node:crypto';
import type { Secret } from '../../src/contract/secret.js';
import type { RehearsalContext, RehearsalStandIn, SecretStore, SecretStoreAdapter, StoreContext, StoredMetadata, StoreRef } from '../../src/contract/store.js';

type Loader = () => Promise<{ default: SecretStoreAdapter }>;

const loaders: Readonly<Record<string, Loader>> = {
  dotenv: () => import('./dotenv/index.js'),
  dotenvx: () => import('./dotenvx/index.js'),
  memory: () => import('./memory.js'),
  'aws-secrets-manager': () => import('./aws-secrets-manager/index.js'),
  'gcp-secret-manager': () => import('./gcp-secret-manager/index.js'),
  'vault-kv': () => import('./vault-kv/index.js'),
  'github-actions-secrets': () => import('./github-actions-secrets/index.js'),
  'kubernetes-secret': () => import('./kubernetes-secret/index.js'),
  doppler: () => import('./doppler/index.js'),
};

/** Every store kind rekey knows, for validation and suggestions. */
export const storeKinds: readonly string[] = Object.keys(loaders);

/** The adapters loaded so far: `status` opens a thousand credentials' stores, and an import() is not free once loaded. */
const loaded = new Map<string, SecretStoreAdapter>();

/** The adapter for a kind; throws for an unknown kind (config validation catches those first). */
export async function loadStoreAdapter(kind: string): Promise<SecretStoreAdapter> {
  const known = loaded.get(kind);
  if (known !== undefined) return known;
  const load = loaders[kind];
  if (load === undefined) throw new Error(`unknown store kind ${kind}`);
  const adapter = (await load()).default;
  loaded.set(kind, adapter);
  return adapter;
}

/**
 * The files of a kind's adapter (`<kind>.js`, or every file of its `<kind>/` folder), for the config cache: a release
 * that changes an adapter's options or ref rules re-validates cached configs.
 */
export function storeModuleFiles(kind: string): readonly string[] {
  if (!Object.hasOwn(loaders, kind)) return [];
  const here = dirname(fileURLToPath(import.meta.url));
  const extension = extname(fileURLToPath(import.meta.url));
  const folder = join(here, kind);
  try {
    return readdirSync(folder, { recursive: true, encoding: 'utf8' })
      .filter((name) => name.endsWith(extension))
      .sort()
      .map((name) => join(folder, name));
  } catch {
    return [join(here, `${kind}${extension}`)];
  }
}

/** One configured store entry, as the config loader types it. */
export interface StoreEntryToOpen {
  readonly ref: StoreRef;
  readonly options: Readonly<Record<string, unknown>>;
}

/** An open store, with the ref it was configured for. */
export interface OpenedStore {
  readonly store: SecretStore;
  readonly ref: StoreRef;
}

/**
 * Open every store of a credential, in the order configured. When one cannot be opened, those already open are
 * closed before the first failure is thrown, so that no client is left running.
 */
export function openStores(entries: readonly StoreEntryToOpen[], context: StoreContext): Promise<OpenedStore[]> {
  return openEach(entries, context, loadStoreAdapter);
}

/**
 * A store opened to say what it holds (describe) and nothing else: `rekey status`. One that reads a local file may
 * also answer at once (`describeNow`, the same answer as describe()), which spares a thousand `.env` credentials'
 * ages the promises and timers of a store that may hang.
 */
export type DescribingStore = Pick<SecretStore, 'describe' | 'close'> & {
  readonly describeNow?: (ref: StoreRef) => StoredMetadata | undefined;
};

/** A describing store that answers at once. */
export type DescribingNowStore = DescribingStore & { readonly describeNow: (ref: StoreRef) => StoredMetadata | undefined };

/**
 * What a describer learned of its stores, handed from one process to the next (`rekey status` keeps it beside the
 * config cache, src/cli/stores.ts): a `.env` describer's files, their states and the fingerprints read from them.
 */
export interface DescriberMemory {
  /** Take back what record() gave in an earlier process (undefined: nothing); what has the wrong shape is left out. */
  adopt(kept: unknown): void;
  /** What this process learned since adopt(), plain JSON; unless `always`, undefined when it is what was adopted. */
  record(always?: boolean): unknown;
  /** The module files whose code decides what it remembers (parsing, fingerprints): a change to one discards it. */
  readonly files: readonly string[];
}

interface Describer {
  open(options: Readonly<Record<string, unknown>>, context: StoreContext): DescribingStore;
  /** Every store it opens answers at once (`describeNow`): openDescribersNow opens nothing of a kind without it. */
  readonly atOnce?: boolean;
  readonly memory?: DescriberMemory;
}

/**
 * Kinds whose describe() is a module of its own, lighter than the adapter (a thousand `.env` credentials' ages need
 * none of the store's writers and locks); every other kind is described by its adapter.
 */
const describers: Readonly<Record<string, () => Promise<{ default: Describer }>>> = {
  dotenv: () => import('./dotenv/describe.js'),
};

const loadedDescribers = new Map<string, Describer>();

async function loadDescriber(kind: string): Promise<Describer> {
  const known = loadedDescribers.get(kind);
  if (known !== undefined) return known;
  const load = describers[kind];
  const describer = load === undefined ? await loadStoreAdapter(kind) : (await load()).default;
  loadedDescribers.set(kind, describer);
  return describer;
}

/**
 * Hand each describer that remembers what an earlier process learned (`kept`, by kind, as describedRecord() gave it);
 * a describer loaded already and given nothing starts afresh.
 */
export async function adoptDescribed(kept: unknown): Promise<void> {
  const byKind = typeof kept === 'object' && kept !== null ? (kept as Record<string, unknown>) : {};
  for (const kind of Object.keys(describers))
    if (Object.hasOwn(byKind, kind) || loadedDescribers.has(kind)) (await loadDescriber(kind)).memory?.adopt(byKind[kind]);
}

/** What the describers learned since adoptDescribed(), by kind, for the next process; undefined when none learned anything new. */
export function describedRecord(): Record<string, unknown> | undefined {
  const memories = [...loadedDescribers].flatMap(([kind, describer]) => (describer.memory === undefined ? [] : [[kind, describer.memory] as const]));
  const learned = memories.map(([, memory]) => memory.record());
  if (learned.every((record) => record === undefined)) return undefined;
  return Object.fromEntries(memories.map(([kind, memory], i) => [kind, learned[i] ?? memory.record(true)]));
}

/** describersCode() as this process first found it: the code does not change while it runs. */
let code: string | undefined;

/**
 * The code that decides what the describers remember (DescriberMemory.files), by SHA-256: what another version of it
 * learned is not adopted. Loads the describers that remember.
 */
export async function describersCode(): Promise<string> {
  if (code === undefined) {
    const hash = createHash('sha256');
    for (const kind of Object.keys(describers))
      for (const file of (await loadDescriber(kind)).memory?.files ?? []) hash.update(file).update(readFileSync(file));
    code = hash.digest('hex');
  }
  return code;
}

/** Open every store of a credential to describe it only, as openStores does (a failure closes those already open). */
export function openDescribers(entries: readonly StoreEntryToOpen[], context: StoreContext): Promise<{ store: DescribingStore; ref: StoreRef }[]> {
  return openEach(entries, context, loadDescriber);
}

/**
 * Open a credential's stores to describe them at once, when every one of them can (its kind's describer is loaded
 * already, by openDescribers, and answers at once); undefined otherwise, with no store of another kind opened.
 */
export function openDescribersNow(entries: readonly StoreEntryToOpen[], context: StoreContext): { store: DescribingNowStore; ref: StoreRef }[] | undefined {
  const found = entries.map((entry) => loadedDescribers.get(entry.ref.kind));
  if (found.some((describer) => describer?.atOnce !== true)) return undefined;
  const opened: { store: DescribingStore; ref: StoreRef }[] = [];
  try {
    for (const [i, entry] of entries.entries()) opened.push({ store: found[i]!.open(entry.options, context), ref: entry.ref });
  } catch (error) {
    closeQuietly(opened);
    throw error;
  }
  const now = opened.filter((entry): entry is { store: DescribingNowStore; ref: StoreRef } => entry.store.describeNow !== undefined);
  if (now.length === opened.length && now.every(({ store }) => store.close === undefined)) return now;
  closeQuietly(opened);
  return undefined;
}

function closeQuietly(stores: readonly { store: DescribingStore }[]): void {
  for (const { store } of stores) void store.close?.()?.catch(() => undefined);
}

async function openEach<S extends DescribingStore>(
  entries: readonly StoreEntryToOpen[],
  context: StoreContext,
  load: (kind: string) => Promise<{ open(options: Readonly<Record<string, unknown>>, context: StoreContext): S }>,
): Promise<{ store: S; ref: StoreRef }[]> {
  const settled = await Promise.allSettled(
    entries.map(async (entry) => ({ store: (await load(entry.ref.kind)).open(entry.options, context), ref: entry.ref })),
  );
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed === undefined) return settled.map((s) => (s as PromiseFulfilledResult<{ store: S; ref: StoreRef }>).value);
  await Promise.allSettled(settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value.store.close?.()] : [])));
  throw failed.reason;
}

/** One store entry of a credential and what stands in for it in a rehearsal. */
export interface RehearsalStore {
  readonly real: StoreEntryToOpen;
  readonly standIn: RehearsalStandIn;
}

/**
 * The stand-ins for a credential's stores in `rekey rehearse <credential>`: each adapter's own (`rehearsal`, a copy of
 * a `.env`), else the in-memory store seeded with `seed` in a space of its own, write-only where the real store is
 * (so the engine drives it as it would the real one). Nothing here reads or writes a real store: opening an adapter
 * does no I/O, and only its capabilities are looked at.
 */
export async function rehearsalStores(entries: readonly StoreEntryToOpen[], context: RehearsalContext, seed: Secret): Promise<RehearsalStore[]> {
  const { memorySpace } = await import('./memory.js');
  const space = `rehearsal-${randomBytes(6).toString('hex')}`;
  const stores: RehearsalStore[] = [];
  for (const [index, entry] of entries.entries()) {
    const adapter = await loadStoreAdapter(entry.ref.kind);
    if (adapter.rehearsal !== undefined) {
      stores.push({ real: entry, standIn: adapter.rehearsal(entry.options, entry.ref, context, seed) });
      continue;
    }
    let readBack = true;
    try {
      readBack = adapter.open(entry.options, context).capabilities.readBack;
    } catch {
      // An adapter that refuses its options now would refuse them in the real run too; the memory store reads back.
    }
    // One secret per entry, named by its place in the list: two entries may share a path in different services.
    const path = `store-${index + 1}`;
    const field = entry.ref.field;
    const memory = memorySpace(space);
    memory.put(path, field === undefined ? seed.reveal() : JSON.stringify({ [field]: seed.reveal() }));
    const fieldOf = (payload: string | undefined): string[] => {
      if (payload === undefined) return [];
      if (field === undefined) return [payload];
      const value = (JSON.parse(payload) as Record<string, unknown>)[field];
      return typeof value === 'string' ? [value] : [];
    };
    stores.push({
      real: entry,
      standIn: {
        kind: 'memory',
        ref: field === undefined ? path : `${path}#${field}`,
        options: { space, ...(readBack ? {} : { writeOnly: true }) },
        description: `the in-memory store (this process only)${readBack ? '' : ', write-only as the real one is'}, seeded with the rehearsal's key`,
        watched: [],
        values: () => {
          const secret = memory.secrets.get(path);
          if (secret === undefined) return [];
          const payloadOf = (id: string | undefined) => secret.versions.find((v) => v.id === id)?.payload;
          return [...fieldOf(payloadOf(secret.current)), ...fieldOf(payloadOf(secret.previous))];
        },
      },
    });
  }
  return stores;
}
