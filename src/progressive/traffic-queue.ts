// Traffic changes: the split a rollout wants on its router target, queued for the agent that serves the
// target, leased with a bounded lease (an agent that dies mid-change loses it to the next poll), and
// reported with the distribution the router then serves. A newer change of the same rollout supersedes
// the ones not applied yet; only one change of a rollout is leased at a time, so they land in order.
import { ConflictError, NotFoundError } from '../core/errors.js';
import type { Runner } from '../deployments/lease.js';
import type { TrafficChange, TrafficReport, TrafficRouterConfig, TrafficSplit } from '../protocol/traffic.js';
import { type Db, type Tx, withSystem } from '../store/db.js';

export const TRAFFIC_LEASE_SECONDS = 60;

/** Queues a change in the caller's transaction (with the state change that wants it). */
export async function queueChange(
  tx: Tx,
  r: { tenantId: string; rolloutId: string; targetId: string },
  router: TrafficRouterConfig,
  split: TrafficSplit,
  mode: 'configure' | 'shift',
): Promise<string> {
  await tx.query(
    `UPDATE traffic_changes SET status = 'superseded', lease_expires_at = NULL
      WHERE rollout_id = $1 AND status = 'pending'`,
    [r.rolloutId],
  );
  const ins = await tx.query<{ id: string }>(
    `INSERT INTO traffic_changes (tenant_id, rollout_id, target_id, router, split)
     VALUES ($1, $2, $3, $4::jsonb, $5::jsonb) RETURNING id`,
    [r.tenantId, r.rolloutId, r.targetId, JSON.stringify({ ...router, mode }), JSON.stringify(split)],
  );
  return ins.rows[0]!.id;
}

interface LeasedRow {
  id: string;
  attempt: number;
  rollout_id: string;
  target_id: string;
  target_name: string;
  router: TrafficRouterConfig & { mode: 'configure' | 'shift' };
  split: TrafficSplit;
}

/**
 * Leases the changes this runner can apply: pending (or leased and expired), on a target of a type it
 * serves, not pinned to another agent (label `agent`), the oldest of its rollout, none of whose other
 * changes is leased now.
 */
export async function leaseTrafficChanges(db: Db, runner: Runner, now: Date, max = 5): Promise<TrafficChange[]> {
  if (runner.targetTypes.length === 0 || !runner.agentId) return [];
  const r = await db.query<LeasedRow>(
    `WITH c AS (
       SELECT c.id FROM traffic_changes c JOIN targets g ON g.id = c.target_id
        WHERE (c.status = 'pending' OR (c.status = 'leased' AND c.lease_expires_at < $4))
          AND ($1::uuid IS NULL OR c.tenant_id = $1) AND g.target_type = ANY($2::text[])
          AND (g.labels->>'agent' IS NULL OR g.labels->>'agent' = $3)
          AND NOT EXISTS (SELECT 1 FROM traffic_changes o WHERE o.rollout_id = c.rollout_id AND o.id <> c.id
                           AND o.status = 'leased' AND o.lease_expires_at >= $4)
          AND NOT EXISTS (SELECT 1 FROM traffic_changes o WHERE o.rollout_id = c.rollout_id AND o.id < c.id
                           AND o.status IN ('pending', 'leased'))
        ORDER BY c.id FOR UPDATE OF c SKIP LOCKED LIMIT $6),
     u AS (
       UPDATE traffic_changes t SET status = 'leased', agent_id = $5, attempt = t.attempt + 1,
              lease_expires_at = $4::timestamptz + make_interval(secs => ${TRAFFIC_LEASE_SECONDS})
         FROM c WHERE t.id = c.id RETURNING t.*)
     SELECT u.id, u.attempt, u.rollout_id, u.target_id, g.name AS target_name, u.router, u.split
       FROM u JOIN targets g ON g.id = u.target_id`,
    [runner.tenantId, runner.targetTypes, runner.agentName ?? '', now, runner.agentId, max],
  );
  return r.rows.map((x) => {
    const { mode, ...router } = x.router;
    return {
      id: x.id,
      attempt: x.attempt,
      rolloutId: x.rollout_id,
      target: { id: x.target_id, name: x.target_name },
      router,
      split: x.split,
      mode,
    };
  });
}

export interface ReportedChange {
  id: string;
  tenantId: string;
  rolloutId: string;
  status: 'applied' | 'failed';
  /** The change was superseded while the agent applied it: the report is recorded, the rollout ignores it. */
  current: boolean;
  error: string | null;
}

/** Records an agent's report of a change leased to it (idempotent for the same attempt). */
export async function recordReport(tx: Tx, runner: Runner, id: string, report: TrafficReport, now: Date): Promise<ReportedChange | null> {
  const r = await tx.query<{ tenant_id: string; rollout_id: string; status: string; agent_id: string | null; attempt: number }>(
    `SELECT tenant_id, rollout_id, status, agent_id, attempt FROM traffic_changes WHERE id = $1 FOR UPDATE`,
    [id],
  );
  const row = r.rows[0];
  if (!row || (runner.tenantId && row.tenant_id !== runner.tenantId)) throw new NotFoundError('Traffic change', id);
  if (row.agent_id !== runner.agentId || row.attempt !== report.attempt) {
    throw new ConflictError(`Traffic change ${id} is no longer leased to you (attempt ${row.attempt}); drop it.`, 'lease_lost');
  }
  if (row.status === 'applied' || row.status === 'failed') return null; // a re-sent report
  const superseded = row.status === 'superseded';
  await tx.query(
    `UPDATE traffic_changes SET status = CASE WHEN status = 'superseded' THEN status ELSE $2 END, distribution = $3::jsonb,
            error = $4, log = log || $5, applied_at = CASE WHEN $2 = 'applied' THEN $6::timestamptz END, lease_expires_at = NULL
      WHERE id = $1`,
    [
      id,
      report.status,
      report.distribution ? JSON.stringify(report.distribution) : null,
      report.error ?? null,
      report.log.map((l) => `${l}\n`).join(''),
      now,
    ],
  );
  return {
    id,
    tenantId: row.tenant_id,
    rolloutId: row.rollout_id,
    status: report.status,
    current: !superseded,
    error: report.error ?? null,
  };
}

/** The report route: records it and wakes the rollout for the next sweep (nothing polls while a router works). */
export async function reportTrafficChange(db: Db, runner: Runner, id: string, report: TrafficReport, now: Date): Promise<void> {
  await withSystem(db, async (tx) => {
    const done = await recordReport(tx, runner, id, report, now);
    if (done)
      await tx.query(
        `UPDATE progressive_rollouts SET next_check_at = $2 WHERE id = $1 AND status IN ('running', 'promoting', 'rolling_back')`,
        [done.rolloutId, now],
      );
  });
}
