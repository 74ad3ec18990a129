/**
 * AWS's staging labels, the way a rotation Lambda uses them: which version holds AWSCURRENT, AWSPENDING and
 * AWSPREVIOUS, what stops a stage, and the ClientRequestToken that names a run's version.
 */
import { createHash } from 'node:crypto';
import type { RunId, StoreRef, VersionId } from '../../../src/contract/store.js';

import { KIND } from './client.js';

export const AWSCURRENT = 'AWSCURRENT';
export const AWSPREVIOUS = 'AWSPREVIOUS';
export const AWSPENDING = 'AWSPENDING';

/**
 * The ClientRequestToken (and so the VersionId) this run writes for this ref: a UUID-shaped digest (version 8,
 * RFC 9562) of the run id, the secret and the field. The same run always names the same version, so a resumed or
 * retried stage finds its earlier write instead of adding a second version; different runs or fields never collide.
 */
export function clientRequestToken(run: RunId, ref: StoreRef): string {
  const hex = createHash('sha256')
    .update(`rekey\0${KIND}\0${run}\0${ref.path}\0${ref.field ?? ''}`, 'utf8')
    .digest('hex');
  const variant = ((Number.parseInt(hex.charAt(16), 16) & 0x3) | 0x8).toString(16);
  const digits = `${hex.slice(0, 12)}8${hex.slice(13, 16)}${variant}${hex.slice(17, 32)}`;
  return `${digits.slice(0, 8)}-${digits.slice(8, 12)}-${digits.slice(12, 16)}-${digits.slice(16, 20)}-${digits.slice(20, 32)}`;
}

/**
 * Why a new version cannot be staged now, the same for `canStage` (before the mint) and `stage`: another rotation's
 * AWSPENDING (PutSecretValue would silently take that label from it: API reference, PutSecretValue, VersionStages),
 * or a current version that is no longer the one the run read.
 */
export function stagingObstacle(
  ref: StoreRef,
  labels: Labels,
  base: VersionId,
): { kind: 'staged-by-another' | 'base-moved'; message: string; hint: string } | undefined {
  const current = labels.holder(AWSCURRENT);
  const pending = labels.holder(AWSPENDING);
  if (pending !== undefined && pending !== current) {
    return {
      kind: 'staged-by-another',
      message: `version ${pending} is already labelled AWSPENDING by another rotation that did not finish`,
      hint:
        `if it is an interrupted rekey run, \`rekey resume\` or \`rekey rollback\` that run; otherwise remove the label: ` +
        `aws secretsmanager update-secret-version-stage --secret-id ${ref.path} --version-stage AWSPENDING --remove-from-version-id ${pending}`,
    };
  }
  if (current !== base)
    return {
      kind: 'base-moved',
      message: `current version is ${current ?? 'none'}, expected ${base}`,
      hint: 'someone else changed the secret since this run read it; start a new run',
    };
  return undefined;
}

/** Which version holds which label, from DescribeSecret's VersionIdsToStages. */
export class Labels {
  readonly #byVersion: Readonly<Record<string, readonly string[] | undefined>>;
  constructor(byVersion: Readonly<Record<string, readonly string[] | undefined>>) {
    this.#byVersion = byVersion;
  }
  /** Whether a version carries any label (versions without labels are not listed). */
  has(versionId: VersionId): boolean {
    return (this.#byVersion[versionId]?.length ?? 0) > 0;
  }
  /** The version carrying a label, if any (AWS attaches each label to one version at most). */
  holder(stage: string): VersionId | undefined {
    return Object.entries(this.#byVersion).find(([, stages]) => stages?.includes(stage))?.[0];
  }
}
