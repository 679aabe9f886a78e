-- The built-in per-tenant secret store. Values are never stored in plaintext: `ciphertext` is the value
-- sealed (AES-256-GCM) with a per-secret data key, `wrapped_key` is that data key sealed with the
-- operator's master key, whose id is `key_id` (so rows wrapped by an old key can be found after a
-- rotation). Both seals are bound to tenant, name and version. The API never returns either column.
CREATE TABLE tenant_secrets (
  id          uuid PRIMARY KEY DEFAULT gantry_uuid_v7(),
  tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  name        gantry_name NOT NULL,
  version     integer NOT NULL CHECK (version >= 1),
  key_id      text NOT NULL CHECK (key_id ~ '^[0-9a-f]{16}$'),
  wrapped_key bytea NOT NULL,
  ciphertext  bytea NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  updated_by  uuid REFERENCES users (id) ON DELETE SET NULL,
  UNIQUE (tenant_id, name)
);
CREATE INDEX tenant_secrets_key_id_idx ON tenant_secrets (key_id);

ALTER TABLE tenant_secrets ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenant_secrets TO gantry_app
  USING (tenant_id = gantry_current_tenant()) WITH CHECK (tenant_id = gantry_current_tenant());
GRANT SELECT, INSERT, UPDATE, DELETE ON tenant_secrets TO gantry_app;
