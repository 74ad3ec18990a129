/**
 * `rekey doctor [<credential>…]`: one command, no writes to the project or the stores, that checks what can be
 * checked and lists for a person what cannot (src/doctor/). It reads each store's current value only to fingerprint
 * it and search for it; no value is printed, journaled or passed to a child process. Exit 0 when no finding is an
 * error (with --strict: no warning either), 1 otherwise, 2 for bad input. It writes only what it is asked to:
 * `--write-runbooks <dir>` and `--report <file>`.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { CredentialConfig } from '../config/types.js';
import type { Runbook } from '../contract/runbook.js';
import type { Finding } from '../doctor/finding.js';
import type { DoctorCredential, DoctorInput, EnvFile, ReadValue } from '../doctor/input.js';
import { credentialOf, openConfig, type CommandInput, type Globals } from './common.js';

export default async function doctor(input: CommandInput, globals: Globals): Promise<number> {
  const config = await openConfig(globals);
  const ids = input.args[0] as string[] | undefined;
  const chosen = ids !== undefined && ids.length > 0 ? ids.map((id) => credentialOf(config, id)) : [...config.credentials.values()];
  const [{ readYaml }, { loadRunbook }, { storeOpener }, { credentialAges }, { lastRunsOf }, checks, git, { checklist }, finding, render] = await Promise.all([
    import('../util/yaml-source.js'),
    import('../runbook/load.js'),
    import('./stores.js'),
    import('../engine/age.js'),
    import('../engine/history.js'),
    import('../doctor/checks.js'),
    import('../doctor/git.js'),
    import('../doctor/checklist.js'),
    import('../doctor/finding.js'),
    import('../doctor/render.js'),
  ]);
  const cwd = process.cwd();
  const answersFile = typeof input.options['answers'] === 'string' ? input.options['answers'] : undefined;
  // Bad input first (an answers file that cannot be read or holds a key), before any store is read.
  const answer = answersFile === undefined ? undefined : await answersOf(answersFile);
  const source = await readYaml(resolve(cwd, config.file), config.file);
  const runbooks = new Map<string, Runbook>();
  for (const c of chosen) if (!runbooks.has(c.runbookFile)) runbooks.set(c.runbookFile, await loadRunbook(c.runbookFile));

  const openStores = storeOpener(config);
  const found: Finding[] = [];
  const exclude: string[] = [];
  const credentials: DoctorCredential[] = [];
  const ages = await credentialAges(chosen, {
    history: await lastRunsOf(
      config.stateDir,
      chosen.map((c) => c.id),
    ),
    openStores,
  });
  for (const credential of chosen) {
    const { values, envFiles } = await readValues(credential, openStores, exclude, found);
    credentials.push({ config: credential, runbook: runbooks.get(credential.runbookFile)!, values, envFiles, age: ages.get(credential.id) });
  }
  const doctorInput: DoctorInput = { config, source, credentials, cwd, now: Date.now() };

  const written = new Map<string, string>();
  const folder = input.options['writeRunbooks'];
  if (typeof folder === 'string') {
    const { renderRunbook } = await import('../runbook/render.js');
    mkdirSync(folder, { recursive: true });
    for (const runbook of runbooks.values()) {
      const file = join(folder, `${runbook.name}.md`);
      writeFileSync(file, renderRunbook(runbook, 'md'));
      written.set(runbook.name, file);
    }
  }

  found.push(
    ...checks.envFileModes(doctorInput),
    ...(await git.envFilesInGit(doctorInput)),
    ...(await git.valueLeaks(doctorInput, exclude)),
    ...checks.webhookTokens(doctorInput),
    ...(await checks.httpsOnly(doctorInput)),
    ...checks.ages(doctorInput),
    ...checks.sharedValues(doctorInput),
    ...checks.writtenRunbooks(doctorInput, written),
    ...(await checklist(doctorInput, answer, answersFile)),
  );
  const findings = finding.dedupe(found);
  const code = finding.exitCodeOf(findings, input.options['strict'] === true);
  process.stdout.write(globals.json === true ? render.ndjson(findings, code) : render.table(findings, code));
  const report = input.options['report'];
  // stdout passes the output guard; the report file gets the same scrub (a commit subject may quote a key).
  const { redactor } = await import('../contract/redactor.js');
  if (typeof report === 'string') writeFileSync(report, redactor.scrub(render.markdown(findings, code, config.file, new Date())), { mode: 0o600 });
  return code;
}

/** A credential's current values (readable stores only) and its .env files; a store that cannot be read is a finding. */
async function readValues(
  credential: CredentialConfig,
  openStores: (c: CredentialConfig) => Promise<import('../engine/context.js').OpenStore[]>,
  exclude: string[],
  found: Finding[],
): Promise<{ values: ReadValue[]; envFiles: EnvFile[] }> {
  const values: ReadValue[] = [];
  const envFiles: EnvFile[] = [];
  const problem = (message: string, fix?: string) =>
    found.push({ check: 'stores', severity: 'warn', credentials: [credential.id], message, ...(fix === undefined ? {} : { fix }) });
  let stores: import('../engine/context.js').OpenStore[];
  try {
    stores = await openStores(credential);
  } catch (error) {
    problem(`the stores could not be opened: ${(error as Error).message}; the checks of its values were skipped`, `rekey check ${credential.id}`);
    return { values, envFiles };
  }
  for (const { store, ref } of stores) {
    // A store that keeps its value in a local file (a .env) names it first among its files (SecretStore.files): that
    // file gets the .env checks (mode, .gitignore, history), and the leak search leaves all its files out.
    const files = store.files?.(ref) ?? [];
    exclude.push(...files);
    if (files[0] !== undefined && ref.field !== undefined) envFiles.push({ file: files[0], variable: ref.field });
    try {
      if (!store.capabilities.readBack) problem(`${ref.display} is write-only: its value cannot be read, so it is not searched for`);
      else values.push({ store: ref.display, value: (await store.read(ref)).value });
    } catch (error) {
      const e = error as { message?: string; hint?: string };
      problem(`${ref.display} cannot be read: ${e.message ?? String(error)}`, e.hint ?? `rekey check ${credential.id}`);
    } finally {
      await store.close?.().catch(() => undefined);
    }
  }
  return { values, envFiles };
}

/** The answers file read as the drill reads it (yes or no; a key written into it is refused, exit 2). */
async function answersOf(file: string): Promise<(id: string, question: string) => Promise<boolean | undefined>> {
  const [{ answersInteraction, noInteraction }, { createSink }] = await Promise.all([import('../ui/interaction.js'), import('../ui/sink.js')]);
  const interaction = await answersInteraction(file, createSink(false), noInteraction());
  return async (id, question) => (interaction.problem(id, 'confirm') === undefined ? interaction.confirm(id, question) : undefined);
}
