// The agentless runner for ssh_host targets: the server leases their tasks like an agent would (lease
// owner "server:<instance>"), runs the ssh executor with the key from the target's credentialRef, and
// commits logs and outcomes through the same lease functions. It also observes ssh targets for drift.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { proveConvergence } from '../agent/convergence.js';
import type { SshExecutor } from '../agent/executors/ssh.js';
import type { Clock } from '../core/clock.js';
import { GantryError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { recordObservation } from '../drift/service.js';
import { resolveCredential } from '../integrations/secrets.js';
import type { AgentTask } from '../protocol/deployment.js';
import { type Db, withSystem } from '../store/db.js';
import { appendLogs, leaseTasks, type Runner, reportTask, startTask } from './lease.js';
import type { ProgressDeps } from './progress.js';
import type { SweepHook } from './scheduler.js';
import type { DeploymentSettings } from './settings.js';

const CONCURRENCY = 4;

export class SshRunner implements SweepHook {
  private readonly runner: Runner;
  private readonly inflight = new Set<Promise<void>>();
  private observing: Promise<void> | undefined;

  constructor(private readonly o: { db: Db; clock: Clock; settings: DeploymentSettings; progress: ProgressDeps; logger: Logger }) {
    this.runner = {
      agentId: null,
      agentName: null,
      tenantId: null,
      owner: `server:${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`,
      targetTypes: ['ssh_host'],
      removes: true,
    };
  }

  async tick(): Promise<void> {
    const free = CONCURRENCY - this.inflight.size;
    if (free > 0) {
      const tasks = await leaseTasks(this.o.db, this.runner, free, this.o.clock.now(), this.o.settings.leaseSeconds);
      for (const t of tasks) {
        const p = this.run(t)
          .catch((err: unknown) => this.o.logger.error({ err, task: t.taskId }, 'ssh task failed to run'))
          .finally(() => this.inflight.delete(p));
        this.inflight.add(p);
      }
    }
    this.observing ??= this.observeDue()
      .catch((err: unknown) => this.o.logger.warn({ err }, 'ssh drift check failed'))
      .finally(() => {
        this.observing = undefined;
      });
  }

  async stop(): Promise<void> {
    await Promise.allSettled([...this.inflight, this.observing]);
  }

  private async run(task: AgentTask): Promise<void> {
    const { db, clock, settings } = this.o;
    let seq = 0;
    const pending: { seq: number; at: string; line: string }[] = [];
    const log = (line: string) => pending.push({ seq: seq++, at: clock.now().toISOString(), line });
    const lease = { attempt: task.attempt, fencingToken: task.fencingToken };
    const abort = new AbortController();
    const flush = () =>
      appendLogs(db, this.runner, task.taskId, lease, pending.splice(0, pending.length), clock.now(), settings.leaseSeconds);
    await startTask(db, this.runner, task.taskId, lease, clock.now(), settings.leaseSeconds);
    // A refused flush means the lease was lost or taken over: stop working on the target.
    const timer = setInterval(
      () =>
        void flush().catch((err: unknown) => {
          if (err instanceof GantryError && err.status === 409) abort.abort(err);
        }),
      1000,
    );
    let result: Awaited<ReturnType<SshExecutor['execute']>>;
    try {
      log(`attempt ${task.attempt} by ${this.runner.owner}: ${task.mode} ${task.release.name} to ${task.target.name} over ssh`);
      result = await (await this.executorForTarget(task.target.id)).execute(task, log, abort.signal);
    } catch (err) {
      result = { status: 'failed', error: (err as Error).message, artifacts: [], observed: [] };
    } finally {
      clearInterval(timer);
    }
    // As on agents: success means every component was observed at its pinned digest, healthy (or gone, for a removal).
    result = proveConvergence(task, result, { now: clock.now(), dryRun: false });
    if (abort.signal.aborted) {
      this.o.logger.warn({ task: task.taskId, reason: (abort.signal.reason as Error).message }, 'ssh task lease lost; not reported');
      return;
    }
    log(result.status === 'succeeded' ? 'succeeded' : `failed: ${result.error}`);
    await flush();
    await reportTask(db, this.runner, task.taskId, { ...lease, ...result, artifacts: result.artifacts }, this.o.progress);
  }

  /**
   * An executor whose key references resolve in the target's tenant, through the one secret door. The
   * executor (ssh2, and the docker executors it shares code with) is loaded on first use, not at start:
   * most servers never run an ssh_host task.
   */
  private async executorFor(tenantId: string): Promise<SshExecutor> {
    const { SshExecutor } = await import('../agent/executors/ssh.js');
    return new SshExecutor((ref) => resolveCredential(ref, { db: this.o.db, tenantId }));
  }

  private async executorForTarget(targetId: string): Promise<SshExecutor> {
    const r = await withSystem(this.o.db, (tx) =>
      tx.query<{ tenant_id: string }>('SELECT tenant_id FROM targets WHERE id = $1', [targetId]),
    );
    const tenantId = r.rows[0]?.tenant_id;
    if (!tenantId) throw new Error(`target ${targetId} no longer exists`);
    return this.executorFor(tenantId);
  }

  /** Observes ssh targets whose last drift check is older than the interval (one claim per target and interval). */
  private async observeDue(): Promise<void> {
    const { db, clock, settings } = this.o;
    const due = await db.query<{
      id: string;
      tenant_id: string;
      name: string;
      connection: Record<string, unknown>;
      labels: Record<string, string>;
      current_components: { name: string; image: string }[];
    }>(
      `UPDATE targets SET drift_checked_at = $1 WHERE id IN (
         SELECT id FROM targets WHERE target_type = 'ssh_host' AND jsonb_array_length(current_components) > 0
            AND (drift_checked_at IS NULL OR drift_checked_at < $1::timestamptz - make_interval(secs => $2))
          ORDER BY drift_checked_at NULLS FIRST LIMIT 20 FOR UPDATE SKIP LOCKED)
       RETURNING id, tenant_id, name, connection, labels, current_components`,
      [clock.now(), settings.driftSeconds],
    );
    for (const t of due.rows) {
      const obs = await (await this.executorFor(t.tenant_id)).observe({
        targetId: t.id,
        name: t.name,
        type: 'ssh_host',
        connection: t.connection,
        labels: t.labels,
        components: t.current_components,
      });
      await withSystem(db, (tx) => recordObservation(tx, t.tenant_id, obs, clock.now()));
    }
  }
}
