-- Progressive delivery: A/B releases and metric-driven canaries. A rollout splits one route's traffic
-- between two variations (stable and candidate) through a router on a target, stage by stage; every
-- stage change is an `ab_promotion` evidence packet. Traffic changes are what an agent applies on the
-- router target (leased like tasks, reported with the distribution the router then serves).
ALTER TABLE evidence_packets DROP CONSTRAINT evidence_packets_packet_type_check;
ALTER TABLE evidence_packets ADD CONSTRAINT evidence_packets_packet_type_check
  CHECK (packet_type IN ('release_decision', 'deployment', 'rollback', 'gate_override', 'ab_promotion'));

CREATE TABLE progressive_rollouts (
  id               uuid PRIMARY KEY DEFAULT gantry_uuid_v7(),
  tenant_id        uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  name             gantry_name NOT NULL,
  kind             text NOT NULL CHECK (kind IN ('ab', 'canary')),
  environment_id   uuid NOT NULL,
  router_target_id uuid NOT NULL REFERENCES targets (id),
  router           jsonb NOT NULL CHECK (jsonb_typeof(router) = 'object'),
  variations       jsonb NOT NULL CHECK (jsonb_typeof(variations) = 'array'),
  options          jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(options) = 'object'),
  stages           jsonb NOT NULL CHECK (jsonb_typeof(stages) = 'array'),
  analysis         jsonb,
  status           text NOT NULL DEFAULT 'deploying'
                   CHECK (status IN ('deploying', 'running', 'awaiting_approval', 'paused', 'promoting', 'rolling_back',
                                     'promoted', 'rolled_back', 'aborted', 'failed')),
  status_reason    text,
  current_stage    integer NOT NULL DEFAULT -1,
  weight           integer NOT NULL DEFAULT 0 CHECK (weight BETWEEN 0 AND 100),
  stage_started_at timestamptz,
  next_check_at    timestamptz,
  inconclusive     integer NOT NULL DEFAULT 0,
  deploy_job_id    uuid,
  created_by       uuid,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  completed_at     timestamptz,
  UNIQUE (tenant_id, id),
  FOREIGN KEY (tenant_id, environment_id) REFERENCES environments (tenant_id, id)
);
CREATE UNIQUE INDEX progressive_rollouts_active_name ON progressive_rollouts (tenant_id, name)
  WHERE status NOT IN ('promoted', 'rolled_back', 'aborted', 'failed');
CREATE INDEX progressive_rollouts_due ON progressive_rollouts (next_check_at)
  WHERE status IN ('deploying', 'running', 'promoting', 'rolling_back');

-- One row per stage change (start, advance, analysis, promote, rollback, abort): the rollout's history.
CREATE TABLE progressive_steps (
  id          uuid PRIMARY KEY DEFAULT gantry_uuid_v7(),
  tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  rollout_id  uuid NOT NULL,
  action      text NOT NULL CHECK (action IN ('start', 'advance', 'analysis', 'promote', 'rollback', 'abort', 'applied', 'failed')),
  stage       integer NOT NULL,
  weight      integer NOT NULL CHECK (weight BETWEEN 0 AND 100),
  actor       text NOT NULL,
  reason      text NOT NULL DEFAULT '',
  analysis    jsonb,
  evidence_id uuid,
  created_at  timestamptz NOT NULL DEFAULT now(),
  FOREIGN KEY (tenant_id, rollout_id) REFERENCES progressive_rollouts (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX progressive_steps_rollout_idx ON progressive_steps (rollout_id, created_at);

-- What the router target's agent must apply: a whole split (the router converges to it, so a change
-- applied twice is harmless). Leased with a bounded lease; a change superseded by a newer one of the
-- same rollout is never applied.
CREATE TABLE traffic_changes (
  id              uuid PRIMARY KEY DEFAULT gantry_uuid_v7(),
  tenant_id       uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  rollout_id      uuid NOT NULL,
  target_id       uuid NOT NULL REFERENCES targets (id),
  router          jsonb NOT NULL,
  split           jsonb NOT NULL,
  status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'leased', 'applied', 'failed', 'superseded')),
  agent_id        uuid REFERENCES agents (id),
  attempt         integer NOT NULL DEFAULT 0,
  lease_expires_at timestamptz,
  distribution    jsonb,
  error           text,
  log             text NOT NULL DEFAULT '',
  created_at      timestamptz NOT NULL DEFAULT now(),
  applied_at      timestamptz,
  FOREIGN KEY (tenant_id, rollout_id) REFERENCES progressive_rollouts (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX traffic_changes_open ON traffic_changes (target_id) WHERE status IN ('pending', 'leased');
CREATE INDEX traffic_changes_rollout_idx ON traffic_changes (rollout_id, created_at);

DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['progressive_rollouts', 'progressive_steps', 'traffic_changes'] LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('CREATE POLICY tenant_isolation ON %I TO gantry_app USING (tenant_id = gantry_current_tenant()) WITH CHECK (tenant_id = gantry_current_tenant())', t);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE ON %I TO gantry_app', t);
  END LOOP;
END $$;
