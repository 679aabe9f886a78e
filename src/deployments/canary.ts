// Canary verification between waves. When a wave's tasks have all ended and verifySeconds > 0,
// advanceJob pauses the job with paused_reason 'verify' instead of releasing the next wave. Each
// scheduler sweep (injected clock) then: opens the window (verify_until = now + verifySeconds), fails
// the verification as soon as a target of the wave is reported unhealthy (targets.health_status, set by
// agents' drift observations and task reports), and passes it once the window ended with none. Either
// way the outcome is recorded on the job (verification, evidence) and in the wave's task logs, and
// advanceJob takes the next step: a failed verification marks the unhealthy targets' tasks failed, so
// maxFailures and failureBehavior (rollback/pause/continue/stop) apply as for a failed batch.

import type { StrategyConfig } from '../protocol/deployment.js';
import { type Db, type Tx, withSystem } from '../store/db.js';
import { advanceJob, type ProgressDeps } from './progress.js';

interface VerifyingJob {
  id: string;
  tenant_id: string;
  status: string;
  paused_reason: string | null;
  current_batch: number;
  strategy_config: StrategyConfig;
  verify_started_at: Date | null;
  verify_until: Date | null;
}

interface WaveTarget {
  task_id: string;
  attempt: number;
  target_id: string;
  target_name: string;
  health_status: string;
  observed_at: Date | null;
}

/** Appends one line to the log of each task of the wave (after its last line), at the clock's time. */
async function logWave(tx: Tx, job: VerifyingJob, targets: WaveTarget[], now: Date, line: string): Promise<void> {
  for (const t of targets) {
    await tx.query(
      `INSERT INTO job_logs (tenant_id, job_id, task_id, attempt, seq, at, line)
       SELECT $1, $2, $3, $4, coalesce(max(seq), -1) + 1, $5, $6 FROM job_logs WHERE task_id = $3 AND attempt = $4`,
      [job.tenant_id, job.id, t.task_id, t.attempt, now, line],
    );
  }
}

/** One sweep step for one job under verification, in its own transaction. */
async function verifyJob(tx: Tx, jobId: string, now: Date, deps: ProgressDeps): Promise<void> {
  const j = await tx.query<VerifyingJob>(
    `SELECT id, tenant_id, status, paused_reason, current_batch, strategy_config, verify_started_at, verify_until
       FROM deployment_jobs WHERE id = $1 FOR UPDATE`,
    [jobId],
  );
  const job = j.rows[0];
  if (job?.status !== 'running' || job.paused_reason !== 'verify') return;
  const wave = job.current_batch + 1;
  const r = await tx.query<WaveTarget>(
    `SELECT t.id AS task_id, t.attempt, g.id AS target_id, g.name AS target_name, g.health_status, g.observed_at
       FROM deployment_tasks t JOIN targets g ON g.id = t.target_id
      WHERE t.job_id = $1 AND t.batch = $2 AND t.status = 'succeeded' ORDER BY g.name`,
    [job.id, job.current_batch],
  );
  const targets = r.rows;
  const names = targets.map((t) => t.target_name).join(', ') || 'none';
  let startedAt = job.verify_started_at;
  let until = job.verify_until;
  if (!startedAt || !until) {
    startedAt = now;
    until = new Date(now.getTime() + (job.strategy_config.verifySeconds ?? 0) * 1000);
    await tx.query('UPDATE deployment_jobs SET verify_started_at = $2, verify_until = $3 WHERE id = $1', [job.id, startedAt, until]);
    await logWave(tx, job, targets, now, `canary: verifying wave ${wave} (${names}) until ${until.toISOString()}`);
  }
  const unhealthy = targets.filter((t) => t.health_status === 'unhealthy');
  if (unhealthy.length === 0 && now < until) return;
  const passed = unhealthy.length === 0;
  const bad = unhealthy.map((t) => t.target_name).join(', ');
  const why = `canary verification of wave ${wave} failed: ${bad} reported unhealthy`;
  const record = {
    wave,
    batch: job.current_batch,
    startedAt: startedAt.toISOString(),
    until: until.toISOString(),
    endedAt: now.toISOString(),
    outcome: passed ? 'passed' : 'failed',
    targets: targets.map((t) => ({
      id: t.target_id,
      name: t.target_name,
      healthStatus: t.health_status,
      observedAt: t.observed_at?.toISOString() ?? null,
      observedInWindow: t.observed_at !== null && t.observed_at >= startedAt,
    })),
    unhealthy: unhealthy.map((t) => t.target_name),
  };
  await tx.query(
    `UPDATE deployment_jobs SET paused_reason = NULL, verified_batch = current_batch, verify_started_at = NULL, verify_until = NULL,
            verification = verification || jsonb_build_array($2::jsonb) WHERE id = $1`,
    [job.id, JSON.stringify(record)],
  );
  await logWave(tx, job, targets, now, passed ? `canary: wave ${wave} verified healthy (${names})` : `canary: ${why}`);
  if (!passed) {
    await tx.query(`UPDATE deployment_tasks SET status = 'failed', error = $2 WHERE id = ANY($1::uuid[])`, [
      unhealthy.map((t) => t.task_id),
      `${why} during the verification window`,
    ]);
  }
  await advanceJob(tx, job.id, deps, passed ? undefined : why);
}

/** Scheduler step: opens, watches and ends the verification windows of canary jobs. */
export async function verifyWaves(db: Db, now: Date, deps: ProgressDeps): Promise<void> {
  const r = await db.query<{ id: string }>(
    `SELECT id FROM deployment_jobs WHERE status = 'running' AND paused_reason = 'verify' ORDER BY id LIMIT 100`,
  );
  for (const row of r.rows) await withSystem(db, (tx) => verifyJob(tx, row.id, now, deps));
}
