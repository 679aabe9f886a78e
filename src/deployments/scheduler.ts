// The deployment scheduler of a server: every sweep it re-queues tasks whose lease expired, moves agents
// between online/degraded/offline by heartbeat age, advances jobs a race left behind, verifies canary waves (canary.ts), says
// why tasks nobody can serve are waiting and fails them after the wait timeout (waiting.ts), and gives the agentless (ssh_host) runner its turn.
// Time comes from the injected Clock; any number of replicas may run it (each step is a guarded UPDATE).
import { sweepLiveness } from '../agents/liveness.js';
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import type { Db } from '../store/db.js';
import { verifyWaves } from './canary.js';
import { expireLeases } from './lease.js';
import { advanceJob, advanceStalled, failQueued, type ProgressDeps } from './progress.js';
import { startStalledQueues } from './queue.js';
import type { DeploymentSettings } from './settings.js';
import { sweepWaiting } from './waiting.js';

export interface SweepHook {
  tick(): Promise<void>;
  stop(): Promise<void>;
}

export class DeploymentScheduler {
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private current: Promise<void> | undefined;

  constructor(
    private readonly o: {
      db: Db;
      clock: Clock;
      settings: DeploymentSettings;
      progress: ProgressDeps;
      logger: Logger;
      hooks?: SweepHook[];
    },
  ) {}

  start(): void {
    this.running = true;
    const loop = () => {
      this.timer = setTimeout(() => {
        this.current = this.sweep()
          .catch((err: unknown) => this.o.logger.error({ err }, 'deployment sweep failed'))
          .finally(() => {
            if (this.running) loop();
          });
      }, this.o.settings.sweepSeconds * 1000);
    };
    loop();
  }

  async sweep(): Promise<void> {
    const now = this.o.clock.now();
    const expired = await expireLeases(this.o.db, now, this.o.progress);
    if (expired) this.o.logger.warn({ tasks: expired }, 'task leases expired; re-queued');
    await advanceStalled(this.o.db, this.o.progress);
    await startStalledQueues(this.o.db, failQueued(this.o.progress));
    await verifyWaves(this.o.db, now, this.o.progress);
    await sweepLiveness(this.o.db, now, this.o.settings);
    const gaveUp = await sweepWaiting(this.o.db, now, this.o.settings, (tx, jobId, why) => advanceJob(tx, jobId, this.o.progress, why));
    if (gaveUp) this.o.logger.warn({ tasks: gaveUp }, 'tasks no online agent could serve failed after the wait timeout');
    for (const h of this.o.hooks ?? []) await h.tick();
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    await this.current;
    for (const h of this.o.hooks ?? []) await h.stop();
  }
}
