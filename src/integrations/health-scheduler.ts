// Checks every integration's health on an interval (GANTRY_INTEGRATION_CHECK_SECONDS, default 300, 0 = off).
// Replicas share the work: each tick claims due integrations with FOR UPDATE SKIP LOCKED and moves their
// next_check_at forward in the same transaction, so no two servers check one integration at once.

import type { Outbound } from '../http/outbound.js';
import { withTenant } from '../store/db.js';
import { DueScheduler, type DueSchedulerOptions } from '../store/due-scheduler.js';
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

/** `outbound`: the door checks go through (without one, private and loopback addresses are refused). */
export type HealthSchedulerOptions = DueSchedulerOptions & { outbound?: Outbound };

export class IntegrationHealthScheduler extends DueScheduler {
  constructor(opts: HealthSchedulerOptions) {
    super(opts, {
      name: 'integration health check',
      table: 'integrations',
      dueColumn: 'next_check_at',
      work: async (c) => {
        const i = await withTenant(opts.db, c.tenantId, (tx) => getIntegration(tx, c.id));
        const outcome = await checkIntegration(opts.db, c.tenantId, i, opts.outbound);
        if (outcome) await withTenant(opts.db, c.tenantId, (tx) => setHealth(tx, c.id, outcome, opts.clock.now()));
      },
    });
  }
}
