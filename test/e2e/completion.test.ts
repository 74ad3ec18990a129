/**
 * Shell completion, exercised in the real shells: the script `rekey completion <shell>` prints is loaded into bash
 * (always: bash is everywhere), zsh and fish (when installed: Debian's zsh and fish packages; skipped, saying so,
 * where they are not), and asked what completes a command line. The `rekey` the scripts call is the built CLI, put
 * first on PATH. Expected candidates are written from the project folder the test makes, never from rekey's output.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI } from './helpers.js';

let root: string;
let bin: string;
let project: string;

// Two run journals (their names are all completion reads) and a config with three credentials.
const RUNS = ['20261124T024512Z-3fa9c1', '20261201T101500Z-0b7e2d'];
const CONFIG = `# the project of the completion tests
credentials:
  stripe-prod:
    description: Stripe live key of the shop
    runbook: stripe
    stores: [{ dotenv: .env#STRIPE_SECRET_KEY }]
  streampixel-prod:
    runbook: streampixel
    inputs: { userId: u, projectId: p }
    stores: [{ dotenv: .env#STREAMPIXEL_API_KEY }]
  webhook-token:
    runbook: webhook-url-token
    stores: [{ dotenv: .env#WEBHOOK_TOKEN }]
`;

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'rekey-completion-'));
  bin = join(root, 'bin');
  project = join(root, 'project');
  mkdirSync(bin);
  mkdirSync(join(project, '.rekey', 'runs'), { recursive: true });
  mkdirSync(join(project, 'ops'));
  writeFileSync(join(bin, 'rekey'), `#!/bin/sh\nexec '${process.execPath}' '${CLI}' "$@"\n`);
  chmodSync(join(bin, 'rekey'), 0o755);
  writeFileSync(join(project, 'rekey.yaml'), CONFIG);
  writeFileSync(join(project, 'ops', 'rekey.yaml'), 'credentials:\n  ops-only:\n    runbook: stripe\n    stores: [{ dotenv: .env#K }]\n');
  writeFileSync(join(project, 'answers.yaml'), 'paste: { env: NEW_KEY }\n');
  for (const run of RUNS) writeFileSync(join(project, '.rekey', 'runs', `${run}.jsonl`), '');
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Run a shell with the built rekey first on PATH, in the project folder. */
function shell(command: string, args: readonly string[], cwd = project): { code: number | null; stdout: string; stderr: string } {
  const result = spawnSync(command, args, {
    cwd,
    encoding: 'utf8',
    timeout: 30_000,
    env: { PATH: `${bin}${delimiter}${process.env['PATH']}`, HOME: root, LANG: 'C.UTF-8', TERM: 'dumb' },
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

function installed(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`]).status === 0;
}

const lines = (text: string) => text.split('\n').filter((line) => line !== '');

// Each case: the words after `rekey` (the last is the word under the cursor, '' after a space) and what completes.
const cases: Array<{ words: string[]; expect: string[]; exact?: boolean }> = [
  { words: ['dr'], expect: ['drill'], exact: true },
  { words: ['ro'], expect: ['rotate', 'rollback'], exact: true },
  { words: ['drill', ''], expect: ['stripe-prod', 'streampixel-prod', 'webhook-token'], exact: true },
  { words: ['plan', 'str'], expect: ['stripe-prod', 'streampixel-prod'], exact: true },
  // rotate takes several: one already typed is not offered again.
  { words: ['rotate', 'stripe-prod', ''], expect: ['streampixel-prod', 'webhook-token'], exact: true },
  { words: ['resume', ''], expect: [RUNS[1]!, RUNS[0]!], exact: true },
  { words: ['runbook', 'show', 'str'], expect: ['streampixel', 'stripe', 'stripe-webhook-secret'], exact: true },
  { words: ['rehearse', '--runbook', 'sandbox-n'], expect: ['sandbox-none'], exact: true },
  { words: ['rotate', '--dr'], expect: ['--dry-run'], exact: true },
  // Global options complete after a command too.
  { words: ['status', '--js'], expect: ['--json'], exact: true },
  { words: ['schedule', '--format', ''], expect: ['cron', 'systemd', 'kubernetes', 'github-actions'], exact: true },
  { words: ['completion', ''], expect: ['bash', 'zsh', 'fish'], exact: true },
  { words: ['--config', 'ops/rekey.yaml', 'drill', ''], expect: ['ops-only'], exact: true },
];

describe('bash', () => {
  /** What bash's completion offers for the words, through `complete -F` as the Tab key calls it. */
  const completeIn = (words: readonly string[]) =>
    shell('bash', [
      '--norc',
      '--noprofile',
      '-c',
      [
        'source <(rekey completion bash)',
        // The registration, as `complete -p rekey` shows it, must name the function the script defines.
        '[[ $(complete -p rekey) == "complete -F _rekey rekey" ]] || { echo "not registered" >&2; exit 3; }',
        `COMP_WORDS=(rekey "$@"); COMP_CWORD=$(( \${#COMP_WORDS[@]} - 1 ))`,
        '_rekey',
        `printf "%s\\n" "\${COMPREPLY[@]}"`,
      ].join('\n'),
      'bash',
      ...words,
    ]);

  for (const c of cases)
    it(`rekey ${c.words.join(' ')}<Tab>`, () => {
      const result = completeIn(c.words);
      expect(result.code, result.stderr).toBe(0);
      if (c.exact) expect(lines(result.stdout).sort()).toEqual([...c.expect].sort());
      else expect(lines(result.stdout)).toEqual(expect.arrayContaining(c.expect));
    });

  it('a file name completes after --config and --answers (compgen -f)', () => {
    expect(lines(completeIn(['--config', 'rek']).stdout)).toEqual(['rekey.yaml']);
    expect(lines(completeIn(['drill', 'stripe-prod', '--answers', 'ans']).stdout)).toEqual(['answers.yaml']);
  });

  it('candidates keep their order for resume: newest run first', () => {
    expect(lines(completeIn(['log', '']).stdout)).toEqual([RUNS[1], RUNS[0]]);
  });

  it('a broken rekey.yaml, or none, completes commands and nothing from the config, with no error', () => {
    const broken = mkdtempSync(join(root, 'broken-'));
    writeFileSync(join(broken, 'rekey.yaml'), 'credentials: [unclosed\n');
    for (const cwd of [broken, root]) {
      const commands = shell(
        'bash',
        ['--norc', '-c', `source <(rekey completion bash); COMP_WORDS=(rekey drill ""); COMP_CWORD=2; _rekey; echo "\${#COMPREPLY[@]}"`],
        cwd,
      );
      expect(commands.code, commands.stderr).toBe(0);
      expect(commands.stdout.trim()).toBe('0');
      expect(commands.stderr).toBe('');
    }
  });

  it('rekey __complete loads neither zod nor the config schema: it runs on every Tab', () => {
    // A resolve hook (module.register) writes every module Node resolves to a file; zod and src/config/schema must not be among them.
    const log = join(root, 'resolved.txt');
    const hooks = join(root, 'hooks.mjs');
    writeFileSync(
      hooks,
      "import { appendFileSync } from 'node:fs';\nlet file;\nexport function initialize(data) { file = data; }\n" +
        'export async function resolve(specifier, context, next) {\n' +
        '  const r = await next(specifier, context);\n  appendFileSync(file, r.url + "\\n");\n  return r;\n}\n',
    );
    const register = join(root, 'register.mjs');
    writeFileSync(register, `import { register } from 'node:module';\nregister(${JSON.stringify(`file://${hooks}`)}, { data: ${JSON.stringify(log)} });\n`);
    const result = spawnSync(process.execPath, ['--import', register, CLI, '__complete', 'drill', ''], { cwd: project, encoding: 'utf8' });
    expect(result.status, result.stderr).toBe(0);
    expect(lines(result.stdout).map((line) => line.split('\t')[0])).toEqual(['stripe-prod', 'streampixel-prod', 'webhook-token']);
    const resolved = readFileSync(log, 'utf8');
    expect(resolved).toContain('/src/cli/completion.js');
    expect(resolved).not.toContain('/node_modules/zod/');
    expect(resolved).not.toContain('/src/config/schema.js');
  });
});

const hasZsh = installed('zsh');
describe.skipIf(!hasZsh)(`zsh${hasZsh ? '' : ' (skipped: zsh is not installed; apt-get install zsh)'}`, () => {
  /**
   * What `_rekey` hands zsh's completion system for the words. _describe and _files are replaced by functions that
   * print what they were given: the test runs the script's own code in real zsh, outside a completion widget.
   */
  const completeIn = (words: readonly string[]) =>
    shell('zsh', [
      '-f',
      '-c',
      [
        'autoload -U compinit && compinit -u -D',
        'source <(rekey completion zsh)',
        `[[ \${_comps[rekey]} == _rekey ]] || { print -u2 "not registered"; exit 3 }`,
        `_describe() { print -rl -- "\${(@P)\${@[-1]}}" }`,
        '_files() { print -r -- ":files:" }',
        `words=(rekey "$@"); CURRENT=\${#words}`,
        '_rekey',
      ].join('\n'),
      'zsh',
      ...words,
    ]);

  for (const c of cases.slice(0, 8))
    it(`rekey ${c.words.join(' ')}<Tab>`, () => {
      const result = completeIn(c.words);
      expect(result.code, result.stderr).toBe(0);
      // _describe's value:description, the value's colons escaped.
      const values = lines(result.stdout).map((line) => line.replace(/(?<!\\):.*$/, '').replace(/\\:/g, ':'));
      expect(values.sort()).toEqual([...c.expect].sort());
    });

  it("descriptions reach _describe: the credential's description from rekey.yaml", () => {
    expect(lines(completeIn(['drill', 'stri']).stdout)).toEqual(['stripe-prod:Stripe live key of the shop']);
  });

  it('a file name after --config goes to _files', () => {
    expect(lines(completeIn(['--config', '']).stdout)).toEqual([':files:']);
  });

  it('saved as _rekey in $fpath, compinit registers it from its #compdef line', () => {
    const dir = mkdtempSync(join(root, 'fpath-'));
    writeFileSync(join(dir, '_rekey'), shell('rekey', ['completion', 'zsh']).stdout);
    const result = shell('zsh', ['-f', '-c', `fpath=(${dir} $fpath); autoload -U compinit && compinit -u -D; print -r -- \${_comps[rekey]}`]);
    expect(result.stdout.trim(), result.stderr).toBe('_rekey');
  });
});

const hasFish = installed('fish');
describe.skipIf(!hasFish)(`fish${hasFish ? '' : ' (skipped: fish is not installed; apt-get install fish)'}`, () => {
  /** fish's own answer for a command line (`complete -C`), with the script loaded. */
  const completeIn = (words: readonly string[]) =>
    shell('fish', ['--no-config', '-c', `rekey completion fish | source; complete -C ${JSON.stringify(`rekey ${words.join(' ')}`)}`]);

  for (const c of cases.slice(0, 8))
    it(`rekey ${c.words.join(' ')}<Tab>`, () => {
      const result = completeIn(c.words);
      expect(result.code, result.stderr).toBe(0);
      const values = lines(result.stdout).map((line) => line.split('\t')[0]);
      expect(values.sort()).toEqual([...c.expect].sort());
    });

  it("descriptions come along: the credential's description from rekey.yaml", () => {
    expect(lines(completeIn(['drill', 'stri']).stdout)).toEqual(['stripe-prod\tStripe live key of the shop']);
  });
});
