-- Plugins and integrations: the stored plugin archives (so every replica loads the same code from the
-- database), the plugin API version, and the integration health-check schedule.

-- A plugin's package as installed: the .tgz bytes, content-addressed. Replicas extract it into their own
-- cache (<data-dir>/plugins/<plugin_id>/<sha>) the first time they need it.
CREATE TABLE plugin_archives (
  sha256     text PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),
  bytes      bytea NOT NULL,
  size       integer NOT NULL CHECK (size > 0),
  created_at timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE plugins
  ADD COLUMN archive_sha256 text REFERENCES plugin_archives (sha256),
  ADD COLUMN api_version    text NOT NULL DEFAULT '1',
  ADD COLUMN installed_by   text,
  ADD COLUMN installed_at   timestamptz NOT NULL DEFAULT now();

-- The health scheduler claims due integrations by next_check_at with FOR UPDATE SKIP LOCKED.
ALTER TABLE integrations ADD COLUMN next_check_at timestamptz;
CREATE INDEX integrations_next_check_idx ON integrations (next_check_at NULLS FIRST);

-- Plugins are global (platform-admin managed); tenants read them and manage their own instances.
GRANT SELECT ON plugin_archives TO gantry_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON plugins, plugin_instances TO gantry_app;

-- Health checks and their scheduling are bookkeeping, not an operator's change: touch updated_at only
-- when a described column changes.
DROP TRIGGER integrations_touch_updated_at ON integrations;
CREATE TRIGGER integrations_touch_updated_at BEFORE UPDATE ON integrations FOR EACH ROW
  WHEN ((OLD.name, OLD.type_id, OLD.config, OLD.credential_ref) IS DISTINCT FROM (NEW.name, NEW.type_id, NEW.config, NEW.credential_ref))
  EXECUTE FUNCTION gantry_touch_updated_at();
