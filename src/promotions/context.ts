// Builds the PromotionContext every gate sees, from the promotion's rows, in one tenant transaction.

import { GantryError } from '../core/errors.js';
import { computePlan, type DeploymentPlan, type EnvironmentRow, type PlanInput, planChanges } from '../deployments/plan.js';
import type { Environment } from '../environments/model.js';
import { getEnvironment } from '../environments/service.js';
import type { Actor, ComponentPin, PromotionContext } from '../gates/types.js';
import type { Release } from '../releases/model.js';
import { getRelease } from '../releases/service.js';
import type { Tx } from '../store/db.js';

export interface PromotionRow {
  id: string;
  tenant_id: string;
  release_id: string;
  source_environment_id: string | null;
  target_environment_id: string;
  status: string;
  decision_record: Record<string, unknown>;
  workflow_run_id: string | null;
  reason: string;
  requested_by: string;
  requested_at: Date;
  updated_at: Date;
  blocked_reason: string | null;
  next_evaluation_at: Date | null;
  completed_at: Date | null;
  /** The plan approvals are for (as last evaluated); null when none could be made. */
  plan_hash?: string | null;
}

async function actor(tx: Tx, id: string | null): Promise<Actor | null> {
  if (!id) return null;
  // users are visible to the tenant role only when bound to the tenant; fall back to the id.
  const r = await tx.query<{ username: string }>('SELECT username FROM users WHERE id = $1', [id]);
  return { id, username: r.rows[0]?.username ?? id };
}

/** The environment just before `orderIndex` in promotion order, or null for the first. */
export async function previousEnvironment(tx: Tx, orderIndex: number): Promise<{ id: string; name: string } | null> {
  const r = await tx.query<{ id: string; name: string }>(
    'SELECT id, name FROM environments WHERE order_index < $1 ORDER BY order_index DESC, id DESC LIMIT 1',
    [orderIndex],
  );
  return r.rows[0] ?? null;
}

/** Whether a release reached an environment: a promotion there finished deployed, or a deployment there succeeded. */
export async function releaseDeployedIn(tx: Tx, releaseId: string, environmentId: string): Promise<boolean> {
  const r = await tx.query(
    `SELECT 1 FROM promotions WHERE release_id = $1 AND target_environment_id = $2 AND status = 'deployed'
     UNION ALL
     SELECT 1 FROM deployment_jobs WHERE release_id = $1 AND environment_id = $2 AND status = 'succeeded' AND rollback_of IS NULL
     LIMIT 1`,
    [releaseId, environmentId],
  );
  return (r.rowCount ?? 0) > 0;
}

export function pins(release: Release): ComponentPin[] {
  return release.components.map((c) => ({
    component: c.component,
    imageRepository: c.imageRepository,
    tag: c.tag,
    semver: c.semver,
    digest: c.digest ?? '',
  }));
}

/** The environment as the gates see it. */
export function contextEnvironment(env: Environment): PromotionContext['environment'] {
  return {
    id: env.id,
    name: env.name,
    orderIndex: env.orderIndex,
    config: env.config as Record<string, unknown>,
    freezeWindows: env.freezeWindows,
    requiredApprovals: env.requiredApprovals,
    requireSod: env.requireSod,
  };
}

/** The release and environment as the plan reads them, from the rows the caller read. */
export function planRows(release: Release, env: Environment): NonNullable<PlanInput['known']> {
  return {
    release: {
      id: release.id,
      name: release.name,
      status: release.status,
      // As stored: a ready release has every digest; the plan refuses one without (as with the row it reads).
      components: release.components.map((c) => ({
        component: c.component,
        imageRepository: c.imageRepository,
        digest: c.digest as string,
      })),
    },
    environment: { id: env.id, name: env.name, config: env.config as EnvironmentRow['config'] },
  };
}

export interface ContextInput {
  tenantId: string;
  promotion: { id: string; reason: string; requestedBy: string; requestedAt: Date };
  releaseRef: string;
  environmentRef: string;
  now: Date;
  /** The plan, when the caller computed it already. */
  plan?: DeploymentPlan | null;
  /** What the caller read already in this transaction (nothing can have changed it since): not read again. */
  known?: KnownRows;
}

export interface KnownRows {
  release?: Release;
  environment?: Environment;
  /** The environment before the target one in promotion order (null: the target is the first). */
  previous?: { id: string; name: string } | null;
  /** The plan recorded with the promotion. */
  stored?: StoredPlan;
  /** Who requested the promotion. */
  requester?: Actor;
  /** The promotion was inserted by this transaction: nobody can have approved or overridden it yet. */
  fresh?: boolean;
}

/** Contexts whose plan is the one recorded with the promotion: recording it again changes nothing. */
export const unchangedPlans = new WeakSet<PromotionContext>();

/** The full plan behind a context's plan summary (decision.ts records it with the promotion). */
export const fullPlans = new WeakMap<PromotionContext, DeploymentPlan>();

/**
 * The plan of deploying the release to the environment now, or null when none can be made (no targets).
 * computePlan only reads, and its GantryErrors (nothing to deploy to, unknown release) are raised by our
 * code after statements that succeeded, so the transaction stays usable without a savepoint; a database
 * error is not a GantryError and fails the caller as before. `known` are the release and environment
 * rows the caller read in this transaction.
 */
export async function planNow(
  tx: Tx,
  tenantId: string,
  releaseRef: string,
  environmentRef: string,
  known: PlanInput['known'] = {},
): Promise<DeploymentPlan | null> {
  try {
    return await computePlan(tx, { tenantId, releaseRef, environmentRef, known });
  } catch (err) {
    if (err instanceof GantryError) return null;
    throw err;
  }
}

export interface StoredPlan {
  plan: DeploymentPlan | null;
  plan_hash: string | null;
  plan_changes: { at: string; from: string; to: string; changes: string[] }[];
}

/** An approval as read with its approver's name. */
export interface ApprovalRow {
  approver_id: string;
  username: string;
  action: 'approved' | 'rejected';
  comment: string;
  approved_at: Date;
  plan_hash: string | null;
}
interface OverrideRow {
  gate: string;
  created_by: string;
  username: string;
  reason: string;
  expires_at: Date;
}

export async function buildContext(tx: Tx, input: ContextInput): Promise<PromotionContext> {
  const known = input.known ?? {};
  const release = known.release ?? (await getRelease(tx, input.releaseRef));
  const env = known.environment ?? (await getEnvironment(tx, input.environmentRef));
  const prev = known.previous !== undefined ? known.previous : await previousEnvironment(tx, env.orderIndex);
  const approvals = known.fresh
    ? { rows: [] as ApprovalRow[] }
    : await tx.query<ApprovalRow>(
        `SELECT a.approver_id, u.username, a.action, a.comment, a.approved_at, a.plan_hash FROM approvals a JOIN users u ON u.id = a.approver_id
          WHERE a.promotion_id = $1 ORDER BY a.approved_at, a.id`,
        [input.promotion.id],
      );
  const overrides = known.fresh
    ? { rows: [] as OverrideRow[] }
    : await tx.query<OverrideRow>(
        `SELECT o.gate, o.created_by, u.username, o.reason, o.expires_at FROM gate_overrides o JOIN users u ON u.id = o.created_by
          WHERE o.promotion_id = $1 AND o.expires_at > $2 ORDER BY o.created_at`,
        [input.promotion.id, input.now],
      );
  const plan = input.plan !== undefined ? input.plan : await planNow(tx, input.tenantId, release.id, env.id, planRows(release, env));
  const stored =
    known.stored ??
    (await tx.query<StoredPlan>('SELECT plan, plan_hash, plan_changes FROM promotions WHERE id = $1', [input.promotion.id])).rows[0];
  const moved = plan && stored?.plan_hash && stored.plan && stored.plan_hash !== plan.hash;
  const ctx: PromotionContext = {
    tenantId: input.tenantId,
    promotion: {
      id: input.promotion.id,
      reason: input.promotion.reason,
      requestedBy: known.requester ?? (await actor(tx, input.promotion.requestedBy))!,
      requestedAt: input.promotion.requestedAt.toISOString(),
    },
    release: {
      id: release.id,
      name: release.name,
      status: release.status,
      createdBy: await actor(tx, release.createdBy),
      components: pins(release),
      sourceRef: release.sourceRef,
    },
    environment: contextEnvironment(env),
    previousEnvironment: prev ? { ...prev, releaseDeployed: await releaseDeployedIn(tx, release.id, prev.id) } : null,
    approvals: approvals.rows.map((a) => ({
      approver: { id: a.approver_id, username: a.username },
      action: a.action,
      comment: a.comment,
      at: a.approved_at.toISOString(),
      planHash: a.plan_hash,
    })),
    plan: plan
      ? {
          hash: plan.hash,
          previousHash: moved ? stored.plan_hash : null,
          changes: moved ? planChanges(stored.plan!, plan) : (stored?.plan_changes.at(-1)?.changes ?? []),
          summary: plan.summary,
        }
      : null,
    overrides: overrides.rows.map((o) => ({
      gate: o.gate,
      by: { id: o.created_by, username: o.username },
      reason: o.reason,
      expiresAt: o.expires_at.toISOString(),
    })),
    now: input.now.toISOString(),
  };
  if (plan) fullPlans.set(ctx, plan);
  if (plan && !moved && stored?.plan_hash === plan.hash) unchangedPlans.add(ctx);
  return ctx;
}

export function contextFor(tenantId: string, p: PromotionRow, now: Date): ContextInput {
  return {
    tenantId,
    promotion: { id: p.id, reason: p.reason, requestedBy: p.requested_by, requestedAt: p.requested_at },
    releaseRef: p.release_id,
    environmentRef: p.target_environment_id,
    now,
  };
}
