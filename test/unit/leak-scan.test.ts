/**
 * `rekey scan`'s search (src/leak-search/scan.ts): candidates by the runbook's key pattern, unanchored, compared by
 * fingerprint; found as they are, in hex and in base64 (one line or wrapped); another key of the same shape is not a
 * finding; a subject quoting a key comes back redacted; and I3: a git shim logging argv and environment sees no
 * candidate, known or not, even when one sits in rekey's own environment.
 */
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fingerprintMatcher, scanFingerprints, unanchored } from '../../src/leak-search/index.js';

const folders: string[] = [];
afterAll(() => {
  for (const folder of folders) rmSync(folder, { recursive: true, force: true });
});

function folder(): string {
  const dir = mkdtempSync(join(tmpdir(), 'rekey-scan-'));
  folders.push(dir);
  return dir;
}

const PATTERN = /^sbx_[0-9a-f]{40}$/;
const key = () => `sbx_${[...crypto.getRandomValues(new Uint8Array(20))].map((b) => b.toString(16).padStart(2, '0')).join('')}`;
/** Computed here, not with rekey's own function: 16 hex digits of SHA-256. */
const fp = (value: string) => createHash('sha256').update(value, 'utf8').digest('hex').slice(0, 16);

describe('candidates by pattern, compared by fingerprint', () => {
  it('drops the anchors outside character classes, keeps the rest', () => {
    expect(unanchored(/^sbx_[0-9a-f]{40}$/).source).toBe('sbx_[0-9a-f]{40}');
    expect(unanchored(/^(gh[pousr]_[A-Za-z0-9]{36,251}|github_pat_[A-Za-z0-9_]{22,247})$/).source).toBe(
      '(gh[pousr]_[A-Za-z0-9]{36,251}|github_pat_[A-Za-z0-9_]{22,247})',
    );
    expect(unanchored(/^\{"SecretAccessKey":"[^"\\]{16,}"\}$/).source).toBe('\\{"SecretAccessKey":"[^"\\\\]{16,}"\\}');
    expect(unanchored(/^a\$b$/i).flags).toBe('gi');
  });

  it('a known value as itself, in hex, in base64 on one line and wrapped at 76 with CRLF; another key of the same shape is not found', () => {
    const known = key();
    const other = key();
    const match = fingerprintMatcher(PATTERN, new Set([fp(known)]));
    expect(match(Buffer.from(`a\nconst k = "${known}";\n`))).toEqual({ lines: [2], fingerprint: fp(known) });
    expect(match(Buffer.from(`x\n${Buffer.from(known).toString('hex').toUpperCase()}\n`))).toEqual({ lines: [2], fingerprint: fp(known), encoding: 'hex' });
    expect(match(Buffer.from(`env: ${Buffer.from(`API_KEY=${known}`).toString('base64')}\n`))).toMatchObject({ lines: [1], encoding: 'base64' });
    const wrapped = Buffer.from(`${'#'.repeat(100)}\nAPI_KEY=${known}\n`)
      .toString('base64')
      .match(/.{1,76}/g)!;
    // The key's bytes start at byte 109 of the document: in the base64 group at character 144, on the second wrapped line.
    const text = `Content-Transfer-Encoding: base64\r\n\r\n${wrapped.join('\r\n')}\r\n`;
    expect(match(Buffer.from(text))).toEqual({ lines: [4], fingerprint: fp(known), encoding: 'base64' });
    expect(match(Buffer.from(`k = "${other}"\n${Buffer.from(other).toString('hex')}\n${Buffer.from(other).toString('base64')}\n`))).toBeUndefined();
  });
});

describe('scanFingerprints in a repository', () => {
  it('finds a key of an earlier rotation in history by fingerprint; a subject quoting a key is redacted; git sees no candidate', async () => {
    const dir = folder();
    const env = { ...process.env, HOME: dir, GIT_CONFIG_NOSYSTEM: '1' };
    const git = (...args: string[]) => execFileSync('git', ['-C', dir, ...args], { encoding: 'utf8', env });
    git('init', '-q', '-b', 'main');
    git('config', 'user.email', 'dev@example.test');
    git('config', 'user.name', 'Dev');
    const earlier = key();
    const unknown = key();
    mkdirSync(join(dir, 'src'));
    writeFileSync(join(dir, 'src/config.ts'), `export const key = '${earlier}';\nexport const other = '${unknown}';\n`);
    git('add', '-A');
    git('commit', '-q', '-m', `use ${earlier}`);
    writeFileSync(join(dir, 'src/config.ts'), 'export {};\n');
    git('commit', '-qam', 'remove');

    const shims = folder();
    const log = join(shims, 'git.log');
    const realGit = execFileSync('sh', ['-c', 'command -v git'], { encoding: 'utf8' }).trim();
    writeFileSync(
      join(shims, 'git'),
      `#!/bin/sh\n{ printf 'argv:'; printf ' %s' "$@"; printf '\\n'; env; printf '\\n'; } >> ${JSON.stringify(log)}\nexec ${JSON.stringify(realGit)} "$@"\n`,
    );
    chmodSync(join(shims, 'git'), 0o755);
    const result = await scanFingerprints({
      folder: dir,
      pattern: PATTERN,
      fingerprints: new Set([fp(earlier)]),
      git: join(shims, 'git'),
      env: { ...env, OLD_KEY: earlier, SOME_KEY: `prefix ${unknown}`, HARMLESS: 'kept' },
    });
    expect(result.files).toEqual([]);
    expect(result.commits).toHaveLength(1);
    expect(result.commits[0]).toMatchObject({ path: 'src/config.ts', lines: [1], fingerprint: fp(earlier), subject: 'use [redacted key]' });
    expect(result.findings!.map((f) => [f.exposure, f.fingerprint])).toEqual([['local-commit', fp(earlier)]]);
    expect(JSON.stringify(result)).not.toContain(earlier);
    const logged = readFileSync(log, 'utf8');
    expect(logged).toContain('HARMLESS=kept');
    for (const value of [earlier, unknown]) expect(logged.includes(value), 'git saw a key').toBe(false);
  });
});
