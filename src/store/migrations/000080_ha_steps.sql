-- A step attempt that failed because the database connection broke (PostgreSQL restarting, failing
-- over) is recorded as error_kind 'transient': the engine queues another attempt with backoff and does
-- not count it against the node's retry policy, so a database restart never fails a run by itself.
ALTER TABLE step_runs
  DROP CONSTRAINT step_runs_error_kind_check,
  ADD CONSTRAINT step_runs_error_kind_check
    CHECK (error_kind IN ('error', 'timeout', 'lease_expired', 'cancelled', 'invalid_input', 'transient'));
