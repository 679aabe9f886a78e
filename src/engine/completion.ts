// Committing step outcomes: a batch of finished steps in one transaction, runs locked in id order;
// successes and skips with one set-based UPDATE and one advance of their runs; failures (retry or end
// the run) and waits one by one. Every update is fenced by the lease: a server that lost a step's lease
// (it expired, or the run was cancelled) commits nothing for it.
import type { Tx } from '../store/db.js';
import type { StepResult } from './registry.js';
import type { RunRow, StepRow, TemplateRow } from './rows.js';
import { advanceRuns, backoffMs, endRun, insertStep, lockRun, type RunFinished, STEPS_CHANNEL } from './transitions.js';

/** Attempts of one node that may fail on a broken database connection before the run fails (≈ 10 minutes of backoff). */
const MAX_TRANSIENT_RETRIES = 25;

export interface Outcome {
  result: StepResult<Record<string, unknown>>;
  input: Record<string, unknown>;
  /** transient: the database connection broke while the step ran; retried without counting (backoff). */
  errorKind?: 'error' | 'timeout' | 'invalid_input' | 'transient';
}

export interface Completion {
  runId: string;
  template: TemplateRow;
  step: StepRow;
  outcome: Outcome | 'skipped';
  logs: string[];
  /** The run's inputs, as claimed with the step (lets a one-node run finish without reading it back). */
  runInputs?: Record<string, unknown>;
}

/**
 * Commits a batch of outcomes in one transaction: runs locked in id order; failures and waits one by
 * one (rare); successes and skips with one UPDATE, then the runs advance together.
 */
export async function commitOutcomes(
  tx: Tx,
  instanceId: string,
  batch: Pick<Completion, 'runId' | 'template' | 'step' | 'outcome' | 'logs'>[],
): Promise<RunFinished[]> {
  const runIds = [...new Set(batch.map((c) => c.runId))].sort();
  const lock = () => tx.query<RunRow>('SELECT * FROM workflow_runs WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE', [runIds]);
  const isOk = (c: Completion) => c.outcome === 'skipped' || c.outcome.result.status === 'succeeded';
  const others = batch.filter((c) => !isOk(c));
  const finished: RunFinished[] = [];
  if (others.length) {
    await lock();
    for (const c of others)
      finished.push(...(await commitOther(tx, instanceId, c.runId, c.template, c.step, c.outcome as Outcome, c.logs)));
  }
  const ok = batch.filter(isOk);
  if (ok.length === 0) return finished;
  const rows = ok.map((c) => {
    const res = c.outcome === 'skipped' ? undefined : c.outcome.result;
    return {
      id: c.step.id,
      status: c.outcome === 'skipped' ? 'skipped' : 'succeeded',
      outputs: res?.status === 'succeeded' ? res.outputs : {},
      inputs: c.outcome === 'skipped' ? {} : c.outcome.input,
      logs: c.logs.length ? `${c.logs.join('\n')}\n` : '',
    };
  });
  // The runs are locked (in id order, before any step row) in the statement that commits the successes.
  const updated = await tx.query<RunRow & { touched: boolean }>(
    `WITH locked AS (SELECT * FROM workflow_runs WHERE id = ANY($3::uuid[]) ORDER BY id FOR UPDATE),
     upd AS (
       UPDATE step_runs s SET status = v.status, outputs = v.outputs, inputs = v.inputs, logs = s.logs || v.logs,
              completed_at = now(), lease_expires_at = NULL
         FROM jsonb_to_recordset($1::jsonb) AS v(id uuid, status text, outputs jsonb, inputs jsonb, logs text)
        WHERE s.id = v.id AND s.status = 'running' AND s.lease_owner = $2 AND s.workflow_run_id IN (SELECT id FROM locked)
        RETURNING s.workflow_run_id)
     SELECT locked.*, locked.id IN (SELECT workflow_run_id FROM upd) AS touched FROM locked`,
    [JSON.stringify(rows), instanceId, runIds],
  );
  const runs = updated.rows; // read after the failures above, which may have ended a run
  const touched = new Set(updated.rows.filter((r) => r.touched).map((r) => r.id));
  const templates = new Map(batch.map((c) => [c.runId, c.template]));
  finished.push(
    ...(await advanceRuns(
      tx,
      runs.filter((r) => r.status === 'running' && touched.has(r.id)),
      (r) => templates.get(r.id)!,
    )),
  );
  return finished;
}

/** Commits a failed or waiting outcome, unless this server lost the lease or the run was cancelled meanwhile. */
async function commitOther(
  tx: Tx,
  instanceId: string,
  runId: string,
  template: TemplateRow,
  step: StepRow,
  outcome: Outcome,
  logs: string[],
): Promise<RunFinished[]> {
  const run = await lockRun(tx, runId);
  const text = logs.length ? `${logs.join('\n')}\n` : '';
  const mine = `id = $1 AND status = 'running' AND lease_owner = $2`;
  const res = outcome.result;
  if (res.status === 'succeeded') return []; // successes are committed set-based by commitOutcomes
  if (res.status === 'waiting') {
    // An event that arrived while this attempt ran re-queues it at once instead of parking it.
    await tx.query(
      `UPDATE step_runs SET status = CASE WHEN jsonb_array_length(resume_events) > $6 THEN 'pending' ELSE 'waiting' END,
              run_after = now(), wake_at = $3, inputs = $4, logs = logs || $5, lease_expires_at = NULL WHERE ${mine}`,
      [step.id, instanceId, res.until ?? null, JSON.stringify(outcome.input), `${text}waiting: ${res.reason}\n`, step.resume_events.length],
    );
    return [];
  }
  const r = await tx.query(
    `UPDATE step_runs SET status = 'failed', error = $3, error_kind = $4, inputs = $5, logs = logs || $6, completed_at = now(), lease_expires_at = NULL
      WHERE ${mine}`,
    [step.id, instanceId, res.error, outcome.errorKind ?? 'error', JSON.stringify(outcome.input), `${text}failed: ${res.error}\n`],
  );
  if (!r.rowCount || run?.status !== 'running') return [];
  const node = template.nodes.find((n) => n.id === step.node_id);
  if (outcome.errorKind === 'transient') {
    const t = await tx.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM step_runs WHERE workflow_run_id = $1 AND node_id = $2 AND error_kind = 'transient'`,
      [runId, step.node_id],
    );
    const n = t.rows[0]!.n;
    // A database outage of a few minutes is ridden out; one that never ends still ends the run.
    if (n <= MAX_TRANSIENT_RETRIES) {
      await insertStep(tx, run, step.node_id, step.attempt_number + 1, backoffMs(n, { initialSeconds: 1, factor: 2, maxSeconds: 30 }));
      await tx.query(`SELECT pg_notify($1, '')`, [STEPS_CHANNEL]);
      return [];
    }
  }
  const failures = await tx.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM step_runs WHERE workflow_run_id = $1 AND node_id = $2 AND status = 'failed'
        AND error_kind IS DISTINCT FROM 'lease_expired' AND error_kind IS DISTINCT FROM 'transient'`,
    [runId, step.node_id],
  );
  const used = failures.rows[0]!.n;
  const max = node?.retry?.maxAttempts ?? 1;
  if (res.retryable !== false && used < max) {
    const delay = backoffMs(used, node?.retry?.backoff);
    await insertStep(tx, run, step.node_id, step.attempt_number + 1, delay);
    await tx.query(`SELECT pg_notify($1, '')`, [STEPS_CHANNEL]);
    return [];
  }
  await endRun(tx, runId, 'failed', `node "${step.node_id}" failed after ${used} attempt(s): ${res.error}`);
  return [{ runId, status: 'failed' }];
}
