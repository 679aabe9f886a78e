// Job progress: after every task outcome (in the same transaction) the job's strategy decides what
// happens next: release the next batch, pause (failure or approval between canary waves), fail and roll
// back, or finish. Finishing writes the evidence packet, marks the release deployed and hands the
// outcome to the promotion's workflow, all in that one transaction.
import { GantryError } from '../core/errors.js';
import { recordPacket, type Signer } from '../evidence/service.js';
import { notify } from '../integrations/notify.js';
import type { StrategyConfig, TaskComponent } from '../protocol/deployment.js';
import { type Db, type Tx, withSystem } from '../store/db.js';
import { deliverEvent } from '../workflows/service.js';
import { createJob } from './create.js';
import { type FailJob, startNextQueued } from './queue.js';

export interface ProgressDeps {
  signer: Signer;
  /** The server's pool (notifications no longer need it: they are queued in the job's transaction). */
  db?: Db;
}

interface JobRow {
  id: string;
  tenant_id: string;
  promotion_id: string | null;
  release_id: string;
  environment_id: string;
  status: string;
  strategy: string;
  strategy_config: StrategyConfig;
  current_batch: number;
  batch_count: number;
  paused_reason: string | null;
  rollback_of: string | null;
  auto_rollback: boolean;
  created_by: string | null;
  started_at: Date | null;
  verified_batch: number;
  acknowledged_failures: number;
}

/** JobRow's columns (not *: the job's plan, an entry per target, is not needed to advance or finish it). */
const JOB_COLUMNS = `id, tenant_id, promotion_id, release_id, environment_id, status, strategy, strategy_config, current_batch,
  batch_count, paused_reason, rollback_of, auto_rollback, created_by, started_at, verified_batch, acknowledged_failures`;

/**
 * Re-evaluates a job after a task changed. Most reports leave tasks open in the current batch and no
 * failure: they return without locking the job row, so reports of one job do not queue behind each
 * other. Otherwise the job row is locked and the decision made once. Two last reports committing at the
 * same instant may both take the fast path; the scheduler's advanceStalled() catches that job.
 */
export async function advanceJob(tx: Tx, jobId: string, deps: ProgressDeps, why?: string): Promise<void> {
  const quick = await tx.query<{ open: number; failed: number; max_failures: number }>(
    `SELECT count(*) FILTER (WHERE t.batch <= j.current_batch AND t.status IN ('pending', 'assigned', 'running'))::int AS open,
            (count(*) FILTER (WHERE t.status = 'failed') - j.acknowledged_failures)::int AS failed,
            coalesce((j.strategy_config->>'maxFailures')::int, 0) AS max_failures
       FROM deployment_jobs j JOIN deployment_tasks t ON t.job_id = j.id WHERE j.id = $1 GROUP BY j.id`,
    [jobId],
  );
  const q = quick.rows[0];
  if (q && q.open > 0 && q.failed <= q.max_failures) return;
  const j = await tx.query<JobRow>(`SELECT ${JOB_COLUMNS} FROM deployment_jobs WHERE id = $1 FOR UPDATE`, [jobId]);
  const job = j.rows[0];
  if (job?.status !== 'running') return;
  // A canary wave under verification: the scheduler (canary.ts verifyWaves) decides when it ends.
  if (job.paused_reason === 'verify') return;
  const c = await tx.query<{ batch: number; status: string; n: number }>(
    'SELECT batch, status, count(*)::int AS n FROM deployment_tasks WHERE job_id = $1 GROUP BY batch, status',
    [jobId],
  );
  const count = (pred: (r: { batch: number; status: string }) => boolean) => c.rows.filter(pred).reduce((s, r) => s + r.n, 0);
  const inflight = count((r) => r.status === 'assigned' || r.status === 'running');
  // Failures acknowledged by resuming a job paused after them count no more toward maxFailures.
  const failed = count((r) => r.status === 'failed') - job.acknowledged_failures;
  const cfg = job.strategy_config;
  const behavior = cfg.failureBehavior ?? (job.auto_rollback ? 'rollback' : 'stop');
  if (failed > (cfg.maxFailures ?? 0) && behavior !== 'continue') {
    if (behavior === 'pause') {
      if (!job.paused_reason) await tx.query(`UPDATE deployment_jobs SET paused_reason = 'failure' WHERE id = $1`, [jobId]);
      return;
    }
    // Stop releasing work; once the tasks in flight have reported, the job fails (and may roll back).
    await tx.query(
      `UPDATE deployment_tasks SET status = 'skipped', error = 'skipped: the deployment failed', completed_at = now()
        WHERE job_id = $1 AND status = 'pending'`,
      [jobId],
    );
    if (inflight === 0) {
      const reason = `${failed} target(s) failed (at most ${cfg.maxFailures ?? 0} tolerated)${why ? `: ${why}` : ''}`;
      await finishJob(tx, job, 'failed', reason, deps);
    }
    return;
  }
  const openInBatch = count((r) => r.batch <= job.current_batch && ['pending', 'assigned', 'running'].includes(r.status));
  if (openInBatch > 0) return;
  if (job.strategy === 'canary' && (cfg.verifySeconds ?? 0) > 0 && job.verified_batch < job.current_batch) {
    // Verify every wave, the last one included, before the next wave or the end of the job: the
    // scheduler's next sweep opens the window (injected clock).
    await tx.query(`UPDATE deployment_jobs SET paused_reason = 'verify', verify_started_at = NULL, verify_until = NULL WHERE id = $1`, [
      jobId,
    ]);
    return;
  }
  if (job.current_batch + 1 < job.batch_count) {
    const approval = job.strategy === 'canary' && cfg.approvalBetweenWaves;
    await tx.query('UPDATE deployment_jobs SET current_batch = current_batch + 1, paused_reason = $2 WHERE id = $1', [
      jobId,
      approval ? 'approval' : null,
    ]);
    return;
  }
  if (failed > (cfg.maxFailures ?? 0)) await finishJob(tx, job, 'failed', `${failed} target(s) failed${why ? `: ${why}` : ''}`, deps);
  else await finishJob(tx, job, 'succeeded', null, deps);
}

/** Ends a job: status, evidence packet, release status, promotion hand-back and automatic rollback. */
export async function finishJob(
  tx: Tx,
  job: JobRow,
  status: 'succeeded' | 'failed' | 'cancelled',
  error: string | null,
  deps: ProgressDeps,
) {
  await tx.query(
    `UPDATE deployment_jobs SET status = $2, error = $3, completed_at = now(), paused_reason = NULL,
            artifacts = (SELECT coalesce(jsonb_agg(jsonb_build_object('name', name, 'taskId', task_id, 'sha256', sha256, 'mediaType', media_type)
                                        ORDER BY created_at), '[]') FROM deployment_artifacts WHERE job_id = $1)
      WHERE id = $1`,
    [job.id, status, error],
  );
  if (status === 'cancelled') {
    await tx.query(
      `UPDATE deployment_tasks SET status = 'skipped', error = 'cancelled', completed_at = now(), lease_expires_at = NULL
        WHERE job_id = $1 AND status IN ('pending', 'assigned', 'running')`,
      [job.id],
    );
  }
  const content = await packetContent(tx, job.id);
  await recordPacket(tx, deps.signer, {
    tenantId: job.tenant_id,
    promotionId: job.promotion_id,
    packetType: job.rollback_of ? 'rollback' : 'deployment',
    content,
  });
  if (status === 'succeeded' && !job.rollback_of) {
    await tx.query(`UPDATE releases SET status = 'deployed' WHERE id = $1 AND status = 'ready'`, [job.release_id]);
  }
  if (job.promotion_id && !job.rollback_of) await handBack(tx, job.promotion_id, job.id, status);
  if (status !== 'cancelled') {
    const type = status === 'failed' ? 'deployment.failed' : job.rollback_of ? 'deployment.rolled_back' : 'deployment.succeeded';
    const env = content.environment as { name?: string } | undefined;
    const release = content.release as { name?: string } | undefined;
    // In this transaction: the outbox row commits with the job's outcome (delivery is out of band).
    await notify(
      tx,
      job.tenant_id,
      {
        type,
        data: { jobId: job.id, promotionId: job.promotion_id, environment: env?.name, release: release?.name, error },
      },
      new Date(),
    );
  }
  if (status === 'failed' && job.auto_rollback && !job.rollback_of) await startRollback(tx, job.tenant_id, job.id, null);
  // The environment is free unless a rollback just started: the next queued promotion's job goes.
  await startNextQueued(tx, job.environment_id, failQueued(deps));
}

/** Ends a queued job that could not start, like any other failed job (evidence, promotion hand-back). */
export function failQueued(deps: ProgressDeps): FailJob {
  return async (tx, jobId, error) => {
    const r = await tx.query<JobRow>(`SELECT ${JOB_COLUMNS} FROM deployment_jobs WHERE id = $1 FOR UPDATE`, [jobId]);
    if (r.rows[0]) await finishJob(tx, r.rows[0], 'failed', error, deps);
  };
}

/** Delivers deployment_finished to the promotion's workflow node `deploy`. */
async function handBack(tx: Tx, promotionId: string, jobId: string, status: string): Promise<void> {
  const p = await tx.query<{ workflow_run_id: string | null }>('SELECT workflow_run_id FROM promotions WHERE id = $1', [promotionId]);
  const runId = p.rows[0]?.workflow_run_id;
  if (!runId) return;
  try {
    await deliverEvent(tx, runId, 'deploy', { event: 'deployment_finished', payload: { status, jobId } });
  } catch (err) {
    // The run was cancelled or its deploy node is gone: the job's outcome stands regardless.
    if (!(err instanceof GantryError)) throw err;
  }
}

/**
 * Starts a rollback job for `jobId`: every target it touched returns to its previous components
 * (previous_digest). A target the job deployed to for the first time (no previous digest) gets a removal
 * task instead: its runner takes away what Gantry created there. The rollback job's release is the one
 * the targets return to, or the rolled-back job's own when every target is a removal.
 */
export async function startRollback(tx: Tx, tenantId: string, jobId: string, createdBy: string | null): Promise<string | null> {
  const tasks = await tx.query<{
    target_id: string;
    components: TaskComponent[];
    previous_digest: string | null;
    previous_release_id: string | null;
  }>(
    `SELECT target_id, components, previous_digest, previous_release_id FROM deployment_tasks
      WHERE job_id = $1 AND attempt > 0 AND action = 'deploy' AND status IN ('succeeded', 'failed', 'skipped')
        AND (previous_release_id IS NOT NULL OR previous_digest IS NULL)`,
    [jobId],
  );
  const byTarget = new Map<string, TaskComponent[]>();
  const removeFrom = new Set<string>();
  let releaseId: string | null = null;
  for (const t of tasks.rows) {
    if (t.previous_digest === null) {
      // First-ever deployment: what was put there goes.
      byTarget.set(
        t.target_id,
        t.components.map((c) => ({ ...c, previousDigest: null })),
      );
      removeFrom.add(t.target_id);
      continue;
    }
    const back = t.components.filter((c) => c.previousDigest).map((c) => ({ ...c, digest: c.previousDigest!, previousDigest: c.digest }));
    if (back.length === 0) continue;
    byTarget.set(t.target_id, back);
    releaseId ??= t.previous_release_id;
  }
  if (byTarget.size === 0) return null;
  const env = await tx.query<{ environment_id: string; promotion_id: string | null; release_id: string }>(
    'SELECT environment_id, promotion_id, release_id FROM deployment_jobs WHERE id = $1',
    [jobId],
  );
  return createJob(tx, {
    tenantId,
    releaseRef: releaseId ?? env.rows[0]!.release_id,
    environmentRef: env.rows[0]!.environment_id,
    promotionId: env.rows[0]!.promotion_id,
    createdBy,
    rollbackOf: jobId,
    componentsByTarget: byTarget,
    removeFrom,
  });
}

/** The evidence of a job: targets, tasks, artifacts and their hashes, outcome (DESIGN §6). */
async function packetContent(tx: Tx, jobId: string): Promise<Record<string, unknown>> {
  const j = await tx.query(
    `SELECT j.id, j.status, j.strategy, j.strategy_config, j.rollback_of, j.error, j.started_at, j.completed_at, j.artifacts, j.verification,
            j.acknowledged_failures, j.plan,
            j.promotion_id, e.id AS env_id, e.name AS env_name, r.id AS rel_id, r.name AS rel_name, r.components AS rel_components
       FROM deployment_jobs j JOIN environments e ON e.id = j.environment_id JOIN releases r ON r.id = j.release_id WHERE j.id = $1`,
    [jobId],
  );
  const row = j.rows[0];
  const tasks = await tx.query(
    `SELECT t.id, t.status, t.digest, t.previous_digest, t.components, t.attempt, t.agent_id, t.lease_owner, t.error, t.batch,
            t.action, t.observed,
            g.id AS target_id, g.name AS target_name, g.target_type,
            (SELECT content_hash FROM version_stickers s WHERE s.task_id = t.id ORDER BY written_at DESC LIMIT 1) AS sticker_hash
       FROM deployment_tasks t JOIN targets g ON g.id = t.target_id WHERE t.job_id = $1 ORDER BY g.name`,
    [jobId],
  );
  return {
    kind: row.rollback_of ? 'rollback' : 'deployment',
    job: {
      id: row.id,
      status: row.status,
      strategy: row.strategy,
      strategyConfig: row.strategy_config,
      rollbackOf: row.rollback_of,
      error: row.error,
      startedAt: row.started_at?.toISOString() ?? null,
      completedAt: row.completed_at?.toISOString() ?? null,
    },
    // The plan the job executed (a promotion's: the approved one); its tasks below follow it.
    plan: row.plan ?? null,
    outcome: row.status,
    release: { id: row.rel_id, name: row.rel_name, components: row.rel_components },
    environment: { id: row.env_id, name: row.env_name },
    promotion: row.promotion_id ? { id: row.promotion_id } : null,
    targets: tasks.rows.map((t) => ({
      target: { id: t.target_id, name: t.target_name, type: t.target_type },
      task: { id: t.id, status: t.status, batch: t.batch, attempt: t.attempt, agentId: t.agent_id, runner: t.lease_owner, error: t.error },
      action: t.action,
      digest: t.digest,
      previousDigest: t.previous_digest,
      components: t.components,
      stickerHash: t.sticker_hash,
      // Per container, what the runner observed after the change: id, image digest, health, time.
      observed: t.observed,
      ...(t.action === 'remove'
        ? {
            removal: {
              reason: 'the rolled-back deployment was the first to this target: no previous release to return to',
              removed: t.status === 'succeeded',
              what:
                t.status === 'succeeded'
                  ? 'the component containers (and compose project), version sticker and record Gantry created are gone; observed absent'
                  : `not removed: ${t.error ?? t.status}`,
            },
          }
        : {}),
    })),
    artifacts: row.artifacts,
    ...(row.strategy === 'canary' ? { verification: row.verification } : {}),
    ...(row.acknowledged_failures > 0 ? { acknowledgedFailures: row.acknowledged_failures } : {}),
  };
}

/** Safety net run by the scheduler: advances running jobs whose released batches have no open task. */
export async function advanceStalled(db: Db, deps: ProgressDeps): Promise<void> {
  const r = await db.query<{ id: string }>(
    `SELECT j.id FROM deployment_jobs j WHERE j.status = 'running' AND j.paused_reason IS NULL
        AND NOT EXISTS (SELECT 1 FROM deployment_tasks t WHERE t.job_id = j.id AND t.batch <= j.current_batch
                          AND t.status IN ('pending', 'assigned', 'running'))
      LIMIT 100`,
  );
  for (const row of r.rows) await withSystem(db, (tx) => advanceJob(tx, row.id, deps));
}
