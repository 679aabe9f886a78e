// Row types of the workflow tables the engine runs: templates, runs and step runs.
import type { TemplateBody } from './template.js';

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
