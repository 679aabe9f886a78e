// Task leases: runners (agents, or a server instance for agentless ssh_host targets) lease pending tasks
// of released batches with FOR UPDATE SKIP LOCKED, mark them running before any side effect, stream
// logs, and report the outcome; each step is one committed transaction. Expired leases re-queue.
// Every lease takes the task's next fencing token: start, logs and the report carry it, and a request
// under a token that is no longer current (the task was leased again) is refused, so a runner that lost
// its lease can neither renew it nor commit an outcome over the new holder's.
import { ConflictError, GantryError, ValidationError } from '../core/errors.js';
import { type AgentTask, bundleDigest, canonicalJson, sha256Of, type TaskReport } from '../protocol/deployment.js';
import { type Db, type Tx, withSystem } from '../store/db.js';
import { advanceJob, type ProgressDeps } from './progress.js';

/** Who holds a lease: an agent of one tenant, or the server's own runner (agentId null, any tenant). */
export interface Runner {
  agentId: string | null;
  agentName: string | null;
  tenantId: string | null;
  owner: string;
  targetTypes: string[];
  /** The runner can run removal tasks (action "remove"); runners that do not say so never lease them. */
  removes?: boolean;
  /** The runner applies traffic changes of progressive rollouts (action "route") on its targets' routers. */
  routes?: boolean;
}

interface LeasedRow {
  id: string;
  job_id: string;
  attempt: number;
  fencing_token: string;
  lease_expires_at: Date;
  action: AgentTask['action'];
  components: AgentTask['components'];
  strategy: AgentTask['strategy'];
  strategy_config: AgentTask['config'];
  rollback_of: string | null;
  promotion_id: string | null;
  target_id: string;
  target_name: string;
  target_type: AgentTask['target']['type'];
  connection: Record<string, unknown>;
  labels: Record<string, string>;
  release_id: string;
  release_name: string;
  env_id: string;
  env_name: string;
}

const toTask = (r: LeasedRow): AgentTask => ({
  taskId: r.id,
  jobId: r.job_id,
  attempt: r.attempt,
  fencingToken: Number(r.fencing_token),
  mode: r.rollback_of ? 'rollback' : 'deploy',
  action: r.action,
  strategy: r.strategy,
  leaseExpiresAt: r.lease_expires_at.toISOString(),
  target: { id: r.target_id, name: r.target_name, type: r.target_type, connection: r.connection, labels: r.labels },
  release: { id: r.release_id, name: r.release_name },
  promotionId: r.promotion_id,
  environment: { id: r.env_id, name: r.env_name },
  components: r.components,
  config: r.strategy_config,
});

/**
 * Leases up to `max` tasks the runner can execute: pending, of a running unpaused job, in a released
 * batch, of a target type it serves, not pinned to another agent (target label `agent`), and within
 * the job's maxConcurrent. Each lease counts an attempt.
 */
export async function leaseTasks(db: Db, runner: Runner, max: number, now: Date, leaseSeconds: number): Promise<AgentTask[]> {
  if (runner.targetTypes.length === 0) return [];
  // live: the agent's row, share-locked so a concurrent revocation (which updates it first) either waits
  // for this lease and then re-queues its tasks, or commits first and this lease hands out nothing.
  const r = await db.query<LeasedRow>(
    `WITH live AS (SELECT id FROM agents WHERE id = $5 AND revoked_at IS NULL FOR SHARE),
     c AS (
       SELECT t.id FROM deployment_tasks t
         JOIN deployment_jobs j ON j.id = t.job_id
         JOIN targets g ON g.id = t.target_id
        WHERE t.status = 'pending' AND j.status = 'running' AND j.paused_reason IS NULL AND t.batch <= j.current_batch
          AND ($1::uuid IS NULL OR t.tenant_id = $1) AND g.target_type = ANY($2::text[])
          AND ($5::uuid IS NULL OR EXISTS (SELECT 1 FROM live))
          AND (g.labels->>'agent' IS NULL OR g.labels->>'agent' = $3)
          AND (t.action = 'deploy' OR $9::boolean)
          AND (j.strategy_config->>'maxConcurrent' IS NULL OR (SELECT count(*) FROM deployment_tasks x
                WHERE x.job_id = j.id AND x.status IN ('assigned', 'running')) < (j.strategy_config->>'maxConcurrent')::int)
        ORDER BY t.batch, t.id FOR UPDATE OF t SKIP LOCKED LIMIT $4),
     u AS (
       UPDATE deployment_tasks t SET status = 'assigned', agent_id = $5, lease_owner = $6, attempt = t.attempt + 1,
              fencing_token = t.fencing_token + 1, fenced_owner = $6, waiting_reason = NULL, waiting_since = NULL,
              lease_expires_at = $7::timestamptz + make_interval(secs => $8), error = NULL
         FROM c WHERE t.id = c.id RETURNING t.*)
     SELECT u.id, u.job_id, u.attempt, u.fencing_token, u.lease_expires_at, u.action, u.components, j.strategy, j.strategy_config, j.rollback_of, j.promotion_id,
            g.id AS target_id, g.name AS target_name, g.target_type, g.connection, g.labels,
            r.id AS release_id, r.name AS release_name, e.id AS env_id, e.name AS env_name
       FROM u JOIN deployment_jobs j ON j.id = u.job_id JOIN targets g ON g.id = u.target_id
       JOIN releases r ON r.id = j.release_id JOIN environments e ON e.id = j.environment_id`,
    [
      runner.tenantId,
      runner.targetTypes,
      runner.agentName ?? '',
      max,
      runner.agentId,
      runner.owner,
      now,
      leaseSeconds,
      runner.removes === true,
    ],
  );
  return r.rows.map(toTask);
}

/** The lease a start, log batch or report is sent under. */
export interface LeaseRef {
  attempt: number;
  fencingToken: number;
}

/** 409: the task was leased again after this lease; its holder must stop acting on it and drop its report. */
export class LeaseSupersededError extends GantryError {
  constructor(taskId: string, current: number, sent: number) {
    super(
      'lease_superseded',
      409,
      `Task ${taskId} was leased again (fencing token ${current} is current; this request carries ${sent}): another runner owns it now. Stop acting on it and drop its report.`,
    );
  }
}

const lost = (taskId: string, why: string) =>
  new ConflictError(`Task ${taskId} is no longer leased to you (${why}); drop it.`, 'lease_lost');

interface HeldRow {
  id: string;
  job_id: string;
  tenant_id: string;
  target_id: string;
  status: string;
  error: string | null;
  action: AgentTask['action'];
  components: AgentTask['components'];
  reported_token: string | null;
  report_sha256: string | null;
}

/**
 * Locks a task for a request under `lease`. The token must be the task's current one and given to this
 * runner; otherwise 409 lease_superseded. The task may be held (assigned/running) or, with that same
 * token, back in the queue (its lease expired or the agent restarted, and nobody leased it since): the
 * caller decides whether that still counts (a finished task's report does, see reportTask).
 */
async function locked(tx: Tx, runner: Runner, taskId: string, lease: LeaseRef): Promise<HeldRow> {
  const r = await tx.query<HeldRow & { fencing_token: string; fenced_owner: string | null }>(
    `SELECT id, job_id, tenant_id, target_id, status, error, action, components, fencing_token, fenced_owner, reported_token, report_sha256
       FROM deployment_tasks WHERE id = $1 FOR UPDATE`,
    [taskId],
  );
  const t = r.rows[0];
  if (!t) throw lost(taskId, 'the task no longer exists');
  const current = Number(t.fencing_token);
  if (current !== lease.fencingToken || t.fenced_owner !== runner.owner)
    throw new LeaseSupersededError(taskId, current, lease.fencingToken);
  return t;
}

/**
 * For start and logs: the task is held under this token. A task re-queued under the same token (the lease
 * expired while the server or the network was away, and nobody leased it since) is taken back: the
 * token proves no other runner acted on it in between.
 */
async function held(tx: Tx, runner: Runner, taskId: string, lease: LeaseRef, now: Date, leaseSeconds: number): Promise<HeldRow> {
  const t = await locked(tx, runner, taskId, lease);
  if (t.status === 'assigned' || t.status === 'running') return t;
  if (t.status !== 'pending') throw lost(taskId, `it ended: ${t.status}${t.error ? `, ${t.error}` : ''}`);
  await tx.query(
    `UPDATE deployment_tasks SET status = 'running', agent_id = $2, lease_owner = $3, error = NULL, waiting_reason = NULL,
            waiting_since = NULL, started_at = coalesce(started_at, $4), lease_expires_at = $4::timestamptz + make_interval(secs => $5)
      WHERE id = $1`,
    [taskId, runner.agentId, runner.owner, now, leaseSeconds],
  );
  return { ...t, status: 'running' };
}

/** Marks the task running (committed before the executor touches the target) and renews the lease. */
export async function startTask(db: Db, runner: Runner, taskId: string, lease: LeaseRef, now: Date, leaseSeconds: number) {
  await withSystem(db, (tx) => startHeld(tx, runner, taskId, lease, now, leaseSeconds));
}

/** startTask in the caller's transaction (one of a batch): refusals are thrown before anything is written. */
export async function startHeld(tx: Tx, runner: Runner, taskId: string, lease: LeaseRef, now: Date, leaseSeconds: number) {
  await held(tx, runner, taskId, lease, now, leaseSeconds);
  await tx.query(
    `UPDATE deployment_tasks SET status = 'running', started_at = coalesce(started_at, $2),
            lease_expires_at = $2::timestamptz + make_interval(secs => $3) WHERE id = $1`,
    [taskId, now, leaseSeconds],
  );
}

/** Appends log lines (idempotent per attempt and seq) and renews the lease. */
export async function appendLogs(
  db: Db,
  runner: Runner,
  taskId: string,
  lease: LeaseRef,
  lines: { seq: number; at: string; line: string }[],
  now: Date,
  leaseSeconds: number,
) {
  await withSystem(db, async (tx) => {
    const t = await held(tx, runner, taskId, lease, now, leaseSeconds);
    await insertLines(tx, t, lease.attempt, lines);
    await tx.query(`UPDATE deployment_tasks SET lease_expires_at = $2::timestamptz + make_interval(secs => $3) WHERE id = $1`, [
      taskId,
      now,
      leaseSeconds,
    ]);
  });
}

export type LogLine = { seq: number; at: string; line: string };

/** Stores log lines of an attempt; a line already stored (same attempt and seq) is skipped, so resending is harmless. */
async function insertLines(tx: Tx, t: Pick<HeldRow, 'id' | 'tenant_id' | 'job_id'>, attempt: number, lines: LogLine[]): Promise<void> {
  if (!lines.length) return;
  await tx.query(
    `INSERT INTO job_logs (tenant_id, job_id, task_id, attempt, seq, at, line)
     SELECT $1, $2, $3, $4, x.seq, x.at, x.line FROM jsonb_to_recordset($5::jsonb) AS x(seq int, at timestamptz, line text)
     ON CONFLICT (task_id, attempt, seq) DO NOTHING`,
    [t.tenant_id, t.job_id, t.id, attempt, JSON.stringify(lines.map((l) => ({ ...l, line: l.line.slice(0, 8000) })))],
  );
}

/**
 * Commits a task's outcome: task row, artifacts, version sticker, the target's current digest and
 * health, then the job's next step (progress.ts), in one transaction.
 */
export async function reportTask(db: Db, runner: Runner, taskId: string, report: TaskReport, deps: ProgressDeps) {
  await withSystem(db, async (tx) => {
    const jobId = await recordReport(tx, runner, taskId, report);
    if (jobId) await advanceJob(tx, jobId, deps);
  });
}

/**
 * reportTask's record in the caller's transaction, without advancing the job (a batch advances each of
 * its jobs once, after its last report): refusals are thrown before anything is written. The task's last
 * log lines may come with it, stored just before the outcome. Returns the job to advance, or null for a
 * re-sent report.
 */
export async function recordReport(
  tx: Tx,
  runner: Runner,
  taskId: string,
  report: TaskReport,
  lines: LogLine[] = [],
): Promise<string | null> {
  const hash = sha256Of(canonicalJson(report));
  const t = await locked(tx, runner, taskId, { attempt: report.attempt, fencingToken: report.fencingToken });
  if (t.reported_token !== null && Number(t.reported_token) === report.fencingToken) {
    // A re-sent report (the agent retries until acknowledged): the same report gets the same answer.
    if (t.report_sha256 === hash) return null;
    throw new ConflictError(
      `Task ${taskId} already has a different report under fencing token ${report.fencingToken}; a report cannot change.`,
      'report_conflict',
    );
  }
  // Pending under this same token: the lease ran out before the report could arrive, and nobody leased
  // the task since. The work is done; recording it is what keeps it from being done twice.
  if (!['assigned', 'running', 'pending'].includes(t.status)) throw lost(taskId, `it ended: ${t.status}${t.error ? `, ${t.error}` : ''}`);
  if (report.sticker && sha256Of(canonicalJson(report.sticker.content)) !== report.sticker.contentHash) {
    throw new ValidationError('The sticker content_hash is not the SHA-256 of its canonical JSON.', [
      { path: 'body.sticker.contentHash', message: 'mismatch' },
    ]);
  }
  await insertLines(tx, t, report.attempt, lines);
  for (const a of report.artifacts) {
    await tx.query(
      `INSERT INTO deployment_artifacts (tenant_id, job_id, task_id, name, media_type, content, sha256)
       VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (task_id, name) DO NOTHING`,
      [t.tenant_id, t.job_id, taskId, a.name, a.mediaType, a.content, sha256Of(a.content)],
    );
  }
  // What the runner observed after the change, per container (labels left out: the report's artifacts carry the spec).
  const observed = report.observed.map(({ labels: _labels, ...o }) => o);
  await tx.query(
    `UPDATE deployment_tasks SET status = $2, error = $3, health = $4, completed_at = now(), lease_expires_at = NULL,
            reported_token = $5, report_sha256 = $6, waiting_reason = NULL, waiting_since = NULL, observed = $7,
            logs = coalesce((SELECT string_agg(to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') || ' ' || line, E'\\n' ORDER BY attempt, seq)
                               FROM job_logs WHERE task_id = $1), '')
      WHERE id = $1`,
    [
      taskId,
      report.status,
      report.error ?? null,
      report.health ? JSON.stringify(report.health) : null,
      report.fencingToken,
      hash,
      JSON.stringify(observed),
    ],
  );
  if (report.status === 'succeeded' && t.action === 'remove') {
    // The target's first-ever deployment was taken away: it runs nothing Gantry knows of.
    await tx.query(
      `UPDATE targets SET current_digest = NULL, current_components = '[]', current_release_id = NULL, health_status = 'unknown',
              drift_detected = false, drift = '[]' WHERE id = $1`,
      [t.target_id],
    );
  } else if (report.status === 'succeeded') {
    const job = await tx.query<{ release_id: string; promotion_id: string | null }>(
      'SELECT release_id, promotion_id FROM deployment_jobs WHERE id = $1',
      [t.job_id],
    );
    const current = t.components.map((c) => ({ name: c.name, image: c.image, digest: c.digest }));
    await tx.query(
      `UPDATE targets SET current_digest = $2, current_components = $3, current_release_id = $4, health_status = 'healthy',
              drift_detected = false, drift = '[]' WHERE id = $1`,
      [t.target_id, bundleDigest(current), JSON.stringify(current), job.rows[0]!.release_id],
    );
    if (report.sticker) {
      await tx.query(
        `INSERT INTO version_stickers (tenant_id, target_id, release_id, promotion_id, sticker_content, content_hash, job_id, task_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
        [
          t.tenant_id,
          t.target_id,
          job.rows[0]!.release_id,
          job.rows[0]!.promotion_id,
          JSON.stringify(report.sticker.content),
          report.sticker.contentHash,
          t.job_id,
          taskId,
        ],
      );
    }
  } else {
    await tx.query(`UPDATE targets SET health_status = 'unhealthy' WHERE id = $1`, [t.target_id]);
  }
  return t.job_id;
}

/**
 * Returns tasks whose lease expired to the queue (attempt counted), or fails them once they used
 * max_attempts, then lets their jobs advance. Runs from the scheduler with the injected clock.
 */
export async function expireLeases(db: Db, now: Date, deps: ProgressDeps): Promise<number> {
  const r = await db.query<{ id: string; job_id: string }>(
    `SELECT id, job_id FROM deployment_tasks WHERE status IN ('assigned', 'running') AND lease_expires_at < $1 ORDER BY id LIMIT 500`,
    [now],
  );
  for (const row of r.rows) {
    await withSystem(db, async (tx) => {
      const u = await tx.query(
        `UPDATE deployment_tasks SET
            status = CASE WHEN attempt >= max_attempts THEN 'failed' ELSE 'pending' END,
            error = CASE WHEN attempt >= max_attempts THEN 'lease expired on every attempt (' || attempt || ')' ELSE 'lease expired; re-queued' END,
            completed_at = CASE WHEN attempt >= max_attempts THEN $2::timestamptz END,
            agent_id = NULL, lease_owner = NULL, lease_expires_at = NULL
          WHERE id = $1 AND status IN ('assigned', 'running') AND lease_expires_at < $2`,
        [row.id, now],
      );
      if (u.rowCount) await advanceJob(tx, row.job_id, deps);
    });
  }
  return r.rows.length;
}
