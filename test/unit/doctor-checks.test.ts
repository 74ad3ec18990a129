/**
 * The doctor's pure parts: findings merged per place and problem, the exit code a CI job gates on, a token's random
 * bytes by its alphabet, which paths are client code, and init's reading of .env variables against the real runbooks.
 */
import { describe, expect, it } from 'vitest';
import { builtInRunbookDir, listRunbooks, loadRunbook } from '../../src/runbook/load.js';
import type { Runbook } from '../../src/contract/runbook.js';
import { dedupe, exitCodeOf, type Finding } from '../../src/doctor/finding.js';
import { tokenBytes } from '../../src/doctor/checks.js';
import { isClientCode } from '../../src/doctor/git.js';
import { credentialId, inputFromEnv, readProject } from '../../src/doctor/detect.js';

const mode = (credential: string): Finding => ({
  check: 'env-file',
  severity: 'error',
  where: { file: '.env', line: 1, column: 1 },
  credentials: [credential],
  message: '.env has mode 0644',
});

describe('findings', () => {
  it('one finding per check, place and message, naming every credential it concerns', () => {
    const merged = dedupe([mode('b'), mode('a'), mode('b'), { ...mode('c'), where: { file: 'other/.env', line: 1, column: 1 } }]);
    expect(merged.map((f) => [f.where?.file, f.credentials])).toEqual([
      ['.env', ['a', 'b']],
      ['other/.env', ['c']],
    ]);
  });

  it('sorts places by line number, not as text', () => {
    const at = (line: number): Finding => ({ ...mode('a'), message: `m${line}`, where: { file: 'rekey.yaml', line, column: 1 } });
    expect(dedupe([at(13), at(3), at(9)]).map((f) => f.where?.line)).toEqual([3, 9, 13]);
  });

  it('exits 1 on an error, on a warning only with strict, never on a todo', () => {
    const todo: Finding = { ...mode('a'), severity: 'todo' };
    const warn: Finding = { ...mode('a'), severity: 'warn' };
    expect(exitCodeOf([todo], true)).toBe(0);
    expect(exitCodeOf([warn], false)).toBe(0);
    expect(exitCodeOf([warn], true)).toBe(1);
    expect(exitCodeOf([todo, mode('a')], false)).toBe(1);
  });
});

describe('webhook tokens and client code', () => {
  it('counts 4 bits per hex digit and 6 per base64url character', () => {
    expect(tokenBytes('0a1b2c3d4e')).toBe(5);
    expect(tokenBytes('ab'.repeat(24))).toBe(24);
    expect(tokenBytes('A-_z'.repeat(8))).toBe(24);
  });

  it('tells what a browser or an app receives from server code', () => {
    for (const path of ['dist/bundle.js', 'web/build/static/js/main.js', 'public/config.js', '.next/server/chunk.js', 'ios/main.jsbundle'])
      expect(isClientCode(path), path).toBe(true);
    for (const path of ['src/server.ts', 'config/settings.js', '.env.bak', 'distribution.md']) expect(isClientCode(path), path).toBe(false);
  });
});

describe('init: reading .env variables', async () => {
  const runbooks = new Map<string, Runbook>();
  for (const [name, file] of listRunbooks([builtInRunbookDir()])) if (!name.startsWith('sandbox')) runbooks.set(name, await loadRunbook(file));
  const read = (vars: Record<string, string>, chosen?: Map<string, string>) => readProject([{ file: '.env', vars }], runbooks, chosen);

  it('by name, by the value’s shape alone, and both', () => {
    const { detections } = read({ STRIPE_SECRET_KEY: `sk_live_${'a'.repeat(24)}`, DEPLOY_BOT: `ghp_${'b'.repeat(36)}`, DISCORD_TOKEN: 'not-a-token' });
    expect(detections.map((d) => [d.variable, d.runbook, d.by])).toEqual([
      ['STRIPE_SECRET_KEY', 'stripe', 'name and pattern'],
      ['DEPLOY_BOT', 'github-token', 'pattern'],
      ['DISCORD_TOKEN', 'discord-bot', 'name'],
    ]);
    expect(detections[2]!.doubt).toMatch(/does not match runbook discord-bot's key pattern/);
  });

  it('leaves out public values and AWS key pairs, and says which secrets it cannot place', () => {
    const reading = read({ STRIPE_PUBLISHABLE_KEY: 'pk_live_x', AWS_SECRET_ACCESS_KEY: 'x', SESSION_SECRET: 'y'.repeat(30), LOG_LEVEL: 'debug' });
    expect(reading.detections).toEqual([]);
    expect(reading.skipped.map((s) => s.variable)).toEqual(['AWS_SECRET_ACCESS_KEY']);
    expect(reading.undecided.map((u) => u.variable)).toEqual(['SESSION_SECRET']);
  });

  it('a long random value claimed by no specific pattern is not guessed to be PayPal or Streampixel', () => {
    expect(read({ SOMETHING: 'Zx9'.repeat(20) }).detections).toEqual([]);
  });

  it('the person’s choice wins, per variable or per file and variable', () => {
    const chosen = new Map([
      ['.env#SESSION_SECRET', 'paypal'],
      ['STRIPE_SECRET_KEY', 'skip'],
    ]);
    const reading = read({ SESSION_SECRET: 'y'.repeat(40), STRIPE_SECRET_KEY: `sk_live_${'a'.repeat(24)}` }, chosen);
    expect(reading.detections.map((d) => [d.variable, d.runbook, d.by])).toEqual([['SESSION_SECRET', 'paypal', 'flag']]);
    expect(reading.skipped.map((s) => s.variable)).toEqual(['STRIPE_SECRET_KEY']);
  });

  it('finds a required input beside the key, never in a secret-named variable', () => {
    const vars = { PAYPAL_CLIENT_ID: 'app-1', PAYPAL_SECRET: 's', OTHER_CLIENT_ID_TOKEN: 'z' };
    expect(inputFromEnv(vars, 'clientId', new Set(['PAYPAL_SECRET']))).toEqual({ variable: 'PAYPAL_CLIENT_ID', value: 'app-1' });
    expect(inputFromEnv({ CLIENT_ID_TOKEN: 'z' }, 'clientId', new Set())).toBeUndefined();
  });

  it('names credentials after the variable, the .env suffix and its folder', () => {
    expect(credentialId('.env', 'STRIPE_SECRET_KEY')).toBe('stripe-secret-key');
    expect(credentialId('deploy/.env.production', 'STRIPE_SECRET_KEY')).toBe('stripe-secret-key-production-deploy');
  });
});
