// Built-in integration types: the config schema of each (the rule that keeps secrets out of config is in
// src/core/secret-keys.ts).
import { z } from 'zod';
import { httpUrl } from '../core/urls.js';

const ociRegistry = z
  .strictObject({
    url: httpUrl.describe('Registry base URL, e.g. https://registry.example.com:5000'),
    insecure: z.boolean().optional().describe('Allow plain http:// (only for registries on a trusted network).'),
  })
  .refine((c) => !c.url.startsWith('http://') || c.insecure === true, {
    message: 'plain http:// is allowed only with "insecure": true; prefer https://',
    path: ['url'],
  });

const vault = z.strictObject({
  address: httpUrl.describe('Vault address, e.g. https://vault.example.com:8200'),
  mount: z
    .string()
    .regex(/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/, 'must be a KV v2 mount path such as "secret"')
    .max(200)
    .default('secret'),
  namespace: z.string().min(1).max(200).optional().describe('Vault Enterprise namespace.'),
});

const notificationWebhook = z.strictObject({
  url: httpUrl,
  format: z.enum(['generic', 'slack']).default('generic'),
  events: z
    .array(z.string().regex(/^[a-z][a-z0-9_.*-]{0,99}$/, 'must be an event name such as "promotion.approved"'))
    .max(100)
    .optional()
    .describe('Events to send; default: all.'),
});

const scannerWebhook = z.strictObject({ url: httpUrl });

const policyWebhook = z.strictObject({
  url: httpUrl,
  timeoutMs: z.number().int().min(100).max(60_000).optional().describe('How long a policy decision may take (default 5000).'),
});

/** The config schema of each built-in type; plugins add their own types later. */
export const INTEGRATION_TYPES = {
  oci_registry: ociRegistry,
  secret_store_vault: vault,
  notification_webhook: notificationWebhook,
  scanner_webhook: scannerWebhook,
  policy_webhook: policyWebhook,
} as const satisfies Record<string, z.ZodType<Record<string, unknown>>>;

export type IntegrationTypeId = keyof typeof INTEGRATION_TYPES;
export const INTEGRATION_TYPE_IDS = Object.keys(INTEGRATION_TYPES) as IntegrationTypeId[];

export function isIntegrationType(id: string): id is IntegrationTypeId {
  return Object.hasOwn(INTEGRATION_TYPES, id);
}
