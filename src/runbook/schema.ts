/** The zod schemas of runbook files (imported lazily by the loader and by `rekey config schema`). */
import { z } from 'zod';
import { durationProblem } from '../util/duration.js';

/**
 * A duration in the grammar of src/util/duration.ts. A number is let through the union only to be refused with a
 * hint (`a duration needs a unit: 90d? …`) rather than zod's "expected a string"; what passes is always a string.
 */
export const duration = z.union([z.string(), z.number()]).superRefine((value, ctx) => {
  const problem = durationProblem(value);
  if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
}) as unknown as z.ZodType<string, string | number>;
const common = {
  id: z
    .string()
    .regex(/^[A-Za-z0-9._-]+$/, 'ids use letters, digits, dot, dash and underscore')
    .optional(),
  name: z.string().optional(),
};

export const stepSchemas = {
  http: z.strictObject({
    ...common,
    http: z.strictObject({
      method: z.enum(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']).default('GET'),
      url: z.string().regex(/^(https?:\/\/|\{\{)/, 'url must start with https:// or http:// (or a template such as {{ inputs.baseUrl }})'),
      headers: z.record(z.string(), z.string()).optional(),
      body: z.union([z.string(), z.record(z.string(), z.unknown())]).optional(),
      form: z.record(z.string(), z.string()).optional(),
      basicAuth: z.strictObject({ username: z.string(), password: z.string() }).optional(),
      expect: z
        .array(z.number().int().min(100, 'an HTTP status is a number from 100 to 599').max(599, 'an HTTP status is a number from 100 to 599'))
        .min(1)
        .default([200]),
      retry: z.strictObject({ attempts: z.number().int().min(1).max(100), delay: duration }).optional(),
      timeout: duration.optional(),
      capture: z.string().min(1).optional(),
      record: z.array(z.string()).optional(),
      // Response fields that must hold one of the values (null: absent), for providers whose status is ambiguous.
      match: z.record(z.string().min(1), z.array(z.union([z.string(), z.number(), z.boolean(), z.null()])).min(1)).optional(),
      // The public page where the provider documents the answer `expect:` and `match:` take (a verifyRevoked step's
      // rejection): `rekey runbook test` requires it there, so that only a documented rejection counts as dead.
      documented: z
        .string()
        .regex(/^https?:\/\/\S+$/, 'documented: must be the URL of the page that documents the answer')
        .optional(),
    }),
  }),
  prompt: z.strictObject({
    ...common,
    prompt: z.strictObject({
      message: z.string().min(1),
      url: z.string().optional(),
      capture: z.boolean().optional(),
      confirm: z.string().optional(),
      reveal: z.string().optional(),
    }),
  }),
  generate: z.strictObject({
    ...common,
    generate: z.strictObject({
      bytes: z.number().int().min(16, 'at least 16 random bytes (128 bits)').max(512),
      encoding: z.enum(['hex', 'base64url']).default('hex'),
      prefix: z.string().default(''),
    }),
  }),
  exec: z.strictObject({
    ...common,
    exec: z.strictObject({
      argv: z.array(z.string()).min(1),
      env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'environment variable names use letters, digits and underscore'), z.string()).optional(),
      stdin: z.string().optional(),
      timeout: duration.optional(),
      retries: z.number().int().min(0).max(10).optional(),
      capture: z.boolean().optional(),
    }),
  }),
  uses: z.strictObject({
    ...common,
    uses: z.string().min(1),
    action: z.string().optional(),
    with: z.record(z.string(), z.unknown()).optional(),
  }),
};

const steps = z.array(z.unknown()).optional();

export const runbookSchema = z.strictObject({
  name: z.string(),
  title: z.string(),
  summary: z.string().optional(),
  overlap: z.enum(['none', 'until-revoked', 'expiring']),
  rotateEvery: duration.optional(),
  dashboard: z.string().optional(),
  secret: z.strictObject({ pattern: z.string().optional(), description: z.string().optional() }).optional(),
  inputs: z
    .record(
      z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'input names use letters, digits and underscore'),
      z.strictObject({ description: z.string(), default: z.string().optional(), required: z.boolean().optional() }),
    )
    .optional(),
  generate: z.array(z.unknown()).min(1),
  verify: steps,
  revoke: steps,
  verifyRevoked: steps,
  audit: steps,
  discard: steps,
  notes: z.array(z.string()).optional(),
  // Text for the written runbook, per phase: what the person does where no step does it, or what consumers need.
  explain: z
    .strictObject({
      generate: z.string().min(1).optional(),
      rollout: z.string().min(1).optional(),
      verify: z.string().min(1).optional(),
      revoke: z.string().min(1).optional(),
      verifyRevoked: z.string().min(1).optional(),
      audit: z.string().min(1).optional(),
    })
    .optional(),
  // What a responder does at the provider after a leak (RunbookResponse): shown as written, with its public sources.
  respond: z
    .strictObject({
      logs: z
        .strictObject({
          text: z.string().min(1),
          url: z
            .string()
            .regex(/^https:\/\//, 'a log page is an https:// URL')
            .optional(),
        })
        .optional(),
      changes: z.array(z.string().min(1)).optional(),
      notify: z.array(z.string().min(1)).optional(),
      sources: z.array(z.string().regex(/^https:\/\//, 'a source is the https:// URL of a public page')).optional(),
    })
    .optional(),
  // How `rekey rehearse --runbook <name>` plays the provider with the local sandbox (see RunbookRehearsal).
  rehearsal: z
    .strictObject({
      unsupported: z.string().min(1).optional(),
      variable: z
        .string()
        .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'a .env variable name uses letters, digits and underscore')
        .optional(),
      keyPrefix: z.string().optional(),
      keepPrevious: z.boolean().optional(),
      inputs: z.record(z.string(), z.string()).optional(),
    })
    .optional(),
});
