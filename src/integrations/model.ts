// Integrations: request/response schemas (the credentialRef format, shared with targets and the CLI, is in core) and zod-issue → problem-field mapping.
import { z } from 'zod';
import { credentialRef } from '../core/credential-ref.js';
import { nameSchema } from '../core/ids.js';
import { INTEGRATION_TYPE_IDS } from './types.js';

export { credentialRef };

const typeIdSchema = z
  .string()
  .min(1)
  .max(64)
  .describe(`Integration type; built-in: ${INTEGRATION_TYPE_IDS.join(', ')}. The config shape depends on it.`);

const configInput = z
  .record(z.string(), z.unknown())
  .describe('Type-specific settings (see typeId). Never secrets: reference them with credentialRef.');

export const integration = z.object({
  id: z.uuid(),
  name: z.string(),
  typeId: z.string(),
  config: z.record(z.string(), z.unknown()),
  credentialRef: z.string().nullable(),
  healthStatus: z.enum(['unknown', 'healthy', 'unhealthy']),
  healthMessage: z.string().nullable(),
  lastCheckedAt: z.string().nullable(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type Integration = z.infer<typeof integration>;

export const integrationCreate = z.strictObject({
  name: nameSchema,
  typeId: typeIdSchema,
  config: configInput.optional(),
  credentialRef: credentialRef.optional(),
});
export type IntegrationCreate = z.infer<typeof integrationCreate>;

export const integrationUpdate = z.strictObject({
  name: nameSchema.optional(),
  typeId: typeIdSchema.optional().describe('Cannot change; accepted only when equal to the current type.'),
  config: configInput.optional().describe('Replaces the whole config, validated against the integration type.'),
  credentialRef: credentialRef.nullable().optional().describe('null removes the reference.'),
});
export type IntegrationUpdate = z.infer<typeof integrationUpdate>;

export const integrationRef = z.strictObject({
  ref: z.string().min(1).max(100).describe('Integration id or name'),
});
