// Claiming due steps with a lease: the SQL, alone (claimSteps) or as CTEs inside statements that also
// commit outcomes (completion.ts, claim.ts). Imports nothing of the engine but row types.
import type { Db, Tx } from '../store/db.js';
import type { StepRow } from './rows.js';

export type ClaimedStep = StepRow & { run_template_id: string; run_inputs: Record<string, unknown> };

export interface ClaimOptions {
  owner: string;
  limit: number;
  leaseSeconds: number;
}

/**
 * The claim: due pending steps, locked with SKIP LOCKED, leased to the owner; the parameters' placeholders
 * are given. `after`, when given, is a condition the step scan evaluates first (an InitPlan): a statement
 * that also locks runs uses it to take those locks before any step's.
 */
export function claimCtes(owner: string, limit: string, lease: string, after = 'true'): string {
  return `c AS (
    SELECT id FROM step_runs WHERE status = 'pending' AND run_after <= now() AND ${after}
     ORDER BY run_after, id FOR UPDATE SKIP LOCKED LIMIT ${limit}),
  u AS (
    UPDATE step_runs s SET status = 'running', lease_owner = ${owner}, lease_expires_at = now() + make_interval(secs => ${lease}),
           started_at = coalesce(s.started_at, now())
      FROM c WHERE s.id = c.id RETURNING s.*)`;
}
// $1 owner, $2 limit, $3 lease.
export const CLAIM_CTES = claimCtes('$1', '$2', '$3');
/** The claimed steps with the run fields execution needs (reads the CTE u of claimCtes). */
export const CLAIMED = `SELECT u.*, r.template_id AS run_template_id, r.inputs AS run_inputs
    FROM u JOIN workflow_runs r ON r.id = u.workflow_run_id`;

/** Claims due steps with a lease; returns them with the run fields execution needs, in one round trip. */
export async function claimSteps(db: Db | Tx, o: ClaimOptions): Promise<ClaimedStep[]> {
  // Named: parsed and planned once per connection.
  const r = await db.query<ClaimedStep>({
    name: 'gantry_claim_steps',
    text: `WITH ${CLAIM_CTES} ${CLAIMED}`,
    values: [o.owner, o.limit, o.leaseSeconds],
  });
  return r.rows;
}
