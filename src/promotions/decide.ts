// Deciding a promotion in the transaction that requests it: when its run would start by evaluating the
// gates and nothing has to wait (no approval outstanding, no freeze, no pending verdict), the gates are
// evaluated here and the decision with its signed packet commits with the request. The run still starts
// and its gate steps find the promotion decided; anything that waits is left to the run, as before.
import type { DeploymentPlan } from '../deployments/plan.js';
import type { Environment } from '../environments/model.js';
import { APPROVAL_GATES, evaluateGates, type GateRegistry, gateRefs } from '../gates/registry.js';
import type { GateDeps } from '../gates/types.js';
import { notify } from '../integrations/notify.js';
import type { Release } from '../releases/model.js';
import type { Tx } from '../store/db.js';
import { buildContext, contextFor, type KnownRows, type PromotionRow } from './context.js';
import { recordDecision, type Signer } from './decision.js';

export interface DecideDeps {
  signer: Signer;
  gates: GateRegistry;
  gateDeps: GateDeps;
}

interface TemplateShape {
  nodes: { id: string; type: string; config?: Record<string, unknown>; when?: unknown }[];
  edges: { from: string; to: string }[];
}

// Template versions are never changed in place, so what a template id says is cached for good.
const decidesFirst = new Map<string, boolean>();
const FOR_THIS_PROMOTION = '${{ inputs.promotionId }}';

/**
 * True when a run of the template begins with the promotion's decision and nothing else: a
 * promotion_gates node whose only successor is a promotion_approval node (the standard template), or a
 * promotion_approval node alone at the start. Anything else (a step before the gates, a condition) runs
 * as its template says.
 */
function startsWithDecision(t: TemplateShape): boolean {
  const plain = (n: TemplateShape['nodes'][number] | undefined) =>
    n && n.when === undefined && n.config?.promotionId === FOR_THIS_PROMOTION;
  const roots = t.nodes.filter((n) => !t.edges.some((e) => e.to === n.id));
  const root = roots[0];
  if (roots.length !== 1 || !plain(root)) return false;
  if (root!.type === 'promotion_approval') return true;
  if (root!.type !== 'promotion_gates') return false;
  const next = t.edges.filter((e) => e.from === root!.id);
  const approval = t.nodes.find((n) => n.id === next[0]?.to);
  return (
    next.length === 1 &&
    approval?.type === 'promotion_approval' &&
    plain(approval) === true &&
    t.edges.filter((e) => e.to === approval.id).length === 1
  );
}

async function templateDecidesFirst(tx: Tx, templateId: string): Promise<boolean> {
  let known = decidesFirst.get(templateId);
  if (known === undefined) {
    const r = await tx.query<TemplateShape>('SELECT nodes, edges FROM workflow_templates WHERE id = $1', [templateId]);
    known = r.rows[0] ? startsWithDecision(r.rows[0]) : false;
    if (decidesFirst.size > 1000) decidesFirst.clear();
    decidesFirst.set(templateId, known);
  }
  return known;
}

/** What the request read and wrote in its transaction, so deciding reads none of it again. */
export interface Requested {
  promotion: PromotionRow;
  templateId: string;
  known: KnownRows & { release: Release; environment: Environment };
  /** The plan the request computed moments ago in this transaction (nothing can have changed it since). */
  plan: DeploymentPlan | null;
}

/**
 * Decides the just-requested promotion when its run would decide it without waiting; the same outcome,
 * gate results, record, packet and notification as the run's gate steps would give. Returns the decided
 * promotion's row, or null when the promotion is left to its run.
 */
export async function decideAtRequest(tx: Tx, deps: DecideDeps, req: Requested): Promise<PromotionRow | null> {
  const p = req.promotion;
  const env = req.known.environment;
  if (p.status !== 'pending') return null;
  const refs = gateRefs(env.config as Record<string, unknown>);
  // Approvals required: the approvals gate waits for people, so the run waits as it always did.
  if (env.requiredApprovals > 0 && refs.some((g) => (typeof g === 'string' ? g : g.id) === 'approvals')) return null;
  if (!(await templateDecidesFirst(tx, req.templateId))) return null;
  const now = deps.gateDeps.clock.now();
  const ctx = await buildContext(tx, { ...contextFor(p.tenant_id, p, now), plan: req.plan, known: req.known });
  const gates = await evaluateGates(deps.gates, refs, ctx, { ...deps.gateDeps, tx });
  // The run's first step decides on the gates other than approvals (a pending one makes it wait), the
  // approval step on all of them.
  const first = gates.filter((g) => !APPROVAL_GATES.has(g.gate));
  let failed = first.filter((g) => g.status === 'fail');
  if (!failed.length && first.some((g) => g.status === 'pending')) return null;
  if (!failed.length) failed = gates.filter((g) => g.status === 'fail');
  if (failed.length) {
    const why = failed.map((g) => `${g.gate}: ${g.reason}`).join('; ');
    const told = () => notify(tx, p.tenant_id, { type: 'promotion.rejected', data: { promotionId: p.id, reason: why } }, now);
    return recordDecision(tx, deps.signer, ctx, gates, 'rejected', why, told, true);
  }
  if (gates.some((g) => g.status !== 'pass')) return null;
  const told = () => notify(tx, p.tenant_id, { type: 'promotion.approved', data: { promotionId: p.id } }, now);
  return recordDecision(tx, deps.signer, ctx, gates, 'approved', 'every gate passed', told, true);
}
