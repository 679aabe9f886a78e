// History: request and response schemas (src/history/service.ts).
import { z } from 'zod';

const ranComponent = z.object({ name: z.string(), image: z.string(), digest: z.string() });

export const interval = z.object({
  from: z.string(),
  to: z.string().nullable().describe('null: still running'),
  action: z.enum(['deploy', 'remove']).describe('remove: what Gantry deployed was taken away at `from`'),
  components: z.array(ranComponent),
  observed: z.boolean().describe('The digests are what the runner observed after the change'),
  release: z.object({ id: z.uuid(), name: z.string() }),
  taskId: z.uuid(),
  jobId: z.uuid(),
  promotionId: z.uuid().nullable(),
  rollbackOf: z.uuid().nullable(),
});

export const driftPeriod = z.object({
  from: z.string(),
  to: z.string().nullable(),
  items: z.array(
    z.object({ component: z.string().nullable(), field: z.string(), expected: z.string().nullable(), actual: z.string().nullable() }),
  ),
});

const targetRefOut = z.object({ id: z.uuid(), name: z.string(), environmentName: z.string() });

export const timeline = z.object({
  target: targetRefOut,
  intervals: z.array(interval).describe('Newest first'),
  drift: z.array(driftPeriod).describe('Newest first'),
});

export const atQuery = z.strictObject({
  time: z.iso.datetime({ offset: true }).describe('The instant, ISO 8601, e.g. 2026-12-01T10:00:00Z'),
});

export const atResult = z.object({
  target: targetRefOut,
  at: z.string(),
  ran: interval.nullable(),
  why: z.string().nullable(),
  drift: driftPeriod.nullable().describe('A drift period covering the instant: what ran differed from the record'),
  job: z
    .object({
      id: z.uuid(),
      strategy: z.string(),
      status: z.string(),
      createdBy: z.string().nullable(),
      createdAt: z.string(),
      planHash: z.string().nullable(),
      rollbackOf: z.uuid().nullable(),
    })
    .nullable(),
  promotion: z
    .object({
      id: z.uuid(),
      reason: z.string(),
      status: z.string(),
      requestedBy: z.string(),
      requestedAt: z.string(),
      approvals: z.array(
        z.object({
          username: z.string(),
          action: z.string(),
          at: z.string(),
          planHash: z.string().nullable(),
          counted: z.boolean().describe('It counted toward the decision (an approval of an earlier plan did not)'),
        }),
      ),
      outcome: z.string().nullable(),
      decidedAt: z.string().nullable(),
      gates: z.array(z.object({ gate: z.string(), status: z.string(), reason: z.string() })),
      planHash: z.string().nullable(),
      decisionPacketId: z.string().nullable(),
    })
    .nullable(),
  evidence: z.array(z.object({ id: z.uuid(), type: z.string(), sequence: z.number(), contentHash: z.string() })),
  verification: z
    .object({ ok: z.boolean(), failures: z.array(z.string()) })
    .nullable()
    .describe('The packets verified as an export bundle would be: hashes, signatures, signed headers and chain links'),
});

export const digestParam = z.strictObject({ digest: z.string().min(1).max(100).describe('sha256:<64 hex>') });

export const digestResult = z.object({
  digest: z.string(),
  intervals: z.array(
    z.object({
      target: targetRefOut,
      component: z.string(),
      from: z.string(),
      to: z.string().nullable(),
      releases: z.array(z.string()),
      jobIds: z.array(z.uuid()),
    }),
  ),
});
