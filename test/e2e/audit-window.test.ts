/**
 * The audit window of a drill or a scheduled run is the time the old key was exposed: from when its current value was
 * written (the stores' version dates, else `policy.lastRotated`, else this machine's last rotation), never the run's
 * own start. A person reads it in local time; a URL gets ISO 8601; an unknown start says so (and a URL asks for
 * everything). The engine runs in this process (memory stores are per process) against the real sandbox provider.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { memorySpace } from '../../adapters/stores/memory.js';
import { storeCatalog, storeOpener } from '../../src/cli/stores.js';
import { loadConfig } from '../../src/config/load.js';
import type { Interaction } from '../../src/contract/steps.js';
import { executeRun } from '../../src/engine/run.js';
import { loadRunbook } from '../../src/runbook/load.js';
import { localTime } from '../../src/util/time.js';
import { removeWorkspaces, sandboxPool, workspace, type Workspace } from './helpers.js';

const startPooled = sandboxPool();
afterAll(() => removeWorkspaces());
let spaces = 0;

/** The sandbox runbook with one more audit step: a prompt that shows {{ run.since }} to a person. */
function runbookWithPrompt(ws: Workspace): string {
  const text = readFileSync(join(import.meta.dirname, '../../runbooks/sandbox.yaml'), 'utf8').replace(
    /^audit:\n/m,
    'audit:\n  - id: look\n    name: look at the activity\n    prompt:\n' +
      '      message: Look at the activity since {{ run.since }}.\n      confirm: Nothing you do not recognise?\n',
  );
  const file = join(ws.dir, 'sandbox.yaml');
  writeFileSync(file, text);
  return file;
}

/** Run the workspace's credential in this process; returns what the person was shown and the URLs' since. */
async function run(ws: Workspace, edit: (config: string) => string = (c) => c): Promise<{ shown: string[]; journal: string }> {
  writeFileSync(ws.config, edit(readFileSync(ws.config, 'utf8')));
  const config = await loadConfig(ws.config, storeCatalog);
  const credential = config.credentials.get(ws.credential)!;
  const shown: string[] = [];
  const interaction: Interaction = {
    canAsk: true,
    instruct: (_step, message) => void shown.push(message),
    askSecret: async () => {
      throw new Error('no key is pasted in this runbook');
    },
    confirm: async () => true,
    offerReveal: async () => undefined,
  };
  const summary = await executeRun({
    config,
    credential,
    runbook: await loadRunbook(runbookWithPrompt(ws)),
    mode: 'drill',
    interaction,
    sink: { emit: () => undefined },
    openStores: storeOpener(config),
  });
  expect(summary.result, summary.error).toBe('done');
  return { shown, journal: readFileSync(join(ws.stateDir, 'runs', `${summary.run}.jsonl`), 'utf8') };
}

describe('the audit window starts when the old key was written', () => {
  it("from the stores' version date: shown in local time, journaled as ISO", async () => {
    const ws = workspace({ sandbox: await startPooled({ overlap: 'until-revoked' }) });
    const space = `audit-window-${++spaces}`;
    memorySpace(space).put('app', ws.seed);
    const written = new Date(Date.now() - 40 * 86_400_000);
    (memorySpace(space).secrets.get('app')!.versions[0] as { createdAt: Date }).createdAt = written;
    const { shown, journal } = await run(ws, (c) => c.replace(/( {6}- dotenv: .*\n)/, `$1      - memory: app\n        space: ${space}\n`));
    expect(shown).toContain(`Look at the activity since ${localTime(written)} your time (40 days ago).`);
    expect(journal).toContain(`"since":"${written.toISOString()}"`);
  });

  it('from policy.lastRotated when no store keeps a date', async () => {
    const ws = workspace({ sandbox: await startPooled({ overlap: 'until-revoked' }) });
    const { shown } = await run(ws, (c) => c.replace('      maxAge: 30d\n', '      maxAge: 30d\n      lastRotated: 2026-01-15\n'));
    expect(shown).toContain(`Look at the activity since ${localTime(new Date('2026-01-15T00:00:00Z'))} your time.`);
  });

  it('unknown (a .env only, nothing said, no earlier run): said plainly, never "since the run began"', async () => {
    const ws = workspace({ sandbox: await startPooled({ overlap: 'until-revoked' }) });
    const { shown } = await run(ws);
    expect(shown).toContain(
      'Look at the activity since as far back as the log goes (rekey does not know when the old key was created: no store keeps a date).',
    );
  });
});
