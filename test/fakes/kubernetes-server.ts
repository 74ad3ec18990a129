/**
 * A local HTTP server that speaks the Kubernetes API (`/api/v1/…`, `/apis/apps/v1/…`, JSON bodies, bearer tokens)
 * over the in-memory model of `kubernetes-model.ts`, for wire-level tests with the real @kubernetes/client-node, and a
 * kubeconfig pointing at it (kubeconfig format: kubernetes.io/docs/concepts/configuration/organize-cluster-access-
 * kubeconfig/). The workload controllers tick on a timer, as a cluster's do, so that a rollout progresses by itself.
 *
 * It binds 127.0.0.1 on a free port, never keeps the process alive (server and timer are unref'd), and `close()` drops
 * open keep-alive connections so that a test ends at once.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubernetesModel, type Rule } from './kubernetes-model.js';

export type { Rule } from './kubernetes-model.js';

export interface KubernetesServerOptions {
  readonly model?: KubernetesModel;
  /** How often the workload controllers advance, in milliseconds (0: only when a test calls `model.tick()`). */
  readonly tickMs?: number;
}

export interface RunningKubernetesServer {
  /** `http://127.0.0.1:PORT`. */
  readonly url: string;
  readonly model: KubernetesModel;
  /**
   * Write a kubeconfig (mode 0600) in a fresh temporary folder with one context per token given, the first current:
   * returns its path.
   */
  kubeconfig(contexts: ReadonlyArray<{ name: string; token: string; namespace?: string }>): string;
  close(): Promise<void>;
}

/** The RBAC rules rekey's documentation asks for (README, Kubernetes Secrets): what a rotator's Role grants. */
export function rotatorRules(namespace: string): Rule[] {
  return [
    { verbs: ['get', 'update', 'patch'], resources: ['secrets'], namespace },
    { verbs: ['get', 'patch'], resources: ['deployments', 'statefulsets'], namespace },
  ];
}

/** Start a fake Kubernetes API on 127.0.0.1 and a free port. */
export async function startKubernetesServer(options: KubernetesServerOptions = {}): Promise<RunningKubernetesServer> {
  const model = options.model ?? new KubernetesModel();
  const sockets = new Set<Socket>();
  const server = createServer((request, response) => {
    handle(model, request, response).catch(() => {
      if (!response.headersSent) reply(response, 500, { kind: 'Status', status: 'Failure', reason: 'InternalError', code: 500, message: 'internal error' });
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  server.unref();
  const timer = (options.tickMs ?? 20) > 0 ? setInterval(() => model.tick(), options.tickMs ?? 20) : undefined;
  timer?.unref();
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;

  return {
    url,
    model,
    kubeconfig(contexts) {
      const dir = mkdtempSync(join(tmpdir(), 'rekey-kube-'));
      const file = join(dir, 'kubeconfig');
      const lines = [
        'apiVersion: v1',
        'kind: Config',
        `current-context: ${contexts[0]?.name ?? 'none'}`,
        'clusters:',
        '  - name: fake',
        '    cluster:',
        `      server: ${url}`,
        // client-node refuses plain http unless TLS verification is off (there is no TLS to verify on 127.0.0.1).
        '      insecure-skip-tls-verify: true',
        'contexts:',
        ...contexts.flatMap((c) => [
          `  - name: ${c.name}`,
          '    context:',
          '      cluster: fake',
          `      user: ${c.name}`,
          ...(c.namespace === undefined ? [] : [`      namespace: ${c.namespace}`]),
        ]),
        'users:',
        ...contexts.flatMap((c) => [`  - name: ${c.name}`, '    user:', `      token: ${c.token}`]),
      ];
      writeFileSync(file, `${lines.join('\n')}\n`, { mode: 0o600 });
      return file;
    },
    close: () =>
      new Promise<void>((resolve) => {
        if (timer !== undefined) clearInterval(timer);
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

async function handle(model: KubernetesModel, request: IncomingMessage, response: ServerResponse): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  let body: unknown;
  if (text.trim() !== '') {
    try {
      body = JSON.parse(text);
    } catch {
      reply(response, 400, { kind: 'Status', status: 'Failure', reason: 'BadRequest', code: 400, message: 'the request body is not JSON' });
      return;
    }
  }
  const authorization = header(request, 'authorization');
  const result = model.handle({
    method: request.method ?? 'GET',
    path: request.url ?? '/',
    token: authorization?.startsWith('Bearer ') ? authorization.slice('Bearer '.length) : undefined,
    contentType: header(request, 'content-type'),
    body,
  });
  reply(response, result.status, result.body);
}

function header(request: IncomingMessage, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function reply(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  response.end(text);
}
