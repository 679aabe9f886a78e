// Progressive rollouts: create one (the stable variation serves everything; behind a router the first
// stage's split is queued for the router target's agent, as target groups the first stage's deployment job
// starts) and the operator's decisions (advance, promote, roll back, abort). Every stage change commits in
// one transaction with its step, its traffic change or deployment job, and its `ab_promotion` evidence packet.

import type { Clock } from '../core/clock.js';
import { ConflictError, NotFoundError, ValidationError } from '../core/errors.js';
import { UUID_RE } from '../core/ids.js';
import { loadEnvironment, loadRelease } from '../deployments/plan.js';
import { appendPacket, type Signer } from '../evidence/service.js';
import type { Outbound } from '../http/outbound.js';
import type { AuthContext } from '../http/types.js';
import type { TrafficRouterConfig } from '../protocol/traffic.js';
import type { Tx } from '../store/db.js';
import type { AnalysisResult, AnalysisSpec } from './analysis-model.js';
import { resolveGroup, startGroupChange } from './groups.js';
import { FINAL_STATUSES, type RolloutCreate, type RolloutStatus, type Stage } from './model.js';
import { checkSpec } from './spec.js';
import { defaultStages, finalSplit, type SplitOptions, stageSplit, type VariationRow } from './split.js';
import { queueChange } from './traffic-queue.js';

export interface ProgressiveDeps {
  signer: Signer;
  clock: Clock;
  outbound: Outbound;
}

const byRef = (ref: string) => (UUID_RE.test(ref) ? 'id = $1::uuid' : 'name = $1');

export interface RolloutRow {
  id: string;
  tenant_id: string;
  name: string;
  kind: 'ab' | 'canary';
  environment_id: string;
  env_name: string;
  mode: 'router' | 'targets';
  /** Behind a router: the target whose agent applies the splits, and the router. */
  router_target_id: string | null;
  target_name: string | null;
  router: TrafficRouterConfig | null;
  /** Target groups: the label selector and the group's target ids (frozen in name order at the start). */
  target_selector: Record<string, string> | null;
  group_targets: string[] | null;
  /** Target groups: the job of the latest stage change (null when it moved no target). */
  deploy_job_id: string | null;
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
                   FROM progressive_rollouts r JOIN environments e ON e.id = r.environment_id LEFT JOIN targets g ON g.id = r.router_target_id`;

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

/**
 * Applies a stage change in the caller's transaction: the row, the traffic change (behind a router) or the
 * deployment job (target groups), the step and the signed packet.
 */
export async function transition(tx: Tx, deps: ProgressiveDeps, row: RolloutRow, t: Transition): Promise<void> {
  const [stable, candidate] = row.variations as [VariationRow, VariationRow];
  const back = t.action === 'rollback' || t.action === 'abort';
  let placement: Record<string, unknown>;
  let jobId: string | null = null;
  if (row.mode === 'targets') {
    const change = await startGroupChange(
      tx,
      { ...row, group_targets: row.group_targets ?? [] },
      { back, weight: t.weight },
      'user' in t.actor ? t.actor.user.userId : null,
    );
    jobId = change.jobId;
    placement = { targets: change.targets, job: jobId ? { id: jobId, deploys: change.moved } : null };
  } else {
    const router = row.router!;
    const final = t.action === 'promote' ? candidate : back ? stable : null;
    const split = final ? finalSplit(final) : stageSplit(row.variations, t.weight, row.options);
    const mode = final || t.action === 'start' ? 'configure' : 'shift';
    await queueChange(tx, { tenantId: row.tenant_id, rolloutId: row.id, targetId: row.router_target_id! }, router, split, mode);
    placement = { router: { type: router.type, target: { id: row.router_target_id, name: row.target_name }, route: router.route }, split };
  }
  const now = deps.clock.now();
  await tx.query(
    `UPDATE progressive_rollouts SET status = $2, status_reason = $3, current_stage = $4, weight = $5, stage_started_at = NULL,
            next_check_at = $6, inconclusive = 0, deploy_job_id = $7, updated_at = $6 WHERE id = $1`,
    [row.id, t.status, t.reason || null, t.stage, t.weight, now, jobId],
  );
  const releases = await tx.query<{ id: string; name: string; components: unknown }>(
    `SELECT id, name, components FROM releases WHERE id = ANY($1::uuid[])`,
    [row.variations.map((v) => v.release.id)],
  );
  const { split, ...where } = placement;
  const packet = await appendPacket(tx, deps.signer, {
    tenantId: row.tenant_id,
    promotionId: null,
    packetType: 'ab_promotion',
    content: {
      rollout: { id: row.id, name: row.name, kind: row.kind },
      environment: { id: row.environment_id, name: row.env_name },
      ...where,
      variations: row.variations.map((v) => ({
        name: v.name,
        ...(row.mode === 'router' ? { servers: v.servers } : {}),
        release: releases.rows.find((x) => x.id === v.release.id) ?? v.release,
      })),
      action: t.action,
      from: { stage: row.current_stage, weight: row.weight, status: row.status },
      to: { stage: t.stage, weight: t.weight, status: t.status },
      ...(split ? { split } : {}),
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
    jobId,
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
    jobId?: string | null;
  },
): Promise<void> {
  await tx.query(
    `INSERT INTO progressive_steps (tenant_id, rollout_id, action, stage, weight, actor, reason, analysis, evidence_id, job_id)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9, $10)`,
    [
      row.tenant_id,
      row.id,
      s.action,
      s.stage,
      s.weight,
      s.actor,
      s.reason,
      s.analysis ? JSON.stringify(s.analysis) : null,
      s.evidenceId,
      s.jobId ?? null,
    ],
  );
}

/**
 * The route a rollout's name gives when its router names none: route names are shorter and stricter than
 * rollout names (lower-case letters, digits and dashes, starting with a letter, at most 40).
 */
export function routeOf(name: string): string {
  const r = name
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^[^a-z]+/, '')
    .slice(0, 40)
    .replace(/-+$/, '');
  return r || 'route';
}

export async function createRollout(tx: Tx, auth: AuthContext, body: RolloutCreate, deps: ProgressiveDeps): Promise<string> {
  const stages = body.stages ?? defaultStages(body.kind);
  checkSpec(body, stages);
  if (body.analysis) deps.outbound.checkUrl(body.analysis.source.url, 'body.analysis.source.url');
  const env = await loadEnvironment(tx, auth.tenantId, body.environment);
  let routerTargetId: string | null = null;
  let group: string[] | null = null;
  if (body.targets) {
    group = await resolveGroup(tx, env, body.targets.selector);
  } else {
    const target = await tx.query<{ id: string }>(`SELECT id FROM targets WHERE ${byRef(body.routerTarget!)}`, [body.routerTarget!]);
    if (!target.rows[0]) throw new NotFoundError('Target', body.routerTarget!);
    routerTargetId = target.rows[0].id;
  }
  const variations: VariationRow[] = [];
  for (const v of body.variations) {
    const rel = await loadRelease(tx, auth.tenantId, v.release);
    variations.push({ name: v.name, release: { id: rel.id, name: rel.name }, servers: v.servers ?? [] });
  }
  if (group && variations[0]!.release.id === variations[1]!.release.id) {
    throw new ValidationError('As target groups the two variations need different releases (each target runs one or the other).', [
      { path: 'body.variations', message: 'same release' },
    ]);
  }
  const options: SplitOptions = { ...(body.header ? { header: body.header } : {}), ...(body.sticky ? { sticky: body.sticky } : {}) };
  let id: string;
  try {
    const ins = await tx.query<{ id: string }>(
      `INSERT INTO progressive_rollouts (tenant_id, name, kind, environment_id, mode, router_target_id, router, target_selector, group_targets,
                                         variations, options, stages, analysis, status, created_by)
       VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8::jsonb, $9::uuid[], $10::jsonb, $11::jsonb, $12::jsonb, $13::jsonb, 'running', $14)
       RETURNING id`,
      [
        auth.tenantId,
        body.name,
        body.kind,
        env.id,
        group ? 'targets' : 'router',
        routerTargetId,
        body.router ? JSON.stringify({ ...body.router, route: body.router.route ?? routeOf(body.name) }) : null,
        body.targets ? JSON.stringify(body.targets.selector) : null,
        group,
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
    const what = row.mode === 'targets' ? 'its deployment to finish' : 'the router to apply it';
    throw new ConflictError(`Rollout "${row.name}" is ${row.status.replace('_', ' ')}; wait for ${what}.`, 'rollout_busy');
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
