// Deployment jobs for the API: read jobs with tasks, logs and artifacts; cancel, resume and roll back.
import type { z } from 'zod';
import { ConflictError, NotFoundError } from '../core/errors.js';
import { getEnvironment } from '../environments/service.js';
import { afterOf, decodeCursor, toPage } from '../http/pagination.js';
import type { Tx } from '../store/db.js';
import { createJob } from './create.js';
import type { Job, jobDetail, jobListQuery, jobTasksPage, jobTasksQuery, task } from './model.js';
import type { DeploymentPlan } from './plan.js';
import { advanceJob, finishJob, type ProgressDeps, startRollback } from './progress.js';

// The job's columns, not j.*: its plan (an entry per target) is read only where it is answered (getJob),
// not for every job of a list or every poll of one.
const JOB_SELECT = `SELECT j.id, j.promotion_id, j.release_id, j.environment_id, j.status, j.strategy, j.strategy_config,
       j.current_batch, j.batch_count, j.paused_reason, j.warnings, j.auto_rollback, j.rollback_of, j.error, j.artifacts,
       j.acknowledged_failures, j.verify_started_at, j.verify_until, j.verification, j.created_at, j.started_at,
       j.completed_at, j.plan_hash, r.name AS release_name, e.name AS environment_name,
       (SELECT coalesce(jsonb_object_agg(s.status, s.n), '{}') FROM (SELECT status, count(*)::int AS n FROM deployment_tasks
          WHERE job_id = j.id GROUP BY status) s) AS counts,
       (SELECT array_agg(w.waiting_reason ORDER BY w.batch, w.id) FROM deployment_tasks w
          WHERE w.job_id = j.id AND w.waiting_reason IS NOT NULL) AS waiting_reasons
  FROM deployment_jobs j JOIN releases r ON r.id = j.release_id JOIN environments e ON e.id = j.environment_id`;

/** The first waiting reason of the job's tasks, and how many more targets wait. */
function waitingSummary(reasons: string[] | null): string | null {
  if (!reasons?.length) return null;
  return reasons.length === 1 ? reasons[0]! : `${reasons[0]} (and ${reasons.length - 1} more target(s) waiting)`;
}

// any: a row of JOB_SELECT; every column is mapped explicitly below
const jobOut = (r: any): Job => ({
  id: r.id,
  promotionId: r.promotion_id,
  releaseId: r.release_id,
  releaseName: r.release_name,
  environmentId: r.environment_id,
  environmentName: r.environment_name,
  status: r.status,
  strategy: r.strategy,
  strategyConfig: r.strategy_config,
  currentBatch: r.current_batch,
  batchCount: r.batch_count,
  pausedReason: r.paused_reason,
  waitingReason: waitingSummary(r.waiting_reasons),
  warnings: r.warnings ?? [],
  autoRollback: r.auto_rollback,
  rollbackOf: r.rollback_of,
  error: r.error,
  artifacts: r.artifacts,
  counts: r.counts,
  acknowledgedFailures: r.acknowledged_failures,
  verifyStartedAt: r.verify_started_at?.toISOString() ?? null,
  verifyUntil: r.verify_until?.toISOString() ?? null,
  verification: r.verification,
  createdAt: r.created_at.toISOString(),
  startedAt: r.started_at?.toISOString() ?? null,
  completedAt: r.completed_at?.toISOString() ?? null,
  planHash: r.plan_hash ?? null,
});

// any: a row of TASK_SELECT; every column is mapped explicitly below
const taskOut = (x: any): z.infer<typeof task> => ({
  id: x.id,
  targetId: x.target_id,
  targetName: x.target_name,
  targetType: x.target_type,
  status: x.status,
  action: x.action,
  batch: x.batch,
  digest: x.digest,
  previousDigest: x.previous_digest,
  components: x.components,
  agentId: x.agent_id,
  leaseOwner: x.lease_owner,
  attempt: x.attempt,
  error: x.error,
  waitingReason: x.waiting_reason,
  waitingSince: x.waiting_since?.toISOString() ?? null,
  fencingToken: Number(x.fencing_token),
  health: x.health,
  observed: x.observed,
  startedAt: x.started_at?.toISOString() ?? null,
  completedAt: x.completed_at?.toISOString() ?? null,
});

/**
 * A job's tasks with the columns the answer shows: not t.*, whose logs (every task's full log) would be
 * read and dropped.
 */
const TASK_SELECT = `SELECT t.id, t.target_id, g.name AS target_name, g.target_type, t.status, t.action, t.batch, t.digest,
        t.previous_digest, t.components, t.agent_id, t.lease_owner, t.attempt, t.error, t.waiting_reason, t.waiting_since,
        t.fencing_token, t.health, t.observed, t.started_at, t.completed_at
   FROM deployment_tasks t JOIN targets g ON g.id = t.target_id`;

/** The job's row, with `extra` columns of deployment_jobs j (the plan is not in JOB_SELECT: lists do not need it). */
async function jobRow(tx: Tx, id: string, extra: string) {
  const r = await tx.query(`${JOB_SELECT.replace('SELECT ', `SELECT ${extra}, `)} WHERE j.id = $1`, [id]);
  if (!r.rows[0]) throw new NotFoundError('Deployment', id);
  return r.rows[0];
}

export async function getJob(tx: Tx, id: string): Promise<z.infer<typeof jobDetail>> {
  const row = await jobRow(tx, id, 'j.plan');
  const t = await tx.query(`${TASK_SELECT} WHERE t.job_id = $1 ORDER BY t.batch, g.name`, [id]);
  return { ...jobOut(row), plan: row.plan ?? null, tasks: t.rows.map(taskOut) };
}

/**
 * The job (without its tasks and plan) and a page of its tasks in the job's order; with `changedSince` (the
 * `changes` of an earlier answer) only the tasks written since. `changes` is the oldest transaction still
 * running when this answer was read: any task written by a transaction this answer could not see has
 * changed_in at or above it (a task already seen may come again, none is missed).
 */
export async function jobTasks(tx: Tx, id: string, q: z.infer<typeof jobTasksQuery>): Promise<z.infer<typeof jobTasksPage>> {
  const changes = (await tx.query<{ x: string }>('SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS x')).rows[0]!.x;
  const row = await jobRow(tx, id, `j.plan->'summary' AS plan_summary`);
  const job = jobOut(row);
  const after = q.cursor === undefined ? null : decodeCursor(q.cursor, 3);
  const r = await tx.query(
    `${TASK_SELECT} WHERE t.job_id = $1 AND ($2::xid8 IS NULL OR t.changed_in >= $2::xid8)
        AND ($3::int IS NULL OR (t.batch, g.name::text, t.id) > ($3::int, $4::text, $5::uuid))
      ORDER BY t.batch, g.name::text, t.id LIMIT $6`,
    [id, q.changedSince ?? null, after?.[0] ?? null, after?.[1] ?? null, after?.[2] ?? null, q.limit + 1],
  );
  const planSummary = row.plan_summary ?? null;
  return { job, planSummary, ...toPage(r.rows, q.limit, (x) => [x.batch, x.target_name, x.id], taskOut), changes };
}

export async function listJobs(tx: Tx, q: z.infer<typeof jobListQuery>) {
  const envId = q.environment ? (await getEnvironment(tx, q.environment)).id : null;
  const r = await tx.query(
    `${JOB_SELECT} WHERE ($1::uuid IS NULL OR j.id < $1::uuid) AND ($2::uuid IS NULL OR j.environment_id = $2)
        AND ($3::text IS NULL OR j.status = $3) AND ($5::uuid IS NULL OR j.promotion_id = $5) ORDER BY j.id DESC LIMIT $4`,
    [afterOf(q.cursor) ?? null, envId, q.status ?? null, q.limit + 1, q.promotion ?? null],
  );
  return toPage(r.rows, q.limit, (row) => [row.id], jobOut);
}

/** Log lines of a job in the order they were received, after a cursor (job_logs.id). */
export async function jobLogs(tx: Tx, id: string, after: number, limit: number) {
  const job = await tx.query('SELECT 1 FROM deployment_jobs WHERE id = $1', [id]);
  if (!job.rows[0]) throw new NotFoundError('Deployment', id);
  const r = await tx.query<{ id: number; task_id: string; target_name: string; attempt: number; seq: number; at: Date; line: string }>(
    `SELECT l.id, l.task_id, g.name AS target_name, l.attempt, l.seq, l.at, l.line FROM job_logs l
       JOIN deployment_tasks t ON t.id = l.task_id JOIN targets g ON g.id = t.target_id
      WHERE l.job_id = $1 AND l.id > $2 ORDER BY l.id LIMIT $3`,
    [id, after, limit],
  );
  const lines = r.rows.map((l) => ({
    taskId: l.task_id,
    targetName: l.target_name,
    attempt: l.attempt,
    seq: l.seq,
    at: l.at.toISOString(),
    line: l.line,
  }));
  return { lines, next: r.rows[r.rows.length - 1]?.id ?? after };
}

export async function getArtifact(tx: Tx, id: string, name: string) {
  const r = await tx.query(
    `SELECT name, task_id, sha256, media_type, content FROM deployment_artifacts WHERE job_id = $1 AND (name = $2 OR id::text = $2)
      ORDER BY created_at LIMIT 1`,
    [id, name],
  );
  const a = r.rows[0];
  if (!a) throw new NotFoundError('Artifact', `${id}/${name}`);
  return { name: a.name, taskId: a.task_id, sha256: a.sha256, mediaType: a.media_type, content: a.content };
}

async function lockJob(tx: Tx, id: string) {
  // any: the full deployment_jobs row, handed to finishJob as is
  const r = await tx.query<any>('SELECT * FROM deployment_jobs WHERE id = $1 FOR UPDATE', [id]);
  if (!r.rows[0]) throw new NotFoundError('Deployment', id);
  return r.rows[0];
}

/** Cancels a pending or running job: unfinished tasks are skipped; tasks mid-flight lose their lease. */
export async function cancelJob(tx: Tx, id: string, deps: ProgressDeps) {
  const job = await lockJob(tx, id);
  if (job.status !== 'pending' && job.status !== 'running')
    throw new ConflictError(`Deployment ${id} already ended (${job.status}).`, 'deployment_finished');
  await finishJob(tx, job, 'cancelled', 'cancelled by request', deps);
  return getJob(tx, id);
}

/**
 * Resumes a job paused after a failure or waiting for approval between canary waves. Resuming after a
 * failure acknowledges the failed tasks that caused the pause: they no longer count toward maxFailures
 * (so the job goes on instead of pausing again at once); a new failure beyond maxFailures pauses it again.
 */
export async function resumeJob(tx: Tx, id: string, deps: ProgressDeps) {
  const job = await lockJob(tx, id);
  if (job.status !== 'running' || !job.paused_reason) throw new ConflictError(`Deployment ${id} is not paused.`, 'deployment_not_paused');
  if (job.paused_reason === 'verify') {
    const until = job.verify_until ? ` until ${job.verify_until.toISOString()}` : '';
    throw new ConflictError(
      `Deployment ${id} is verifying canary wave ${job.current_batch + 1}${until}; the next wave follows when the wave stays healthy.`,
      'deployment_verifying',
    );
  }
  await tx.query(
    `UPDATE deployment_jobs SET paused_reason = NULL,
            acknowledged_failures = CASE WHEN paused_reason = 'failure'
              THEN (SELECT count(*) FROM deployment_tasks WHERE job_id = $1 AND status = 'failed') ELSE acknowledged_failures END
      WHERE id = $1`,
    [id],
  );
  // The next batch is released (or the job ends) now, not at the scheduler's next sweep.
  await advanceJob(tx, id, deps);
  return getJob(tx, id);
}

/** Rolls a finished job back: each target it touched returns to its previous digests. */
export async function rollbackJob(tx: Tx, tenantId: string, id: string, userId: string) {
  const job = await lockJob(tx, id);
  if (job.status === 'pending' || job.status === 'running')
    throw new ConflictError(`Deployment ${id} is still ${job.status}; cancel it first.`, 'deployment_active');
  const created = await startRollback(tx, tenantId, id, userId);
  if (!created) throw new ConflictError(`No target of deployment ${id} has a previous release to return to.`, 'nothing_to_roll_back');
  return getJob(tx, created);
}

/** `gantry rollback ENV [--to RELEASE]`: back to a named release, or undo the environment's latest deployment. */
export async function rollbackEnvironment(tx: Tx, tenantId: string, envRef: string, to: string | undefined, userId: string) {
  const env = await getEnvironment(tx, envRef);
  const last = await tx.query<{ id: string }>(
    `SELECT id FROM deployment_jobs WHERE environment_id = $1 AND status IN ('succeeded', 'failed') ORDER BY id DESC LIMIT 1`,
    [env.id],
  );
  if (!last.rows[0]) throw new ConflictError(`Nothing was deployed to "${env.name}" yet.`, 'nothing_to_roll_back');
  if (!to) return rollbackJob(tx, tenantId, last.rows[0].id, userId);
  const id = await createJob(tx, {
    tenantId,
    releaseRef: to,
    environmentRef: env.id,
    promotionId: null,
    createdBy: userId,
    rollbackOf: last.rows[0].id,
  });
  return getJob(tx, id);
}

/**
 * The plan a rollback would execute, without starting it: the rollback is created exactly as it would be
 * (same code, same checks: 409 while a job runs, nothing to roll back) inside a savepoint, its plan read,
 * and everything undone.
 */
export async function rollbackPlan(tx: Tx, create: () => Promise<{ id: string }>): Promise<DeploymentPlan> {
  await tx.query('SAVEPOINT rollback_plan');
  try {
    const job = await create();
    const r = await tx.query<{ plan: DeploymentPlan }>('SELECT plan FROM deployment_jobs WHERE id = $1', [job.id]);
    return r.rows[0]!.plan;
  } finally {
    await tx.query('ROLLBACK TO SAVEPOINT rollback_plan');
  }
}
