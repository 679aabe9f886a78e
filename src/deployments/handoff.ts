// The deploy step's hand-over: creates the deployment job of a promotion (its release and target
// environment read from the promotion row). Idempotent per promotion (create.ts), and the step wraps it
// in ctx.effect, so a retried attempt never creates a second job. While the environment is busy the job
// is queued (queue.ts) and the promotion's blocked_reason says so.
import { NotFoundError } from '../core/errors.js';
import type { DeployHandoff } from '../engine/index.js';
import { type Db, withTenant } from '../store/db.js';
import { createJob } from './create.js';
import type { DeploymentPlan } from './plan.js';
import { describeQueue } from './queue.js';

export function deploymentHandoff(db: Db): DeployHandoff {
  return {
    createJob: (tenantId, input) =>
      withTenant(db, tenantId, async (tx) => {
        const p = await tx.query<{
          release_id: string;
          target_environment_id: string;
          requested_by: string;
          plan: DeploymentPlan | null;
          plan_hash: string | null;
        }>('SELECT release_id, target_environment_id, requested_by, plan, plan_hash FROM promotions WHERE id = $1', [input.promotionId]);
        const promotion = p.rows[0];
        if (!promotion) throw new NotFoundError('Promotion', input.promotionId);
        const jobId = await createJob(tx, {
          tenantId,
          releaseRef: promotion.release_id,
          environmentRef: input.environmentId ?? promotion.target_environment_id,
          promotionId: input.promotionId,
          createdBy: promotion.requested_by,
          // A busy environment queues the promotion instead of failing it after its decision.
          queue: true,
          // The deployment executes the plan that was approved, or is refused with what changed.
          ...(input.environmentId && input.environmentId !== promotion.target_environment_id
            ? {}
            : { expectedPlanHash: promotion.plan_hash, expectedPlan: promotion.plan }),
        });
        const env = await tx.query<{ environment_id: string; status: string }>(
          'SELECT environment_id, status FROM deployment_jobs WHERE id = $1',
          [jobId],
        );
        if (env.rows[0]?.status === 'pending') await describeQueue(tx, env.rows[0].environment_id);
        return { jobId };
      }),
  };
}
