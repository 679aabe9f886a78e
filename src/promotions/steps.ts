// Step types of the standard promotion template: evaluate gates, wait for approvals (and any gate
// that is still pending), verify the deployment, and complete the promotion.
import { z } from 'zod';
import type { Clock } from '../core/clock.js';
import type { StepRegistry, StepResult, StepType } from '../engine/index.js';
import { getEnvironment } from '../environments/service.js';
import { APPROVAL_GATES, evaluateGates, type GateRegistry, gateRefs } from '../gates/registry.js';
import type { GateResult } from '../gates/types.js';
import type { Outbound } from '../http/outbound.js';
import { notify } from '../integrations/notify.js';
import { getRelease } from '../releases/service.js';
import { type Db, type Tx, withTenant } from '../store/db.js';
import { buildContext, contextFor, type PromotionRow, planNow, planRows, type StoredPlan } from './context.js';
import { recordDecision, recordWaiting, type Signer } from './decision.js';

export interface PromotionStepDeps {
  db: Db;
  clock: Clock;
  signer: Signer;
  gates: GateRegistry;
  /** The door for gates' and notifications' requests to tenant-configured URLs. */
  outbound?: Outbound | undefined;
  /** How soon a pending gate without its own retry time is evaluated again. */
  recheckSeconds?: number;
}

/** Queues the event in the transaction that records the change (the outbox delivers it). */
async function tell(
  tx: Tx,
  deps: PromotionStepDeps,
  tenantId: string,
  type: 'promotion.approved' | 'promotion.rejected' | 'promotion.deployed',
  promotionId: string,
  data: Record<string, unknown> = {},
): Promise<void> {
  await notify(tx, tenantId, { type, data: { promotionId, ...data } }, deps.clock.now());
}

/**
 * GANTRY_PROMOTION_RECHECK_SECONDS (default 30): how soon a waiting promotion is evaluated again when no
 * gate names its own time, and how often one waiting for approvals re-checks its deployment plan.
 */
export function promotionRecheckSeconds(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.GANTRY_PROMOTION_RECHECK_SECONDS;
  if (raw === undefined || raw === '') return 30;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0.5 || n > 86_400) {
    throw new Error(`GANTRY_PROMOTION_RECHECK_SECONDS must be a number of seconds from 0.5 to 86400, got "${raw}".`);
  }
  return n;
}

const input = z.strictObject({ promotionId: z.uuid() });
type Input = z.infer<typeof input>;
const gatesOut = z.object({ gates: z.array(z.record(z.string(), z.unknown())) });

function nextCheck(gates: GateResult[], now: Date, recheckSeconds: number): Date {
  const times = gates.filter((g) => g.status === 'pending' && g.retryAt).map((g) => Date.parse(g.retryAt!));
  const fallback = now.getTime() + recheckSeconds * 1000;
  return new Date(Math.min(fallback, ...times.map((t) => Math.max(t, now.getTime() + 1000))));
}

type StoredRow = PromotionRow & Partial<StoredPlan>;

async function loadPromotion(tx: Tx, id: string): Promise<StoredRow> {
  const r = await tx.query<StoredRow>('SELECT * FROM promotions WHERE id = $1', [id]);
  if (!r.rows[0]) throw new Error(`promotion ${id} not found`);
  return r.rows[0];
}

/**
 * The promotion was decided before this step ran: by its request (decide.ts), by an approval, or by an
 * earlier evaluation. The step records what was decided and answers as if it had decided it itself.
 */
function decidedBefore(p: PromotionRow, ctx: { log(l: string): void }): StepResult<{ gates: Record<string, unknown>[] }> {
  const record = p.decision_record as { gates?: GateResult[]; why?: string; approvals?: { action: string }[] };
  const gates = record.gates ?? [];
  if (p.status === 'rejected' || p.status === 'cancelled') {
    // Rejected by its gates when requested: the run fails as the gate step would have failed it.
    const byGates = p.status === 'rejected' && record.why && !(record.approvals ?? []).some((a) => a.action === 'rejected');
    if (byGates) {
      ctx.log(`promotion rejected by its gates when requested`);
      for (const g of gates) ctx.log(`gate ${g.gate}: ${g.status} — ${g.reason}`);
      return { status: 'failed', error: `rejected by gates — ${record.why}`, retryable: false };
    }
    return { status: 'failed', error: `promotion is ${p.status}`, retryable: false };
  }
  ctx.log(`promotion already ${p.status}${record.why ? `: ${record.why}` : ''}`);
  for (const g of gates) ctx.log(`gate ${g.gate}: ${g.status} — ${g.reason}`);
  return { status: 'succeeded', outputs: { gates: gates as unknown as Record<string, unknown>[] } };
}

/**
 * Evaluates gates and records the outcome. `final` decides the promotion when every gate passes;
 * otherwise passing means only that the first phase is through.
 */
async function evaluate(
  deps: PromotionStepDeps,
  ctx: { tenantId: string; input: Input; now(): Date; log(l: string): void },
  final: boolean,
): Promise<StepResult<{ gates: Record<string, unknown>[] }>> {
  const now = ctx.now();
  // One transaction reads the promotion and, unless it was decided before, evaluates and records.
  const result = await withTenant(
    deps.db,
    ctx.tenantId,
    async (tx): Promise<StepResult<{ gates: Record<string, unknown>[] }> & { decided?: string }> => {
      const p = await loadPromotion(tx, ctx.input.promotionId);
      if (!['pending', 'awaiting_approval'].includes(p.status)) return decidedBefore(p, ctx);
      const release = await getRelease(tx, p.release_id);
      const environment = await getEnvironment(tx, p.target_environment_id);
      const plan = await planNow(tx, ctx.tenantId, p.release_id, p.target_environment_id, planRows(release, environment));
      // Waiting for people with every other gate passed: an approval evaluates the gates itself
      // (service.ts approve), so a wake-up here is the plan check; the gates (external ones included) are
      // evaluated again only when the plan changed.
      if (final && p.status === 'awaiting_approval' && plan && p.plan_hash === plan.hash) {
        const next = new Date(now.getTime() + (deps.recheckSeconds ?? 30) * 1000);
        return { status: 'waiting', until: next, reason: p.blocked_reason ?? 'waiting for approvals' };
      }
      const stored = { plan: p.plan ?? null, plan_hash: p.plan_hash ?? null, plan_changes: p.plan_changes ?? [] };
      const pc = await buildContext(tx, { ...contextFor(ctx.tenantId, p, now), plan, known: { release, environment, stored } });
      const refs = gateRefs(pc.environment.config);
      // Every gate is evaluated and recorded, so the promotion shows approvals and separation of duties
      // while it waits on another gate; before the approval step only the others decide.
      const gates = await evaluateGates(deps.gates, refs, pc, { ...deps, tx });
      const deciding = final ? gates : gates.filter((g) => !APPROVAL_GATES.has(g.gate));
      for (const g of gates) ctx.log(`gate ${g.gate}: ${g.status} — ${g.reason}`);
      const failed = deciding.filter((g) => g.status === 'fail');
      if (failed.length) {
        const why = failed.map((g) => `${g.gate}: ${g.reason}`).join('; ');
        const decided = await recordDecision(tx, deps.signer, pc, gates, 'rejected', why, () =>
          tell(tx, deps, ctx.tenantId, 'promotion.rejected', p.id, { reason: why }),
        );
        return { status: 'failed', error: `rejected by gates — ${why}`, retryable: false, ...(decided ? { decided: why } : {}) };
      }
      const pending = deciding.filter((g) => g.status === 'pending');
      if (pending.length) {
        const onlyPeople = pending.every((g) => APPROVAL_GATES.has(g.gate));
        // Waiting on people only: with a plan, it is looked at again now and then, so a plan that changes
        // (a target joins, settings change, drift) is seen and its approvers told before anyone decides.
        const next = onlyPeople && !pc.plan ? null : nextCheck(onlyPeople ? [] : pending, now, deps.recheckSeconds ?? 30);
        await recordWaiting(tx, pc, gates, onlyPeople ? 'awaiting_approval' : 'pending', next);
        const reason = pending.map((g) => `${g.gate}: ${g.reason}`).join('; ');
        return next ? { status: 'waiting', until: next, reason } : { status: 'waiting', reason };
      }
      if (final) {
        const decided = await recordDecision(tx, deps.signer, pc, gates, 'approved', 'every gate passed', () =>
          tell(tx, deps, ctx.tenantId, 'promotion.approved', p.id),
        );
        if (decided) return { status: 'succeeded', outputs: { gates: gates as unknown as Record<string, unknown>[] }, decided: 'approved' };
      } else {
        // Stays pending until the approval step looks at approvals and sets awaiting_approval with its reason.
        await recordWaiting(tx, pc, gates, 'pending', null);
      }
      return { status: 'succeeded', outputs: { gates: gates as unknown as Record<string, unknown>[] } };
    },
  );
  const { decided: _decided, ...step } = result;
  return step;
}

export function promotionSteps(deps: PromotionStepDeps): StepType<any, any>[] {
  const gatesStep: StepType<Input, z.infer<typeof gatesOut>> = {
    type: 'promotion_gates',
    description: 'Evaluates the environment’s gates except approvals; waits while one is pending (e.g. a freeze window).',
    inputSchema: input,
    outputSchema: gatesOut,
    execute: (ctx) => evaluate(deps, ctx, false),
  };
  const approvalStep: StepType<Input, z.infer<typeof gatesOut>> = {
    type: 'promotion_approval',
    description: 'Waits for the required approvals, evaluates every gate again and records the decision with its evidence.',
    inputSchema: input,
    outputSchema: gatesOut,
    execute: (ctx) => evaluate(deps, ctx, true),
  };
  const verifyStep: StepType<Input & { deploy?: unknown }, { verified: boolean; targets: number }> = {
    type: 'promotion_verify',
    description: 'Checks that every task of the promotion’s deployment succeeded.',
    inputSchema: input.extend({ deploy: z.unknown().optional() }),
    outputSchema: z.object({ verified: z.boolean(), targets: z.number() }),
    async execute(ctx) {
      const r = await withTenant(deps.db, ctx.tenantId, (tx) =>
        tx.query<{ total: number; ok: number }>(
          `SELECT count(t.*)::int AS total, count(t.*) FILTER (WHERE t.status IN ('succeeded', 'skipped'))::int AS ok
             FROM deployment_jobs j JOIN deployment_tasks t ON t.job_id = j.id
            WHERE j.promotion_id = $1 AND j.rollback_of IS NULL AND j.status = 'succeeded'`,
          [ctx.input.promotionId],
        ),
      );
      const { total, ok } = r.rows[0] ?? { total: 0, ok: 0 };
      ctx.log(`${ok} of ${total} deployment tasks succeeded`);
      if (ok !== total) return { status: 'failed', error: `${total - ok} of ${total} targets did not deploy`, retryable: false };
      return { status: 'succeeded', outputs: { verified: true, targets: total } };
    },
  };
  const completeStep: StepType<Input, { status: string }> = {
    type: 'promotion_complete',
    description: 'Marks the promotion deployed and the release deployed.',
    inputSchema: input,
    outputSchema: z.object({ status: z.string() }),
    async execute(ctx) {
      await withTenant(deps.db, ctx.tenantId, async (tx) => {
        const r = await tx.query<{ release_id: string }>(
          `UPDATE promotions SET status = 'deployed', completed_at = now(), blocked_reason = NULL
            WHERE id = $1 AND status IN ('approved', 'deploying') RETURNING release_id`,
          [ctx.input.promotionId],
        );
        if (r.rows[0]) {
          await tx.query(`UPDATE releases SET status = 'deployed' WHERE id = $1 AND status = 'ready'`, [r.rows[0].release_id]);
          await tell(tx, deps, ctx.tenantId, 'promotion.deployed', ctx.input.promotionId);
        }
      });
      return { status: 'succeeded', outputs: { status: 'deployed' } };
    },
  };
  return [gatesStep, approvalStep, verifyStep, completeStep];
}

export function registerPromotionSteps(registry: StepRegistry, deps: PromotionStepDeps): void {
  for (const s of promotionSteps(deps)) registry.register(s);
}
