-- Promotions: blocking state, emergency overrides, one active promotion per release and environment,
-- status kept in step with the promotion's workflow run and deployment, and version 2 of the
-- standard promotion template with the promotion step types.

ALTER TABLE promotions
  ADD COLUMN blocked_reason     text,
  ADD COLUMN next_evaluation_at timestamptz,
  ADD COLUMN completed_at       timestamptz;

CREATE INDEX promotions_by_env ON promotions (tenant_id, target_environment_id, id);
CREATE INDEX promotions_by_release ON promotions (tenant_id, release_id, id);
CREATE UNIQUE INDEX promotions_one_active ON promotions (release_id, target_environment_id)
  WHERE status IN ('pending', 'awaiting_approval', 'approved', 'deploying');

CREATE TABLE gate_overrides (
  id           uuid PRIMARY KEY DEFAULT gantry_uuid_v7(),
  tenant_id    uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  promotion_id uuid NOT NULL,
  gate         text NOT NULL CHECK (length(gate) BETWEEN 1 AND 100),
  reason       text NOT NULL CHECK (length(reason) BETWEEN 1 AND 2000),
  created_by   uuid NOT NULL REFERENCES users (id),
  expires_at   timestamptz NOT NULL,
  evidence_id  uuid REFERENCES evidence_packets (id),
  created_at   timestamptz NOT NULL DEFAULT now(),
  CHECK (expires_at > created_at),
  FOREIGN KEY (tenant_id, promotion_id) REFERENCES promotions (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX gate_overrides_promotion ON gate_overrides (promotion_id);
ALTER TABLE gate_overrides ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON gate_overrides TO gantry_app
  USING (tenant_id = gantry_current_tenant()) WITH CHECK (tenant_id = gantry_current_tenant());
GRANT SELECT, INSERT, UPDATE, DELETE ON gate_overrides TO gantry_app;

-- When a promotion's run ends without succeeding, the promotion ends too (a gate rejection or an
-- approver's rejection has already set its own final status, so only active promotions change).
CREATE FUNCTION gantry_promotion_follows_run() RETURNS trigger
  LANGUAGE plpgsql AS
$$ BEGIN
  IF NEW.status IN ('failed', 'cancelled') AND OLD.status IS DISTINCT FROM NEW.status THEN
    UPDATE promotions
       SET status = CASE WHEN NEW.status = 'cancelled' THEN 'cancelled' ELSE 'failed' END,
           completed_at = now(),
           blocked_reason = coalesce(NEW.error, blocked_reason),
           next_evaluation_at = NULL
     WHERE workflow_run_id = NEW.id AND status IN ('pending', 'awaiting_approval', 'approved', 'deploying');
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER workflow_runs_promotion_status AFTER UPDATE OF status ON workflow_runs
  FOR EACH ROW EXECUTE FUNCTION gantry_promotion_follows_run();

INSERT INTO workflow_templates (tenant_id, name, version, is_builtin, inputs, outputs, nodes, edges) VALUES
(NULL, 'standard-promotion', 2, true,
 '{"promotionId":{"type":"string","required":true},"releaseId":{"type":"string","required":true},"environmentId":{"type":"string","required":true}}',
 '{"gates":"steps.evaluate_gates.outputs","decision":"steps.wait_for_approvals.outputs"}',
 '[{"id":"evaluate_gates","type":"promotion_gates","config":{"promotionId":"${{ inputs.promotionId }}"}},
   {"id":"wait_for_approvals","type":"promotion_approval","config":{"promotionId":"${{ inputs.promotionId }}"}},
   {"id":"deploy","type":"deploy","config":{"promotionId":"${{ inputs.promotionId }}","environmentId":"${{ inputs.environmentId }}"}},
   {"id":"verify","type":"promotion_verify","config":{"promotionId":"${{ inputs.promotionId }}","deploy":"${{ steps.deploy.outputs }}"}},
   {"id":"record_evidence","type":"promotion_complete","config":{"promotionId":"${{ inputs.promotionId }}"}},
   {"id":"notify","type":"notify","config":{"event":"promotion.deployed","promotionId":"${{ inputs.promotionId }}"}}]',
 '[{"from":"evaluate_gates","to":"wait_for_approvals"},{"from":"wait_for_approvals","to":"deploy"},{"from":"deploy","to":"verify"},
   {"from":"verify","to":"record_evidence"},{"from":"record_evidence","to":"notify"}]');

-- A promotion is deploying from the moment its deployment job exists.
CREATE FUNCTION gantry_promotion_deploying() RETURNS trigger
  LANGUAGE plpgsql AS
$$ BEGIN
  UPDATE promotions SET status = 'deploying', blocked_reason = NULL WHERE id = NEW.promotion_id AND status = 'approved';
  RETURN NEW;
END $$;
CREATE TRIGGER deployment_jobs_promotion_deploying AFTER INSERT ON deployment_jobs
  FOR EACH ROW WHEN (NEW.promotion_id IS NOT NULL AND NEW.rollback_of IS NULL)
  EXECUTE FUNCTION gantry_promotion_deploying();
