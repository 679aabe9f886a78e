-- Gantry schema: every entity of spec/entities.md plus users, tokens and role bindings.
-- Tenant-owned tables carry tenant_id and are protected by row-level security for the
-- gantry_app role, which request handlers assume with SET LOCAL ROLE.

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'gantry_app') THEN
    CREATE ROLE gantry_app NOLOGIN NOSUPERUSER NOBYPASSRLS;
  END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
  NULL; -- another database of this cluster created it at the same moment
END
$$;

DO $$
BEGIN
  EXECUTE format('GRANT gantry_app TO %I', current_user);
EXCEPTION WHEN OTHERS THEN
  NULL; -- superusers may SET ROLE without membership
END
$$;

-- UUIDv7 (time-ordered) ids, so cursor pagination on id follows creation order.
CREATE FUNCTION gantry_uuid_v7() RETURNS uuid
  LANGUAGE sql VOLATILE AS
$$ SELECT encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid()) PLACING
     substring(int8send(floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
     FROM 1 FOR 6), 52, 1), 53, 1), 'hex')::uuid $$;

CREATE FUNCTION gantry_current_tenant() RETURNS uuid
  LANGUAGE sql STABLE AS
$$ SELECT nullif(current_setting('gantry.tenant_id', true), '')::uuid $$;

CREATE FUNCTION gantry_touch_updated_at() RETURNS trigger
  LANGUAGE plpgsql AS
$$ BEGIN NEW.updated_at := now(); RETURN NEW; END $$;

CREATE DOMAIN gantry_name AS text
  CHECK (VALUE ~ '^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$');

CREATE DOMAIN gantry_digest AS text
  CHECK (VALUE ~ '^sha256:[0-9a-f]{64}$');

-- Tenancy, users and access ------------------------------------------------

CREATE TABLE tenants (
  id           uuid PRIMARY KEY DEFAULT gantry_uuid_v7(),
  name         gantry_name NOT NULL UNIQUE,
  display_name text NOT NULL DEFAULT '',
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
  id                uuid PRIMARY KEY DEFAULT gantry_uuid_v7(),
  username          gantry_name NOT NULL UNIQUE,
  display_name      text NOT NULL DEFAULT '',
  email             text,
  is_platform_admin boolean NOT NULL DEFAULT false,
  disabled_at       timestamptz,
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE role_bindings (
  id         uuid PRIMARY KEY DEFAULT gantry_uuid_v7(),
  tenant_id  uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  role       text NOT NULL CHECK (role IN ('admin', 'release_manager', 'approver', 'deployer', 'viewer')),
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (tenant_id, user_id, role)
);

CREATE TABLE api_tokens (
  id           uuid PRIMARY KEY DEFAULT gantry_uuid_v7(),
  tenant_id    uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
  token_hash   text NOT NULL UNIQUE CHECK (token_hash ~ '^[0-9a-f]{64}$'),
  token_prefix text NOT NULL,
  expires_at   timestamptz,
  revoked_at   timestamptz,
  last_used_at timestamptz,
  created_at   timestamptz NOT NULL DEFAULT now(),
  UNIQUE (tenant_id, user_id, name)
);

-- Environments, targets, agents -------------------------------------------

CREATE TABLE environments (
  id                 uuid PRIMARY KEY DEFAULT gantry_uuid_v7(),
  tenant_id          uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  name               gantry_name NOT NULL,
  display_name       text NOT NULL DEFAULT '',
  order_index        integer NOT NULL CHECK (order_index >= 0),
  config             jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(config) = 'object'),
  freeze_windows     jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(freeze_windows) = 'array'),
  required_approvals integer NOT NULL DEFAULT 0 CHECK (required_approvals BETWEEN 0 AND 100),
  require_sod        boolean NOT NULL DEFAULT false,
  created_at         timestamptz NOT NULL DEFAULT now(),
  updated_at         timestamptz NOT NULL DEFAULT now(),
  UNIQUE (tenant_id, name),
  UNIQUE (tenant_id, id)
);

CREATE TABLE agents (
  id             uuid PRIMARY KEY DEFAULT gantry_uuid_v7(),
  tenant_id      uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  name           gantry_name NOT NULL,
  version        text NOT NULL DEFAULT '',
  capabilities   jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(capabilities) = 'object'),
  status         text NOT NULL DEFAULT 'offline' CHECK (status IN ('online', 'degraded', 'offline')),
  last_heartbeat timestamptz,
  revoked_at     timestamptz,
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now(),
  UNIQUE (tenant_id, name)
);

CREATE TABLE targets (
  id             uuid PRIMARY KEY DEFAULT gantry_uuid_v7(),
  tenant_id      uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  environment_id uuid NOT NULL,
  name           gantry_name NOT NULL,
  target_type    text NOT NULL CHECK (target_type IN ('docker_host', 'compose_host', 'ssh_host')),
  connection     jsonb NOT NULL CHECK (jsonb_typeof(connection) = 'object'),
  labels         jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(labels) = 'object'),
  health_status  text NOT NULL DEFAULT 'unknown' CHECK (health_status IN ('unknown', 'healthy', 'degraded', 'unhealthy')),
  current_digest gantry_digest,
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now(),
  UNIQUE (tenant_id, name),
  FOREIGN KEY (tenant_id, environment_id) REFERENCES environments (tenant_id, id) ON DELETE RESTRICT
);
CREATE INDEX targets_environment_idx ON targets (environment_id);

-- Integrations, components, versions ---------------------------------------

CREATE TABLE integrations (
  id              uuid PRIMARY KEY DEFAULT gantry_uuid_v7(),
  tenant_id       uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  type_id         text NOT NULL CHECK (type_id ~ '^[a-z][a-z0-9_.-]{0,63}$'),
  name            gantry_name NOT NULL,
  config          jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(config) = 'object'),
  credential_ref  text,
  health_status   text NOT NULL DEFAULT 'unknown' CHECK (health_status IN ('unknown', 'healthy', 'unhealthy')),
  health_message  text,
  last_checked_at timestamptz,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now(),
  UNIQUE (tenant_id, name),
  UNIQUE (tenant_id, id)
);

CREATE TABLE components (
  id                      uuid PRIMARY KEY DEFAULT gantry_uuid_v7(),
  tenant_id               uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  name                    gantry_name NOT NULL,
  display_name            text NOT NULL DEFAULT '',
  image_repository        text NOT NULL CHECK (length(image_repository) BETWEEN 1 AND 512),
  registry_integration_id uuid,
  versioning_strategy     jsonb NOT NULL DEFAULT '{"type":"semver"}' CHECK (versioning_strategy->>'type' IN ('semver', 'date', 'sequential', 'manual')),
  default_channel         text NOT NULL DEFAULT 'stable' CHECK (default_channel ~ '^[a-z][a-z0-9_-]{0,31}$'),
  created_at              timestamptz NOT NULL DEFAULT now(),
  updated_at              timestamptz NOT NULL DEFAULT now(),
  UNIQUE (tenant_id, name),
  UNIQUE (tenant_id, id),
  FOREIGN KEY (tenant_id, registry_integration_id) REFERENCES integrations (tenant_id, id) ON DELETE RESTRICT
);

CREATE TABLE version_maps (
  id            uuid PRIMARY KEY DEFAULT gantry_uuid_v7(),
  tenant_id     uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  component_id  uuid NOT NULL,
  tag           text NOT NULL CHECK (tag ~ '^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$'),
  digest        gantry_digest NOT NULL,
  semver        text,
  channel       text CHECK (channel ~ '^[a-z][a-z0-9_-]{0,31}$'),
  superseded_at timestamptz,
  created_at    timestamptz NOT NULL DEFAULT now(),
  FOREIGN KEY (tenant_id, component_id) REFERENCES components (tenant_id, id) ON DELETE CASCADE
);
-- one current mapping per tag; superseded rows are the tag's history
CREATE UNIQUE INDEX version_maps_current_tag ON version_maps (component_id, tag) WHERE superseded_at IS NULL;

-- Releases and promotions ----------------------------------------------------

CREATE TABLE releases (
  id           uuid PRIMARY KEY DEFAULT gantry_uuid_v7(),
  tenant_id    uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  name         text NOT NULL CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$'),
  display_name text NOT NULL DEFAULT '',
  components   jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(components) = 'array'),
  source_ref   jsonb CHECK (source_ref IS NULL OR jsonb_typeof(source_ref) = 'object'),
  status       text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'ready', 'deployed', 'deprecated')),
  created_by   uuid REFERENCES users (id),
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now(),
  UNIQUE (tenant_id, name),
  UNIQUE (tenant_id, id)
);

-- Workflows -------------------------------------------------------------------

CREATE TABLE workflow_templates (
  id          uuid PRIMARY KEY DEFAULT gantry_uuid_v7(),
  tenant_id   uuid REFERENCES tenants (id) ON DELETE CASCADE,
  name        text NOT NULL CHECK (name ~ '^[a-z0-9][a-z0-9._-]{0,62}$'),
  version     integer NOT NULL DEFAULT 1 CHECK (version >= 1),
  nodes       jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(nodes) = 'array'),
  edges       jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(edges) = 'array'),
  inputs      jsonb NOT NULL DEFAULT '{}',
  outputs     jsonb NOT NULL DEFAULT '{}',
  is_builtin  boolean NOT NULL DEFAULT false,
  created_by  uuid REFERENCES users (id),
  created_at  timestamptz NOT NULL DEFAULT now(),
  CHECK (is_builtin = (tenant_id IS NULL))
);
CREATE UNIQUE INDEX workflow_templates_name_version
  ON workflow_templates (coalesce(tenant_id, '00000000-0000-0000-0000-000000000000'::uuid), name, version);

CREATE TABLE workflow_runs (
  id               uuid PRIMARY KEY DEFAULT gantry_uuid_v7(),
  tenant_id        uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  template_id      uuid NOT NULL REFERENCES workflow_templates (id),
  template_version integer NOT NULL CHECK (template_version >= 1),
  status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'running', 'succeeded', 'failed', 'cancelled')),
  context          jsonb NOT NULL DEFAULT '{}',
  inputs           jsonb NOT NULL DEFAULT '{}',
  outputs          jsonb NOT NULL DEFAULT '{}',
  started_at       timestamptz,
  completed_at     timestamptz,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  UNIQUE (tenant_id, id)
);

CREATE TABLE step_runs (
  id              uuid PRIMARY KEY DEFAULT gantry_uuid_v7(),
  tenant_id       uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  workflow_run_id uuid NOT NULL,
  node_id         text NOT NULL CHECK (length(node_id) BETWEEN 1 AND 100),
  status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'running', 'waiting', 'succeeded', 'failed', 'cancelled', 'skipped')),
  inputs          jsonb NOT NULL DEFAULT '{}',
  outputs         jsonb NOT NULL DEFAULT '{}',
  logs            text NOT NULL DEFAULT '',
  attempt_number  integer NOT NULL DEFAULT 1 CHECK (attempt_number >= 1),
  started_at      timestamptz,
  completed_at    timestamptz,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now(),
  UNIQUE (workflow_run_id, node_id, attempt_number),
  FOREIGN KEY (tenant_id, workflow_run_id) REFERENCES workflow_runs (tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE promotions (
  id                    uuid PRIMARY KEY DEFAULT gantry_uuid_v7(),
  tenant_id             uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  release_id            uuid NOT NULL,
  source_environment_id uuid,
  target_environment_id uuid NOT NULL,
  status                text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'awaiting_approval', 'approved', 'deploying', 'deployed', 'rejected', 'cancelled', 'failed', 'rolled_back')),
  decision_record       jsonb NOT NULL DEFAULT '{}',
  workflow_run_id       uuid REFERENCES workflow_runs (id),
  reason                text NOT NULL DEFAULT '',
  requested_by          uuid NOT NULL REFERENCES users (id),
  requested_at          timestamptz NOT NULL DEFAULT now(),
  updated_at            timestamptz NOT NULL DEFAULT now(),
  UNIQUE (tenant_id, id),
  FOREIGN KEY (tenant_id, release_id) REFERENCES releases (tenant_id, id),
  FOREIGN KEY (tenant_id, source_environment_id) REFERENCES environments (tenant_id, id),
  FOREIGN KEY (tenant_id, target_environment_id) REFERENCES environments (tenant_id, id)
);

CREATE TABLE approvals (
  id           uuid PRIMARY KEY DEFAULT gantry_uuid_v7(),
  tenant_id    uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  promotion_id uuid NOT NULL,
  approver_id  uuid NOT NULL REFERENCES users (id),
  action       text NOT NULL CHECK (action IN ('approved', 'rejected')),
  comment      text NOT NULL DEFAULT '',
  approved_at  timestamptz NOT NULL DEFAULT now(),
  UNIQUE (promotion_id, approver_id),
  FOREIGN KEY (tenant_id, promotion_id) REFERENCES promotions (tenant_id, id) ON DELETE CASCADE
);

-- Deployments -----------------------------------------------------------------

CREATE TABLE deployment_jobs (
  id              uuid PRIMARY KEY DEFAULT gantry_uuid_v7(),
  tenant_id       uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  promotion_id    uuid,
  release_id      uuid NOT NULL,
  environment_id  uuid NOT NULL,
  status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'running', 'succeeded', 'failed', 'cancelled')),
  strategy        text NOT NULL DEFAULT 'all_at_once' CHECK (strategy IN ('all_at_once', 'rolling', 'canary', 'blue_green')),
  strategy_config jsonb NOT NULL DEFAULT '{}',
  artifacts       jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(artifacts) = 'array'),
  rollback_of     uuid REFERENCES deployment_jobs (id),
  created_at      timestamptz NOT NULL DEFAULT now(),
  started_at      timestamptz,
  completed_at    timestamptz,
  updated_at      timestamptz NOT NULL DEFAULT now(),
  UNIQUE (tenant_id, id),
  FOREIGN KEY (tenant_id, promotion_id) REFERENCES promotions (tenant_id, id),
  FOREIGN KEY (tenant_id, release_id) REFERENCES releases (tenant_id, id),
  FOREIGN KEY (tenant_id, environment_id) REFERENCES environments (tenant_id, id)
);

CREATE TABLE deployment_tasks (
  id               uuid PRIMARY KEY DEFAULT gantry_uuid_v7(),
  tenant_id        uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  job_id           uuid NOT NULL,
  target_id        uuid NOT NULL REFERENCES targets (id),
  digest           gantry_digest NOT NULL,
  status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'assigned', 'running', 'succeeded', 'failed', 'skipped')),
  agent_id         uuid REFERENCES agents (id),
  logs             text NOT NULL DEFAULT '',
  previous_digest  gantry_digest,
  attempt          integer NOT NULL DEFAULT 0 CHECK (attempt >= 0),
  lease_expires_at timestamptz,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  FOREIGN KEY (tenant_id, job_id) REFERENCES deployment_jobs (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX deployment_tasks_job_idx ON deployment_tasks (job_id);

-- Evidence and stickers ----------------------------------------------------------

CREATE TABLE evidence_packets (
  id             uuid PRIMARY KEY DEFAULT gantry_uuid_v7(),
  tenant_id      uuid NOT NULL REFERENCES tenants (id),
  promotion_id   uuid,
  packet_type    text NOT NULL CHECK (packet_type IN ('release_decision', 'deployment', 'rollback', 'gate_override')),
  content        jsonb NOT NULL,
  content_hash   text NOT NULL CHECK (content_hash ~ '^sha256:[0-9a-f]{64}$'),
  signature      text NOT NULL,
  signer_key_ref text NOT NULL,
  previous_hash  text CHECK (previous_hash ~ '^sha256:[0-9a-f]{64}$'),
  created_at     timestamptz NOT NULL DEFAULT now(),
  FOREIGN KEY (tenant_id, promotion_id) REFERENCES promotions (tenant_id, id)
);

CREATE FUNCTION gantry_refuse_change() RETURNS trigger
  LANGUAGE plpgsql AS
$$ BEGIN
  RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP USING ERRCODE = 'GT001';
END $$;
CREATE TRIGGER evidence_packets_append_only BEFORE UPDATE OR DELETE ON evidence_packets
  FOR EACH ROW EXECUTE FUNCTION gantry_refuse_change();

CREATE TABLE version_stickers (
  id              uuid PRIMARY KEY DEFAULT gantry_uuid_v7(),
  tenant_id       uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  target_id       uuid NOT NULL REFERENCES targets (id) ON DELETE CASCADE,
  release_id      uuid NOT NULL,
  promotion_id    uuid,
  sticker_content jsonb NOT NULL CHECK (jsonb_typeof(sticker_content) = 'object'),
  content_hash    text NOT NULL CHECK (content_hash ~ '^sha256:[0-9a-f]{64}$'),
  written_at      timestamptz NOT NULL DEFAULT now(),
  drift_detected  boolean NOT NULL DEFAULT false,
  FOREIGN KEY (tenant_id, release_id) REFERENCES releases (tenant_id, id),
  FOREIGN KEY (tenant_id, promotion_id) REFERENCES promotions (tenant_id, id)
);

-- Plugins ---------------------------------------------------------------------------

CREATE TABLE plugins (
  id            uuid PRIMARY KEY DEFAULT gantry_uuid_v7(),
  plugin_id     text NOT NULL UNIQUE CHECK (plugin_id ~ '^[a-z0-9][a-z0-9._/-]{0,127}$'),
  version       text NOT NULL,
  vendor        text NOT NULL DEFAULT '',
  manifest      jsonb NOT NULL CHECK (jsonb_typeof(manifest) = 'object'),
  status        text NOT NULL DEFAULT 'installed' CHECK (status IN ('installed', 'active', 'disabled', 'failed')),
  status_reason text,
  entrypoint    text NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE plugin_instances (
  id         uuid PRIMARY KEY DEFAULT gantry_uuid_v7(),
  plugin_id  uuid NOT NULL REFERENCES plugins (id) ON DELETE CASCADE,
  tenant_id  uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  config     jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(config) = 'object'),
  enabled    boolean NOT NULL DEFAULT true,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (tenant_id, plugin_id)
);

-- updated_at maintenance ---------------------------------------------------------------

DO $$
DECLARE t text;
BEGIN
  FOR t IN SELECT table_name FROM information_schema.columns
           WHERE table_schema = current_schema() AND column_name = 'updated_at'
  LOOP
    EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE ON %I FOR EACH ROW EXECUTE FUNCTION gantry_touch_updated_at()',
                   t || '_touch_updated_at', t);
  END LOOP;
END
$$;

-- Row-level security ---------------------------------------------------------------------
-- The app role sees only the rows of the tenant named in gantry.tenant_id. The schema owner
-- (migrations, bootstrap, token lookup, cross-tenant schedulers) is not subject to these policies.

DO $$
DECLARE t text;
BEGIN
  FOR t IN SELECT table_name FROM information_schema.columns
           WHERE table_schema = current_schema() AND column_name = 'tenant_id'
             AND table_name NOT IN ('workflow_templates')
  LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('CREATE POLICY tenant_isolation ON %I TO gantry_app USING (tenant_id = gantry_current_tenant()) WITH CHECK (tenant_id = gantry_current_tenant())', t);
  END LOOP;
END
$$;

ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenants TO gantry_app
  USING (id = gantry_current_tenant()) WITH CHECK (id = gantry_current_tenant());

ALTER TABLE workflow_templates ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_read ON workflow_templates FOR SELECT TO gantry_app
  USING (tenant_id IS NULL OR tenant_id = gantry_current_tenant());
CREATE POLICY tenant_write ON workflow_templates FOR INSERT TO gantry_app
  WITH CHECK (tenant_id = gantry_current_tenant());

-- users are global; the app role sees only users bound to the current tenant
ALTER TABLE users ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_members ON users TO gantry_app
  USING (EXISTS (SELECT 1 FROM role_bindings rb WHERE rb.user_id = users.id AND rb.tenant_id = gantry_current_tenant()))
  WITH CHECK (true);

GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO gantry_app;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO gantry_app;
