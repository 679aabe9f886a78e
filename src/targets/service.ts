// Targets: create, read, update, delete within a tenant transaction; connections are checked against the target type.
import { ConflictError, GantryError, NotFoundError, ValidationError } from '../core/errors.js';
import { UUID_RE } from '../core/ids.js';
import { parseAt } from '../core/validate.js';
import { getEnvironment } from '../environments/service.js';
import { afterOf, toPage } from '../http/pagination.js';
import type { Tx } from '../store/db.js';
import { CONNECTIONS } from './connection.js';
import type { EnvironmentTargetSummary, HistoryEntry, Target, TargetBrief, TargetCreate, TargetUpdate } from './model.js';

interface TargetRow {
  id: string;
  name: string;
  environment_id: string;
  environment_name: string;
  target_type: Target['targetType'];
  connection: Record<string, unknown>;
  labels: Record<string, string>;
  health_status: Target['healthStatus'];
  current_digest: string | null;
  current_release_id: string | null;
  current_release_name: string | null;
  current_components: { name: string; image: string; digest: string }[];
  observed: { error?: string | null } | null;
  observed_at: Date | null;
  served_agent_id: string | null;
  served_agent_name: string | null;
  served_agent_status: string | null;
  served_owner: string | null;
  waiting_task_id: string | null;
  waiting_job_id: string | null;
  waiting_status: string | null;
  waiting_reason: string | null;
  waiting_since: Date | null;
  created_at: Date;
  updated_at: Date;
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);

function servedBy(r: TargetRow): Target['servedBy'] {
  if (r.served_agent_id)
    return { kind: 'agent', id: r.served_agent_id, name: r.served_agent_name ?? r.served_agent_id, status: r.served_agent_status };
  if (r.served_owner) return { kind: 'server', id: null, name: r.served_owner, status: null };
  return null;
}

const targetOut = (r: TargetRow): Target => ({
  id: r.id,
  name: r.name,
  environmentId: r.environment_id,
  environmentName: r.environment_name,
  targetType: r.target_type,
  connection: r.connection,
  labels: r.labels,
  healthStatus: r.health_status,
  currentDigest: r.current_digest,
  currentRelease: r.current_release_id ? { id: r.current_release_id, name: r.current_release_name ?? r.current_release_id } : null,
  currentComponents: r.current_components.map((c) => ({ name: c.name, image: c.image, digest: c.digest })),
  servedBy: servedBy(r),
  observation: {
    state: !r.observed_at ? 'never' : r.observed?.error ? 'unobservable' : 'observed',
    at: iso(r.observed_at),
    error: r.observed?.error ?? null,
  },
  waiting: r.waiting_task_id
    ? {
        jobId: r.waiting_job_id!,
        taskId: r.waiting_task_id,
        status: r.waiting_status!,
        reason: r.waiting_reason,
        since: iso(r.waiting_since),
      }
    : null,
  createdAt: r.created_at.toISOString(),
  updatedAt: r.updated_at.toISOString(),
});

// Every read and write returns the row joined with its environment's name, its current release, who
// ran its latest successful task, and the task waiting on it (if any).
const WITH_ENV = `SELECT t.*, e.name AS environment_name, cr.name AS current_release_name,
    sv.agent_id AS served_agent_id, sa.name AS served_agent_name, sa.status AS served_agent_status,
    CASE WHEN sv.agent_id IS NULL AND sv.id IS NOT NULL THEN 'the Gantry server (over SSH)' END AS served_owner,
    w.id AS waiting_task_id, w.job_id AS waiting_job_id, w.status AS waiting_status, w.waiting_reason, w.waiting_since
  FROM t JOIN environments e ON e.id = t.environment_id
  LEFT JOIN releases cr ON cr.id = t.current_release_id
  LEFT JOIN LATERAL (SELECT dt.id, dt.agent_id FROM deployment_tasks dt WHERE dt.target_id = t.id AND dt.status = 'succeeded'
                      ORDER BY dt.completed_at DESC NULLS LAST, dt.id DESC LIMIT 1) sv ON true
  LEFT JOIN agents sa ON sa.id = sv.agent_id
  LEFT JOIN LATERAL (SELECT dt.id, dt.job_id, dt.status, dt.waiting_reason, dt.waiting_since
                       FROM deployment_tasks dt JOIN deployment_jobs j ON j.id = dt.job_id
                      WHERE dt.target_id = t.id AND dt.status = 'pending' AND j.status IN ('pending', 'running')
                      ORDER BY dt.id DESC LIMIT 1) w ON true`;

/** 422 unless the environment is visible to this tenant (row-level security hides other tenants' rows). */
async function checkEnvironment(tx: Tx, id: string): Promise<void> {
  const r = await tx.query('SELECT 1 FROM environments WHERE id = $1', [id]);
  if (r.rowCount === 0) {
    throw new GantryError('reference_invalid', 422, `No environment with id ${id} exists in this tenant; see GET /api/v1/environments.`, [
      { path: 'body.environmentId', message: 'no such environment' },
    ]);
  }
}

/** Finds a target by id or name; 404 when it does not exist in this tenant. */
export async function getTarget(tx: Tx, ref: string): Promise<Target> {
  const byId = UUID_RE.test(ref);
  const r = await tx.query<TargetRow>(`WITH t AS (SELECT * FROM targets WHERE ${byId ? 'id = $1::uuid' : 'name = $1'}) ${WITH_ENV}`, [ref]);
  if (!r.rows[0]) throw new NotFoundError('Target', ref);
  return targetOut(r.rows[0]);
}

export async function listTargets(tx: Tx, limit: number, cursor: string | undefined, environment: string | undefined) {
  const envId = environment === undefined ? null : (await getEnvironment(tx, environment)).id;
  const r = await tx.query<TargetRow>(
    `WITH t AS (SELECT * FROM targets WHERE ($1::uuid IS NULL OR id > $1::uuid) AND ($2::uuid IS NULL OR environment_id = $2::uuid)
                ORDER BY id LIMIT $3)
     ${WITH_ENV} ORDER BY t.id`,
    [afterOf(cursor) ?? null, envId, limit + 1],
  );
  return toPage(r.rows, limit, (row) => [row.id], targetOut);
}

export async function createTarget(tx: Tx, tenantId: string, input: TargetCreate): Promise<Target> {
  await checkEnvironment(tx, input.environmentId);
  const r = await tx.query<TargetRow>(
    `WITH t AS (INSERT INTO targets (tenant_id, environment_id, name, target_type, connection, labels)
                VALUES ($1, $2, $3, $4, $5, $6) RETURNING *)
     ${WITH_ENV}`,
    [tenantId, input.environmentId, input.name, input.targetType, JSON.stringify(input.connection), JSON.stringify(input.labels ?? {})],
  );
  return targetOut(r.rows[0]!);
}

export async function updateTarget(tx: Tx, ref: string, input: TargetUpdate): Promise<Target> {
  const current = await getTarget(tx, ref);
  if (input.targetType !== undefined && input.targetType !== current.targetType) {
    throw new ValidationError(
      `A target's type cannot change (it is ${current.targetType}); create a new target of type ${input.targetType} and delete this one.`,
      [{ path: 'body.targetType', message: 'cannot change' }],
    );
  }
  const connection =
    input.connection === undefined ? current.connection : parseAt(CONNECTIONS[current.targetType], input.connection, 'body.connection');
  if (input.environmentId !== undefined) await checkEnvironment(tx, input.environmentId);
  const r = await tx.query<TargetRow>(
    `WITH t AS (UPDATE targets SET name = $2, environment_id = $3, connection = $4, labels = $5 WHERE id = $1 RETURNING *)
     ${WITH_ENV}`,
    [
      current.id,
      input.name ?? current.name,
      input.environmentId ?? current.environmentId,
      JSON.stringify(connection),
      JSON.stringify(input.labels ?? current.labels),
    ],
  );
  return targetOut(r.rows[0]!);
}

export async function deleteTarget(tx: Tx, ref: string): Promise<void> {
  const current = await getTarget(tx, ref);
  const used = await tx.query('SELECT 1 FROM deployment_tasks WHERE target_id = $1 LIMIT 1', [current.id]);
  if (used.rowCount) {
    throw new ConflictError(
      `Target "${current.name}" has deployment history, which must stay auditable; remove its labels or move it to another environment instead.`,
      'in_use',
    );
  }
  await tx.query('DELETE FROM targets WHERE id = $1', [current.id]);
}

interface HistoryRow {
  id: string;
  job_id: string;
  promotion_id: string | null;
  release_id: string;
  release_name: string;
  previous_release_id: string | null;
  previous_release_name: string | null;
  rollback_of: string | null;
  components: { name: string; image: string; digest: string; previousDigest?: string | null }[];
  status: HistoryEntry['status'];
  error: string | null;
  waiting_reason: string | null;
  agent_id: string | null;
  agent_name: string | null;
  created_at: Date;
  started_at: Date | null;
  completed_at: Date | null;
}

/** What ran on a target over time, newest first: one entry per deployment task (release, digests, job, promotion, outcome). */
export async function targetHistory(tx: Tx, ref: string, limit: number, cursor: string | undefined) {
  const target = await getTarget(tx, ref);
  const r = await tx.query<HistoryRow>(
    `SELECT dt.id, dt.job_id, j.promotion_id, j.release_id, r.name AS release_name, dt.previous_release_id, pr.name AS previous_release_name,
            j.rollback_of, dt.components, dt.status, dt.error, dt.waiting_reason, dt.agent_id, a.name AS agent_name,
            dt.created_at, dt.started_at, dt.completed_at
       FROM deployment_tasks dt JOIN deployment_jobs j ON j.id = dt.job_id JOIN releases r ON r.id = j.release_id
       LEFT JOIN releases pr ON pr.id = dt.previous_release_id LEFT JOIN agents a ON a.id = dt.agent_id
      WHERE dt.target_id = $1 AND ($2::uuid IS NULL OR dt.id < $2::uuid)
      ORDER BY dt.id DESC LIMIT $3`,
    [target.id, afterOf(cursor) ?? null, limit + 1],
  );
  return toPage(
    r.rows,
    limit,
    (x) => [x.id],
    (x): HistoryEntry => ({
      taskId: x.id,
      jobId: x.job_id,
      promotionId: x.promotion_id,
      release: { id: x.release_id, name: x.release_name },
      previousRelease: x.previous_release_id ? { id: x.previous_release_id, name: x.previous_release_name ?? x.previous_release_id } : null,
      rollback: x.rollback_of !== null,
      components: x.components.map((c) => ({ name: c.name, image: c.image, digest: c.digest, previousDigest: c.previousDigest ?? null })),
      status: x.status,
      error: x.error,
      waitingReason: x.waiting_reason,
      agent: x.agent_id ? { id: x.agent_id, name: x.agent_name ?? x.agent_id } : null,
      createdAt: x.created_at.toISOString(),
      startedAt: iso(x.started_at),
      completedAt: iso(x.completed_at),
    }),
  );
}

// Per environment (one statement): each target with what a summary counts (its observation state, and the
// reason its pending task — the newest pending one of an active job, as on a target's own answer — waits for
// a runner), computed once; from it the counts, the releases run, and the first targets and waiting targets.
const SUMMARY = `WITH w AS (
    SELECT DISTINCT ON (dt.target_id) dt.target_id, dt.waiting_reason
      FROM deployment_tasks dt JOIN deployment_jobs j ON j.id = dt.job_id
     WHERE dt.status = 'pending' AND j.status IN ('pending', 'running')
     ORDER BY dt.target_id, dt.id DESC),
  t AS MATERIALIZED (
    SELECT t.id, t.name, t.environment_id, t.health_status, t.drift_detected, t.current_release_id, w.waiting_reason,
           CASE WHEN t.observed_at IS NULL THEN 'never'
                WHEN coalesce(t.observed ->> 'error', '') <> '' THEN 'unobservable' ELSE 'observed' END AS observation_state
      FROM targets t LEFT JOIN w ON w.target_id = t.id
     WHERE $1::uuid IS NULL OR t.environment_id = $1::uuid),
  counts AS (
    SELECT e.id, e.name, e.order_index, count(t.id)::int AS total,
           count(*) FILTER (WHERE t.health_status = 'healthy')::int AS healthy,
           count(*) FILTER (WHERE t.health_status = 'degraded')::int AS degraded,
           count(*) FILTER (WHERE t.health_status = 'unhealthy')::int AS unhealthy,
           count(*) FILTER (WHERE t.health_status = 'unknown')::int AS unknown,
           count(*) FILTER (WHERE t.drift_detected)::int AS drifted,
           count(*) FILTER (WHERE t.observation_state = 'unobservable')::int AS unobservable,
           count(*) FILTER (WHERE t.waiting_reason IS NOT NULL)::int AS waiting
      FROM environments e LEFT JOIN t ON t.environment_id = e.id
     WHERE $1::uuid IS NULL OR e.id = $1::uuid
     GROUP BY e.id),
  spread AS (
    SELECT t.environment_id, t.current_release_id AS release_id, r.name AS release_name, count(*)::int AS n, min(t.id::text) AS first
      FROM t LEFT JOIN releases r ON r.id = t.current_release_id
     GROUP BY t.environment_id, t.current_release_id, r.name),
  shown AS (
    SELECT * FROM (
      SELECT t.*, row_number() OVER (PARTITION BY t.environment_id ORDER BY t.id) AS rn,
             CASE WHEN t.waiting_reason IS NOT NULL
                  THEN row_number() OVER (PARTITION BY t.environment_id, t.waiting_reason IS NOT NULL ORDER BY t.id) END AS wn
        FROM t) x
     WHERE x.rn <= $2 OR x.wn <= $2)
SELECT (SELECT coalesce(json_agg(c ORDER BY c.order_index, c.id), '[]') FROM counts c) AS counts,
       -- Most targets first; a tie keeps the order in which the targets (by id) first run them.
       (SELECT coalesce(json_agg(s ORDER BY s.n DESC, s.first), '[]') FROM spread s) AS spread,
       (SELECT coalesce(json_agg(x ORDER BY x.id), '[]') FROM shown x) AS shown`;

interface BriefRow {
  id: string;
  name: string;
  environment_id: string;
  health_status: Target['healthStatus'];
  drift_detected: boolean;
  observation_state: TargetBrief['observationState'];
  waiting_reason: string | null;
  rn: number;
  wn: number | null;
}

interface SummaryRow {
  counts: {
    id: string;
    name: string;
    total: number;
    healthy: number;
    degraded: number;
    unhealthy: number;
    unknown: number;
    drifted: number;
    unobservable: number;
    waiting: number;
  }[];
  spread: { environment_id: string; release_id: string | null; release_name: string | null; n: number }[];
  shown: BriefRow[];
}

/**
 * Per environment (in promotion order): how many targets it has by health, drift, observation and waiting
 * state, the releases they run with how many run each, and the first `sample` targets and waiting targets —
 * what the pipeline shows, counted by the database in one set-based statement, whatever the number of targets.
 */
export async function targetSummary(tx: Tx, environment: string | undefined, sample: number): Promise<EnvironmentTargetSummary[]> {
  const envId = environment === undefined ? null : (await getEnvironment(tx, environment)).id;
  const { counts, spread, shown } = (await tx.query<SummaryRow>(SUMMARY, [envId, sample])).rows[0]!;
  const brief = (r: BriefRow): TargetBrief => ({
    id: r.id,
    name: r.name,
    healthStatus: r.health_status,
    driftDetected: r.drift_detected,
    observationState: r.observation_state,
    waitingReason: r.waiting_reason,
  });
  const byEnv = new Map(
    counts.map((c): [string, EnvironmentTargetSummary] => [
      c.id,
      {
        environmentId: c.id,
        environmentName: c.name,
        total: c.total,
        health: { healthy: c.healthy, degraded: c.degraded, unhealthy: c.unhealthy, unknown: c.unknown },
        drifted: c.drifted,
        unobservable: c.unobservable,
        waiting: c.waiting,
        releases: [],
        targets: [],
        waitingTargets: [],
      },
    ]),
  );
  for (const s of spread) {
    byEnv.get(s.environment_id)?.releases.push({
      release: s.release_id ? { id: s.release_id, name: s.release_name ?? s.release_id } : null,
      count: s.n,
    });
  }
  for (const r of shown) {
    const env = byEnv.get(r.environment_id);
    if (!env) continue;
    if (r.rn <= sample) env.targets.push(brief(r));
    if (r.wn !== null && r.wn <= sample) env.waitingTargets.push(brief(r));
  }
  return [...byEnv.values()];
}
