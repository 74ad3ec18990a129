/**
 * A local HTTP receiver for notification tests: it records every request (method, path, headers, body) and answers
 * as a Slack incoming webhook does: 200 with the body `ok` (https://api.slack.com/messaging/webhooks), or, when told,
 * 500 for the first N requests (a service having trouble), or never (a receiver that hangs: the request stays open
 * until the test closes the receiver).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
}

export interface ReceiverOptions {
  /** Answer 500 to this many requests before the first 200. */
  readonly failFirst?: number;
  /** Never answer. */
  readonly hang?: boolean;
}

export interface Receiver {
  /** Base URL, such as http://127.0.0.1:40123; a path may follow (a Slack URL carries its token in its path). */
  readonly url: string;
  /** Every request, in arrival order (hanging ones too). */
  readonly received: Received[];
  close(): Promise<void>;
}

export async function startReceiver(options: ReceiverOptions = {}): Promise<Receiver> {
  const received: Received[] = [];
  const open = new Set<ServerResponse>();
  let failures = options.failFirst ?? 0;
  const server = createServer((request, response) => {
    let body = '';
    request.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
    request.on('end', () => {
      received.push({ method: request.method ?? '', path: request.url ?? '', headers: request.headers, body });
      if (options.hang === true) {
        open.add(response);
        return;
      }
      if (failures > 0) {
        failures--;
        response.writeHead(500, { 'content-type': 'text/plain' }).end('internal_error');
        return;
      }
      response.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    close: async () => {
      for (const response of open) response.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
