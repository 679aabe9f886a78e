-- Live updates for the web UI: every committed change to what the UI shows is announced on the
-- gantry_changes channel (NOTIFY is delivered at commit, never for a rolled-back change), with the
-- tenant, the kind of record and its id; the server fans these out to the tenant's event streams.
-- Payloads are small JSON objects, e.g. {"t":"<tenant>","k":"promotion","id":"<id>"}; PostgreSQL folds
-- identical notifications of one transaction into one.
CREATE FUNCTION gantry_announce_change() RETURNS trigger
  LANGUAGE plpgsql AS
$$ DECLARE
  r record;
BEGIN
  IF TG_OP = 'DELETE' THEN r := OLD; ELSE r := NEW; END IF;
  PERFORM pg_notify('gantry_changes', json_build_object('t', r.tenant_id, 'k', TG_ARGV[0], 'id', r.id)::text);
  RETURN NULL;
END $$;

-- Tables whose every change matters to a page.
DO $$
DECLARE
  t text[];
BEGIN
  FOREACH t SLICE 1 IN ARRAY ARRAY[
    ['promotions', 'promotion'], ['approvals', 'approval'], ['gate_overrides', 'gate_override'],
    ['deployment_jobs', 'deployment'], ['releases', 'release'], ['environments', 'environment'],
    ['evidence_packets', 'evidence'], ['version_stickers', 'sticker'], ['workflow_runs', 'workflow_run']] LOOP
    EXECUTE format('CREATE TRIGGER %I AFTER INSERT OR UPDATE OR DELETE ON %I FOR EACH ROW EXECUTE FUNCTION gantry_announce_change(%L)',
                   t[1] || '_announce', t[1], t[2]);
  END LOOP;
END
$$;

-- Steps and tasks renew leases, targets are observed and agents heartbeat all the time: of those
-- updates only the ones a page shows are announced.
CREATE TRIGGER step_runs_announce AFTER INSERT OR DELETE ON step_runs
  FOR EACH ROW EXECUTE FUNCTION gantry_announce_change('step_run');
CREATE TRIGGER step_runs_announce_update AFTER UPDATE ON step_runs
  FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.attempt_number IS DISTINCT FROM NEW.attempt_number)
  EXECUTE FUNCTION gantry_announce_change('step_run');
CREATE TRIGGER deployment_tasks_announce AFTER INSERT OR DELETE ON deployment_tasks
  FOR EACH ROW EXECUTE FUNCTION gantry_announce_change('deployment_task');
CREATE TRIGGER deployment_tasks_announce_update AFTER UPDATE ON deployment_tasks
  FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.waiting_reason IS DISTINCT FROM NEW.waiting_reason
    OR OLD.attempt IS DISTINCT FROM NEW.attempt)
  EXECUTE FUNCTION gantry_announce_change('deployment_task');
CREATE TRIGGER targets_announce AFTER INSERT OR DELETE ON targets
  FOR EACH ROW EXECUTE FUNCTION gantry_announce_change('target');
CREATE TRIGGER targets_announce_update AFTER UPDATE ON targets
  FOR EACH ROW WHEN (OLD.name IS DISTINCT FROM NEW.name OR OLD.environment_id IS DISTINCT FROM NEW.environment_id
    OR OLD.labels IS DISTINCT FROM NEW.labels OR OLD.connection IS DISTINCT FROM NEW.connection
    OR OLD.health_status IS DISTINCT FROM NEW.health_status OR OLD.current_release_id IS DISTINCT FROM NEW.current_release_id
    OR OLD.current_digest IS DISTINCT FROM NEW.current_digest OR OLD.drift_detected IS DISTINCT FROM NEW.drift_detected
    OR OLD.drift IS DISTINCT FROM NEW.drift OR (OLD.observed ->> 'error') IS DISTINCT FROM (NEW.observed ->> 'error')
    OR (OLD.observed_at IS NULL) <> (NEW.observed_at IS NULL))
  EXECUTE FUNCTION gantry_announce_change('target');
CREATE TRIGGER agents_announce AFTER INSERT OR DELETE ON agents
  FOR EACH ROW EXECUTE FUNCTION gantry_announce_change('agent');
CREATE TRIGGER agents_announce_update AFTER UPDATE ON agents
  FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.revoked_at IS DISTINCT FROM NEW.revoked_at
    OR OLD.version IS DISTINCT FROM NEW.version OR OLD.capabilities IS DISTINCT FROM NEW.capabilities)
  EXECUTE FUNCTION gantry_announce_change('agent');
