/**
 * A local server speaking the part of Doppler's REST API that the Doppler store uses, written from Doppler's API
 * reference (https://docs.doppler.com/reference/api and the pages it links), so that the adapter's requests and its
 * reading of replies are tested over real HTTP:
 *
 * - Authentication: `Authorization: Bearer <token>` ("API Reference", Authentication). A personal token reaches every
 *   project; a service token (`dp.st.…`) "provide[s] read or read/write access to secrets within a specific config":
 *   another config answers 403, a write with a read-only service token answers 403, an unknown token 401.
 * - `GET /v3/configs/config/secret?project=&config=&name=` ("Retrieve" secret): `{success, name, value:{raw, computed}}`,
 *   404 when the secret, the config or the project does not exist.
 * - `POST /v3/configs/config/secrets` ("Update Secrets"): `{project, config, secrets:{NAME: value}}` or
 *   `{project, config, change_requests:[{name, originalName, value, originalValue?, …}]}` (not both). "originalValue
 *   [...] when set, [is] used to instruct Doppler to only process the change request if the provided values match the
 *   latest values." The reference does not say which status a mismatch answers: the fake answers 400 with a message,
 *   and the adapter never relies on that status (it reads the secret again to tell a lost race from a bad request).
 * - `GET /v3/configs/config/logs?project=&config=&page=&per_page=` ("List" config logs) and
 *   `GET /v3/configs/config/logs/{log}?project=&config=` ("Retrieve" one): config log objects ("Config Log" object:
 *   id, text, html, diff `[{name, added, removed}]`, rollback, user, project, environment, config, created_at), newest
 *   first; every write of a secret adds one ("Versioning": "every action within a config [...] is recorded").
 * - Errors: `{messages:[…], success:false}` with a conventional status ("API Reference", Errors); 429 when rate
 *   limited ("Rate Limits": per IP and per token, requests per minute), with `Retry-After` in seconds.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface DopplerDiffEntry {
  readonly name: string;
  readonly added?: string;
  readonly removed?: string;
}

export interface DopplerLog {
  readonly id: string;
  readonly text: string;
  readonly html: string;
  readonly diff: readonly DopplerDiffEntry[];
  readonly rollback: boolean;
  readonly user: { readonly email: string; readonly name: string; readonly profile_image_url: string };
  readonly project: string;
  readonly environment: string;
  readonly config: string;
  readonly created_at: string;
}

interface Config {
  readonly secrets: Map<string, string>;
  /** Newest first, as the API lists them. */
  readonly logs: DopplerLog[];
}

interface Token {
  readonly kind: 'personal' | 'service';
  readonly project?: string;
  readonly config?: string;
  readonly access: 'read' | 'read/write';
}

export interface DopplerRequest {
  readonly method: string;
  readonly path: string;
  readonly query: Readonly<Record<string, string>>;
}

export interface DopplerReply {
  readonly status: number;
  readonly body: unknown;
  readonly headers?: Readonly<Record<string, string>>;
}

/** The state of a fake Doppler workplace: configs, their secrets and logs, tokens, and faults to inject. */
export class DopplerModel {
  private readonly configs = new Map<string, Config>();
  private readonly tokens = new Map<string, Token>();
  private faults: { status: number; count: number; retryAfter?: number }[] = [];
  private clock = Date.parse('2026-11-20T10:00:00Z');
  /** Every request answered, in order. */
  readonly log: DopplerRequest[] = [];
  /** A personal token: read/write on every project and config. */
  readonly personalToken: string;

  constructor() {
    this.personalToken = this.addToken({ kind: 'personal', access: 'read/write' });
  }

  /** A token of the given kind; a service token is scoped to one project and config. */
  addToken(token: Token): string {
    const prefix = token.kind === 'service' ? 'dp.st' : 'dp.pt';
    const id = `${prefix}.${token.config ?? 'all'}.${randomBytes(20).toString('hex')}`;
    this.tokens.set(id, token);
    return id;
  }

  /** Create a config (and its project) if needed, with these secrets, as the dashboard would: one log entry. */
  seed(project: string, config: string, secrets: Readonly<Record<string, string>>): void {
    const target = this.config(project, config, true)!;
    this.write(target, project, config, Object.entries(secrets), 'seed@example.com');
  }

  /** Set one secret as another writer would (the dashboard, the CLI): a log entry, no condition. */
  put(project: string, config: string, name: string, value: string): void {
    this.write(this.config(project, config, true)!, project, config, [[name, value]], 'someone@example.com');
  }

  /** The current value of a secret, bypassing the API. */
  value(project: string, config: string, name: string): string | undefined {
    return this.config(project, config, false)?.secrets.get(name);
  }

  /** The config's log entries, newest first. */
  logs(project: string, config: string): readonly DopplerLog[] {
    return this.config(project, config, false)?.logs ?? [];
  }

  /** A snapshot of one config, to prove that a call wrote nothing. */
  snapshot(project: string, config: string): unknown {
    const target = this.config(project, config, false);
    return target === undefined ? undefined : { secrets: [...target.secrets], logs: target.logs.map((l) => l.id) };
  }

  /** Answer the next `count` requests with `status` (429 carries Retry-After when given). */
  failNext(count: number, status: number, retryAfter?: number): void {
    this.faults.push({ status, count, ...(retryAfter === undefined ? {} : { retryAfter }) });
  }

  private config(project: string, config: string, create: boolean): Config | undefined {
    const key = `${project}/${config}`;
    let found = this.configs.get(key);
    if (found === undefined && create) {
      found = { secrets: new Map(), logs: [] };
      this.configs.set(key, found);
    }
    return found;
  }

  private write(target: Config, project: string, config: string, changes: readonly (readonly [string, string])[], email: string): DopplerLog {
    const diff = changes.map(([name, value]) => {
      const removed = target.secrets.get(name);
      target.secrets.set(name, value);
      return { name, added: value, ...(removed === undefined ? {} : { removed }) };
    });
    this.clock += 60_000;
    const names = changes.map(([name]) => name).join(', ');
    const entry: DopplerLog = {
      id: randomBytes(12).toString('base64url'),
      text: `${email} updated ${names}`,
      html: `<b>${email}</b> updated ${names}`,
      diff,
      rollback: false,
      user: { email, name: email.split('@')[0]!, profile_image_url: '' },
      project,
      environment: config.split('_')[0]!,
      config,
      created_at: new Date(this.clock).toISOString(),
    };
    target.logs.unshift(entry);
    return entry;
  }

  /** Answer one request as Doppler would. */
  handle(method: string, url: URL, authorization: string | undefined, body: unknown): DopplerReply {
    const query = Object.fromEntries(url.searchParams);
    this.log.push({ method, path: url.pathname, query });
    const fault = this.faults[0];
    if (fault !== undefined) {
      fault.count -= 1;
      if (fault.count <= 0) this.faults.shift();
      const headers: Record<string, string> = fault.retryAfter === undefined ? {} : { 'retry-after': String(fault.retryAfter) };
      return { status: fault.status, body: { messages: [fault.status === 429 ? 'Too many requests' : 'Internal server error'], success: false }, headers };
    }
    const error = (status: number, message: string): DopplerReply => ({ status, body: { messages: [message], success: false } });
    const bearer = /^Bearer (\S+)$/.exec(authorization ?? '')?.[1];
    const token = bearer === undefined ? undefined : this.tokens.get(bearer);
    if (token === undefined) return error(401, 'Invalid Auth token');

    const fields = method === 'GET' ? query : ((body ?? {}) as Record<string, unknown>);
    const project = typeof fields['project'] === 'string' ? fields['project'] : (token.project ?? '');
    const configName = typeof fields['config'] === 'string' ? fields['config'] : (token.config ?? '');
    if (token.kind === 'service' && (project !== token.project || configName !== token.config)) {
      return error(403, 'This token does not have access to requested config');
    }
    const config = this.config(project, configName, false);
    if (config === undefined) return error(404, 'Could not find requested config');

    if (method === 'GET' && url.pathname === '/v3/configs/config/secret') {
      const name = query['name'] ?? '';
      const value = config.secrets.get(name);
      if (value === undefined) return error(404, 'Could not find requested secret');
      return { status: 200, body: { success: true, name, value: { raw: value, computed: value, note: '' } } };
    }
    if (method === 'POST' && url.pathname === '/v3/configs/config/secrets') {
      if (token.access !== 'read/write') return error(403, 'This token does not have write access');
      const request = body as { secrets?: Record<string, unknown>; change_requests?: Record<string, unknown>[] };
      if ((request.secrets === undefined) === (request.change_requests === undefined)) return error(400, 'Provide either secrets or change_requests');
      const changes: [string, string][] = [];
      if (request.secrets !== undefined) {
        for (const [name, value] of Object.entries(request.secrets)) if (typeof value === 'string') changes.push([name, value]);
      } else {
        for (const change of request.change_requests ?? []) {
          const name = change['name'];
          const value = change['value'];
          if (typeof name !== 'string' || typeof value !== 'string') return error(400, 'Invalid change request');
          if (!/^[A-Z_][A-Z0-9_]*$/.test(name)) return error(400, 'Secret names may only contain uppercase letters, numbers, and underscores');
          if (typeof change['originalValue'] === 'string' && config.secrets.get(name) !== change['originalValue']) {
            return error(400, `The value of ${name} has changed since it was read`);
          }
          changes.push([name, value]);
        }
      }
      this.write(config, project, configName, changes, token.kind === 'service' ? 'service-token@doppler' : 'api@example.com');
      const secrets = Object.fromEntries([...config.secrets].map(([name, value]) => [name, { raw: value, computed: value, note: '' }]));
      return { status: 200, body: { success: true, secrets } };
    }
    if (method === 'GET' && url.pathname === '/v3/configs/config/logs') {
      const page = Math.max(1, Number(query['page'] ?? '1'));
      const perPage = Math.min(100, Math.max(1, Number(query['per_page'] ?? '20')));
      return { status: 200, body: { success: true, page, logs: config.logs.slice((page - 1) * perPage, page * perPage) } };
    }
    const one = /^\/v3\/configs\/config\/logs\/([^/]+)$/.exec(url.pathname);
    if (method === 'GET' && one !== null) {
      const entry = config.logs.find((l) => l.id === decodeURIComponent(one[1]!));
      if (entry === undefined) return error(404, 'Could not find requested log');
      return { status: 200, body: { success: true, log: entry } };
    }
    return error(404, 'Not found');
  }
}

export interface RunningDopplerServer {
  readonly url: string;
  readonly model: DopplerModel;
  close(): Promise<void>;
}

/** Start the fake on a free port of 127.0.0.1. */
export async function startDopplerServer(model = new DopplerModel()): Promise<RunningDopplerServer> {
  const server: Server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      let body: unknown;
      try {
        body = chunks.length === 0 ? undefined : JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        response.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ messages: ['Invalid JSON'], success: false }));
        return;
      }
      const reply = model.handle(request.method ?? 'GET', new URL(request.url ?? '/', 'http://127.0.0.1'), request.headers.authorization, body);
      response.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers }).end(JSON.stringify(reply.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    model,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A `fetch` answered by the model in process, without a socket: for the mock harness. */
export function modelFetch(model: DopplerModel): typeof fetch {
  return async (input, init) => {
    const url = new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);
    const headers = new Headers(init?.headers);
    const body = typeof init?.body === 'string' ? (JSON.parse(init.body) as unknown) : undefined;
    const reply = model.handle(init?.method ?? 'GET', url, headers.get('authorization') ?? undefined, body);
    return new Response(JSON.stringify(reply.body), { status: reply.status, headers: { 'content-type': 'application/json', ...reply.headers } });
  };
}
