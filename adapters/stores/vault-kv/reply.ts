/** Vault's JSON replies and failures, read without trusting their shape. */
export function recordOf(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

export function dataOf(body: unknown): Record<string, unknown> | undefined {
  return recordOf(recordOf(body)?.['data']);
}

export function customOf(value: unknown): Record<string, string> {
  const record = recordOf(value);
  if (record === undefined) return {};
  return Object.fromEntries(Object.entries(record).filter((e): e is [string, string] => typeof e[1] === 'string'));
}

export function statusOf(error: unknown): number | undefined {
  const status = recordOf(recordOf(error)?.['response'])?.['statusCode'];
  return typeof status === 'number' ? status : undefined;
}

export function responseBodyOf(error: unknown): unknown {
  return recordOf(recordOf(error)?.['response'])?.['body'];
}

/** The first message in a Vault error reply, `{"errors":["…"]}`. */
