// History: what ran on a target over time and at a given instant, with who decided it and the evidence
// that proves it (verified against the chain), and everywhere a digest ran. Derived from the succeeded
// deployment tasks (each one sets what a target runs from its completion on: the digests its runner
// observed, else the pinned ones), the jobs, promotions and their decision records, drift periods
// (drift_periods, kept by a trigger) and the evidence packets.
import { NotFoundError, ValidationError } from '../core/errors.js';
import { bundleKeys } from '../evidence/export.js';
import { chainLinks } from '../evidence/queries.js';
import { PACKET_COLUMNS, type PacketRow, toPacket } from '../evidence/service.js';
import { BUNDLE_FORMAT, type Bundle, verifyBundle } from '../protocol/evidence-format.js';
import type { Tx } from '../store/db.js';
import { getTarget } from '../targets/service.js';

export interface RanComponent {
  name: string;
  image: string;
  digest: string;
}

export interface Interval {
  from: string;
  /** null: still running now. */
  to: string | null;
  /** remove: Gantry took its containers away; nothing of it ran from `from` on. */
  action: 'deploy' | 'remove';
  components: RanComponent[];
  /** True when the digests are what the runner observed after the change (not only what was pinned). */
  observed: boolean;
  release: { id: string; name: string };
  taskId: string;
  jobId: string;
  promotionId: string | null;
  rollbackOf: string | null;
}

export interface DriftPeriod {
  from: string;
  to: string | null;
  items: { component: string | null; field: string; expected: string | null; actual: string | null }[];
}

interface TaskRow {
  id: string;
  job_id: string;
  action: 'deploy' | 'remove';
  components: { name: string; image: string; digest: string }[];
  observed: { component: string; digest: string | null; image: string | null }[];
  completed_at: Date;
  release_id: string;
  release_name: string;
  promotion_id: string | null;
  rollback_of: string | null;
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);

/** Every interval of what ran on the target, oldest first. */
async function intervals(tx: Tx, targetId: string): Promise<Interval[]> {
  const r = await tx.query<TaskRow>(
    `SELECT t.id, t.job_id, t.action, t.components, t.observed, t.completed_at, j.release_id, r.name AS release_name,
            j.promotion_id, j.rollback_of
       FROM deployment_tasks t JOIN deployment_jobs j ON j.id = t.job_id JOIN releases r ON r.id = j.release_id
      WHERE t.target_id = $1 AND t.status = 'succeeded' AND t.completed_at IS NOT NULL
      ORDER BY t.completed_at, t.id`,
    [targetId],
  );
  return r.rows.map((t, i) => {
    const seen = new Map(t.observed.filter((o) => o.digest).map((o) => [o.component, o.digest!]));
    const components =
      t.action === 'remove' ? [] : t.components.map((c) => ({ name: c.name, image: c.image, digest: seen.get(c.name) ?? c.digest }));
    return {
      from: t.completed_at.toISOString(),
      to: iso(r.rows[i + 1]?.completed_at ?? null),
      action: t.action,
      components,
      observed: t.action === 'deploy' && t.components.every((c) => seen.has(c.name)),
      release: { id: t.release_id, name: t.release_name },
      taskId: t.id,
      jobId: t.job_id,
      promotionId: t.promotion_id,
      rollbackOf: t.rollback_of,
    };
  });
}

async function driftPeriods(tx: Tx, targetId: string): Promise<DriftPeriod[]> {
  const r = await tx.query<{ started_at: Date; ended_at: Date | null; items: DriftPeriod['items'] }>(
    'SELECT started_at, ended_at, items FROM drift_periods WHERE target_id = $1 ORDER BY started_at',
    [targetId],
  );
  return r.rows.map((d) => ({ from: d.started_at.toISOString(), to: iso(d.ended_at), items: d.items }));
}

/** The target's timeline: what ran from when to when, and its drift periods. */
export async function targetTimeline(tx: Tx, ref: string) {
  const target = await getTarget(tx, ref);
  return {
    target: { id: target.id, name: target.name, environmentName: target.environmentName },
    intervals: (await intervals(tx, target.id)).reverse(),
    drift: (await driftPeriods(tx, target.id)).reverse(),
  };
}

const covers = (x: { from: string; to: string | null }, at: Date) =>
  Date.parse(x.from) <= at.getTime() && (x.to === null || at.getTime() < Date.parse(x.to));

/** Verifies packets (signatures, hashes, headers) and their place in the tenant's chain, as an export bundle would be. */
async function verifyPackets(tx: Tx, tenantId: string, rows: PacketRow[]) {
  const sorted = [...rows].sort((a, b) => a.seq - b.seq);
  if (sorted.length === 0) return { ok: false, failures: ['no evidence packet records this'] };
  const first = sorted[0]!;
  const last = sorted[sorted.length - 1]!;
  const bundle: Bundle = {
    format: BUNDLE_FORMAT,
    exportedAt: new Date().toISOString(),
    tenant: { id: tenantId, name: '' },
    filter: {},
    packets: sorted.map(toPacket),
    keys: await bundleKeys(tx),
    chain: {
      scope: 'subset',
      fromSequence: first.seq,
      toSequence: last.seq,
      anchorHash: first.previous_hash,
      headSequence: null,
      headHash: null,
      links: await chainLinks(tx, tenantId, first.seq, last.seq),
    },
  };
  const report = verifyBundle(bundle);
  return {
    ok: report.ok,
    failures: report.failures.map((f) => `packet ${f.id} (${f.packetType} #${f.sequence}): ${f.check}: ${f.message}`),
  };
}

/** What ran on the target at `at`, who decided it, and the evidence that proves it. */
export async function targetAt(tx: Tx, tenantId: string, ref: string, at: Date) {
  const target = await getTarget(tx, ref);
  const all = await intervals(tx, target.id);
  const interval = all.find((x) => covers(x, at)) ?? null;
  const drift = (await driftPeriods(tx, target.id)).find((d) => covers(d, at)) ?? null;
  const base = {
    target: { id: target.id, name: target.name, environmentName: target.environmentName },
    at: at.toISOString(),
    drift,
  };
  if (!interval) {
    const first = all[0];
    return {
      ...base,
      ran: null,
      why:
        first && Date.parse(first.from) > at.getTime()
          ? `nothing Gantry deployed ran there yet; the first deployment completed at ${first.from}`
          : 'nothing Gantry deployed ran there',
      job: null,
      promotion: null,
      evidence: [],
      verification: null,
    };
  }
  const job = await tx.query<{
    id: string;
    strategy: string;
    status: string;
    created_by: string | null;
    username: string | null;
    created_at: Date;
    plan_hash: string | null;
  }>(
    `SELECT j.id, j.strategy, j.status, j.created_by, u.username, j.created_at, j.plan_hash FROM deployment_jobs j LEFT JOIN users u ON u.id = j.created_by WHERE j.id = $1`,
    [interval.jobId],
  );
  const promotion = interval.promotionId ? await promotionOf(tx, interval.promotionId) : null;
  // The job's packet, the promotion's decision (which may be an identical earlier decision's packet,
  // referenced instead of repeated) and its overrides.
  const packets = await tx.query<PacketRow>(
    `SELECT ${PACKET_COLUMNS} FROM evidence_packets
      WHERE tenant_id = $1 AND ((packet_type IN ('deployment', 'rollback') AND content -> 'job' ->> 'id' = $2)
         OR ($3::uuid IS NOT NULL AND promotion_id = $3 AND packet_type IN ('release_decision', 'gate_override'))
         OR id = $4::uuid)
      ORDER BY seq`,
    [tenantId, interval.jobId, interval.promotionId, promotion?.decisionPacketId ?? null],
  );
  const j = job.rows[0]!;
  return {
    ...base,
    ran: interval,
    why: interval.action === 'remove' ? 'Gantry had removed what it deployed there' : null,
    job: {
      id: j.id,
      strategy: j.strategy,
      status: j.status,
      createdBy: j.username,
      createdAt: j.created_at.toISOString(),
      planHash: j.plan_hash,
      rollbackOf: interval.rollbackOf,
    },
    promotion,
    evidence: packets.rows.map((p) => ({ id: p.id, type: p.packet_type, sequence: p.seq, contentHash: p.content_hash })),
    verification: await verifyPackets(tx, tenantId, packets.rows),
  };
}

async function promotionOf(tx: Tx, id: string) {
  const p = await tx.query<{
    id: string;
    reason: string;
    status: string;
    username: string;
    requested_at: Date;
    decision_record: {
      gates?: { gate: string; status: string; reason: string }[];
      outcome?: string;
      decidedAt?: string;
      evidence?: { packetId?: string };
      plan?: { hash?: string } | null;
    };
  }>(
    `SELECT p.id, p.reason, p.status, u.username, p.requested_at, p.decision_record FROM promotions p JOIN users u ON u.id = p.requested_by WHERE p.id = $1`,
    [id],
  );
  const row = p.rows[0];
  if (!row) return null;
  const a = await tx.query<{ username: string; action: string; approved_at: Date; plan_hash: string | null }>(
    `SELECT u.username, a.action, a.approved_at, a.plan_hash FROM approvals a JOIN users u ON u.id = a.approver_id WHERE a.promotion_id = $1 ORDER BY a.approved_at`,
    [id],
  );
  const d = row.decision_record;
  return {
    id: row.id,
    reason: row.reason,
    status: row.status,
    requestedBy: row.username,
    requestedAt: row.requested_at.toISOString(),
    approvals: a.rows.map((x) => ({
      username: x.username,
      action: x.action,
      at: x.approved_at.toISOString(),
      planHash: x.plan_hash,
      // An approval of an earlier plan did not count toward the decision.
      counted: x.action === 'approved' && (x.plan_hash === null || !d.plan?.hash || x.plan_hash === d.plan.hash),
    })),
    outcome: d.outcome ?? null,
    decidedAt: d.decidedAt ?? null,
    gates: (d.gates ?? []).map((g) => ({ gate: g.gate, status: g.status, reason: g.reason })),
    planHash: d.plan?.hash ?? null,
    decisionPacketId: d.evidence?.packetId ?? null,
  };
}

const DIGEST = /^sha256:[0-9a-f]{64}$/;

/** Everywhere a digest ran (per target and component), from when to when; consecutive tasks that kept it are one interval. */
export async function digestHistory(tx: Tx, digest: string) {
  if (!DIGEST.test(digest)) {
    throw new ValidationError('A digest is "sha256:" and 64 hex digits.', [{ path: 'params.digest', message: 'not a sha256 digest' }]);
  }
  const targets = await tx.query<{ id: string; name: string; environment_name: string }>(
    `SELECT DISTINCT g.id, g.name, e.name AS environment_name FROM deployment_tasks t JOIN targets g ON g.id = t.target_id
       JOIN environments e ON e.id = g.environment_id
      WHERE t.status = 'succeeded' AND (t.components @> $1::jsonb OR t.observed @> $1::jsonb) ORDER BY g.name`,
    [JSON.stringify([{ digest }])],
  );
  const out: {
    target: { id: string; name: string; environmentName: string };
    component: string;
    from: string;
    to: string | null;
    releases: string[];
    jobIds: string[];
  }[] = [];
  for (const t of targets.rows) {
    const open = new Map<string, (typeof out)[number]>();
    for (const x of await intervals(tx, t.id)) {
      const here = new Set(x.components.filter((c) => c.digest === digest).map((c) => c.name));
      for (const [component, run] of open) {
        if (here.has(component)) continue;
        run.to = x.from;
        open.delete(component);
      }
      for (const component of here) {
        const run = open.get(component);
        if (run) {
          if (!run.releases.includes(x.release.name)) run.releases.push(x.release.name);
          run.jobIds.push(x.jobId);
          continue;
        }
        const fresh = {
          target: { id: t.id, name: t.name, environmentName: t.environment_name },
          component,
          from: x.from,
          to: null,
          releases: [x.release.name],
          jobIds: [x.jobId],
        };
        out.push(fresh);
        open.set(component, fresh);
      }
    }
  }
  if (out.length === 0) throw new NotFoundError('Digest', `${digest} (it never ran on a target of this tenant)`);
  return { digest, intervals: out.sort((a, b) => a.from.localeCompare(b.from)) };
}
