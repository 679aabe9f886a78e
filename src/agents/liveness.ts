// Agent liveness: heartbeats (capabilities, resource use, session), the online/degraded/offline sweep
// from heartbeat age (Clock-driven), and which targets an agent should observe for drift checks.
import type { z } from 'zod';
import type { DeploymentSettings } from '../deployments/settings.js';
import { type Db, withSystem } from '../store/db.js';
import type { AgentAuth } from './credentials.js';
import type { heartbeatBody, heartbeatReply } from './model.js';

type Reply = z.infer<typeof heartbeatReply>;

/**
 * Records a heartbeat. A new sessionId means the agent process restarted: the tasks its previous
 * process held are returned to the queue at once (their work may be half done; executors replace
 * idempotently), instead of waiting for their leases to expire.
 */
export async function heartbeat(
  db: Db,
  auth: AgentAuth,
  body: z.infer<typeof heartbeatBody>,
  now: Date,
  s: DeploymentSettings,
): Promise<Reply> {
  return withSystem(db, async (tx) => {
    const cur = await tx.query<{ session_id: string | null; last_observed_at: Date | null }>(
      'SELECT session_id, last_observed_at FROM agents WHERE id = $1 FOR UPDATE',
      [auth.agentId],
    );
    const prev = cur.rows[0];
    if (prev?.session_id && prev.session_id !== body.sessionId) {
      await tx.query(
        `UPDATE deployment_tasks SET status = 'pending', agent_id = NULL, lease_owner = NULL, lease_expires_at = NULL,
                error = 'the agent restarted while holding this task'
          WHERE agent_id = $1 AND status IN ('assigned', 'running')`,
        [auth.agentId],
      );
    }
    const status = body.degraded ? 'degraded' : 'online';
    const observeDue = !prev?.last_observed_at || now.getTime() - prev.last_observed_at.getTime() >= s.driftSeconds * 1000;
    await tx.query(
      `UPDATE agents SET last_heartbeat = $2, status = $3, status_reason = $4, session_id = $5,
              version = coalesce($6, version), capabilities = coalesce($7, capabilities), resources = coalesce($8, resources),
              last_observed_at = CASE WHEN $9 THEN $2 ELSE last_observed_at END
        WHERE id = $1`,
      [
        auth.agentId,
        now,
        status,
        body.degraded ?? null,
        body.sessionId,
        body.version ?? null,
        body.capabilities ? JSON.stringify(body.capabilities) : null,
        body.resources ? JSON.stringify(body.resources) : null,
        observeDue,
      ],
    );
    const observe = observeDue ? await targetsToObserve(db, auth) : [];
    return { status, heartbeatInterval: s.heartbeatSeconds, taskPollInterval: s.pollSeconds, observe };
  });
}

/** Targets whose latest successful task this agent ran: it can reach them, so it reports what runs there. */
async function targetsToObserve(db: Db, auth: AgentAuth): Promise<Reply['observe']> {
  const r = await db.query<{
    id: string;
    name: string;
    target_type: string;
    connection: Record<string, unknown>;
    labels: Record<string, string>;
    current_components: { name: string; image: string }[];
  }>(
    `SELECT t.id, t.name, t.target_type, t.connection, t.labels, t.current_components FROM targets t
      WHERE t.tenant_id = $1 AND t.target_type <> 'ssh_host' AND jsonb_array_length(t.current_components) > 0
        AND (SELECT dt.agent_id FROM deployment_tasks dt WHERE dt.target_id = t.id AND dt.status = 'succeeded'
              ORDER BY dt.completed_at DESC NULLS LAST LIMIT 1) = $2`,
    [auth.tenantId, auth.agentId],
  );
  return r.rows.map((t) => ({
    targetId: t.id,
    name: t.name,
    type: t.target_type,
    connection: t.connection,
    labels: t.labels,
    components: t.current_components.map((c) => ({ name: c.name, image: c.image })),
  }));
}

/** Moves agents between online, degraded (2 heartbeats late) and offline (no heartbeat for offlineSeconds). */
export async function sweepLiveness(db: Db, now: Date, s: DeploymentSettings): Promise<number> {
  const r = await db.query(
    `UPDATE agents a SET status = n.status, status_reason = n.reason FROM (
       SELECT id,
              CASE WHEN last_heartbeat IS NULL OR last_heartbeat < $1::timestamptz - make_interval(secs => $3) THEN 'offline'
                   WHEN last_heartbeat < $1::timestamptz - make_interval(secs => $2 * 2) THEN 'degraded'
                   ELSE status END AS status,
              CASE WHEN last_heartbeat IS NULL OR last_heartbeat < $1::timestamptz - make_interval(secs => $3) THEN 'no heartbeat'
                   WHEN last_heartbeat < $1::timestamptz - make_interval(secs => $2 * 2) THEN 'heartbeat late'
                   ELSE status_reason END AS reason
         FROM agents WHERE revoked_at IS NULL) n
      WHERE a.id = n.id AND a.status IS DISTINCT FROM n.status`,
    [now, s.heartbeatSeconds, s.offlineSeconds],
  );
  return r.rowCount ?? 0;
}
