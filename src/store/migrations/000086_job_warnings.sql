-- What an operator should know before a job starts, computed when it is created (or when a queued job
-- starts): e.g. targets that cannot switch without downtime (no router, or one port for both colours).
ALTER TABLE deployment_jobs ADD COLUMN warnings text[] NOT NULL DEFAULT '{}';
