// State transitions of runs and steps, each inside the caller's transaction with the run row locked,
// so concurrent completions of a join's parents cannot both miss (or both create) the join.
import type { Tx } from '../store/db.js';
import { type ExprContext, evalExpr } from './expressions.js';
import type { RunRow, StepRow, TemplateRow } from './rows.js';

export const STEPS_CHANNEL = 'gantry_steps';
export const CANCEL_CHANNEL = 'gantry_cancel';
const TERMINAL_OK = new Set(['succeeded', 'skipped']);
const UNFINISHED = new Set(['pending', 'running', 'waiting']);

export async function lockRun(tx: Tx, runId: string): Promise<RunRow | undefined> {
  const r = await tx.query<RunRow>('SELECT * FROM workflow_runs WHERE id = $1 FOR UPDATE', [runId]);
  return r.rows[0];
}

/** The latest attempt of every node that has started, keyed by node id. */
export async function latestSteps(tx: Tx, runId: string): Promise<Map<string, StepRow>> {
  const r = await tx.query<StepRow>(
    `SELECT DISTINCT ON (node_id) * FROM step_runs WHERE workflow_run_id = $1 ORDER BY node_id, attempt_number DESC`,
    [runId],
  );
  return new Map(r.rows.map((s) => [s.node_id, s]));
}

export function exprContext(run: Pick<RunRow, 'id' | 'inputs'>, steps: Map<string, StepRow>): ExprContext {
  const ctx: ExprContext = { inputs: run.inputs, steps: {}, run: { id: run.id } };
  for (const [id, s] of steps) ctx.steps[id] = { status: s.status, outputs: s.outputs };
  return ctx;
}

/**
 * Queues an attempt of a node; the delay (backoff) counts on the database clock, like the claim query.
 * Events belong to the node, not to one attempt: the new attempt starts with every event delivered to
 * the previous one (e.g. deployment_finished that arrived while a dead server held the lease), so a
 * re-queued attempt never waits for an event that already came. The caller holds the run lock, which
 * deliverEvent takes too, so no event can slip in between the copy and the insert.
 */
export async function insertStep(
  tx: Tx,
  run: Pick<RunRow, 'id' | 'tenant_id'>,
  nodeId: string,
  attempt: number,
  delayMs = 0,
): Promise<boolean> {
  const r = await tx.query(
    `INSERT INTO step_runs (tenant_id, workflow_run_id, node_id, attempt_number, run_after, resume_events)
     VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5::double precision / 1000),
             coalesce((SELECT resume_events FROM step_runs WHERE workflow_run_id = $2 AND node_id = $3 AND attempt_number < $4
                        ORDER BY attempt_number DESC LIMIT 1), '[]'::jsonb))
     ON CONFLICT (workflow_run_id, node_id, attempt_number) DO NOTHING`,
    [run.tenant_id, run.id, nodeId, attempt, delayMs],
  );
  return (r.rowCount ?? 0) > 0;
}

/** What advancing a run decided: nodes to queue, or the run's final state. */
interface Advance {
  queue: string[];
  finish?: { status: 'succeeded' | 'failed'; outputs: Record<string, unknown>; error: string | null };
}

/** Pure decision for one run from the latest attempt of each node. */
export function decideAdvance(run: Pick<RunRow, 'id' | 'inputs'>, template: TemplateRow, steps: Map<string, StepRow>): Advance {
  const queue: string[] = [];
  for (const node of template.nodes) {
    if (steps.has(node.id)) continue;
    const parents = template.edges.filter((e) => e.to === node.id).map((e) => e.from);
    if (parents.every((p) => TERMINAL_OK.has(steps.get(p)?.status ?? ''))) queue.push(node.id);
  }
  if (queue.length > 0 || !template.nodes.every((n) => TERMINAL_OK.has(steps.get(n.id)?.status ?? ''))) return { queue };
  const ctx = exprContext(run, steps);
  const outputs: Record<string, unknown> = {};
  let error: string | null = null;
  for (const [name, expr] of Object.entries(template.outputs)) {
    try {
      outputs[name] = evalExpr(expr, ctx);
    } catch (err) {
      error = `output "${name}" could not be computed: ${(err as Error).message}`;
    }
  }
  return { queue, finish: { status: error ? 'failed' : 'succeeded', outputs, error } };
}

/**
 * After nodes finished well: for each (locked, running) run, queue every node whose parents all
 * finished well, or finish the run when nothing is left. Set-based, so a batch of runs costs a few
 * statements, not a few per run. Returns the runs it finished.
 */
export interface RunFinished {
  runId: string;
  status: 'succeeded' | 'failed' | 'cancelled';
}

export async function advanceRuns(tx: Tx, runs: RunRow[], templateOf: (run: RunRow) => TemplateRow): Promise<RunFinished[]> {
  if (runs.length === 0) return [];
  const latest = await tx.query<StepRow>(
    `SELECT DISTINCT ON (workflow_run_id, node_id) * FROM step_runs WHERE workflow_run_id = ANY($1::uuid[])
      ORDER BY workflow_run_id, node_id, attempt_number DESC`,
    [runs.map((r) => r.id)],
  );
  const byRun = new Map<string, Map<string, StepRow>>(runs.map((r) => [r.id, new Map()]));
  for (const s of latest.rows) byRun.get(s.workflow_run_id)?.set(s.node_id, s);
  const inserts: { tenant_id: string; workflow_run_id: string; node_id: string }[] = [];
  const finishes: { id: string; status: string; outputs: Record<string, unknown>; error: string | null }[] = [];
  for (const run of runs) {
    const d = decideAdvance(run, templateOf(run), byRun.get(run.id) ?? new Map());
    for (const nodeId of d.queue) inserts.push({ tenant_id: run.tenant_id, workflow_run_id: run.id, node_id: nodeId });
    if (d.finish) finishes.push({ id: run.id, ...d.finish });
  }
  if (inserts.length || finishes.length) {
    // One statement: the next nodes, the finished runs, and the wake-up for idle engines if nodes were queued.
    await tx.query(
      `WITH ins AS (
         INSERT INTO step_runs (tenant_id, workflow_run_id, node_id, attempt_number)
         SELECT tenant_id, workflow_run_id, node_id, 1 FROM jsonb_to_recordset($1::jsonb) AS v(tenant_id uuid, workflow_run_id uuid, node_id text)
         ON CONFLICT (workflow_run_id, node_id, attempt_number) DO NOTHING),
       fin AS (
         UPDATE workflow_runs r SET status = v.status, outputs = v.outputs, error = v.error, completed_at = now()
           FROM jsonb_to_recordset($2::jsonb) AS v(id uuid, status text, outputs jsonb, error text) WHERE r.id = v.id)
       SELECT pg_notify($3, '') WHERE $4::boolean`,
      [JSON.stringify(inserts), JSON.stringify(finishes), STEPS_CHANNEL, inserts.length > 0],
    );
  }
  return finishes.map((f) => ({ runId: f.id, status: f.status as RunFinished['status'] }));
}

/** Ends a run as failed or cancelled and cancels its unfinished steps. */
export async function endRun(tx: Tx, runId: string, status: 'failed' | 'cancelled', error: string | null): Promise<void> {
  await tx.query(`UPDATE workflow_runs SET status = $2, error = $3, completed_at = now() WHERE id = $1`, [runId, status, error]);
  await tx.query(
    `UPDATE step_runs SET status = 'cancelled', error_kind = 'cancelled', completed_at = now(), lease_expires_at = NULL,
            error = coalesce(error, $2)
      WHERE workflow_run_id = $1 AND status IN ('pending', 'waiting', 'running')`,
    [runId, status === 'cancelled' ? 'run cancelled' : 'run failed'],
  );
  await tx.query(`SELECT pg_notify($1, $2)`, [CANCEL_CHANNEL, runId]);
}

export function isUnfinished(status: string): boolean {
  return UNFINISHED.has(status);
}

export function backoffMs(attempt: number, policy: { initialSeconds?: number; factor?: number; maxSeconds?: number } | undefined): number {
  const initial = policy?.initialSeconds ?? 1;
  const factor = policy?.factor ?? 2;
  const max = policy?.maxSeconds ?? 300;
  return Math.min(max, initial * factor ** (attempt - 1)) * 1000;
}
