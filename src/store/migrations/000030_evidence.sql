-- Evidence: the registry of signing keys, chain order and reuse keys on packets, and append-only guards
-- that also hold against TRUNCATE and the app role.

-- Global, not per tenant: one server key signs for every tenant it serves. Keys are never removed, so
-- every packet ever signed stays verifiable; retired_at only stops a key from being treated as current.
CREATE TABLE signing_keys (
  key_id         text PRIMARY KEY CHECK (key_id ~ '^ed25519:[0-9a-f]{16}$'),
  algorithm      text NOT NULL DEFAULT 'ed25519' CHECK (algorithm = 'ed25519'),
  public_key_pem text NOT NULL,
  created_at     timestamptz NOT NULL DEFAULT now(),
  retired_at     timestamptz
);

CREATE FUNCTION gantry_signing_key_guard() RETURNS trigger
  LANGUAGE plpgsql AS
$$ BEGIN
  IF TG_OP = 'DELETE' OR NEW.key_id <> OLD.key_id OR NEW.public_key_pem <> OLD.public_key_pem
     OR NEW.algorithm <> OLD.algorithm OR NEW.created_at <> OLD.created_at THEN
    RAISE EXCEPTION 'signing_keys: % refused; keys are only ever added or retired', TG_OP USING ERRCODE = 'GT001';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER signing_keys_guard BEFORE UPDATE OR DELETE ON signing_keys
  FOR EACH ROW EXECUTE FUNCTION gantry_signing_key_guard();

-- Every replica may register its key from inside a tenant transaction; only the owner retires keys.
ALTER TABLE signing_keys ENABLE ROW LEVEL SECURITY;
CREATE POLICY signing_keys_read ON signing_keys FOR SELECT TO gantry_app USING (true);
CREATE POLICY signing_keys_register ON signing_keys FOR INSERT TO gantry_app WITH CHECK (retired_at IS NULL);
GRANT SELECT, INSERT ON signing_keys TO gantry_app;

-- No packet has been written before this migration (nothing wrote evidence), so NOT NULL is safe.
ALTER TABLE evidence_packets
  ADD COLUMN seq bigint NOT NULL CHECK (seq >= 1),
  ADD COLUMN reuse_key text CHECK (reuse_key ~ '^[A-Za-z0-9:._/+=-]{1,200}$'),
  ADD CONSTRAINT evidence_packets_signer_key FOREIGN KEY (signer_key_ref) REFERENCES signing_keys (key_id),
  ADD CONSTRAINT evidence_packets_first_link CHECK ((seq = 1) = (previous_hash IS NULL)),
  ADD CONSTRAINT evidence_packets_content_object CHECK (jsonb_typeof(content) = 'object');

-- The chain cannot fork: one packet per position, and one successor per packet.
CREATE UNIQUE INDEX evidence_packets_chain_seq ON evidence_packets (tenant_id, seq);
CREATE UNIQUE INDEX evidence_packets_chain_link ON evidence_packets (tenant_id, previous_hash);
CREATE INDEX evidence_packets_promotion ON evidence_packets (tenant_id, promotion_id, seq);
CREATE INDEX evidence_packets_environment ON evidence_packets (tenant_id, (content -> 'environment' ->> 'id'), seq);
CREATE INDEX evidence_packets_reuse ON evidence_packets (tenant_id, packet_type, reuse_key) WHERE reuse_key IS NOT NULL;

-- Row triggers do not fire on TRUNCATE; a statement trigger does. The app role loses the privileges too,
-- so a request handler cannot even attempt it.
CREATE TRIGGER evidence_packets_no_truncate BEFORE TRUNCATE ON evidence_packets
  FOR EACH STATEMENT EXECUTE FUNCTION gantry_refuse_change();
REVOKE UPDATE, DELETE, TRUNCATE ON evidence_packets FROM gantry_app;
