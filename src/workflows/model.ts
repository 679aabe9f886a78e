// Workflow templates and runs: request/response schemas (validation, OpenAPI and types from one source).
import { z } from 'zod';

const nodeId = z.string().regex(/^[A-Za-z_][A-Za-z0-9_-]{0,63}$/, 'letters, digits, "_" or "-", starting with a letter or "_"');

export const retryPolicy = z.strictObject({
  maxAttempts: z.number().int().min(1).max(100).default(1),
  backoff: z
    .strictObject({
      initialSeconds: z.number().min(0).max(3600).default(1),
      factor: z.number().min(1).max(10).default(2),
      maxSeconds: z.number().min(0).max(86_400).default(300),
    })
    .optional(),
});

export const templateNode = z.strictObject({
  id: nodeId,
  type: z.string().min(1).max(100),
  config: z.record(z.string(), z.unknown()).optional(),
  retry: retryPolicy.optional(),
  timeoutSeconds: z
    .number()
    .int()
    .min(1)
    .max(7 * 86_400)
    .optional(),
  when: z.string().min(1).max(2000).optional().describe('CEL condition over inputs and upstream steps; false skips the node.'),
});
export type TemplateNode = z.infer<typeof templateNode>;

export const templateEdge = z.strictObject({ from: nodeId, to: nodeId });
export type TemplateEdge = z.infer<typeof templateEdge>;

export const inputDef = z.strictObject({
  type: z.enum(['string', 'number', 'boolean', 'object', 'array']),
  required: z.boolean().optional(),
  default: z.unknown().optional(),
  description: z.string().max(500).optional(),
});

export const templateBody = z.strictObject({
  nodes: z.array(templateNode).min(1).max(500),
  edges: z.array(templateEdge).max(5000).default([]),
  inputs: z.record(z.string().regex(/^[A-Za-z_]\w{0,63}$/), inputDef).default({}),
  outputs: z
    .record(z.string().regex(/^[A-Za-z_]\w{0,63}$/), z.string().min(1).max(2000))
    .default({})
    .describe('Output name → CEL expression'),
});
export type TemplateBody = z.infer<typeof templateBody>;

export const templateCreate = templateBody.extend({
  name: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, 'lowercase letters, digits, ".", "_" or "-"'),
});

export const template = z.object({
  id: z.uuid(),
  name: z.string(),
  version: z.number().int(),
  isBuiltin: z.boolean(),
  nodes: z.array(templateNode),
  edges: z.array(templateEdge),
  inputs: z.record(z.string(), inputDef),
  outputs: z.record(z.string(), z.string()),
  createdAt: z.string(),
});
export type Template = z.infer<typeof template>;

export const templateRef = z.strictObject({ ref: z.string().min(1).max(100).describe('Template id or name') });
export const templateGetQuery = z.strictObject({ version: z.coerce.number().int().min(1).optional() });

export const RUN_STATUSES = ['pending', 'running', 'succeeded', 'failed', 'cancelled'] as const;
export const STEP_STATUSES = ['pending', 'running', 'waiting', 'succeeded', 'failed', 'cancelled', 'skipped'] as const;

export const stepRun = z.object({
  id: z.uuid(),
  nodeId: z.string(),
  status: z.enum(STEP_STATUSES),
  attemptNumber: z.number().int(),
  inputs: z.record(z.string(), z.unknown()),
  outputs: z.record(z.string(), z.unknown()),
  logs: z.string(),
  error: z.string().nullable(),
  startedAt: z.string().nullable(),
  completedAt: z.string().nullable(),
});

export const run = z.object({
  id: z.uuid(),
  templateId: z.uuid(),
  templateName: z.string(),
  templateVersion: z.number().int(),
  promotionId: z.uuid().nullable().describe('The promotion this run carries out, if any'),
  releaseName: z.string().nullable().describe("The promotion's release"),
  environmentName: z.string().nullable().describe("The promotion's target environment"),
  status: z.enum(RUN_STATUSES),
  inputs: z.record(z.string(), z.unknown()),
  outputs: z.record(z.string(), z.unknown()),
  context: z.record(z.string(), z.unknown()),
  error: z.string().nullable(),
  createdAt: z.string(),
  startedAt: z.string().nullable(),
  completedAt: z.string().nullable(),
});
export const runDetail = run.extend({ steps: z.array(stepRun) });

export const runStart = z.strictObject({
  template: z.string().min(1).max(100).describe('Template id or name'),
  version: z.number().int().min(1).optional().describe('Default: the latest version'),
  inputs: z.record(z.string(), z.unknown()).default({}),
});
export const runListQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z.string().max(500).optional(),
  status: z.enum(RUN_STATUSES).optional(),
});
export const runParam = z.strictObject({ id: z.uuid() });
export const stepEventParam = z.strictObject({ id: z.uuid(), nodeId });
export const stepEvent = z.strictObject({
  event: z.string().min(1).max(100),
  payload: z.record(z.string(), z.unknown()).default({}),
});
