// Tells notification channels about promotions that failed with their workflow run: the run's end is
// committed by the engine (a database trigger moves the promotion to failed), so the announcement
// follows the engine's run:finished event, which fires after that commit.
import type { Logger } from '../core/logger.js';
import type { Engine } from '../engine/engine.js';
import type { Outbound } from '../http/outbound.js';
import { notify } from '../integrations/notify.js';
import { type Db, withSystem } from '../store/db.js';

/** `outbound`: the door notifications go through (without one, private and loopback addresses are refused). */
export function notifyFailedPromotions(engine: Engine, db: Db, logger?: Logger, outbound?: Outbound): void {
  engine.events.on('run:finished', (f) => {
    if (f.status !== 'failed') return;
    void withSystem(db, (tx) =>
      tx.query<{ id: string; tenant_id: string; blocked_reason: string | null; release: string; environment: string }>(
        `SELECT p.id, p.tenant_id, p.blocked_reason, r.name AS release, e.name AS environment
           FROM promotions p JOIN releases r ON r.id = p.release_id JOIN environments e ON e.id = p.target_environment_id
          WHERE p.workflow_run_id = $1 AND p.status = 'failed'`,
        [f.runId],
      ),
    )
      .then((r) => {
        for (const p of r.rows) {
          notify({ db, outbound }, p.tenant_id, {
            type: 'promotion.failed',
            data: { promotionId: p.id, release: p.release, environment: p.environment, reason: p.blocked_reason },
          });
        }
      })
      .catch((err: unknown) => logger?.warn({ err: (err as Error).message }, 'could not announce a failed promotion'));
  });
}
