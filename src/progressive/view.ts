// Rollouts as the API shows them: the split now, the stages, every step with its analysis and evidence,
// and the router's last report.
import type { z } from 'zod';
import type { Tx } from '../store/db.js';
import type { AnalysisResult } from './analysis-model.js';
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
  created_at: Date;
}

function toRollout(row: RolloutRow, steps: StepRow[], change: ChangeRow | null): Rollout {
  const iso = (d: Date | null) => (d ? d.toISOString() : null);
  const finalKeep = row.status === 'promoted' ? 1 : row.status === 'rolled_back' || row.status === 'aborted' ? 0 : -1;
  return {
    id: row.id,
    name: row.name,
    kind: row.kind,
    environment: { id: row.environment_id, name: row.env_name },
    routerTarget: { id: row.router_target_id, name: row.target_name },
    router: row.router as unknown as Record<string, unknown>,
    variations: row.variations.map((v, i) => ({
      ...v,
      weight: finalKeep >= 0 ? (i === finalKeep ? 100 : 0) : i === 0 ? 100 - row.weight : row.weight,
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
  };
}

export async function getRollout(tx: Tx, id: string): Promise<Rollout> {
  const row = await loadRollout(tx, id);
  const steps = await tx.query<StepRow>(
    `SELECT action, stage, weight, actor, reason, analysis, evidence_id, created_at FROM progressive_steps WHERE rollout_id = $1 ORDER BY created_at, id`,
    [id],
  );
  return toRollout(row, steps.rows, await latestChange(tx, id));
}

export async function listRollouts(tx: Tx, q: z.infer<typeof rolloutListQuery>) {
  const r = await tx.query<RolloutRow>(
    `${ROW_SQL} WHERE ($1::text IS NULL OR r.status = $1) AND ($2::text IS NULL OR e.name = $2 OR e.id::text = $2)
      ORDER BY r.created_at DESC LIMIT 200`,
    [q.status ?? null, q.environment ?? null],
  );
  return r.rows.map((row) => {
    const { steps: _s, traffic: _t, router: _r, analysis: _a, ...rest } = toRollout(row, [], null);
    return rest;
  });
}
