-- Proof of convergence and control semantics.
-- deployment_tasks.observed: what the runner observed on the target after the change, per container
-- (component, container name and id, image, digest, running, health result, observed time), from the
-- task's report; it goes into the job's evidence packet per target.
-- deployment_tasks.action: 'remove' for the rollback of a target's first-ever deployment (the runner
-- takes away what Gantry created there instead of deploying).
-- deployment_jobs.acknowledged_failures: failed tasks acknowledged by resuming a job paused after
-- failures (failureBehavior pause); they no longer count toward maxFailures.
ALTER TABLE deployment_tasks
  ADD COLUMN observed jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(observed) = 'array'),
  ADD COLUMN action   text NOT NULL DEFAULT 'deploy' CHECK (action IN ('deploy', 'remove'));
ALTER TABLE deployment_jobs
  ADD COLUMN acknowledged_failures integer NOT NULL DEFAULT 0 CHECK (acknowledged_failures >= 0);
