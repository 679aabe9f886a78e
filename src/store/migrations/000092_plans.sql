-- Deployment plans: what a deployment will do, computed before approval (src/deployments/plan.ts).
-- A job records the plan it executes; a promotion the plan its approvals are for; an approval the hash
-- of the plan its approver saw, so a changed plan needs new approvals (one per person and plan).
ALTER TABLE deployment_jobs
  ADD COLUMN plan      jsonb,
  ADD COLUMN plan_hash text;

ALTER TABLE promotions
  ADD COLUMN plan         jsonb,
  ADD COLUMN plan_hash    text,
  ADD COLUMN plan_changes jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(plan_changes) = 'array');

ALTER TABLE approvals ADD COLUMN plan_hash text;
ALTER TABLE approvals DROP CONSTRAINT approvals_promotion_id_approver_id_key;
CREATE UNIQUE INDEX approvals_once_per_plan ON approvals (promotion_id, approver_id, (coalesce(plan_hash, '')));
