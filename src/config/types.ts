/** The configuration as typed values, after loading and validation. */
import type { HookConfig } from '../runbook/steps/exec.js';
import type { SecretStoreAdapter, StoreRef } from '../contract/store.js';

export type { HookConfig };

/**
 * The store kinds and their adapters, as the CLI hands them to the loader (src/cli/stores.ts): the config checks
 * each store entry's kind and options against them without importing adapters/.
 */
export interface StoreCatalog {
  readonly kinds: readonly string[];
  /** The adapter of a kind in `kinds` (its options and their types). */
  adapter(kind: string): Promise<SecretStoreAdapter>;
  /**
   * The files of a kind's adapter, whose content keys the config cache (src/config/cache.ts): a release that changes
   * an adapter's options or ref rules re-validates. Without it, adapters do not key the cache.
   */
  moduleFiles?(kind: string): readonly string[];
}

export interface StoreEntry {
  readonly ref: StoreRef;
  readonly options: Readonly<Record<string, unknown>>;
}

export interface CredentialConfig {
  readonly id: string;
  readonly description: string | undefined;
  /** The resolved runbook file. */
  readonly runbookFile: string;
  readonly runbookName: string;
  readonly inputs: Readonly<Record<string, string>>;
  readonly stores: readonly StoreEntry[];
  readonly rollout: readonly HookConfig[];
  /** From the credential, else the config's defaults, else the runbook's recommended interval. */
  readonly maxAgeMs: number | undefined;
  readonly budgetMs: number;
  /** `policy.lastRotated`, as ISO 8601 UTC: when the person says the current value was written. */
  readonly lastRotated?: string | undefined;
}

/** What a channel is told about: a failed rotation, a due credential that needs a person, an overdue one, a success. */
export type NotifyKind = 'failure' | 'reminder' | 'overdue' | 'success';

/** One `notify:` entry of rekey.yaml, checked: a webhook or Slack channel has `urlEnv`, an exec channel `argv`. */
export interface NotifyChannelConfig {
  readonly channel: 'webhook' | 'slack' | 'exec';
  /** For messages about the channel: its `name`, else `slack (SLACK_WEBHOOK_URL)` or the command. Never the URL. */
  readonly name: string;
  /** The environment variable that holds the URL (the URL itself is a secret, never in the file). */
  readonly urlEnv?: string | undefined;
  readonly argv?: readonly string[] | undefined;
  readonly on: readonly NotifyKind[];
  /** One attempt's limit. */
  readonly timeoutMs: number;
  /** Attempts after the first, with backoff. */
  readonly retries: number;
}

export interface Config {
  /** The config file as named to the user. */
  readonly file: string;
  readonly baseDir: string;
  readonly stateDir: string;
  readonly runbookDirs: readonly string[];
  readonly credentials: ReadonlyMap<string, CredentialConfig>;
  /** Where to tell people about rotations (`notify:`); absent or empty: nobody is told. */
  readonly notify?: readonly NotifyChannelConfig[] | undefined;
}
