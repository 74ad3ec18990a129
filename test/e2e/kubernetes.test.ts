/**
 * A sandbox credential held in a .env and in a Kubernetes Secret, with a kubernetes-rollout hook that restarts the
 * Deployment reading it, rotated by the built CLI against the wire-level fake API server (test/fakes/kubernetes-
 * server.ts, whose controllers roll pods on a timer): the Secret's other keys stay, the Deployment is restarted and
 * waited for, an immutable Secret is refused before anything is minted, a rollout that never completes fails the
 * hook within its timeout and the run rolls back, and a bad hook entry is bad input pointing at its line.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type KubernetesRolloutOptions, runKubernetesRollout } from '../../adapters/steps/kubernetes-rollout.js';
import { StepFailedError } from '../../src/contract/steps.js';
import { StoreEnvironmentError } from '../../src/contract/store-errors.js';
import { runHook } from '../../src/runbook/steps/hook.js';
import { type Sandbox, startSandbox } from '../../src/sandbox/server.js';
import { type RunningKubernetesServer, rotatorRules, startKubernetesServer } from '../fakes/kubernetes-server.js';

const CLI = join(import.meta.dirname, '../../dist/src/cli/main.js');
const RESTARTED_AT = 'kubectl.kubernetes.io/restartedAt';

interface World {
  dir: string;
  sandbox: Sandbox;
  k8s: RunningKubernetesServer;
  kubeconfig: string;
  seed: string;
  close(): Promise<void>;
}

interface Options {
  readonly immutable?: boolean;
  readonly stuck?: boolean;
  readonly hook?: readonly string[];
}

async function world(options: Options = {}): Promise<World> {
  const dir = mkdtempSync(join(tmpdir(), 'rekey-k8s-'));
  const sandbox = await startSandbox({ overlap: 'until-revoked' });
  const k8s = await startKubernetesServer({ tickMs: 20 });
  const seed = sandbox.mintKey('demo');
  // Seeded through the model's side door, never through the adapter under test.
  k8s.model.addToken('rotator-token-e2e', 'system:serviceaccount:prod:rekey', rotatorRules('prod'));
  k8s.model.putSecret('prod', 'web', { API_KEY: seed, DATABASE_URL: 'postgres://db.internal/web' }, options.immutable === true ? { immutable: true } : {});
  k8s.model.putWorkload('Deployment', 'prod', 'web', 3);
  if (options.stuck === true) k8s.model.stuck.add('prod/web');
  const kubeconfig = k8s.kubeconfig([{ name: 'prod', token: 'rotator-token-e2e' }]);
  writeFileSync(join(dir, '.env'), `API_KEY=${seed}\nLOG_LEVEL=info\n`, { mode: 0o600 });
  writeFileSync(
    join(dir, 'rekey.yaml'),
    [
      'credentials:',
      '  web-key:',
      '    runbook: sandbox',
      `    inputs: { baseUrl: "${sandbox.url}", account: demo }`,
      '    stores:',
      '      - dotenv: ./.env#API_KEY',
      '      - kubernetes-secret: prod/web#API_KEY',
      '    rollout:',
      ...(options.hook ?? ['      - kubernetes-rollout:', '          namespace: prod', '          deployments: [web]', '          timeout: 20s']),
      '',
    ].join('\n'),
  );
  return {
    dir,
    sandbox,
    k8s,
    kubeconfig,
    seed,
    async close() {
      await Promise.all([sandbox.close(), k8s.close()]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Run the built CLI in the world's folder; KUBECONFIG names the fake. */
function rekey(w: World, args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return runCli([...args, '--config', join(w.dir, 'rekey.yaml')], { KUBECONFIG: w.kubeconfig });
}

/** Run the built CLI without blocking (the fake servers answer from this same process), with no REKEY_ variables; `kubeconfig` set or unset. */
function runCli(args: string[], kube: { KUBECONFIG: string | undefined }): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
    for (const name of Object.keys(env)) if (name.startsWith('REKEY_') || name === 'KUBECONFIG') delete env[name];
    if (kube.KUBECONFIG !== undefined) env['KUBECONFIG'] = kube.KUBECONFIG;
    const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

const dotenvValue = (w: World) => /^API_KEY=(.*)$/m.exec(readFileSync(join(w.dir, '.env'), 'utf8'))![1]!;
const template = (w: World) =>
  (w.k8s.model.workload('Deployment', 'prod', 'web') as { spec: { template: { metadata: { annotations?: Record<string, string> } } } }).spec.template.metadata;

let current: World | undefined;
afterEach(async () => {
  await current?.close();
  current = undefined;
});

// Each case spawns the CLI once or twice, and each spawn loads client-node: room for a loaded machine, not a timing assertion.
describe('a credential in a .env and a Kubernetes Secret, with a kubernetes-rollout hook', { timeout: 90_000 }, () => {
  it("rotates both stores, keeps the Secret's other keys, restarts the Deployment and waits for its rollout", async () => {
    current = await world();
    const w = current;
    const result = await rekey(w, ['rotate', 'web-key']);
    expect(result.status, result.stdout + result.stderr).toBe(0);
    const fresh = dotenvValue(w);
    expect(fresh).not.toBe(w.seed);
    // The Secret holds the new value, its other key as it was, and no previous value once the run retired it.
    expect(w.k8s.model.secretValues('prod', 'web')).toEqual({ API_KEY: fresh, DATABASE_URL: 'postgres://db.internal/web' });
    expect(w.sandbox.isActive(fresh)).toBe(true);
    expect(w.sandbox.isActive(w.seed)).toBe(false);
    // Restarted as kubectl does (the pod template's restartedAt annotation), and rolled out before the run went on.
    const deployment = w.k8s.model.workload('Deployment', 'prod', 'web') as {
      metadata: { generation: number };
      status: { observedGeneration: number; updatedReplicas: number; availableReplicas: number };
    };
    expect(Date.parse(template(w).annotations?.[RESTARTED_AT] ?? '')).not.toBeNaN();
    expect(deployment.metadata.generation).toBe(2);
    const patches = w.k8s.model.log.filter((r) => r.method === 'PATCH');
    expect(patches.map((r) => `${r.path} ${r.contentType}`)).toEqual(['/apis/apps/v1/namespaces/prod/deployments/web application/strategic-merge-patch+json']);
    expect(result.stdout).toMatch(/deployment prod\/web rolled out/);
    expect(result.stdout + result.stderr).not.toContain(fresh);
    expect(result.stdout + result.stderr).not.toContain(w.seed);
  });

  it('refuses an immutable Secret at check and before minting, with a clear message', async () => {
    current = await world({ immutable: true });
    const w = current;
    const check = await rekey(w, ['check', 'web-key']);
    expect(check.status, check.stdout + check.stderr).not.toBe(0);
    expect(check.stdout + check.stderr).toContain('prod/web is immutable');
    const minted = w.sandbox.stats.minted;
    const rotate = await rekey(w, ['rotate', 'web-key']);
    expect(rotate.status, rotate.stdout + rotate.stderr).not.toBe(0);
    expect(rotate.stdout + rotate.stderr).toContain('immutable');
    expect(rotate.stdout + rotate.stderr).not.toMatch(/\n\s+at .*\.js:\d+/);
    expect(w.sandbox.stats.minted).toBe(minted);
    expect(w.k8s.model.secretValues('prod', 'web')?.['API_KEY']).toBe(w.seed);
    expect(w.k8s.model.log.some((r) => r.method === 'PATCH' || r.method === 'PUT')).toBe(false);
  });

  it('a rollout that never becomes available fails the hook at its timeout, and the run rolls the stores back', async () => {
    current = await world({
      stuck: true,
      hook: ['      - kubernetes-rollout:', '          namespace: prod', '          deployments: [web]', '          timeout: 2s'],
    });
    const w = current;
    const result = await rekey(w, ['rotate', 'web-key']);
    expect(result.status, result.stdout + result.stderr).not.toBe(0);
    expect(result.stdout + result.stderr).toMatch(/not rolled out after 0:02: deployment prod\/web/);
    expect(dotenvValue(w)).toBe(w.seed);
    expect(w.k8s.model.secretValues('prod', 'web')).toEqual({ API_KEY: w.seed, DATABASE_URL: 'postgres://db.internal/web' });
    expect(w.sandbox.isActive(w.seed)).toBe(true);
  });

  it('a kubernetes-rollout entry with a bad namespace is bad input (exit 2) pointing at its line', async () => {
    current = await world({ hook: ['      - kubernetes-rollout:', '          namespace: Prod_1', '          deployments: [web]'] });
    const w = current;
    const result = await rekey(w, ['check', 'web-key']);
    expect(result.status, result.stdout + result.stderr).toBe(2);
    expect(result.stdout + result.stderr).toMatch(/rekey\.yaml:10:\d+/);
    expect(result.stdout + result.stderr).toContain('RFC 1123 label');
    expect(w.k8s.model.log).toHaveLength(0);
  });

  it('a rollout entry that is neither exec nor kubernetes-rollout, names no workload, or carries env: is bad input, each at its line', async () => {
    current = await world({
      hook: [
        '      - name: nothing to run',
        '      - kubernetes-rollout: { namespace: prod }',
        '      - kubernetes-rollout: { namespace: prod, deployments: [web] }',
        '        env: { API_KEY: "{{ new }}" }',
      ],
    });
    const result = await rekey(current, ['check', 'web-key']);
    expect(result.status, result.stdout + result.stderr).toBe(2);
    const said = result.stdout + result.stderr;
    expect(said).toMatch(/rekey\.yaml:9:\d+: credentials\.web-key\.rollout\[0\]: a rollout hook is either exec: .* or kubernetes-rollout:/);
    expect(said).toMatch(/rekey\.yaml:10:\d+: .*rollout\[1\]\.kubernetes-rollout: name at least one of deployments: or statefulsets:/);
    expect(said).toMatch(/rekey\.yaml:12:\d+: .*rollout\[2\]\.env: env: is for exec hooks/);
  });
});

describe('the kubernetes-rollout hook in process, against the same fake API server', () => {
  let server: RunningKubernetesServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  async function run(options: Partial<KubernetesRolloutOptions>, token = 'rotator-token-hook', timeoutMs = 10_000) {
    server ??= await startKubernetesServer({ tickMs: 10 });
    server.model.addToken('rotator-token-hook', 'system:serviceaccount:prod:rekey', rotatorRules('prod'));
    server.model.addToken('secrets-only-token', 'system:serviceaccount:prod:secrets', [
      { verbs: ['get', 'update'], resources: ['secrets'], namespace: 'prod' },
    ]);
    const kubeconfig = server.kubeconfig([{ name: 'prod', token }]);
    const notes: string[] = [];
    const outcome = runKubernetesRollout(
      { namespace: 'prod', deployments: [], statefulsets: [], kubeconfig, ...options },
      { id: 'hook:0', name: 'restart', timeoutMs, baseDir: process.cwd(), env: {}, note: (m) => notes.push(m), pollMs: 10 },
    );
    return { outcome, notes };
  }

  it('restarts a StatefulSet and waits until its update revision is current', async () => {
    server = await startKubernetesServer({ tickMs: 10 });
    server.model.putWorkload('StatefulSet', 'prod', 'queue', 2);
    const { outcome, notes } = await run({ statefulsets: ['queue'] });
    expect((await outcome).detail).toMatch(/^1 workload restarted and rolled out/);
    const queue = server.model.workload('StatefulSet', 'prod', 'queue') as {
      spec: { template: { metadata: { annotations: Record<string, string> } } };
      status: { currentRevision: string; updateRevision: string };
    };
    expect(queue.spec.template.metadata.annotations[RESTARTED_AT]).toBeDefined();
    expect(queue.status.currentRevision).toBe('queue-2');
    expect(notes.at(-1)).toMatch(/statefulset prod\/queue rolled out: 2 of 2 pods ready at revision queue-2/);
  });

  it('a workload that is not there, or an identity without patch on deployments, fails the hook naming what to fix', async () => {
    server = await startKubernetesServer({ tickMs: 10 });
    server.model.putWorkload('Deployment', 'prod', 'web', 1);
    const missing = await (await run({ deployments: ['nope'] })).outcome.catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(StepFailedError);
    expect((missing as StepFailedError).message).toContain('deployment prod/nope not found');
    const denied = await (await run({ deployments: ['web'] }, 'secrets-only-token')).outcome.catch((e: unknown) => e);
    expect(denied).toBeInstanceOf(StepFailedError);
    expect((denied as StepFailedError).message).toContain('cannot patch resource "deployments"');
    expect((denied as StepFailedError).hint).toContain('"get", "patch" on deployments');
    expect(server.model.workload('Deployment', 'prod', 'web')).toMatchObject({ metadata: { generation: 1 } });
  });

  it('a kubeconfig that is not there is a fault of the machine (StoreEnvironmentError), not retried', async () => {
    const notes: string[] = [];
    const spec = {
      id: 'hook:0',
      name: 'restart web',
      argv: [],
      env: {},
      timeoutMs: 5_000,
      retries: 2,
      builtin: {
        kind: 'kubernetes-rollout' as const,
        options: { namespace: 'prod', deployments: ['web'], statefulsets: [], kubeconfig: './no-such-kubeconfig' },
      },
    };
    const error = await runHook(spec as never, {} as never, mkdtempSync(join(tmpdir(), 'rekey-k8s-none-')), (m) => notes.push(m)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreEnvironmentError);
    expect((error as Error).message).toMatch(/cannot read the kubeconfig .*no-such-kubeconfig: ENOENT/);
    expect(notes.filter((note) => note.includes('trying again'))).toEqual([]);
  });
});

describe('a kubernetes-rollout hook on a machine without its kubeconfig', { timeout: 90_000 }, () => {
  it('exits 5 (environment), naming the hook and the file, and rolls the .env back', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rekey-k8s-nokube-'));
    const sandbox = await startSandbox({ overlap: 'until-revoked' });
    try {
      const seed = sandbox.mintKey('demo');
      writeFileSync(join(dir, '.env'), `API_KEY=${seed}\n`, { mode: 0o600 });
      writeFileSync(
        join(dir, 'rekey.yaml'),
        [
          'credentials:',
          '  web-key:',
          '    runbook: sandbox',
          `    inputs: { baseUrl: "${sandbox.url}", account: demo }`,
          '    stores: [{ dotenv: ./.env#API_KEY }]',
          '    rollout:',
          '      - name: restart web',
          '        kubernetes-rollout: { namespace: prod, deployments: [web], kubeconfig: ./kube/config }',
          '        retries: 2',
          '',
        ].join('\n'),
      );
      const run = await runCli(['rotate', 'web-key', '--config', join(dir, 'rekey.yaml')], { KUBECONFIG: undefined });
      const result = { status: run.status, out: run.stdout + run.stderr };
      expect(result.status, result.out).toBe(5);
      expect(result.out).toMatch(/✗ restart web .*\n\s+connect kubernetes-rollout: cannot read the kubeconfig \.\/kube\/config: ENOENT\n/);
      expect(result.out).toMatch(/\n\s+hint: set kubeconfig under kubernetes-rollout in rekey\.yaml, or KUBECONFIG/);
      expect(result.out).not.toContain('trying again');
      expect(result.out).not.toMatch(/\n\s+at /);
      // Rolled back: the .env holds the old key, which still works; the new one was revoked.
      expect(readFileSync(join(dir, '.env'), 'utf8')).toBe(`API_KEY=${seed}\n`);
      expect(sandbox.isActive(seed)).toBe(true);
    } finally {
      await sandbox.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
