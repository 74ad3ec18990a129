/** The zod schema of rekey.yaml (imported lazily: zod costs ~90 ms to load). */
import { z } from 'zod';
import type { StoreOption } from '../contract/store.js';
import { duration } from '../runbook/schema.js';

/** Credential ids become file names and lock names. */
export const credentialId = z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'credential ids use lower-case letters, digits, dot, dash and underscore');

export const hookSchema = z.strictObject({
  name: z.string().optional(),
  exec: z.array(z.string()).min(1),
  env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'environment variable names use letters, digits and underscore'), z.string()).optional(),
  stdin: z.string().optional(),
  timeout: duration.optional(),
  retries: z.number().int().min(0).max(10).optional(),
});

const policySchema = z.strictObject({
  maxAge: duration.optional(),
  budget: duration.optional(),
});

export const credentialSchema = z.strictObject({
  runbook: z.string().min(1),
  description: z.string().optional(),
  inputs: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).optional(),
  // Each entry is `{ <kind>: <path#field>, <option>: … }`; checked against the adapters by the loader.
  stores: z.array(z.record(z.string(), z.unknown())).min(1, 'a credential needs at least one store'),
  rollout: z.array(hookSchema).optional(),
  policy: policySchema.optional(),
});

export const configSchema = z.strictObject({
  version: z.literal(1).optional(),
  stateDir: z.string().optional(),
  runbooks: z.array(z.string()).optional(),
  defaults: policySchema.optional(),
  credentials: z.record(credentialId, credentialSchema),
});

export type RawConfig = z.output<typeof configSchema>;

/** The JSON Schema of rekey.yaml for editors, with store entries spelled out per kind. */
export function configJsonSchema(stores: ReadonlyArray<{ kind: string; summary: string; options: Readonly<Record<string, StoreOption>> }>): unknown {
  const schema = z.toJSONSchema(configSchema, { target: 'draft-2020-12', unrepresentable: 'any' }) as Record<string, unknown>;
  const typeOf = (option: StoreOption): unknown => ({
    ...(option.type === 'string[]' ? { type: 'array', items: { type: 'string' } } : { type: option.type }),
    description: option.description,
    ...(option.default === undefined ? {} : { default: option.default }),
  });
  const entry = {
    oneOf: stores.map((store) => ({
      type: 'object',
      description: store.summary,
      required: [store.kind],
      additionalProperties: false,
      properties: {
        [store.kind]: { type: 'string', description: `${store.kind} ref: path#field` },
        ...Object.fromEntries(Object.entries(store.options).map(([k, t]) => [k, typeOf(t)])),
      },
    })),
  };
  const credentials = (schema['properties'] as Record<string, { additionalProperties?: { properties?: Record<string, { items?: unknown }> } }>)['credentials'];
  const storesProp = credentials?.additionalProperties?.properties?.['stores'];
  if (storesProp !== undefined) storesProp.items = entry;
  return { $id: 'https://rekey.dev/schema/rekey.yaml.json', title: 'rekey.yaml', ...schema };
}
