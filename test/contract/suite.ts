/**
 * The store contract suite: every store adapter (memory, dotenv, and the cloud stores against mocks, against
 * wire-level local servers and, when REKEY_LIVE_* is set, against the real service) passes these same tests.
 *
 * A harness gives a fresh store per test, seeded through a side door (the fake's own state, a raw file write, a
 * raw API call) so that the adapter under test is never used to set up its own assertions.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Secret } from '../../src/contract/secret.js';
import type { SecretStore, StoreRef } from '../../src/contract/store.js';
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
  close(): Promise<void>;
}

/** Canary values: if one appears in an error message, the adapter leaks. */
const CANARY_NEW = 'rk_canary_NEW_7f3a9c1e5b2d4680aa11';
const CANARY_OTHER = 'rk_canary_OTHER_0c9e8d7f6a5b4c3d2e1f';

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

    it('reads the current value with a version', async () => {
      const current = await h.store.read(h.ref);
      expect(current.value.reveal()).toBe(h.initial);
      expect(current.version).not.toBe('');
    });

    it('reports a missing secret as a typed not-found error naming the ref, never an empty value', async () => {
      const error = await errorOf(h.store.read(h.missingRef));
      expect(error.code).toBe('not-found');
      expect(error.message).toContain(h.missingRef.path);
    });

    it('stage keeps the old value current where the store can stage, and the staged value is readable for resume', async () => {
      const base = (await h.store.read(h.ref)).version;
      const version = await h.store.stage(h.ref, new Secret(CANARY_NEW), run, base);
      if (h.store.capabilities.staging) expect((await h.store.read(h.ref)).value.reveal()).toBe(h.initial);
      const staged = await h.store.readStaged(h.ref, run);
      expect(staged?.value.reveal()).toBe(CANARY_NEW);
      expect(staged?.version).toBe(version);
      expect(await h.store.readStaged(h.ref, otherRun)).toBeUndefined();
    });

    it('I5: stage is idempotent across a crash: a reopened store returns the same version and writes nothing new', async () => {
      const base = (await h.store.read(h.ref)).version;
      const first = await h.store.stage(h.ref, new Secret(CANARY_NEW), run, base);
      const again = await h.reopen().stage(h.ref, new Secret(CANARY_NEW), run, base);
      expect(again).toBe(first);
      const reopened = h.reopen();
      await reopened.promote(h.ref, first, run, base);
      // After one promote the previous value must be the initial one, not a duplicate staged copy.
      expect((await reopened.readPrevious(h.ref, run))?.value.reveal()).toBe(h.initial);
    });

    it('promote makes the new value current and keeps the old one as previous; a second promote is a no-op', async () => {
      const base = (await h.store.read(h.ref)).version;
      const version = await h.store.stage(h.ref, new Secret(CANARY_NEW), run, base);
      await h.store.promote(h.ref, version, run, base);
      await h.reopen().promote(h.ref, version, run, base);
      expect((await h.store.read(h.ref)).value.reveal()).toBe(CANARY_NEW);
      expect((await h.store.readPrevious(h.ref, run))?.value.reveal()).toBe(h.initial);
    });

    it('rollback after promote makes the old value current again, and is idempotent', async () => {
      const base = (await h.store.read(h.ref)).version;
      const version = await h.store.stage(h.ref, new Secret(CANARY_NEW), run, base);
      await h.store.promote(h.ref, version, run, base);
      await h.store.rollback(h.ref, run);
      await h.reopen().rollback(h.ref, run);
      expect((await h.store.read(h.ref)).value.reveal()).toBe(h.initial);
    });

    it('rollback of a run that only staged discards the staging and keeps the old value', async () => {
      const base = (await h.store.read(h.ref)).version;
      await h.store.stage(h.ref, new Secret(CANARY_NEW), run, base);
      await h.store.rollback(h.ref, run);
      expect((await h.store.read(h.ref)).value.reveal()).toBe(h.initial);
    });

    it('rollback of a run that changed nothing is a no-op', async () => {
      await h.store.rollback(h.ref, otherRun);
      expect((await h.store.read(h.ref)).value.reveal()).toBe(h.initial);
    });

    it('retire after promote keeps the new value current and is idempotent (already gone is success)', async () => {
      const base = (await h.store.read(h.ref)).version;
      const version = await h.store.stage(h.ref, new Secret(CANARY_NEW), run, base);
      await h.store.promote(h.ref, version, run, base);
      await h.store.retire(h.ref, run);
      await h.reopen().retire(h.ref, run);
      expect((await h.store.read(h.ref)).value.reveal()).toBe(CANARY_NEW);
    });

    it('a JSON-field ref changes only its field: every other field is kept through stage, promote and rollback', async () => {
      if (h.fieldRef === undefined || h.rawSiblings === undefined || h.siblings === undefined) {
        // Stores without JSON secrets (a .env line is one value) have no siblings to keep; the ref test above covers them.
        expect(h.store.kind).toBe('dotenv');
        return;
      }
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

    it('detects a concurrent writer: promote after someone else wrote fails with a conflict and clobbers nothing', async () => {
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
    });

    it('a rollback never clobbers a value written after the run', async () => {
      const base = (await h.store.read(h.ref)).version;
      const version = await h.store.stage(h.ref, new Secret(CANARY_NEW), run, base);
      await h.store.promote(h.ref, version, run, base);
      await h.concurrentWrite(h.ref, CANARY_OTHER);
      const error = await errorOf(h.store.rollback(h.ref, run));
      expect(error.code).toBe('conflict');
      expect((await h.store.read(h.ref)).value.reveal()).toBe(CANARY_OTHER);
    });

    it('check reads without writing and reports the current fingerprint', async () => {
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
      const base = (await h.store.read(h.ref)).version;
      await unchanged(() => h.store.canStage(h.ref, run, base));
      await h.store.canStage(h.ref, run, base);
      await h.reopen().canStage(h.ref, run, base);
      expect((await h.store.read(h.ref)).value.reveal()).toBe(h.initial);
      expect(await h.store.readStaged(h.ref, run)).toBeUndefined();
    });

    it('canStage refuses, before any mint, a value another run left staged, and writes nothing (defect 5)', async () => {
      const base = (await h.store.read(h.ref)).version;
      await h.store.stage(h.ref, new Secret(CANARY_OTHER), otherRun, base);
      await unchanged(() => h.store.canStage(h.ref, run, base));
      const error = await refusalOf(h.store.canStage(h.ref, run, base));
      expect(error.code).toBe('conflict');
      expect(['staged-by-another', 'base-moved']).toContain(error.obstacle);
      // The refusal is right: the stage it stands in for is refused too.
      expect((await errorOf(h.reopen().stage(h.ref, new Secret(CANARY_NEW), run, base))).code).toBe('conflict');
    });

    it('canStage accepts a leftover of this same run: the run resumes it (defect 5)', async () => {
      const base = (await h.store.read(h.ref)).version;
      const version = await h.store.stage(h.ref, new Secret(CANARY_NEW), run, base);
      await h.reopen().canStage(h.ref, run, base);
      await h.store.promote(h.ref, version, run, base);
      await h.reopen().canStage(h.ref, run, base);
    });

    it('canStage refuses when the version the run read is no longer current (defect 5)', async () => {
      const base = (await h.store.read(h.ref)).version;
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

    it('canStage refuses where the caller is denied, as a permission refusal (defect 5)', async () => {
      if (h.denied === undefined) {
        expect(['dotenv']).toContain(h.store.kind);
        return;
      }
      const error = await errorOf(h.denied.store.canStage(h.denied.ref, run, '1'));
      expect(error).toBeInstanceOf(CannotStageError);
      expect(error.code).toBe('permission');
      expect(error.hint).toBeTruthy();
    });

    it(
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

    it('reports a permission failure as a typed permission error with a hint, no value in it', async () => {
      if (h.denied === undefined) {
        // Only a backend that can deny access (not a local file read by root) exercises this path.
        expect(['dotenv']).toContain(h.store.kind);
        return;
      }
      const error = await errorOf(h.denied.store.read(h.denied.ref));
      expect(error.code).toBe('permission');
      expect(error.message).toContain(h.denied.ref.path);
      const check = await h.denied.store.check(h.denied.ref);
      expect(check.readable).toBe(false);
    });
  });
}
