// Targets: request/response schemas; the create body is a union on targetType so each connection shape is documented.
import { z } from 'zod';
import { pageQuery } from '../http/pagination.js';
import { nameSchema } from '../tenancy/model.js';
import { composeConnection, dockerConnection, labels, sshConnection, TARGET_TYPES } from './connection.js';

export const target = z.object({
  id: z.uuid(),
  name: z.string(),
  environmentId: z.uuid(),
  environmentName: z.string(),
  targetType: z.enum(TARGET_TYPES),
  connection: z.record(z.string(), z.unknown()).describe('The connection settings of the target type.'),
  labels: z.record(z.string(), z.string()),
  healthStatus: z.enum(['unknown', 'healthy', 'degraded', 'unhealthy']),
  currentDigest: z.string().nullable(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type Target = z.infer<typeof target>;

const environmentId = z.uuid({ error: 'must be the UUID of an environment of this tenant' });

const base = {
  name: nameSchema,
  environmentId,
  labels: labels.optional(),
};

export const targetCreate = z.discriminatedUnion('targetType', [
  z.strictObject({ ...base, targetType: z.literal('docker_host'), connection: dockerConnection }),
  z.strictObject({ ...base, targetType: z.literal('compose_host'), connection: composeConnection }),
  z.strictObject({ ...base, targetType: z.literal('ssh_host'), connection: sshConnection }),
]);
export type TargetCreate = z.infer<typeof targetCreate>;

export const targetUpdate = z.strictObject({
  name: nameSchema.optional(),
  environmentId: environmentId.optional(),
  targetType: z.string().max(100).optional().describe('Cannot change; accepted only when equal to the current type.'),
  connection: z.record(z.string(), z.unknown()).optional().describe("Replaces the whole connection; validated against the target's type."),
  labels: labels.optional().describe('Replaces all labels.'),
});
export type TargetUpdate = z.infer<typeof targetUpdate>;

export const targetRef = z.strictObject({
  ref: z.string().min(1).max(100).describe('Target id or name'),
});

export const targetListQuery = pageQuery.extend({
  environment: z.string().min(1).max(100).optional().describe('Only targets of this environment (id or name).'),
});
