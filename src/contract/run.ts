/** Engine vocabulary shared by the executor, the journal, the UI and the report. */

/** Why a run happens; shapes prompts, pauses and the report. */
export type Mode = 'drill' | 'scheduled' | 'incident' | 'rehearsal';

/** The five phases, in order: the engine is one loop over these. */
export const phases = ['generate', 'rollout', 'verify', 'revoke', 'audit'] as const;
export type Phase = (typeof phases)[number];

/** What happened to a run. */
export type RunResult = 'done' | 'failed' | 'rolled-back';

/**
 * Where the outage window (overlap none) or the revoke-first window was counted from, so the report can say whether
 * its length is measured or an upper bound:
 * - `rejected`: the old key was seen rejected by polling the runbook's check while the person was in the dashboard;
 *   the window opens at the last poll that still saw it accepted (at most one poll interval before it died: measured);
 * - `prompt`: the prompt's opening, where the runbook has no check of the old key to poll (at most);
 * - `call`: the start of the API call that minted the new key and killed the old one (at most, by the call's length);
 * - `arrival`: the new key's arrival, the old key still answering then (at most);
 * - `before-run`: the provider already rejected the old key at the pre-run check (it died before the run: at least);
 * - `revoke`: revoke-first, from the revoke's start.
 */
export type WindowBasis = 'rejected' | 'prompt' | 'call' | 'arrival' | 'before-run' | 'revoke';

/**
 * What first proved the old key dead (the provider's documented rejection, docs/providers.md#what-counts-as-dead):
 * - `pre-run`: the check before anything was minted (the key was revoked before the run, as GitHub's secret scanning
 *   does with leaked tokens); no new key existed yet for a control;
 * - `mint`: the check right after an overlap-none mint, with the new key accepted as a control;
 * - `check`: the verify-revoked step, with the new key accepted as a control.
 */
export type DeadBasis = 'pre-run' | 'mint' | 'check';
