-- Client certificates agents presented over mutual TLS (bound to the agent whose credential came with
-- them), and their revocation. Revoking an agent revokes every certificate it presented; a request that
-- presents a revoked certificate is refused whatever credential or join token comes with it. A
-- certificate can also be revoked by fingerprint before it was ever seen (serial then unknown).
CREATE TABLE agent_certificates (
  id            uuid PRIMARY KEY DEFAULT gantry_uuid_v7(),
  tenant_id     uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  agent_id      uuid NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
  fingerprint   text NOT NULL CHECK (fingerprint ~ '^sha256:[0-9a-f]{64}$'),
  serial        text CHECK (serial ~ '^[0-9A-F]{1,64}$'),
  subject       text NOT NULL DEFAULT '',
  not_after     timestamptz,
  first_seen_at timestamptz NOT NULL DEFAULT now(),
  revoked_at    timestamptz,
  UNIQUE (agent_id, fingerprint)
);
CREATE INDEX agent_certificates_revoked_idx ON agent_certificates (fingerprint) WHERE revoked_at IS NOT NULL;

ALTER TABLE agent_certificates ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON agent_certificates TO gantry_app
  USING (tenant_id = gantry_current_tenant()) WITH CHECK (tenant_id = gantry_current_tenant());
GRANT SELECT, INSERT, UPDATE, DELETE ON agent_certificates TO gantry_app;
