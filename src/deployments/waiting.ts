// No silent waits: why a pending task of a released batch has no runner (no agent of the tenant online with
// the target's executor and pin, the target label `agent`). The reason is kept on the task (waiting_reason,
// waiting_since), shown on the job at once, refreshed by the scheduler as agents come and go, and after
// the wait timeout the task fails with it.
import type { Db, Tx } from '../store/db.js';
import { withSystem } from '../store/db.js';
import type { DeploymentSettings } from './settings.js';

export interface SeenAgent {
  name: string;
  status: string;
  executors: string[];
  revoked: boolean;
  lastHeartbeat: Date | null;
  /** It runs removal tasks (capabilities.actions lists "remove"). */
  removes?: boolean;
}

export interface WaitingTarget {
  name: string;
  type: string;
  /** The target label `agent`: only the agent of that name may run its tasks. */
  pinned: string | null;
  /** The task is a removal (the rollback of a first-ever deployment): only agents that run removals serve it. */
  removal?: boolean;
}

const listAgents = (xs: SeenAgent[]) => xs.map((a) => `${a.name} [${a.executors.join(', ') || 'no executors'}]`).join(', ');

/** Why no online agent can serve the target, or null when one can. ssh_host targets are run by the server itself. */
export function unservedReason(t: WaitingTarget, agents: SeenAgent[]): string | null {
  if (t.type === 'ssh_host') return null;
  const head = `no online agent serves ${t.name}`;
  const live = agents.filter((a) => !a.revoked && a.status !== 'offline');
  if (t.removal) {
    const any = unservedReason({ ...t, removal: false }, agents);
    if (any) return any;
    const what =
      'the removal (rollback of a first-ever deployment) needs an agent that runs removal tasks (an older agent version does not)';
    if (t.pinned) return agents.find((x) => x.name === t.pinned)?.removes ? null : `${head}: ${what}; agent=${t.pinned} does not`;
    if (live.some((a) => a.executors.includes(t.type) && a.removes)) return null;
    return `${head}: ${what}, with the ${t.type} executor (online: ${listAgents(live)})`;
  }
  if (t.pinned) {
    const needs = `needs agent=${t.pinned}`;
    const a = agents.find((x) => x.name === t.pinned);
    if (!a) return `${head}: ${needs}, and no agent has that name (register it with a join token, or change the target's agent label)`;
    if (a.revoked) return `${head}: ${needs}, which is revoked`;
    if (a.status === 'offline') {
      return `${head}: ${needs}, which is offline (last heartbeat ${a.lastHeartbeat?.toISOString() ?? 'never'})`;
    }
    if (!a.executors.includes(t.type)) {
      return `${head}: ${needs}, which has no ${t.type} executor (it serves: ${a.executors.join(', ') || 'nothing'})`;
    }
    return null;
  }
  if (live.some((a) => a.executors.includes(t.type))) return null;
  if (live.length === 0) return `${head}: needs an online agent with the ${t.type} executor, and no agent is online`;
  return `${head}: needs an agent with the ${t.type} executor (online: ${listAgents(live)})`;
}

interface PendingRow {
  id: string;
  job_id: string;
  tenant_id: string;
  waiting_reason: string | null;
  waiting_since: Date | null;
  name: string;
  target_type: string;
  pinned: string | null;
  action: string;
  timeout: number | null;
}

const PENDING = `SELECT t.id, t.job_id, t.tenant_id, t.waiting_reason, t.waiting_since, t.action, g.name, g.target_type, g.labels->>'agent' AS pinned,
       (j.strategy_config->>'waitTimeoutSeconds')::int AS timeout
  FROM deployment_tasks t JOIN deployment_jobs j ON j.id = t.job_id JOIN targets g ON g.id = t.target_id
 WHERE t.status = 'pending' AND j.status = 'running' AND j.paused_reason IS NULL AND t.batch <= j.current_batch
   AND g.target_type <> 'ssh_host'`;

async function reasonsFor(q: Db | Tx, rows: PendingRow[]): Promise<Map<string, string | null>> {
  const tenants = [...new Set(rows.map((r) => r.tenant_id))];
  const out = new Map<string, string | null>();
  if (rows.length === 0) return out;
  const a = await q.query<{
    tenant_id: string;
    name: string;
    status: string;
    executors: string[] | null;
    actions: unknown;
    revoked_at: Date | null;
    last_heartbeat: Date | null;
  }>(
    `SELECT tenant_id, name, status, capabilities->'executors' AS executors, capabilities->'actions' AS actions, revoked_at, last_heartbeat FROM agents
      WHERE tenant_id = ANY($1::uuid[]) ORDER BY name`,
    [tenants],
  );
  const byTenant = new Map<string, SeenAgent[]>();
  for (const r of a.rows) {
    const list = byTenant.get(r.tenant_id) ?? [];
    list.push({
      name: r.name,
      status: r.status,
      executors: Array.isArray(r.executors) ? r.executors : [],
      revoked: r.revoked_at !== null,
      lastHeartbeat: r.last_heartbeat,
      removes: Array.isArray(r.actions) && r.actions.includes('remove'),
    });
    byTenant.set(r.tenant_id, list);
  }
  for (const r of rows) {
    const target = { name: r.name, type: r.target_type, pinned: r.pinned, removal: r.action === 'remove' };
    out.set(r.id, unservedReason(target, byTenant.get(r.tenant_id) ?? []));
  }
  return out;
}

/** At job creation, in its transaction: a task nobody can serve says so at once (the sweep starts its clock). */
export async function markWaiting(tx: Tx, jobId: string): Promise<void> {
  const rows = (await tx.query<PendingRow>(`${PENDING} AND t.job_id = $1`, [jobId])).rows;
  const reasons = await reasonsFor(tx, rows);
  for (const [id, reason] of reasons) {
    if (reason) await tx.query('UPDATE deployment_tasks SET waiting_reason = $2 WHERE id = $1', [id, reason]);
  }
}

/**
 * Scheduler sweep: refreshes the reasons (an agent came online, another went offline), clears those of
 * tasks no longer waiting, and fails a task that waited longer than its timeout, naming the reason.
 * Returns the number of tasks failed. `advanceJob` moves the failed task's job on, in the same transaction
 * (progress.ts's advanceJob; passed in because job creation, which progress.ts uses, calls markWaiting).
 */
export async function sweepWaiting(
  db: Db,
  now: Date,
  s: DeploymentSettings,
  advanceJob: (tx: Tx, jobId: string, why: string) => Promise<void>,
): Promise<number> {
  await db.query(
    `UPDATE deployment_tasks t SET waiting_reason = NULL, waiting_since = NULL FROM deployment_jobs j
      WHERE j.id = t.job_id AND t.waiting_reason IS NOT NULL
        AND (t.status <> 'pending' OR j.status <> 'running' OR j.paused_reason IS NOT NULL)`,
  );
  const rows = (await db.query<PendingRow>(`${PENDING} ORDER BY t.id LIMIT 2000`)).rows;
  const reasons = await reasonsFor(db, rows);
  let failed = 0;
  for (const r of rows) {
    const reason = reasons.get(r.id) ?? null;
    if (reason === null) {
      if (r.waiting_reason !== null || r.waiting_since !== null) {
        await db.query('UPDATE deployment_tasks SET waiting_reason = NULL, waiting_since = NULL WHERE id = $1', [r.id]);
      }
      continue;
    }
    const timeout = r.timeout ?? s.waitTimeoutSeconds;
    const since = r.waiting_since ?? now;
    if (now.getTime() - since.getTime() >= timeout * 1000) {
      const error = `${reason}; gave up after waiting ${timeout} s (strategyConfig.waitTimeoutSeconds, GANTRY_TASK_WAIT_TIMEOUT_SECONDS)`;
      const done = await withSystem(db, async (tx) => {
        const u = await tx.query(
          `UPDATE deployment_tasks SET status = 'failed', error = $2, completed_at = $3, waiting_reason = NULL
            WHERE id = $1 AND status = 'pending'`,
          [r.id, error, now],
        );
        if (u.rowCount) await advanceJob(tx, r.job_id, reason);
        return u.rowCount ?? 0;
      });
      failed += done;
      continue;
    }
    if (reason !== r.waiting_reason || r.waiting_since === null) {
      await db.query(
        `UPDATE deployment_tasks SET waiting_reason = $2, waiting_since = coalesce(waiting_since, $3) WHERE id = $1 AND status = 'pending'`,
        [r.id, reason, now],
      );
    }
  }
  return failed;
}
