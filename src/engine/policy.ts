/**
 * The failure policy: what to do when a step fails, from the run's facts alone. Pure, so every case is a unit test.
 *
 *   nothing minted yet          -> stop (nothing to undo; a new run is as good as a resume, unless a mint may be out)
 *   revoke-first, revoke begun  -> fix forward (the old key may be dead: no going back to it)
 *   overlap none, after mint    -> fix forward (minting killed the old key)
 *   before revoke, otherwise    -> roll back (the old key still works, so going back to it is always safe: I2)
 *   after revoke began          -> fix forward (the new key is live everywhere)
 */
import type { Phase } from '../contract/run.js';

export type FailureAction =
  /** Nothing was minted and nothing needs undoing. `resumable` when a mint may be out at the provider. */
  | { readonly action: 'stop'; readonly resumable: boolean }
  | { readonly action: 'rollback' }
  | { readonly action: 'fix-forward'; readonly why: 'overlap-none' | 'revoke-first-early' | 'revoke-first' | 'revoked' };

export interface FailureFacts {
  readonly overlap: string;
  readonly revokeFirst: boolean;
  /** The phase of the segment that was running, and whether it was revoke-first's early revoke. */
  readonly phase: Phase;
  readonly early: boolean;
  /** A new key exists or may exist at the provider (a minting call was made, or its outcome is known). */
  readonly minted: boolean;
  /** The failed step was the mint itself. */
  readonly failedMint: boolean;
}

/** Decide what a failed step leads to. */
export function onFailure(facts: FailureFacts): FailureAction {
  const beforeRevoke = facts.phase === 'generate' || facts.phase === 'rollout' || facts.phase === 'verify';
  if (!facts.minted && facts.phase === 'generate') return { action: 'stop', resumable: facts.failedMint };
  if (facts.revokeFirst && facts.early) return { action: 'fix-forward', why: 'revoke-first-early' };
  if (facts.revokeFirst && (facts.phase === 'rollout' || facts.phase === 'verify')) return { action: 'fix-forward', why: 'revoke-first' };
  if (beforeRevoke && facts.overlap === 'none') return { action: 'fix-forward', why: 'overlap-none' };
  if (beforeRevoke) return { action: 'rollback' };
  return { action: 'fix-forward', why: 'revoked' };
}
