// Promotions: request (starting the environment's promotion workflow), preview, read, approve, reject,
// cancel and emergency overrides. Every state change is one transaction with its evidence.
import type { z } from 'zod';
import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from '../core/errors.js';
import { type DeploymentPlan, planChanges } from '../deployments/plan.js';
import { endRun } from '../engine/index.js';
import { getEnvironment } from '../environments/service.js';
import { appendPacket } from '../evidence/service.js';
import { evaluateGates, type GateRegistry, gateRefs } from '../gates/registry.js';
import type { GateResult } from '../gates/types.js';
import { afterOf, toPage } from '../http/pagination.js';
import type { AuthContext, Role } from '../http/types.js';
import { getRelease } from '../releases/service.js';
import type { Tx } from '../store/db.js';
import { rolesText } from '../tenancy/auth.js';
import { cancelRun, deliverEventToLive, startRun } from '../workflows/service.js';
import {
  type ApprovalRow,
  buildContext,
  contextFor,
  fullPlans,
  type PromotionRow,
  planNow,
  planRows,
  previousEnvironment,
} from './context.js';
import { type DecideDeps, decideAtRequest } from './decide.js';
import { recordDecision, recordWaiting, type Signer } from './decision.js';
import { ACTIVE_STATUSES, type overrideBody, type Promotion, type promotionCreate, type promotionListQuery } from './model.js';
import { explain } from './why.js';

const SELECT = `SELECT p.*, r.name AS release_name, se.name AS source_name, te.name AS target_name, u.username AS requester,
  ARRAY(SELECT j.id FROM deployment_jobs j WHERE j.promotion_id = p.id ORDER BY j.id) AS deployment_job_ids
  FROM promotions p JOIN releases r ON r.id = p.release_id JOIN environments te ON te.id = p.target_environment_id
  LEFT JOIN environments se ON se.id = p.source_environment_id JOIN users u ON u.id = p.requested_by`;

type Row = PromotionRow & {
  plan: DeploymentPlan | null;
  plan_hash: string | null;
  plan_changes: { at: string; from: string; to: string; changes: string[] }[];
  release_name: string;
  source_name: string | null;
  target_name: string;
  requester: string;
  deployment_job_ids: string[];
};
const iso = (d: Date | null) => (d ? d.toISOString() : null);

export const promotionOut = (r: Row): Promotion => ({
  id: r.id,
  releaseId: r.release_id,
  releaseName: r.release_name,
  sourceEnvironmentId: r.source_environment_id,
  sourceEnvironmentName: r.source_name,
  targetEnvironmentId: r.target_environment_id,
  targetEnvironmentName: r.target_name,
  status: r.status as Promotion['status'],
  reason: r.reason,
  blockedReason: r.blocked_reason,
  nextEvaluationAt: iso(r.next_evaluation_at),
  decisionRecord: r.decision_record,
  workflowRunId: r.workflow_run_id,
  deploymentJobIds: r.deployment_job_ids ?? [],
  requestedBy: { id: r.requested_by, username: r.requester },
  requestedAt: r.requested_at.toISOString(),
  updatedAt: r.updated_at.toISOString(),
  completedAt: iso(r.completed_at),
  planHash: r.plan_hash,
  planChanges: r.plan_changes ?? [],
});

async function row(tx: Tx, id: string, lock = false): Promise<Row> {
  const r = await tx.query<Row>(`${SELECT} WHERE p.id = $1${lock ? ' FOR UPDATE OF p' : ''}`, [id]);
  if (!r.rows[0]) throw new NotFoundError('Promotion', id);
  return r.rows[0];
}

export async function getPromotion(tx: Tx, id: string) {
  const p = promotionOut(await row(tx, id));
  return { ...p, approvals: await approvalsOut(tx, id, p.planHash) };
}

/** A promotion's approvals as its answer lists them; planHash is the plan the promotion is evaluated against. */
async function approvalsOut(tx: Tx, id: string, planHash: string | null) {
  const a = await tx.query<ApprovalRow & { id: string }>(
    `SELECT a.*, u.username FROM approvals a JOIN users u ON u.id = a.approver_id WHERE a.promotion_id = $1 ORDER BY a.approved_at, a.id`,
    [id],
  );
  return a.rows.map((x) => ({
    id: x.id,
    approver: { id: x.approver_id, username: x.username },
    action: x.action,
    comment: x.comment,
    approvedAt: x.approved_at.toISOString(),
    planHash: x.plan_hash,
    // An approval given for an earlier plan no longer counts (the gate says so too).
    forCurrentPlan: x.plan_hash === null || planHash === null || x.plan_hash === planHash,
  }));
}

/** The plan a promotion's approvals are for (as last evaluated), and how it changed over time. */
export async function promotionPlan(tx: Tx, id: string) {
  const r = await row(tx, id);
  return { promotionId: r.id, plan: r.plan, planHash: r.plan_hash, changes: r.plan_changes ?? [] };
}

export async function listPromotions(tx: Tx, q: z.infer<typeof promotionListQuery>) {
  const env = q.environment ? (await getEnvironment(tx, q.environment)).id : null;
  const rel = q.release ? (await getRelease(tx, q.release)).id : null;
  const r = await tx.query<Row>(
    `${SELECT} WHERE ($1::uuid IS NULL OR p.id < $1::uuid) AND ($2::text IS NULL OR p.status = $2)
       AND ($3::uuid IS NULL OR p.target_environment_id = $3) AND ($4::uuid IS NULL OR p.release_id = $4)
     ORDER BY p.id DESC LIMIT $5`,
    [afterOf(q.cursor) ?? null, q.status ?? null, env, rel, q.limit + 1],
  );
  return toPage(r.rows, q.limit, (x) => [x.id], promotionOut);
}

/** What a request does besides creating: `announce` it (before any decision), and `decide` it at once when nothing has to wait. */
export interface CreateOptions {
  announce?: (created: { id: string; releaseName: string; targetEnvironmentName: string; reason: string }) => Promise<unknown>;
  decide?: DecideDeps;
}

/**
 * Creates the promotion and starts its workflow run in one transaction; with `decide`, a promotion whose
 * gates all pass (or one fails) is decided in that transaction too (decide.ts), and its run follows.
 */
export async function createPromotion(tx: Tx, auth: AuthContext, input: z.infer<typeof promotionCreate>, opts: CreateOptions = {}) {
  const release = await getRelease(tx, input.releaseId);
  const env = await getEnvironment(tx, input.targetEnvironmentId);
  const source = await previousEnvironment(tx, env.orderIndex);
  const busy = await tx.query<{ id: string }>(
    `SELECT id FROM promotions WHERE release_id = $1 AND target_environment_id = $2 AND status IN ('pending', 'awaiting_approval', 'approved', 'deploying')`,
    [release.id, env.id],
  );
  if (busy.rows[0]) {
    throw new ConflictError(
      `Release ${release.name} is already being promoted to "${env.name}" (promotion ${busy.rows[0].id}).`,
      'promotion_in_progress',
    );
  }
  const ins = await tx.query<PromotionRow>(
    `INSERT INTO promotions (tenant_id, release_id, source_environment_id, target_environment_id, reason, requested_by)
     VALUES ($1, $2, $3, $4, $5, $6) RETURNING *`,
    [auth.tenantId, release.id, source?.id ?? null, env.id, input.reason, auth.userId],
  );
  const promotion = ins.rows[0]!;
  const id = promotion.id;
  // The plan as requested: what approvers will see first (every evaluation records it again).
  const plan = await planNow(tx, auth.tenantId, release.id, env.id, planRows(release, env));
  const template = typeof env.config.promotionTemplate === 'string' ? env.config.promotionTemplate : 'standard-promotion';
  const run = await startRun(
    tx,
    auth.tenantId,
    auth.userId,
    { template, inputs: { promotionId: id, releaseId: release.id, environmentId: env.id } },
    { promotionId: id },
  );
  const stored = { plan, plan_hash: plan?.hash ?? null, plan_changes: [] };
  await tx.query('UPDATE promotions SET workflow_run_id = $2, plan = $3, plan_hash = $4 WHERE id = $1', [
    id,
    run.id,
    plan ? JSON.stringify(plan) : null,
    stored.plan_hash,
  ]);
  await opts.announce?.({ id, releaseName: release.name, targetEnvironmentName: env.name, reason: input.reason });
  const decided = opts.decide
    ? await decideAtRequest(tx, opts.decide, {
        promotion: { ...promotion, workflow_run_id: run.id, plan_hash: stored.plan_hash },
        templateId: run.template_id,
        known: {
          release,
          environment: env,
          previous: source,
          stored,
          requester: { id: auth.userId, username: auth.username },
          fresh: true,
        },
        plan,
      })
    : null;
  // The answer from what this transaction knows (a decision's row comes back from its update, so nothing
  // is read while the decision's packet holds the chain lock): a new promotion has no approvals and no
  // deployment jobs yet.
  const now = decided ?? (await tx.query<Row>('SELECT * FROM promotions WHERE id = $1', [id])).rows[0]!;
  const out = promotionOut({
    ...(now as Row),
    release_name: release.name,
    source_name: source?.name ?? null,
    target_name: env.name,
    requester: auth.username,
    deployment_job_ids: [],
  });
  return { ...out, approvals: [] };
}

/** A would-be promotion's context and gate results; nothing is written. Without `withPlan` no plan is computed. */
async function evaluateWouldBe(
  tx: Tx,
  auth: AuthContext,
  gates: GateRegistry,
  deps: Parameters<typeof evaluateGates>[3],
  input: { releaseId: string; targetEnvironmentId: string },
  withPlan: boolean,
) {
  const release = await getRelease(tx, input.releaseId);
  const env = await getEnvironment(tx, input.targetEnvironmentId);
  const ctx = await buildContext(tx, {
    tenantId: auth.tenantId,
    promotion: { id: '00000000-0000-7000-8000-000000000000', reason: 'preview', requestedBy: auth.userId, requestedAt: deps.clock.now() },
    releaseRef: release.id,
    environmentRef: env.id,
    now: deps.clock.now(),
    ...(withPlan ? {} : { plan: null }),
  });
  const results = await evaluateGates(gates, gateRefs(ctx.environment.config), ctx, { ...deps, tx });
  const wouldPass = results.every(
    (g) => g.status === 'pass' || (g.status === 'pending' && ['approvals', 'separation_of_duties'].includes(g.gate)),
  );
  return { release, env, ctx, results, wouldPass };
}

/** The gate results of a would-be promotion only (next actions: one per candidate release, no plan). */
export async function previewGates(
  tx: Tx,
  auth: AuthContext,
  gates: GateRegistry,
  deps: Parameters<typeof evaluateGates>[3],
  input: { releaseId: string; targetEnvironmentId: string },
) {
  const { results, wouldPass } = await evaluateWouldBe(tx, auth, gates, deps, input, false);
  return { gates: results, wouldPass };
}

/** Evaluates the gates for a would-be promotion without writing anything (dry run), with its plan and why it would wait. */
export async function previewPromotion(
  tx: Tx,
  auth: AuthContext,
  gates: GateRegistry,
  deps: Parameters<typeof evaluateGates>[3],
  input: { releaseId: string; targetEnvironmentId: string },
) {
  const { release, env, ctx, results, wouldPass } = await evaluateWouldBe(tx, auth, gates, deps, input, true);
  return {
    plan: fullPlans.get(ctx) ?? null,
    why: await explain(tx, ctx, results, { status: null, evaluatedAt: ctx.now }),
    release: { id: release.id, name: release.name },
    sourceEnvironment: await previousEnvironment(tx, env.orderIndex),
    targetEnvironment: { id: env.id, name: env.name },
    gates: results,
    wouldPass,
  };
}

/** Wakes the node of the promotion's run that waits on people or overrides; fine if none waits yet. */
async function nudge(tx: Tx, runId: string | null, event: string, payload: Record<string, unknown>) {
  if (!runId) return;
  await deliverEventToLive(tx, runId, ['wait_for_approvals', 'evaluate_gates'], { event, payload });
}

/** One decision per person and promotion (the unique key decides, so concurrent requests cannot both count). */
async function recordApproval(
  tx: Tx,
  auth: AuthContext,
  id: string,
  action: 'approved' | 'rejected',
  comment: string,
  planHash: string | null,
) {
  const done = await tx.query(
    `INSERT INTO approvals (tenant_id, promotion_id, approver_id, action, comment, plan_hash) VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (promotion_id, approver_id, (coalesce(plan_hash, ''))) DO NOTHING`,
    [auth.tenantId, id, auth.userId, action, comment, planHash],
  );
  if (!done.rowCount) {
    throw new ConflictError('You already decided on this promotion and its plan; one person counts once per plan.', 'already_decided');
  }
}

/**
 * The plan an approver decides on: the plan as it is now. When the caller says which plan it saw
 * (planHash) and that is no longer the plan, nothing is recorded: the answer says what changed.
 */
async function planToDecide(
  tx: Tx,
  auth: AuthContext,
  p: Row,
  seen: string | undefined,
  known?: Parameters<typeof planNow>[4],
): Promise<DeploymentPlan | null> {
  const plan = await planNow(tx, auth.tenantId, p.release_id, p.target_environment_id, known);
  if (seen && plan && seen !== plan.hash) {
    // Since the plan the approver saw: the recorded changes from it on, and any not recorded yet.
    const recorded = p.plan_changes ?? [];
    const from = recorded.findIndex((c) => c.from === seen);
    const changes = [
      ...(from >= 0 ? recorded.slice(from).flatMap((c) => c.changes) : []),
      ...(p.plan && p.plan_hash !== plan.hash && (from >= 0 || p.plan_hash === seen) ? planChanges(p.plan, plan) : []),
    ];
    throw new ConflictError(
      `The deployment plan changed since you looked at it${changes.length ? ` (${changes.join('; ')})` : ''}; review plan ${plan.hash} and decide again.`,
      'plan_changed',
    );
  }
  return plan;
}

/**
 * Records an approval and re-evaluates the gates at once, so the promotion's status, blocking reason and
 * gate table agree with its approvals the moment the answer arrives: when every gate now passes it is
 * approved here (with its release_decision packet), otherwise it keeps waiting with the fresh reason.
 * Returns the promotion and whether this approval decided it.
 */
export async function approve(
  tx: Tx,
  auth: AuthContext,
  signer: Signer,
  gates: GateRegistry,
  deps: Parameters<typeof evaluateGates>[3],
  id: string,
  comment: string,
  planHash?: string,
  onDecided?: () => Promise<unknown>,
): Promise<{ promotion: Awaited<ReturnType<typeof getPromotion>>; decided: boolean }> {
  const p = await row(tx, id, true);
  if (!['pending', 'awaiting_approval'].includes(p.status))
    throw new ConflictError(`The promotion is ${p.status}; approvals are closed.`, 'promotion_decided');
  const env = await getEnvironment(tx, p.target_environment_id);
  const release = await getRelease(tx, p.release_id);
  if (env.requireSod) {
    if (auth.userId === p.requested_by) {
      throw new ForbiddenError(
        `Separation of duties in "${env.name}": you requested this promotion, so someone else must approve it.`,
        'separation_of_duties',
      );
    }
    if (auth.userId === release.createdBy) {
      throw new ForbiddenError(
        `Separation of duties in "${env.name}": you created release ${release.name}, so someone else must approve it.`,
        'separation_of_duties',
      );
    }
  }
  const plan = await planToDecide(tx, auth, p, planHash, planRows(release, env));
  await recordApproval(tx, auth, id, 'approved', comment, plan?.hash ?? null);
  const ctx = await buildContext(tx, {
    ...contextFor(auth.tenantId, p, deps.clock.now()),
    plan,
    known: {
      release,
      environment: env,
      stored: { plan: p.plan, plan_hash: p.plan_hash, plan_changes: p.plan_changes ?? [] },
      requester: { id: p.requested_by, username: p.requester },
    },
  });
  const results = await evaluateGates(gates, gateRefs(ctx.environment.config), ctx, { ...deps, tx });
  // The run is woken first: a decision's packet holds the tenant's chain lock until commit, so it comes last.
  await nudge(tx, p.workflow_run_id, 'approved', { by: auth.username });
  if (p.status === 'awaiting_approval' && results.every((g) => g.status === 'pass')) {
    // The answer's approvals are read before the decision's packet takes the chain lock, and its row comes
    // back from the decision's update: nothing is read while the lock is held.
    const approvals = await approvalsOut(tx, id, plan?.hash ?? p.plan_hash);
    const decided = await recordDecision(tx, signer, ctx, results, 'approved', 'every gate passed', onDecided);
    if (decided) return { promotion: { ...promotionOut({ ...p, ...decided }), approvals }, decided: true };
  } else if (!results.some((g) => g.status === 'fail')) {
    await recordWaiting(tx, ctx, results, p.status as 'pending' | 'awaiting_approval', p.next_evaluation_at);
  }
  return { promotion: await getPromotion(tx, id), decided: false };
}

export async function reject(
  tx: Tx,
  auth: AuthContext,
  signer: Signer,
  gates: GateRegistry,
  deps: Parameters<typeof evaluateGates>[3],
  id: string,
  comment: string,
) {
  const p = await row(tx, id, true);
  if (!['pending', 'awaiting_approval'].includes(p.status))
    throw new ConflictError(`The promotion is ${p.status}; it can no longer be rejected.`, 'promotion_decided');
  const plan = await planNow(tx, auth.tenantId, p.release_id, p.target_environment_id);
  await recordApproval(tx, auth, id, 'rejected', comment, plan?.hash ?? null);
  const ctx = await buildContext(tx, { ...contextFor(auth.tenantId, p, deps.clock.now()), plan });
  const results = await evaluateGates(gates, gateRefs(ctx.environment.config), ctx, { ...deps, tx });
  await recordDecision(tx, signer, ctx, results, 'rejected', `rejected by ${auth.username}: ${comment}`);
  if (p.workflow_run_id) await endRun(tx, p.workflow_run_id, 'cancelled', `promotion rejected by ${auth.username}`);
  return getPromotion(tx, id);
}

export async function cancelPromotion(tx: Tx, id: string) {
  const p = await row(tx, id, true);
  if (!ACTIVE_STATUSES.has(p.status) || p.status === 'deploying') {
    throw new ConflictError(
      `The promotion is ${p.status} and cannot be cancelled${p.status === 'deploying' ? ' while it deploys; cancel the deployment' : ''}.`,
      'promotion_not_cancellable',
    );
  }
  if (p.workflow_run_id) await cancelRun(tx, p.workflow_run_id);
  else await tx.query(`UPDATE promotions SET status = 'cancelled', completed_at = now() WHERE id = $1`, [id]);
  return getPromotion(tx, id);
}

export async function overrideGate(
  tx: Tx,
  auth: AuthContext,
  signer: Signer,
  gates: GateRegistry,
  deps: Parameters<typeof evaluateGates>[3],
  id: string,
  body: z.infer<typeof overrideBody>,
) {
  const p = await row(tx, id, true);
  if (!['pending', 'awaiting_approval'].includes(p.status))
    throw new ConflictError(`The promotion is ${p.status}; there is nothing to override.`, 'promotion_decided');
  const env = await getEnvironment(tx, p.target_environment_id);
  const allowed = (env.config.overrideRoles as Role[] | undefined) ?? ['admin'];
  if (!auth.roles.some((r) => r === 'admin' || allowed.includes(r))) {
    throw new ForbiddenError(`Overriding a gate in "${env.name}" needs one of the roles ${rolesText(allowed)}.`);
  }
  if (['approvals', 'separation_of_duties'].includes(body.gate)) {
    throw new ValidationError(`The ${body.gate} gate cannot be overridden; it needs people.`, [
      { path: 'body.gate', message: 'not overridable' },
    ]);
  }
  // Only the overridden gate is evaluated: the plan as last recorded will do (approvals are not overridable).
  const ctx = await buildContext(tx, { ...contextFor(auth.tenantId, p, deps.clock.now()), plan: p.plan });
  const before = (await evaluateGates(gates, gateRefs(ctx.environment.config), ctx, { ...deps, tx }, (g) => g === body.gate))[0];
  if (!before)
    throw new ValidationError(`Gate "${body.gate}" does not apply to "${env.name}".`, [
      { path: 'body.gate', message: 'not configured for this environment' },
    ]);
  const expiresAt = new Date(deps.clock.now().getTime() + body.expiresInMinutes * 60_000);
  const packet = await appendPacket(tx, signer, {
    tenantId: auth.tenantId,
    promotionId: id,
    packetType: 'gate_override',
    content: {
      promotion: { id, reason: p.reason },
      release: { id: ctx.release.id, name: ctx.release.name, components: ctx.release.components },
      environment: { id: env.id, name: env.name },
      override: {
        gate: body.gate,
        by: { id: auth.userId, username: auth.username },
        roles: auth.roles,
        reason: body.reason,
        expiresAt: expiresAt.toISOString(),
      },
      gateBefore: before,
      at: deps.clock.now().toISOString(),
    },
  });
  const r = await tx.query<{ id: string; created_at: Date }>(
    `INSERT INTO gate_overrides (tenant_id, promotion_id, gate, reason, created_by, expires_at, evidence_id)
     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id, created_at`,
    [auth.tenantId, id, body.gate, body.reason, auth.userId, expiresAt, packet.id],
  );
  await nudge(tx, p.workflow_run_id, 'override', { gate: body.gate, by: auth.username });
  return {
    id: r.rows[0]!.id,
    gate: body.gate,
    reason: body.reason,
    expiresAt: expiresAt.toISOString(),
    createdBy: auth.username,
    evidenceId: packet.id,
  };
}

/** Why the promotion waits or was refused, and until when, from its latest gate results (nothing is evaluated or written). */
export async function promotionWhy(tx: Tx, tenantId: string, now: Date, id: string) {
  const p = await row(tx, id);
  const record = p.decision_record as { gates?: GateResult[]; evaluatedAt?: string };
  const ctx = await buildContext(tx, { ...contextFor(tenantId, p, now), plan: p.plan });
  return explain(tx, ctx, record.gates ?? [], { status: p.status, evaluatedAt: record.evaluatedAt ?? null });
}

export async function promotionGates(tx: Tx, id: string) {
  const p = await row(tx, id);
  const record = p.decision_record as { gates?: unknown[]; evaluatedAt?: string };
  return {
    promotionId: p.id,
    status: p.status as Promotion['status'],
    blockedReason: p.blocked_reason,
    nextEvaluationAt: iso(p.next_evaluation_at),
    evaluatedAt: record.evaluatedAt ?? null,
    gates: (record.gates ?? []) as never[],
  };
}
