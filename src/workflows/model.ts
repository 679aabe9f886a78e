// Workflow templates and runs: request/response schemas (validation, OpenAPI and types from one source).
import { z } from 'zod';
import { inputDef, nodeId, type TemplateBody, templateBody, templateEdge, templateNode } from '../engine/index.js';

// The template body is the engine's (it runs it); the API takes and returns it as is.
export { type TemplateBody, templateBody };

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
