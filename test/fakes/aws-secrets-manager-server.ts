/**
 * A local HTTP server speaking Secrets Manager's JSON 1.1 protocol over the in-memory model, so that the real SDK
 * client (request signing, serialisation, error parsing) is exercised end to end without a network.
 *
 * Protocol, as the SDK speaks it: `POST /` with `content-type: application/x-amz-json-1.1` and
 * `x-amz-target: secretsmanager.<Operation>`, a JSON body; replies are JSON with timestamps as epoch seconds and blobs
 * as base64. Errors are HTTP 400 (500 for internal errors) with `{"__type": "…", "message": "…"}`. The caller's access
 * key id is read from the SigV4 `Authorization` header (the signature itself is not checked).
 *
 * A request held at one of the model's gates (`model.hold('PutSecretValue')`) keeps its HTTP reply open until the test
 * releases it, so a test decides exactly when a write lands relative to other calls. Release every gate before
 * `close()`: closing ends held connections, which the client sees as a dropped connection.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ModelDisconnect, SecretsManagerModel, SecretsManagerModelError } from './aws-secrets-manager-model.js';

/** A running fake: its base URL (for the client's `endpoint`), the model behind it, and a way to stop it. */
export interface RunningSecretsManager {
  readonly url: string;
  readonly model: SecretsManagerModel;
  /** TCP connections accepted so far, and those open now: a client that is not reused opens one per credential. */
  readonly connections: { readonly accepted: number; readonly open: number };
  close(): Promise<void>;
}

/**
 * How long an idle keep-alive connection stays open. AWS's front ends keep an idle connection for about a minute (the
 * Elastic Load Balancing default idle timeout is 60 s,
 * https://docs.aws.amazon.com/elasticloadbalancing/latest/application/application-load-balancers.html#connection-idle-timeout),
 * so a client reusing its connections across a fleet run keeps them; a fake closing them after 1 s would make every
 * pause a new connection. `close()` ends the open ones, so tests are not held open by them.
 */
export const KEEP_ALIVE_MS = 60_000;

const TARGET_PREFIX = 'secretsmanager.';
const JSON_11 = 'application/x-amz-json-1.1';

/** Start a server on 127.0.0.1 and a free port, over `model` (a fresh one when absent). */
export async function start(model: SecretsManagerModel = new SecretsManagerModel()): Promise<RunningSecretsManager> {
  const server = createServer((request, response) => {
    void handle(model, request, response);
  });
  server.keepAliveTimeout = KEEP_ALIVE_MS;
  const connections = { accepted: 0, open: 0 };
  server.on('connection', (socket) => {
    connections.accepted++;
    connections.open++;
    socket.once('close', () => connections.open--);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  let closed: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${port}`,
    model,
    connections,
    close() {
      closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closed;
    },
  };
}

async function handle(model: SecretsManagerModel, request: IncomingMessage, response: ServerResponse): Promise<void> {
  const requestId = randomUUID();
  response.setHeader('x-amzn-requestid', requestId);
  try {
    const body = await readBody(request);
    if (request.method !== 'POST' || request.url !== '/') {
      return reply(response, 404, { __type: 'UnknownOperationException', message: `No route for ${request.method} ${request.url}` });
    }
    const target = headerOf(request, 'x-amz-target');
    if (!target.startsWith(TARGET_PREFIX)) {
      return reply(response, 400, { __type: 'UnknownOperationException', message: 'Missing or unknown x-amz-target header' });
    }
    if (!headerOf(request, 'content-type').startsWith(JSON_11)) {
      return reply(response, 400, { __type: 'SerializationException', message: `Expected content-type ${JSON_11}` });
    }
    let input: Record<string, unknown>;
    try {
      input = body.length === 0 ? {} : (JSON.parse(body) as Record<string, unknown>);
    } catch {
      return reply(response, 400, { __type: 'SerializationException', message: 'The request body is not valid JSON' });
    }
    if (typeof input['SecretBinary'] === 'string') input['SecretBinary'] = new Uint8Array(Buffer.from(input['SecretBinary'], 'base64'));
    const output = await model.call(target.slice(TARGET_PREFIX.length), input, { accessKeyId: accessKeyIdOf(request) });
    reply(response, 200, toWire(output));
  } catch (error) {
    if (error instanceof ModelDisconnect) {
      // A dropped connection: the client sees a socket hang-up, not an HTTP reply.
      request.socket.destroy();
      return;
    }
    if (error instanceof SecretsManagerModelError) {
      if (error.raw !== undefined) {
        response.writeHead(error.status, { 'content-type': error.raw.contentType, 'content-length': Buffer.byteLength(error.raw.body) });
        response.end(error.raw.body);
        return;
      }
      return reply(response, error.status, { __type: error.type, message: error.message });
    }
    reply(response, 500, { __type: 'InternalServiceError', message: 'An error occurred on the server side.' });
  }
}

function reply(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(status, { 'content-type': JSON_11, 'content-length': Buffer.byteLength(text) });
  response.end(text);
}

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.on('error', reject);
  });
}

function headerOf(request: IncomingMessage, name: string): string {
  const value = request.headers[name];
  return Array.isArray(value) ? (value[0] ?? '') : (value ?? '');
}

/** The access key id in `AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/secretsmanager/aws4_request, …`. */
function accessKeyIdOf(request: IncomingMessage): string | undefined {
  return /Credential=([^/,\s]+)\//.exec(headerOf(request, 'authorization'))?.[1];
}

/** Dates as epoch seconds and bytes as base64, as the JSON 1.1 protocol carries them. */
function toWire(value: unknown): unknown {
  if (value instanceof Date) return value.getTime() / 1000;
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  if (Array.isArray(value)) return value.map(toWire);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toWire(v)]));
  }
  return value;
}
