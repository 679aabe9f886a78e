// Recording what gates decided: the promotion's status, blocking reason and decision record, and for a
// final decision (approved or rejected) the signed release_decision packet, in one transaction.
import { createHash } from 'node:crypto';
import { appendPacket, findReusable } from '../evidence/service.js';
import type { GateResult, PromotionContext } from '../gates/types.js';
import type { Deps } from '../http/types.js';
import { notify } from '../integrations/notify.js';
import type { Tx } from '../store/db.js';
import { fullPlans, type PromotionRow, unchangedPlans } from './context.js';

export type Signer = NonNullable<Deps['signer']>;

export function decisionRecord(ctx: PromotionContext, gates: GateResult[], extra: Record<string, unknown> = {}) {
  return {
    evaluatedAt: ctx.now,
    release: { id: ctx.release.id, name: ctx.release.name, components: ctx.release.components, sourceRef: ctx.release.sourceRef },
    environment: { id: ctx.environment.id, name: ctx.environment.name },
    requestedBy: ctx.promotion.requestedBy,
    requestedAt: ctx.promotion.requestedAt,
    gates,
    approvals: ctx.approvals,
    overrides: ctx.overrides,
    policyVersions: Object.fromEntries(gates.filter((g) => g.policyVersion).map((g) => [g.gate, g.policyVersion])),
    plan: ctx.plan,
    ...extra,
  };
}

/**
 * Records the plan the promotion is now evaluated against. When it differs from the one recorded before,
 * the change is appended to plan_changes and the people whose approvals no longer count are told
 * (promotion.plan_changed), in the transaction that records the evaluation.
 */
async function savePlan(tx: Tx, ctx: PromotionContext): Promise<void> {
  const plan = fullPlans.get(ctx);
  if (!plan || !ctx.plan || unchangedPlans.has(ctx)) return;
  const change = ctx.plan.previousHash ? { at: ctx.now, from: ctx.plan.previousHash, to: plan.hash, changes: ctx.plan.changes } : null;
  await tx.query(
    `UPDATE promotions SET plan = $2, plan_hash = $3, plan_changes = CASE WHEN $4::jsonb IS NULL THEN plan_changes ELSE plan_changes || $4::jsonb END
      WHERE id = $1 AND plan_hash IS DISTINCT FROM $3`,
    [ctx.promotion.id, JSON.stringify(plan), plan.hash, change ? JSON.stringify([change]) : null],
  );
  if (!change) return;
  const approvers = [...new Set(ctx.approvals.filter((a) => a.planHash === change.from).map((a) => a.approver.username))];
  if (approvers.length === 0) return;
  await notify(
    tx,
    ctx.tenantId,
    {
      type: 'promotion.plan_changed',
      data: {
        promotionId: ctx.promotion.id,
        release: ctx.release.name,
        environment: ctx.environment.name,
        approvers,
        changes: change.changes,
        reason: `the deployment plan changed (${change.changes.join('; ')}); approvals of ${approvers.join(', ')} no longer count`,
      },
    },
    new Date(ctx.now),
  );
}

/** The same digests, environment, outcome and gate inputs give the same key, so evidence can be reused by reference. */
function reuseKey(ctx: PromotionContext, outcome: string, gates: GateResult[]): string {
  const stable = {
    environment: ctx.environment.id,
    outcome,
    digests: ctx.release.components.map((c) => `${c.component}@${c.digest}`).sort(),
    gates: gates.map((g) => {
      const { now: _now, ...inputs } = g.inputs;
      return [g.gate, g.status, g.policyVersion ?? null, JSON.stringify(inputs, Object.keys(inputs).sort())];
    }),
    approvers: ctx.approvals.map((a) => `${a.approver.id}:${a.action}`).sort(),
    requester: ctx.promotion.requestedBy.id,
    plan: ctx.plan?.hash ?? null,
  };
  return `sha256:${createHash('sha256').update(JSON.stringify(stable)).digest('hex')}`;
}

/** Saves a non-final evaluation: the promotion waits (pending or awaiting_approval) with its reason. */
export async function recordWaiting(
  tx: Tx,
  ctx: PromotionContext,
  gates: GateResult[],
  status: 'pending' | 'awaiting_approval',
  nextEvaluationAt: Date | null,
): Promise<boolean> {
  const blocking = gates.filter((g) => g.status !== 'pass').map((g) => `${g.gate}: ${g.reason}`);
  await savePlan(tx, ctx);
  const r = await tx.query(
    `UPDATE promotions SET status = $2, blocked_reason = $3, next_evaluation_at = $4, decision_record = $5
      WHERE id = $1 AND status IN ('pending', 'awaiting_approval')`,
    [ctx.promotion.id, status, blocking.join('; ') || null, nextEvaluationAt, JSON.stringify(decisionRecord(ctx, gates))],
  );
  return (r.rowCount ?? 0) > 0;
}

/**
 * Records a final decision with its release_decision packet (or a reference to an identical earlier
 * one). Returns the promotion's row as decided, or null when it already left the deciding states
 * (someone else decided).
 * `onDecided` writes what commits with the decision (its notification) before the packet is appended:
 * the append holds the tenant's chain lock until the transaction commits, so as little as possible
 * comes after it.
 */
export async function recordDecision(
  tx: Tx,
  signer: Signer,
  ctx: PromotionContext,
  gates: GateResult[],
  outcome: 'approved' | 'rejected',
  why: string,
  onDecided?: () => Promise<unknown>,
  /** The promotion was inserted by this transaction: no other can see it, let alone decide it. */
  fresh = false,
): Promise<PromotionRow | null> {
  if (!fresh) {
    const locked = await tx.query<{ status: string }>('SELECT status FROM promotions WHERE id = $1 FOR UPDATE', [ctx.promotion.id]);
    if (!['pending', 'awaiting_approval'].includes(locked.rows[0]?.status ?? '')) return null;
  }
  await savePlan(tx, ctx);
  await onDecided?.();
  const key = reuseKey(ctx, outcome, gates);
  const approvers = ctx.approvals.filter((a) => a.action === 'approved').map((a) => a.approver);
  const content = {
    promotion: {
      id: ctx.promotion.id,
      reason: ctx.promotion.reason,
      requestedBy: ctx.promotion.requestedBy,
      requestedAt: ctx.promotion.requestedAt,
    },
    release: { id: ctx.release.id, name: ctx.release.name, components: ctx.release.components, sourceRef: ctx.release.sourceRef },
    environment: { id: ctx.environment.id, name: ctx.environment.name },
    actors: { requester: ctx.promotion.requestedBy, releaseCreator: ctx.release.createdBy, approvers },
    decision: {
      outcome,
      why,
      gates,
      approvals: ctx.approvals,
      overrides: ctx.overrides,
      policyVersions: Object.fromEntries(gates.filter((g) => g.policyVersion).map((g) => [g.gate, g.policyVersion])),
    },
    // What the approvers approved: the deployment that follows executes this plan or is refused (plan_changed).
    plan: fullPlans.get(ctx) ?? null,
    decidedAt: ctx.now,
  };
  const reused = await findReusable(tx, ctx.tenantId, 'release_decision', key);
  const packet =
    reused ??
    (await appendPacket(tx, signer, {
      tenantId: ctx.tenantId,
      promotionId: ctx.promotion.id,
      packetType: 'release_decision',
      content,
      reuseKey: key,
    }));
  const record = decisionRecord(ctx, gates, {
    outcome,
    why,
    decidedAt: ctx.now,
    evidence: { packetId: packet.id, contentHash: packet.contentHash, reused: Boolean(reused) },
  });
  const decided = await tx.query<PromotionRow>(
    `UPDATE promotions SET status = $2, decision_record = $3, blocked_reason = $4, next_evaluation_at = NULL,
            completed_at = CASE WHEN $2 = 'rejected' THEN now() ELSE completed_at END
      WHERE id = $1 RETURNING *`,
    [ctx.promotion.id, outcome, JSON.stringify(record), outcome === 'rejected' ? why : null],
  );
  return decided.rows[0]!;
}
