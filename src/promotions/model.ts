// Promotions and approvals: request/response schemas.
import { z } from 'zod';
import { deploymentPlan } from '../deployments/plan-model.js';
import { explanation } from './why.js';

export const PROMOTION_STATUSES = [
  'pending',
  'awaiting_approval',
  'approved',
  'deploying',
  'deployed',
  'rejected',
  'cancelled',
  'failed',
  'rolled_back',
] as const;
export const ACTIVE_STATUSES = new Set(['pending', 'awaiting_approval', 'approved', 'deploying']);

export const gateResult = z.object({
  gate: z.string(),
  status: z.enum(['pass', 'fail', 'pending']),
  reason: z.string(),
  inputs: z.record(z.string(), z.unknown()),
  retryAt: z.string().optional(),
  policyVersion: z.string().optional(),
});

export const approval = z.object({
  id: z.uuid(),
  approver: z.object({ id: z.uuid(), username: z.string() }),
  action: z.enum(['approved', 'rejected']),
  comment: z.string(),
  approvedAt: z.string(),
  planHash: z.string().nullable().describe('The deployment plan this decision was given for'),
  forCurrentPlan: z.boolean().describe('False when the plan changed since: the approval no longer counts'),
});

export const planChange = z.object({
  at: z.string(),
  from: z.string().describe('Plan hash before'),
  to: z.string().describe('Plan hash after'),
  changes: z.array(z.string()).describe('What changed, in words'),
});

export const promotion = z.object({
  id: z.uuid(),
  releaseId: z.uuid(),
  releaseName: z.string(),
  sourceEnvironmentId: z.uuid().nullable(),
  sourceEnvironmentName: z.string().nullable(),
  targetEnvironmentId: z.uuid(),
  targetEnvironmentName: z.string(),
  status: z.enum(PROMOTION_STATUSES),
  reason: z.string(),
  blockedReason: z.string().nullable(),
  nextEvaluationAt: z.string().nullable(),
  decisionRecord: z.record(z.string(), z.unknown()),
  workflowRunId: z.uuid().nullable(),
  deploymentJobIds: z
    .array(z.uuid())
    .describe(
      'Deployment jobs of this promotion, oldest first (its deployment, then any rollback); GET /deployments?promotion=<id> lists them.',
    ),
  requestedBy: z.object({ id: z.uuid(), username: z.string() }),
  requestedAt: z.string(),
  updatedAt: z.string(),
  completedAt: z.string().nullable(),
  planHash: z.string().nullable().describe('Hash of the deployment plan approvals are for (GET /promotions/{id}/plan)'),
  planChanges: z.array(planChange).describe('Each time the plan changed before the decision, and how'),
});
export type Promotion = z.infer<typeof promotion>;
export const promotionDetail = promotion.extend({ approvals: z.array(approval) });

export const promotionCreate = z.strictObject({
  releaseId: z.string().min(1).max(128).describe('Release id (or name)'),
  targetEnvironmentId: z.string().min(1).max(100).describe('Environment id (or name)'),
  reason: z.string().max(2000).default(''),
});

export const promotionPreview = promotionCreate.omit({ reason: true });
export const previewResult = z.object({
  why: explanation.describe('Why it would wait or be refused, and until when'),
  plan: deploymentPlan.nullable().describe('What a deployment would do now (null when the environment has no targets)'),
  release: z.object({ id: z.uuid(), name: z.string() }),
  sourceEnvironment: z.object({ id: z.uuid(), name: z.string() }).nullable(),
  targetEnvironment: z.object({ id: z.uuid(), name: z.string() }),
  gates: z.array(gateResult),
  wouldPass: z.boolean().describe('True when no gate fails and only approvals are outstanding'),
});

export const promotionListQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z.string().max(500).optional(),
  status: z.enum(PROMOTION_STATUSES).optional(),
  environment: z.string().max(100).optional().describe('Target environment id or name'),
  release: z.string().max(128).optional().describe('Release id or name'),
});

export const promotionParam = z.strictObject({ id: z.uuid() });
export const decisionBody = z.strictObject({
  comment: z.string().max(4000).default(''),
  planHash: z
    .string()
    .regex(/^sha256:[0-9a-f]{64}$/)
    .optional()
    .describe('The plan the approver reviewed; when the plan is no longer that one, 409 plan_changed and nothing is recorded'),
});
export const promotionPlanResult = z.object({
  promotionId: z.uuid(),
  plan: deploymentPlan.nullable(),
  planHash: z.string().nullable(),
  changes: z.array(planChange),
});
export const rejectBody = z.strictObject({ comment: z.string().min(1, 'say why you reject').max(4000) });
export const overrideBody = z.strictObject({
  gate: z.string().min(1).max(100).describe('The gate to override, e.g. freeze_window'),
  reason: z.string().min(10, 'give a reason of at least 10 characters').max(2000),
  expiresInMinutes: z
    .number()
    .int()
    .min(1)
    .max(24 * 60)
    .default(60),
});
export const overrideResult = z.object({
  id: z.uuid(),
  gate: z.string(),
  reason: z.string(),
  expiresAt: z.string(),
  createdBy: z.string(),
  evidenceId: z.uuid().nullable(),
});
export const gatesResult = z.object({
  promotionId: z.uuid(),
  status: z.enum(PROMOTION_STATUSES),
  blockedReason: z.string().nullable(),
  nextEvaluationAt: z.string().nullable(),
  evaluatedAt: z.string().nullable(),
  gates: z.array(gateResult),
});
