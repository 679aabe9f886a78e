-- Agents and deployments: one-time join tokens, hashed agent credentials, task leases and attempts,
-- ordered job logs, generated artifacts, strategy progress on jobs, and drift bookkeeping.

-- One-time join tokens: only the SHA-256 is stored; used_at makes them single use.
CREATE TABLE agent_join_tokens (
  id           uuid PRIMARY KEY DEFAULT gantry_uuid_v7(),
  tenant_id    uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  token_hash   text NOT NULL UNIQUE CHECK (token_hash ~ '^[0-9a-f]{64}$'),
  description  text NOT NULL DEFAULT '',
  labels       jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(labels) = 'object'),
  expires_at   timestamptz NOT NULL,
  used_at      timestamptz,
  used_by      uuid REFERENCES agents (id) ON DELETE SET NULL,
  created_by   uuid REFERENCES users (id),
  created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE agent_credentials (
  id          uuid PRIMARY KEY DEFAULT gantry_uuid_v7(),
  tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  agent_id    uuid NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
  secret_hash text NOT NULL UNIQUE CHECK (secret_hash ~ '^[0-9a-f]{64}$'),
  created_at  timestamptz NOT NULL DEFAULT now(),
  revoked_at  timestamptz
);
CREATE INDEX agent_credentials_agent_idx ON agent_credentials (agent_id);

ALTER TABLE agents
  ADD COLUMN labels          jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(labels) = 'object'),
  ADD COLUMN resources       jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(resources) = 'object'),
  ADD COLUMN session_id      text,
  ADD COLUMN status_reason   text,
  ADD COLUMN last_observed_at timestamptz;

-- Jobs: strategy progress (the batch now released to agents), pauses (failure or approval between
-- canary waves), the error that ended the job, and who asked for it.
ALTER TABLE deployment_jobs
  ADD COLUMN current_batch integer NOT NULL DEFAULT 0 CHECK (current_batch >= 0),
  ADD COLUMN batch_count   integer NOT NULL DEFAULT 1 CHECK (batch_count >= 1),
  ADD COLUMN paused_reason text CHECK (paused_reason IN ('failure', 'approval')),
  ADD COLUMN error         text,
  ADD COLUMN created_by    uuid REFERENCES users (id),
  ADD COLUMN auto_rollback boolean NOT NULL DEFAULT false;
CREATE INDEX deployment_jobs_env_idx ON deployment_jobs (environment_id, id DESC);
CREATE INDEX deployment_jobs_active_idx ON deployment_jobs (id) WHERE status IN ('pending', 'running');

-- Tasks: what each component becomes on the target (and was before), the batch it belongs to, the
-- lease holder (an agent, or a server instance for agentless ssh_host targets) and the outcome.
ALTER TABLE deployment_tasks
  ADD COLUMN previous_release_id uuid,
  ADD COLUMN components    jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(components) = 'array'),
  ADD COLUMN batch         integer NOT NULL DEFAULT 0 CHECK (batch >= 0),
  ADD COLUMN lease_owner   text,
  ADD COLUMN max_attempts  integer NOT NULL DEFAULT 3 CHECK (max_attempts >= 1),
  ADD COLUMN error         text,
  ADD COLUMN health        jsonb,
  ADD COLUMN started_at    timestamptz,
  ADD COLUMN completed_at  timestamptz,
  ADD CONSTRAINT deployment_tasks_lease_when_held CHECK (status NOT IN ('assigned', 'running') OR lease_expires_at IS NOT NULL);
CREATE INDEX deployment_tasks_pending_idx ON deployment_tasks (job_id, batch, id) WHERE status = 'pending';
CREATE INDEX deployment_tasks_leases_idx ON deployment_tasks (lease_expires_at) WHERE status IN ('assigned', 'running');
CREATE INDEX deployment_tasks_target_idx ON deployment_tasks (target_id, id DESC);
CREATE UNIQUE INDEX deployment_tasks_job_target ON deployment_tasks (job_id, target_id);

-- Log lines as agents stream them: (task, attempt, seq) makes a re-sent batch a no-op and orders lines.
CREATE TABLE job_logs (
  id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  job_id    uuid NOT NULL,
  task_id   uuid NOT NULL REFERENCES deployment_tasks (id) ON DELETE CASCADE,
  attempt   integer NOT NULL,
  seq       integer NOT NULL CHECK (seq >= 0),
  at        timestamptz NOT NULL,
  line      text NOT NULL,
  UNIQUE (task_id, attempt, seq),
  FOREIGN KEY (tenant_id, job_id) REFERENCES deployment_jobs (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX job_logs_job_idx ON job_logs (job_id, id);

-- Generated artifacts (compose lock files, container specs): content and SHA-256; jobs.artifacts lists them.
CREATE TABLE deployment_artifacts (
  id         uuid PRIMARY KEY DEFAULT gantry_uuid_v7(),
  tenant_id  uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  job_id     uuid NOT NULL,
  task_id    uuid REFERENCES deployment_tasks (id) ON DELETE CASCADE,
  name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  media_type text NOT NULL DEFAULT 'text/plain',
  content    text NOT NULL,
  sha256     text NOT NULL CHECK (sha256 ~ '^sha256:[0-9a-f]{64}$'),
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (task_id, name),
  FOREIGN KEY (tenant_id, job_id) REFERENCES deployment_jobs (tenant_id, id) ON DELETE CASCADE
);
CREATE TRIGGER deployment_artifacts_append_only BEFORE UPDATE OR DELETE ON deployment_artifacts
  FOR EACH ROW WHEN (pg_trigger_depth() = 0)
  EXECUTE FUNCTION gantry_refuse_change();

-- What runs on each target as last observed, and how it differs from the record.
ALTER TABLE targets
  ADD COLUMN current_components jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(current_components) = 'array'),
  ADD COLUMN current_release_id uuid,
  ADD COLUMN observed           jsonb,
  ADD COLUMN observed_at        timestamptz,
  ADD COLUMN drift_detected     boolean NOT NULL DEFAULT false,
  ADD COLUMN drift              jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(drift) = 'array'),
  ADD COLUMN drift_checked_at   timestamptz;

ALTER TABLE version_stickers
  ADD COLUMN job_id         uuid,
  ADD COLUMN task_id        uuid,
  ADD COLUMN drift_details  jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(drift_details) = 'array');
CREATE INDEX version_stickers_target_idx ON version_stickers (target_id, written_at DESC);

-- Row-level security and grants for the new tenant-owned tables.
DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['agent_join_tokens', 'agent_credentials', 'job_logs', 'deployment_artifacts'] LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('CREATE POLICY tenant_isolation ON %I TO gantry_app USING (tenant_id = gantry_current_tenant()) WITH CHECK (tenant_id = gantry_current_tenant())', t);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO gantry_app', t);
  END LOOP;
END
$$;
