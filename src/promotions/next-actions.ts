// Next actions: for one environment, which releases the caller may promote there now, and why not the
// others. Computed by the server with the same rules the API applies, so a page offers only what the
// API would accept: a release already running on every target, or already being promoted there, is not
// offered; one a gate fails (e.g. environment order) would be refused by its gates at once; without the
// role release_manager (or admin) nothing can be requested.
import { z } from 'zod';
import { getEnvironment } from '../environments/service.js';
import type { evaluateGates, GateRegistry } from '../gates/registry.js';
import type { AuthContext } from '../http/types.js';
import type { Tx } from '../store/db.js';
import { previousEnvironment } from './context.js';
import { ACTIVE_STATUSES, gateResult, PROMOTION_STATUSES } from './model.js';
import { previewGates } from './service.js';

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
type NextAction = z.infer<typeof nextAction>;

export async function nextActions(
  tx: Tx,
  auth: AuthContext,
  gates: GateRegistry,
  deps: Parameters<typeof evaluateGates>[3],
  envRef: string,
  limit: number,
): Promise<z.infer<typeof nextActionsResult>> {
  const env = await getEnvironment(tx, envRef);
  const previous = await previousEnvironment(tx, env.orderIndex);
  const roleOk = auth.roles.includes('admin') || auth.roles.includes('release_manager');
  const roleReason = roleOk
    ? null
    : `Requesting a promotion needs the role release_manager or admin; you have ${auth.roles.join(', ') || 'none'}.`;
  const releases = await tx.query<{ id: string; name: string; display_name: string; status: string; created_at: Date }>(
    `SELECT id, name, display_name, status, created_at FROM releases WHERE status IN ('ready', 'deployed')
      ORDER BY created_at DESC, id DESC LIMIT $1`,
    [limit],
  );
  const counts = await tx.query<{ release_id: string | null; n: number }>(
    'SELECT current_release_id AS release_id, count(*)::int AS n FROM targets WHERE environment_id = $1 GROUP BY 1',
    [env.id],
  );
  const total = counts.rows.reduce((a, c) => a + c.n, 0);
  const running = new Map(counts.rows.map((c) => [c.release_id, c.n]));
  const active = await tx.query<{ id: string; release_id: string; status: (typeof PROMOTION_STATUSES)[number] }>(
    `SELECT id, release_id, status FROM promotions WHERE target_environment_id = $1 AND status = ANY($2::text[]) ORDER BY id DESC`,
    [env.id, [...ACTIVE_STATUSES]],
  );
  const items: NextAction[] = [];
  for (const r of releases.rows) {
    const on = running.get(r.id) ?? 0;
    const inFlight = active.rows.find((p) => p.release_id === r.id);
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
    const preview = await previewGates(tx, auth, gates, deps, { releaseId: r.id, targetEnvironmentId: env.id });
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
    items.push({ ...base, state: 'available', canRequest: roleOk, reason: roleReason, gates: preview.gates, wouldPass: preview.wouldPass });
  }
  return {
    environment: { id: env.id, name: env.name },
    previousEnvironment: previous,
    canRequest: roleOk,
    roleReason,
    recommendedReleaseId: items.find((i) => i.canRequest)?.release.id ?? null,
    items,
  };
}
