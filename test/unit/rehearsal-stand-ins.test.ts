/**
 * What `rekey rehearse <credential>` puts in place of the real world: the stand-in of each store (a copy of a `.env`
 * without any real value; the in-memory store, write-only where the real store is), the inputs that send every
 * provider call to the sandbox, and the guard that lets the process fetch nothing else.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { rehearsalStores } from '../../adapters/stores/index.js';
import { parseRef } from '../../src/contract/store.js';
import { Secret } from '../../src/contract/secret.js';
import { loadRunbook, builtInRunbookDir } from '../../src/runbook/load.js';
import { confineFetch, rehearsedInputs } from '../../src/cli/rehearsal-kit.js';

const REAL = `rk_canary_${'3c'.repeat(20)}`;
const OTHER = `rk_canary_other_${'9d'.repeat(10)}`;
const dirs: string[] = [];
const undo: Array<() => void> = [];
afterEach(() => {
  for (const u of undo.splice(0)) u();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function temp(): string {
  const dir = mkdtempSync(join(tmpdir(), 'rekey-stand-ins-'));
  dirs.push(dir);
  return dir;
}

function dotenvEntry(ref: string, options: Record<string, unknown> = {}) {
  return { ref: parseRef('dotenv', ref), options };
}

describe('the stand-in of a .env', () => {
  it('is a copy holding the seed for the real value: same layout, other values left out, the previous variable dropped, the real file untouched', async () => {
    const project = temp();
    const folder = temp();
    const real = `\uFEFF# settings\r\nexport  OTHER="${OTHER}" # note\r\nAPI_KEY='${REAL}'\r\nAPI_KEY_PREVIOUS=${REAL}\r\nEMPTY=\r\nLAST=${OTHER}`;
    writeFileSync(join(project, '.env'), real);
    const seed = new Secret(`sbx_${'1'.repeat(40)}`);
    const [stand] = await rehearsalStores([dotenvEntry('./.env#API_KEY', { keepPrevious: true })], { baseDir: project, env: {}, folder }, seed);
    expect(readFileSync(join(project, '.env'), 'utf8')).toBe(real);
    const copy = stand!.standIn.ref.slice(0, stand!.standIn.ref.lastIndexOf('#'));
    expect(copy.startsWith(folder)).toBe(true);
    expect(readFileSync(copy, 'utf8')).toBe(`\uFEFF# settings\r\nexport  OTHER= # note\r\nAPI_KEY='${seed.reveal()}'\r\nEMPTY=\r\nLAST=`);
    expect(stand!.standIn.kind).toBe('dotenv');
    expect(stand!.standIn.options).toEqual({ keepPrevious: true });
    expect(stand!.standIn.watched).toEqual([join(project, '.env')]);
    expect(stand!.standIn.values()).toEqual([seed.reveal()]);
  });

  it('two entries of one file share one copy, each variable seeded; a variable the file lacks is added to the copy and said so', async () => {
    const project = temp();
    const folder = temp();
    writeFileSync(join(project, 'app.env'), `A=${REAL}\nB=${OTHER}\n`);
    const seed = new Secret(`sbx_${'2'.repeat(40)}`);
    const stands = await rehearsalStores(
      [dotenvEntry('./app.env#A'), dotenvEntry('./app.env#B'), dotenvEntry('./app.env#C')],
      { baseDir: project, env: {}, folder },
      seed,
    );
    const files = new Set(stands.map((s) => s.standIn.ref.replace(/#\w+$/, '')));
    expect(files.size).toBe(1);
    expect(readFileSync([...files][0]!, 'utf8')).toBe(`A=${seed.reveal()}\nB=${seed.reveal()}\nC=${seed.reveal()}\n`);
    expect(stands[2]!.standIn.description).toContain('the real file does not set C: added to the copy');
    expect(stands[0]!.standIn.description).not.toContain('added');
  });
});

describe('a store without a stand-in of its own', () => {
  it('is played by the in-memory store, seeded in the field the real entry names, and write-only where the real store is', async () => {
    const folder = temp();
    const seed = new Secret(`sbx_${'3'.repeat(40)}`);
    const stands = await rehearsalStores(
      [
        { ref: parseRef('vault-kv', 'secret/web/app#api_key'), options: {} },
        { ref: parseRef('github-actions-secrets', 'acme/web#API_KEY'), options: {} },
      ],
      { baseDir: folder, env: {}, folder },
      seed,
    );
    expect(stands.map((s) => s.standIn.kind)).toEqual(['memory', 'memory']);
    expect(stands[0]!.standIn.ref).toBe('store-1#api_key');
    expect(stands[0]!.standIn.options['writeOnly']).toBeUndefined();
    expect(stands[0]!.standIn.values()).toEqual([seed.reveal()]);
    expect(stands[1]!.standIn.options['writeOnly']).toBe(true);
    expect(stands[1]!.standIn.description).toContain('write-only as the real one is');
    // Nothing was written beside the folder's own files: memory stand-ins live in this process only.
    expect(readdirSync(folder)).toEqual([]);
  });
});

describe('the inputs of a rehearsed credential', () => {
  it("send every provider call to the sandbox (URL and account replaced), and keep the credential's other inputs", async () => {
    const runbook = await loadRunbook(join(builtInRunbookDir(), 'streampixel.yaml'));
    const own = { baseUrl: 'https://api.streampixel.io/pixelStripeApi', userId: 'real-user', projectId: 'real-project' };
    expect(rehearsedInputs(runbook, own, 'http://127.0.0.1:4000')).toEqual({
      baseUrl: 'http://127.0.0.1:4000/pixelStripeApi',
      userId: 'rehearsal',
      projectId: 'real-project',
    });
    expect(rehearsedInputs(runbook, {}, 'http://127.0.0.1:4000')['projectId']).toBe('rehearsal-project');
  });
});

describe('the fetch guard of a rehearsal', () => {
  it('refuses any origin but the sandbox before a byte is sent, and lets the sandbox through', async () => {
    const hits: string[] = [];
    const server = createServer((request, response) => {
      hits.push(request.url ?? '');
      response.end('ok');
    });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    const other = createServer((request, response) => {
      hits.push(`other ${request.url}`);
      response.end('no');
    });
    await new Promise<void>((done) => other.listen(0, '127.0.0.1', done));
    try {
      const sandboxUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const elsewhere = `http://127.0.0.1:${(other.address() as AddressInfo).port}`;
      undo.push(confineFetch(sandboxUrl));
      expect(await (await fetch(`${sandboxUrl}/v1/whoami`)).text()).toBe('ok');
      const refused = await fetch(`${elsewhere}/v1/whoami`).catch((error: Error & { cause?: { message?: string } }) => error);
      expect(refused).toBeInstanceOf(TypeError);
      expect((refused as TypeError & { cause: { message: string } }).cause.message).toBe(`refused in a rehearsal: ${elsewhere} is not the sandbox`);
      await expect(fetch(new Request(`${elsewhere}/x`))).rejects.toThrow(TypeError);
      expect(hits).toEqual(['/v1/whoami']);
      undo.pop()!();
      expect(await (await fetch(`${elsewhere}/after`)).text()).toBe('no');
    } finally {
      server.close();
      other.close();
    }
  });
});
