/**
 * `rekey scan <credential> [--offline]`: is any value this credential ever had still in the working tree or the git
 * history? The search of `rekey incident` without a value (src/leak-search/scan.ts): candidates found by the
 * runbook's `secret.pattern`, each hashed and compared with the fingerprints rekey knows:
 *  - every run of the credential in this machine's journals: its old key (what the stores held at its start) and
 *    its new key (minted, staged);
 *  - the stores' current value, read from each store that can be read back (not with `--offline`).
 * So a responder can check that a scrub (`git filter-repo`) worked, or look for a key of an earlier rotation, after
 * the value itself is gone from every store. Findings are ranked by exposure as the incident's are.
 *
 * Exit codes: 0 nothing found and everything searched · 6 findings (a known value is still there) · 1 nothing found,
 * but the search did not cover everything (a limit, no git: not proof of a clean scrub) · 2 bad input (no such
 * credential, a runbook without `secret.pattern`, no value known to compare with).
 */
import type { CredentialConfig, Config } from '../config/types.js';
import type { LeakFinding, LeakSearchResult } from '../contract/leaks.js';
import { ExitCode, InputError } from '../contract/errors.js';
import { credentialOf, openConfig, type CommandInput, type Globals } from './common.js';

const FINGERPRINT = /^[0-9a-f]{16}$/;

/** A value rekey knows of the credential, by fingerprint: what it was (`old key of run …`, `current value in …`). */
export type KnownValues = Map<string, string[]>;

/** `20261124T024512Z-3fa9c1` → `2026-11-24`. */
function runDay(run: string): string {
  const m = /^(\d{4})(\d\d)(\d\d)T/.exec(run);
  return m === null ? run : `${m[1]}-${m[2]}-${m[3]}`;
}

/**
 * The fingerprints the journals of this machine hold for a credential: each run's old key (the stores' value at its
 * start: `old`, `base`) and new key (`new`, `staged`, `mint.minted`). Unchecked reads, as `rekey log` shows damaged
 * journals: a fingerprint only chooses what to look for, never what to do.
 */
export async function journaledValues(stateDir: string, credential: string, known: KnownValues = new Map()): Promise<KnownValues> {
  const [{ runsOf }, { readJournal }] = await Promise.all([import('../engine/history.js'), import('../engine/journal.js')]);
  const add = (fp: unknown, role: string) => {
    if (typeof fp !== 'string' || !FINGERPRINT.test(fp)) return;
    const roles = known.get(fp) ?? [];
    if (!roles.includes(role)) roles.push(role);
    known.set(fp, roles);
  };
  for (const run of runsOf(stateDir, credential)) {
    const day = runDay(run);
    for (const record of readJournal(stateDir, run)) {
      if (record.type === 'mint.minted') add(record.fingerprint, `new key of run ${run} (${day})`);
      if (record.type !== 'step.done' || record.data === undefined) continue;
      const data = record.data;
      add(data['old'], `old key of run ${run} (${day})`);
      for (const fp of Array.isArray(data['base']) ? data['base'] : []) add(fp, `old key of run ${run} (${day})`);
      add(data['new'], `new key of run ${run} (${day})`);
      for (const fp of Array.isArray(data['staged']) ? data['staged'] : []) add(fp, `new key of run ${run} (${day})`);
    }
  }
  return known;
}

/** The stores' current values, by fingerprint, and the files the stores write (never searched: they hold it on purpose). */
async function storeValues(config: Config, credential: CredentialConfig, known: KnownValues, read: boolean): Promise<{ files: string[]; notes: string[] }> {
  const { storeOpener } = await import('./stores.js');
  const files: string[] = [];
  const notes: string[] = [];
  for (const { store, ref } of await storeOpener(config)(credential)) {
    files.push(...(store.files?.(ref) ?? []));
    try {
      if (!read) continue;
      if (!store.capabilities.readBack) {
        notes.push(`${ref.display}: write-only, not read`);
        continue;
      }
      const { value } = await store.read(ref);
      const roles = known.get(value.fingerprint) ?? [];
      roles.push(`current value in ${ref.display}`);
      known.set(value.fingerprint, roles);
    } catch (error) {
      notes.push(`${ref.display}: not read (${(error as Error).message})`);
    } finally {
      await store.close?.().catch(() => undefined);
    }
  }
  return { files, notes };
}

export default async function scan(input: CommandInput, globals: Globals): Promise<number> {
  const config = await openConfig(globals);
  const credential = credentialOf(config, String(input.args[0]));
  const [{ loadRunbook }, { secretPattern }] = await Promise.all([import('../runbook/load.js'), import('../contract/runbook.js')]);
  const runbook = await loadRunbook(credential.runbookFile);
  const pattern = secretPattern(runbook, credential.inputs);
  if (pattern === undefined)
    throw new InputError(
      `runbook ${credential.runbookName} has no secret.pattern: rekey scan finds candidates by it`,
      undefined,
      runbook.secret.patternInput === undefined
        ? `add secret.pattern (the shape of a valid key, such as ^sk_[A-Za-z0-9]{32}$) to ${credential.runbookFile}`
        : `set inputs.${runbook.secret.patternInput} of ${credential.id} in ${config.file} to the shape of a valid key`,
    );
  const known = await journaledValues(config.stateDir, credential.id);
  const offline = input.options['offline'] === true;
  // Offline, the stores are opened only for the files they write (never searched: they hold a value on purpose).
  const stores = await storeValues(config, credential, known, !offline);
  if (known.size === 0)
    throw new InputError(
      `no value of ${credential.id} is known to compare with: no run of it in ${config.stateDir}${offline ? '' : ', and no store of it could be read'}`,
      undefined,
      offline ? 'run without --offline to compare with the stores’ current value' : 'rekey scan looks for the values of past rotations by fingerprint',
    );

  const { findingLine, leakFindings, scanFingerprints } = await import('../leak-search/index.js');
  const result = await scanFingerprints({ folder: config.baseDir, pattern, fingerprints: new Set(known.keys()), exclude: [config.stateDir, ...stores.files] });
  const findings = leakFindings(result);
  const complete = result.complete.tree && (result.complete.history || result.git !== 'repository');
  const code = findings.length > 0 ? ExitCode.findings : complete && result.git === 'repository' ? ExitCode.done : ExitCode.failed;
  const whatOf = (f: LeakFinding) => (f.fingerprint === undefined ? [] : (known.get(f.fingerprint) ?? []));

  if (globals.json === true) {
    for (const f of findings) {
      const { commit, ...rest } = f;
      process.stdout.write(
        `${JSON.stringify({ event: 'scan.finding', credential: credential.id, ...rest, ...(commit === undefined ? {} : { commit }), value: whatOf(f) })}\n`,
      );
    }
    process.stdout.write(`${JSON.stringify(doneEvent(credential.id, known, result, findings, stores.notes, code))}\n`);
    return code;
  }
  const out: string[] = [];
  const n = known.size;
  out.push(`scan · ${credential.id} · ${n} known value${n === 1 ? '' : 's'} by fingerprint · candidates by ${pattern.source}`);
  for (const note of stores.notes) out.push(`  note: ${note}`);
  out.push('');
  for (const f of findings) {
    out.push(`  ${findingLine(f)}`);
    if (f.fingerprint !== undefined) out.push(`      value ${f.fingerprint}: ${whatOf(f).join(', ')}`);
    out.push(`      ${f.means}`, `      to do: ${f.todo}`);
  }
  const mb = (result.scanned.bytes / 1024 ** 2).toFixed(1);
  const scanned = `${result.scanned.files} files and ${result.scanned.blobs} git objects, ${mb} MB`;
  if (findings.length > 0) {
    const values = new Set(findings.map((f) => f.fingerprint));
    out.push(
      '',
      `found: ${findings.length} place${findings.length === 1 ? '' : 's'} holding ${values.size} of ${n} known value${n === 1 ? '' : 's'} (${scanned})`,
    );
  } else if (code === ExitCode.done) {
    out.push(`not found: none of the ${n} known value${n === 1 ? '' : 's'} is in the working tree or git history (${scanned})`);
  } else {
    out.push(`not found so far (${scanned}), but the search did not cover everything: not proof that the value is gone`);
  }
  if (result.git !== 'repository') out.push(`  ${result.note ?? 'not a git repository'}`);
  if (result.skipped.length > 0) out.push(`  not searched: ${result.skipped.join('; ')}`);
  if (result.incomplete !== undefined) out.push(`  incomplete: ${result.incomplete}`);
  process.stdout.write(`${out.join('\n')}\n`);
  return code;
}

function doneEvent(credential: string, known: KnownValues, result: LeakSearchResult, findings: readonly LeakFinding[], notes: readonly string[], code: number) {
  return {
    event: 'scan.done',
    credential,
    code,
    known: [...known].map(([fingerprint, what]) => ({ fingerprint, what })),
    found: findings.length,
    root: result.root,
    git: result.git,
    complete: result.complete,
    ...(result.incomplete === undefined ? {} : { incomplete: result.incomplete }),
    skipped: result.skipped,
    notes,
    scanned: result.scanned,
  };
}
