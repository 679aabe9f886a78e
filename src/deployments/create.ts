// Creating deployment jobs: resolve the release, the environment's targets (label selector) and the
// strategy config, plan batches, and insert the job with one task per target in the caller's transaction.
import { ConflictError, GantryError, NotFoundError } from '../core/errors.js';
import { UUID_RE } from '../environments/service.js';
import type { Tx } from '../store/db.js';
import { bundleDigest, type Strategy, type StrategyConfig, strategyConfig, type TaskComponent } from './protocol.js';
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
  /**
   * Promotions: when the environment is busy, insert the job as `pending` (queued) instead of
   * refusing; queue.ts starts it when the jobs ahead of it have ended.
   */
  queue?: boolean;
}

interface ReleaseRow {
  id: string;
  name: string;
  status: string;
  components: { component: string; imageRepository: string; digest: string }[];
}

interface TargetRow {
  id: string;
  name: string;
  target_type: string;
  labels: Record<string, string>;
  current_digest: string | null;
  current_components: { name: string; image: string; digest: string }[];
  current_release_id: string | null;
}

/** Batch index of each of n targets (in name order) and the number of batches, per strategy. */
export function planBatches(n: number, strategy: Strategy, cfg: Partial<StrategyConfig>): { batches: number[]; count: number } {
  const idx = Array.from({ length: n }, (_, i) => i);
  if (n === 0) return { batches: [], count: 1 };
  if (strategy === 'rolling') {
    const size = cfg.batchSize ?? (cfg.batchPercent ? Math.max(1, Math.ceil((n * cfg.batchPercent) / 100)) : 1);
    const batches = idx.map((i) => Math.floor(i / size));
    return { batches, count: batches[n - 1]! + 1 };
  }
  if (strategy === 'canary') {
    const waves = [...(cfg.waves ?? [10, 50, 100])].sort((a, b) => a - b);
    if (waves[waves.length - 1] !== 100) waves.push(100);
    // cumulative target counts per wave; every wave deploys at least one more target
    const ends: number[] = [];
    for (const w of waves) {
      const end = Math.min(n, Math.max((ends[ends.length - 1] ?? 0) + 1, Math.ceil((n * w) / 100)));
      if (end > (ends[ends.length - 1] ?? 0)) ends.push(end);
    }
    const batches = idx.map((i) => ends.findIndex((e) => i < e));
    return { batches, count: ends.length };
  }
  return { batches: idx.map(() => 0), count: 1 };
}

async function resolveEnvironment(tx: Tx, tenantId: string, ref: string) {
  const r = await tx.query<{ id: string; name: string }>(
    `SELECT id, name FROM environments WHERE ${UUID_RE.test(ref) ? 'id = $1::uuid' : 'name = $1'} AND tenant_id = $2`,
    [ref, tenantId],
  );
  if (!r.rows[0]) throw new NotFoundError('Environment', ref);
  return r.rows[0];
}

/**
 * Inserts a job and its tasks in the caller's transaction. While another job of the environment is
 * active (running, or queued ahead) the job is queued as `pending` when input.queue is set, else 409.
 * A rollback is never queued: it goes ahead of queued jobs and only waits for a running one (409).
 */
export async function createJob(tx: Tx, input: JobInput): Promise<string> {
  const rel = await tx.query<ReleaseRow>(
    `SELECT id, name, status, components FROM releases WHERE tenant_id = $2 AND ${UUID_RE.test(input.releaseRef) ? 'id = $1::uuid' : 'name = $1'}`,
    [input.releaseRef, input.tenantId],
  );
  const release = rel.rows[0];
  if (!release) throw new NotFoundError('Release', input.releaseRef);
  if (release.status === 'draft') {
    throw new ConflictError(
      `Release "${release.name}" is a draft; make it ready (gantry release ready) before deploying it.`,
      'release_not_ready',
    );
  }
  if (release.status === 'deprecated' && !input.rollbackOf) {
    throw new ConflictError(`Release "${release.name}" is deprecated and can no longer be deployed.`, 'release_deprecated');
  }
  const env = await resolveEnvironment(tx, input.tenantId, input.environmentRef);
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
  const envCfg = await tx.query<{
    config: {
      deployment?: Partial<StrategyConfig> & { strategy?: Strategy };
      autoRollback?: boolean;
    };
  }>('SELECT config FROM environments WHERE id = $1', [env.id]);
  const { strategy: envStrategy, ...envDeployment } = envCfg.rows[0]?.config.deployment ?? {};
  // A rollback deploys all at once, except after blue_green: the coloured containers are switched back
  // the same way (the new colour beside the old, then the router). It keeps the rolled-back job's router
  // when the environment names none (compose_host switches colours through it with every strategy).
  const rolledBack = input.rollbackOf
    ? (
        await tx.query<{ strategy: Strategy; strategy_config: StrategyConfig }>(
          'SELECT strategy, strategy_config FROM deployment_jobs WHERE id = $1',
          [input.rollbackOf],
        )
      ).rows[0]
    : undefined;
  const strategy: Strategy = input.rollbackOf
    ? rolledBack?.strategy === 'blue_green'
      ? 'blue_green'
      : 'all_at_once'
    : (input.strategy ?? envStrategy ?? 'all_at_once');
  const cfg: StrategyConfig = strategyConfig.parse({ ...envDeployment, ...(input.strategyConfig ?? {}) });
  // A rollback switches traffic the way the rolled-back job did (a router: beside, then switch).
  if (!cfg.router && rolledBack?.strategy_config.router) cfg.router = rolledBack.strategy_config.router;
  const autoRollback =
    !input.rollbackOf &&
    (cfg.failureBehavior === 'rollback' || (cfg.failureBehavior === undefined && envCfg.rows[0]?.config.autoRollback === true));
  // Checked now even for a queued job, so a promotion into an environment without targets fails at once.
  const targets = await selectTargets(tx, env, input.componentsByTarget);
  const plan = planBatches(targets.length, strategy, cfg);
  const warnings = switchWarnings(
    strategy,
    cfg,
    release.components.map((c) => c.component),
    targets,
  );
  const job = await tx.query<{ id: string }>(
    `INSERT INTO deployment_jobs (tenant_id, promotion_id, release_id, environment_id, status, strategy, strategy_config, rollback_of,
                                  batch_count, created_by, auto_rollback, started_at, warnings)
     VALUES ($1, $2, $3, $4, $11, $5, $6, $7, $8, $9, $10, CASE WHEN $11 = 'running' THEN now() END, $12) RETURNING id`,
    [
      input.tenantId,
      input.promotionId,
      release.id,
      env.id,
      strategy,
      JSON.stringify(cfg),
      input.rollbackOf ?? null,
      plan.count,
      input.createdBy,
      autoRollback,
      queued ? 'pending' : 'running',
      warnings,
    ],
  );
  const jobId = job.rows[0]!.id;
  // A queued job gets its tasks when it starts: what each target runs then is its "previous" state.
  if (!queued) await insertTasks(tx, input.tenantId, jobId, release, targets, plan.batches, input.componentsByTarget, input.removeFrom);
  return jobId;
}

/** The advisory lock that serialises job creation and queue starts in one environment (transaction-scoped). */
export async function lockEnvironmentJobs(tx: Tx, environmentId: string): Promise<void> {
  await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`deploy:${environmentId}`]);
}

async function selectTargets(tx: Tx, env: { id: string; name: string }, only?: Map<string, TaskComponent[]>): Promise<TargetRow[]> {
  const envCfg = await tx.query<{ config: { targetSelector?: Record<string, string> } }>('SELECT config FROM environments WHERE id = $1', [
    env.id,
  ]);
  const selector = envCfg.rows[0]?.config.targetSelector ?? {};
  const targets = await tx.query<TargetRow>(
    `SELECT id, name, target_type, labels, current_digest, current_components, current_release_id FROM targets
      WHERE environment_id = $1 AND labels @> $2::jsonb ${only ? 'AND id = ANY($3::uuid[])' : ''} ORDER BY name`,
    only ? [env.id, JSON.stringify(selector), [...only.keys()]] : [env.id, JSON.stringify(selector)],
  );
  if (targets.rows.length === 0) {
    throw new GantryError(
      'no_targets',
      422,
      `Environment "${env.name}" has no targets${Object.keys(selector).length ? ` with labels ${JSON.stringify(selector)}` : ''}; add one with gantry target create.`,
    );
  }
  return targets.rows;
}

async function insertTasks(
  tx: Tx,
  tenantId: string,
  jobId: string,
  release: ReleaseRow,
  targets: TargetRow[],
  batches: number[],
  componentsByTarget?: Map<string, TaskComponent[]>,
  removeFrom?: Set<string>,
): Promise<void> {
  const rows = targets.map((t, i) => {
    const prev = new Map(t.current_components.map((c) => [c.name, c.digest]));
    const components: TaskComponent[] =
      componentsByTarget?.get(t.id) ??
      release.components.map((c) => ({
        name: c.component,
        image: c.imageRepository,
        digest: c.digest,
        previousDigest: prev.get(c.component) ?? null,
      }));
    return {
      target_id: t.id,
      digest: bundleDigest(components),
      previous_digest: t.current_digest,
      previous_release_id: t.current_release_id,
      components,
      batch: batches[i]!,
      // A removal's digest is what it takes away.
      action: removeFrom?.has(t.id) ? 'remove' : 'deploy',
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

/**
 * Starts a queued (pending) job: plans its tasks from the environment's targets as they are now and
 * marks it running. Returns an error message instead when it cannot start (no targets any more); the
 * caller ends the job with it. The caller holds lockEnvironmentJobs and the job row.
 */
export async function startQueuedJob(
  tx: Tx,
  job: { id: string; tenant_id: string; release_id: string; environment_id: string; strategy: Strategy; strategy_config: StrategyConfig },
): Promise<string | null> {
  const rel = await tx.query<ReleaseRow>('SELECT id, name, status, components FROM releases WHERE id = $1', [job.release_id]);
  const env = await tx.query<{ id: string; name: string }>('SELECT id, name FROM environments WHERE id = $1', [job.environment_id]);
  const release = rel.rows[0];
  if (!release || !env.rows[0]) return 'its release or environment no longer exists';
  let targets: TargetRow[];
  try {
    targets = await selectTargets(tx, env.rows[0]);
  } catch (err) {
    if (err instanceof GantryError) return err.message;
    throw err;
  }
  const plan = planBatches(targets.length, job.strategy, job.strategy_config);
  await insertTasks(tx, job.tenant_id, job.id, release, targets, plan.batches);
  const warnings = switchWarnings(
    job.strategy,
    job.strategy_config,
    release.components.map((c) => c.component),
    targets,
  );
  await tx.query(`UPDATE deployment_jobs SET status = 'running', started_at = now(), batch_count = $2, warnings = $3 WHERE id = $1`, [
    job.id,
    plan.count,
    warnings,
  ]);
  return null;
}
