/**
 * `rekey init`: read the project it is run in (its `.env` files), tell which variables are keys of providers rekey
 * has runbooks for (src/doctor/detect.ts), and write a commented rekey.yaml with those credentials, their runbooks
 * and their stores. Where it cannot tell (a secret-looking variable no runbook claims, an input a runbook requires)
 * it asks on a terminal; otherwise flags answer (`--runbook NAME=runbook`, `--input [credential.]name=value`), and
 * what is still missing is refused (exit 2) before anything is written. No value of a key is ever written or printed.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { parseEnv } from 'node:util';
import { InputError } from '../contract/errors.js';
import type { Runbook } from '../contract/runbook.js';
import type { Detection, EnvFileVars, ProjectReading } from '../doctor/detect.js';
import type { CommandInput, Globals } from './common.js';

/** The runbooks init offers: the real providers (the sandbox ones are for `rehearse`). */
const PROVIDERS = ['streampixel', 'stripe', 'discord-bot', 'github-token', 'paypal', 'aws-iam-access-key', 'webhook-url-token'];
/** Folders never searched for .env files: dependencies, build output, rekey's state. */
const SKIP = new Set(['node_modules', '.git', '.rekey', 'dist', 'build', 'out', '.next', 'vendor', 'coverage']);
/** .env files that hold examples, not keys. */
const EXAMPLE = /\.(example|sample|template|dist|defaults?)$|rekey-/;

interface Planned {
  readonly id: string;
  readonly detection: Detection;
  readonly runbook: Runbook;
  readonly inputs: Map<string, { value: string; from: string }>;
}

export default async function init(input: CommandInput, globals: Globals): Promise<number> {
  const cwd = process.cwd();
  const target = resolve(cwd, globals.config ?? 'rekey.yaml');
  const shownTarget = relative(cwd, target) || target;
  if (existsSync(target) && input.options['force'] !== true)
    throw new InputError(`${shownTarget} already exists`, undefined, 'rekey init never overwrites a config: move it aside, or pass --force');
  const chosen = pairs(input.options['runbook'], '--runbook', 'NAME=runbook');
  const given = pairs(input.options['input'], '--input', '[credential.]name=value');
  const [{ readProject, inputFromEnv, credentialId }, { builtInRunbookDir, listRunbooks, loadRunbook }] = await Promise.all([
    import('../doctor/detect.js'),
    import('../runbook/load.js'),
  ]);
  const known = listRunbooks([builtInRunbookDir()]);
  const runbooks = new Map<string, Runbook>();
  for (const name of PROVIDERS) runbooks.set(name, await loadRunbook(known.get(name)!));
  for (const name of new Set(chosen.values()))
    if (name !== 'skip' && !runbooks.has(name)) {
      const file = known.get(name);
      if (file === undefined) throw new InputError(`--runbook: unknown runbook "${name}"`, undefined, `known runbooks: ${PROVIDERS.join(', ')}, or skip`);
      runbooks.set(name, await loadRunbook(file));
    }

  const files = envFiles(cwd);
  if (files.length === 0)
    throw new InputError(
      'no .env file in this project',
      undefined,
      'run rekey init where your .env files are, or write rekey.yaml by hand (see `rekey config schema`)',
    );
  const ask = process.stdin.isTTY === true && input.options['yes'] !== true ? await asker() : undefined;
  try {
    let reading = readProject(files, runbooks, chosen);
    if (ask !== undefined && reading.undecided.length > 0) {
      // A person can tell what init cannot: ask once per undecided variable, then read again with the answers.
      const answers = new Map(chosen);
      for (const u of reading.undecided) {
        const answer = await ask(`${u.variable} in ${u.file}: ${u.why}. Runbook (${PROVIDERS.join(', ')}), or Enter to leave it out: `);
        answers.set(`${u.file}#${u.variable}`, answer === '' ? 'skip' : answer);
        if (answer !== '' && !runbooks.has(answer))
          throw new InputError(`unknown runbook "${answer}" for ${u.variable}`, undefined, `known runbooks: ${PROVIDERS.join(', ')}`);
      }
      reading = readProject(files, runbooks, answers);
    }
    if (reading.detections.length === 0)
      throw new InputError(
        `no key of a provider rekey knows in ${files.map((f) => f.file).join(', ')}`,
        undefined,
        `name one with --runbook NAME=runbook (${PROVIDERS.join(', ')})` +
          (reading.undecided.length > 0 ? `; undecided: ${reading.undecided.map((u) => u.variable).join(', ')}` : ''),
      );

    const ids = new Set<string>();
    const planned: Planned[] = [];
    const missing: string[] = [];
    for (const detection of reading.detections) {
      let id = credentialId(detection.file, detection.variable).slice(0, 60);
      for (let n = 2; ids.has(id); n++) id = `${credentialId(detection.file, detection.variable).slice(0, 60)}-${n}`;
      ids.add(id);
      const runbook = runbooks.get(detection.runbook)!;
      const vars = files.find((f) => f.file === detection.file)!.vars;
      const keys = new Set(reading.detections.filter((d) => d.file === detection.file).map((d) => d.variable));
      const inputs = new Map<string, { value: string; from: string }>();
      for (const [name, described] of Object.entries(runbook.inputs)) {
        if (!described.required) continue;
        const flag = given.get(`${id}.${name}`) ?? given.get(name);
        const found = inputFromEnv(vars, name, keys);
        // Never a key's value, whatever its variable is called.
        const beside = found !== undefined && ![...keys].some((k) => vars[k] === found.value) ? found : undefined;
        if (flag !== undefined) inputs.set(name, { value: flag, from: '--input' });
        else if (beside !== undefined) inputs.set(name, { value: beside.value, from: `${beside.variable} in ${detection.file}` });
        else if (ask !== undefined) {
          const answer = await ask(`${id} (runbook ${runbook.name}): ${name}, ${described.description}: `);
          if (answer === '') missing.push(`--input ${id}.${name}=… (${described.description})`);
          else inputs.set(name, { value: answer, from: 'you' });
        } else missing.push(`--input ${id}.${name}=… (${described.description})`);
      }
      planned.push({ id, detection, runbook, inputs });
    }
    if (missing.length > 0)
      throw new InputError(
        `cannot tell ${missing.length} input${missing.length === 1 ? '' : 's'} the runbooks require; nothing was written`,
        undefined,
        `pass them: ${missing.join(' ')}`,
      );

    writeFileSync(target, configText(planned, reading, files), { flag: input.options['force'] === true ? 'w' : 'wx' });
    report(globals.json === true, shownTarget, planned, reading);
    return 0;
  } finally {
    ask?.close();
  }
}

/** `--runbook A=b --runbook C=d` as a map; a value without `=` is bad input. */
function pairs(option: unknown, flag: string, form: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const text of Array.isArray(option) ? (option as string[]) : []) {
    const at = text.indexOf('=');
    if (at <= 0) throw new InputError(`${flag} ${text}: expected ${form}`);
    out.set(text.slice(0, at), text.slice(at + 1));
  }
  return out;
}

/** The project's .env files (three folders deep at most), parsed by Node's own parser (util.parseEnv). */
function envFiles(cwd: string): EnvFileVars[] {
  const found: EnvFileVars[] = [];
  const walk = (dir: string, depth: number) => {
    let entries: import('node:fs').Dirent[];
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
      const path = join(dir, entry.name);
      if (entry.isDirectory() && depth < 3 && !SKIP.has(entry.name)) walk(path, depth + 1);
      else if (entry.isFile() && /^\.env(\..+)?$/.test(entry.name) && !EXAMPLE.test(entry.name))
        found.push({ file: relative(cwd, path), vars: parseEnv(readFileSync(path, 'utf8')) as Record<string, string> });
    }
  };
  walk(cwd, 0);
  return found;
}

/** A line-oriented question on the terminal. */
async function asker(): Promise<((question: string) => Promise<string>) & { close: () => void }> {
  const { createInterface } = await import('node:readline/promises');
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  return Object.assign(async (question: string) => (await rl.question(question)).trim(), { close: () => rl.close() });
}

const quote = (text: string) => JSON.stringify(text);

/** The rekey.yaml text: every credential commented with where it was found and how it was told; no key value. */
function configText(planned: readonly Planned[], reading: ProjectReading, files: readonly EnvFileVars[]): string {
  const out = [
    `# rekey.yaml, written by \`rekey init\` from ${files.map((f) => f.file).join(', ')}.`,
    '# No key is in this file: each store names where the value lives. Check it with `rekey doctor`, practise with',
    '# `rekey rehearse --runbook <runbook>`, and see the steps of a rotation with `rekey plan <credential>`.',
    '# The JSON Schema for your editor: `rekey config schema`.',
    'credentials:',
  ];
  for (const { id, detection, runbook, inputs } of planned) {
    const how = detection.by === 'flag' ? 'as you said (--runbook)' : `told by its ${detection.by}`;
    out.push(`  ${id}:`, `    # ${detection.variable} in ${detection.file}, ${how}: ${runbook.title}, overlap ${runbook.overlap}.`);
    if (detection.doubt !== undefined) out.push(`    # CHECK: ${detection.doubt}.`);
    out.push(`    runbook: ${runbook.name}`);
    if (inputs.size > 0) {
      out.push('    inputs:');
      for (const [name, { value, from }] of inputs) out.push(`      ${name}: ${quote(value)}   # ${runbook.inputs[name]!.description} (from ${from})`);
    }
    const optional = Object.entries(runbook.inputs).filter(([, i]) => !i.required);
    if (optional.length > 0) out.push(`    # optional inputs: ${optional.map(([n]) => n).join(', ')} (see \`rekey runbook show ${runbook.name}\`)`);
    out.push('    stores:', `      - dotenv: ${quote(`./${detection.file}#${detection.variable}`)}`);
    // The receiver accepts NAME and NAME_PREVIOUS while the dashboard is switched (runbooks/webhook-url-token.yaml).
    if (runbook.name === 'webhook-url-token') out.push('        keepPrevious: true   # the receiver accepts the old token until the dashboard is switched');
    out.push(
      `    # policy: { maxAge: ${days(runbook.rotateEveryMs)}, lastRotated: YYYY-MM-DD }` +
        "   # maxAge defaults to the runbook's; lastRotated: when the current key was made",
    );
  }
  for (const u of reading.undecided) out.push(`# not set up: ${u.variable} in ${u.file}: ${u.why} (add it with a runbook: \`rekey runbook list\`)`);
  for (const s of reading.skipped) out.push(`# left out: ${s.variable} in ${s.file}: ${s.why}`);
  return `${out.join('\n')}\n`;
}

const days = (ms: number) => `${Math.round(ms / 86_400_000)}d`;

function report(json: boolean, target: string, planned: readonly Planned[], reading: ProjectReading): void {
  if (json) {
    for (const p of planned)
      process.stdout.write(
        `${JSON.stringify({
          event: 'init.credential',
          credential: p.id,
          runbook: p.runbook.name,
          file: p.detection.file,
          variable: p.detection.variable,
          by: p.detection.by,
          ...(p.detection.doubt === undefined ? {} : { doubt: p.detection.doubt }),
        })}\n`,
      );
    for (const u of reading.undecided) process.stdout.write(`${JSON.stringify({ event: 'init.undecided', ...u })}\n`);
    for (const s of reading.skipped) process.stdout.write(`${JSON.stringify({ event: 'init.skipped', ...s })}\n`);
    process.stdout.write(`${JSON.stringify({ event: 'init.written', file: target, credentials: planned.length })}\n`);
    return;
  }
  const width = Math.max(...planned.map((p) => p.id.length));
  const lines = [`${target} written: ${planned.length} credential${planned.length === 1 ? '' : 's'}`];
  for (const p of planned)
    lines.push(
      `  ${p.id.padEnd(width)}  ${p.runbook.name.padEnd(17)}  ${p.detection.file}#${p.detection.variable} (${p.detection.by})` +
        (p.detection.doubt === undefined ? '' : ` — check: ${p.detection.doubt}`),
    );
  for (const u of reading.undecided) lines.push(`! not set up: ${u.variable} in ${u.file}: ${u.why}; name it with --runbook ${u.variable}=<runbook>`);
  for (const s of reading.skipped) lines.push(`- left out: ${s.variable} in ${s.file}: ${s.why}`);
  const first = planned.find((p) => p.runbook.rehearsal.unsupported === undefined)?.runbook.name;
  lines.push(`Next: \`rekey doctor\` checks the project${first === undefined ? '' : `; \`rekey rehearse --runbook ${first}\` practises a rotation`}.`);
  process.stdout.write(`${lines.join('\n')}\n`);
}
