/** The zod schema of rekey.yaml (imported lazily: zod costs ~90 ms to load). */
import { z } from 'zod';
import type { StoreOption } from '../contract/store.js';
import { duration } from '../runbook/schema.js';

/** Credential ids become file names and lock names. */
export const credentialId = z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'credential ids use lower-case letters, digits, dot, dash and underscore');

/** RFC 1123 names, as the Kubernetes object-names page states them: a namespace is a label, a workload a subdomain. */
const k8sLabel = z
  .string()
  .max(63)
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'a namespace is lower-case letters, digits and "-" (RFC 1123 label)');
const k8sName = z
  .string()
  .max(253)
  .regex(
    /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/,
    'a workload name is lower-case letters, digits, "-" and "." (RFC 1123 subdomain)',
  );

/** The built-in `kubernetes-rollout` hook (adapters/steps/kubernetes-rollout.ts): restart workloads and wait. */
export const kubernetesRolloutSchema = z
  .strictObject({
    namespace: k8sLabel,
    deployments: z.array(k8sName).optional(),
    statefulsets: z.array(k8sName).optional(),
    timeout: duration.optional(),
    context: z.string().min(1).optional(),
    kubeconfig: z.string().min(1).optional(),
  })
  .refine((hook) => (hook.deployments?.length ?? 0) + (hook.statefulsets?.length ?? 0) > 0, 'name at least one of deployments: or statefulsets:');

export const hookSchema = z
  .strictObject({
    name: z.string().optional(),
    exec: z.array(z.string()).min(1).optional(),
    'kubernetes-rollout': kubernetesRolloutSchema.optional(),
    env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'environment variable names use letters, digits and underscore'), z.string()).optional(),
    stdin: z.string().optional(),
    timeout: duration.optional(),
    retries: z.number().int().min(0).max(10).optional(),
  })
  .superRefine((hook, context) => {
    const rollout = hook['kubernetes-rollout'];
    if ((hook.exec === undefined) === (rollout === undefined)) {
      context.addIssue({ code: 'custom', message: 'a rollout hook is either exec: [command, …] or kubernetes-rollout: { namespace, deployments }' });
    }
    if (rollout !== undefined) {
      for (const key of ['env', 'stdin'] as const) {
        if (hook[key] !== undefined)
          context.addIssue({ code: 'custom', path: [key], message: `${key}: is for exec hooks; kubernetes-rollout runs no command` });
      }
    }
  });

const policySchema = z.strictObject({
  maxAge: duration.optional(),
  budget: duration.optional(),
});

/**
 * When the current value was last written, as the person knows it: for stores that keep no date (`.env`). A date
 * (`2026-09-01`, read as UTC midnight) or an ISO 8601 time with its offset (`2026-09-01T14:00:00Z`); not in the future.
 * Checked by hand (a regex and a calendar check): Date.parse alone takes 2026-02-30 for March 2.
 */
export const lastRotated = z
  .string()
  .describe('when the current value was last written, for stores that keep no date: 2026-09-01 or 2026-09-01T14:00:00Z')
  .superRefine((value, context) => {
    const ms = lastRotatedMs(value);
    if (Number.isNaN(ms))
      context.addIssue({ code: 'custom', message: `"${value.trim()}" is not a date: expected 2026-09-01 or 2026-09-01T14:00:00Z (with its offset)` });
    else if (ms > Date.now() + 60_000)
      context.addIssue({ code: 'custom', message: `${value.trim()} is in the future: lastRotated says when the current value was written` });
  });

/** Milliseconds since the epoch of a `lastRotated` value, or NaN when it is no date (see above). */
export function lastRotatedMs(value: string): number {
  const text = value.trim();
  const match = /^(\d{4})-(\d{2})-(\d{2})(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2}))?$/.exec(text);
  if (match === null) return Number.NaN;
  const [year, month, day] = match.slice(1, 4).map(Number) as [number, number, number];
  if (month < 1 || month > 12 || new Date(Date.UTC(year, month - 1, day)).getUTCDate() !== day) return Number.NaN;
  return Date.parse(text.length === 10 ? `${text}T00:00:00Z` : text.replace(' ', 'T'));
}

/** A credential's own policy: the defaults' fields, and when it was last rotated (which no default can say). */
const credentialPolicySchema = policySchema.extend({ lastRotated: lastRotated.optional() });

export const credentialSchema = z.strictObject({
  runbook: z.string().min(1),
  description: z.string().optional(),
  inputs: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).optional(),
  // Each entry is `{ <kind>: <path#field>, <option>: … }`; checked against the adapters by the loader.
  stores: z.array(z.record(z.string(), z.unknown())).min(1, 'a credential needs at least one store'),
  rollout: z.array(hookSchema).optional(),
  policy: credentialPolicySchema.optional(),
});

const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'environment variable names use letters, digits and underscore');

/** What a notification channel is told about (src/notify/message.ts); `success` only when asked for. */
export const notifyKinds = ['failure', 'reminder', 'overdue', 'success'] as const;

/**
 * One place to tell people (src/notify/): a generic JSON webhook, a Slack incoming webhook, or a command that reads
 * the message as JSON on its stdin. A URL is a secret (it carries its own token): the file names the environment
 * variable that holds it (`url: { env: SLACK_WEBHOOK_URL }`); a URL written out is refused by the loader, which
 * checks what each channel needs (a url, or exec) since the schema alone cannot say where.
 */
export const notifyChannelSchema = z.strictObject({
  channel: z.enum(['webhook', 'slack', 'exec']),
  name: z.string().optional(),
  url: z.union([z.string(), z.strictObject({ env: envName })]).optional(),
  exec: z.array(z.string()).min(1).optional(),
  on: z.array(z.enum(notifyKinds)).min(1).optional(),
  timeout: duration.optional(),
  retries: z.number().int().min(0).max(10).optional(),
});

export const configSchema = z.strictObject({
  version: z.literal(1).optional(),
  stateDir: z.string().optional(),
  notify: z.array(notifyChannelSchema).optional(),
  runbooks: z.array(z.string()).optional(),
  defaults: policySchema.optional(),
  credentials: z.record(credentialId, credentialSchema),
});

export type RawConfig = z.output<typeof configSchema>;

/**
 * Where the schema of a release can be fetched: unpkg serves every file of every version published on npm, and the
 * package ships this schema as dist/rekey.schema.json (written by `npm run build`). Versioned, so that an editor checks a
 * rekey.yaml against the release that will read it, and resolvable with no website of rekey's own to keep up.
 */
export function schemaUrl(pkg: { name: string; version: string }): string {
  return `https://unpkg.com/${pkg.name}@${pkg.version}/dist/rekey.schema.json`;
}

/** The package's name on npm (package.json's `name`). */
export const PACKAGE_NAME = '@rekey-cli/rekey';

/**
 * The JSON Schema of rekey.yaml for editors, with store entries spelled out per kind; `$id` is `id` (see schemaUrl),
 * by default the latest release's.
 */
export function configJsonSchema(
  stores: ReadonlyArray<{ kind: string; summary: string; options: Readonly<Record<string, StoreOption>> }>,
  id = `https://unpkg.com/${PACKAGE_NAME}/dist/rekey.schema.json`,
): unknown {
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
  return { $id: id, title: 'rekey.yaml', ...schema };
}
