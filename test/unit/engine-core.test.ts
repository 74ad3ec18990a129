/**
 * The engine's pure parts, in process: the planner (the order of a run is data), the reducer (a journal -> what the
 * run has done) and the failure policy. Journal checking is tested in journal-integrity.test.ts. Expected orders are
 * written out by hand from the five phases of docs/design.md, not derived from the planner.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { planRollback, planRun, stepsOf } from '../../src/engine/plan.js';
import { needsOld, stepsNeedingOld } from '../../src/engine/needs-old.js';
import type { Step } from '../../src/contract/runbook.js';
import { onFailure } from '../../src/engine/policy.js';
import { reduceJournal } from '../../src/engine/reduce.js';
import { mintRepeat } from '../../src/engine/handlers.js';
import type { JournalRecord } from '../../src/engine/journal.js';
import { loadRunbook } from '../../src/runbook/load.js';
import { resolve } from 'node:path';

const runbook = (name: string) => loadRunbook(resolve('runbooks', `${name}.yaml`));

describe('planner', () => {
  it('plans the five phases in order, one promote and retire per store, grouped to run side by side', async () => {
    const plan = planRun({ runbook: await runbook('sandbox'), stores: ['a', 'b'], hooks: ['restart'], mode: 'scheduled', revokeFirst: false });
    expect(plan.segments.map((s) => s.phase)).toEqual(['generate', 'rollout', 'verify', 'revoke', 'audit']);
    expect(stepsOf(plan).map((s) => s.id)).toEqual([
      'preflight',
      'mint',
      'promote:0',
      'promote:1',
      'hook:0',
      'readback',
      'verify:whoami',
      'revoke:revoke-old',
      'verify-revoked:old-rejected',
      'retire:0',
      'retire:1',
      'audit:activity',
    ]);
    expect(
      stepsOf(plan)
        .filter((s) => s.group === 'promote')
        .map((s) => s.store),
    ).toEqual([0, 1]);
    expect(plan.provesDead).toBe('verify-revoked:old-rejected');
    expect(plan.window).toBeUndefined();
  });

  it('never plans a revoke before verify, except --revoke-first in an incident (I2)', async () => {
    const rb = await runbook('sandbox');
    const order = (revokeFirst: boolean, mode: 'incident' | 'scheduled') =>
      stepsOf(planRun({ runbook: rb, stores: ['a'], hooks: [], mode, revokeFirst })).map((s) => s.kind);
    const normal = order(false, 'incident');
    expect(normal.indexOf('revoke')).toBeGreaterThan(normal.lastIndexOf('verify'));
    const first = planRun({ runbook: rb, stores: ['a'], hooks: [], mode: 'incident', revokeFirst: true });
    expect(first.segments.map((s) => [s.phase, s.early, s.continued])).toEqual([
      ['generate', false, false],
      ['revoke', true, false],
      ['rollout', false, false],
      ['verify', false, false],
      ['revoke', false, true],
      ['audit', false, false],
    ]);
    expect(first.window).toBe('early-revoke');
    // The leak search runs after the old key is proven dead and before retire, while the stores still hold the old value.
    const kinds = stepsOf(first).map((s) => s.kind);
    expect(kinds.indexOf('leak-search')).toBeGreaterThan(kinds.indexOf('verify-revoked'));
    expect(kinds.indexOf('leak-search')).toBeLessThan(kinds.indexOf('retire'));
  });

  it('overlap none opens its window at the mint; --revoke-first is moot there', async () => {
    const plan = planRun({ runbook: await runbook('sandbox-none'), stores: ['a'], hooks: [], mode: 'incident', revokeFirst: true });
    expect(plan.window).toBe('mint');
    expect(plan.segments.map((s) => s.phase)).toEqual(['generate', 'rollout', 'verify', 'revoke', 'audit']);
  });

  it('a write-only store gets no read back: the read-back step names the stores it reads and what the others rely on', async () => {
    const rb = await runbook('sandbox');
    const mixed = planRun({ runbook: rb, stores: ['env', 'gh'], readBack: [true, false], hooks: [], mode: 'scheduled', revokeFirst: false });
    const readback = stepsOf(mixed).find((s) => s.kind === 'readback');
    expect(readback?.name).toBe("read env back (gh cannot be read back: relies on the provider's check)");
    expect(mixed.notReadBack).toEqual(['gh']);
    // Staging and promoting stay per store: the write-only store is written like any other.
    expect(
      stepsOf(mixed)
        .filter((s) => s.kind === 'promote')
        .map((s) => s.store),
    ).toEqual([0, 1]);
    const every = planRun({ runbook: rb, stores: ['env', 'vault'], readBack: [true, true], hooks: [], mode: 'scheduled', revokeFirst: false });
    expect(stepsOf(every).find((s) => s.kind === 'readback')?.name).toBe('read every store back');
    expect(every.notReadBack).toEqual([]);
  });

  it('with only write-only stores there is no read-back step, and the provider checks still run', async () => {
    const plan = planRun({ runbook: await runbook('sandbox'), stores: ['gh'], readBack: [false], hooks: [], mode: 'scheduled', revokeFirst: false });
    const kinds = stepsOf(plan).map((s) => s.kind);
    expect(kinds).not.toContain('readback');
    expect(stepsOf(plan).map((s) => s.id)).toContain('verify:whoami');
    expect(plan.notReadBack).toEqual(['gh']);
  });

  it('finds the steps that need {{ old }} in any of their strings, and only those', async () => {
    expect(stepsNeedingOld(await runbook('sandbox'))).toEqual(['revoke the old key', 'provider rejects the old key']);
    const step = (fields: Record<string, unknown>) => ({ id: 'x', name: 'x', ...fields }) as unknown as Step;
    expect(needsOld(step({ kind: 'http', url: 'https://api.example/keys', headers: { Authorization: 'Bearer {{old}}' } }))).toBe(true);
    expect(needsOld(step({ kind: 'exec', command: ['revoke', '--key', '{{ old }}'] }))).toBe(true);
    expect(needsOld(step({ kind: 'http', url: 'https://api.example/keys', headers: { Authorization: 'Bearer {{ new }}' } }))).toBe(false);
    expect(needsOld(step({ kind: 'prompt', message: 'Revoke the old key in the dashboard ({{ inputs.old }})' }))).toBe(false);
  });

  it('a rollback discards the new key before any store gives it up (defect 6), then restores, then restarts consumers', async () => {
    const steps = planRollback({ runbook: await runbook('sandbox'), stores: ['a', 'b'], hooks: ['restart'], hooksRan: true, minted: true });
    expect(steps.map((s) => s.kind)).toEqual(['discard', 'restore', 'restore', 'rollback-hook']);
    expect(steps.filter((s) => s.kind === 'restore').map((s) => s.store)).toEqual([1, 0]);
    const nothingMinted = planRollback({ runbook: await runbook('sandbox'), stores: ['a'], hooks: ['restart'], hooksRan: false, minted: false });
    expect(nothingMinted.map((s) => s.kind)).toEqual(['restore']);
  });
});

describe('mint repeatability', () => {
  it('an http mint with an Idempotency-Key from the run id is safe to send again; one without is not', async () => {
    const rb = await runbook('sandbox');
    expect(mintRepeat(rb.generate)).toBe('idempotent');
    const bare = rb.generate.map((s) => (s.kind === 'http' ? { ...s, headers: {} } : s));
    expect(mintRepeat(bare)).toBe('unsafe');
    const fixed = rb.generate.map((s) => (s.kind === 'http' ? { ...s, headers: { 'Idempotency-Key': 'always-the-same' } } : s));
    expect(mintRepeat(fixed)).toBe('unsafe');
    expect(mintRepeat((await runbook('streampixel')).generate)).toBe('person');
    expect(mintRepeat((await runbook('aws-iam-access-key')).generate)).toBe('adapter');
  });
});

/** A journal written by hand: chained records, hashed the documented way (SHA-256 of the JSON without `hash`). */
function chain(events: ReadonlyArray<Record<string, unknown>>): JournalRecord[] {
  let prev = '0'.repeat(64);
  return events.map((fields, i) => {
    const body = { seq: i + 1, at: new Date(Date.UTC(2026, 11, 2, 7, 0, i)).toISOString(), ...fields, prev };
    const hash = createHash('sha256').update(JSON.stringify(body)).digest('hex');
    prev = hash;
    return { ...body, hash } as unknown as JournalRecord;
  });
}

const started = { type: 'run.started', credential: 'c', runbook: 'sandbox', overlap: 'none', mode: 'scheduled', pid: 1, host: 'h' };

describe('reducer', () => {
  it('reads what is done, the fingerprints and versions, and a mint whose outcome is unknown', () => {
    const state = reduceJournal(
      'r',
      chain([
        started,
        { type: 'step.started', phase: 'generate', step: 'preflight', kind: 'preflight' },
        { type: 'step.done', phase: 'generate', step: 'preflight', kind: 'preflight', ms: 1, data: { old: 'f-old', base: ['v1'] } },
        { type: 'step.started', phase: 'generate', step: 'mint', kind: 'mint' },
        { type: 'mint.intent', step: 'mint', repeat: 'unsafe' },
      ]),
    );
    expect(state.oldFp).toBe('f-old');
    expect(state.base).toEqual(['v1']);
    expect(state.done.has('preflight')).toBe(true);
    expect(state.done.has('mint')).toBe(false);
    expect(state.mint).toEqual({ intentAt: '2026-12-02T07:00:04.000Z', repeat: 'unsafe', mintedFp: undefined });
    expect(state.newFp).toBeUndefined();
    // Overlap none: the window opened at the mint's start and is still open.
    expect(state.windowOpenedAt).toBe('2026-12-02T07:00:03.000Z');
    expect(state.windowClosedMs).toBeUndefined();
  });

  it('knows the minted fingerprint before the mint step is done (it was journaled before staging)', () => {
    const state = reduceJournal(
      'r',
      chain([
        started,
        { type: 'step.started', phase: 'generate', step: 'mint', kind: 'mint' },
        { type: 'mint.intent', step: 'mint', repeat: 'idempotent' },
        { type: 'mint.minted', fingerprint: 'f-new' },
      ]),
    );
    expect(state.newFp).toBe('f-new');
    expect(state.mint.mintedFp).toBe('f-new');
  });

  it('reads journals of earlier versions, whose step records carry no kind', () => {
    const state = reduceJournal(
      'r',
      chain([
        { ...started, overlap: 'until-revoked' },
        { type: 'step.started', phase: 'revoke', step: 'revoke:revoke-old' },
        { type: 'step.started', phase: 'rollout', step: 'hook:0' },
      ]),
    );
    expect(state.revoking).toBe(true);
    expect(state.hooksRan).toBe(true);
  });
});

describe('failure policy', () => {
  const base = { overlap: 'until-revoked', revokeFirst: false, early: false, minted: true, failedMint: false } as const;
  it('rolls back any failure before revoke when the old key still works (I2)', () => {
    for (const phase of ['generate', 'rollout', 'verify'] as const) expect(onFailure({ ...base, phase })).toEqual({ action: 'rollback' });
  });
  it('never rolls back once the old key may be dead', () => {
    expect(onFailure({ ...base, phase: 'revoke' }).action).toBe('fix-forward');
    expect(onFailure({ ...base, overlap: 'none', phase: 'rollout' })).toEqual({ action: 'fix-forward', why: 'overlap-none' });
    expect(onFailure({ ...base, revokeFirst: true, early: true, phase: 'revoke' })).toEqual({ action: 'fix-forward', why: 'revoke-first-early' });
    expect(onFailure({ ...base, revokeFirst: true, phase: 'verify' })).toEqual({ action: 'fix-forward', why: 'revoke-first' });
  });
  it('stops with nothing to undo when nothing was minted; resumable only if the mint itself failed', () => {
    expect(onFailure({ ...base, minted: false, phase: 'generate' })).toEqual({ action: 'stop', resumable: false });
    expect(onFailure({ ...base, minted: false, failedMint: true, phase: 'generate' })).toEqual({ action: 'stop', resumable: true });
  });
});
