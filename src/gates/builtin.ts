// Built-in gates that need nothing outside the promotion context: environment order, release status,
// required approvals, separation of duties, and a CEL policy expression.
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { evalCondition, syntaxError } from '../engine/index.js';
import type { Gate, PromotionContext } from './types.js';

export const environmentOrderGate: Gate = {
  id: 'environment_order',
  description: 'The release was deployed to the previous environment in promotion order (unless the environment says otherwise).',
  async evaluate(ctx) {
    const prev = ctx.previousEnvironment;
    const required = ctx.environment.config.requirePreviousEnvironment !== false;
    const inputs = { previousEnvironment: prev?.name ?? null, releaseDeployedThere: prev?.releaseDeployed ?? null, required };
    if (!prev) return { status: 'pass', reason: `"${ctx.environment.name}" is the first environment`, inputs };
    if (!required)
      return { status: 'pass', reason: `"${ctx.environment.name}" does not require a deployment to "${prev.name}" first`, inputs };
    if (prev.releaseDeployed) return { status: 'pass', reason: `release ${ctx.release.name} is deployed in "${prev.name}"`, inputs };
    return {
      status: 'fail',
      reason: `release ${ctx.release.name} has not been deployed to "${prev.name}"; promote it there first`,
      inputs,
    };
  },
};

export const releaseStatusGate: Gate = {
  id: 'release_status',
  description: 'The release is ready (every digest pinned) and not deprecated.',
  async evaluate(ctx) {
    const s = ctx.release.status;
    const inputs = { status: s, digests: ctx.release.components.map((c) => `${c.component}@${c.digest}`) };
    if (s === 'ready' || s === 'deployed') return { status: 'pass', reason: `release ${ctx.release.name} is ${s}`, inputs };
    if (s === 'draft')
      return { status: 'fail', reason: `release ${ctx.release.name} is a draft; make it ready first (gantry release ready)`, inputs };
    return { status: 'fail', reason: `release ${ctx.release.name} is deprecated and can no longer be promoted`, inputs };
  },
};

/** Approvals that count: one per person, and under separation of duties none by the requester or the release's creator. */
export function countedApprovals(ctx: PromotionContext): string[] {
  const excluded = new Set<string>();
  if (ctx.environment.requireSod) {
    excluded.add(ctx.promotion.requestedBy.id);
    if (ctx.release.createdBy) excluded.add(ctx.release.createdBy.id);
  }
  const people = new Set<string>();
  for (const a of ctx.approvals) {
    if (a.action === 'approved' && !excluded.has(a.approver.id) && forThisPlan(ctx, a)) people.add(a.approver.username);
  }
  return [...people].sort();
}

/** An approval counts for the plan it was given for; one given before plans existed counts as before. */
export function forThisPlan(ctx: PromotionContext, a: PromotionContext['approvals'][number]): boolean {
  return !ctx.plan || a.planHash === null || a.planHash === ctx.plan.hash;
}

/** Approvals given for an earlier plan (they no longer count), by person. */
export function staleApprovals(ctx: PromotionContext): string[] {
  const counted = new Set(countedApprovals(ctx));
  return [...new Set(ctx.approvals.filter((a) => a.action === 'approved' && !forThisPlan(ctx, a)).map((a) => a.approver.username))]
    .filter((u) => !counted.has(u))
    .sort();
}

export const approvalsGate: Gate = {
  id: 'approvals',
  description: 'At least the environment’s required number of distinct people approved; a rejection fails it.',
  async evaluate(ctx) {
    const required = ctx.environment.requiredApprovals;
    const approvedBy = countedApprovals(ctx);
    const rejectedBy = ctx.approvals.filter((a) => a.action === 'rejected').map((a) => a.approver.username);
    const stale = staleApprovals(ctx);
    const inputs = {
      required,
      approvedBy,
      rejectedBy,
      planHash: ctx.plan?.hash ?? null,
      ...(stale.length ? { staleApprovals: stale } : {}),
    };
    if (rejectedBy.length) return { status: 'fail', reason: `rejected by ${rejectedBy.join(', ')}`, inputs };
    if (approvedBy.length >= required) {
      return { status: 'pass', reason: required === 0 ? 'no approvals required' : `approved by ${approvedBy.join(', ')}`, inputs };
    }
    const why =
      stale.length && ctx.plan
        ? ` (${stale.join(', ')} approved an earlier plan; it changed since${ctx.plan.changes.length ? `: ${ctx.plan.changes.join('; ')}` : ''}; approve the new plan ${ctx.plan.hash.slice(0, 19)}…)`
        : '';
    return {
      status: 'pending',
      reason: `${approvedBy.length} of ${required} approvals; waiting for ${required - approvedBy.length} more${why}`,
      inputs,
    };
  },
};

export const separationOfDutiesGate: Gate = {
  id: 'separation_of_duties',
  description: 'Under require_sod, neither the requester nor the release’s creator approved.',
  async evaluate(ctx) {
    const inputs = {
      requireSod: ctx.environment.requireSod,
      requester: ctx.promotion.requestedBy.username,
      releaseCreator: ctx.release.createdBy?.username ?? null,
      approvers: ctx.approvals.map((a) => a.approver.username),
    };
    if (!ctx.environment.requireSod) return { status: 'pass', reason: 'separation of duties is not required here', inputs };
    const barred = new Set([ctx.promotion.requestedBy.id, ctx.release.createdBy?.id].filter(Boolean));
    const offenders = ctx.approvals.filter((a) => a.action === 'approved' && barred.has(a.approver.id)).map((a) => a.approver.username);
    if (offenders.length)
      return { status: 'fail', reason: `${offenders.join(', ')} may not approve: requester or release creator`, inputs };
    return { status: 'pass', reason: 'requester and release creator are not among the approvers', inputs };
  },
};

const policyConfig = z.strictObject({
  name: z.string().min(1).max(100).optional(),
  expression: z
    .string()
    .min(1)
    .max(4000)
    .refine((e) => !syntaxError(e), 'must be a valid CEL expression'),
});

/** A CEL expression over the promotion context: true passes, false fails. */
export const policyGate: Gate<z.infer<typeof policyConfig>> = {
  id: 'policy',
  description: 'A CEL expression over the promotion context (release, environment, promotion, approvals, now).',
  parseConfig: (c) => policyConfig.parse(c),
  async evaluate(ctx, config) {
    const policyVersion = `sha256:${createHash('sha256').update(config.expression).digest('hex').slice(0, 16)}`;
    const inputs = { expression: config.expression, name: config.name ?? null };
    try {
      const ok = evalCondition(config.expression, ctx);
      return ok
        ? { status: 'pass', reason: `policy ${config.name ?? config.expression} holds`, inputs, policyVersion }
        : { status: 'fail', reason: `policy ${config.name ?? config.expression} is false`, inputs, policyVersion };
    } catch (err) {
      return { status: 'fail', reason: `policy could not be evaluated: ${(err as Error).message}`, inputs, policyVersion };
    }
  },
};
