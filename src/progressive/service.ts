// Progressive rollouts: create one (the stable variation serves everything, the first stage's split is
// queued for the router target's agent), read them, and the operator's decisions (advance, promote,
// roll back, abort). Every stage change commits in one transaction with its step, its traffic change and
// its `ab_promotion` evidence packet.

import type { z } from 'zod';
import type { Clock } from '../core/clock.js';
import { ConflictError, NotFoundError, ValidationError } from '../core/errors.js';
import type { TrafficRouterConfig } from '../deployments/traffic.js';
import { appendPacket, type Signer } from '../evidence/service.js';
import type { Outbound } from '../http/outbound.js';
import type { AuthContext } from '../http/types.js';
import type { Tx } from '../store/db.js';
import type { AnalysisResult, AnalysisSpec } from './analysis-model.js';
import { FINAL_STATUSES, type Rollout, type RolloutCreate, type RolloutStatus, type rolloutListQuery, type Stage } from './model.js';
import { defaultStages, finalSplit, type SplitOptions, stageSplit, type VariationRow } from './split.js';
import { queueChange } from './traffic-queue.js';

export interface ProgressiveDeps {
  signer: Signer;
  clock: Clock;
  outbound: Outbound;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const byRef = (ref: string) => (UUID_RE.test(ref) ? 'id = $1::uuid' : 'name = $1');

export interface RolloutRow {
  id: string;
  tenant_id: string;
  name: string;
  kind: 'ab' | 'canary';
  environment_id: string;
  env_name: string;
  router_target_id: string;
  target_name: string;
  router: TrafficRouterConfig;
  variations: VariationRow[];
  options: SplitOptions;
  stages: Stage[];
  analysis: AnalysisSpec | null;
  status: RolloutStatus;
  status_reason: string | null;
  current_stage: number;
  weight: number;
  stage_started_at: Date | null;
  next_check_at: Date | null;
  inconclusive: number;
  created_at: Date;
  completed_at: Date | null;
}

export const ROW_SQL = `SELECT r.*, e.name AS env_name, g.name AS target_name
                   FROM progressive_rollouts r JOIN environments e ON e.id = r.environment_id JOIN targets g ON g.id = r.router_target_id`;

export async function loadRollout(tx: Tx, id: string, lock = false): Promise<RolloutRow> {
  const r = await tx.query<RolloutRow>(`${ROW_SQL} WHERE r.id = $1${lock ? ' FOR UPDATE OF r' : ''}`, [id]);
  if (!r.rows[0]) throw new NotFoundError('Rollout', id);
  return r.rows[0];
}

/** Who decided: a person, or Gantry on a rollout's own rule (the analysis, a hold that ended). */
export type Actor = { user: AuthContext } | { system: 'analysis' | 'schedule' };
const actorText = (a: Actor) => ('user' in a ? `user:${a.user.username}` : a.system);

export interface Transition {
  action: 'start' | 'advance' | 'promote' | 'rollback' | 'abort';
  stage: number;
  weight: number;
  status: RolloutStatus;
  actor: Actor;
  reason: string;
  analysis?: AnalysisResult | null;
}

/** Applies a stage change: the row, the traffic change, the step and the signed packet, in the caller's transaction. */
export async function transition(tx: Tx, deps: ProgressiveDeps, row: RolloutRow, t: Transition): Promise<void> {
  const [stable, candidate] = row.variations as [VariationRow, VariationRow];
  const final = t.action === 'promote' ? candidate : t.action === 'rollback' || t.action === 'abort' ? stable : null;
  const split = final ? finalSplit(final) : stageSplit(row.variations, t.weight, row.options);
  const mode = final || t.action === 'start' ? 'configure' : 'shift';
  await queueChange(tx, { tenantId: row.tenant_id, rolloutId: row.id, targetId: row.router_target_id }, row.router, split, mode);
  const now = deps.clock.now();
  await tx.query(
    `UPDATE progressive_rollouts SET status = $2, status_reason = $3, current_stage = $4, weight = $5, stage_started_at = NULL,
            next_check_at = $6, inconclusive = 0, updated_at = $6 WHERE id = $1`,
    [row.id, t.status, t.reason || null, t.stage, t.weight, now],
  );
  const releases = await tx.query<{ id: string; name: string; components: unknown }>(
    `SELECT id, name, components FROM releases WHERE id = ANY($1::uuid[])`,
    [row.variations.map((v) => v.release.id)],
  );
  const packet = await appendPacket(tx, deps.signer, {
    tenantId: row.tenant_id,
    promotionId: null,
    packetType: 'ab_promotion',
    content: {
      rollout: { id: row.id, name: row.name, kind: row.kind },
      environment: { id: row.environment_id, name: row.env_name },
      router: { type: row.router.type, target: { id: row.router_target_id, name: row.target_name }, route: row.router.route },
      variations: row.variations.map((v) => ({
        name: v.name,
        servers: v.servers,
        release: releases.rows.find((x) => x.id === v.release.id) ?? v.release,
      })),
      action: t.action,
      from: { stage: row.current_stage, weight: row.weight, status: row.status },
      to: { stage: t.stage, weight: t.weight, status: t.status },
      split,
      actor:
        'user' in t.actor
          ? { id: t.actor.user.userId, username: t.actor.user.username, roles: t.actor.user.roles }
          : { system: t.actor.system },
      reason: t.reason,
      analysis: t.analysis ?? null,
      at: now.toISOString(),
    },
  });
  await addStep(tx, row, {
    action: t.action,
    stage: t.stage,
    weight: t.weight,
    actor: actorText(t.actor),
    reason: t.reason,
    analysis: t.analysis ?? null,
    evidenceId: packet.id,
  });
}

export async function addStep(
  tx: Tx,
  row: RolloutRow,
  s: {
    action: string;
    stage: number;
    weight: number;
    actor: string;
    reason: string;
    analysis: AnalysisResult | null;
    evidenceId: string | null;
  },
): Promise<void> {
  await tx.query(
    `INSERT INTO progressive_steps (tenant_id, rollout_id, action, stage, weight, actor, reason, analysis, evidence_id)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9)`,
    [row.tenant_id, row.id, s.action, s.stage, s.weight, s.actor, s.reason, s.analysis ? JSON.stringify(s.analysis) : null, s.evidenceId],
  );
}

export async function createRollout(tx: Tx, auth: AuthContext, body: RolloutCreate, deps: ProgressiveDeps): Promise<string> {
  const stages = body.stages ?? defaultStages(body.kind);
  if (body.kind === 'canary' && !body.analysis) {
    throw new ValidationError(
      'A canary is judged by its analysis: give "analysis" (a Prometheus source and the metrics with their thresholds).',
      [{ path: 'body.analysis', message: 'required for kind canary' }],
    );
  }
  for (const [i, s] of stages.entries()) {
    if (i > 0 && s.weight < stages[i - 1]!.weight) {
      throw new ValidationError(
        `Stage ${i + 1} gives the candidate less traffic (${s.weight}%) than stage ${i} (${stages[i - 1]!.weight}%); stages only move forward.`,
        [{ path: `body.stages.${i}.weight`, message: 'must not decrease' }],
      );
    }
  }
  if (body.header && !body.variations.some((v) => v.name === body.header!.variation)) {
    throw new ValidationError(`header.variation "${body.header.variation}" is not one of the variations.`, [
      { path: 'body.header.variation', message: 'unknown variation' },
    ]);
  }
  if (body.variations[0]!.name === body.variations[1]!.name) {
    throw new ValidationError('The two variations need different names.', [{ path: 'body.variations', message: 'duplicate name' }]);
  }
  if (body.analysis) deps.outbound.checkUrl(body.analysis.source.url, 'body.analysis.source.url');
  const env = await tx.query<{ id: string }>(`SELECT id FROM environments WHERE ${byRef(body.environment)}`, [body.environment]);
  if (!env.rows[0]) throw new NotFoundError('Environment', body.environment);
  const target = await tx.query<{ id: string; environment_id: string }>(
    `SELECT id, environment_id FROM targets WHERE ${byRef(body.routerTarget)}`,
    [body.routerTarget],
  );
  if (!target.rows[0]) throw new NotFoundError('Target', body.routerTarget);
  const variations: VariationRow[] = [];
  for (const v of body.variations) {
    const rel = await tx.query<{ id: string; name: string; status: string }>(
      `SELECT id, name, status FROM releases WHERE ${byRef(v.release)}`,
      [v.release],
    );
    if (!rel.rows[0]) throw new NotFoundError('Release', v.release);
    variations.push({ name: v.name, release: { id: rel.rows[0].id, name: rel.rows[0].name }, servers: v.servers });
  }
  const options: SplitOptions = { ...(body.header ? { header: body.header } : {}), ...(body.sticky ? { sticky: body.sticky } : {}) };
  let id: string;
  try {
    const ins = await tx.query<{ id: string }>(
      `INSERT INTO progressive_rollouts (tenant_id, name, kind, environment_id, router_target_id, router, variations, options, stages, analysis, status, created_by)
       VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb, $8::jsonb, $9::jsonb, $10::jsonb, 'running', $11) RETURNING id`,
      [
        auth.tenantId,
        body.name,
        body.kind,
        env.rows[0].id,
        target.rows[0].id,
        JSON.stringify({ ...body.router, route: body.router.route ?? body.name }),
        JSON.stringify(variations),
        JSON.stringify(options),
        JSON.stringify(stages),
        body.analysis ? JSON.stringify(body.analysis) : null,
        auth.userId,
      ],
    );
    id = ins.rows[0]!.id;
  } catch (err) {
    if ((err as { code?: string }).code === '23505') {
      throw new ConflictError(
        `A rollout named "${body.name}" is still running; finish it (promote, rollback or abort) or pick another name.`,
        'rollout_exists',
      );
    }
    throw err;
  }
  const row = await loadRollout(tx, id, true);
  await transition(tx, deps, row, {
    action: 'start',
    stage: 0,
    weight: stages[0]!.weight,
    status: 'running',
    actor: { user: auth },
    reason: body.reason,
  });
  return id;
}

/** An operator's decision on a rollout. */
export async function decide(
  tx: Tx,
  auth: AuthContext,
  id: string,
  action: 'advance' | 'promote' | 'rollback' | 'abort',
  reason: string,
  deps: ProgressiveDeps,
): Promise<void> {
  const row = await loadRollout(tx, id, true);
  if (FINAL_STATUSES.includes(row.status)) {
    throw new ConflictError(`Rollout "${row.name}" has ended (${row.status}); start a new one.`, 'rollout_ended');
  }
  const actor: Actor = { user: auth };
  if (action === 'rollback' || action === 'abort') {
    if (row.status === 'rolling_back') throw new ConflictError(`Rollout "${row.name}" is already rolling back.`, 'rollout_rolling_back');
    await transition(tx, deps, row, { action, stage: row.current_stage, weight: 0, status: 'rolling_back', actor, reason });
    return;
  }
  if (row.status === 'promoting' || row.status === 'rolling_back') {
    throw new ConflictError(`Rollout "${row.name}" is ${row.status.replace('_', ' ')}; wait for the router to apply it.`, 'rollout_busy');
  }
  await advanceOrPromote(tx, deps, row, action === 'promote', actor, reason, null);
}

/** The next stage, or the promotion of the candidate after the last one (or when asked to). */
export async function advanceOrPromote(
  tx: Tx,
  deps: ProgressiveDeps,
  row: RolloutRow,
  promote: boolean,
  actor: Actor,
  reason: string,
  analysis: AnalysisResult | null,
): Promise<void> {
  const next = row.current_stage + 1;
  if (promote || next >= row.stages.length) {
    await transition(tx, deps, row, {
      action: 'promote',
      stage: row.current_stage,
      weight: 100,
      status: 'promoting',
      actor,
      reason,
      analysis,
    });
    return;
  }
  await transition(tx, deps, row, {
    action: 'advance',
    stage: next,
    weight: row.stages[next]!.weight,
    status: 'running',
    actor,
    reason,
    analysis,
  });
}

export interface ChangeRow {
  id: string;
  status: string;
  split: Record<string, unknown>;
  distribution: Record<string, number> | null;
  error: string | null;
  created_at: Date;
  applied_at: Date | null;
}

export async function latestChange(tx: Tx, rolloutId: string): Promise<ChangeRow | null> {
  const r = await tx.query<ChangeRow>(
    `SELECT id, status, split, distribution, error, created_at, applied_at FROM traffic_changes
      WHERE rollout_id = $1 AND status <> 'superseded' ORDER BY id DESC LIMIT 1`,
    [rolloutId],
  );
  return r.rows[0] ?? null;
}
