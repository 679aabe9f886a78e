// Next actions: for each environment, which releases the caller may promote there now, and why not the
// others. Computed by the server with the same rules the API applies, so a page offers only what the
// API would accept: a release already running on every target, or already being promoted there, is not
// offered; one a gate fails (e.g. environment order) would be refused by its gates at once; without the
// role release_manager (or admin) nothing can be requested.
//
// One environment or all of them (the pipeline page) are answered the same way: what the gates look at is
// read in a handful of set-based queries (releases, targets per release, active promotions, where each
// release was deployed, the users involved), and every would-be promotion's context is assembled from it
// in memory — the context `buildContext` (context.ts) makes for a preview: no approvals, no overrides, no
// plan. A freeze window's verdict depends only on the environment and the moment, so it is evaluated once
// per environment and shared by that environment's candidates.
import { z } from 'zod';
import type { Environment } from '../environments/model.js';
import { envOut, getEnvironment } from '../environments/service.js';
import { APPROVAL_GATES, evaluateGates, GateRegistry, gateRefs } from '../gates/registry.js';
import type { Actor, GateDeps, GateRef, PromotionContext } from '../gates/types.js';
import type { AuthContext } from '../http/types.js';
import type { Release } from '../releases/model.js';
import type { Tx } from '../store/db.js';
import { contextEnvironment, pins, previousEnvironment } from './context.js';
import { ACTIVE_STATUSES, gateResult, PROMOTION_STATUSES } from './model.js';

export const nextActionsQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(50).default(10).describe('How many of the newest ready or deployed releases to consider.'),
});

const ref = z.object({ id: z.uuid(), name: z.string() });

export const nextAction = z.object({
  release: ref.extend({ displayName: z.string(), status: z.string(), createdAt: z.string() }),
  state: z
    .enum(['available', 'running', 'in_progress', 'blocked'])
    .describe(
      'available: may be requested; running: already on every target; in_progress: a promotion there is active; blocked: a gate fails',
    ),
  canRequest: z.boolean().describe('True when this caller may request it now and the API would accept it.'),
  reason: z.string().nullable().describe('Why it cannot be requested (state, or the caller’s roles).'),
  activePromotion: z.object({ id: z.uuid(), status: z.enum(PROMOTION_STATUSES) }).nullable(),
  targets: z.object({ running: z.number().int(), total: z.number().int() }).describe('Targets of the environment running this release.'),
  gates: z.array(gateResult).describe('The gate preview for this caller (empty when running or in progress).'),
  wouldPass: z.boolean(),
});

export const nextActionsResult = z.object({
  environment: ref,
  previousEnvironment: ref.nullable(),
  canRequest: z.boolean().describe('The caller’s roles allow requesting promotions.'),
  roleReason: z.string().nullable(),
  recommendedReleaseId: z.uuid().nullable().describe('The newest release that can be requested now, if any.'),
  items: z.array(nextAction),
});

export const allNextActionsResult = z.object({
  items: z.array(nextActionsResult).describe('One entry per environment, in promotion order.'),
});

type NextAction = z.infer<typeof nextAction>;
type Result = z.infer<typeof nextActionsResult>;
type EnvRef = { id: string; name: string };
type ActiveStatus = (typeof PROMOTION_STATUSES)[number];

/** The id of a preview's would-be promotion (it has no approvals or overrides). */
const PREVIEW_ID = '00000000-0000-7000-8000-000000000000';

/** Next actions for one environment (by id or name). */
export async function nextActions(
  tx: Tx,
  auth: AuthContext,
  gates: GateRegistry,
  deps: GateDeps,
  envRef: string,
  limit: number,
): Promise<Result> {
  const env = await getEnvironment(tx, envRef);
  const previous = await previousEnvironment(tx, env.orderIndex);
  const [result] = await compute(tx, auth, gates, deps, [{ env, previous }], limit);
  return result!;
}

/** Next actions for every environment, in promotion order (the pipeline page's one request). */
export async function allNextActions(tx: Tx, auth: AuthContext, gates: GateRegistry, deps: GateDeps, limit: number) {
  const envs = (await tx.query<Parameters<typeof envOut>[0]>('SELECT * FROM environments ORDER BY order_index, id')).rows.map(envOut);
  // The previous environment is the last one (by order, then id) with a lower order index, as previousEnvironment() reads it.
  let previous: EnvRef | null = null;
  let last: EnvRef | null = null;
  const list = envs.map((env, i) => {
    if (i > 0 && envs[i - 1]!.orderIndex < env.orderIndex) previous = last;
    last = { id: env.id, name: env.name };
    return { env, previous };
  });
  return { items: await compute(tx, auth, gates, deps, list, limit) };
}

async function compute(
  tx: Tx,
  auth: AuthContext,
  gates: GateRegistry,
  deps: GateDeps,
  envs: { env: Environment; previous: EnvRef | null }[],
  limit: number,
): Promise<Result[]> {
  const roleOk = auth.roles.includes('admin') || auth.roles.includes('release_manager');
  const roleReason = roleOk
    ? null
    : `Requesting a promotion needs the role release_manager or admin; you have ${auth.roles.join(', ') || 'none'}.`;
  const envIds = envs.map((e) => e.env.id);
  const releases = (
    await tx.query<{
      id: string;
      name: string;
      display_name: string;
      status: Release['status'];
      components: Release['components'];
      source_ref: Release['sourceRef'];
      created_by: string | null;
      created_at: Date;
    }>(
      `SELECT id, name, display_name, status, components, source_ref, created_by, created_at FROM releases
        WHERE status IN ('ready', 'deployed') ORDER BY created_at DESC, id DESC LIMIT $1`,
      [limit],
    )
  ).rows;
  const releaseIds = releases.map((r) => r.id);
  const counts = await tx.query<{ environment_id: string; release_id: string | null; n: number }>(
    `SELECT environment_id, current_release_id AS release_id, count(*)::int AS n FROM targets
      WHERE environment_id = ANY($1::uuid[]) GROUP BY 1, 2`,
    [envIds],
  );
  const active = await tx.query<{ id: string; release_id: string; target_environment_id: string; status: ActiveStatus }>(
    `SELECT id, release_id, target_environment_id, status FROM promotions
      WHERE target_environment_id = ANY($1::uuid[]) AND status = ANY($2::text[]) ORDER BY id DESC`,
    [envIds, [...ACTIVE_STATUSES]],
  );
  // Where each candidate reached a previous environment (the environment order gate): as releaseDeployedIn() reads it.
  const prevIds = [...new Set(envs.flatMap((e) => (e.previous ? [e.previous.id] : [])))];
  const deployed = prevIds.length
    ? await tx.query<{ release_id: string; environment_id: string }>(
        `SELECT DISTINCT release_id, target_environment_id AS environment_id FROM promotions
          WHERE release_id = ANY($1::uuid[]) AND target_environment_id = ANY($2::uuid[]) AND status = 'deployed'
         UNION
         SELECT DISTINCT release_id, environment_id FROM deployment_jobs
          WHERE release_id = ANY($1::uuid[]) AND environment_id = ANY($2::uuid[]) AND status = 'succeeded' AND rollback_of IS NULL`,
        [releaseIds, prevIds],
      )
    : { rows: [] };
  const deployedIn = new Set(deployed.rows.map((d) => `${d.release_id}/${d.environment_id}`));
  // Users are visible to the tenant role only when bound to the tenant; an unknown one is named by its id (as actor() does).
  const userIds = [...new Set([auth.userId, ...releases.flatMap((r) => (r.created_by ? [r.created_by] : []))])];
  const users = await tx.query<{ id: string; username: string }>('SELECT id, username FROM users WHERE id = ANY($1::uuid[])', [userIds]);
  const names = new Map(users.rows.map((u) => [u.id, u.username]));
  const actor = (id: string): Actor => ({ id, username: names.get(id) ?? id });

  const now = deps.clock.now();
  const requester = actor(auth.userId);
  const runningBy = new Map<string, number>();
  const totals = new Map<string, number>();
  for (const c of counts.rows) {
    runningBy.set(`${c.environment_id}/${c.release_id}`, c.n);
    totals.set(c.environment_id, (totals.get(c.environment_id) ?? 0) + c.n);
  }
  const contextRelease = new Map(
    releases.map((r) => [
      r.id,
      {
        id: r.id,
        name: r.name,
        status: r.status,
        createdBy: r.created_by ? actor(r.created_by) : null,
        components: pins({ components: r.components } as Release),
        sourceRef: r.source_ref,
      },
    ]),
  );

  const out: Result[] = [];
  for (const { env, previous } of envs) {
    const total = totals.get(env.id) ?? 0;
    const refs = gateRefs(env.config as Record<string, unknown>);
    const items: NextAction[] = [];
    const envGates = previewRegistry(gates);
    for (const r of releases) {
      const on = runningBy.get(`${env.id}/${r.id}`) ?? 0;
      const inFlight = active.rows.find((p) => p.release_id === r.id && p.target_environment_id === env.id);
      const base = {
        release: { id: r.id, name: r.name, displayName: r.display_name, status: r.status, createdAt: r.created_at.toISOString() },
        activePromotion: inFlight ? { id: inFlight.id, status: inFlight.status } : null,
        targets: { running: on, total },
      };
      if (total > 0 && on === total) {
        items.push({
          ...base,
          state: 'running',
          canRequest: false,
          reason: `${r.name} already runs on every target of "${env.name}" (${total}).`,
          gates: [],
          wouldPass: false,
        });
        continue;
      }
      if (inFlight) {
        items.push({
          ...base,
          state: 'in_progress',
          canRequest: false,
          reason: `${r.name} is already being promoted to "${env.name}" (promotion ${inFlight.id}, ${inFlight.status.replaceAll('_', ' ')}).`,
          gates: [],
          wouldPass: false,
        });
        continue;
      }
      const ctx: PromotionContext = {
        tenantId: auth.tenantId,
        promotion: { id: PREVIEW_ID, reason: 'preview', requestedBy: requester, requestedAt: now.toISOString() },
        release: contextRelease.get(r.id)!,
        environment: contextEnvironment(env),
        previousEnvironment: previous ? { ...previous, releaseDeployed: deployedIn.has(`${r.id}/${previous.id}`) } : null,
        approvals: [],
        plan: null,
        overrides: [],
        now: now.toISOString(),
      };
      const preview = await evaluatePreview(envGates, refs, ctx, deps);
      const failing = preview.gates.filter((g) => g.status === 'fail');
      if (failing.length) {
        items.push({
          ...base,
          state: 'blocked',
          canRequest: false,
          reason: `Its gates would refuse it: ${failing.map((g) => `${g.gate}: ${g.reason}`).join('; ')}.`,
          gates: preview.gates,
          wouldPass: preview.wouldPass,
        });
        continue;
      }
      items.push({
        ...base,
        state: 'available',
        canRequest: roleOk,
        reason: roleReason,
        gates: preview.gates,
        wouldPass: preview.wouldPass,
      });
    }
    out.push({
      environment: { id: env.id, name: env.name },
      previousEnvironment: previous,
      canRequest: roleOk,
      roleReason,
      recommendedReleaseId: items.find((i) => i.canRequest)?.release.id ?? null,
      items,
    });
  }
  return out;
}

/**
 * The registry one environment's previews are evaluated with: the same gates, except that the built-in
 * freeze window's verdict is computed once and shared by the environment's candidates. It looks only at
 * the environment's windows, the moment and the promotion's overrides, and a preview has no overrides.
 */
function previewRegistry(gates: GateRegistry): GateRegistry {
  const out = new GateRegistry();
  for (const { id } of gates.list()) {
    const gate = gates.get(id)!;
    if (id !== 'freeze_window') {
      out.register(gate);
      continue;
    }
    let verdict: ReturnType<typeof gate.evaluate> | undefined;
    out.register({ ...gate, evaluate: (ctx, config, deps) => (verdict ??= gate.evaluate(ctx, config, deps)) });
  }
  return out;
}

/** The gates of one would-be promotion, in the environment's order. */
async function evaluatePreview(gates: GateRegistry, refs: GateRef[], ctx: PromotionContext, deps: GateDeps) {
  const results = await evaluateGates(gates, refs, ctx, deps);
  const wouldPass = results.every((g) => g.status === 'pass' || (g.status === 'pending' && APPROVAL_GATES.has(g.gate)));
  return { gates: results, wouldPass };
}
