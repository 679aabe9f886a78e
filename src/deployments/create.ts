// Creating deployment jobs from their plan (plan.ts: release, the environment's targets by label selector,
// strategy config, batches) and insert the job with one task per target in the caller's transaction.
import { ConflictError, GantryError } from '../core/errors.js';
import { bundleDigest, type Strategy, type StrategyConfig, type TaskComponent } from '../protocol/deployment.js';
import type { Tx } from '../store/db.js';
import {
  basisFor,
  type DeploymentPlan,
  loadEnvironment,
  loadRelease,
  type PlanBasis,
  planChanges,
  planOf,
  resolveStrategy,
  taskComponents,
} from './plan.js';
import { markWaiting } from './waiting.js';
import { switchWarnings } from './warnings.js';

export interface JobInput {
  tenantId: string;
  releaseRef: string;
  environmentRef: string;
  promotionId: string | null;
  strategy?: Strategy | undefined;
  /** Overrides of the environment's config.deployment; validated here. */
  strategyConfig?: Record<string, unknown> | undefined;
  createdBy: string | null;
  rollbackOf?: string | null;
  /** For rollback jobs: the components each target returns to (target id → components). */
  componentsByTarget?: Map<string, TaskComponent[]>;
  /** For rollback jobs: targets whose task removes the components instead (their first-ever deployment is undone). */
  removeFrom?: Set<string>;
  /** Only these targets (ids) get a task, the environment's others are skipped (a target-group rollout's stage); not with queue. */
  onlyTargets?: ReadonlySet<string>;
  /**
   * Promotions: when the environment is busy, insert the job as `pending` (queued) instead of
   * refusing; queue.ts starts it when the jobs ahead of it have ended.
   */
  queue?: boolean;
  /** Promotions: the hash of the plan that was approved; a job that would do something else is refused (plan_changed). */
  expectedPlanHash?: string | null | undefined;
  expectedPlan?: DeploymentPlan | null | undefined;
}

export { planBatches } from './batches.js';

/**
 * Inserts a job and its tasks in the caller's transaction. While another job of the environment is
 * active (running, or queued ahead) the job is queued as `pending` when input.queue is set, else 409.
 * A rollback is never queued: it goes ahead of queued jobs and only waits for a running one (409).
 */
export async function createJob(tx: Tx, input: JobInput): Promise<string> {
  const release = await loadRelease(tx, input.tenantId, input.releaseRef);
  if (release.status === 'draft') {
    throw new ConflictError(
      `Release "${release.name}" is a draft; make it ready (gantry release ready) before deploying it.`,
      'release_not_ready',
    );
  }
  if (release.status === 'deprecated' && !input.rollbackOf) {
    throw new ConflictError(`Release "${release.name}" is deprecated and can no longer be deployed.`, 'release_deprecated');
  }
  const env = await loadEnvironment(tx, input.tenantId, input.environmentRef);
  // Serialise job creation per environment, so two requests cannot both pass the "no active job" check.
  await lockEnvironmentJobs(tx, env.id);
  if (input.promotionId && !input.rollbackOf) {
    const same = await tx.query<{ id: string }>('SELECT id FROM deployment_jobs WHERE promotion_id = $1 AND rollback_of IS NULL', [
      input.promotionId,
    ]);
    if (same.rows[0]) return same.rows[0].id; // the hand-over is idempotent per promotion
  }
  const active = await tx.query<{ id: string }>(
    `SELECT id FROM deployment_jobs WHERE environment_id = $1 AND status IN ($2, 'running') ORDER BY status DESC, id LIMIT 1`,
    [env.id, input.rollbackOf ? 'running' : 'pending'],
  );
  const queued = active.rows[0] !== undefined && input.queue === true && !input.rollbackOf;
  if (active.rows[0] && !queued) {
    throw new ConflictError(
      `Deployment ${active.rows[0].id} is still active in "${env.name}"; wait for it or cancel it (gantry deploy cancel).`,
      'deployment_in_progress',
    );
  }
  // A rollback deploys all at once, except after blue_green: the coloured containers are switched back
  // the same way (the new colour beside the old, then the router), with the rolled-back job's router.
  const { strategy, config: cfg } = await resolveStrategy(tx, env, input);
  const autoRollback =
    !input.rollbackOf && (cfg.failureBehavior === 'rollback' || (cfg.failureBehavior === undefined && env.config.autoRollback === true));
  // Checked now even for a queued job, so a promotion into an environment without targets fails at once.
  const basis = await basisFor(tx, release, env, strategy, cfg, input);
  const plan = planOf(basis);
  if (input.expectedPlanHash && !queued && plan.hash !== input.expectedPlanHash) {
    const approved = input.expectedPlan ? planChanges(input.expectedPlan, plan) : [];
    throw new ConflictError(
      `The deployment plan changed after the promotion was decided${approved.length ? ` (${approved.join('; ')})` : ''}; request the promotion again so the new plan is approved.`,
      'plan_changed',
    );
  }
  const warnings = switchWarnings(
    strategy,
    cfg,
    release.components.map((c) => c.component),
    basis.targets,
  );
  const job = await tx.query<{ id: string }>(
    `INSERT INTO deployment_jobs (tenant_id, promotion_id, release_id, environment_id, status, strategy, strategy_config, rollback_of,
                                  batch_count, created_by, auto_rollback, started_at, warnings, plan, plan_hash)
     VALUES ($1, $2, $3, $4, $11, $5, $6, $7, $8, $9, $10, CASE WHEN $11 = 'running' THEN now() END, $12, $13, $14) RETURNING id`,
    [
      input.tenantId,
      input.promotionId,
      release.id,
      env.id,
      strategy,
      JSON.stringify(cfg),
      input.rollbackOf ?? null,
      basis.batchCount,
      input.createdBy,
      autoRollback,
      queued ? 'pending' : 'running',
      warnings,
      JSON.stringify(plan),
      plan.hash,
    ],
  );
  const jobId = job.rows[0]!.id;
  // A queued job gets its tasks when it starts: what each target runs then is its "previous" state.
  if (!queued) await insertTasks(tx, input.tenantId, jobId, basis);
  return jobId;
}

/** The advisory lock that serialises job creation and queue starts in one environment (transaction-scoped). */
export async function lockEnvironmentJobs(tx: Tx, environmentId: string): Promise<void> {
  await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`deploy:${environmentId}`]);
}

/** One task per target of the plan's basis (skipped targets have none), in the caller's transaction. */
async function insertTasks(tx: Tx, tenantId: string, jobId: string, basis: PlanBasis): Promise<void> {
  const rows = basis.targets.map((t, i) => {
    const components = taskComponents(basis, t);
    return {
      target_id: t.id,
      digest: bundleDigest(components),
      previous_digest: t.current_digest,
      previous_release_id: t.current_release_id,
      components,
      batch: basis.batches[i]!,
      // A removal's digest is what it takes away.
      action: basis.removeFrom?.has(t.id) ? 'remove' : 'deploy',
    };
  });
  await tx.query(
    `INSERT INTO deployment_tasks (tenant_id, job_id, target_id, digest, previous_digest, previous_release_id, components, batch, action)
     SELECT $1, $2, x.target_id, x.digest, x.previous_digest, x.previous_release_id, x.components, x.batch, x.action
       FROM jsonb_to_recordset($3::jsonb) AS x(target_id uuid, digest text, previous_digest text, previous_release_id uuid, components jsonb, batch int, action text)`,
    [tenantId, jobId, JSON.stringify(rows)],
  );
  await markWaiting(tx, jobId);
}

/** A queued job as startQueuedJob needs it (queue.ts selects it). */
export interface QueuedJob {
  id: string;
  tenant_id: string;
  release_id: string;
  environment_id: string;
  promotion_id: string | null;
  strategy: Strategy;
  strategy_config: StrategyConfig;
  plan: DeploymentPlan | null;
}

/**
 * Starts a queued (pending) job: plans its tasks from the environment's targets as they are now and
 * marks it running. Returns an error message instead when it cannot start (no targets any more); the
 * caller ends the job with it. The caller holds lockEnvironmentJobs and the job row.
 */
export async function startQueuedJob(tx: Tx, job: QueuedJob): Promise<string | null> {
  let basis: PlanBasis;
  try {
    const release = await loadRelease(tx, job.tenant_id, job.release_id);
    const env = await loadEnvironment(tx, job.tenant_id, job.environment_id);
    basis = await basisFor(tx, release, env, job.strategy, job.strategy_config);
  } catch (err) {
    if (err instanceof GantryError) return err.message;
    throw err;
  }
  const plan = planOf(basis);
  await insertTasks(tx, job.tenant_id, job.id, basis);
  const warnings = switchWarnings(
    job.strategy,
    job.strategy_config,
    basis.release.components.map((c) => c.component),
    basis.targets,
  );
  // What the targets run changed while the job waited (the jobs ahead of it deployed): the tasks follow
  // the targets as they are now, and the job says how that differs from the plan it was queued with.
  if (job.plan && job.plan.hash !== plan.hash) {
    warnings.push(`The plan changed while this deployment was queued: ${planChanges(job.plan, plan).join('; ')}.`);
  }
  await tx.query(
    `UPDATE deployment_jobs SET status = 'running', started_at = now(), batch_count = $2, warnings = $3, plan = $4, plan_hash = $5 WHERE id = $1`,
    [job.id, basis.batchCount, warnings, JSON.stringify(plan), plan.hash],
  );
  return null;
}
