// Each attempt of a deployment task as the API shows it: which agent or runner held the lease, when it
// was leased, started and ended, how it ended (succeeded, failed, skipped, lease_expired) with the
// report's error and health, and the log lines of that attempt. The records are kept by a trigger on
// deployment_tasks (migration 000081), so every path that leases, reports or expires a task writes them.
import { z } from 'zod';
import { NotFoundError } from '../core/errors.js';
import { tenantRoute } from '../http/resource.js';
import { type App, type Deps, READ } from '../http/types.js';
import type { Tx } from '../store/db.js';

export const taskAttempt = z.object({
  attempt: z.number().int(),
  agentId: z.string().nullable(),
  agentName: z.string().nullable(),
  runner: z.string().nullable().describe('The lease owner: an agent, or the server for ssh targets.'),
  leasedAt: z.string(),
  leaseExpiresAt: z.string().nullable().describe('The lease’s last expiry (renewed while the attempt ran).'),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
  outcome: z.enum(['running', 'succeeded', 'failed', 'skipped', 'lease_expired']),
  error: z.string().nullable(),
  health: z.record(z.string(), z.unknown()).nullable(),
  log: z.array(z.object({ seq: z.number().int(), at: z.string(), line: z.string() })),
});

const params = z.strictObject({
  id: z.uuid({ message: 'must be a deployment job id' }),
  taskId: z.uuid({ message: 'must be a task id' }),
});

export async function taskAttempts(tx: Tx, jobId: string, taskId: string) {
  const t = await tx.query('SELECT 1 FROM deployment_tasks WHERE id = $1 AND job_id = $2', [taskId, jobId]);
  if (!t.rowCount) throw new NotFoundError('Task', `${taskId} of deployment ${jobId}`);
  const r = await tx.query<{
    attempt: number;
    agent_id: string | null;
    agent_name: string | null;
    runner: string | null;
    leased_at: Date;
    lease_expires_at: Date | null;
    started_at: Date | null;
    finished_at: Date | null;
    outcome: z.infer<typeof taskAttempt>['outcome'];
    error: string | null;
    health: Record<string, unknown> | null;
    log: { seq: number; at: string; line: string }[];
  }>(
    `SELECT a.*, g.name AS agent_name,
            coalesce((SELECT jsonb_agg(jsonb_build_object('seq', l.seq, 'at', l.at, 'line', l.line) ORDER BY l.seq)
                        FROM job_logs l WHERE l.task_id = a.task_id AND l.attempt = a.attempt), '[]') AS log
       FROM deployment_task_attempts a LEFT JOIN agents g ON g.id = a.agent_id
      WHERE a.task_id = $1 ORDER BY a.attempt`,
    [taskId],
  );
  const iso = (d: Date | null) => (d ? d.toISOString() : null);
  return {
    items: r.rows.map((a) => ({
      attempt: a.attempt,
      agentId: a.agent_id,
      agentName: a.agent_name,
      runner: a.runner,
      leasedAt: a.leased_at.toISOString(),
      leaseExpiresAt: iso(a.lease_expires_at),
      startedAt: iso(a.started_at),
      finishedAt: iso(a.finished_at),
      outcome: a.outcome,
      error: a.error,
      health: a.health,
      log: a.log.map((l) => ({ seq: l.seq, at: new Date(l.at).toISOString(), line: l.line })),
    })),
  };
}

export function taskAttemptRoutes(app: App, { db }: Deps): void {
  tenantRoute(
    app,
    db,
    {
      method: 'GET',
      url: '/api/v1/deployments/:id/tasks/:taskId/attempts',
      access: READ,
      tags: ['deployments'],
      summary: 'Every attempt of a task: agent, lease times, outcome, the report’s error and health, and its log',
      params,
      response: { 200: z.object({ items: z.array(taskAttempt) }) },
    },
    (tx, req) => taskAttempts(tx, req.params.id, req.params.taskId),
  );
}
