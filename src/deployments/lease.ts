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

type LockedRow = HeldRow & { fencing_token: string; fenced_owner: string | null };

const LOCK_COLUMNS =
  'id, job_id, tenant_id, target_id, status, error, action, components, fencing_token, fenced_owner, reported_token, report_sha256';

/** locked()'s rule: the token must be the task's current one and given to this runner. */
function leaseRefusal(runner: Runner, taskId: string, t: LockedRow | undefined, lease: LeaseRef): GantryError | null {
  if (!t) return lost(taskId, 'the task no longer exists');
  const current = Number(t.fencing_token);
  if (current !== lease.fencingToken || t.fenced_owner !== runner.owner)
    return new LeaseSupersededError(taskId, current, lease.fencingToken);
  return null;
}

/**
 * Locks a task for a request under `lease`. The token must be the task's current one and given to this
 * runner; otherwise 409 lease_superseded. The task may be held (assigned/running) or, with that same
 * token, back in the queue (its lease expired or the agent restarted, and nobody leased it since): the
 * caller decides whether that still counts (a finished task's report does, see reportTask).
 */
async function locked(tx: Tx, runner: Runner, taskId: string, lease: LeaseRef): Promise<HeldRow> {
  const r = await tx.query<LockedRow>(`SELECT ${LOCK_COLUMNS} FROM deployment_tasks WHERE id = $1 FOR UPDATE`, [taskId]);
  const t = r.rows[0];
  const refusal = leaseRefusal(runner, taskId, t, lease);
  if (refusal) throw refusal;
  return t!;
}

/** Locks several tasks, in id order (two batches touching the same tasks cannot deadlock). */
async function lockedMany(tx: Tx, ids: string[]): Promise<Map<string, LockedRow>> {
  const r = await tx.query<LockedRow>(`SELECT ${LOCK_COLUMNS} FROM deployment_tasks WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE`, [
    ids,
  ]);
  return new Map(r.rows.map((t) => [t.id, t]));
}

/** Each item's outcome in a batch: null when done, or the refusal its single-task request would have thrown. */
export type Outcomes = Map<string, GantryError | null>;

const unique = (ids: string[]) => new Set(ids).size === ids.length;

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
  const refusal = (await startMany(tx, runner, [{ taskId, ...lease }], now, leaseSeconds)).get(taskId);
  if (refusal) throw refusal;
}

/**
 * Marks several leased tasks running in the caller's transaction, with one statement for all of them: a
 * held task (assigned/running) is started and its lease renewed; one re-queued under the same token is
 * taken back (held()). The others are refused as a single start would be, and nothing of theirs is written.
 */
export async function startMany(
  tx: Tx,
  runner: Runner,
  items: (LeaseRef & { taskId: string })[],
  now: Date,
  leaseSeconds: number,
): Promise<Outcomes> {
  const out: Outcomes = new Map();
  const ids = items.map((i) => i.taskId);
  if (!unique(ids)) {
    // The same task twice in one batch: each in turn, as single starts would be (rare; not worth a statement of its own).
    for (const i of [...items].sort((a, b) => (a.taskId < b.taskId ? -1 : 1))) {
      try {
        await startOne(tx, runner, i.taskId, i, now, leaseSeconds);
        out.set(i.taskId, null);
      } catch (err) {
        if (!(err instanceof GantryError)) throw err;
        out.set(i.taskId, err);
      }
    }
    return out;
  }
  // The rows are locked in id order first; a task re-queued under this token gets back its holder's fields.
  const r = await tx.query<{ id: string }>(
    `WITH l AS MATERIALIZED (SELECT id FROM deployment_tasks WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE)
     UPDATE deployment_tasks t SET status = 'running',
            agent_id = CASE WHEN t.status = 'pending' THEN $3::uuid ELSE t.agent_id END,
            lease_owner = CASE WHEN t.status = 'pending' THEN $4 ELSE t.lease_owner END,
            error = CASE WHEN t.status = 'pending' THEN NULL ELSE t.error END,
            waiting_reason = CASE WHEN t.status = 'pending' THEN NULL ELSE t.waiting_reason END,
            waiting_since = CASE WHEN t.status = 'pending' THEN NULL ELSE t.waiting_since END,
            started_at = coalesce(t.started_at, $5), lease_expires_at = $5::timestamptz + make_interval(secs => $6)
       FROM unnest($1::uuid[], $2::bigint[]) AS x(id, token)
      WHERE t.id = x.id AND t.id IN (SELECT id FROM l) AND t.fencing_token = x.token AND t.fenced_owner = $4
        AND t.status IN ('pending', 'assigned', 'running')
      RETURNING t.id`,
    [ids, items.map((i) => i.fencingToken), runner.agentId, runner.owner, now, leaseSeconds],
  );
  for (const row of r.rows) out.set(row.id, null);
  const rest = items.filter((i) => !out.has(i.taskId));
  if (!rest.length) return out;
  // Refused: the reason, from the rows this transaction holds locked.
  const rows = await lockedMany(
    tx,
    rest.map((i) => i.taskId),
  );
  for (const i of rest) {
    const t = rows.get(i.taskId);
    const refusal = leaseRefusal(runner, i.taskId, t, i) ?? lost(i.taskId, `it ended: ${t!.status}${t!.error ? `, ${t!.error}` : ''}`);
    out.set(i.taskId, refusal);
  }
  return out;
}

/** One start, statement by statement (held(), then the start). */
async function startOne(tx: Tx, runner: Runner, taskId: string, lease: LeaseRef, now: Date, leaseSeconds: number) {
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
  const { outcomes, jobs } = await recordReports(tx, runner, [{ taskId, report, lines }]);
  const refusal = outcomes.get(taskId);
  if (refusal) throw refusal;
  return jobs[0] ?? null;
}

export interface ReportItem {
  taskId: string;
  report: TaskReport;
  lines: LogLine[];
}

/** An accepted report, with its locked task row and the report's hash. */
interface Accepted {
  t: LockedRow;
  item: ReportItem;
  hash: string;
}

/**
 * Records several reports in the caller's transaction, a statement per kind of write for all of them
 * (not per report): each is checked like a single report and refused before anything of it is written.
 * Returns each item's outcome and the jobs to advance (a re-sent report has none).
 */
export async function recordReports(tx: Tx, runner: Runner, items: ReportItem[]): Promise<{ outcomes: Outcomes; jobs: string[] }> {
  const outcomes: Outcomes = new Map();
  const jobs = new Set<string>();
  const ordered = [...items].sort((a, b) => (a.taskId < b.taskId ? -1 : 1));
  // The same task twice in one batch: each in turn, as single reports would be.
  const groups = unique(ordered.map((i) => i.taskId)) ? [ordered] : ordered.map((i) => [i]);
  for (const group of groups) {
    const rows = await lockedMany(
      tx,
      group.map((i) => i.taskId),
    );
    const accepted: Accepted[] = [];
    for (const item of group) {
      const hash = sha256Of(canonicalJson(item.report));
      const t = rows.get(item.taskId);
      const refusal = leaseRefusal(runner, item.taskId, t, item.report) ?? reportRefusal(t!, item, hash);
      if (refusal === 'resent') outcomes.set(item.taskId, null);
      else if (refusal) outcomes.set(item.taskId, refusal);
      else accepted.push({ t: t!, item, hash });
    }
    // One target twice (tasks of two jobs): written in turn, so the later report's outcome stands.
    const targets = new Set(accepted.map((a) => a.t.target_id));
    const writes = targets.size === accepted.length ? [accepted] : accepted.map((a) => [a]);
    for (const w of writes) if (w.length) await writeReports(tx, w);
    for (const a of accepted) {
      outcomes.set(a.item.taskId, null);
      jobs.add(a.t.job_id);
    }
  }
  return { outcomes, jobs: [...jobs] };
}

/** A report's own checks on its locked task: 'resent' for the same report again (answered ok, nothing written). */
function reportRefusal(t: LockedRow, { taskId, report }: ReportItem, hash: string): GantryError | 'resent' | null {
  if (t.reported_token !== null && Number(t.reported_token) === report.fencingToken) {
    // A re-sent report (the agent retries until acknowledged): the same report gets the same answer.
    if (t.report_sha256 === hash) return 'resent';
    return new ConflictError(
      `Task ${taskId} already has a different report under fencing token ${report.fencingToken}; a report cannot change.`,
      'report_conflict',
    );
  }
  // Pending under this same token: the lease ran out before the report could arrive, and nobody leased
  // the task since. The work is done; recording it is what keeps it from being done twice.
  if (!['assigned', 'running', 'pending'].includes(t.status)) return lost(taskId, `it ended: ${t.status}${t.error ? `, ${t.error}` : ''}`);
  if (report.sticker && sha256Of(canonicalJson(report.sticker.content)) !== report.sticker.contentHash) {
    return new ValidationError('The sticker content_hash is not the SHA-256 of its canonical JSON.', [
      { path: 'body.sticker.contentHash', message: 'mismatch' },
    ]);
  }
  return null;
}

/** Writes accepted reports (of distinct tasks and targets): log lines, artifacts, task rows, targets, version stickers. */
async function writeReports(tx: Tx, accepted: Accepted[]): Promise<void> {
  const lines = accepted.flatMap(({ t, item }) =>
    item.lines.map((l) => ({
      tenant_id: t.tenant_id,
      job_id: t.job_id,
      task_id: t.id,
      attempt: item.report.attempt,
      seq: l.seq,
      at: l.at,
      line: l.line.slice(0, 8000),
    })),
  );
  if (lines.length) {
    await tx.query(
      `INSERT INTO job_logs (tenant_id, job_id, task_id, attempt, seq, at, line)
       SELECT x.tenant_id, x.job_id, x.task_id, x.attempt, x.seq, x.at, x.line
         FROM jsonb_to_recordset($1::jsonb) AS x(tenant_id uuid, job_id uuid, task_id uuid, attempt int, seq int, at timestamptz, line text)
       ON CONFLICT (task_id, attempt, seq) DO NOTHING`,
      [JSON.stringify(lines)],
    );
  }
  const artifacts = accepted.flatMap(({ t, item }) => item.report.artifacts.map((a) => ({ t, a })));
  if (artifacts.length) {
    await tx.query(
      `INSERT INTO deployment_artifacts (tenant_id, job_id, task_id, name, media_type, content, sha256)
       SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::text[])
       ON CONFLICT (task_id, name) DO NOTHING`,
      [
        artifacts.map(({ t }) => t.tenant_id),
        artifacts.map(({ t }) => t.job_id),
        artifacts.map(({ t }) => t.id),
        artifacts.map(({ a }) => a.name),
        artifacts.map(({ a }) => a.mediaType),
        artifacts.map(({ a }) => a.content),
        artifacts.map(({ a }) => sha256Of(a.content)),
      ],
    );
  }
  const outcomes = accepted.map(({ t, item: { report }, hash }) => ({
    id: t.id,
    status: report.status,
    error: report.error ?? null,
    ...(report.health ? { health: report.health } : {}),
    token: report.fencingToken,
    hash,
    // What the runner observed after the change, per container (labels left out: the report's artifacts carry the spec).
    observed: report.observed.map(({ labels: _labels, ...o }) => o),
  }));
  await tx.query(
    `UPDATE deployment_tasks t SET status = x.status, error = x.error, health = x.health, completed_at = now(), lease_expires_at = NULL,
            reported_token = x.token, report_sha256 = x.hash, waiting_reason = NULL, waiting_since = NULL, observed = x.observed,
            logs = coalesce((SELECT string_agg(to_char(l.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') || ' ' || l.line, E'\\n' ORDER BY l.attempt, l.seq)
                               FROM job_logs l WHERE l.task_id = t.id), '')
       FROM jsonb_to_recordset($1::jsonb) AS x(id uuid, status text, error text, health jsonb, token bigint, hash text, observed jsonb)
      WHERE t.id = x.id`,
    [JSON.stringify(outcomes)],
  );
  const succeeded = accepted.filter((a) => a.item.report.status === 'succeeded');
  const removed = succeeded.filter((a) => a.t.action === 'remove').map((a) => a.t.target_id);
  if (removed.length) {
    // The target's first-ever deployment was taken away: it runs nothing Gantry knows of.
    await tx.query(
      `UPDATE targets SET current_digest = NULL, current_components = '[]', current_release_id = NULL, health_status = 'unknown',
              drift_detected = false, drift = '[]' WHERE id = ANY($1::uuid[])`,
      [removed],
    );
  }
  const deployed = succeeded.filter((a) => a.t.action !== 'remove');
  if (deployed.length) {
    const current = deployed.map(({ t }) => {
      const components = t.components.map((c) => ({ name: c.name, image: c.image, digest: c.digest }));
      return { target_id: t.target_id, job_id: t.job_id, digest: bundleDigest(components), components };
    });
    await tx.query(
      `UPDATE targets g SET current_digest = x.digest, current_components = x.components, current_release_id = j.release_id,
              health_status = 'healthy', drift_detected = false, drift = '[]'
         FROM jsonb_to_recordset($1::jsonb) AS x(target_id uuid, job_id uuid, digest text, components jsonb)
         JOIN deployment_jobs j ON j.id = x.job_id
        WHERE g.id = x.target_id`,
      [JSON.stringify(current)],
    );
    const stickers = deployed
      .filter((a) => a.item.report.sticker)
      .map(({ t, item }) => ({
        tenant_id: t.tenant_id,
        target_id: t.target_id,
        content: item.report.sticker!.content,
        hash: item.report.sticker!.contentHash,
        job_id: t.job_id,
        task_id: t.id,
      }));
    if (stickers.length) {
      await tx.query(
        `INSERT INTO version_stickers (tenant_id, target_id, release_id, promotion_id, sticker_content, content_hash, job_id, task_id)
         SELECT x.tenant_id, x.target_id, j.release_id, j.promotion_id, x.content, x.hash, x.job_id, x.task_id
           FROM jsonb_to_recordset($1::jsonb) AS x(tenant_id uuid, target_id uuid, content jsonb, hash text, job_id uuid, task_id uuid)
           JOIN deployment_jobs j ON j.id = x.job_id`,
        [JSON.stringify(stickers)],
      );
    }
  }
  const failed = accepted.filter((a) => a.item.report.status !== 'succeeded').map((a) => a.t.target_id);
  if (failed.length) await tx.query(`UPDATE targets SET health_status = 'unhealthy' WHERE id = ANY($1::uuid[])`, [failed]);
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
