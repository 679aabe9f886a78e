// Rollouts as target groups (no router): the two variations run side by side on the environment's targets
// that match a label selector, frozen in name order at the start. At a stage of weight w the first
// ceil(w% × N) targets run the candidate and the rest the stable release. A stage change deploys the
// candidate to the targets that enter the candidate set (or the stable release back to those that leave
// it) as one deployment job restricted to exactly them; the rollout waits for that job as it would for a
// router's report.
import { GantryError } from '../core/errors.js';
import { createJob } from '../deployments/create.js';
import type { Tx } from '../store/db.js';
import { candidateTargets, type VariationRow } from './split.js';

interface GroupTarget {
  id: string;
  name: string;
  current_release_id: string | null;
}

/** The group at the start: the environment's targets (within its own selector) that have the labels, in name order. */
export async function resolveGroup(
  tx: Tx,
  env: { id: string; name: string; config: { targetSelector?: Record<string, string> } },
  selector: Record<string, string>,
): Promise<string[]> {
  const r = await tx.query<{ id: string }>(
    `SELECT id FROM targets WHERE environment_id = $1 AND labels @> $2::jsonb AND labels @> $3::jsonb ORDER BY name, id`,
    [env.id, JSON.stringify(env.config.targetSelector ?? {}), JSON.stringify(selector)],
  );
  if (r.rows.length === 0) {
    throw new GantryError(
      'no_targets',
      422,
      `Environment "${env.name}" has no targets with labels ${JSON.stringify(selector)}; the target group would be empty.`,
    );
  }
  return r.rows.map((x) => x.id);
}

/** The group's targets as they are now, in the group's order (a target deleted since the start drops out). */
async function groupTargets(tx: Tx, ids: string[]): Promise<GroupTarget[]> {
  const r = await tx.query<GroupTarget>(`SELECT id, name, current_release_id FROM targets WHERE id = ANY($1::uuid[])`, [ids]);
  const byId = new Map(r.rows.map((t) => [t.id, t]));
  return ids.flatMap((id) => byId.get(id) ?? []);
}

/** Which of the group's targets run which variation at a weight (names). */
export async function groupSplit(tx: Tx, ids: string[], weight: number): Promise<{ candidate: string[]; stable: string[] }> {
  const group = await groupTargets(tx, ids);
  const n = candidateTargets(group, weight).length;
  return { candidate: group.slice(0, n).map((t) => t.name), stable: group.slice(n).map((t) => t.name) };
}

export interface GroupChange {
  /** The job that moves the targets, or null when no target changes sides. */
  jobId: string | null;
  /** The targets (names) that run each variation once the job succeeded. */
  targets: { candidate: string[]; stable: string[] };
  /** The targets (names) the job deploys to. */
  moved: string[];
}

/**
 * Starts the deployment job of a stage change in the caller's transaction. Forward (start, advance,
 * promote): the candidate goes to the targets of the new candidate set that do not run it yet. Back
 * (rollback, abort): the stable release goes to the targets of the current set and to any other that runs
 * the candidate. A target a failed job left half-way is thus retried by the next stage change.
 */
export async function startGroupChange(
  tx: Tx,
  row: { tenant_id: string; environment_id: string; group_targets: string[]; variations: VariationRow[]; weight: number },
  to: { back: boolean; weight: number },
  createdBy: string | null,
): Promise<GroupChange> {
  const [stable, candidate] = row.variations as [VariationRow, VariationRow];
  const group = await groupTargets(tx, row.group_targets);
  const wanted = candidateTargets(group, to.back ? 0 : to.weight);
  const runsCandidate = (t: GroupTarget) => t.current_release_id === candidate.release.id;
  let moving: GroupTarget[];
  if (to.back) {
    const current = new Set(candidateTargets(group, row.weight).map((t) => t.id));
    moving = group.filter((t) => current.has(t.id) || runsCandidate(t));
  } else {
    moving = wanted.filter((t) => !runsCandidate(t));
  }
  const targets = { candidate: wanted.map((t) => t.name), stable: group.slice(wanted.length).map((t) => t.name) };
  if (moving.length === 0) return { jobId: null, targets, moved: [] };
  const jobId = await createJob(tx, {
    tenantId: row.tenant_id,
    releaseRef: (to.back ? stable : candidate).release.id,
    environmentRef: row.environment_id,
    promotionId: null,
    createdBy,
    onlyTargets: new Set(moving.map((t) => t.id)),
  });
  return { jobId, targets, moved: moving.map((t) => t.name) };
}

export interface JobState {
  id: string;
  status: string;
  error: string | null;
  completed_at: Date | null;
}

export async function loadJob(tx: Tx, id: string): Promise<JobState | null> {
  const r = await tx.query<JobState>(`SELECT id, status, error, completed_at FROM deployment_jobs WHERE id = $1`, [id]);
  return r.rows[0] ?? null;
}
