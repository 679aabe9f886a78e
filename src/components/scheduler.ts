// Re-syncs every component that has a registry on an interval. Replicas share the work: each tick
// claims due components with FOR UPDATE SKIP LOCKED and pushes their next_sync_at forward in the same
// transaction, so two servers never sync one component at the same time.
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import { type Db, withSystem } from '../store/db.js';
import { syncComponent } from './sync.js';

export interface SyncSchedulerOptions {
  db: Db;
  clock: Clock;
  intervalSeconds: number;
  logger?: Logger;
  /** Components claimed per tick. */
  batch?: number;
}

export class SyncScheduler {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(private readonly opts: SyncSchedulerOptions) {}

  /** Claims the components due now; their next_sync_at moves one interval ahead whether or not the sync succeeds. */
  async claim(): Promise<{ id: string; tenantId: string }[]> {
    const now = this.opts.clock.now();
    const next = new Date(now.getTime() + this.opts.intervalSeconds * 1000);
    return withSystem(this.opts.db, async (tx) => {
      const r = await tx.query<{ id: string; tenant_id: string }>(
        `SELECT id, tenant_id FROM components
          WHERE registry_integration_id IS NOT NULL AND (next_sync_at IS NULL OR next_sync_at <= $1)
          ORDER BY next_sync_at NULLS FIRST LIMIT $2 FOR UPDATE SKIP LOCKED`,
        [now, this.opts.batch ?? 20],
      );
      if (r.rows.length === 0) return [];
      await tx.query('UPDATE components SET next_sync_at = $2 WHERE id = ANY($1::uuid[])', [r.rows.map((c) => c.id), next]);
      return r.rows.map((c) => ({ id: c.id, tenantId: c.tenant_id }));
    });
  }

  /** One round: claim, then sync each claimed component (failures are recorded on the component). */
  async tick(): Promise<number> {
    const claimed = await this.claim();
    for (const c of claimed) {
      if (this.stopped) break;
      try {
        await syncComponent(this.opts.db, c.tenantId, c.id, { clock: this.opts.clock, intervalSeconds: this.opts.intervalSeconds });
      } catch (err) {
        this.opts.logger?.warn({ componentId: c.id, err: err instanceof Error ? err.message : String(err) }, 'version sync failed');
      }
    }
    return claimed.length;
  }

  start(): void {
    if (this.opts.intervalSeconds <= 0) return;
    // Poll more often than the interval so new components are picked up soon; the claim decides what is due.
    const pollMs = Math.min(this.opts.intervalSeconds, 15) * 1000;
    const loop = () => {
      this.running = this.tick()
        .then(() => undefined)
        .catch((err: unknown) => this.opts.logger?.error({ err }, 'version sync scheduler tick failed'))
        .finally(() => {
          if (!this.stopped) this.timer = setTimeout(loop, pollMs);
        });
    };
    this.timer = setTimeout(loop, 1000);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }
}
