/** What the doctor's checks are handed by the CLI: the config, its credentials' runbooks, the values read, the ages. */
import { readFileSync } from 'node:fs';
import { isAbsolute, relative } from 'node:path';
import type { Config, CredentialConfig } from '../config/types.js';
import type { Runbook } from '../contract/runbook.js';
import type { Secret } from '../contract/secret.js';
import type { CredentialAge } from '../engine/age.js';
import type { YamlSource } from '../util/yaml-source.js';
import type { Where } from './finding.js';

/** A current value, as read from one store (only its fingerprint ever leaves the process). */
export interface ReadValue {
  /** The store's display ref, `dotenv:./.env#KEY`. */
  readonly store: string;
  readonly value: Secret;
}

/** A `.env` store of a credential: the absolute file and its variable. */
export interface EnvFile {
  readonly file: string;
  readonly variable: string;
}

export interface DoctorCredential {
  readonly config: CredentialConfig;
  readonly runbook: Runbook;
  readonly values: readonly ReadValue[];
  readonly envFiles: readonly EnvFile[];
  /** Undefined when the age could not be learned at all (the stores were not opened). */
  readonly age: CredentialAge | undefined;
}

export interface DoctorInput {
  readonly config: Config;
  /** rekey.yaml with positions, so findings about it name file:line:col. */
  readonly source: YamlSource;
  readonly credentials: readonly DoctorCredential[];
  /** The folder paths are shown relative to. */
  readonly cwd: string;
  readonly now: number;
}

/** A path as shown: relative to the working folder when under it. */
export function shown(cwd: string, path: string): string {
  const rel = relative(cwd, path);
  return rel === '' ? '.' : rel.startsWith('..') || isAbsolute(rel) ? path : rel;
}

/** Where a variable is set in a .env (its last assignment, the one that wins), or the file's first line. */
export function envLine(cwd: string, file: string, variable: string): Where {
  let line = 1;
  let column = 1;
  try {
    const lines = readFileSync(file, 'utf8').split(/\r?\n/);
    const assignment = new RegExp(`^(\\s*(?:export\\s+)?)${variable.replace(/[^A-Za-z0-9_]/g, '\\$&')}\\s*=`);
    lines.forEach((text, i) => {
      const m = assignment.exec(text);
      if (m !== null) {
        line = i + 1;
        column = m[1]!.length + 1;
      }
    });
  } catch {
    // An unreadable file is reported by its own check; the finding still names the file.
  }
  return { file: shown(cwd, file), line, column };
}

/** Where a credential's key (or a path below it) is written in rekey.yaml. */
export function configWhere(input: DoctorInput, path: readonly (string | number)[], which: 'key' | 'value' = 'value'): Where {
  return input.source.locate(['credentials', ...path], which);
}
