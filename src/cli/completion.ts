/**
 * Shell completion. `rekey completion <shell>` prints a script for bash, zsh or fish; on Tab the script runs the hidden
 * `rekey __complete <words…>` (the words after `rekey`, the last one being the word under the cursor, possibly empty),
 * which prints one candidate a line, `value<TAB>description` (bash drops the description), or the single line `:files`
 * for "complete a file name here" (--config, --answers). Commands, options and their choices come from the commander
 * tree of src/cli/main.ts, so a command added there completes without a change here; credential ids, runbook names and
 * run ids come from the rekey.yaml the command line would use. It runs on every Tab, so it loads only commander (already
 * loaded) and yaml (~30 ms), never zod, the schema or the stores: the config is read, not validated. It never prints
 * an error: a half-typed command line or a broken rekey.yaml completes to nothing.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command, Option } from 'commander';
import { ExitCode, InputError } from '../contract/errors.js';
import type { CommandInput, Globals } from './common.js';

const SHELLS = ['bash', 'zsh', 'fish'] as const;
type Shell = (typeof SHELLS)[number];

/** `rekey completion <shell>`: print the script. */
export default async function completion(input: CommandInput, _globals: Globals): Promise<number> {
  const shell = input.args[0] as string;
  if (!(SHELLS as readonly string[]).includes(shell)) throw new InputError(`no completion for shell "${shell}"`, undefined, `shells: ${SHELLS.join(', ')}`);
  process.stdout.write(completionScript(shell as Shell));
  return ExitCode.done;
}

/** The completion script of a shell. Each calls `rekey` from PATH, as the person typing does. */
export function completionScript(shell: Shell): string {
  switch (shell) {
    case 'bash':
      return BASH;
    case 'zsh':
      return ZSH;
    case 'fish':
      return FISH;
  }
}

// COMP_WORDS[1..COMP_CWORD] are the words after `rekey` up to the cursor's word (empty after a space).
const BASH = `# rekey completion for bash. Load it with  source <(rekey completion bash)  in ~/.bashrc, or save it as
# ~/.local/share/bash-completion/completions/rekey (bash-completion loads it on the first Tab after \`rekey\`).
_rekey() {
  local cur=\${COMP_WORDS[COMP_CWORD]} out IFS=$'\\n'
  out=$(rekey __complete "\${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null) || return 0
  if [[ $out == ':files' ]]; then
    compopt -o filenames 2>/dev/null
    COMPREPLY=($(compgen -f -- "$cur"))
    return 0
  fi
  COMPREPLY=($(printf '%s\\n' "$out" | cut -f1))
}
complete -F _rekey rekey
`;

// words[2,CURRENT] are the words after `rekey` up to the cursor's. _describe takes value:description, colons escaped.
const ZSH = `#compdef rekey
# rekey completion for zsh. Save it as _rekey in a folder of $fpath (before compinit runs), or load it with
# source <(rekey completion zsh)  in ~/.zshrc after compinit.
_rekey() {
  local out line
  local -a lines candidates
  out=$(rekey __complete "\${(@)words[2,CURRENT]}" 2>/dev/null) || return 1
  lines=("\${(@f)out}")
  if [[ \${lines[1]} == ':files' ]]; then
    _files
    return
  fi
  candidates=()
  for line in "\${lines[@]}"; do
    [[ -z $line ]] && continue
    if [[ $line == *$'\\t'* ]]; then
      candidates+=("\${\${line%%$'\\t'*}//:/\\\\:}:\${line#*$'\\t'}")
    else
      candidates+=("\${line//:/\\\\:}")
    fi
  done
  _describe -t rekey 'rekey' candidates
}
if [[ \${zsh_eval_context[-1]} == loadautofunc ]]; then
  _rekey "$@"
else
  compdef _rekey rekey
fi
`;

// fish reads value<TAB>description itself; -f: no file names unless __complete asks for them.
const FISH = `# rekey completion for fish. Save it as ~/.config/fish/completions/rekey.fish, or load it with
# rekey completion fish | source
function __rekey_complete
    set -l words (commandline -opc)[2..-1] (commandline -ct)
    set -l out (rekey __complete $words 2>/dev/null)
    if test "$out[1]" = ':files'
        __fish_complete_path (commandline -ct)
        return
    end
    printf '%s\\n' $out
end
complete -c rekey -f -a '(__rekey_complete)'
`;

/**
 * The candidates for the last of `words` (the command line after `rekey`), printed one a line. Returns the exit code:
 * always 0, since a Tab must never print an error.
 */
export async function complete(program: Command, words: readonly string[]): Promise<number> {
  let lines: string[];
  try {
    lines = await candidates(program, words);
  } catch {
    lines = [];
  }
  if (lines.length > 0) process.stdout.write(`${lines.join('\n')}\n`);
  return ExitCode.done;
}

/** What may stand at the cursor: `value\tdescription` lines, or `:files`. Exported for the unit tests. */
export async function candidates(program: Command, words: readonly string[]): Promise<string[]> {
  const current = words.at(-1) ?? '';
  const before = words.slice(0, -1);
  let command = program;
  let positional = 0;
  let configFile: string | undefined;
  let pending: Option | undefined;
  for (const word of before) {
    if (pending !== undefined) {
      if (pending.long === '--config') configFile = word;
      pending = undefined;
      continue;
    }
    if (word === '--') break;
    if (word.startsWith('-')) {
      const [flag, inline] = splitInline(word);
      const option = optionsOf(command).find((o) => o.long === flag || o.short === flag);
      if (option?.long === '--config' && inline !== undefined) configFile = inline;
      if (option !== undefined && takesValue(option) && inline === undefined) pending = option;
      continue;
    }
    const sub = command.commands.find((c) => c.name() === word || c.aliases().includes(word));
    if (sub !== undefined && positional === 0) command = sub;
    else positional++;
  }
  const matching = (list: Iterable<string>) => [...list].filter((line) => line.startsWith(current));
  const project = () => projectOf(configFile);

  if (pending !== undefined) return valuesOf(pending, current, project);
  if (current.startsWith('-')) {
    const [flag, inline] = splitInline(current);
    if (inline !== undefined) {
      const option = optionsOf(command).find((o) => o.long === flag);
      if (option === undefined) return [];
      return (await valuesOf(option, inline, project)).map((value) => (value === ':files' ? value : `${flag}=${value}`));
    }
    return matching(optionsOf(command).flatMap((o) => (o.long === undefined || o.hidden ? [] : [`${o.long}\t${o.description}`])));
  }
  const subs = command.commands.filter((c) => !(c as unknown as { _hidden?: boolean })._hidden);
  if (subs.length > 0 && positional === 0) return matching(subs.map((c) => `${c.name()}\t${c.description()}`));
  const args = command.registeredArguments;
  const argument = args[positional] ?? (args.at(-1)?.variadic ? args.at(-1) : undefined);
  if (argument === undefined) return [];
  if (argument.argChoices !== undefined) return matching(argument.argChoices);
  const name = argument.name();
  if (name === 'credential' || name === 'credentials') {
    const used = new Set(before);
    return matching([...(await project()).credentials].filter(([id]) => !used.has(id)).map(([id, about]) => (about ? `${id}\t${about}` : id)));
  }
  if (name === 'run') return matching((await project()).runs());
  if (name === 'name' && command.name() === 'show') return matching((await project()).runbooks());
  return [];
}

/** The options a word may name at this point: the command's own and those of every command above it (--config, --json). */
function optionsOf(command: Command): Option[] {
  const all: Option[] = [];
  for (let c: Command | null = command; c !== null; c = c.parent) all.push(...c.options);
  return all;
}

function takesValue(option: Option): boolean {
  return option.required || option.optional;
}

function splitInline(word: string): [string, string | undefined] {
  const at = word.indexOf('=');
  return at === -1 ? [word, undefined] : [word.slice(0, at), word.slice(at + 1)];
}

/** The values an option takes: its choices, a file name, or a runbook name. */
async function valuesOf(option: Option, current: string, project: () => Promise<Project>): Promise<string[]> {
  if (option.argChoices !== undefined) return option.argChoices.filter((c) => c.startsWith(current));
  if (option.long === '--config' || option.long === '--answers') return [':files'];
  if (option.long === '--runbook') return (await project()).runbooks().filter((name) => name.startsWith(current));
  return [];
}

interface Project {
  /** Credential ids and their descriptions. */
  readonly credentials: ReadonlyArray<readonly [string, string | undefined]>;
  /** Run ids, newest first. */
  runs(): string[];
  /** Runbook names: the config's folders, then the built-in ones. */
  runbooks(): string[];
}

/** What the config the command line would use names: read, not validated (a Tab must be fast, and never fail). */
async function projectOf(explicit: string | undefined): Promise<Project> {
  const file = explicit !== undefined ? resolve(explicit) : ['rekey.yaml', 'rekey.yml'].map((name) => resolve(name)).find((f) => existsSync(f));
  let raw: Record<string, unknown> = {};
  if (file !== undefined) {
    try {
      const { parse } = await import('yaml');
      const data: unknown = parse(readFileSync(file, 'utf8'));
      if (data !== null && typeof data === 'object' && !Array.isArray(data)) raw = data as Record<string, unknown>;
    } catch {
      // A config that does not parse completes nothing from it; the command itself will say what is wrong.
    }
  }
  const baseDir = file === undefined ? process.cwd() : dirname(file);
  const credentials = isMapping(raw['credentials'])
    ? Object.entries(raw['credentials']).map(([id, c]) => [id, isMapping(c) && typeof c['description'] === 'string' ? c['description'] : undefined] as const)
    : [];
  const stateDir = resolve(baseDir, typeof raw['stateDir'] === 'string' ? raw['stateDir'] : '.rekey');
  const folders = [
    ...(Array.isArray(raw['runbooks']) ? raw['runbooks'].filter((d): d is string => typeof d === 'string').map((d) => resolve(baseDir, d)) : []),
    builtInRunbooks(),
  ];
  return {
    credentials,
    runs: () => {
      const runs = join(stateDir, 'runs');
      return existsSync(runs)
        ? readdirSync(runs)
            .filter((f) => f.endsWith('.jsonl'))
            .map((f) => f.slice(0, -'.jsonl'.length))
            .sort()
            .reverse()
        : [];
    },
    runbooks: () => {
      const names = new Set<string>();
      for (const dir of folders) {
        if (dir === undefined || !existsSync(dir)) continue;
        for (const entry of readdirSync(dir).sort()) if (/\.ya?ml$/.test(entry)) names.add(entry.replace(/\.ya?ml$/, ''));
      }
      return [...names];
    },
  };
}

function isMapping(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/**
 * The installation's runbooks/ folder, found as src/runbook/load.ts finds it (the folder beside package.json above
 * this module). Repeated rather than imported: that module loads the runbook validator, too slow for a Tab.
 */
function builtInRunbooks(): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    if (existsSync(join(dir, 'runbooks')) && existsSync(join(dir, 'package.json'))) return join(dir, 'runbooks');
    dir = dirname(dir);
  }
  return undefined;
}
