// Re-syncs every component that has a registry on an interval. Replicas share the work: each tick
// claims due components with FOR UPDATE SKIP LOCKED and pushes their next_sync_at forward in the same
// transaction, so two servers never sync one component at the same time.
import type { Outbound } from '../http/outbound.js';
import { DueScheduler, type DueSchedulerOptions } from '../store/due-scheduler.js';
import { syncComponent } from './sync.js';

/** `outbound`: the door registry requests go through (without one, private and loopback addresses are refused). */
export type SyncSchedulerOptions = DueSchedulerOptions & { outbound?: Outbound };

export class SyncScheduler extends DueScheduler {
  constructor(opts: SyncSchedulerOptions) {
    super(opts, {
      name: 'version sync',
      table: 'components',
      dueColumn: 'next_sync_at',
      where: 'registry_integration_id IS NOT NULL',
      // Failures are recorded on the component by syncComponent itself.
      work: async (c) => {
        await syncComponent(opts.db, c.tenantId, c.id, {
          clock: opts.clock,
          intervalSeconds: opts.intervalSeconds,
          outbound: opts.outbound,
        });
      },
    });
  }
}
