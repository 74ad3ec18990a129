/**
 * The mint window (issue 8, defects 1 and 6): a run killed inside the minting call, after the provider minted and
 * before rekey received the key. Made deterministic by a proxy in front of the sandbox that, when the mint's answer
 * comes back from the provider, SIGKILLs the rekey process and drops the connection: the key exists at the provider
 * and nowhere else. Then: what resume and rollback do, counted at the provider.
 */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Sandbox } from '../../src/sandbox/server.js';
import {
  ACCOUNT,
  envValue,
  fingerprint as fingerprintOf,
  journal,
  onlyRun,
  rekeyIn,
  removeWorkspaces,
  ROOT,
  sandboxPool,
  show,
  workspace,
  type Workspace,
} from './helpers.js';

const sandbox = sandboxPool();
afterEach(removeWorkspaces);

interface KillingProxy {
  readonly url: string;
  /** The pid to kill when the next mint's answer arrives; 0 disarms. */
  pid: number;
  /** The keys the provider minted through this proxy (what a person would find in the dashboard). */
  readonly minted: string[];
  close(): Promise<void>;
}

/** A proxy to the sandbox that kills `pid` once the provider has answered a mint, before the answer is passed on. */
async function killingProxy(target: Sandbox): Promise<KillingProxy> {
  const state = { pid: 0, minted: [] as string[] };
  const upstream = new URL(target.url);
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const forward = httpRequest({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
        const body: Buffer[] = [];
        answer.on('data', (c: Buffer) => body.push(c));
        answer.on('end', () => {
          const text = Buffer.concat(body).toString('utf8');
          const isMint = req.method === 'POST' && /\/v1\/accounts\/[^/]+\/keys$/.test(req.url ?? '');
          if (isMint && answer.statusCode === 201) state.minted.push((JSON.parse(text) as { key: string }).key);
          if (isMint && state.pid !== 0) {
            // The provider has minted; rekey dies before it hears of it.
            process.kill(state.pid, 'SIGKILL');
            state.pid = 0;
            req.socket.destroy();
            return;
          }
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          res.end(text);
        });
      });
      forward.on('error', () => res.destroy());
      forward.end(Buffer.concat(chunks));
    });
  });
  await new Promise<void>((ready) => server.listen(0, '127.0.0.1', ready));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    get pid() {
      return state.pid;
    },
    set pid(value: number) {
      state.pid = value;
    },
    minted: state.minted,
    close: () => new Promise((done) => server.close(() => done())),
  };
}

/** A test-only copy of a built-in sandbox runbook whose mint has no idempotency key (so a repeat mints again). */
function plainRunbook(from: 'sandbox' | 'sandbox-none', edit: (text: string) => string = (t) => t): string {
  const dir = mkdtempSync(join(tmpdir(), 'rekey-runbooks-'));
  const text = readFileSync(join(ROOT, 'runbooks', `${from}.yaml`), 'utf8');
  const plain = text.replace(`name: ${from}\n`, `name: ${from}-plain\n`).replace(/^\s*headers: \{ Idempotency-Key: .*\}\n/m, '');
  if (/headers: \{ Idempotency-Key/.test(plain)) throw new Error('the test runbook still sends an idempotency key');
  writeFileSync(join(dir, `${from}-plain.yaml`), edit(plain));
  return dir;
}

/** A workspace whose provider URL is the proxy's. */
function proxied(s: Sandbox, proxy: KillingProxy, runbook: string, runbooks?: string): Workspace {
  const view = Object.create(s, { url: { value: proxy.url } }) as Sandbox;
  return workspace({ sandbox: view, runbook, ...(runbooks === undefined ? {} : { runbooks }) });
}

async function killedInMint(ws: Workspace, proxy: KillingProxy) {
  const killed = await rekeyIn(ws, ['rotate', ws.credential], { onSpawn: (pid) => (proxy.pid = pid) });
  expect(killed.signal, show(killed)).toBe('SIGKILL');
  const run = onlyRun(ws);
  const rows = journal(ws, run);
  // The intent is journaled before the call, and nothing after it: the crash was inside the call.
  expect(rows.at(-1)).toMatchObject({ type: 'mint.intent' });
  return run;
}

/** Keys minted by requests (the seed comes from `mintKey`). */
const mintedOverHttp = (s: Sandbox) => s.keys(ACCOUNT).filter((k) => k.mintedBy === 'http').length;
const live = (s: Sandbox) => s.keys(ACCOUNT).filter((k) => k.status === 'active');

describe('killed inside the mint call, after the provider minted (defect 1)', () => {
  it('an idempotent mint: resume gets the same key back, and exactly one key is minted and live', async () => {
    const s = await sandbox({ overlap: 'until-revoked' });
    const proxy = await killingProxy(s);
    try {
      const ws = proxied(s, proxy, 'sandbox');
      const run = await killedInMint(ws, proxy);
      expect(proxy.minted).toHaveLength(1);
      const resumed = await rekeyIn(ws, ['resume', run]);
      expect(resumed.code, show(resumed)).toBe(0);
      expect(envValue(ws)).toBe(proxy.minted[0]);
      expect(mintedOverHttp(s)).toBe(1);
      expect(live(s).map((k) => k.matches(proxy.minted[0]!))).toEqual([true]);
      expect(s.isActive(ws.seed)).toBe(false);
    } finally {
      await proxy.close();
    }
  }, 60_000);

  it('a mint that is not idempotent: resume refuses to mint a second key and names the orphan; --mint-again after it is revoked', async () => {
    const s = await sandbox({ overlap: 'until-revoked' });
    const proxy = await killingProxy(s);
    try {
      const ws = proxied(s, proxy, 'sandbox-plain', plainRunbook('sandbox'));
      const run = await killedInMint(ws, proxy);
      const refused = await rekeyIn(ws, ['resume', run]);
      expect(refused.code, show(refused)).toBe(3);
      expect(refused.stderr).toMatch(/may have minted a key at \d{4}-\d\d-\d\dT/);
      expect(refused.stderr).toContain(`rekey resume ${run} --mint-again`);
      expect(mintedOverHttp(s)).toBe(1);
      expect(envValue(ws)).toBe(ws.seed);
      // The person revokes the orphan in the dashboard, then tells rekey to mint again.
      const revoked = await fetch(`${s.url}/v1/keys/self`, { method: 'DELETE', headers: { authorization: `Bearer ${proxy.minted[0]}` } });
      expect(revoked.status).toBe(204);
      const resumed = await rekeyIn(ws, ['resume', run, '--mint-again']);
      expect(resumed.code, show(resumed)).toBe(0);
      const fresh = envValue(ws)!;
      expect(fresh).not.toBe(proxy.minted[0]);
      expect(live(s).map((k) => k.matches(fresh))).toEqual([true]);
      expect(s.isActive(ws.seed)).toBe(false);
    } finally {
      await proxy.close();
    }
  }, 60_000);

  it('overlap none, not idempotent: minting again kills the orphan, so resume mints and one key is live', async () => {
    const s = await sandbox({ overlap: 'none' });
    const proxy = await killingProxy(s);
    try {
      const ws = proxied(s, proxy, 'sandbox-none-plain', plainRunbook('sandbox-none'));
      const run = await killedInMint(ws, proxy);
      const resumed = await rekeyIn(ws, ['resume', run]);
      expect(resumed.code, show(resumed)).toBe(0);
      expect(resumed.stdout).toContain('minting again kills it');
      const fresh = envValue(ws)!;
      expect(live(s).map((k) => k.matches(fresh))).toEqual([true]);
      expect(s.isActive(proxy.minted[0]!)).toBe(false);
    } finally {
      await proxy.close();
    }
  }, 60_000);

  it('rollback of a run killed inside an idempotent mint recovers that key and discards it (defect 6)', async () => {
    const s = await sandbox({ overlap: 'until-revoked' });
    const proxy = await killingProxy(s);
    try {
      const ws = proxied(s, proxy, 'sandbox');
      const run = await killedInMint(ws, proxy);
      const rolled = await rekeyIn(ws, ['rollback', run]);
      expect(rolled.code, show(rolled)).toBe(0);
      expect(s.isActive(proxy.minted[0]!)).toBe(false);
      expect(live(s).map((k) => k.matches(ws.seed))).toEqual([true]);
      expect(envValue(ws)).toBe(ws.seed);
    } finally {
      await proxy.close();
    }
  }, 60_000);
});

describe('rollback never gives up a key the provider has not discarded (defect 6)', () => {
  it('`rekey rollback` of a run killed after its mint discards the new key at the provider', async () => {
    const s = await sandbox({ overlap: 'until-revoked' });
    const ws = workspace({ sandbox: s, runbook: 'sandbox' });
    // Record 9: the promote is done; the new key is current in the .env.
    const killed = await rekeyIn(ws, ['rotate', ws.credential], { env: { REKEY_TEST_KILL_AFTER_RECORD: '9' } });
    expect(killed.signal, show(killed)).toBe('SIGKILL');
    const fresh = envValue(ws)!;
    expect(fresh).not.toBe(ws.seed);
    const rolled = await rekeyIn(ws, ['rollback', onlyRun(ws)]);
    expect(rolled.code, show(rolled)).toBe(0);
    expect(s.isActive(fresh)).toBe(false);
    expect(envValue(ws)).toBe(ws.seed);
    expect(live(s).map((k) => k.matches(ws.seed))).toEqual([true]);
  }, 60_000);

  it('a discard that fails stops the rollback with the stores untouched; once it can, rollback finishes', async () => {
    const s = await sandbox({ overlap: 'until-revoked' });
    // Verify fails for keys minted over HTTP, and the discard goes to a provider URL that refuses connections.
    s.rejectMintedOverHttp = true;
    const dir = plainRunbook('sandbox', (text) => text.replace(/(discard-new[\s\S]*?url: )"\{\{ inputs\.baseUrl \}\}/, '$1"http://127.0.0.1:9'));
    const ws = workspace({ sandbox: s, runbook: 'sandbox-plain', runbooks: dir });
    const failed = await rekeyIn(ws, ['rotate', ws.credential]);
    expect(failed.code, show(failed)).toBe(1);
    expect(failed.stdout + failed.stderr).toContain('rollback did not complete');
    expect(failed.stdout + failed.stderr).toContain(`rekey rollback ${onlyRun(ws)}`);
    const fresh = envValue(ws)!;
    // Nothing was given up: the new key is still in the .env, and the old one is kept beside it.
    expect(fresh).not.toBe(ws.seed);
    expect(s.isActive(fresh)).toBe(true);
    expect(readFileSync(join(ws.dir, `.env.SANDBOX_API_KEY.rekey-previous`), 'utf8')).toContain('SANDBOX_API_KEY');
    // The provider is reachable again: the rollback finishes.
    const file = join(dir, 'sandbox-plain.yaml');
    writeFileSync(file, readFileSync(file, 'utf8').replace('http://127.0.0.1:9', '{{ inputs.baseUrl }}'));
    const rolled = await rekeyIn(ws, ['rollback', onlyRun(ws)]);
    expect(rolled.code, show(rolled)).toBe(0);
    expect(s.isActive(fresh)).toBe(false);
    expect(envValue(ws)).toBe(ws.seed);
  }, 60_000);
});

describe('a rolled-back run can be cleaned up again (defect 4)', () => {
  it('`rekey rollback` of a rolled-back run removes a value of that run that a late write left staged', async () => {
    const s = await sandbox({ overlap: 'until-revoked' });
    const ws = workspace({ sandbox: s, runbook: 'sandbox', rollout: [{ name: 'restart workers', exec: ['node', '-e', 'process.exit(3)'] }] });
    const failed = await rekeyIn(ws, ['rotate', ws.credential]);
    expect(failed.code, show(failed)).toBe(1);
    const run = onlyRun(ws);
    expect(journal(ws, run).at(-1)).toMatchObject({ type: 'run.finished', result: 'rolled-back' });
    // A stage of this run that landed after its rollback, as the .env store writes one.
    const late = 'sbx_late_stage_canary_0000000000000000000000';
    const staged = join(ws.dir, '.env.SANDBOX_API_KEY.rekey-staged');
    const record = {
      rekey: 'dotenv-staged',
      run,
      variable: 'SANDBOX_API_KEY',
      base: fingerprintOf(ws.seed),
      version: fingerprintOf(late),
      value: late,
      stagedAt: new Date().toISOString(),
    };
    writeFileSync(staged, `${JSON.stringify(record, null, 2)}\n`, { mode: 0o600 });
    const blocked = await rekeyIn(ws, ['check']);
    expect(blocked.code, show(blocked)).toBe(1);
    const cleaned = await rekeyIn(ws, ['rollback', run]);
    expect(cleaned.code, show(cleaned)).toBe(0);
    expect(cleaned.stdout).toContain('cleaning up after an earlier rollback');
    expect(existsSync(staged)).toBe(false);
    expect(envValue(ws)).toBe(ws.seed);
    const check = await rekeyIn(ws, ['check']);
    expect(check.code, show(check)).toBe(0);
  }, 60_000);
});
