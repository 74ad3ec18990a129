/**
 * A local HTTP server that speaks GitHub's REST API for Actions secrets over the model of github-actions-model.ts, for
 * wire-level tests with the adapter's real `fetch` client and for the CLI's end-to-end tests.
 *
 * What it checks, as GitHub's docs say (https://docs.github.com/en/rest/actions/secrets,
 * https://docs.github.com/en/rest/using-the-rest-api/getting-started-with-the-rest-api,
 * https://docs.github.com/en/rest/using-the-rest-api/troubleshooting-the-rest-api):
 * `Authorization: Bearer <token>` (401 `Requires authentication` without, `Bad credentials` for an unknown token),
 * a User-Agent (403 without), `X-GitHub-Api-Version` (400 for a version it does not serve), a scope the token may not
 * see answered 404 `Not Found` like one that does not exist, a write by a read-only token 403
 * `Resource not accessible by personal access token`. Every reply carries the `x-ratelimit-*` headers.
 *
 * Faults on demand (`fail`): any status with GitHub's headers, such as 429 or 403 with `retry-after` (a secondary
 * limit), 403 with `x-ratelimit-remaining: 0` and `x-ratelimit-reset` (the primary limit), 401, 404, 422 or 5xx.
 *
 * It binds 127.0.0.1 on a free port, is unref'd, and `close()` drops keep-alive connections.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { type FakeScope, FakeRefusal, GitHubSecretsModel } from './github-actions-model.js';

export const API_VERSION = '2022-11-28';

/** One request as the server saw it: what a test checks for leaks and headers. */
export interface SeenRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: string;
}

/** A reply the server gives instead of the real one, to the next matching requests. */
export interface Fault {
  readonly status: number;
  readonly message?: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** How many requests it answers (default 1). */
  readonly times?: number;
  /** Only requests of this method (default: any). */
  readonly method?: 'GET' | 'PUT';
}

export interface RunningGitHubServer {
  /** `http://127.0.0.1:PORT` (plus the prefix), for the store's `apiUrl`. */
  readonly url: string;
  readonly model: GitHubSecretsModel;
  readonly requests: SeenRequest[];
  fail(fault: Fault): void;
  close(): Promise<void>;
}

export interface GitHubServerOptions {
  readonly model?: GitHubSecretsModel;
  /** A path prefix, as GitHub Enterprise Server's `/api/v3`. */
  readonly prefix?: string;
}

const RATE_LIMIT = 5000;

/** Start a fake GitHub REST API on 127.0.0.1 and a free port. */
export async function startGitHubServer(options: GitHubServerOptions = {}): Promise<RunningGitHubServer> {
  await GitHubSecretsModel.ready();
  const model = options.model ?? new GitHubSecretsModel();
  const prefix = options.prefix ?? '';
  const sockets = new Set<Socket>();
  const requests: SeenRequest[] = [];
  const faults: Array<Fault & { left: number }> = [];
  let used = 0;

  const server = createServer((request, response) => {
    handle(request, response).catch(() => {
      if (!response.headersSent) send(response, 500, { message: 'Server Error' });
    });
  });

  function send(response: ServerResponse, status: number, body?: unknown, headers: Record<string, string> = {}): void {
    used++;
    const reset = String(Math.floor(model.now() / 1000) + 3600);
    response.writeHead(status, {
      'x-ratelimit-limit': String(RATE_LIMIT),
      'x-ratelimit-remaining': String(Math.max(0, RATE_LIMIT - used)),
      'x-ratelimit-used': String(used),
      'x-ratelimit-reset': reset,
      'x-ratelimit-resource': 'core',
      ...(body === undefined ? {} : { 'content-type': 'application/json; charset=utf-8' }),
      ...headers,
    });
    response.end(body === undefined ? undefined : JSON.stringify(body));
  }

  const refuse = (response: ServerResponse, status: number, message: string) =>
    send(response, status, { message, documentation_url: 'https://docs.github.com/rest/actions/secrets', status: String(status) });

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const method = request.method ?? 'GET';
    const url = new URL(request.url ?? '/', 'http://localhost');
    requests.push({ method, path: url.pathname + url.search, headers: { ...request.headers }, body });

    const fault = faults.find((f) => f.left > 0 && (f.method === undefined || f.method === method));
    if (fault !== undefined) {
      fault.left--;
      used++;
      response.writeHead(fault.status, { 'content-type': 'application/json; charset=utf-8', ...fault.headers });
      response.end(JSON.stringify({ message: fault.message ?? 'fault', documentation_url: 'https://docs.github.com/rest' }));
      return;
    }

    if (!url.pathname.startsWith(prefix)) return refuse(response, 404, 'Not Found');
    const path = url.pathname.slice(prefix.length);
    const auth = request.headers.authorization;
    if (auth === undefined) return refuse(response, 401, 'Requires authentication');
    const token = /^(?:Bearer|token) (.+)$/.exec(auth)?.[1];
    const rights = token === undefined ? undefined : model.tokens.get(token);
    if (rights === undefined) return refuse(response, 401, 'Bad credentials');
    if (request.headers['user-agent'] === undefined) {
      return refuse(response, 403, 'Request forbidden by administrative rules. Please make sure your request has a User-Agent header');
    }
    const version = request.headers['x-github-api-version'];
    if (version !== undefined && version !== API_VERSION) return refuse(response, 400, `Unsupported 'X-GitHub-Api-Version' header: ${String(version)}`);

    const route = routeOf(path);
    if (route === undefined) return refuse(response, 404, 'Not Found');
    const visible = rights.scopes === undefined || rights.scopes.some((s) => s.toLowerCase() === route.scopeKey.toLowerCase());
    const scope: FakeScope | undefined = visible ? model.scopes.get(route.scopeKey.toLowerCase()) : undefined;
    // A scope the token may not see is answered exactly as one that does not exist.
    if (scope === undefined) return refuse(response, 404, 'Not Found');

    if (route.name === 'public-key') {
      if (method !== 'GET') return refuse(response, 404, 'Not Found');
      return send(response, 200, model.publicKeyOf(scope));
    }
    if (method === 'GET') {
      const meta = model.metadataOf(scope, decodeURIComponent(route.name));
      return meta === undefined ? refuse(response, 404, 'Not Found') : send(response, 200, meta);
    }
    if (method === 'PUT') {
      if (!rights.write) return refuse(response, 403, 'Resource not accessible by personal access token');
      let parsed: unknown;
      try {
        parsed = JSON.parse(body);
      } catch {
        return refuse(response, 400, 'Problems parsing JSON');
      }
      try {
        return send(response, model.write(scope, decodeURIComponent(route.name), parsed));
      } catch (error) {
        if (error instanceof FakeRefusal) return refuse(response, error.status, error.message);
        throw error;
      }
    }
    if (method === 'DELETE') {
      if (!rights.write) return refuse(response, 403, 'Resource not accessible by personal access token');
      return scope.secrets.delete(decodeURIComponent(route.name).toUpperCase()) ? send(response, 204) : refuse(response, 404, 'Not Found');
    }
    return refuse(response, 404, 'Not Found');
  }

  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  server.unref();
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}${prefix}`,
    model,
    requests,
    fail(fault) {
      faults.push({ ...fault, left: fault.times ?? 1 });
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** The scope key (as the model names scopes) and the last path segment (a secret name, or `public-key`). */
function routeOf(path: string): { scopeKey: string; name: string } | undefined {
  const d = decodeURIComponent;
  let m = /^\/repos\/([^/]+)\/([^/]+)\/actions\/secrets\/([^/]+)$/.exec(path);
  if (m !== null) return { scopeKey: `repo:${d(m[1]!)}/${d(m[2]!)}`, name: m[3]! };
  m = /^\/repos\/([^/]+)\/([^/]+)\/environments\/([^/]+)\/secrets\/([^/]+)$/.exec(path);
  if (m !== null) return { scopeKey: `env:${d(m[1]!)}/${d(m[2]!)}@${d(m[3]!)}`, name: m[4]! };
  m = /^\/orgs\/([^/]+)\/actions\/secrets\/([^/]+)$/.exec(path);
  if (m !== null) return { scopeKey: `org:${d(m[1]!)}`, name: m[2]! };
  return undefined;
}
