// Progressive delivery: request and response schemas of rollouts (A/B releases and metric-driven
// canaries, behind a router or as target groups). The traffic changes agents apply on router targets are
// wire schemas, in src/protocol/traffic.ts.
import { z } from 'zod';
import { nameSchema } from '../core/ids.js';
import { trafficRouterConfig, trafficServer, trafficSplit } from '../protocol/traffic.js';
import { analysisResult, analysisSpec } from './analysis-model.js';

export const ROLLOUT_KINDS = ['ab', 'canary'] as const;
export const ROLLOUT_STATUSES = [
  'deploying',
  'running',
  'awaiting_approval',
  'paused',
  'promoting',
  'rolling_back',
  'promoted',
  'rolled_back',
  'aborted',
  'failed',
] as const;
export type RolloutStatus = (typeof ROLLOUT_STATUSES)[number];
/** Statuses a rollout ends in; nothing moves it afterwards. */
export const FINAL_STATUSES: readonly RolloutStatus[] = ['promoted', 'rolled_back', 'aborted', 'failed'];

export const stage = z.strictObject({
  weight: z.number().int().min(0).max(100).describe("The candidate variation's share of the traffic in percent."),
  holdSeconds: z
    .number()
    .int()
    .min(0)
    .max(604_800)
    .default(60)
    .describe('Seconds the split holds (from when the router applied it) before the stage may advance.'),
  analysis: z
    .boolean()
    .optional()
    .describe("Judge the stage with the rollout's analysis when the hold ends (default: yes when the rollout has an analysis)."),
  approval: z.boolean().default(false).describe('Wait for an operator to advance (POST …/advance) when the hold ends.'),
});
export type Stage = z.infer<typeof stage>;

export const variationIn = z.strictObject({
  name: z
    .string()
    .regex(/^[a-z][a-z0-9-]{0,39}$/)
    .describe('Variation name, e.g. "a" / "stable" and "b" / "candidate".'),
  release: z.string().min(1).max(200).describe('The release this variation serves (name or id).'),
  servers: z
    .array(trafficServer)
    .min(1)
    .max(100)
    .optional()
    .describe("Where the router reaches the variation's containers (behind a router only; target groups need none)."),
});

export const ROLLOUT_MODES = ['router', 'targets'] as const;

export const targetGroupIn = z.strictObject({
  selector: z
    .record(z.string().min(1).max(100), z.string().max(200))
    .default({})
    .describe("Labels the targets must have, within the environment's own selector (default: all its targets)."),
});

export const rolloutCreate = z.strictObject({
  name: nameSchema.describe('Rollout name, unique among the running rollouts of the tenant (also the route name).'),
  kind: z
    .enum(ROLLOUT_KINDS)
    .describe('ab: stages advance after their hold, on analysis or on approval. canary: each step judged by the analysis.'),
  environment: z.string().min(1).max(200).describe('Environment (name or id) the variations run in.'),
  routerTarget: z
    .string()
    .min(1)
    .max(200)
    .optional()
    .describe('Behind a router: the target (name or id) whose agent applies the split on its router.'),
  router: trafficRouterConfig
    .extend({
      route: trafficRouterConfig.shape.route.optional().describe('The route (HAProxy backend gantry_<route>); default: the rollout name.'),
    })
    .optional()
    .describe('Behind a router: the router on that target (nginx, haproxy or exec).'),
  targets: targetGroupIn
    .optional()
    .describe(
      'Target groups instead of a router: the targets (by labels) are split by stage, ceil(weight% × N) of them (in name order) run the candidate, the rest the stable release.',
    ),
  variations: z
    .array(variationIn)
    .length(2)
    .describe('The stable variation first (it serves everything at the start), then the candidate.'),
  header: trafficSplit.shape.header.optional(),
  sticky: trafficSplit.shape.sticky.optional(),
  stages: z
    .array(stage)
    .min(1)
    .max(20)
    .optional()
    .describe("The candidate's share stage by stage (default: canary 5 → 25 → 50 → 100, A/B 10 → 50 → 100 with approvals)."),
  analysis: analysisSpec.optional().describe('The metric analysis that judges stages (required for a canary).'),
  reason: z.string().max(2000).default('').describe('Why: recorded in the evidence of the start.'),
});
export type RolloutCreate = z.infer<typeof rolloutCreate>;

export const rolloutRef = z.strictObject({ id: z.uuid() });
export const actionBody = z.strictObject({ reason: z.string().max(2000).default('') });

const stepOut = z.object({
  action: z.string(),
  stage: z.number().int(),
  weight: z.number().int(),
  actor: z.string(),
  reason: z.string(),
  analysis: analysisResult.nullable(),
  evidenceId: z.uuid().nullable(),
  jobId: z.uuid().nullable().optional().describe('Target groups: the deployment job this step started.'),
  at: z.string(),
});

const jobOut = z.object({
  id: z.uuid(),
  status: z.string(),
  error: z.string().nullable(),
});

const changeOut = z.object({
  id: z.uuid(),
  status: z.string(),
  split: z.record(z.string(), z.unknown()),
  distribution: z.record(z.string(), z.number()).nullable().describe('What the router reported it serves after the change.'),
  error: z.string().nullable(),
  createdAt: z.string(),
  appliedAt: z.string().nullable(),
});

export const rollout = z.object({
  id: z.uuid(),
  name: z.string(),
  kind: z.enum(ROLLOUT_KINDS),
  environment: z.object({ id: z.uuid(), name: z.string() }),
  mode: z.enum(ROLLOUT_MODES).describe('router: the traffic is split by a router; targets: the targets are split into two groups.'),
  routerTarget: z.object({ id: z.uuid(), name: z.string() }).nullable(),
  router: z.record(z.string(), z.unknown()).nullable(),
  targetSelector: z.record(z.string(), z.string()).nullable().describe('Target groups: the label selector of the group.'),
  variations: z.array(
    z.object({
      name: z.string(),
      release: z.object({ id: z.uuid(), name: z.string() }),
      servers: z.array(trafficServer).describe('Behind a router: where it serves (empty for target groups).'),
      weight: z.number().int().describe('Its share now (percent).'),
      targets: z.array(z.string()).optional().describe('Target groups: the targets that run this variation at the current stage.'),
    }),
  ),
  header: trafficSplit.shape.header,
  sticky: trafficSplit.shape.sticky,
  stages: z.array(stage),
  analysis: z.record(z.string(), z.unknown()).nullable(),
  status: z.enum(ROLLOUT_STATUSES),
  statusReason: z.string().nullable(),
  currentStage: z.number().int().describe('Index into stages (-1: not started).'),
  weight: z.number().int().describe("The candidate's share now."),
  stageStartedAt: z.string().nullable().describe('When the router applied the current stage.'),
  nextCheckAt: z.string().nullable(),
  createdAt: z.string(),
  completedAt: z.string().nullable(),
  steps: z.array(stepOut),
  traffic: changeOut.nullable().describe('The latest traffic change and what the router reported.'),
  job: jobOut.nullable().optional().describe('Target groups: the latest deployment job of a stage change.'),
});
export type Rollout = z.infer<typeof rollout>;

export const rolloutSummary = rollout.omit({ steps: true, traffic: true, router: true, analysis: true, job: true });
export const rolloutListQuery = z.strictObject({
  status: z.enum(ROLLOUT_STATUSES).optional(),
  environment: z.string().max(200).optional(),
});
