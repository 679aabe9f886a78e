// Periodic work shared by server replicas: each tick claims the rows that are due with FOR UPDATE
// SKIP LOCKED and moves their "next due" time one interval ahead in the same transaction, so two
// servers never work on one row at the same time; then it works on each claimed row outside that
// transaction. Used for version syncs and integration health checks.
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import { type Db, withSystem } from './db.js';

export interface DueItem {
  id: string;
  tenantId: string;
}

export interface DueSchedulerOptions {
  db: Db;
  clock: Clock;
  intervalSeconds: number;
  logger?: Logger | undefined;
  /** Rows claimed per tick. */
  batch?: number;
}

export interface DueSource {
  /** For logs: what the scheduler does, e.g. "version sync". */
  name: string;
  /** Table and its next-due column (constants, never user input). */
  table: string;
  dueColumn: string;
  /** An extra SQL condition on the table's rows (a constant), e.g. "registry_integration_id IS NOT NULL". */
  where?: string;
  /** Works on one claimed row; a thrown error is logged and the next row goes on. */
  work(item: DueItem): Promise<void>;
}

export class DueScheduler {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly opts: DueSchedulerOptions,
    private readonly source: DueSource,
  ) {}

  /** Claims the rows due now; their next-due time moves one interval ahead whether or not the work succeeds. */
  async claim(): Promise<DueItem[]> {
    const { table, dueColumn, where } = this.source;
    const now = this.opts.clock.now();
    const next = new Date(now.getTime() + this.opts.intervalSeconds * 1000);
    return withSystem(this.opts.db, async (tx) => {
      const r = await tx.query<{ id: string; tenant_id: string }>(
        `SELECT id, tenant_id FROM ${table}
          WHERE ${where ? `(${where}) AND ` : ''}(${dueColumn} IS NULL OR ${dueColumn} <= $1)
          ORDER BY ${dueColumn} NULLS FIRST LIMIT $2 FOR UPDATE SKIP LOCKED`,
        [now, this.opts.batch ?? 20],
      );
      if (r.rows.length === 0) return [];
      await tx.query(`UPDATE ${table} SET ${dueColumn} = $2 WHERE id = ANY($1::uuid[])`, [r.rows.map((x) => x.id), next]);
      return r.rows.map((x) => ({ id: x.id, tenantId: x.tenant_id }));
    });
  }

  /** One round: claim, then work on each claimed row; returns how many were claimed. */
  async tick(): Promise<number> {
    const claimed = await this.claim();
    for (const item of claimed) {
      if (this.stopped) break;
      try {
        await this.source.work(item);
      } catch (err) {
        this.opts.logger?.warn({ id: item.id, err: err instanceof Error ? err.message : String(err) }, `${this.source.name} failed`);
      }
    }
    return claimed.length;
  }

  start(): void {
    if (this.opts.intervalSeconds <= 0) return;
    // Poll more often than the interval so new rows are picked up soon; the claim decides what is due.
    const pollMs = Math.min(this.opts.intervalSeconds, 15) * 1000;
    const loop = () => {
      this.running = this.tick()
        .then(() => undefined)
        .catch((err: unknown) =>
          this.opts.logger?.error({ err: err instanceof Error ? err.message : String(err) }, `${this.source.name} tick failed`),
        )
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
