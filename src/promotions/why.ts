// Why a promotion waits or was refused, and until when: each gate's result with what would make it pass
// and when a time-based gate opens (in its window's time zone), who may still approve (and who may not,
// and why), and the earliest moment it could proceed if the approvals came now. Read-only.
import { z } from 'zod';
import { formatZoned } from '../core/zoned.js';
import type { FreezeWindow } from '../environments/freeze.js';
import { forThisPlan } from '../gates/builtin.js';
import { freezeEnds } from '../gates/freeze.js';
import { APPROVAL_GATES } from '../gates/registry.js';
import type { GateResult, PromotionContext } from '../gates/types.js';
import type { Tx } from '../store/db.js';

export const explanation = z.object({
  status: z.string().nullable().describe('The promotion’s status (null for a dry run)'),
  evaluatedAt: z.string().nullable(),
  verdict: z.enum(['passes', 'waiting', 'refused']).describe('refused: a gate fails; waiting: something is pending'),
  summary: z.string().describe('The answer in one paragraph'),
  gates: z.array(
    z.object({
      gate: z.string(),
      status: z.enum(['pass', 'fail', 'pending']),
      reason: z.string(),
      unblock: z.string().nullable().describe('What would make it pass (null when it passes)'),
      opensAt: z.string().nullable().describe('When a time-based gate passes by itself'),
      opensAtLocal: z.string().nullable().describe('The same moment in the time zone of the window or rule that decides it'),
    }),
  ),
  opensAt: z.string().nullable().describe('When every time-based gate has opened (null when none waits on time)'),
  opensAtLocal: z.string().nullable(),
  approvals: z.object({
    required: z.number().int(),
    counted: z.array(z.string()).describe('People whose approval counts for the current plan'),
    needed: z.number().int().describe('How many more are needed'),
    eligible: z
      .array(z.object({ username: z.string(), note: z.string().nullable() }))
      .describe('People who may still approve (approver or admin role, not excluded)'),
    excluded: z.array(z.object({ username: z.string(), why: z.string() })).describe('People who may not approve, and why'),
  }),
  earliestProceedAt: z
    .string()
    .nullable()
    .describe('If the needed approvals came now: when it could proceed (null when a gate fails or waits on something without a time)'),
  earliestProceedAtLocal: z.string().nullable(),
});
export type Explanation = z.infer<typeof explanation>;

const UNBLOCK: Record<string, string> = {
  environment_order: 'deploy this release to the previous environment first (or set requirePreviousEnvironment: false on this environment)',
  release_status: 'make the release ready (gantry release ready); a deprecated release cannot be promoted',
  separation_of_duties: 'an approver other than the requester and the release creator approves; approvals by them do not count',
  freeze_window: 'wait for the freeze to end (the promotion continues by itself), or an emergency override by an allowed role',
  security_verdict: "fix the findings and rescan, or adjust the scanner's thresholds",
  policy: 'change the promotion so the policy expression holds, or update the policy',
  webhook: 'the external policy service must allow it (see its reason)',
};

function unblockOf(g: GateResult, needed: number, eligible: string[]): string | null {
  if (g.status === 'pass') return null;
  if (g.gate === 'approvals') {
    if (g.status === 'fail') return 'a rejection ends the promotion; request a new one once the cause is fixed';
    return `${needed} more approval(s) for the current plan${eligible.length ? ` — from ${eligible.join(', ')}` : ' — but nobody else may approve: add an approver'}`;
  }
  const base = g.gate.split(':')[0] ?? g.gate;
  return UNBLOCK[base] ?? (g.status === 'pending' ? 'it is evaluated again automatically until it passes' : 'see the reason');
}

/** The zone-local text of a gate's retry time: a freeze window's, in its own zone; otherwise UTC. */
function openingLocal(ctx: PromotionContext, g: GateResult): string | null {
  if (!g.retryAt) return null;
  const at = new Date(g.retryAt);
  if (g.gate === 'freeze_window') {
    const ends = freezeEnds(ctx.environment.freezeWindows as FreezeWindow[], new Date(ctx.now));
    if (ends && ends.at.getTime() === at.getTime()) return formatZoned(at, ends.window.timezone);
  }
  return formatZoned(at, 'UTC');
}

async function approvers(tx: Tx, tenantId: string): Promise<{ id: string; username: string }[]> {
  const r = await tx.query<{ id: string; username: string }>(
    `SELECT DISTINCT u.id, u.username FROM role_bindings b JOIN users u ON u.id = b.user_id
      WHERE b.tenant_id = $1 AND b.role IN ('approver', 'admin') AND u.disabled_at IS NULL ORDER BY u.username`,
    [tenantId],
  );
  return r.rows;
}

/** Explains `gates` (as last evaluated, or just now for a dry run) for the promotion of `ctx`. */
export async function explain(
  tx: Tx,
  ctx: PromotionContext,
  gates: GateResult[],
  p: { status: string | null; evaluatedAt: string | null },
): Promise<Explanation> {
  const now = new Date(ctx.now);
  const required = ctx.environment.requiredApprovals;
  const sod = ctx.environment.requireSod;
  const counted = new Set<string>();
  const excluded: { username: string; why: string }[] = [];
  const eligible: { username: string; note: string | null }[] = [];
  for (const u of await approvers(tx, ctx.tenantId)) {
    const mine = ctx.approvals.filter((a) => a.approver.id === u.id);
    if (sod && u.id === ctx.promotion.requestedBy.id) {
      excluded.push({ username: u.username, why: 'requested this promotion (separation of duties)' });
    } else if (sod && u.id === ctx.release.createdBy?.id) {
      excluded.push({ username: u.username, why: `created release ${ctx.release.name} (separation of duties)` });
    } else if (mine.some((a) => a.action === 'rejected')) {
      excluded.push({ username: u.username, why: 'rejected it' });
    } else if (mine.some((a) => a.action === 'approved' && forThisPlan(ctx, a))) {
      counted.add(u.username);
    } else {
      eligible.push({
        username: u.username,
        note: mine.some((a) => a.action === 'approved') ? 'approved an earlier plan; may approve the current one' : null,
      });
    }
  }
  // People who approved and no longer hold a role still count (their approval was valid when given).
  for (const a of ctx.approvals) {
    if (a.action === 'approved' && forThisPlan(ctx, a) && !excluded.some((e) => e.username === a.approver.username))
      counted.add(a.approver.username);
  }
  const needed = Math.max(0, required - counted.size);
  const names = eligible.map((e) => e.username);
  const rows = gates.map((g) => ({
    gate: g.gate,
    status: g.status,
    reason: g.reason,
    unblock: unblockOf(g, needed, names),
    opensAt: g.status === 'pending' ? (g.retryAt ?? null) : null,
    opensAtLocal: g.status === 'pending' ? openingLocal(ctx, g) : null,
  }));
  const failing = gates.filter((g) => g.status === 'fail');
  const timed = gates.filter((g) => g.status === 'pending' && !APPROVAL_GATES.has(g.gate));
  const untimed = timed.filter((g) => !g.retryAt);
  const latest = timed
    .filter((g) => g.retryAt)
    .reduce<GateResult | null>((a, b) => (!a || Date.parse(b.retryAt!) > Date.parse(a.retryAt!) ? b : a), null);
  const opensAt = latest?.retryAt ?? null;
  const opensAtLocal = latest ? openingLocal(ctx, latest) : null;
  const proceedAt =
    failing.length || untimed.length || needed > eligible.length
      ? null
      : opensAt && Date.parse(opensAt) > now.getTime()
        ? opensAt
        : now.toISOString();
  const proceedLocal = proceedAt === opensAt ? opensAtLocal : proceedAt ? formatZoned(new Date(proceedAt), 'UTC') : null;
  const peoplePending = gates.some((g) => g.status === 'pending' && APPROVAL_GATES.has(g.gate));
  const verdict = failing.length ? 'refused' : timed.length || peoplePending ? 'waiting' : 'passes';

  const parts: string[] = [];
  if (verdict === 'refused') {
    parts.push(`Refused by ${failing.map((g) => `${g.gate} (${g.reason})`).join('; ')}.`);
    parts.push(`To pass: ${failing.map((g) => unblockOf(g, needed, names)).join('; ')}.`);
  } else if (verdict === 'passes') {
    parts.push('Every gate passes.');
  } else {
    const waits: string[] = [];
    if (needed > 0) {
      waits.push(
        `${needed} more approval(s)${names.length ? ` (${names.join(', ')} may give ${needed === 1 ? 'it' : 'them'})` : ' — nobody else may approve: add an approver'}`,
      );
    }
    for (const g of timed) waits.push(g.retryAt ? `${g.gate} until ${openingLocal(ctx, g)}` : `${g.gate} (${g.reason})`);
    parts.push(`Waiting for ${waits.join(' and ')}.`);
    if (proceedAt) {
      parts.push(
        needed > 0
          ? `With the approvals now, it could proceed ${proceedAt === now.toISOString() ? 'at once' : `at ${proceedLocal}`}.`
          : `It proceeds by itself at ${proceedLocal}.`,
      );
    }
  }
  if (excluded.length) parts.push(`May not approve: ${excluded.map((e) => `${e.username} (${e.why})`).join(', ')}.`);
  return {
    status: p.status,
    evaluatedAt: p.evaluatedAt,
    verdict,
    summary: parts.join(' '),
    gates: rows,
    opensAt,
    opensAtLocal,
    approvals: { required, counted: [...counted].sort(), needed, eligible, excluded },
    earliestProceedAt: proceedAt,
    earliestProceedAtLocal: proceedLocal,
  };
}
