-- Canary verification between waves: after a wave's tasks all succeeded and verifySeconds > 0, the job
-- waits (paused_reason 'verify') until verify_until while the scheduler watches the wave's targets'
-- health; verified_batch is the last batch whose verification ended, verification the record of each.
ALTER TABLE deployment_jobs
  DROP CONSTRAINT deployment_jobs_paused_reason_check,
  ADD CONSTRAINT deployment_jobs_paused_reason_check CHECK (paused_reason IN ('failure', 'approval', 'verify')),
  ADD COLUMN verify_started_at timestamptz,
  ADD COLUMN verify_until      timestamptz,
  ADD COLUMN verified_batch    integer NOT NULL DEFAULT -1,
  ADD COLUMN verification      jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(verification) = 'array');
CREATE INDEX deployment_jobs_verifying_idx ON deployment_jobs (id) WHERE status = 'running' AND paused_reason = 'verify';
