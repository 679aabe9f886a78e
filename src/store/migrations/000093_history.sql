-- History: drift periods of each target (from when to when it differed from the record, and how), kept
-- by a trigger on targets.drift_detected so every path that sets or clears drift (an observation, a
-- deployment that replaces what drifted, a removal) is recorded; and an index to find the deployment or
-- rollback packet of a job.
CREATE TABLE drift_periods (
  id         uuid PRIMARY KEY DEFAULT gantry_uuid_v7(),
  tenant_id  uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  target_id  uuid NOT NULL REFERENCES targets (id) ON DELETE CASCADE,
  started_at timestamptz NOT NULL,
  ended_at   timestamptz,
  items      jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(items) = 'array'),
  CHECK (ended_at IS NULL OR ended_at >= started_at)
);
CREATE INDEX drift_periods_target_idx ON drift_periods (target_id, started_at);
CREATE UNIQUE INDEX drift_periods_one_open ON drift_periods (target_id) WHERE ended_at IS NULL;

ALTER TABLE drift_periods ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON drift_periods TO gantry_app
  USING (tenant_id = gantry_current_tenant()) WITH CHECK (tenant_id = gantry_current_tenant());
GRANT SELECT, INSERT, UPDATE ON drift_periods TO gantry_app;

CREATE FUNCTION gantry_drift_period() RETURNS trigger
  LANGUAGE plpgsql AS
$$ BEGIN
  IF NEW.drift_detected AND NOT OLD.drift_detected THEN
    INSERT INTO drift_periods (tenant_id, target_id, started_at, items)
    VALUES (NEW.tenant_id, NEW.id, coalesce(NEW.drift_checked_at, now()), NEW.drift)
    ON CONFLICT (target_id) WHERE ended_at IS NULL DO NOTHING;
  ELSIF OLD.drift_detected AND NOT NEW.drift_detected THEN
    UPDATE drift_periods SET ended_at = greatest(started_at, CASE WHEN NEW.drift_checked_at IS DISTINCT FROM OLD.drift_checked_at
                                                                   THEN NEW.drift_checked_at ELSE now() END)
     WHERE target_id = NEW.id AND ended_at IS NULL;
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER targets_drift_period AFTER UPDATE OF drift_detected ON targets
  FOR EACH ROW WHEN (OLD.drift_detected IS DISTINCT FROM NEW.drift_detected) EXECUTE FUNCTION gantry_drift_period();

CREATE INDEX evidence_packets_job_idx ON evidence_packets ((content -> 'job' ->> 'id')) WHERE packet_type IN ('deployment', 'rollback');
