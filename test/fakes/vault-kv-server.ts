/**
 * A local HTTP server that speaks Vault's API (`/v1/…`, JSON bodies, `X-Vault-Token`, `X-Vault-Namespace`) over
 * the in-memory model of `vault-kv-model.ts`, for wire-level tests with the real node-vault client.
 *
 * It binds 127.0.0.1 on a free port, never keeps the process alive (the server is unref'd), and `close()` drops
 * open keep-alive connections so that a test ends at once.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { VaultModel } from './vault-kv-model.js';

export interface VaultServerOptions {
  /** The model to serve; a fresh one (with `secret/` mounted) when absent. */
  readonly model?: VaultModel;
  /** Delay before every reply, in milliseconds, to stand in for a network round trip. */
  readonly latencyMs?: number;
}

export interface RunningVaultServer {
  /** `http://127.0.0.1:PORT`, for `VAULT_ADDR`. */
  readonly url: string;
  readonly model: VaultModel;
  close(): Promise<void>;
}

/** Start a fake Vault on 127.0.0.1 and a free port. */
export async function startVaultServer(options: VaultServerOptions = {}): Promise<RunningVaultServer> {
  const model = options.model ?? new VaultModel();
  const sockets = new Set<Socket>();

  const server = createServer((request, response) => {
    handle(model, options.latencyMs ?? 0, request, response).catch(() => {
      if (!response.headersSent) reply(response, 500, { errors: ['internal error'] });
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
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    model,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

async function handle(model: VaultModel, latencyMs: number, request: IncomingMessage, response: ServerResponse): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  if (latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, latencyMs));

  const url = request.url ?? '/';
  if (!url.startsWith('/v1/')) {
    reply(response, 404, { errors: [] });
    return;
  }
  let body: unknown;
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() !== '') {
    try {
      body = JSON.parse(text);
    } catch {
      reply(response, 400, { errors: ['failed to parse JSON input'] });
      return;
    }
  }
  const result = model.handle({
    method: request.method ?? 'GET',
    path: url.slice('/v1/'.length),
    token: header(request, 'x-vault-token'),
    namespace: header(request, 'x-vault-namespace'),
    body,
  });
  reply(response, result.status, result.body);
}

function header(request: IncomingMessage, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function reply(response: ServerResponse, status: number, body: unknown): void {
  if (status === 204 || body === undefined) {
    response.writeHead(status === 200 ? 204 : status, { 'cache-control': 'no-store' });
    response.end();
    return;
  }
  const text = JSON.stringify(body);
  response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  response.end(text);
}
