// Integrations: request/response schemas, the credentialRef format shared with targets, and zod-issue → problem-field mapping.
import { z } from 'zod';
import { nameSchema } from '../core/ids.js';
import { INTEGRATION_TYPE_IDS } from './types.js';

const CREDENTIAL_REF_RE = new RegExp(
  [
    /^secret:[a-z0-9](?:[a-z0-9._-]{0,61}[a-z0-9])?$/.source,
    /^env:[A-Z_][A-Z0-9_]*$/.source,
    /^file:\/[^\0\s]*$/.source,
    // vault:<integration-name>/<path>#<key>; the name follows the resource-name rule
    /^vault:[a-z0-9](?:[a-z0-9._-]{0,61}[a-z0-9])?\/[A-Za-z0-9._-]+(?:\/[A-Za-z0-9._-]+)*#[A-Za-z0-9._-]+$/.source,
  ].join('|'),
);

/** A pointer to a secret held elsewhere; the secret itself is never stored or returned by Gantry. */
export const credentialRef = z
  .string()
  .max(1000)
  .regex(
    CREDENTIAL_REF_RE,
    'must be "secret:<name>", "env:NAME" (NAME in A-Z, 0-9, _), "file:/absolute/path" or "vault:<integration-name>/<path>#<key>"',
  )
  .describe(
    "Where the secret lives: secret:<name> (this tenant's secret store), env:NAME or file:/absolute/path (only where the operator allows: GANTRY_SECRET_ENV_PREFIX, GANTRY_SECRET_DIRS) or vault:<integration-name>/<path>#<key>.",
  );

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
