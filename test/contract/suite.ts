/**
 * The store contract suite: every registered store adapter (in process, against mocks, against wire-level local
 * servers and, when REKEY_LIVE_* is set, against the real service) passes these same tests.
 *
 * A harness gives a fresh store per test, seeded through a side door (the fake's own state, a raw file write, a
 * raw API call) so that the adapter under test is never used to set up its own assertions.
 *
 * Each case names what it needs in its title (`[needs readBack]`, `[needs staging]`, `[needs compareAndSwap]`, or a
 * harness feature such as JSON fields) and runs when the store's declared capabilities (and the harness) allow it;
 * otherwise it is reported as skipped, with the reason. Nothing here names a store kind: a new store is tested by
 * writing a harness (see memory.test.ts) and the suite decides from what the store says it can do.
 */
import { afterEach, beforeEach, describe, expect, it, type TestContext } from 'vitest';
import { Secret } from '../../src/contract/secret.js';
import type { SecretStore, StoreCapabilities, StoreRef, VersionId } from '../../src/contract/store.js';
import { CannotStageError, StoreError } from '../../src/contract/store-errors.js';

export interface ContractHarness {
  /** The adapter under test. */
  readonly store: SecretStore;
  /** Open a second instance of the adapter on the same backend, as a resumed process would. */
  reopen(): SecretStore;
  /** A ref seeded with `initial` as its current value. For stores with fields, a field of a JSON secret. */
  readonly ref: StoreRef;
  /** When the store supports JSON fields: a ref into a secret that also holds `siblings`, untouched by rotation. */
  readonly fieldRef?: StoreRef;
  readonly siblings?: Readonly<Record<string, string>>;
  /** A ref to a secret that does not exist. */
  readonly missingRef: StoreRef;
  /** The value seeded at `ref` and `fieldRef`. */
  readonly initial: string;
  /** Write a new current value at `ref` (or `fieldRef`) as another writer would, bypassing the adapter. */
  concurrentWrite(ref: StoreRef, value: string): Promise<void>;
  /** The other fields of the secret at `fieldRef`, read bypassing the adapter. */
  rawSiblings?(): Promise<Record<string, string>>;
  /** When the backend can deny access: a store and ref whose every call meets a permission error. */
  readonly denied?: { store: SecretStore; ref: StoreRef };
  /**
   * The backend's state for the seeded secrets, read bypassing the adapter (versions, labels, metadata, files), so
   * that a test can prove a call wrote nothing. Absent for live services, where other writers may be at work.
   */
  snapshot?(): Promise<unknown>;
  /**
   * false when the store keeps no record of which run wrote a value (GitHub Actions secrets have no metadata): the
   * cases that tell this run's value from another run's are skipped. Absent means the store records its runs.
   */
  readonly recordsRuns?: boolean;
  /** For a write-only store: the value the backend holds at `ref`, opened by a side door (the wire fake decrypts it). */
  heldValue?(ref: StoreRef): Promise<string | undefined>;
  close(): Promise<void>;
}

/** Canary values: if one appears in an error message, the adapter leaks. */
const CANARY_NEW = 'rk_canary_NEW_7f3a9c1e5b2d4680aa11';
const CANARY_OTHER = 'rk_canary_OTHER_0c9e8d7f6a5b4c3d2e1f';

/** What a case needs beyond the contract every store meets: a capability, or a feature of the harness. */
type Need = keyof StoreCapabilities | 'not readBack' | 'fields' | 'denial' | 'run records' | 'held value';

const needWords: Record<Need, string> = {
  readBack: 'readBack',
  staging: 'staging',
  versions: 'versions',
  compareAndSwap: 'compareAndSwap',
  'not readBack': 'a write-only store',
  fields: 'JSON fields',
  denial: 'a backend that can deny',
  'run records': 'a record of the run that wrote a value',
  'held value': 'a side door to the value a write-only backend holds',
};

/** Register the contract tests for one adapter. `make` builds a fresh harness for every test. */
export function storeContract(name: string, make: () => Promise<ContractHarness>): void {
  describe(`store contract: ${name}`, () => {
    let h: ContractHarness;
    beforeEach(async () => {
      h = await make();
    });
    afterEach(async () => {
      await h.close();
    });

    const allows = (need: Need): boolean => {
      if (need === 'not readBack') return !h.store.capabilities.readBack;
      if (need === 'fields') return h.fieldRef !== undefined && h.rawSiblings !== undefined && h.siblings !== undefined;
      if (need === 'denial') return h.denied !== undefined;
      if (need === 'run records') return h.recordsRuns !== false;
      if (need === 'held value') return h.heldValue !== undefined;
      return h.store.capabilities[need];
    };
    /**
     * A case that runs only where the store (or its harness) has what it needs; elsewhere it is skipped, visibly,
     * with the need in its title and in the skip note. The capabilities are the store's own declaration, read at run
     * time from the harness's store, so a harness never repeats them.
     */
    const needs = (wanted: readonly Need[], title: string, body: () => Promise<void>) =>
      it(`[needs ${wanted.map((n) => needWords[n]).join(', ')}] ${title}`, async (ctx: TestContext) => {
        const missing = wanted.filter((n) => !allows(n));
        if (missing.length > 0) ctx.skip(`${name} lacks ${missing.map((n) => needWords[n]).join(', ')}`);
        await body();
      });
    /** The version to stage against: read where the store can be read back, else its metadata (describe). */
    const baseOf = async (ref: StoreRef): Promise<VersionId> => {
      if (h.store.capabilities.readBack) return (await h.store.read(ref)).version;
      const described = await h.store.describe?.(ref);
      expect(described, 'a write-only store describes its current value').toBeDefined();
      return described!.version;
    };

    const run = '20261124T024512Z-aaaaaa';
    const otherRun = '20261124T030000Z-bbbbbb';
    const errorOf = async (promise: Promise<unknown>): Promise<StoreError> => {
      const error = await promise.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error, 'expected the call to fail').toBeInstanceOf(StoreError);
      const storeError = error as StoreError;
      expect(storeError.message).not.toContain(CANARY_NEW);
      expect(storeError.message).not.toContain(CANARY_OTHER);
      expect(storeError.message).not.toContain(h.initial);
      return storeError;
    };

    needs(['readBack'], 'reads the current value with a version', async () => {
      const current = await h.store.read(h.ref);
      expect(current.value.reveal()).toBe(h.initial);
      expect(current.version).not.toBe('');
    });

    needs(['readBack'], 'reports a missing secret as a typed not-found error naming the ref, never an empty value', async () => {
      const error = await errorOf(h.store.read(h.missingRef));
      expect(error.code).toBe('not-found');
      expect(error.message).toContain(h.missingRef.path);
    });

    needs(['readBack', 'staging'], 'stage keeps the old value current', async () => {
      const base = (await h.store.read(h.ref)).version;
      await h.store.stage(h.ref, new Secret(CANARY_NEW), run, base);
      expect((await h.store.read(h.ref)).value.reveal()).toBe(h.initial);
    });

    needs(['readBack'], 'the staged value is readable for resume, and only for the run that staged it', async () => {
      const base = (await h.store.read(h.ref)).version;
      const version = await h.store.stage(h.ref, new Secret(CANARY_NEW), run, base);
      const staged = await h.store.readStaged(h.ref, run);
      expect(staged?.value.reveal()).toBe(CANARY_NEW);
      expect(staged?.version).toBe(version);
      expect(await h.store.readStaged(h.ref, otherRun)).toBeUndefined();
    });

    needs(['readBack'], 'I5: stage is idempotent across a crash: a reopened store returns the same version and writes nothing new', async () => {
      const base = (await h.store.read(h.ref)).version;
      const first = await h.store.stage(h.ref, new Secret(CANARY_NEW), run, base);
      const again = await h.reopen().stage(h.ref, new Secret(CANARY_NEW), run, base);
      expect(again).toBe(first);
      const reopened = h.reopen();
      await reopened.promote(h.ref, first, run, base);
      // After one promote the previous value must be the initial one, not a duplicate staged copy.
      expect((await reopened.readPrevious(h.ref, run))?.value.reveal()).toBe(h.initial);
    });

    needs(['readBack'], 'promote makes the new value current and keeps the old one as previous; a second promote is a no-op', async () => {
      const base = (await h.store.read(h.ref)).version;
      const version = await h.store.stage(h.ref, new Secret(CANARY_NEW), run, base);
      await h.store.promote(h.ref, version, run, base);
      await h.reopen().promote(h.ref, version, run, base);
      expect((await h.store.read(h.ref)).value.reveal()).toBe(CANARY_NEW);
      expect((await h.store.readPrevious(h.ref, run))?.value.reveal()).toBe(h.initial);
    });

    needs(['readBack'], 'rollback after promote makes the old value current again, and is idempotent', async () => {
      const base = (await h.store.read(h.ref)).version;
      const version = await h.store.stage(h.ref, new Secret(CANARY_NEW), run, base);
      await h.store.promote(h.ref, version, run, base);
      await h.store.rollback(h.ref, run);
      await h.reopen().rollback(h.ref, run);
      expect((await h.store.read(h.ref)).value.reveal()).toBe(h.initial);
    });

    needs(['readBack'], 'rollback of a run that only staged discards the staging and keeps the old value', async () => {
      const base = (await h.store.read(h.ref)).version;
      await h.store.stage(h.ref, new Secret(CANARY_NEW), run, base);
      await h.store.rollback(h.ref, run);
      expect((await h.store.read(h.ref)).value.reveal()).toBe(h.initial);
    });

    needs(['readBack'], 'rollback of a run that changed nothing is a no-op', async () => {
      await h.store.rollback(h.ref, otherRun);
      expect((await h.store.read(h.ref)).value.reveal()).toBe(h.initial);
    });

    needs(['readBack'], 'retire after promote keeps the new value current and is idempotent (already gone is success)', async () => {
      const base = (await h.store.read(h.ref)).version;
      const version = await h.store.stage(h.ref, new Secret(CANARY_NEW), run, base);
      await h.store.promote(h.ref, version, run, base);
      await h.store.retire(h.ref, run);
      await h.reopen().retire(h.ref, run);
      expect((await h.store.read(h.ref)).value.reveal()).toBe(CANARY_NEW);
    });

    needs(['readBack', 'fields'], 'a JSON-field ref changes only its field: every other field is kept through stage, promote and rollback', async () => {
      if (h.fieldRef === undefined || h.rawSiblings === undefined || h.siblings === undefined) throw new Error('unreachable: needs fields');
      const base = (await h.store.read(h.fieldRef)).version;
      expect((await h.store.read(h.fieldRef)).value.reveal()).toBe(h.initial);
      const version = await h.store.stage(h.fieldRef, new Secret(CANARY_NEW), run, base);
      await h.store.promote(h.fieldRef, version, run, base);
      expect((await h.store.read(h.fieldRef)).value.reveal()).toBe(CANARY_NEW);
      expect(await h.rawSiblings()).toEqual(h.siblings);
      await h.store.rollback(h.fieldRef, run);
      expect((await h.store.read(h.fieldRef)).value.reveal()).toBe(h.initial);
      expect(await h.rawSiblings()).toEqual(h.siblings);
    });

    needs(
      ['readBack', 'compareAndSwap'],
      'detects a concurrent writer: promote after someone else wrote fails with a conflict and clobbers nothing',
      async () => {
        const base = (await h.store.read(h.ref)).version;
        let version: string | undefined;
        let failure: StoreError | undefined;
        try {
          version = await h.store.stage(h.ref, new Secret(CANARY_NEW), run, base);
          await h.concurrentWrite(h.ref, CANARY_OTHER);
          await h.store.promote(h.ref, version, run, base);
        } catch (error) {
          failure = error as StoreError;
        }
        // Stores that write at stage (Vault) may detect the writer there or at promote; either way it is a conflict.
        if (failure === undefined) failure = await errorOf(Promise.reject(new Error('promote succeeded over a concurrent write')));
        expect(failure).toBeInstanceOf(StoreError);
        expect(failure.code).toBe('conflict');
        expect(failure.message).not.toContain(CANARY_NEW);
        expect(failure.message).not.toContain(CANARY_OTHER);
        expect((await h.store.read(h.ref)).value.reveal()).toBe(CANARY_OTHER);
      },
    );

    needs(['readBack', 'compareAndSwap'], 'a rollback never clobbers a value written after the run', async () => {
      const base = (await h.store.read(h.ref)).version;
      const version = await h.store.stage(h.ref, new Secret(CANARY_NEW), run, base);
      await h.store.promote(h.ref, version, run, base);
      await h.concurrentWrite(h.ref, CANARY_OTHER);
      const error = await errorOf(h.store.rollback(h.ref, run));
      expect(error.code).toBe('conflict');
      expect((await h.store.read(h.ref)).value.reveal()).toBe(CANARY_OTHER);
    });

    needs(['readBack'], 'check reads without writing and reports the current fingerprint', async () => {
      const check = await h.store.check(h.ref);
      expect(check.readable).toBe(true);
      expect(check.fingerprint).toBe(new Secret(h.initial).fingerprint);
      expect((await h.store.read(h.ref)).value.reveal()).toBe(h.initial);
      const missing = await h.store.check(h.missingRef);
      expect(missing.readable).toBe(false);
      expect(missing.notes.join(' ')).toContain(h.missingRef.path);
    });

    /** The refusal canStage gives, checked for what every refusal must carry: the ref, a hint, no value. */
    const refusalOf = async (promise: Promise<unknown>): Promise<CannotStageError> => {
      const error = await errorOf(promise);
      expect(error, `expected a CannotStageError, got ${error.name}: ${error.message}`).toBeInstanceOf(CannotStageError);
      expect(error.message).toContain(h.ref.display);
      expect(error.hint, 'a refusal says how to clear the obstacle').toBeTruthy();
      return error as CannotStageError;
    };
    const unchanged = async (action: () => Promise<unknown>): Promise<void> => {
      const before = await h.snapshot?.();
      await action().catch(() => undefined);
      expect(await h.snapshot?.(), 'canStage must not write').toEqual(before);
    };

    it('canStage accepts a clean secret and writes nothing (defect 5)', async () => {
      const base = await baseOf(h.ref);
      await unchanged(() => h.store.canStage(h.ref, run, base));
      await h.store.canStage(h.ref, run, base);
      await h.reopen().canStage(h.ref, run, base);
      expect(await baseOf(h.ref)).toBe(base);
    });

    needs(['run records'], 'canStage refuses, before any mint, a value another run left staged, and writes nothing (defect 5)', async () => {
      const base = await baseOf(h.ref);
      await h.store.stage(h.ref, new Secret(CANARY_OTHER), otherRun, base);
      await unchanged(() => h.store.canStage(h.ref, run, base));
      const error = await refusalOf(h.store.canStage(h.ref, run, base));
      expect(error.code).toBe('conflict');
      expect(['staged-by-another', 'base-moved']).toContain(error.obstacle);
      // The refusal is right: the stage it stands in for is refused too.
      expect((await errorOf(h.reopen().stage(h.ref, new Secret(CANARY_NEW), run, base))).code).toBe('conflict');
    });

    it('canStage accepts a leftover of this same run: the run resumes it (defect 5)', async () => {
      const base = await baseOf(h.ref);
      const version = await h.store.stage(h.ref, new Secret(CANARY_NEW), run, base);
      await h.reopen().canStage(h.ref, run, base);
      await h.store.promote(h.ref, version, run, base);
      await h.reopen().canStage(h.ref, run, base);
    });

    needs(['compareAndSwap'], 'canStage refuses when the version the run read is no longer current (defect 5)', async () => {
      const base = await baseOf(h.ref);
      await h.concurrentWrite(h.ref, CANARY_OTHER);
      await unchanged(() => h.store.canStage(h.ref, run, base));
      const error = await refusalOf(h.store.canStage(h.ref, run, base));
      expect(error.code).toBe('conflict');
      expect(error.obstacle).toBe('base-moved');
    });

    it('canStage refuses a missing secret as not found, naming the ref (defect 5)', async () => {
      const error = await errorOf(h.store.canStage(h.missingRef, run, '1'));
      expect(error).toBeInstanceOf(CannotStageError);
      expect(error.code).toBe('not-found');
      expect((error as CannotStageError).obstacle).toBe('missing');
      expect(error.message).toContain(h.missingRef.path);
      expect(error.hint).toBeTruthy();
    });

    needs(['denial'], 'canStage refuses where the caller is denied, as a permission refusal (defect 5)', async () => {
      const error = await errorOf(h.denied!.store.canStage(h.denied!.ref, run, '1'));
      expect(error).toBeInstanceOf(CannotStageError);
      expect(error.code).toBe('permission');
      expect(error.hint).toBeTruthy();
    });

    needs(
      ['readBack'],
      'a stage that lands after the rollback is cleaned by a second rollback: nothing staged, current unchanged, the next run can stage ' + '(defect 4)',
      async () => {
        const base = (await h.store.read(h.ref)).version;
        await h.store.stage(h.ref, new Secret(CANARY_NEW), run, base);
        await h.store.rollback(h.ref, run);
        // The run's write lands again after its rollback (a call that was still in flight, or retried by the SDK).
        await h
          .reopen()
          .stage(h.ref, new Secret(CANARY_NEW), run, base)
          .catch(() => undefined);
        await h.reopen().rollback(h.ref, run);
        await h.reopen().rollback(h.ref, run);
        const now = await h.store.read(h.ref);
        expect(now.value.reveal()).toBe(h.initial);
        // No trace of the run's value as staged: a new run is not refused at its pre-flight nor at its stage.
        await h.reopen().canStage(h.ref, otherRun, now.version);
        await h.reopen().stage(h.ref, new Secret(CANARY_OTHER), otherRun, now.version);
        expect((await h.store.read(h.ref)).value.reveal()).toBe(h.store.capabilities.staging ? h.initial : CANARY_OTHER);
      },
    );

    needs(['readBack', 'denial'], 'reports a permission failure as a typed permission error with a hint, no value in it', async () => {
      const denied = h.denied!;
      const error = await errorOf(denied.store.read(denied.ref));
      expect(error.code).toBe('permission');
      expect(error.message).toContain(denied.ref.path);
      const check = await denied.store.check(denied.ref);
      expect(check.readable).toBe(false);
    });

    // A write-only store (GitHub Actions secrets): the engine never reads it, and learns what it needs from describe.

    needs(['not readBack'], 'read, readStaged and readPrevious refuse with a typed not-supported error, no value in it', async () => {
      for (const call of [() => h.store.read(h.ref), () => h.store.readStaged(h.ref, run), () => h.store.readPrevious(h.ref, run)]) {
        expect((await errorOf(call())).code).toBe('not-supported');
      }
    });

    needs(['not readBack'], 'describe gives the current version without the value, and undefined for a missing secret', async () => {
      expect(h.store.describe, 'a write-only store must offer describe').toBeTypeOf('function');
      const described = await h.store.describe!(h.ref);
      expect(described?.version).toBeTruthy();
      expect(JSON.stringify(described)).not.toContain(h.initial);
      expect(await h.store.describe!(h.missingRef)).toBeUndefined();
    });

    needs(
      ['not readBack', 'run records'],
      'I5: stage then promote, each twice across a reopen: describe names this run as the writer of the current value',
      async () => {
        const base = await baseOf(h.ref);
        const first = await h.store.stage(h.ref, new Secret(CANARY_NEW), run, base);
        expect(await h.reopen().stage(h.ref, new Secret(CANARY_NEW), run, base)).toBe(first);
        await h.store.promote(h.ref, first, run, base);
        await h.reopen().promote(h.ref, first, run, base);
        const described = await h.store.describe!(h.ref);
        expect(described?.version).toBe(first);
        expect(described?.run).toBe(run);
      },
    );

    needs(
      ['not readBack', 'held value'],
      'I5: the value lands in the backend (at stage without staging, else at promote) and stays through a second stage and promote',
      async () => {
        const base = await baseOf(h.ref);
        const version = await h.store.stage(h.ref, new Secret(CANARY_NEW), run, base);
        expect(await h.heldValue!(h.ref)).toBe(h.store.capabilities.staging ? h.initial : CANARY_NEW);
        const again = await h.reopen().stage(h.ref, new Secret(CANARY_NEW), run, base);
        await h.store.promote(h.ref, version, run, base);
        await h.reopen().promote(h.ref, again, run, base);
        await h.reopen().retire(h.ref, run);
        expect(await h.heldValue!(h.ref)).toBe(CANARY_NEW);
        expect(JSON.stringify(await h.store.describe!(h.ref))).not.toContain(CANARY_NEW);
      },
    );

    needs(['not readBack', 'compareAndSwap'], 'promote after a concurrent write fails with a conflict and leaves the other writer current', async () => {
      const base = await baseOf(h.ref);
      const version = await h.store.stage(h.ref, new Secret(CANARY_NEW), run, base);
      await h.concurrentWrite(h.ref, CANARY_OTHER);
      const after = await baseOf(h.ref);
      expect((await errorOf(h.store.promote(h.ref, version, run, base))).code).toBe('conflict');
      expect(await baseOf(h.ref)).toBe(after);
    });

    needs(['not readBack'], 'check reports the store as not readable without failing, and a missing secret with its path', async () => {
      const check = await h.store.check(h.ref);
      expect(check.readable).toBe(false);
      expect(check.writable).not.toBe(false);
      expect(check.fingerprint).toBeUndefined();
      const missing = await h.store.check(h.missingRef);
      expect(missing.notes.join(' ')).toContain(h.missingRef.path);
    });
  });
}
