// The deployment plan as the API returns it (src/deployments/plan.ts computes it).
import { z } from 'zod';
import { STRATEGIES, strategyConfig } from '../protocol/deployment.js';

export const plannedComponent = z.object({
  name: z.string(),
  image: z.string(),
  action: z
    .enum(['create', 'recreate', 'unchanged', 'remove', 'keep'])
    .describe('keep: not in the release and left running as it is (docker_host)'),
  fromDigest: z.string().nullable(),
  toDigest: z.string().nullable(),
  configHash: z.string().nullable().describe('Hash of the settings (command, env, port, health check) it will run with'),
  fromConfigHash: z.string().nullable().describe('Hash of the settings it runs with now, when known'),
  why: z.string(),
});

export const plannedTarget = z.object({
  targetId: z.uuid(),
  name: z.string(),
  targetType: z.string(),
  action: z.enum(['deploy', 'unchanged', 'remove', 'skip']),
  batch: z.number().int().nullable().describe('Rolling batch or canary wave, from 0'),
  mode: z.enum(['in_place', 'new_colour']).nullable(),
  drift: z.boolean(),
  components: z.array(plannedComponent),
  why: z.string(),
});

export const deploymentPlan = z.object({
  schema: z.literal('gantry.plan/v1'),
  release: z.object({ id: z.uuid(), name: z.string() }),
  environment: z.object({ id: z.uuid(), name: z.string() }),
  strategy: z.enum(STRATEGIES),
  strategyConfigHash: z.string(),
  batchCount: z.number().int(),
  targets: z.array(plannedTarget),
  summary: z.object({
    deploy: z.number().int(),
    unchanged: z.number().int(),
    remove: z.number().int(),
    skip: z.number().int(),
    create: z.number().int(),
    recreate: z.number().int(),
    removeComponents: z.number().int(),
  }),
  hash: z.string().describe('sha256 of the canonical JSON of the plan without this field; approvals are given for it'),
});

export const planRequest = z.strictObject({
  release: z.string().min(1).max(128).describe('Release id or name'),
  environment: z.string().min(1).max(100).describe('Environment id or name'),
  strategy: z.enum(STRATEGIES).optional(),
  strategyConfig: strategyConfig.partial().optional().describe("Overrides of the environment's config.deployment"),
});
