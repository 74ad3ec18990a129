/**
 * Case `dead`: time to proven dead for every built-in runbook in rehearsal, and the drill's outage window against
 * the sandbox's own record of when the old key died.
 *
 * In process (the compiled engine, `executeRun()`), one sandbox per run playing the runbook's provider as `rekey
 * rehearse --runbook` does (the runbook's `rehearsal:` inputs, a throw-away .env). A scripted person stands in for the
 * dashboard: asked for the new key, it mints one over the sandbox's HTTP API; asked to confirm a revoke step, it
 * revokes the old key there first. The sandbox keeps each key's `revokedAt`/`expiresAt`: that is when the old key
 * really died, measured by the provider, not by rekey.
 *
 * 1. Time to proven dead, `rekey incident` (mode incident; the order offered: the safe order, and `--revoke-first`
 *    where the runbook has revoke steps): the old.dead event's time after the run started, and its lag behind the
 *    sandbox's record of the death (how late the proof is; never negative, or the proof is a lie).
 * 2. The drill's outage window (overlap none, a person's prompt): the person takes PERSON_MS to paste the key and
 *    requests it (killing the old key) DIE_AT_MS into the prompt. rekey polls the old key once a second while the
 *    prompt is open; the reported window (outage.ended ms) is compared with the true one, from the sandbox's
 *    `revokedAt` to the moment the window closed.
 */
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { distUrl, repoRoot, tempFolder } from '../lib/fixtures.mjs';
import { describe } from '../lib/measure.mjs';

const ACCOUNT = 'rehearsal';
/** The scripted person: pastes the key this long after the prompt opens, having requested it at DIE_AT_MS. */
const PERSON_MS = 2500;
const DIE_AT_MS = 1200;
/** The poll interval plus a round trip: how far the measured window may exceed the true one (it opens at the last poll that saw the key alive). */
const WINDOW_TOLERANCE_MS = 1500;

export async function deadTimes({ quick, log }) {
  const [{ loadConfig }, { loadRunbook }, { executeRun }, { storeCatalog, storeOpener }, { startSandbox }] = await Promise.all([
    import(distUrl('src/config/load.js')),
    import(distUrl('src/runbook/load.js')),
    import(distUrl('src/engine/run.js')),
    import(distUrl('src/cli/stores.js')),
    import(distUrl('src/sandbox/server.js')),
  ]);
  const dir = join(repoRoot, 'runbooks');
  const runbooks = [];
  for (const file of readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .sort())
    runbooks.push(await loadRunbook(join(dir, file)));

  /** One run of `runbook` against a fresh sandbox; resolves with what it measured. */
  const once = async (runbook, { mode, revokeFirst = false, person = 0 }) => {
    const plan = runbook.rehearsal;
    const sandbox = await startSandbox({ overlap: runbook.overlap, keyPrefix: plan.keyPrefix });
    const folder = tempFolder(`dead-${runbook.name}`);
    try {
      const seed = sandbox.mintKey(ACCOUNT);
      const fill = (text) => text.replaceAll('{{ sandbox.url }}', sandbox.url).replaceAll('{{ sandbox.account }}', ACCOUNT);
      const inputs = Object.entries(plan.inputs)
        .map(([k, v]) => `      ${k}: ${JSON.stringify(fill(v))}\n`)
        .join('');
      writeFileSync(join(folder, '.env'), `${plan.variable}=${seed}\n`, { mode: 0o600 });
      const configFile = join(folder, 'rekey.yaml');
      writeFileSync(
        configFile,
        `credentials:\n  c:\n    runbook: ${JSON.stringify(runbook.file)}\n${inputs === '' ? '' : `    inputs:\n${inputs}`}` +
          `    stores:\n      - dotenv: ./.env#${plan.variable}\n${plan.keepPrevious ? '        keepPrevious: true\n' : ''}    policy:\n      budget: 5m\n`,
        { mode: 0o600 },
      );
      mkdirSync(join(folder, '.rekey'), { recursive: true });
      const config = await loadConfig(configFile, storeCatalog);
      const credential = config.credentials.get('c');
      const revokeSteps = new Set(runbook.revoke.map((s) => s.id));
      const mint = async () => {
        const body = runbook.overlap === 'expiring' ? { expireOthersInSeconds: 3600 } : {};
        const r = await fetch(`${sandbox.url}/v1/accounts/${ACCOUNT}/keys`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
        const { key } = /** @type {{ key: string }} */ (await r.json());
        return key;
      };
      const interaction = {
        canAsk: true,
        instruct() {},
        async askSecret() {
          if (person === 0) return mint();
          await new Promise((r) => setTimeout(r, DIE_AT_MS));
          const key = await mint();
          await new Promise((r) => setTimeout(r, person - DIE_AT_MS));
          return key;
        },
        async confirm(stepId) {
          if (revokeSteps.has(stepId))
            await fetch(`${sandbox.url}/v1/keys/self`, { method: 'DELETE', headers: { authorization: `Bearer ${seed}` } }).then((r) => r.arrayBuffer());
          return true;
        },
        async offerReveal() {},
      };
      const events = [];
      const sink = { emit: (event) => events.push({ ...event, receivedAt: Date.now() }) };
      const summary = await executeRun({
        config,
        credential,
        runbook,
        mode,
        interaction,
        sink,
        openStores: storeOpener(config),
        ...(mode === 'incident' ? { since: new Date(Date.now() - 3_600_000) } : {}),
        ...(revokeFirst ? { revokeFirst: true } : {}),
      }).catch((error) => error.summary ?? Promise.reject(error));
      const old = sandbox.keyOf(seed);
      const diedAt = old.revokedAt ?? (old.status === 'expired' ? old.expiresAt : undefined);
      const dead = events.find((e) => e.event === 'old.dead');
      const ended = events.find((e) => e.event === 'outage.ended');
      const started = events.find((e) => e.event === 'outage.started');
      return {
        result: summary.result,
        error: summary.error,
        deadAfterMs: dead?.afterStartMs,
        basis: dead?.basis,
        lagMs: dead !== undefined && diedAt !== undefined ? Date.parse(dead.at) - Date.parse(diedAt) : undefined,
        reportedWindowMs: ended?.ms,
        windowBasis: started?.basis,
        trueWindowMs: ended !== undefined && diedAt !== undefined ? ended.receivedAt - Date.parse(diedAt) : undefined,
      };
    } finally {
      await sandbox.close();
    }
  };

  const reps = quick ? 1 : 3;
  const rows = [];
  const notes = [];
  for (const runbook of runbooks) {
    if (runbook.rehearsal.unsupported !== undefined) {
      notes.push(`${runbook.name}: not rehearsable (${runbook.rehearsal.unsupported.trim().split(/[:;.]/)[0]})`);
      continue;
    }
    if (runbook.verifyRevoked.length === 0) {
      notes.push(`${runbook.name}: no check of the old key (verifyRevoked), so nothing can prove it dead: rekey reports it "not proven"`);
      continue;
    }
    for (const revokeFirst of runbook.overlap !== 'none' && runbook.revoke.length > 0 ? [false, true] : [false]) {
      log(`dead: ${runbook.name}${revokeFirst ? ' --revoke-first' : ''} × ${reps}`);
      const runs = [];
      for (let i = 0; i < reps; i++) runs.push(await once(runbook, { mode: 'incident', revokeFirst }));
      const failed = runs.filter((r) => r.result !== 'done' || r.deadAfterMs === undefined);
      const ok = runs.filter((r) => !failed.includes(r));
      const lag = describe(ok.map((r) => r.lagMs).filter((v) => v !== undefined));
      const head = describe(ok.map((r) => r.deadAfterMs));
      rows.push({
        measure:
          `${runbook.name} (${runbook.overlap}${revokeFirst ? ', --revoke-first' : ''}): ` +
          `time to proven dead, ms after the run started [${ok[0]?.basis ?? '—'}]`,
        ...head,
        target: '(info)',
        pass: failed.length === 0 ? undefined : false,
      });
      rows.push({
        measure: `  ${runbook.name}: proof after the sandbox's record of the death, ms (never < 0)`,
        ...lag,
        target: '≥ 0',
        pass: ok.length > 0 && ok.every((r) => r.lagMs === undefined || r.lagMs >= 0),
      });
      if (failed.length > 0) notes.push(`${runbook.name}: ${failed.length} of ${reps} runs not proven dead: ${failed[0].error ?? failed[0].result}`);
    }
  }

  // 2. The drill's outage window against the sandbox's record, for the overlap-none runbooks a person rotates.
  for (const runbook of runbooks.filter((r) => r.overlap === 'none' && r.rehearsal.unsupported === undefined && r.generate.some((s) => s.kind === 'prompt'))) {
    log(`dead: drill outage window, ${runbook.name} × ${reps}`);
    const runs = [];
    for (let i = 0; i < reps; i++) runs.push(await once(runbook, { mode: 'drill', person: PERSON_MS }));
    const error = runs.map((r) => (r.reportedWindowMs ?? Number.NaN) - (r.trueWindowMs ?? Number.NaN));
    rows.push({
      measure: `${runbook.name} drill: outage window reported, ms [${runs[0]?.windowBasis ?? '—'}] (prompt ${PERSON_MS} ms, key killed at ${DIE_AT_MS} ms)`,
      ...describe(runs.map((r) => r.reportedWindowMs)),
      target: '(info)',
      pass: undefined,
    });
    rows.push({
      measure: `  ${runbook.name} drill: true window (sandbox's revokedAt → closed), ms`,
      ...describe(runs.map((r) => r.trueWindowMs)),
      target: '(info)',
      pass: undefined,
    });
    rows.push({
      measure: `  ${runbook.name} drill: reported − true, ms`,
      ...describe(error),
      target: `within 0..+${WINDOW_TOLERANCE_MS}`,
      pass: error.every((e) => e >= 0 && e <= WINDOW_TOLERANCE_MS),
    });
  }
  return {
    id: 'dead',
    title: 'Time to proven dead, per built-in runbook (rehearsed), and the drill outage window against the sandbox',
    target: 'proof never before the death; drill window within the poll interval of the true one',
    rows,
    pass: rows.every((r) => r.pass !== false),
    notes,
  };
}
