/**
 * Every test file gets its own config folder (`XDG_CONFIG_HOME`), inherited by the CLI processes it spawns, so that
 * the chain key rekey creates on first use (src/engine/chain-key.ts) lands in a temporary folder and never in the
 * real `~/.config/rekey` of the machine running the tests.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';

const dir = mkdtempSync(join(tmpdir(), 'rekey-config-'));
process.env['XDG_CONFIG_HOME'] = dir;
afterAll(() => rmSync(dir, { recursive: true, force: true }));
