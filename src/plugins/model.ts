// Plugins and plugin instances: API request and response schemas (validation, OpenAPI and TS types).
import { z } from 'zod';

export const PLUGIN_STATUSES = ['installed', 'active', 'disabled', 'failed'] as const;

const contribution = z.object({ name: z.string(), description: z.string(), configSchema: z.record(z.string(), z.unknown()).optional() });

export const plugin = z.object({
  id: z.uuid(),
  pluginId: z.string(),
  version: z.string(),
  vendor: z.string(),
  description: z.string(),
  apiVersion: z.string(),
  status: z.enum(PLUGIN_STATUSES),
  statusReason: z.string().nullable().describe('Why the plugin is failed or disabled, or what to do next.'),
  entrypoint: z.string(),
  contributes: z.object({
    gates: z.array(contribution),
    stepTypes: z.array(contribution),
    notificationChannels: z.array(contribution),
    targetExecutors: z.array(contribution),
    registries: z.array(contribution),
    secretStores: z.array(contribution),
  }),
  configSchema: z.record(z.string(), z.unknown()).nullable(),
  archiveSha256: z.string().nullable(),
  installedBy: z.string().nullable(),
  installedAt: z.string(),
  updatedAt: z.string(),
});
export type Plugin = z.infer<typeof plugin>;

export const pluginRef = z.strictObject({
  id: z.string().min(1).max(128).describe('Plugin id (e.g. acme-window) or its UUID.'),
});

export const pluginInstall = z.strictObject({
  archive: z
    .string()
    .min(1)
    .max(28 * 1024 * 1024)
    .regex(/^[A-Za-z0-9+/]+=*$/, 'must be base64')
    .describe('The plugin package as a base64-encoded .tgz (as `npm pack` or `gantry plugin install DIR` makes it).'),
  enable: z.boolean().default(false).describe('Activate the plugin right after installing it.'),
});

export const pluginInstance = z.object({
  id: z.uuid(),
  pluginId: z.string(),
  config: z.record(z.string(), z.unknown()),
  enabled: z.boolean(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type PluginInstance = z.infer<typeof pluginInstance>;

export const instanceUpsert = z.strictObject({
  pluginId: z.string().min(1).max(128).describe('The plugin (its id, e.g. acme-window, or UUID).'),
  config: z
    .record(z.string(), z.unknown())
    .default({})
    .describe('This tenant’s settings, checked against the plugin’s configSchema. Never secrets: use integrations with a credentialRef.'),
  enabled: z.boolean().default(true),
});
export type InstanceUpsert = z.infer<typeof instanceUpsert>;

export const instanceUpdate = z.strictObject({
  config: z.record(z.string(), z.unknown()).optional(),
  enabled: z.boolean().optional(),
});
export type InstanceUpdate = z.infer<typeof instanceUpdate>;
