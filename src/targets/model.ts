// Targets: request/response schemas; the create body is a union on targetType so each connection shape is documented.
import { z } from 'zod';
import { nameSchema } from '../core/ids.js';
import { pageQuery } from '../http/pagination.js';
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
  currentDigest: z
    .string()
    .nullable()
    .describe('One digest over all current components (what the sticker records); see currentComponents per image.'),
  currentRelease: z
    .object({ id: z.uuid(), name: z.string() })
    .nullable()
    .describe('The release of the latest successful deployment task on this target (null: nothing deployed yet).'),
  currentComponents: z
    .array(z.object({ name: z.string(), image: z.string(), digest: z.string() }))
    .describe('What that task put on the target, per component.'),
  servedBy: z
    .object({ kind: z.enum(['agent', 'server']), id: z.uuid().nullable(), name: z.string(), status: z.string().nullable() })
    .nullable()
    .describe('Who ran the latest successful task and observes the target: an agent, or the server itself (ssh_host).'),
  observation: z
    .object({
      state: z.enum(['never', 'observed', 'unobservable']),
      at: z.string().nullable().describe('When the target was last observed (null: never).'),
      error: z.string().nullable().describe('Why it cannot be observed, e.g. a noop agent observes nothing.'),
    })
    .describe('The last observation: "unobservable" is not drift, only that nothing can be compared.'),
  waiting: z
    .object({ jobId: z.uuid(), taskId: z.uuid(), status: z.string(), reason: z.string().nullable(), since: z.string().nullable() })
    .nullable()
    .describe('The deployment task pending on this target, with why no runner took it yet (e.g. no online agent can serve it).'),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type Target = z.infer<typeof target>;

export const historyEntry = z.object({
  taskId: z.uuid(),
  jobId: z.uuid(),
  promotionId: z.uuid().nullable(),
  release: z.object({ id: z.uuid(), name: z.string() }),
  previousRelease: z.object({ id: z.uuid(), name: z.string() }).nullable(),
  rollback: z.boolean().describe('The job rolled back another one.'),
  components: z.array(z.object({ name: z.string(), image: z.string(), digest: z.string(), previousDigest: z.string().nullable() })),
  status: z.enum(['pending', 'assigned', 'running', 'succeeded', 'failed', 'skipped']),
  error: z.string().nullable(),
  waitingReason: z.string().nullable(),
  agent: z.object({ id: z.uuid(), name: z.string() }).nullable(),
  createdAt: z.string(),
  startedAt: z.string().nullable(),
  completedAt: z.string().nullable(),
});
export type HistoryEntry = z.infer<typeof historyEntry>;

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

/** A target as a summary shows it: enough for a list entry with its state badges. */
export const targetBrief = z.object({
  id: z.uuid(),
  name: z.string(),
  healthStatus: target.shape.healthStatus,
  driftDetected: z.boolean().describe('The last drift verdict (GET /api/v1/drift).'),
  observationState: z.enum(['never', 'observed', 'unobservable']),
  waitingReason: z.string().nullable().describe('Why the deployment task pending on this target has no runner yet, or null.'),
});
export type TargetBrief = z.infer<typeof targetBrief>;

export const environmentTargetSummary = z.object({
  environmentId: z.uuid(),
  environmentName: z.string(),
  total: z.number().int().describe('Targets in the environment.'),
  health: z.object({ healthy: z.number().int(), degraded: z.number().int(), unhealthy: z.number().int(), unknown: z.number().int() }),
  drifted: z.number().int().describe('Targets whose last drift verdict found drift.'),
  unobservable: z.number().int().describe('Targets whose last observation failed (not drift: nothing could be compared).'),
  waiting: z.number().int().describe('Targets with a pending deployment task that waits for a runner, with a reason.'),
  releases: z
    .array(z.object({ release: z.object({ id: z.uuid(), name: z.string() }).nullable(), count: z.number().int() }))
    .describe('The releases the targets run (per-target truth) with how many run each, most first; release null = nothing deployed.'),
  targets: z.array(targetBrief).describe('The first targets (by id), at most `sample`.'),
  waitingTargets: z.array(targetBrief).describe('The first targets (by id) that wait for a runner, at most `sample`.'),
});
export type EnvironmentTargetSummary = z.infer<typeof environmentTargetSummary>;

export const targetSummaryQuery = z.strictObject({
  environment: z.string().min(1).max(100).optional().describe('Only this environment (id or name).'),
  sample: z.coerce.number().int().min(0).max(50).default(6).describe('How many targets to list per environment (0–50).'),
});
