// Claiming steps, alone or in the same statement that commits finished one-node runs. Every step_runs
// status change is announced (live events), and commits of transactions that notify queue on a global
// lock in PostgreSQL, so each commit saved is a durable flush the next batch does not wait behind.
import type { Db, Tx } from '../store/db.js';
import type { Completion } from './completion.js';
import type { StepRow } from './rows.js';
import { decideAdvance, type RunFinished } from './transitions.js';

export type ClaimedStep = StepRow & { run_template_id: string; run_inputs: Record<string, unknown> };

export interface ClaimOptions {
  owner: string;
  limit: number;
  leaseSeconds: number;
}

// The claim: due pending steps, locked with SKIP LOCKED, leased to the owner. $1 owner, $2 limit, $3 lease.
const CLAIM_CTES = `c AS (
    SELECT id FROM step_runs WHERE status = 'pending' AND run_after <= now()
     ORDER BY run_after, id FOR UPDATE SKIP LOCKED LIMIT $2),
  u AS (
    UPDATE step_runs s SET status = 'running', lease_owner = $1, lease_expires_at = now() + make_interval(secs => $3),
           started_at = coalesce(s.started_at, now())
      FROM c WHERE s.id = c.id RETURNING s.*)`;
const CLAIMED = `SELECT u.*, r.template_id AS run_template_id, r.inputs AS run_inputs
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

type FastCompletion = Pick<Completion, 'runId' | 'template' | 'step' | 'outcome' | 'logs' | 'runInputs'>;

/**
 * True when a completion can be committed without reading the run's other steps: a success or skip
 * of a one-node template, whose run then ends (its outputs come from this step alone).
 */
export function isOneNodeFinish(c: FastCompletion): boolean {
  const ok = c.outcome === 'skipped' || c.outcome.result.status === 'succeeded';
  return ok && c.template.nodes.length === 1 && c.runInputs !== undefined;
}

/**
 * Commits one-node runs (see isOneNodeFinish) and claims the next steps in one statement, so one
 * commit: the runs are locked in id order, each step is fenced by its lease (running, owned by this
 * server), and a run ends only if its step was committed and it was still running (not cancelled).
 */
export async function finishOneNodeRunsAndClaim(
  db: Db,
  batch: FastCompletion[],
  claim: ClaimOptions,
): Promise<{ finished: RunFinished[]; claimed: ClaimedStep[] }> {
  const rows = batch.map((c) => {
    const res = c.outcome === 'skipped' ? undefined : c.outcome.result;
    const status = c.outcome === 'skipped' ? 'skipped' : 'succeeded';
    // As stored (jsonb), so the run's output expressions see what advanceRuns would read back.
    const outputs = JSON.parse(JSON.stringify(res?.status === 'succeeded' ? res.outputs : {})) as Record<string, unknown>;
    const step = { ...c.step, status, outputs } as StepRow;
    const d = decideAdvance({ id: c.runId, inputs: c.runInputs ?? {} }, c.template, new Map([[step.node_id, step]]));
    if (!d.finish) throw new Error(`run ${c.runId} is not finished by its only node`);
    return {
      id: c.step.id,
      run_id: c.runId,
      status,
      outputs,
      inputs: c.outcome === 'skipped' ? {} : c.outcome.input,
      logs: c.logs.length ? `${c.logs.join('\n')}\n` : '',
      run_status: d.finish.status,
      run_outputs: d.finish.outputs,
      run_error: d.finish.error,
    };
  });
  const r = await db.query<ClaimedStep & { finished: RunFinished[] }>({
    name: 'gantry_finish_one_node_runs_and_claim',
    text: `WITH v AS (
        SELECT * FROM jsonb_to_recordset($4::jsonb) AS v(id uuid, run_id uuid, status text, outputs jsonb, inputs jsonb,
                                                         logs text, run_status text, run_outputs jsonb, run_error text)),
      locked AS (
        SELECT r.id FROM workflow_runs r WHERE r.id IN (SELECT run_id FROM v) AND r.status = 'running' ORDER BY r.id FOR UPDATE),
      done AS (
        UPDATE step_runs s SET status = v.status, outputs = v.outputs, inputs = v.inputs, logs = s.logs || v.logs,
               completed_at = now(), lease_expires_at = NULL
          FROM v WHERE s.id = v.id AND s.status = 'running' AND s.lease_owner = $1 AND v.run_id IN (SELECT id FROM locked)
        RETURNING s.workflow_run_id),
      fin AS (
        UPDATE workflow_runs r SET status = v.run_status, outputs = v.run_outputs, error = v.run_error, completed_at = now()
          FROM v WHERE r.id = v.run_id AND r.id IN (SELECT workflow_run_id FROM done)
        RETURNING r.id, r.status),
      ${CLAIM_CTES}
      SELECT f.finished, x.* FROM
        (SELECT coalesce(json_agg(json_build_object('runId', fin.id, 'status', fin.status)), '[]') AS finished FROM fin) f
        LEFT JOIN (${CLAIMED}) x ON true`,
    values: [claim.owner, claim.limit, claim.leaseSeconds, JSON.stringify(rows)],
  });
  const finished = r.rows[0]?.finished ?? [];
  const claimed = r.rows.filter((row) => row.id !== null).map(({ finished: _, ...step }) => step as ClaimedStep);
  return { finished, claimed };
}
