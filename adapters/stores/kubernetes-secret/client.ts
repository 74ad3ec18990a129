/**
 * The Kubernetes API as this adapter sees it: the three calls it makes (tests may pass a fake), and a client over
 * @kubernetes/client-node, imported on first use (it costs more to load than the whole CLI start-up).
 *
 * Which cluster and identity: the store option `kubeconfig` (a path, relative to rekey.yaml), else the first file of
 * `KUBECONFIG`, else the in-cluster service account when `KUBERNETES_SERVICE_HOST` is set (a pod), else
 * `~/.kube/config`; the option `context` picks a context of that file. This is the order kubectl follows, except that
 * several files in `KUBECONFIG` are not merged: the first one is read.
 */
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, isAbsolute, join, resolve } from 'node:path';
import type { StoreRef } from '../../../src/contract/store.js';
import { StoreEnvironmentError, StoreError } from '../../../src/contract/store-errors.js';

export const KIND = 'kubernetes-secret';

/** The metadata fields of a Secret this adapter reads and writes; any other field is sent back as it was read. */
export interface SecretMetadata {
  readonly name?: string | undefined;
  readonly namespace?: string | undefined;
  readonly resourceVersion?: string | undefined;
  readonly annotations?: Readonly<Record<string, string>> | undefined;
  readonly [other: string]: unknown;
}

/** A Secret as the API returns it (`data` values base64, per the Secret API reference); other fields kept as read. */
export interface SecretObject {
  readonly metadata?: SecretMetadata | undefined;
  readonly data?: Readonly<Record<string, string>> | undefined;
  readonly immutable?: boolean | undefined;
  readonly [other: string]: unknown;
}

/**
 * The calls this adapter makes. A failure with an answer carries the HTTP `code` and the `Status` object as `body`
 * (client-node's ApiException); a failure without one carries a Node error `code` such as `ECONNREFUSED`.
 */
export interface KubernetesSecretsClient {
  /** GET /api/v1/namespaces/{namespace}/secrets/{name}. */
  read(namespace: string, name: string): Promise<SecretObject>;
  /**
   * PUT /api/v1/namespaces/{namespace}/secrets/{name} with the whole object: its `metadata.resourceVersion` makes the
   * write a compare-and-swap (the API answers 409 Conflict when the Secret changed since that version was read).
   */
  replace(namespace: string, name: string, body: SecretObject): Promise<SecretObject>;
  /**
   * Whether the caller may `verb` this Secret, by a SelfSubjectAccessReview (which every authenticated user may
   * create: the system:basic-user ClusterRole). Undefined when the cluster will not say.
   */
  canI(namespace: string, name: string, verb: string): Promise<boolean | undefined>;
}

/** RFC 1123 label (a namespace) and subdomain (a Secret's name), as the API's object-names page states them. */
const LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** A key of a Secret's `data` (Secret API reference: "must consist of alphanumeric characters, '-', '_' or '.'"). */
const DATA_KEY = /^[-._a-zA-Z0-9]+$/;
/** The suffix of the key that holds the value before the run's, from stage until retire or rollback. */
export const PREVIOUS_SUFFIX = '.rekey-previous';

/** The namespace, Secret name and data key of a ref (`namespace/name#key`), or why it is not one. */
export function parseLocation(ref: StoreRef): { namespace: string; name: string; key: string } | string {
  const parts = ref.path.split('/');
  if (parts.length !== 2) return 'a Kubernetes Secret ref is <namespace>/<name>#<key>, as in prod/web-app#API_KEY';
  const [namespace, name] = parts as [string, string];
  if (namespace.length > 63 || !LABEL.test(namespace)) {
    return `"${namespace}" is not a namespace name: lower-case letters, digits and '-', at most 63 characters (RFC 1123 label)`;
  }
  if (name.length > 253 || !SUBDOMAIN.test(name)) {
    return `"${name}" is not a Secret name: lower-case letters, digits, '-' and '.', at most 253 characters (RFC 1123 subdomain)`;
  }
  const key = ref.field;
  if (key === undefined || key === '') return 'a Kubernetes Secret ref names a key of the Secret after #, as in prod/web-app#API_KEY';
  if (!DATA_KEY.test(key) || key === '.' || key === '..') return `"${key}" is not a Secret key: letters, digits, '-', '_' and '.' only`;
  if (key.length + PREVIOUS_SUFFIX.length > 253)
    return `the key "${key.slice(0, 20)}…" is too long: rekey keeps the previous value under <key>${PREVIOUS_SUFFIX}`;
  if (key.endsWith(PREVIOUS_SUFFIX)) return `"${key}" is where rekey keeps a previous value, not a key to rotate`;
  return { namespace, name, key };
}

/** For the config loader: the problem with a ref, or undefined. */
export function refProblem(ref: StoreRef): string | undefined {
  const location = parseLocation(ref);
  return typeof location === 'string' ? location : undefined;
}

/** Where the cluster and the identity come from (see the file's comment). */
export interface KubernetesConnection {
  /** The `kubeconfig` option, as written in rekey.yaml. */
  readonly kubeconfig: string | undefined;
  /** The `context` option. */
  readonly context: string | undefined;
  readonly baseDir: string;
  readonly env: Readonly<Record<string, string | undefined>>;
}

/** A loaded KubeConfig (typed loosely, so that this file's static imports stay free of client-node). */
export type LoadedKubeConfig = import('@kubernetes/client-node').KubeConfig;

/** Load the kubeconfig (or the in-cluster service account) and pick the context; client-node imported here. */
export async function loadKubeConfig(connection: KubernetesConnection, where: string): Promise<LoadedKubeConfig> {
  const k8s = await import('@kubernetes/client-node');
  const config = new k8s.KubeConfig();
  const env = connection.env;
  const fromEnv = (env['KUBECONFIG'] ?? '').split(delimiter).find((p) => p !== '');
  const inCluster = env['KUBERNETES_SERVICE_HOST'] !== undefined && env['KUBERNETES_SERVICE_HOST'] !== '';
  // Not client-node's loadFromDefault: with no file at all it falls back to http://localhost:8080, which only confuses.
  // The store's and the hook's option alike (`kubeconfig:` under kubernetes-secret or kubernetes-rollout).
  const hint = `set kubeconfig under ${where} in rekey.yaml, or KUBECONFIG, or run inside a pod with a service account`;
  const file = connection.kubeconfig ?? fromEnv ?? (inCluster ? undefined : join(env['HOME'] ?? homedir(), '.kube', 'config'));
  if (file !== undefined && connection.kubeconfig === undefined && fromEnv === undefined && !existsSync(file)) {
    throw new StoreEnvironmentError('connect', where, `no kubeconfig: KUBECONFIG is not set and ${file} does not exist`, hint);
  }
  try {
    if (file === undefined) config.loadFromCluster();
    else config.loadFromFile(isAbsolute(file) ? file : resolve(connection.kubeconfig === undefined ? process.cwd() : connection.baseDir, file));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // A file that is not there or may not be read is the machine's fault (exit 5), as is a pod without its token.
    throw new StoreEnvironmentError(
      'connect',
      where,
      `cannot read the kubeconfig${file === undefined ? '' : ` ${file}`}: ${code ?? (error instanceof Error ? error.message : String(error))}`,
      hint,
    );
  }
  if (connection.context !== undefined) {
    if (config.getContextObject(connection.context) === null) {
      const known = config.getContexts().map((c) => c.name);
      throw new StoreError('invalid', 'connect', where, `the kubeconfig has no context "${connection.context}"`, {
        hint: `known contexts: ${known.join(', ') || 'none'}`,
      });
    }
    config.setCurrentContext(connection.context);
  }
  if (config.getCurrentCluster() === null) {
    throw new StoreError('unavailable', 'connect', where, 'the kubeconfig names no cluster for its current context', {
      hint: 'pick a context with the store option context, or fix current-context in the kubeconfig',
      retriable: false,
    });
  }
  return config;
}

/** A client over @kubernetes/client-node's CoreV1Api and AuthorizationV1Api (object-style parameters, as in 1.x). */
export async function connectKubernetes(connection: KubernetesConnection): Promise<KubernetesSecretsClient> {
  const config = await loadKubeConfig(connection, KIND);
  const k8s = await import('@kubernetes/client-node');
  const core = config.makeApiClient(k8s.CoreV1Api);
  const authorization = config.makeApiClient(k8s.AuthorizationV1Api);
  return {
    read: async (namespace, name) => (await core.readNamespacedSecret({ namespace, name })) as SecretObject,
    replace: async (namespace, name, body) =>
      (await core.replaceNamespacedSecret({ namespace, name, body: body as import('@kubernetes/client-node').V1Secret })) as SecretObject,
    async canI(namespace, name, verb) {
      try {
        const review = await authorization.createSelfSubjectAccessReview({
          body: {
            apiVersion: 'authorization.k8s.io/v1',
            kind: 'SelfSubjectAccessReview',
            spec: { resourceAttributes: { namespace, verb, resource: 'secrets', name } },
          },
        });
        return review.status?.allowed;
      } catch {
        return undefined;
      }
    },
  };
}
