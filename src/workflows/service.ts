// Workflow templates (versioned) and runs: start, read, list, cancel, and deliver events to waiting steps.
import type { z } from 'zod';
import { ConflictError, NotFoundError, ValidationError } from '../core/errors.js';
import { UUID_RE } from '../core/ids.js';
import { endRun, insertStep, lockRun, type RunRow, STEPS_CHANNEL, type StepRow, type TemplateRow } from '../engine/index.js';
import { afterOf, toPage } from '../http/pagination.js';
import type { Tx } from '../store/db.js';
import type { runListQuery, runStart, stepEvent, TemplateBody, templateCreate } from './model.js';
import { runOut, stepOut, templateOut } from './rows.js';
import { validateTemplate } from './validate.js';

export async function getTemplate(tx: Tx, ref: string, version?: number): Promise<TemplateRow> {
  const byId = UUID_RE.test(ref);
  const r = await tx.query<TemplateRow>(
    `SELECT * FROM workflow_templates WHERE ${byId ? 'id = $1::uuid' : 'name = $1'} AND ($2::int IS NULL OR version = $2)
      ORDER BY (tenant_id IS NULL), version DESC LIMIT 1`,
    [ref, byId ? null : (version ?? null)],
  );
  if (!r.rows[0]) throw new NotFoundError('Workflow template', version ? `${ref}@${version}` : ref);
  return r.rows[0];
}

export async function listTemplates(tx: Tx, limit: number, cursor: string | undefined) {
  // The latest version of each template name.
  const r = await tx.query<TemplateRow>(
    `SELECT * FROM (SELECT DISTINCT ON (tenant_id, name) * FROM workflow_templates ORDER BY tenant_id, name, version DESC) t
      WHERE ($1::uuid IS NULL OR id > $1::uuid) ORDER BY id LIMIT $2`,
    [afterOf(cursor) ?? null, limit + 1],
  );
  return toPage(r.rows, limit, (row) => [row.id], templateOut);
}

export async function createTemplate(
  tx: Tx,
  tenantId: string,
  userId: string,
  input: z.infer<typeof templateCreate>,
  known: (t: string) => boolean,
) {
  const { name, ...body } = input;
  validateTemplate(body, known);
  const r = await tx.query<TemplateRow>(
    `INSERT INTO workflow_templates (tenant_id, name, version, nodes, edges, inputs, outputs, created_by)
     VALUES ($1, $2, 1, $3, $4, $5, $6, $7) RETURNING *`,
    [
      tenantId,
      name,
      JSON.stringify(body.nodes),
      JSON.stringify(body.edges),
      JSON.stringify(body.inputs),
      JSON.stringify(body.outputs),
      userId,
    ],
  );
  return templateOut(r.rows[0]!);
}

/** An edit makes a new version; runs keep the version they started with. */
export async function newTemplateVersion(
  tx: Tx,
  tenantId: string,
  userId: string,
  ref: string,
  body: TemplateBody,
  known: (t: string) => boolean,
) {
  const current = await getTemplate(tx, ref);
  if (current.is_builtin)
    throw new ConflictError(`"${current.name}" is built in; create a template of your own (e.g. from a copy of it).`, 'builtin_template');
  validateTemplate(body, known);
  await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`wft:${tenantId}:${current.name}`]);
  const r = await tx.query<TemplateRow>(
    `INSERT INTO workflow_templates (tenant_id, name, version, nodes, edges, inputs, outputs, created_by)
     SELECT $1, $2, max(version) + 1, $3, $4, $5, $6, $7 FROM workflow_templates WHERE tenant_id = $1 AND name = $2 RETURNING *`,
    [
      tenantId,
      current.name,
      JSON.stringify(body.nodes),
      JSON.stringify(body.edges),
      JSON.stringify(body.inputs),
      JSON.stringify(body.outputs),
      userId,
    ],
  );
  return templateOut(r.rows[0]!);
}

function checkInputs(t: TemplateRow, given: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const errors: { path: string; message: string }[] = [];
  for (const key of Object.keys(given))
    if (!(key in t.inputs)) errors.push({ path: `body.inputs.${key}`, message: `template "${t.name}" has no input "${key}"` });
  for (const [name, def] of Object.entries(t.inputs)) {
    const v = given[name] ?? def.default;
    if (v === undefined) {
      if (def.required) errors.push({ path: `body.inputs.${name}`, message: `input "${name}" is required` });
      continue;
    }
    const actual = Array.isArray(v) ? 'array' : v === null ? 'null' : typeof v;
    if (actual !== def.type) errors.push({ path: `body.inputs.${name}`, message: `input "${name}" must be a ${def.type}, got ${actual}` });
    out[name] = v;
  }
  if (errors.length) throw new ValidationError(errors[0]!.message, errors);
  return out;
}

/** Creates the run and queues its root nodes, in the caller's transaction. */
export async function startRun(
  tx: Tx,
  tenantId: string,
  userId: string | null,
  input: z.infer<typeof runStart>,
  context: Record<string, unknown> = {},
) {
  const t = await getTemplate(tx, input.template, input.version);
  const inputs = checkInputs(t, input.inputs);
  const r = await tx.query<RunRow>(
    `INSERT INTO workflow_runs (tenant_id, template_id, template_version, status, inputs, context, started_at, created_by)
     VALUES ($1, $2, $3, 'running', $4, $5, now(), $6) RETURNING *`,
    [tenantId, t.id, t.version, JSON.stringify(inputs), JSON.stringify(context), userId],
  );
  const run = r.rows[0]!;
  const targets = new Set(t.edges.map((e) => e.to));
  for (const n of t.nodes) if (!targets.has(n.id)) await insertStep(tx, run, n.id, 1);
  await tx.query(`SELECT pg_notify($1, '')`, [STEPS_CHANNEL]);
  return { ...run, template_name: t.name };
}

// A promotion's run names its release and environment, so lists read "1.4.0 → prod" instead of an id.
const RUN_SELECT = `SELECT r.*, t.name AS template_name, p.id AS promotion_id, rel.name AS release_name, env.name AS environment_name
  FROM workflow_runs r JOIN workflow_templates t ON t.id = r.template_id
  LEFT JOIN promotions p ON p.workflow_run_id = r.id LEFT JOIN releases rel ON rel.id = p.release_id
  LEFT JOIN environments env ON env.id = p.target_environment_id`;

export async function getRun(tx: Tx, id: string) {
  const r = await tx.query<RunRow>(`${RUN_SELECT} WHERE r.id = $1`, [id]);
  if (!r.rows[0]) throw new NotFoundError('Workflow run', id);
  const steps = await tx.query<StepRow>(`SELECT * FROM step_runs WHERE workflow_run_id = $1 ORDER BY created_at, node_id, attempt_number`, [
    id,
  ]);
  return { ...runOut(r.rows[0]), steps: steps.rows.map(stepOut) };
}

export async function listRuns(tx: Tx, q: z.infer<typeof runListQuery>) {
  const r = await tx.query<RunRow>(
    `${RUN_SELECT} WHERE ($1::uuid IS NULL OR r.id < $1::uuid) AND ($2::text IS NULL OR r.status = $2) ORDER BY r.id DESC LIMIT $3`,
    [afterOf(q.cursor) ?? null, q.status ?? null, q.limit + 1],
  );
  return toPage(r.rows, q.limit, (row) => [row.id], runOut);
}

export async function cancelRun(tx: Tx, id: string) {
  const run = await lockRun(tx, id);
  if (!run) throw new NotFoundError('Workflow run', id);
  if (run.status !== 'running' && run.status !== 'pending')
    throw new ConflictError(`The run already ended (${run.status}).`, 'run_finished');
  await endRun(tx, id, 'cancelled', 'cancelled by request');
  return getRun(tx, id);
}

/**
 * Delivers an event to every listed node of the run whose latest attempt has not ended (waiting, pending
 * or running) and re-queues it, in one statement; nodes that are not live are passed over. Returns how
 * many steps received it.
 */
export async function deliverEventToLive(tx: Tx, runId: string, nodeIds: string[], ev: z.infer<typeof stepEvent>): Promise<number> {
  const run = await lockRun(tx, runId);
  if (!run) throw new NotFoundError('Workflow run', runId);
  const r = await tx.query(
    `UPDATE step_runs SET resume_events = resume_events || jsonb_build_array(jsonb_build_object('event', $3::text, 'payload', $4::jsonb, 'at', now())),
            status = CASE WHEN status = 'waiting' THEN 'pending' ELSE status END, run_after = now(), wake_at = NULL
      WHERE id IN (SELECT DISTINCT ON (node_id) id FROM step_runs WHERE workflow_run_id = $1 AND node_id = ANY($2::text[])
                    ORDER BY node_id, attempt_number DESC)
        AND status IN ('waiting', 'pending', 'running')`,
    [runId, nodeIds, ev.event, JSON.stringify(ev.payload)],
  );
  if (r.rowCount) await tx.query(`SELECT pg_notify($1, '')`, [STEPS_CHANNEL]);
  return r.rowCount ?? 0;
}

/** Delivers an event (approval, callback) to the waiting step of a node and re-queues it. */
export async function deliverEvent(tx: Tx, runId: string, nodeId: string, ev: z.infer<typeof stepEvent>) {
  const run = await lockRun(tx, runId);
  if (!run) throw new NotFoundError('Workflow run', runId);
  const r = await tx.query<StepRow>(
    `UPDATE step_runs SET resume_events = resume_events || jsonb_build_array(jsonb_build_object('event', $3::text, 'payload', $4::jsonb, 'at', now())),
            status = CASE WHEN status = 'waiting' THEN 'pending' ELSE status END, run_after = now(), wake_at = NULL
      WHERE id = (SELECT id FROM step_runs WHERE workflow_run_id = $1 AND node_id = $2 ORDER BY attempt_number DESC LIMIT 1)
        AND status IN ('waiting', 'pending', 'running') RETURNING *`,
    [runId, nodeId, ev.event, JSON.stringify(ev.payload)],
  );
  if (!r.rows[0]) throw new ConflictError(`Node "${nodeId}" of this run is not waiting for events.`, 'step_not_waiting');
  await tx.query(`SELECT pg_notify($1, '')`, [STEPS_CHANNEL]);
  return stepOut(r.rows[0]);
}
