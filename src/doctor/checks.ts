/**
 * The doctor's checks that need no git: the .env files' mode and owner, webhook token length, HTTPS, age against
 * policy, a value shared by two credentials, the written runbooks. Each returns findings; none writes anything.
 */
import { existsSync, statSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import type { Runbook, Step } from '../contract/runbook.js';
import { dueness } from '../engine/age.js';
import { formatAge } from '../util/time.js';
import { readYaml } from '../util/yaml-source.js';
import type { Finding, Where } from './finding.js';
import { configWhere, type DoctorCredential, type DoctorInput, envLine, shown } from './input.js';

/** The recipe's minimum for a webhook URL token (docs/providers.md#webhook-url-token: 24 random bytes). */
export const MIN_TOKEN_BYTES = 24;

/** Every .env file once, with the credentials that keep a value in it. */
export function envFilesOf(input: DoctorInput): Map<string, { variables: Map<string, string[]> }> {
  const files = new Map<string, { variables: Map<string, string[]> }>();
  for (const c of input.credentials)
    for (const env of c.envFiles) {
      const entry = files.get(env.file) ?? { variables: new Map<string, string[]>() };
      entry.variables.set(env.variable, [...(entry.variables.get(env.variable) ?? []), c.config.id]);
      files.set(env.file, entry);
    }
  return files;
}

/** Mode 0600 (the billing platform's `chmod 600 .env`), and the owner, which only a person can match to the service. */
export function envFileModes(input: DoctorInput): Finding[] {
  const findings: Finding[] = [];
  for (const [file, { variables }] of envFilesOf(input)) {
    const credentials = [...new Set([...variables.values()].flat())].sort();
    const where: Where = { file: shown(input.cwd, file), line: 1, column: 1 };
    let stat: ReturnType<typeof statSync>;
    try {
      stat = statSync(file);
    } catch {
      findings.push({
        check: 'env-file',
        severity: 'error',
        where,
        credentials,
        message: `${where.file} does not exist or cannot be read`,
        fix: 'create it, or fix the store in rekey.yaml',
      });
      continue;
    }
    const mode = stat.mode & 0o777;
    if ((mode & 0o077) !== 0)
      findings.push({
        check: 'env-file',
        severity: 'error',
        where,
        credentials,
        message: `${where.file} has mode 0${mode.toString(8)}: other users of this machine can ${(mode & 0o044) !== 0 ? 'read' : 'open'} the keys in it`,
        fix: `chmod 600 ${where.file}`,
      });
    findings.push({
      check: 'env-file',
      severity: 'todo',
      where,
      credentials,
      message: `${where.file} belongs to ${ownerOf(stat.uid)}: is that the user the service runs as? No other user needs to read it`,
      fix: `chown <service user> ${where.file}, and run the service and rekey as that user`,
    });
  }
  return findings;
}

/** A file owner in words: this user's name when it is this user, else the uid. */
function ownerOf(uid: number): string {
  return uid === process.getuid?.() ? `${userInfo().username} (uid ${uid}, the user running rekey)` : `uid ${uid}`;
}

/** How many random bytes a token carries, from its alphabet: hex 4 bits a character, base64url 6. */
export function tokenBytes(token: string): number {
  if (/^[0-9a-f]+$/i.test(token)) return Math.floor(token.length / 2);
  if (/^[A-Za-z0-9_-]+$/.test(token)) return Math.floor((token.length * 6) / 8);
  return Math.floor((token.length * 6) / 8);
}

/** A webhook URL token runbook: one that shows a person a URL holding the new value (webhook-url-token and kin). */
export function isWebhookToken(runbook: Runbook): boolean {
  const steps = [...runbook.generate, ...runbook.revoke, ...runbook.audit];
  return runbook.name.includes('webhook') || steps.some((s) => s.kind === 'prompt' && s.reveal !== undefined);
}

/** Webhook URL tokens of at least 24 random bytes: the current value, and the runbook's own generate steps. */
export function webhookTokens(input: DoctorInput): Finding[] {
  const findings: Finding[] = [];
  for (const c of input.credentials) {
    if (!isWebhookToken(c.runbook)) continue;
    const id = c.config.id;
    for (const step of c.runbook.generate)
      if (step.kind === 'generate' && step.bytes < MIN_TOKEN_BYTES)
        findings.push({
          check: 'webhook-token',
          severity: 'error',
          where: step.source,
          credentials: [id],
          message: `runbook ${c.runbook.name} generates tokens of ${step.bytes} random bytes, under the ${MIN_TOKEN_BYTES} a webhook URL token needs`,
          fix: `bytes: ${MIN_TOKEN_BYTES} (or more) in step ${step.id}`,
        });
    for (const { store, value } of c.values) {
      const bytes = tokenBytes(value.reveal().slice(c.runbook.generate.find((s) => s.kind === 'generate')?.prefix.length ?? 0));
      if (bytes >= MIN_TOKEN_BYTES) continue;
      const env = c.envFiles.find((e) => store.includes(`#${e.variable}`));
      findings.push({
        check: 'webhook-token',
        severity: 'error',
        where: env === undefined ? configWhere(input, [id, 'stores']) : envLine(input.cwd, env.file, env.variable),
        credentials: [id],
        message:
          `the current token (${value.fingerprint}, in ${store}) carries about ${bytes} random bytes, ` +
          `under the ${MIN_TOKEN_BYTES} a webhook URL token needs: it can be guessed`,
        fix: `rekey drill ${id} (runbook ${c.runbook.name} generates ${MIN_TOKEN_BYTES} bytes)`,
      });
    }
  }
  return findings;
}

const LOOPBACK = /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/i;

/** The plain-HTTP URLs in a text (a template's literal part), with whether each goes to this machine only. */
function httpUrls(text: string): { url: string; loopback: boolean }[] {
  return [...text.matchAll(/\bhttp:\/\/([^/\s"'?#:]+|\[[^\]]*\])[^\s"']*/gi)].map((m) => ({ url: m[0], loopback: LOOPBACK.test(m[1]!) }));
}

/** Strip a URL to scheme, host and path: its query may hold a template or a value. */
function urlShown(url: string): string {
  return url.replace(/[?#].*$/, '');
}

/** "There is no good reason to run any part of this over HTTP": runbook inputs, runbook steps, rollout hooks. */
export async function httpsOnly(input: DoctorInput): Promise<Finding[]> {
  const findings: Finding[] = [];
  const runbookSources = new Map<string, Awaited<ReturnType<typeof readYaml>>>();
  const runbookSource = async (runbook: Runbook) => {
    let source = runbookSources.get(runbook.file);
    if (source === undefined) {
      source = await readYaml(runbook.file, shown(input.cwd, runbook.file));
      runbookSources.set(runbook.file, source);
    }
    return source;
  };
  const add = (c: DoctorCredential, where: Where, what: string, text: string) => {
    for (const { url, loopback } of httpUrls(text))
      findings.push(
        loopback
          ? {
              check: 'https',
              severity: 'ok',
              where,
              credentials: [c.config.id],
              message: `${what} is ${urlShown(url)}: plain HTTP, but to this machine only (a test server)`,
            }
          : {
              check: 'https',
              severity: 'error',
              where,
              credentials: [c.config.id],
              message: `${what} is ${urlShown(url)}: plain HTTP, so the key or token crosses the network readable by anyone on the path`,
              fix: `use ${urlShown(url).replace(/^http:/i, 'https:')}`,
            },
      );
  };
  for (const c of input.credentials) {
    const id = c.config.id;
    for (const [name, described] of Object.entries(c.runbook.inputs)) {
      const own = c.config.inputs[name];
      if (own !== undefined) add(c, configWhere(input, [id, 'inputs', name]), `input ${name}`, own);
      else if (described.default !== undefined)
        add(c, (await runbookSource(c.runbook)).locate(['inputs', name, 'default']), `input ${name} (the runbook's default)`, described.default);
    }
    for (const step of stepsOf(c.runbook)) if (step.kind === 'http') add(c, step.source, `step ${step.id}'s URL`, step.url);
    c.config.rollout.forEach((hook, i) => {
      const where = configWhere(input, [id, 'rollout', i]);
      for (const arg of hook.argv) add(c, where, `rollout hook "${hook.name}"'s argument`, arg);
      for (const [name, value] of Object.entries(hook.env)) add(c, where, `rollout hook "${hook.name}"'s ${name}`, value);
    });
  }
  return findings;
}

function stepsOf(runbook: Runbook): Step[] {
  return [...runbook.generate, ...runbook.verify, ...runbook.revoke, ...runbook.verifyRevoked, ...runbook.audit, ...runbook.discard];
}

/** Whether a rotation needs a person: a step that prompts (a dashboard click, a pasted key, a checklist). */
export function needsPerson(runbook: Runbook): boolean {
  const steps = [...runbook.generate, ...runbook.verify, ...runbook.revoke, ...runbook.verifyRevoked, ...runbook.audit];
  return steps.some((s) => s.kind === 'prompt');
}

/** Each credential's age against its policy, and the ones no schedule can rotate (a person must, and nobody is told). */
export function ages(input: DoctorInput): Finding[] {
  const findings: Finding[] = [];
  for (const c of input.credentials) {
    const id = c.config.id;
    const where = configWhere(input, [id, 'policy']);
    const person = needsPerson(c.runbook);
    if (c.age === undefined) continue;
    const { state, ageMs, dueAt } = dueness(c.age, c.config.maxAgeMs, input.now);
    if (state === 'due')
      findings.push({
        check: 'age',
        severity: 'error',
        where,
        credentials: [id],
        message:
          `${formatAge(ageMs!)} old (from ${c.age.from ?? c.age.source}), past its policy of ${formatAge(c.config.maxAgeMs!)} ` +
          `by ${formatAge(ageMs! - c.config.maxAgeMs!)}`,
        fix: person ? `rekey drill ${id}` : `rekey rotate ${id}`,
      });
    else if (state === 'unknown')
      findings.push({
        check: 'age',
        severity: 'warn',
        where,
        credentials: [id],
        message: "age unknown: no store keeps a date, no policy.lastRotated, no finished run in this machine's journals",
        fix: `set policy.lastRotated in rekey.yaml (when the current value was made), or rotate it: rekey ${person ? 'drill' : 'rotate'} ${id}`,
      });
    else if (state === 'no-policy')
      findings.push({
        check: 'age',
        severity: 'warn',
        where,
        credentials: [id],
        message: 'no maxAge: it is never due',
        fix: 'set policy.maxAge (for example 90d)',
      });
    if (person && state !== 'no-policy') {
      // `rotate --due` can only remind about such a credential, and rekey keeps no record that a reminder reached
      // anyone: due (or of unknown age), it has no working rotation path; not yet due, a person must plan for it.
      const late = state === 'due' || state === 'unknown';
      findings.push({
        check: 'age',
        severity: late ? 'warn' : 'todo',
        where: configWhere(input, [id, 'runbook']),
        credentials: [id],
        message:
          `runbook ${c.runbook.name} needs a person, so \`rekey rotate --due\` only prints a reminder for it` +
          `${dueAt === undefined ? '' : ` (due ${dueAt.toISOString().slice(0, 10)})`}, and rekey keeps no record that anyone read one` +
          (late ? ': nothing will rotate it' : ''),
        fix: `have the scheduled job's output reach a person (mail, chat), or put \`rekey drill ${id}\` in a calendar before it is due`,
      });
    }
  }
  return findings;
}

/** The same value (by fingerprint) in two credentials: environments that share a key leak together. */
export function sharedValues(input: DoctorInput): Finding[] {
  const byFingerprint = new Map<string, Map<string, string[]>>();
  for (const c of input.credentials)
    for (const v of c.values) {
      const holders = byFingerprint.get(v.value.fingerprint) ?? new Map<string, string[]>();
      holders.set(c.config.id, [...(holders.get(c.config.id) ?? []), v.store]);
      byFingerprint.set(v.value.fingerprint, holders);
    }
  const findings: Finding[] = [];
  for (const [fingerprint, holders] of byFingerprint) {
    if (holders.size < 2) continue;
    const ids = [...holders.keys()].sort();
    findings.push({
      check: 'shared-value',
      severity: 'error',
      where: configWhere(input, [ids[1]!], 'key'),
      credentials: ids,
      message:
        `${ids.join(' and ')} hold the same value (${fingerprint}: ${[...holders.values()].flat().join(', ')}): ` +
        'one leak exposes every environment that uses it',
      fix: `give each its own key: rotate all but one (rekey drill ${ids[1]})`,
    });
  }
  return findings;
}

/** Where a team's written runbooks usually live: a copy there counts as documented. */
const RUNBOOK_FOLDERS = ['docs/runbooks', 'runbooks', 'docs'];

/** A documented "API key leaked, what now" for each credential's runbook: written with --write-runbooks, or found. */
export function writtenRunbooks(input: DoctorInput, written: ReadonlyMap<string, string>): Finding[] {
  const findings: Finding[] = [];
  for (const c of input.credentials) {
    const name = c.runbook.name;
    const done = written.get(name);
    const found = done ?? RUNBOOK_FOLDERS.map((dir) => join(input.config.baseDir, dir, `${name}.md`)).find((f) => existsSync(f));
    findings.push(
      found !== undefined
        ? {
            check: 'runbook',
            severity: 'ok',
            where: { file: shown(input.cwd, resolve(found)), line: 1, column: 1 },
            credentials: [c.config.id],
            message: `runbook ${name} is written down${done === undefined ? '' : ' (just written)'}`,
          }
        : {
            check: 'runbook',
            severity: 'warn',
            where: configWhere(input, [c.config.id, 'runbook']),
            credentials: [c.config.id],
            message: `no written runbook for ${name} in ${RUNBOOK_FOLDERS.map((d) => `${d}/`).join(', ')}: when the key leaks, nobody has the steps at hand`,
            fix: `rekey doctor --write-runbooks docs/runbooks (or rekey runbook show ${name} --format md)`,
          },
    );
  }
  return findings;
}
