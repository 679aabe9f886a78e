-- deployment_tasks.changed_in: the transaction that last wrote the task. A job's page polls only the tasks
-- changed since its previous answer (GET /api/v1/deployments/{id}/tasks?changedSince=…). Each answer carries
-- the oldest transaction still running when it was read (pg_snapshot_xmin); every write that answer could not
-- see comes from a transaction at or above it, so asking for changed_in >= that value misses no change, however
-- the writers' commits interleave (a task already seen may come again).
ALTER TABLE deployment_tasks ADD COLUMN changed_in xid8 NOT NULL DEFAULT pg_current_xact_id();

CREATE FUNCTION gantry_task_changed() RETURNS trigger
  LANGUAGE plpgsql AS
$$ BEGIN
  NEW.changed_in := pg_current_xact_id();
  RETURN NEW;
END $$;

CREATE TRIGGER deployment_tasks_changed BEFORE UPDATE ON deployment_tasks
  FOR EACH ROW EXECUTE FUNCTION gantry_task_changed();
