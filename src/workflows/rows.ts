// Row types of workflow tables and their API shapes.
import type { Template, TemplateBody } from './model.js';

export interface TemplateRow {
  id: string;
  tenant_id: string | null;
  name: string;
  version: number;
  nodes: TemplateBody['nodes'];
  edges: TemplateBody['edges'];
  inputs: TemplateBody['inputs'];
  outputs: TemplateBody['outputs'];
  is_builtin: boolean;
  created_at: Date;
}

export interface RunRow {
  id: string;
  tenant_id: string;
  template_id: string;
  template_version: number;
  template_name?: string;
  promotion_id?: string | null;
  release_name?: string | null;
  environment_name?: string | null;
  status: 'pending' | 'running' | 'succeeded' | 'failed' | 'cancelled';
  context: Record<string, unknown>;
  inputs: Record<string, unknown>;
  outputs: Record<string, unknown>;
  error: string | null;
  created_at: Date;
  started_at: Date | null;
  completed_at: Date | null;
}

export interface StepRow {
  id: string;
  tenant_id: string;
  workflow_run_id: string;
  node_id: string;
  status: 'pending' | 'running' | 'waiting' | 'succeeded' | 'failed' | 'cancelled' | 'skipped';
  inputs: Record<string, unknown>;
  outputs: Record<string, unknown>;
  logs: string;
  attempt_number: number;
  error: string | null;
  error_kind: string | null;
  resume_events: { event: string; payload: Record<string, unknown>; at: string }[];
  lease_owner: string | null;
  started_at: Date | null;
  completed_at: Date | null;
}

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
