// Busy environments: a promotion's job created while another job of its environment is active waits as
// `pending` (create.ts). When the running job ends (finishJob, same transaction) the next queued job
// starts, in the order the promotions were requested; each queued promotion's blocked_reason says what
// it waits for. The scheduler's sweep starts any queue a crash left without a running job.
import { type Db, type Tx, withSystem } from '../store/db.js';
import { lockEnvironmentJobs, type QueuedJob, startQueuedJob } from './create.js';

/** Ends a job that could not start (finishJob with status failed); passed in to keep progress.ts the owner of endings. */
export type FailJob = (tx: Tx, jobId: string, error: string) => Promise<void>;

/**
 * Starts the next queued job of the environment unless one is running, then rewrites the queued
 * promotions' reasons (their positions moved). Call inside the transaction that ended a job.
 */
export async function startNextQueued(tx: Tx, environmentId: string, fail: FailJob): Promise<string | null> {
  await lockEnvironmentJobs(tx, environmentId);
  let started: string | null = null;
  for (;;) {
    const running = await tx.query<{ id: string }>(
      `SELECT id FROM deployment_jobs WHERE environment_id = $1 AND status = 'running' LIMIT 1`,
      [environmentId],
    );
    if (running.rows[0]) break;
    // SKIP LOCKED: a queued job being cancelled right now is not waited for; the next one starts.
    const next = await tx.query<QueuedJob>(
      `SELECT j.id, j.tenant_id, j.release_id, j.environment_id, j.promotion_id, j.strategy, j.strategy_config, j.plan
         FROM deployment_jobs j LEFT JOIN promotions p ON p.id = j.promotion_id
        WHERE j.environment_id = $1 AND j.status = 'pending'
        ORDER BY p.requested_at NULLS LAST, j.id LIMIT 1 FOR UPDATE OF j SKIP LOCKED`,
      [environmentId],
    );
    const job = next.rows[0];
    if (!job) break;
    const error = await startQueuedJob(tx, job);
    if (error) {
      await fail(tx, job.id, `the queued deployment could not start: ${error}`);
      continue;
    }
    await tx.query(`UPDATE promotions SET blocked_reason = NULL WHERE id = (SELECT promotion_id FROM deployment_jobs WHERE id = $1)`, [
      job.id,
    ]);
    started = job.id;
    break;
  }
  await describeQueue(tx, environmentId);
  return started;
}

/** Sets each queued promotion's blocked_reason: which job it waits for and its place in the queue. */
export async function describeQueue(tx: Tx, environmentId: string): Promise<void> {
  await tx.query(
    `WITH env AS (SELECT name FROM environments WHERE id = $1),
          ahead AS (SELECT id FROM deployment_jobs WHERE environment_id = $1 AND status = 'running' ORDER BY id LIMIT 1),
          q AS (SELECT j.promotion_id, row_number() OVER (ORDER BY p.requested_at, j.id) AS pos
                  FROM deployment_jobs j JOIN promotions p ON p.id = j.promotion_id
                 WHERE j.environment_id = $1 AND j.status = 'pending')
     UPDATE promotions p
        SET blocked_reason = format('queued: environment "%s" is busy with deployment %s; %s',
                                    (SELECT name FROM env), coalesce((SELECT id::text FROM ahead), '(starting)'),
                                    CASE WHEN q.pos = 1 THEN 'this promotion deploys next'
                                         ELSE format('%s promotion(s) ahead of this one', q.pos - 1) END)
       FROM q WHERE p.id = q.promotion_id`,
    [environmentId],
  );
}

/** Scheduler safety net: environments with queued jobs and none running (e.g. a start that failed) get their next job started. */
export async function startStalledQueues(db: Db, fail: FailJob): Promise<number> {
  const r = await db.query<{ environment_id: string }>(
    `SELECT DISTINCT j.environment_id FROM deployment_jobs j
      WHERE j.status = 'pending'
        AND NOT EXISTS (SELECT 1 FROM deployment_jobs r WHERE r.environment_id = j.environment_id AND r.status = 'running')
      LIMIT 50`,
  );
  let started = 0;
  for (const row of r.rows) {
    if (await withSystem(db, (tx) => startNextQueued(tx, row.environment_id, fail))) started++;
  }
  return started;
}
