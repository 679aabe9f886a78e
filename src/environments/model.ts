// Environments: schemas for requests and responses (the single source of validation, OpenAPI and types).
import { z } from 'zod';
import { nameSchema } from '../core/ids.js';
import { STRATEGIES, strategyConfig } from '../protocol/deployment.js';
import { freezeWindows } from './freeze.js';

export const environmentConfig = z.strictObject({
  requirePreviousEnvironment: z
    .boolean()
    .optional()
    .describe('Promoting here needs a successful deployment of the same release in the previous environment (default true).'),
  gates: z
    .array(z.union([z.string().min(1).max(100), z.strictObject({ id: z.string().min(1).max(100), config: z.unknown().optional() })]))
    .max(50)
    .optional()
    .describe(
      'Gates that apply to promotions into this environment: ids, or {id, config}. Default: environment_order, release_status, approvals, separation_of_duties, freeze_window.',
    ),
  overrideRoles: z
    .array(z.enum(['admin', 'release_manager', 'approver', 'deployer']))
    .max(4)
    .optional()
    .describe('Roles that may override a gate in an emergency (default: admin).'),
  promotionTemplate: z
    .string()
    .min(1)
    .max(100)
    .optional()
    .describe('Workflow template a promotion here runs (default: the built-in standard promotion).'),
  autoRollback: z.boolean().optional().describe('Roll back automatically when a deployment fails.'),
  targetSelector: z.record(z.string(), z.string()).optional().describe('Only targets with these labels receive deployments.'),
  deployment: strategyConfig
    .extend({ strategy: z.enum(STRATEGIES).optional().describe('Default strategy of deployments here (default all_at_once).') })
    .optional()
    .describe('How deployments into this environment run: strategy, batches, health checks, services (docs/deployments.md).'),
});

export const environment = z.object({
  id: z.uuid(),
  name: z.string(),
  displayName: z.string(),
  orderIndex: z.number().int(),
  config: environmentConfig,
  freezeWindows,
  requiredApprovals: z.number().int(),
  requireSod: z.boolean(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type Environment = z.infer<typeof environment>;

/** An environment as read: with its freeze state now, so a client need not evaluate the rules itself. */
export const environmentRead = environment.extend({
  freeze: z
    .object({
      active: z.array(z.string()).describe('Names of the freeze windows that cover now'),
      until: z
        .string()
        .nullable()
        .describe('When the current freeze ends (windows back to back or overlapping are followed), or null when not frozen'),
      untilLocal: z
        .string()
        .nullable()
        .describe('The same moment in the time zone of the window that ends last, e.g. "Mon 30 Mar 2026 09:00 Europe/Berlin (UTC+02:00)"'),
    })
    .describe('The freeze windows in force now, as the freeze_window gate sees them'),
});

export const environmentCreate = z.strictObject({
  name: nameSchema,
  displayName: z.string().max(200).optional(),
  orderIndex: z.number().int().min(0).max(10_000).optional().describe('Promotion order; default: after the last environment.'),
  config: environmentConfig.optional(),
  freezeWindows: freezeWindows.optional(),
  requiredApprovals: z.number().int().min(0).max(100).optional(),
  requireSod: z.boolean().optional(),
});

export const environmentUpdate = environmentCreate.partial();

export const envRef = z.strictObject({
  ref: z.string().min(1).max(100).describe('Environment id or name'),
});
