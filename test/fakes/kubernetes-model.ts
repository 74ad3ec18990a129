/**
 * An in-memory Kubernetes API for the objects rekey touches, written from the API reference (kubernetes.io/docs/
 * reference/kubernetes-api/), not from the adapter:
 * - Secret (config-and-storage-resources/secret-v1/): `data` values are base64; `stringData` is write-only and merged
 *   into `data` on write; `immutable: true` forbids any later change of `data`, `stringData` or `immutable` (the API
 *   answers 422 Invalid, "field is immutable when `immutable` is set").
 * - resourceVersion (using-api/api-concepts/#resource-versions): opaque, changes on every write; an update whose
 *   `metadata.resourceVersion` is not the current one is refused with 409 Conflict ("the object has been modified;
 *   please apply your changes to the latest version and try again").
 * - Errors are `Status` objects (common-definitions/status/): `{kind: "Status", apiVersion: "v1", status: "Failure",
 *   reason, code, message}`; 404 NotFound, 403 Forbidden (naming user, verb, resource and namespace, as the RBAC
 *   authorizer words it), 401 Unauthorized.
 * - Deployment and StatefulSet (workload-resources/): `metadata.generation` goes up when the spec changes; the
 *   controller then sets `status.observedGeneration`, and rolls pods so that `updatedReplicas`, `readyReplicas` and
 *   `availableReplicas` reach `spec.replicas` (StatefulSets: `updateRevision`, then `currentRevision` once rolled).
 *   `tick()` advances that controller by one pod per object; `stuck` names objects whose first new pod never gets ready.
 * - SelfSubjectAccessReview (authorization-resources/self-subject-access-review-v1/): `status.allowed` for the caller.
 */

export interface Rule {
  readonly verbs: readonly string[];
  /** `secrets`, `deployments`, `statefulsets`; `*` for any. */
  readonly resources: readonly string[];
  /** Absent: every namespace (a ClusterRole). */
  readonly namespace?: string;
  /** Absent: every name. */
  readonly names?: readonly string[];
}

type Json = Record<string, unknown>;

export interface ApiRequest {
  readonly method: string;
  readonly path: string;
  readonly token: string | undefined;
  readonly contentType: string | undefined;
  readonly body: unknown;
}

export interface ApiReply {
  readonly status: number;
  readonly body: unknown;
}

interface Workload {
  kind: 'Deployment' | 'StatefulSet';
  object: Json;
}

const RESOURCES: Record<string, { group: string; kind: string }> = {
  secrets: { group: '', kind: 'Secret' },
  deployments: { group: 'apps', kind: 'Deployment' },
  statefulsets: { group: 'apps', kind: 'StatefulSet' },
};

const clone = <T>(value: T): T => structuredClone(value);

export class KubernetesModel {
  readonly #secrets = new Map<string, Json>();
  readonly #workloads = new Map<string, Workload>();
  readonly #tokens = new Map<string, { user: string; rules: readonly Rule[] }>();
  #resourceVersion = 1000;
  /** Workloads whose new pods never become available (`namespace/name`). */
  readonly stuck = new Set<string>();
  /** Every request, for assertions on what went over the wire (never the body, which may hold a value). */
  readonly log: Array<{ method: string; path: string; contentType: string | undefined }> = [];

  /** A bearer token for a user with these RBAC rules. */
  addToken(token: string, user: string, rules: readonly Rule[]): void {
    this.#tokens.set(token, { user, rules });
  }

  #nextVersion(): string {
    this.#resourceVersion += 1;
    return String(this.#resourceVersion);
  }

  /** Create or overwrite a Secret from plain values, as an administrator would (a side door for tests). */
  putSecret(
    namespace: string,
    name: string,
    values: Readonly<Record<string, string>>,
    extra: { immutable?: boolean; annotations?: Record<string, string> } = {},
  ): void {
    const existing = this.#secrets.get(`${namespace}/${name}`);
    const metadata = (existing?.['metadata'] as Json | undefined) ?? { name, namespace, uid: `uid-${name}`, creationTimestamp: '2026-01-01T00:00:00Z' };
    this.#secrets.set(`${namespace}/${name}`, {
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'Opaque',
      ...(existing ?? {}),
      metadata: { ...metadata, resourceVersion: this.#nextVersion(), ...(extra.annotations === undefined ? {} : { annotations: extra.annotations }) },
      data: Object.fromEntries(Object.entries(values).map(([k, v]) => [k, Buffer.from(v, 'utf8').toString('base64')])),
      ...(extra.immutable === undefined ? {} : { immutable: extra.immutable }),
    });
  }

  /** A Secret's values, decoded (a side door for tests). */
  secretValues(namespace: string, name: string): Record<string, string> | undefined {
    const secret = this.#secrets.get(`${namespace}/${name}`);
    if (secret === undefined) return undefined;
    return Object.fromEntries(
      Object.entries((secret['data'] as Record<string, string> | undefined) ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]),
    );
  }

  /** The stored Secret object itself. */
  secret(namespace: string, name: string): Json | undefined {
    const secret = this.#secrets.get(`${namespace}/${name}`);
    return secret === undefined ? undefined : clone(secret);
  }

  /** Create a Deployment or StatefulSet with `replicas` pods, all rolled out. */
  putWorkload(kind: 'Deployment' | 'StatefulSet', namespace: string, name: string, replicas = 2): void {
    const object: Json = {
      apiVersion: 'apps/v1',
      kind,
      metadata: { name, namespace, generation: 1, resourceVersion: this.#nextVersion() },
      spec: { replicas, template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'app', image: 'app:1' }] } } },
      status:
        kind === 'Deployment'
          ? { observedGeneration: 1, replicas, updatedReplicas: replicas, readyReplicas: replicas, availableReplicas: replicas }
          : {
              observedGeneration: 1,
              replicas,
              updatedReplicas: replicas,
              readyReplicas: replicas,
              availableReplicas: replicas,
              currentRevision: `${name}-1`,
              updateRevision: `${name}-1`,
            },
    };
    this.#workloads.set(`${kind}/${namespace}/${name}`, { kind, object });
  }

  workload(kind: 'Deployment' | 'StatefulSet', namespace: string, name: string): Json | undefined {
    const w = this.#workloads.get(`${kind}/${namespace}/${name}`);
    return w === undefined ? undefined : clone(w.object);
  }

  /**
   * One step of the workload controllers: each object whose spec changed is observed, then gets one more updated
   * pod per tick, which is available at once unless the object is stuck.
   */
  tick(): void {
    for (const { kind, object } of this.#workloads.values()) {
      const metadata = object['metadata'] as Json;
      const spec = object['spec'] as Json;
      const status = object['status'] as Json;
      const generation = metadata['generation'] as number;
      const replicas = spec['replicas'] as number;
      const key = `${metadata['namespace']}/${metadata['name']}`;
      if ((status['observedGeneration'] as number) < generation) {
        status['observedGeneration'] = generation;
        status['updatedReplicas'] = 0;
        if (kind === 'StatefulSet') status['updateRevision'] = `${metadata['name']}-${generation}`;
        continue;
      }
      const updated = status['updatedReplicas'] as number;
      // A stuck object gets one new pod that never becomes ready (a crash loop), and the rollout stalls there.
      if (this.stuck.has(key)) {
        status['updatedReplicas'] = 1;
        status['replicas'] = replicas + 1;
        continue;
      }
      if (updated < replicas) {
        status['updatedReplicas'] = updated + 1;
        continue;
      }
      status['replicas'] = replicas;
      status['availableReplicas'] = replicas;
      status['readyReplicas'] = replicas;
      if (kind === 'StatefulSet') status['currentRevision'] = status['updateRevision'];
    }
  }

  handle(request: ApiRequest): ApiReply {
    const [pathname] = request.path.split('?') as [string];
    this.log.push({ method: request.method, path: pathname, contentType: request.contentType });
    const identity = request.token === undefined ? undefined : this.#tokens.get(request.token);
    if (identity === undefined) return { status: 401, body: status(401, 'Unauthorized', 'Unauthorized') };

    if (request.method === 'POST' && pathname === '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews') {
      const attributes = ((request.body as Json | undefined)?.['spec'] as Json | undefined)?.['resourceAttributes'] as Json | undefined;
      const allowed =
        attributes !== undefined &&
        allows(identity.rules, String(attributes['verb']), String(attributes['resource']), String(attributes['namespace']), String(attributes['name'] ?? ''));
      return {
        status: 201,
        body: { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', spec: (request.body as Json)['spec'], status: { allowed } },
      };
    }

    const match = /^\/(?:api\/v1|apis\/apps\/v1)\/namespaces\/([^/]+)\/(secrets|deployments|statefulsets)\/([^/]+)$/.exec(pathname);
    if (match === null) return { status: 404, body: status(404, 'NotFound', 'the server could not find the requested resource') };
    const [, namespace, resource, name] = match as unknown as [string, string, string, string];
    const { group, kind } = RESOURCES[resource]!;
    if ((resource === 'secrets') !== pathname.startsWith('/api/v1/'))
      return { status: 404, body: status(404, 'NotFound', 'the server could not find the requested resource') };
    const verb = request.method === 'GET' ? 'get' : request.method === 'PUT' ? 'update' : request.method === 'PATCH' ? 'patch' : undefined;
    if (verb === undefined) return { status: 405, body: status(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource`) };
    if (!allows(identity.rules, verb, resource, namespace, name)) {
      return {
        status: 403,
        body: status(
          403,
          'Forbidden',
          `${resource} "${name}" is forbidden: User "${identity.user}" cannot ${verb} resource "${resource}" ` +
            `in API group "${group}" in the namespace "${namespace}"`,
        ),
      };
    }
    if (resource === 'secrets') return this.#secretCall(verb, namespace, name, request);
    const workload = this.#workloads.get(`${kind}/${namespace}/${name}`);
    if (workload === undefined) return { status: 404, body: status(404, 'NotFound', `${resource}.apps "${name}" not found`) };
    if (verb === 'get') return { status: 200, body: clone(workload.object) };
    if (verb !== 'patch') return { status: 405, body: status(405, 'MethodNotAllowed', 'only get and patch are modelled for workloads') };
    const patched = applyPatch(workload.object, request.body, request.contentType);
    if (typeof patched === 'string') return { status: 415, body: status(415, 'UnsupportedMediaType', patched) };
    const before = JSON.stringify((workload.object['spec'] as Json)['template']);
    const metadata = patched['metadata'] as Json;
    if (JSON.stringify((patched['spec'] as Json)['template']) !== before) metadata['generation'] = (metadata['generation'] as number) + 1;
    metadata['resourceVersion'] = this.#nextVersion();
    // A patch cannot write status (the status subresource): it is the controller's.
    patched['status'] = workload.object['status'];
    workload.object = patched;
    return { status: 200, body: clone(patched) };
  }

  #secretCall(verb: string, namespace: string, name: string, request: ApiRequest): ApiReply {
    const current = this.#secrets.get(`${namespace}/${name}`);
    if (current === undefined) return { status: 404, body: status(404, 'NotFound', `secrets "${name}" not found`) };
    if (verb === 'get') return { status: 200, body: clone(current) };
    let next: Json;
    if (verb === 'update') {
      const body = request.body as Json | undefined;
      if (body === undefined || typeof body !== 'object') return { status: 400, body: status(400, 'BadRequest', 'the request body is not a Secret') };
      const sent = (body['metadata'] as Json | undefined)?.['resourceVersion'];
      const stored = (current['metadata'] as Json)['resourceVersion'];
      // An update without a resourceVersion is unconditional; with one, it must be the current one.
      if (sent !== undefined && sent !== stored) {
        return {
          status: 409,
          body: status(
            409,
            'Conflict',
            `Operation cannot be fulfilled on secrets "${name}": the object has been modified; please apply your changes to the latest version and try again`,
          ),
        };
      }
      next = clone(body);
    } else {
      const patched = applyPatch(current, request.body, request.contentType);
      if (typeof patched === 'string') return { status: 415, body: status(415, 'UnsupportedMediaType', patched) };
      next = patched;
    }
    // stringData is write-only: merged into data, never stored nor returned.
    const stringData = next['stringData'] as Record<string, string> | undefined;
    delete next['stringData'];
    const data: Record<string, string> = { ...((next['data'] as Record<string, string> | undefined) ?? {}) };
    for (const [key, value] of Object.entries(stringData ?? {})) data[key] = Buffer.from(value, 'utf8').toString('base64');
    for (const [key, value] of Object.entries(data)) {
      if (!/^[-._a-zA-Z0-9]+$/.test(key))
        return {
          status: 422,
          body: status(
            422,
            'Invalid',
            `Secret "${name}" is invalid: data[${key}]: Invalid value: a valid config key must consist of alphanumeric characters, '-', '_' or '.'`,
          ),
        };
      if (typeof value !== 'string' || Buffer.from(value, 'base64').toString('base64') !== value) {
        return { status: 400, body: status(400, 'BadRequest', `Secret in version "v1" cannot be handled as a Secret: illegal base64 data`) };
      }
    }
    next['data'] = data;
    if (current['immutable'] === true) {
      const changed = JSON.stringify(sorted(data)) !== JSON.stringify(sorted((current['data'] as Record<string, string>) ?? {})) || next['immutable'] !== true;
      if (changed) {
        return {
          status: 422,
          body: status(422, 'Invalid', `Secret "${name}" is invalid: data: Forbidden: field is immutable when \`immutable\` is set`),
        };
      }
    }
    const metadata = { ...(current['metadata'] as Json), ...((next['metadata'] as Json | undefined) ?? {}) };
    // The server owns these: a client cannot rename, move or re-create the object through an update.
    metadata['name'] = name;
    metadata['namespace'] = namespace;
    metadata['uid'] = (current['metadata'] as Json)['uid'];
    metadata['creationTimestamp'] = (current['metadata'] as Json)['creationTimestamp'];
    metadata['resourceVersion'] = this.#nextVersion();
    next['metadata'] = metadata;
    next['apiVersion'] = 'v1';
    next['kind'] = 'Secret';
    this.#secrets.set(`${namespace}/${name}`, next);
    return { status: 200, body: clone(next) };
  }
}

function sorted(record: Record<string, string>): Array<[string, string]> {
  return Object.entries(record).sort(([a], [b]) => (a < b ? -1 : 1));
}

function status(code: number, reason: string, message: string): Json {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
}

function allows(rules: readonly Rule[], verb: string, resource: string, namespace: string, name: string): boolean {
  return rules.some(
    (rule) =>
      (rule.verbs.includes(verb) || rule.verbs.includes('*')) &&
      (rule.resources.includes(resource) || rule.resources.includes('*')) &&
      (rule.namespace === undefined || rule.namespace === namespace) &&
      (rule.names === undefined || rule.names.includes(name)),
  );
}

/**
 * A patch as the API applies it (using-api/api-concepts/#patch-and-apply): JSON Patch (RFC 6902) for
 * `application/json-patch+json`; JSON Merge Patch (RFC 7386) for `application/merge-patch+json`; and for
 * `application/strategic-merge-patch+json` the same merge, which is what a strategic merge does for the maps rekey
 * patches (annotations): lists with merge keys are not modelled.
 */
function applyPatch(target: Json, patch: unknown, contentType: string | undefined): Json | string {
  const type = (contentType ?? '').split(';')[0]!.trim();
  if (type === 'application/merge-patch+json' || type === 'application/strategic-merge-patch+json') return mergePatch(clone(target), patch) as Json;
  if (type === 'application/json-patch+json') {
    if (!Array.isArray(patch)) return 'a JSON Patch is a list of operations';
    const out = clone(target);
    for (const op of patch as Json[]) {
      const path = String(op['path'])
        .split('/')
        .slice(1)
        .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
      let node: Json = out;
      for (const part of path.slice(0, -1)) {
        if (typeof node[part] !== 'object' || node[part] === null) node[part] = {};
        node = node[part] as Json;
      }
      const last = path[path.length - 1]!;
      if (op['op'] === 'add' || op['op'] === 'replace') node[last] = op['value'];
      else if (op['op'] === 'remove') delete node[last];
      else return `JSON Patch operation ${String(op['op'])} is not modelled`;
    }
    return out;
  }
  return (
    'the body of the request was in an unknown format - accepted media types include: application/json-patch+json, ' +
    `application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got ${type})`
  );
}

function mergePatch(target: unknown, patch: unknown): unknown {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) return patch;
  const out: Json = typeof target === 'object' && target !== null && !Array.isArray(target) ? (target as Json) : {};
  for (const [key, value] of Object.entries(patch as Json)) {
    if (value === null) delete out[key];
    else out[key] = mergePatch(out[key], value);
  }
  return out;
}
