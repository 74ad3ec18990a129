/**
 * What every rehearsal shares (`rekey rehearse --runbook <name>`, `rekey rehearse <credential>`, `rekey runbook
 * test`): the runbook's inputs pointed at the sandbox, the check that every provider call then reaches it, the
 * sandbox acting for the person in the dashboard, the guard that keeps the process from calling anything else, and
 * the folder kept or removed at the end.
 */
import { existsSync, rmSync } from 'node:fs';
import { InputError, InputErrors } from '../contract/errors.js';
import type { EngineEvent, EventSink } from '../contract/events.js';
import type { Runbook, Step } from '../contract/runbook.js';
import { Secret } from '../contract/secret.js';
import type { RehearsalActor } from '../ui/interaction.js';

/** The sandbox account a rehearsal rotates (a Streampixel userId, a PayPal client id). */
export const ACCOUNT = 'rehearsal';

/** A rehearsal input with `{{ sandbox.url }}` and `{{ sandbox.account }}` filled in. */
export function fillSandbox(text: string, url: string): string {
  return text.replace(/\{\{\s*sandbox\.url\s*\}\}/g, url).replace(/\{\{\s*sandbox\.account\s*\}\}/g, ACCOUNT);
}

/** Whether a rehearsal input names the sandbox: such an input replaces the credential's own in a rehearsal. */
export function namesSandbox(text: string): boolean {
  return /\{\{\s*sandbox\.(url|account)\s*\}\}/.test(text);
}

/**
 * A credential's inputs for a rehearsal: what names the sandbox (its URL, its account) always comes from the runbook's
 * `rehearsal:` block, so every provider call goes there; the other rehearsal inputs (a dashboard page, a receiver's
 * public URL, shown to the person) only stand in where the credential gives none.
 */
export function rehearsedInputs(runbook: Runbook, own: Readonly<Record<string, string>>, url: string): Record<string, string> {
  const inputs: Record<string, string> = { ...own };
  for (const [key, value] of Object.entries(runbook.rehearsal.inputs)) {
    if (namesSandbox(value) || inputs[key] === undefined) inputs[key] = fillSandbox(value, url);
  }
  return inputs;
}

/** Every step of a runbook, phase by phase. */
function allSteps(runbook: Runbook): Step[] {
  return [runbook.generate, runbook.verify, runbook.revoke, runbook.verifyRevoked, runbook.audit, runbook.discard].flat();
}

/**
 * Every http step must reach a route of the sandbox once `inputs` are filled in (the sandbox at `sandboxUrl`): a step
 * that would call the real provider, or a path no dialect answers, is refused at its line before anything runs. With
 * `commands`, a runbook's own `exec` step is refused too: a command could call the provider, and a rehearsal can only
 * redirect the calls rekey makes.
 */
export async function ensureDialects(runbook: Runbook, inputs: Readonly<Record<string, string>>, sandboxUrl: string, commands = false): Promise<void> {
  const { sandboxRoutes } = await import('../sandbox/dialects.js');
  const { matchRoute } = await import('../sandbox/routes.js');
  const withDefaults: Record<string, string> = {};
  for (const [key, spec] of Object.entries(runbook.inputs)) if (spec.default !== undefined) withDefaults[key] = spec.default;
  Object.assign(withDefaults, inputs);
  const problems: InputError[] = [];
  for (const step of allSteps(runbook)) {
    if (step.kind === 'exec' && commands) {
      problems.push(
        new InputError(
          `step ${step.id} runs a command, which could reach the real provider: a rehearsal redirects only the calls rekey makes itself`,
          step.source,
          'give the runbook http steps for its provider calls, or rehearse a copy of it without this step (`rekey rehearse --runbook <file>`)',
        ),
      );
      continue;
    }
    if (step.kind !== 'http') continue;
    const url = step.url.replace(/\{\{\s*([A-Za-z_][\w.-]*)\s*\}\}/g, (_m, name: string) =>
      name.startsWith('inputs.') ? (withDefaults[name.slice(7)] ?? '') : name === 'new' || name === 'old' ? 'x' : ACCOUNT,
    );
    if (!url.startsWith(`${sandboxUrl}/`)) {
      problems.push(
        new InputError(
          `step ${step.id}: in a rehearsal it would call ${url.split('?')[0]!.replace(/^(https?:\/\/[^/]+).*$/, '$1')}, not the sandbox`,
          step.source,
          'under rehearsal.inputs:, point the input that opens its URL at "{{ sandbox.url }}" (plus the dialect\'s path)',
        ),
      );
      continue;
    }
    const path = new URL(url).pathname;
    const matched = matchRoute(step.method, path, sandboxRoutes);
    if (matched.route === undefined)
      problems.push(
        new InputError(
          `step ${step.id}: the sandbox speaks no dialect at ${step.method} ${path}`,
          step.source,
          `the sandbox answers: ${[...new Set(sandboxRoutes.map((r) => `${r.method} ${r.pattern}`))].join(', ')}`,
        ),
      );
  }
  if (problems.length > 0) throw new InputErrors(problems);
}

/** Whether the sandbox mints the keys (a person would fetch them from a dashboard), not rekey (a `generate` step). */
export function sandboxMints(runbook: Runbook): { sandboxKeys: boolean; minting: Step | undefined } {
  const minting = runbook.generate.find(
    (step) => step.kind === 'generate' || (step.kind === 'prompt' && step.capture) || (step.kind === 'http' && step.capture !== undefined),
  );
  return { sandboxKeys: minting?.kind !== 'generate', minting };
}

/** A starting value of the shape a `generate` step makes, for a rehearsal of a runbook that generates its values. */
export function generatedSeed(step: Step | undefined, randomBytes: (n: number) => Buffer): string {
  if (step?.kind !== 'generate') return randomBytes(24).toString('hex');
  const bytes = randomBytes(step.bytes);
  return `${step.prefix}${step.encoding === 'hex' ? bytes.toString('hex') : bytes.toString('base64url')}`;
}

/**
 * What the person would do in the provider's dashboard, done by the sandbox over its HTTP API, as a client would: mint
 * the key a prompt asks for, revoke the old key when the revoke step is confirmed, revoke an unused new key on discard.
 */
export function sandboxActor(args: {
  sandboxUrl: string;
  runbook: Runbook;
  seed: Secret;
  sandboxKeys: boolean;
  note: (message: string) => void;
}): RehearsalActor {
  const { sandboxUrl, runbook, seed, note } = args;
  const minted: Secret[] = [];
  const revokeSteps = new Set(runbook.revoke.map((step) => step.id));
  const discardSteps = new Set(runbook.discard.map((step) => step.id));
  const revokeInSandbox = async (key: Secret) => {
    await fetch(`${sandboxUrl}/v1/keys/self`, { method: 'DELETE', headers: { authorization: `Bearer ${key.reveal()}` } }).then((r) => r.arrayBuffer());
  };
  return {
    async mint() {
      // "Rotate key" with an expiry (Stripe) gives the old key an hour; "Request API Key" (overlap none) kills it.
      const body = runbook.overlap === 'expiring' ? { expireOthersInSeconds: 3600 } : {};
      const response = await fetch(`${sandboxUrl}/v1/accounts/${ACCOUNT}/keys`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      const { key } = (await response.json()) as { key: string };
      const secret = new Secret(key);
      minted.push(secret);
      const oldFate =
        runbook.overlap === 'none' ? ', and the old one died with it' : runbook.overlap === 'expiring' ? ' and set the old one to expire in an hour' : '';
      note(`the sandbox minted a new key ${secret.mask} for you${oldFate}`);
      return key;
    },
    async confirmed(stepId: string) {
      if (!args.sandboxKeys) return;
      if (revokeSteps.has(stepId)) {
        await revokeInSandbox(seed);
        note(`the sandbox ${runbook.overlap === 'expiring' ? 'expired' : 'revoked'} the old key ${seed.mask} for you`);
      } else if (discardSteps.has(stepId) && minted.length > 0) {
        await revokeInSandbox(minted.at(-1)!);
        note(`the sandbox revoked the unused new key ${minted.at(-1)!.mask}`);
      }
    },
  };
}

/** What a failed rehearsal's last line says instead of `rekey resume`: the sandbox that played the provider is gone. */
const NOT_RESUMABLE = 'a rehearsal cannot be resumed (its sandbox is gone): read its journal and report in the folder named below, then rehearse again';

/** The sink of a rehearsal's run: the same events, except that a failed run is not offered `rekey resume`. */
export function rehearsalSink(sink: EventSink): EventSink {
  return {
    emit(event: EngineEvent) {
      if (event.event === 'run.finished' && event.result !== 'done' && (event.resumable || (event.hint ?? '').includes('rekey resume'))) {
        sink.emit({ ...event, resumable: false, hint: NOT_RESUMABLE });
      } else sink.emit(event);
    },
  };
}

/**
 * While a rehearsal runs, this process may call the sandbox and nothing else: a runbook step, a step adapter or anything
 * that uses fetch gets a refusal for any other origin, before a byte is sent. The rollout hooks, which run for real,
 * are other processes (or the Kubernetes client, which has its own HTTP stack) and are not affected. Returns the undo.
 */
export function confineFetch(sandboxUrl: string): () => void {
  const original = globalThis.fetch;
  const allowed = new URL(sandboxUrl).origin;
  globalThis.fetch = (async (input: Parameters<typeof fetch>[0], init?: Parameters<typeof fetch>[1]) => {
    const target = new URL(input instanceof Request ? input.url : String(input));
    if (target.origin !== allowed) {
      // fetch() rejects with a TypeError whose cause says why; the http step reports the cause's message.
      throw new TypeError('fetch failed', { cause: { message: `refused in a rehearsal: ${target.origin} is not the sandbox` } });
    }
    return original(input, init);
  }) as typeof fetch;
  return () => {
    globalThis.fetch = original;
  };
}

/**
 * After a rehearsal: remove its folder (unless --keep), saying so. A rehearsal that did not finish keeps it whatever
 * --keep says: its journal and report are what the person reads to see what went wrong. It cannot be resumed: the
 * sandbox that played the provider is gone.
 */
export function settleRehearsal(folder: string, json: boolean, keep: boolean, finished: boolean): void {
  if (keep) return;
  // Refused before a run started (bad answers, no terminal): nothing to read, nothing kept.
  if (!finished && existsSync(`${folder}/.rekey/runs`)) {
    if (json) process.stdout.write(`${JSON.stringify({ event: 'rehearsal.kept', folder, reason: 'the rehearsal did not finish' })}\n`);
    else
      process.stdout.write(
        `kept: ${folder} — the rehearsal did not finish: its journal (.rekey/runs) and report are there to read. It cannot be resumed (the ` +
          'sandbox is gone): run the rehearsal again\n',
      );
    return;
  }
  const reported = existsSync(`${folder}/.rekey/reports`);
  rmSync(folder, { recursive: true, force: true });
  if (reported && !json) process.stdout.write(`removed ${folder} with its report; keep them next time with --keep\n`);
}
