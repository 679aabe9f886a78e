// Rollouts as the API shows them: the split now, the stages, every step with its analysis and evidence,
// and the router's last report (behind a router) or which targets run which variation and the latest
// deployment job (target groups).
import type { z } from 'zod';
import type { Tx } from '../store/db.js';
import type { AnalysisResult } from './analysis-model.js';
import { groupSplit, type JobState, loadJob } from './groups.js';
import type { Rollout, rolloutListQuery } from './model.js';
import { type ChangeRow, latestChange, loadRollout, ROW_SQL, type RolloutRow } from './service.js';

interface StepRow {
  action: string;
  stage: number;
  weight: number;
  actor: string;
  reason: string;
  analysis: AnalysisResult | null;
  evidence_id: string | null;
  job_id: string | null;
  created_at: Date;
}

interface GroupView {
  split: { candidate: string[]; stable: string[] };
  job: JobState | null;
}

function toRollout(row: RolloutRow, steps: StepRow[], change: ChangeRow | null, group: GroupView | null): Rollout {
  const iso = (d: Date | null) => (d ? d.toISOString() : null);
  const finalKeep = row.status === 'promoted' ? 1 : row.status === 'rolled_back' || row.status === 'aborted' ? 0 : -1;
  return {
    id: row.id,
    name: row.name,
    kind: row.kind,
    environment: { id: row.environment_id, name: row.env_name },
    mode: row.mode,
    routerTarget: row.router_target_id ? { id: row.router_target_id, name: row.target_name ?? row.router_target_id } : null,
    router: row.router as unknown as Record<string, unknown> | null,
    targetSelector: row.target_selector,
    variations: row.variations.map((v, i) => ({
      ...v,
      weight: finalKeep >= 0 ? (i === finalKeep ? 100 : 0) : i === 0 ? 100 - row.weight : row.weight,
      ...(group ? { targets: i === 0 ? group.split.stable : group.split.candidate } : {}),
    })),
    header: row.options.header,
    sticky: row.options.sticky,
    stages: row.stages,
    analysis: row.analysis as unknown as Record<string, unknown> | null,
    status: row.status,
    statusReason: row.status_reason,
    currentStage: row.current_stage,
    weight: row.weight,
    stageStartedAt: iso(row.stage_started_at),
    nextCheckAt: iso(row.next_check_at),
    createdAt: row.created_at.toISOString(),
    completedAt: iso(row.completed_at),
    steps: steps.map((s) => ({
      action: s.action,
      stage: s.stage,
      weight: s.weight,
      actor: s.actor,
      reason: s.reason,
      analysis: s.analysis,
      evidenceId: s.evidence_id,
      jobId: s.job_id,
      at: s.created_at.toISOString(),
    })),
    traffic: change
      ? {
          id: change.id,
          status: change.status,
          split: change.split,
          distribution: change.distribution,
          error: change.error,
          createdAt: change.created_at.toISOString(),
          appliedAt: iso(change.applied_at),
        }
      : null,
    ...(group ? { job: group.job ? { id: group.job.id, status: group.job.status, error: group.job.error } : null } : {}),
  };
}

/** Target groups: who runs what at the current weight, and the latest job a stage change started. */
async function groupView(tx: Tx, row: RolloutRow, steps: StepRow[]): Promise<GroupView | null> {
  if (row.mode !== 'targets') return null;
  const jobId = steps.findLast((s) => s.job_id)?.job_id ?? null;
  return { split: await groupSplit(tx, row.group_targets ?? [], row.weight), job: jobId ? await loadJob(tx, jobId) : null };
}

export async function getRollout(tx: Tx, id: string): Promise<Rollout> {
  const row = await loadRollout(tx, id);
  const steps = await tx.query<StepRow>(
    `SELECT action, stage, weight, actor, reason, analysis, evidence_id, job_id, created_at FROM progressive_steps
      WHERE rollout_id = $1 ORDER BY created_at, id`,
    [id],
  );
  return toRollout(row, steps.rows, await latestChange(tx, id), await groupView(tx, row, steps.rows));
}

export async function listRollouts(tx: Tx, q: z.infer<typeof rolloutListQuery>) {
  const r = await tx.query<RolloutRow>(
    `${ROW_SQL} WHERE ($1::text IS NULL OR r.status = $1) AND ($2::text IS NULL OR e.name = $2 OR e.id::text = $2)
      ORDER BY r.created_at DESC LIMIT 200`,
    [q.status ?? null, q.environment ?? null],
  );
  return r.rows.map((row) => {
    const { steps: _s, traffic: _t, router: _r, analysis: _a, job: _j, ...rest } = toRollout(row, [], null, null);
    return rest;
  });
}
