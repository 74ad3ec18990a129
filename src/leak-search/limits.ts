/** The bounds of one leak search: an incident is never stuck behind a search. */
import type { Secret } from '../contract/secret.js';

export interface LeakSearchLimits {
  /** Stop after this long, saying what was not searched. */
  readonly maxMs: number;
  /** Stop after reading this many bytes (files and blobs together). */
  readonly maxBytes: number;
  /** Skip files and blobs larger than this. */
  readonly maxFileBytes: number;
  /** Keep at most this many files and this many blobs with a hit (the totals are still counted). */
  readonly maxFindings: number;
}

export const DEFAULT_LIMITS: LeakSearchLimits = { maxMs: 20_000, maxBytes: 1024 ** 3, maxFileBytes: 100 * 1024 ** 2, maxFindings: 20 };

export interface LeakSearchOptions {
  /** The folder of rekey.yaml: the repository around it is searched (or the folder itself). */
  readonly folder: string;
  /** The value to look for. */
  readonly value: Secret;
  /** Absolute paths never searched in the working tree: rekey's state folder, its store files. */
  readonly exclude?: readonly string[];
  readonly limits?: Partial<LeakSearchLimits>;
  /** The git executable (default `git`, found on PATH). */
  readonly git?: string;
  /** The environment git starts from (default process.env); variables holding a known secret are dropped. */
  readonly env?: NodeJS.ProcessEnv;
}
