/**
 * Loading rekey.yaml: parse with positions, validate with the schema, then check what the schema cannot see:
 * store kinds and their options, runbook names, runbook inputs, secrets in command lines.
 */
import { existsSync } from 'node:fs';
import { dirname, isAbsolute, relative, resolve } from 'node:path';
import { parseRef } from '../contract/store.js';
import { parseDuration } from '../util/duration.js';
import { InputError, InputErrors } from '../contract/errors.js';
import { nearest } from '../util/suggest.js';
import { builtInRunbookDir, loadRunbook, resolveRunbook } from '../runbook/load.js';
import { refersToSecret } from '../runbook/template.js';
import type { Config, CredentialConfig, HookConfig, NotifyChannelConfig, StoreCatalog, StoreEntry } from './types.js';
import { readYaml, unknownKeyError, type YamlSource } from '../util/yaml-source.js';
import type { RawConfig } from './schema.js';

const DEFAULT_BUDGET_MS = 5 * 60_000;

export { findConfigFile } from './find.js';

/** Load, validate and type a config file; store entries are checked against the kinds and adapters of `catalog`. */
export async function loadConfig(file: string, catalog: StoreCatalog): Promise<Config> {
  const display = relative(process.cwd(), file) || file;
  const source = await readYaml(file, display.startsWith('..') ? file : display);
  const [{ configSchema, lastRotatedMs }, { validateAt }] = await Promise.all([import('./schema.js'), import('../util/validate.js')]);
  if (source.data === null || source.data === undefined)
    throw new InputError('the file is empty', source.locate([]), 'see `rekey config schema` or the README for an example');
  checkVersion(source);
  const raw = validateAt(source, configSchema, source.data, [], 'rekey.yaml');
  const baseDir = dirname(file);
  const runbookDirs = [...(raw.runbooks ?? []).map((dir) => resolve(baseDir, dir)), builtInRunbookDir()];
  const errors: InputError[] = [];
  const credentials = new Map<string, CredentialConfig>();

  for (const [id, credential] of Object.entries(raw.credentials)) {
    const at = ['credentials', id];
    let runbookFile: string;
    try {
      runbookFile = resolveRunbook(credential.runbook, runbookDirs, baseDir);
    } catch (error) {
      const e = error as InputError;
      errors.push(source.error([...at, 'runbook'], e.message, e.hint));
      continue;
    }
    // A runbook named by path that is not there: said at the line that names it (the runbook loader knows no config).
    if (!existsSync(runbookFile)) {
      errors.push(
        source.error(
          [...at, 'runbook'],
          `runbook file ${credential.runbook} does not exist (looked for ${relative(process.cwd(), runbookFile) || runbookFile})`,
          'a name without a slash or .yaml is a runbook name (`rekey runbook list`); a path is taken from the folder of rekey.yaml',
        ),
      );
      continue;
    }
    let runbook: Awaited<ReturnType<typeof loadRunbook>>;
    try {
      runbook = await loadRunbook(runbookFile);
    } catch (error) {
      if (error instanceof InputErrors) errors.push(...error.errors);
      else if (error instanceof InputError) errors.push(error);
      else throw error;
      continue;
    }

    // Inputs: every required one given, none unknown.
    const inputs: Record<string, string> = {};
    const declared = Object.keys(runbook.inputs);
    for (const [key, value] of Object.entries(credential.inputs ?? {})) {
      if (!declared.includes(key)) errors.push(unknownKeyError(source, [...at, 'inputs'], key, declared, `inputs of runbook ${runbook.name}`));
      else inputs[key] = String(value);
    }
    for (const [key, spec] of Object.entries(runbook.inputs)) {
      if (inputs[key] !== undefined) continue;
      if (spec.default !== undefined) inputs[key] = spec.default;
      else if (spec.required)
        errors.push(
          source.error(
            credential.inputs === undefined ? at : [...at, 'inputs'],
            `runbook ${runbook.name} needs input "${key}": ${spec.description}`,
            `add  ${key}: <value>  under inputs:`,
            'key',
          ),
        );
    }

    const stores: StoreEntry[] = [];
    for (const [index, entry] of credential.stores.entries()) {
      const store = await checkStoreEntry(source, catalog, [...at, 'stores', index], entry, errors);
      if (store !== undefined) stores.push(store);
    }

    const rollout: HookConfig[] = (credential.rollout ?? []).map((hook, index) => {
      const kubernetes = hook['kubernetes-rollout'];
      if (kubernetes !== undefined) {
        const workloads = [...(kubernetes.deployments ?? []).map((d) => `deployment/${d}`), ...(kubernetes.statefulsets ?? []).map((s) => `statefulset/${s}`)];
        return {
          name: hook.name ?? `kubernetes-rollout ${kubernetes.namespace}: ${workloads.join(', ')}`,
          argv: [],
          env: {},
          stdin: undefined,
          timeoutMs: parseDuration(kubernetes.timeout ?? hook.timeout ?? '5m')!,
          retries: hook.retries ?? 0,
          builtin: { kind: 'kubernetes-rollout', options: { deployments: [], statefulsets: [], ...kubernetes } },
        };
      }
      const argv = hook.exec ?? [];
      argv.forEach((arg, i) => {
        if (refersToSecret(arg))
          errors.push(
            source.error(
              [...at, 'rollout', index, 'exec', i],
              `credentials.${id}.rollout[${index}].exec[${i}]: a secret must not appear in a command line, where other users and process listings can read it`,
              'pass it through env: (NAME: "{{ new }}") or stdin: instead',
            ),
          );
      });
      return {
        name: hook.name ?? argv.join(' '),
        argv,
        env: hook.env ?? {},
        stdin: hook.stdin,
        timeoutMs: parseDuration(hook.timeout ?? '60s')!,
        retries: hook.retries ?? 0,
      };
    });

    const maxAge = credential.policy?.maxAge ?? raw.defaults?.maxAge;
    const budget = credential.policy?.budget ?? raw.defaults?.budget;
    credentials.set(id, {
      id,
      description: credential.description,
      runbookFile,
      runbookName: runbook.name,
      inputs,
      stores,
      rollout,
      maxAgeMs: maxAge === undefined ? runbook.rotateEveryMs : parseDuration(maxAge),
      budgetMs: budget === undefined ? DEFAULT_BUDGET_MS : parseDuration(budget)!,
      lastRotated: credential.policy?.lastRotated === undefined ? undefined : new Date(lastRotatedMs(credential.policy.lastRotated)).toISOString(),
    });
  }
  const notify = notifyChannels(source, raw.notify ?? [], errors);
  if (errors.length > 0) throw new InputErrors(errors);

  const stateDir = raw.stateDir === undefined ? resolve(baseDir, '.rekey') : isAbsolute(raw.stateDir) ? raw.stateDir : resolve(baseDir, raw.stateDir);
  return { file: display, baseDir, stateDir, runbookDirs, credentials, ...(notify.length > 0 ? { notify } : {}) };
}

/** Default kinds of messages a channel gets: successes only when asked for (`on: [..., success]`). */
const DEFAULT_NOTIFY_ON = ['failure', 'reminder', 'overdue'] as const;

/**
 * The `notify:` channels, checked where the schema cannot: a webhook or Slack channel names the environment variable
 * of its URL (a URL written in the file is refused, and not repeated in the message: it is a secret), and an exec
 * channel has a command and no url.
 */
function notifyChannels(source: YamlSource, entries: NonNullable<RawConfig['notify']>, errors: InputError[]): NotifyChannelConfig[] {
  const channels: NotifyChannelConfig[] = [];
  for (const [index, entry] of entries.entries()) {
    const at = ['notify', index];
    const common = {
      on: entry.on ?? DEFAULT_NOTIFY_ON,
      timeoutMs: parseDuration(entry.timeout ?? '10s')!,
      retries: entry.retries ?? 3,
    };
    if (entry.channel === 'exec') {
      if (entry.exec === undefined) errors.push(source.error(at, `notify[${index}]: an exec channel needs exec: [command, args…]`, undefined, 'key'));
      if (entry.url !== undefined)
        errors.push(source.error([...at, 'url'], `notify[${index}]: an exec channel takes no url`, 'the command gets the message as JSON on its stdin', 'key'));
      if (entry.exec !== undefined) channels.push({ channel: 'exec', name: entry.name ?? entry.exec.join(' '), argv: entry.exec, ...common });
      continue;
    }
    if (entry.exec !== undefined)
      errors.push(source.error([...at, 'exec'], `notify[${index}]: a ${entry.channel} channel takes no exec`, 'use channel: exec for a command', 'key'));
    if (entry.url === undefined) {
      errors.push(source.error(at, `notify[${index}]: a ${entry.channel} channel needs url: { env: NAME }`, undefined, 'key'));
      continue;
    }
    if (typeof entry.url === 'string') {
      // The text is not repeated: a webhook URL carries its own token, and this message may end up in a CI log.
      errors.push(
        source.error(
          [...at, 'url'],
          `notify[${index}].url: a webhook URL is a secret (it carries its token) and must not be written in ${source.file}`,
          `put it in an environment variable and write  url: { env: ${entry.channel === 'slack' ? 'SLACK_WEBHOOK_URL' : 'REKEY_WEBHOOK_URL'} }`,
        ),
      );
      continue;
    }
    channels.push({ channel: entry.channel, name: entry.name ?? `${entry.channel} (${entry.url.env})`, urlEnv: entry.url.env, ...common });
  }
  return channels;
}

/** The format versions this rekey reads. */
const VERSIONS = [1];

/**
 * `version:` names the format of rekey.yaml (not of the project or of rekey): say so, and which versions this rekey
 * reads, before the schema's bare "must be one of 1".
 */
function checkVersion(source: YamlSource): void {
  const data = source.data as Record<string, unknown> | null;
  if (data === null || typeof data !== 'object' || Array.isArray(data) || !('version' in data)) return;
  const version = data['version'];
  if (VERSIONS.includes(version as number)) return;
  const newer = typeof version === 'number' && Number.isInteger(version) && version > Math.max(...VERSIONS);
  throw source.error(
    ['version'],
    `version ${JSON.stringify(version)}: version is the format of rekey.yaml, and this rekey reads version ${VERSIONS.join(', ')} (the only one so far)`,
    newer
      ? 'a file written for a newer rekey: upgrade rekey, or write version: 1 (or leave it out) if the file follows this format'
      : 'write version: 1, or leave it out',
  );
}

async function checkStoreEntry(
  source: YamlSource,
  catalog: StoreCatalog,
  at: Array<string | number>,
  entry: Record<string, unknown>,
  errors: InputError[],
): Promise<StoreEntry | undefined> {
  const storeKinds = catalog.kinds;
  const kinds = Object.keys(entry).filter((key) => storeKinds.includes(key));
  if (kinds.length !== 1) {
    if (kinds.length === 0) {
      const first = Object.keys(entry)[0];
      const suggestion = first === undefined ? undefined : nearest(first, storeKinds);
      errors.push(
        source.error(
          first === undefined ? at : [...at, first],
          first === undefined ? 'a store entry needs a kind' : `unknown store kind "${first}"`,
          suggestion !== undefined ? `did you mean "${suggestion}"? Store kinds: ${storeKinds.join(', ')}` : `store kinds: ${storeKinds.join(', ')}`,
          'key',
        ),
      );
    } else
      errors.push(source.error([...at, kinds[1]!], `a store entry names exactly one kind, found ${kinds.join(' and ')}`, 'write one entry per store', 'key'));
    return undefined;
  }
  const kind = kinds[0]!;
  const refText = entry[kind];
  if (typeof refText !== 'string' || refText.trim() === '') {
    errors.push(source.error([...at, kind], `${kind} needs a reference such as "path#FIELD"`));
    return undefined;
  }
  const adapter = await catalog.adapter(kind);
  const options: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(entry)) {
    if (key === kind) continue;
    const type = adapter.options[key]?.type;
    if (type === undefined) {
      errors.push(unknownKeyError(source, at, key, [kind, ...Object.keys(adapter.options)], `${kind} store`));
      continue;
    }
    const ok = type === 'string[]' ? Array.isArray(value) && value.every((v) => typeof v === 'string') : typeof value === type;
    if (!ok) errors.push(source.error([...at, key], `${key} must be ${type === 'string[]' ? 'a list of strings' : `a ${type}`}`));
    else options[key] = value;
  }
  const ref = parseRef(kind, refText.trim());
  // What a ref must look like is the adapter's knowledge (a .env variable name, a secret id): it says, we point.
  const problem = adapter.validateRef?.(ref);
  if (problem !== undefined) {
    errors.push(source.error([...at, kind], `${ref.display}: ${problem}`));
    return undefined;
  }
  const optionProblem = adapter.validateOptions?.(options, ref);
  if (optionProblem !== undefined) {
    errors.push(source.error([...at, optionProblem.option], `${optionProblem.option}: ${optionProblem.problem}`));
    return undefined;
  }
  return { ref, options };
}
