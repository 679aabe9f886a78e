-- Work for agents: whenever a deployment task becomes leasable (queued, re-queued after an expired lease
-- or a restarted agent, or a slot freed under a job's maxConcurrent), a job releases work (started, next
-- batch, resumed) or a traffic change is queued or settles, the tenant is announced on gantry_work.
-- Waiting lease requests (long polls) of that tenant wake and lease; every server replica LISTENs, so the
-- one holding the agent's request wakes it. The payload is only the tenant id: PostgreSQL folds identical
-- notifications of one transaction into one, so a job of 5,000 tasks announces once, at commit.
CREATE FUNCTION gantry_announce_work() RETURNS trigger
  LANGUAGE plpgsql AS
$$ BEGIN
  -- A task that ends frees a slot only for a job that limits how many run at once.
  -- (Nested: NEW.job_id exists only on deployment_tasks, and plpgsql plans the whole condition.)
  IF TG_TABLE_NAME = 'deployment_tasks' THEN
    IF NEW.status <> 'pending'
       AND NOT EXISTS (SELECT 1 FROM deployment_jobs j WHERE j.id = NEW.job_id AND j.strategy_config ? 'maxConcurrent') THEN
      RETURN NULL;
    END IF;
  END IF;
  PERFORM pg_notify('gantry_work', NEW.tenant_id::text);
  RETURN NULL;
END $$;

CREATE TRIGGER deployment_tasks_work_insert AFTER INSERT ON deployment_tasks
  FOR EACH ROW WHEN (NEW.status = 'pending') EXECUTE FUNCTION gantry_announce_work();
CREATE TRIGGER deployment_tasks_work_update AFTER UPDATE OF status ON deployment_tasks
  FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status AND (NEW.status = 'pending'
    OR (OLD.status IN ('assigned', 'running') AND NEW.status NOT IN ('assigned', 'running'))))
  EXECUTE FUNCTION gantry_announce_work();
CREATE TRIGGER deployment_jobs_work_insert AFTER INSERT ON deployment_jobs
  FOR EACH ROW WHEN (NEW.status = 'running') EXECUTE FUNCTION gantry_announce_work();
CREATE TRIGGER deployment_jobs_work_update AFTER UPDATE ON deployment_jobs
  FOR EACH ROW WHEN (NEW.status = 'running' AND NEW.paused_reason IS NULL
    AND (OLD.status <> 'running' OR OLD.paused_reason IS NOT NULL OR OLD.current_batch <> NEW.current_batch))
  EXECUTE FUNCTION gantry_announce_work();
CREATE TRIGGER traffic_changes_work AFTER INSERT OR UPDATE OF status ON traffic_changes
  FOR EACH ROW EXECUTE FUNCTION gantry_announce_work();
