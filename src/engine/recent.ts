/**
 * Never rotate one secret twice inside a short window. AWS Secrets Manager advises against calling PutSecretValue on
 * a secret "at a sustained rate of more than once every 10 minutes": every call makes a version, and it removes
 * outdated versions only past 100 and never those under 24 hours old, so faster writes pile up versions until the
 * secret reaches its version quota (https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_PutSecretValue.html).
 * GCP has a like limit per secret (AddSecretVersion and UpdateSecret: 2 a second and 120 a minute per global secret,
 * https://cloud.google.com/secret-manager/quotas). And a second rotation right after a first revokes a key its
 * consumers may still hold from a cache, minutes after they picked it up.
 *
 * So a new rotation of a credential whose last rotation finished `done` less than ten minutes ago is refused
 * (RecentRotationError, exit 3), unless the person passes `--allow-recent`; `rotate --due` skips it. A run that failed
 * or was rolled back does not count: it is what the person is retrying, and blocking the fix for ten minutes would
 * help nobody; each such attempt adds at most one version (its staged one), far fewer than the advice guards against.
 * Incident runs are never held back: a leaked key is rotated now.
 */
import { RefusedError } from '../contract/errors.js';
import { lastRuns } from './history.js';

/** The window: AWS's "once every 10 minutes". */
export const SHORT_WINDOW_MS = 10 * 60_000;

/** The credential's last rotation that finished `done`: its run and when it finished. */
export interface LastFinished {
  readonly run: string;
  readonly at: Date;
}

/**
 * The credential's last rotation that finished `done`, or undefined when none did, from the history index
 * (src/engine/history-index.ts), which reads a journal only when the index is missing or stale.
 */
export async function lastDoneRun(stateDir: string, credential: string): Promise<LastFinished | undefined> {
  const done = (await lastRuns(stateDir, credential)).lastDone;
  const at = done?.finishedAt === undefined ? Number.NaN : Date.parse(done.finishedAt);
  return done === undefined || Number.isNaN(at) ? undefined : { run: done.run, at: new Date(at) };
}

/** A rotation refused because the credential's last one finished inside the short window. */
export class RecentRotationError extends RefusedError {
  constructor(
    readonly credential: string,
    readonly finishedAt: Date,
    readonly run: string,
    now: number,
  ) {
    const ago = Math.max(0, Math.round((now - finishedAt.getTime()) / 60_000));
    const again = new Date(finishedAt.getTime() + SHORT_WINDOW_MS);
    super(
      `${credential} was rotated ${ago === 0 ? 'less than a minute' : `${ago} minute${ago === 1 ? '' : 's'}`} ago (finished ` +
        `${finishedAt.toISOString()}, run ${run}): rekey does not rotate one secret twice within 10 minutes`,
      `wait until ${again.toISOString()}, or pass --allow-recent if you must (each rotation adds a version to the stores, AWS advises ` +
        'at most one PutSecretValue per secret every 10 minutes, and consumers that cached the current key minutes ago lose it)',
    );
    this.name = 'RecentRotationError';
  }
}

/** Throw RecentRotationError when the credential's last rotation finished `done` less than SHORT_WINDOW_MS ago. */
export async function refuseInsideShortWindow(stateDir: string, credential: string, now = Date.now()): Promise<void> {
  const last = await lastDoneRun(stateDir, credential);
  // A clock set back (a finish in the future) counts as inside the window: the run may have just finished.
  if (last === undefined || now - last.at.getTime() >= SHORT_WINDOW_MS) return;
  throw new RecentRotationError(credential, last.at, last.run, now);
}
