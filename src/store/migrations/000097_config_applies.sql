-- Configuration applied as code (`gantry apply`): one row per apply that changed something, with the
-- sha256 of the files it read and what it did, so an operator can tell which commit of the configuration
-- repository the server was made to match, when and by whom. Append-only: the API only inserts and reads.
CREATE TABLE config_applies (
  id          uuid PRIMARY KEY DEFAULT gantry_uuid_v7(),
  tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  sha256      text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
  files       jsonb NOT NULL CHECK (jsonb_typeof(files) = 'array'),
  created     integer NOT NULL CHECK (created >= 0),
  changed     integer NOT NULL CHECK (changed >= 0),
  deleted     integer NOT NULL CHECK (deleted >= 0),
  changes     jsonb NOT NULL CHECK (jsonb_typeof(changes) = 'array'),
  applied_by  uuid REFERENCES users (id) ON DELETE SET NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX config_applies_tenant_idx ON config_applies (tenant_id, id DESC);

ALTER TABLE config_applies ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON config_applies TO gantry_app
  USING (tenant_id = gantry_current_tenant()) WITH CHECK (tenant_id = gantry_current_tenant());
GRANT SELECT, INSERT ON config_applies TO gantry_app;
