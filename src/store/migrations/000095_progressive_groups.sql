-- Progressive delivery without a router: a rollout's two variations as target groups. The targets of the
-- environment matching a label selector (frozen in name order at the start) are split by stage: the
-- first ceil(weight% × N) run the candidate, the rest the stable release; each stage change is one
-- deployment job restricted to the targets that change sides.
ALTER TABLE progressive_rollouts
  ADD COLUMN mode text NOT NULL DEFAULT 'router' CHECK (mode IN ('router', 'targets')),
  ADD COLUMN target_selector jsonb CHECK (jsonb_typeof(target_selector) = 'object'),
  ADD COLUMN group_targets uuid[],
  ALTER COLUMN router_target_id DROP NOT NULL,
  ALTER COLUMN router DROP NOT NULL,
  ADD CONSTRAINT progressive_rollouts_deploy_job_fk FOREIGN KEY (deploy_job_id) REFERENCES deployment_jobs (id),
  ADD CONSTRAINT progressive_rollouts_mode_fields CHECK (
    CASE mode
      WHEN 'router' THEN router_target_id IS NOT NULL AND router IS NOT NULL AND group_targets IS NULL
      ELSE router_target_id IS NULL AND router IS NULL AND target_selector IS NOT NULL AND group_targets IS NOT NULL
    END);

-- The deployment job a stage change started (target groups), for the rollout's history.
ALTER TABLE progressive_steps ADD COLUMN job_id uuid REFERENCES deployment_jobs (id);
