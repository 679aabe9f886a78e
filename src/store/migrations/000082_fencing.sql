-- Fencing tokens on task leases: every lease of a task takes the next token (per task, never reused) and
-- fenced_owner names the runner it was given to (kept after the lease ends, so a late report of that
-- runner can still land while nobody else took the task). Start, log batches and the report carry the
-- token; a request with a token that is not the task's current one is refused. The accepted report's
-- token and hash make a re-sent report (the agent retries until acknowledged) get the same answer.
ALTER TABLE deployment_tasks
  ADD COLUMN fencing_token  bigint NOT NULL DEFAULT 0 CHECK (fencing_token >= 0),
  ADD COLUMN fenced_owner   text,
  ADD COLUMN reported_token bigint,
  ADD COLUMN report_sha256  text CHECK (report_sha256 IS NULL OR report_sha256 ~ '^sha256:[0-9a-f]{64}$'),
  -- No silent waits: why a pending task of a released batch has no runner (no online agent with the
  -- target's type and pin), since when; the scheduler fails it after the wait timeout with that reason.
  ADD COLUMN waiting_reason text,
  ADD COLUMN waiting_since  timestamptz;
CREATE INDEX deployment_tasks_waiting_idx ON deployment_tasks (job_id) WHERE waiting_reason IS NOT NULL;
