/**
 * The built-in rollout hook `kubernetes-rollout`: restart named Deployments and StatefulSets, as
 * `kubectl rollout restart` does, and wait until each has rolled out, as `kubectl rollout status` does. Consumers that
 * read a Secret as environment variables see a new value only in new pods, so a rotation restarts them.
 *
 * ```yaml
 * rollout:
 *   - kubernetes-rollout:
 *       namespace: prod
 *       deployments: [web, worker]
 *       statefulsets: [queue]
 *       timeout: 5m          # for the whole rollout; default 5m
 *       context: prod        # optional, as for the kubernetes-secret store
 *       kubeconfig: ./kube   # optional, relative to rekey.yaml
 * ```
 *
 * The restart is a strategic merge patch of the pod template's annotation `kubectl.kubernetes.io/restartedAt` (an
 * RFC 3339 time), which is what kubectl sends (kubectl's `rollout restart`, polymorphichelpers/objectrestarter.go); the
 * new template makes the controller roll every pod. Done, per kubectl's rollout status (rollout_status.go):
 * - a Deployment when `status.observedGeneration >= metadata.generation` (of the patched object) and
 *   `updatedReplicas`, `replicas` and `availableReplicas` all equal `spec.replicas` (no old pod left, all available);
 * - a StatefulSet when `observedGeneration >= generation`, `readyReplicas == spec.replicas` and
 *   `updateRevision == currentRevision` (with the RollingUpdate strategy; OnDelete never rolls by itself, so it is
 *   refused rather than waited for).
 * Progress is reported as it changes; at the timeout the hook fails, which is the run's usual hook-failure path. A
 * rollback runs the same hook again, so consumers restart on the value rolled back to.
 *
 * The identity needs `get` and `patch` on `deployments` and `statefulsets` (API group `apps`) in the namespace.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { StepFailedError, type StepOutcome } from '../../src/contract/steps.js';
import { StoreEnvironmentError } from '../../src/contract/store-errors.js';
import { formatClock } from '../../src/util/duration.js';
import { type KubernetesConnection, loadKubeConfig } from '../stores/kubernetes-secret/client.js';
import { statusOf } from '../stores/kubernetes-secret/errors.js';

export const RESTARTED_AT = 'kubectl.kubernetes.io/restartedAt';

export type WorkloadKind = 'deployment' | 'statefulset';

/** The fields of a Deployment or StatefulSet the rollout status needs. */
export interface Workload {
  readonly metadata?: { readonly generation?: number | undefined } | undefined;
  readonly spec?: { readonly replicas?: number | undefined; readonly updateStrategy?: { readonly type?: string | undefined } | undefined } | undefined;
  readonly status?:
    | {
        readonly observedGeneration?: number | undefined;
        readonly replicas?: number | undefined;
        readonly updatedReplicas?: number | undefined;
        readonly readyReplicas?: number | undefined;
        readonly availableReplicas?: number | undefined;
        readonly currentRevision?: string | undefined;
        readonly updateRevision?: string | undefined;
      }
    | undefined;
}

/** The two calls the hook makes; failures carry client-node's ApiException `code` and Status `body`. */
export interface RolloutClient {
  get(kind: WorkloadKind, namespace: string, name: string): Promise<Workload>;
  /** PATCH (strategic merge) the pod template's restartedAt annotation; resolves with the patched object. */
  restart(kind: WorkloadKind, namespace: string, name: string, at: string): Promise<Workload>;
}

/** The hook's options, as the config loader checked them. */
export interface KubernetesRolloutOptions {
  readonly namespace: string;
  readonly deployments: readonly string[];
  readonly statefulsets: readonly string[];
  readonly context?: string | undefined;
  readonly kubeconfig?: string | undefined;
}

/** What the hook runner hands the hook. */
export interface RolloutRun {
  /** The step id (`hook:0`) and the hook's name, for messages. */
  readonly id: string;
  readonly name: string;
  readonly timeoutMs: number;
  readonly baseDir: string;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** A progress line for the person. */
  note(message: string): void;
  /** Tests pass a client (and a clock); else client-node's, built from the kubeconfig. */
  readonly client?: RolloutClient;
  readonly now?: () => number;
  readonly pollMs?: number;
}

/** Where one workload is in its rollout: done, or the words kubectl would print while waiting. */
export function rolloutProgress(kind: WorkloadKind, workload: Workload, generation: number): { done: boolean; words: string } {
  const spec = workload.spec ?? {};
  const status = workload.status ?? {};
  const want = spec.replicas ?? 1;
  if ((status.observedGeneration ?? 0) < generation) return { done: false, words: 'waiting for the controller to observe the restart' };
  if (kind === 'deployment') {
    const updated = status.updatedReplicas ?? 0;
    const available = status.availableReplicas ?? 0;
    if (updated < want) return { done: false, words: `${updated} of ${want} new replicas updated` };
    if ((status.replicas ?? 0) > updated) return { done: false, words: `${(status.replicas ?? 0) - updated} old replicas pending termination` };
    if (available < updated) return { done: false, words: `${available} of ${updated} updated replicas available` };
    return { done: true, words: `${want} of ${want} replicas updated and available` };
  }
  const ready = status.readyReplicas ?? 0;
  if (ready < want) return { done: false, words: `${ready} of ${want} pods ready` };
  if (status.updateRevision !== status.currentRevision) {
    return { done: false, words: `${status.updatedReplicas ?? 0} of ${want} pods at revision ${status.updateRevision ?? '?'}` };
  }
  return { done: true, words: `${want} of ${want} pods ready at revision ${status.updateRevision ?? '?'}` };
}

/** A client over client-node's AppsV1Api (object-style parameters, as in 1.x), imported on first use. */
async function connect(connection: KubernetesConnection): Promise<RolloutClient> {
  const config = await loadKubeConfig(connection, 'kubernetes-rollout');
  const k8s = await import('@kubernetes/client-node');
  const apps = config.makeApiClient(k8s.AppsV1Api);
  // kubectl sends the restart as a strategic merge patch; client-node would send a JSON Patch unless told.
  const strategic = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.StrategicMergePatch);
  const body = (at: string) => ({ spec: { template: { metadata: { annotations: { [RESTARTED_AT]: at } } } } });
  return {
    get: async (kind, namespace, name) =>
      kind === 'deployment' ? apps.readNamespacedDeployment({ namespace, name }) : apps.readNamespacedStatefulSet({ namespace, name }),
    restart: async (kind, namespace, name, at) =>
      kind === 'deployment'
        ? apps.patchNamespacedDeployment({ namespace, name, body: body(at) }, strategic)
        : apps.patchNamespacedStatefulSet({ namespace, name, body: body(at) }, strategic),
  };
}

/** A failed call as the step failure the run reports: the workload, the API's words, and what to grant or check. */
function failed(run: RolloutRun, doing: string, kind: WorkloadKind, namespace: string, name: string, error: unknown): StepFailedError {
  if (error instanceof StepFailedError) return error;
  const status = statusOf(error);
  const what = `${kind} ${namespace}/${name}`;
  if (status.code === 404)
    return new StepFailedError(run.id, `${run.name}: ${what} not found`, `check the name and namespace under kubernetes-rollout in rekey.yaml`);
  if (status.code === 401 || status.code === 403) {
    return new StepFailedError(
      run.id,
      `${run.name}: not allowed to ${doing} ${what}${status.message === '' ? '' : ` (${status.message})`}`,
      `grant the identity rekey runs as a Role in namespace ${namespace} with verbs "get", "patch" on ${kind}s (API group apps)`,
    );
  }
  const detail =
    status.code !== undefined
      ? `the Kubernetes API answered ${status.code}${status.message === '' ? '' : `: ${status.message}`}`
      : error instanceof Error
        ? (error.message.split('\n')[0] ?? '')
        : String(error);
  return new StepFailedError(run.id, `${run.name}: could not ${doing} ${what}: ${detail}`);
}

/** Restart every named workload, then wait for all of them, reporting progress, until `timeoutMs`. */
export async function runKubernetesRollout(options: KubernetesRolloutOptions, run: RolloutRun): Promise<StepOutcome> {
  const now = run.now ?? Date.now;
  const started = now();
  let client: RolloutClient;
  try {
    client = run.client ?? (await connect({ kubeconfig: options.kubeconfig, context: options.context, baseDir: run.baseDir, env: run.env }));
  } catch (error) {
    // No kubeconfig on this machine (or one it cannot read) is a fault of the environment, exit 5, as it is for the
    // kubernetes-secret store: kept as it is, so the engine says so, rather than "the rotation failed".
    if (error instanceof StoreEnvironmentError) throw error;
    const hint = (error as { hint?: unknown }).hint;
    throw new StepFailedError(run.id, `${run.name}: ${error instanceof Error ? error.message : String(error)}`, typeof hint === 'string' ? hint : undefined);
  }
  const targets = [
    ...options.deployments.map((name) => ({ kind: 'deployment' as const, name })),
    ...options.statefulsets.map((name) => ({ kind: 'statefulset' as const, name })),
  ];
  const at = new Date(now()).toISOString().replace(/\.\d{3}Z$/, 'Z');
  const pending = new Map<string, { kind: WorkloadKind; name: string; generation: number; words: string }>();
  for (const target of targets) {
    let patched: Workload;
    try {
      patched = await client.restart(target.kind, options.namespace, target.name, at);
    } catch (error) {
      throw failed(run, 'restart', target.kind, options.namespace, target.name, error);
    }
    if (target.kind === 'statefulset' && patched.spec?.updateStrategy?.type === 'OnDelete') {
      throw new StepFailedError(
        run.id,
        `${run.name}: statefulset ${options.namespace}/${target.name} uses the OnDelete update strategy: its pods restart only when deleted`,
        'delete its pods by hand, or switch it to RollingUpdate',
      );
    }
    pending.set(`${target.kind}/${target.name}`, { ...target, generation: patched.metadata?.generation ?? 0, words: '' });
  }
  run.note(`restarted ${targets.map((t) => `${t.kind} ${options.namespace}/${t.name}`).join(', ')} (${RESTARTED_AT}=${at}); waiting for the rollout`);

  let pause = run.pollMs ?? 250;
  for (;;) {
    for (const [key, target] of pending) {
      let workload: Workload;
      try {
        workload = await client.get(target.kind, options.namespace, target.name);
      } catch (error) {
        throw failed(run, 'read', target.kind, options.namespace, target.name, error);
      }
      const progress = rolloutProgress(target.kind, workload, target.generation);
      if (progress.done) {
        pending.delete(key);
        run.note(`${target.kind} ${options.namespace}/${target.name} rolled out: ${progress.words}`);
      } else if (progress.words !== target.words) {
        target.words = progress.words;
        run.note(`${target.kind} ${options.namespace}/${target.name}: ${progress.words}`);
      }
    }
    if (pending.size === 0) break;
    if (now() - started >= run.timeoutMs) {
      const left = [...pending.values()].map((t) => `${t.kind} ${options.namespace}/${t.name} (${t.words})`).join(', ');
      const first = [...pending.values()][0]!;
      throw new StepFailedError(
        run.id,
        `${run.name}: not rolled out after ${formatClock(run.timeoutMs)}: ${left}`,
        `look at kubectl rollout status ${first.kind}/${first.name} -n ${options.namespace} and the pods' events; raise timeout: if the rollout is slow`,
      );
    }
    await sleep(Math.min(pause, Math.max(1, run.timeoutMs - (now() - started))));
    pause = Math.min(pause * 2, 2_000);
  }
  return { detail: `${targets.length} workload${targets.length === 1 ? '' : 's'} restarted and rolled out in ${formatClock(now() - started)}` };
}
