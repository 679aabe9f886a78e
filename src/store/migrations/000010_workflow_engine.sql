-- Workflow engine: leases and timers on step runs, error details, idempotent side effects,
-- and the built-in templates (tenant_id NULL, is_builtin).

ALTER TABLE step_runs
  ADD COLUMN run_after        timestamptz NOT NULL DEFAULT now(),
  ADD COLUMN wake_at          timestamptz,
  ADD COLUMN lease_owner      text,
  ADD COLUMN lease_expires_at timestamptz,
  ADD COLUMN error            text,
  ADD COLUMN error_kind       text CHECK (error_kind IN ('error', 'timeout', 'lease_expired', 'cancelled', 'invalid_input')),
  ADD COLUMN resume_events    jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(resume_events) = 'array'),
  ADD CONSTRAINT step_runs_lease_when_running CHECK (status <> 'running' OR (lease_owner IS NOT NULL AND lease_expires_at IS NOT NULL));

-- The claim query's index: runnable steps in due order.
CREATE INDEX step_runs_runnable ON step_runs (run_after, id) WHERE status = 'pending';
CREATE INDEX step_runs_timers ON step_runs (wake_at) WHERE status = 'waiting' AND wake_at IS NOT NULL;
CREATE INDEX step_runs_leases ON step_runs (lease_expires_at) WHERE status = 'running';

ALTER TABLE workflow_runs
  ADD COLUMN error      text,
  ADD COLUMN created_by uuid REFERENCES users (id);
-- No index on status: status changes then stay HOT updates (room left by the fillfactor).
CREATE INDEX workflow_runs_tenant ON workflow_runs (tenant_id, id);
ALTER TABLE workflow_runs SET (fillfactor = 80);

-- Side effects of a step carry an idempotency key (run, node, effect name): a retried or re-leased
-- attempt finds the recorded result instead of applying the effect again.
CREATE TABLE step_effects (
  idempotency_key text PRIMARY KEY CHECK (length(idempotency_key) BETWEEN 1 AND 300),
  tenant_id       uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  workflow_run_id uuid NOT NULL REFERENCES workflow_runs (id) ON DELETE CASCADE,
  step_run_id     uuid NOT NULL REFERENCES step_runs (id) ON DELETE CASCADE,
  result          jsonb NOT NULL DEFAULT 'null',
  applied_by      text NOT NULL,
  applied_at      timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE step_effects ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON step_effects TO gantry_app
  USING (tenant_id = gantry_current_tenant()) WITH CHECK (tenant_id = gantry_current_tenant());
GRANT SELECT, INSERT, UPDATE, DELETE ON step_effects TO gantry_app;

INSERT INTO workflow_templates (tenant_id, name, version, is_builtin, inputs, outputs, nodes, edges) VALUES
(NULL, 'standard-promotion', 1, true,
 '{"promotionId":{"type":"string","required":true},"releaseId":{"type":"string","required":true},"environmentId":{"type":"string","required":true}}',
 '{"decision":"steps.evaluate_gates.outputs"}',
 '[{"id":"evaluate_gates","type":"gate_evaluation","config":{"promotionId":"${{ inputs.promotionId }}"}},
   {"id":"wait_for_approvals","type":"approval_wait","config":{"promotionId":"${{ inputs.promotionId }}"}},
   {"id":"deploy","type":"deploy","config":{"promotionId":"${{ inputs.promotionId }}","environmentId":"${{ inputs.environmentId }}"}},
   {"id":"verify","type":"set_outputs","config":{"verified":true}},
   {"id":"record_evidence","type":"set_outputs","config":{"recorded":true}},
   {"id":"notify","type":"notify","config":{"event":"promotion.finished","promotionId":"${{ inputs.promotionId }}"}}]',
 '[{"from":"evaluate_gates","to":"wait_for_approvals"},{"from":"wait_for_approvals","to":"deploy"},{"from":"deploy","to":"verify"},
   {"from":"verify","to":"record_evidence"},{"from":"record_evidence","to":"notify"}]');
