// Checks every integration's health on an interval (GANTRY_INTEGRATION_CHECK_SECONDS, default 300, 0 = off).
// Replicas share the work: each tick claims due integrations with FOR UPDATE SKIP LOCKED and moves their
// next_check_at forward in the same transaction, so no two servers check one integration at once.
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import { type Db, withSystem, withTenant } from '../store/db.js';
import { checkIntegration, setHealth } from './health.js';
import { getIntegration } from './service.js';

/** GANTRY_INTEGRATION_CHECK_SECONDS: seconds between health checks of each integration (default 300; 0 = off). */
export function integrationCheckSeconds(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.GANTRY_INTEGRATION_CHECK_SECONDS ?? '300';
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > 86_400) {
    throw new Error(`GANTRY_INTEGRATION_CHECK_SECONDS must be a whole number of seconds from 0 (off) to 86400, got "${raw}".`);
  }
  return n;
}

export interface HealthSchedulerOptions {
  db: Db;
  clock: Clock;
  intervalSeconds: number;
  logger?: Logger | undefined;
  batch?: number;
}

export class IntegrationHealthScheduler {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(private readonly opts: HealthSchedulerOptions) {}

  async claim(): Promise<{ id: string; tenantId: string }[]> {
    const now = this.opts.clock.now();
    const next = new Date(now.getTime() + this.opts.intervalSeconds * 1000);
    return withSystem(this.opts.db, async (tx) => {
      const r = await tx.query<{ id: string; tenant_id: string }>(
        `SELECT id, tenant_id FROM integrations WHERE next_check_at IS NULL OR next_check_at <= $1
          ORDER BY next_check_at NULLS FIRST LIMIT $2 FOR UPDATE SKIP LOCKED`,
        [now, this.opts.batch ?? 20],
      );
      if (r.rows.length === 0) return [];
      await tx.query('UPDATE integrations SET next_check_at = $2 WHERE id = ANY($1::uuid[])', [r.rows.map((x) => x.id), next]);
      return r.rows.map((x) => ({ id: x.id, tenantId: x.tenant_id }));
    });
  }

  /** One round: claim, check each, record; returns how many were checked. */
  async tick(): Promise<number> {
    const claimed = await this.claim();
    for (const c of claimed) {
      if (this.stopped) break;
      try {
        const i = await withTenant(this.opts.db, c.tenantId, (tx) => getIntegration(tx, c.id));
        const outcome = await checkIntegration(this.opts.db, c.tenantId, i);
        if (outcome) await withTenant(this.opts.db, c.tenantId, (tx) => setHealth(tx, c.id, outcome, this.opts.clock.now()));
      } catch (err) {
        this.opts.logger?.warn({ integrationId: c.id, err: (err as Error).message }, 'integration health check failed');
      }
    }
    return claimed.length;
  }

  start(): void {
    if (this.opts.intervalSeconds <= 0) return;
    const pollMs = Math.min(this.opts.intervalSeconds, 15) * 1000;
    const loop = () => {
      this.running = this.tick()
        .then(() => undefined)
        .catch((err: unknown) => this.opts.logger?.error({ err: (err as Error).message }, 'integration health scheduler tick failed'))
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
