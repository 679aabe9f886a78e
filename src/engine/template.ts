// Workflow templates as the engine runs them: nodes (a step type, its config, retry, timeout, `when`),
// the edges between them, inputs and the run's outputs (CEL expressions).
import { z } from 'zod';

export const nodeId = z.string().regex(/^[A-Za-z_][A-Za-z0-9_-]{0,63}$/, 'letters, digits, "_" or "-", starting with a letter or "_"');

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
