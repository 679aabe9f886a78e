// API shapes of the workflow tables' rows (the row types are the engine's).
import type { RunRow, StepRow, TemplateRow } from '../engine/index.js';
import type { Template } from './model.js';

const iso = (d: Date | null) => (d ? d.toISOString() : null);

export const templateOut = (r: TemplateRow): Template => ({
  id: r.id,
  name: r.name,
  version: r.version,
  isBuiltin: r.is_builtin,
  nodes: r.nodes,
  edges: r.edges,
  inputs: r.inputs,
  outputs: r.outputs,
  createdAt: r.created_at.toISOString(),
});

export const runOut = (r: RunRow) => ({
  id: r.id,
  templateId: r.template_id,
  templateName: r.template_name ?? '',
  templateVersion: r.template_version,
  promotionId: r.promotion_id ?? null,
  releaseName: r.release_name ?? null,
  environmentName: r.environment_name ?? null,
  status: r.status,
  inputs: r.inputs,
  outputs: r.outputs,
  context: r.context,
  error: r.error,
  createdAt: r.created_at.toISOString(),
  startedAt: iso(r.started_at),
  completedAt: iso(r.completed_at),
});

export const stepOut = (r: StepRow) => ({
  id: r.id,
  nodeId: r.node_id,
  status: r.status,
  attemptNumber: r.attempt_number,
  inputs: r.inputs,
  outputs: r.outputs,
  logs: r.logs,
  error: r.error,
  startedAt: iso(r.started_at),
  completedAt: iso(r.completed_at),
});
