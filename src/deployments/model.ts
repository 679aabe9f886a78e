// Deployments: request/response schemas of the jobs API (jobs with their tasks, logs, artifacts).
import { z } from 'zod';
import { pageOf, pageQuery } from '../http/pagination.js';
import { observedComponent, STRATEGIES, strategyConfig, taskComponent } from '../protocol/deployment.js';
import { deploymentPlan } from './plan-model.js';

export const JOB_STATUSES = ['pending', 'running', 'succeeded', 'failed', 'cancelled'] as const;
export const TASK_STATUSES = ['pending', 'assigned', 'running', 'succeeded', 'failed', 'skipped'] as const;

export const deploymentCreate = z.strictObject({
  releaseId: z.string().min(1).max(200).describe('Release id or name.'),
  environmentId: z.string().min(1).max(100).describe('Environment id or name.'),
  strategy: z.enum(STRATEGIES).optional().describe("Default: the environment's config.deployment.strategy, else all_at_once."),
  strategyConfig: strategyConfig.partial().optional().describe("Overrides the environment's config.deployment."),
});
export type DeploymentCreate = z.infer<typeof deploymentCreate>;

/** A container observation as stored with the task (the report's, without the container labels). */
const observedContainer = observedComponent.omit({ labels: true });

export const task = z.object({
  id: z.uuid(),
  targetId: z.uuid(),
  targetName: z.string(),
  targetType: z.string(),
  status: z.enum(TASK_STATUSES),
  action: z
    .enum(['deploy', 'remove'])
    .describe("remove: the rollback of this target's first-ever deployment takes away what Gantry created there."),
  batch: z.number().int(),
  digest: z.string(),
  previousDigest: z.string().nullable(),
  components: z.array(taskComponent),
  agentId: z.string().nullable(),
  leaseOwner: z.string().nullable(),
  attempt: z.number().int(),
  fencingToken: z.number().int().describe('Fencing token of the latest lease (0: never leased); grows with every lease.'),
  error: z.string().nullable(),
  waitingReason: z
    .string()
    .nullable()
    .describe(
      'Why this pending task has no runner, e.g. "no online agent serves web-9: needs agent=edge-2"; null when it is not waiting for one.',
    ),
  waitingSince: z.string().nullable().describe('Since when the task waits for a runner; it fails after the wait timeout.'),
  health: z.record(z.string(), z.unknown()).nullable(),
  observed: z
    .array(observedContainer)
    .describe(
      'What the runner observed after the change, per container: id, image digest, health result, time (the proof of convergence).',
    ),
  startedAt: z.string().nullable(),
  completedAt: z.string().nullable(),
});

export const waveVerification = z.object({
  wave: z.number().int().describe('Wave number, from 1.'),
  batch: z.number().int(),
  startedAt: z.string().describe('Start of the verification window.'),
  until: z.string().describe('End of the window (startedAt + verifySeconds).'),
  endedAt: z.string().describe('When the verification ended: the window ended, or a target was reported unhealthy.'),
  outcome: z.enum(['passed', 'failed']),
  unhealthy: z.array(z.string()).describe('Targets reported unhealthy during the window.'),
  targets: z.array(
    z.object({
      id: z.string(),
      name: z.string(),
      healthStatus: z.string(),
      observedAt: z.string().nullable(),
      observedInWindow: z.boolean(),
    }),
  ),
});

export const artifactRef = z.object({ name: z.string(), taskId: z.string().nullable(), sha256: z.string(), mediaType: z.string() });

export const job = z.object({
  id: z.uuid(),
  promotionId: z.string().nullable(),
  releaseId: z.uuid(),
  releaseName: z.string(),
  environmentId: z.uuid(),
  environmentName: z.string(),
  status: z.enum(JOB_STATUSES),
  strategy: z.enum(STRATEGIES),
  strategyConfig: z.record(z.string(), z.unknown()),
  currentBatch: z.number().int(),
  batchCount: z.number().int(),
  pausedReason: z.string().nullable(),
  waitingReason: z
    .string()
    .nullable()
    .describe("Why released tasks are not running: the first task's waiting reason (no online agent can serve it)."),
  warnings: z
    .array(z.string())
    .describe('Said when the job was created (or left the queue), e.g. targets that cannot switch without downtime (no router).'),
  autoRollback: z.boolean(),
  rollbackOf: z.string().nullable(),
  error: z.string().nullable(),
  artifacts: z.array(artifactRef),
  counts: z.record(z.string(), z.number()),
  acknowledgedFailures: z
    .number()
    .int()
    .describe('Failed tasks acknowledged by resuming the job after a failure pause; they no longer count toward maxFailures.'),
  verifyStartedAt: z.string().nullable().describe('Canary: start of the verification window of the wave being verified now.'),
  verifyUntil: z
    .string()
    .nullable()
    .describe(
      'Canary: end of the current verification window; null when no wave is being verified (or its window opens at the next sweep).',
    ),
  verification: z.array(waveVerification).describe('Canary: every ended wave verification, in order (window and result).'),
  createdAt: z.string(),
  startedAt: z.string().nullable(),
  completedAt: z.string().nullable(),
  planHash: z.string().nullable().describe('Hash of the plan the job executes (a promotion’s job: the approved plan)'),
});
export type Job = z.infer<typeof job>;

export const jobDetail = job.extend({
  tasks: z.array(task),
  plan: deploymentPlan.nullable().describe('What the job does per target and component; its tasks follow it'),
});

export const jobListQuery = pageQuery.extend({
  environment: z.string().min(1).max(100).optional(),
  status: z.enum(JOB_STATUSES).optional(),
  promotion: z
    .uuid({ message: 'must be a promotion id' })
    .optional()
    .describe('Only the jobs of this promotion (its deployment and rollbacks).'),
});

export const jobTasksQuery = pageQuery.extend({
  limit: z.coerce.number().int().min(1).max(5000).default(100).describe('Page size, 1–5000.'),
  changedSince: z
    .string()
    .regex(/^\d{1,20}$/, 'must be the `changes` of an earlier answer')
    .optional()
    .describe('Only the tasks written since the answer whose `changes` this is (a task may come again; none is missed).'),
});

export const jobTasksPage = pageOf(task).extend({
  job: job.describe('The job as it is now, without its tasks and plan (GET /api/v1/deployments/{id} has both).'),
  planSummary: deploymentPlan.shape.summary
    .nullable()
    .describe('The summary of the plan the job executes (GET /api/v1/deployments/{id} has the plan).'),
  changes: z.string().describe('Pass as changedSince to get only the tasks written after this answer was read (keep the first page’s).'),
});

export const jobRef = z.strictObject({ id: z.uuid({ message: 'must be a deployment job id' }) });

export const logLine = z.object({
  taskId: z.string(),
  targetName: z.string(),
  attempt: z.number(),
  seq: z.number(),
  at: z.string(),
  line: z.string(),
});
export const logsQuery = z.strictObject({
  after: z.coerce.number().int().min(0).default(0).describe('Return lines after this cursor (the `next` of the previous answer).'),
  limit: z.coerce.number().int().min(1).max(5000).default(1000),
});
export const logsPage = z.object({ lines: z.array(logLine), next: z.number() });

export const artifactOut = artifactRef.extend({ content: z.string() });
export const artifactParams = z.strictObject({ id: z.uuid(), name: z.string().min(1).max(200) });

export const rollbackBody = z.strictObject({
  environment: z.string().min(1).max(100).describe('Environment id or name.'),
  to: z
    .string()
    .min(1)
    .max(200)
    .optional()
    .describe('Release (id or name) to go back to; default: restore each target’s previous digests.'),
});
