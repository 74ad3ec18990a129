/** Engine vocabulary shared by the executor, the journal, the UI and the report. */

/** Why a run happens; shapes prompts, pauses and the report. */
export type Mode = 'drill' | 'scheduled' | 'incident' | 'rehearsal';

/** The five phases, in order: the engine is one loop over these. */
export const phases = ['generate', 'rollout', 'verify', 'revoke', 'audit'] as const;
export type Phase = (typeof phases)[number];

/** What happened to a run. */
export type RunResult = 'done' | 'failed' | 'rolled-back';
