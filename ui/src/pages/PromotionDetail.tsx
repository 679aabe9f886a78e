// A promotion: one story told the same way by the banner, the gate table and the approvals (every gate,
// approvals and separation of duties included, while it waits), approve/reject (or why you cannot), an
// emergency override for the roles the environment allows, cancel, and a timeline.
import { type FormEvent, useState } from 'react';
import { api, unwrap } from '../api/client';
import type {
  DeploymentJob,
  PromotionDetail as Detail,
  Environment,
  EvidencePacket,
  GateResult,
  PromotionGates,
  Release,
  WhoAmI,
} from '../api/types';
import { FullId, localizeTimes, When } from '../components/format';
import { GateList, PEOPLE_GATES, unblockHint } from '../components/Gates';
import { PlanTable } from '../components/Plan';
import { ActionButton, Badge, ErrorBox, Loading, ScrollPre } from '../components/ui';
import { WhyPanel } from '../components/Why';
import { useSession } from '../lib/auth';
import { listDeployments, listEvidence } from '../lib/deployments';
import { Link, useTitle } from '../lib/router';
import { useApi } from '../lib/useApi';

const OPEN = new Set(['pending', 'awaiting_approval']);
const FINAL = new Set(['deployed', 'rejected', 'cancelled', 'failed', 'rolled_back']);
const LABEL: Record<string, string> = {
  pending: 'Blocked',
  awaiting_approval: 'Awaiting approval',
  approved: 'Approved',
  deploying: 'Deploying',
  deployed: 'Deployed',
  rejected: 'Rejected',
  cancelled: 'Cancelled',
  failed: 'Failed',
  rolled_back: 'Rolled back',
};

/** The status in words, as the banner says it: "Blocked" only while a gate other than approvals holds it. */
function statusLabel(status: string, gates: GateResult[]): string {
  if (!OPEN.has(status)) return LABEL[status] ?? status;
  // Open: the same words as the banner — what still waits decides, not which step last wrote the status.
  const waiting = gates.filter((g) => g.status !== 'pass');
  if (waiting.length === 0) return 'Pending';
  return waiting.every((g) => PEOPLE_GATES.has(g.gate)) ? 'Awaiting approval' : 'Blocked';
}

/** Roles that may override a gate of this environment (admin always may). */
export function overrideRoles(env: Environment | undefined): string[] {
  return [...new Set(['admin', ...(env?.config.overrideRoles ?? [])])];
}

/** Why the signed-in user cannot decide, or undefined when they can. */
function whyNot(
  p: Detail,
  env: Environment | undefined,
  release: Release | undefined,
  me: WhoAmI,
  canApprove: boolean,
): string | undefined {
  if (!OPEN.has(p.status)) return `The promotion is ${(LABEL[p.status] ?? p.status).toLowerCase()}; decisions are closed.`;
  if (!canApprove) return `Deciding needs the approver or admin role; you have ${me.roles.join(', ') || 'none'}.`;
  if (p.approvals.some((a) => a.approver.id === me.user.id && a.forCurrentPlan)) {
    return 'You already decided on this plan; one person counts once per plan.';
  }
  if (env?.requireSod && p.requestedBy.id === me.user.id) {
    return `Separation of duties in "${env.name}": you requested this promotion, so someone else must approve it.`;
  }
  if (env?.requireSod && release?.createdBy === me.user.id) {
    return `Separation of duties in "${env.name}": you created release ${release.name}, so someone else must approve it.`;
  }
  return undefined;
}

interface Event {
  at: string;
  what: string;
  link?: string;
  status?: string;
}

function timeline(p: Detail, gates: PromotionGates | undefined, jobs: DeploymentJob[], packets: EvidencePacket[]): Event[] {
  const ev: Event[] = [{ at: p.requestedAt, what: `Requested by ${p.requestedBy.username}${p.reason ? `: “${p.reason}”` : ''}` }];
  if (gates?.evaluatedAt) ev.push({ at: gates.evaluatedAt, what: 'Gates evaluated (latest)' });
  for (const c of p.planChanges) ev.push({ at: c.at, what: `Plan changed: ${c.changes.join('; ')}` });
  for (const a of p.approvals)
    ev.push({ at: a.approvedAt, what: `${a.action === 'approved' ? 'Approved' : 'Rejected'} by ${a.approver.username}`, status: a.action });
  for (const j of jobs) {
    if (j.createdAt)
      ev.push({
        at: j.createdAt,
        what: `${j.rollbackOf ? 'Rollback' : 'Deployment'} job (${j.strategy})`,
        link: `/deployments/${j.id}`,
        status: j.status,
      });
  }
  for (const k of packets)
    ev.push({
      at: k.createdAt,
      what: `Evidence: ${k.packetType.replaceAll('_', ' ')} #${k.sequence}`,
      link: `/evidence?promotion=${p.id}&packet=${k.id}`,
    });
  if (p.completedAt) ev.push({ at: p.completedAt, what: `Finished: ${(LABEL[p.status] ?? p.status).toLowerCase()}`, status: p.status });
  return ev.sort((a, b) => a.at.localeCompare(b.at));
}

/** When the promotion continues by itself: the latest retry time of the gates that still wait. */
function continuesAt(gates: GateResult[]): string | undefined {
  const times = gates.filter((g) => g.status === 'pending' && g.retryAt).map((g) => g.retryAt!);
  return times.sort().at(-1);
}

/** The banner: the same verdict as the gate table, in words. */
function StatusBanner({ p, gates }: { p: Detail; gates: GateResult[] }) {
  const waiting = gates.filter((g) => g.status !== 'pass');
  if (OPEN.has(p.status)) {
    const people = waiting.length > 0 && waiting.every((g) => PEOPLE_GATES.has(g.gate));
    const until = continuesAt(waiting);
    if (waiting.length === 0) {
      return (
        <div className="alert info" role="status" data-testid="status-banner">
          Every gate passes; the promotion continues.
        </div>
      );
    }
    return (
      <div className="alert warn" role="status" data-testid="status-banner">
        <strong>{people ? 'Awaiting approval' : 'Blocked'}:</strong>
        <ul className="plain">
          {waiting.map((g) => (
            <li key={g.gate}>
              <code>{g.gate}</code> — {localizeTimes(g.reason)}
            </li>
          ))}
        </ul>
        {until ? (
          <div>
            Continues by itself at <When at={until} />.
          </div>
        ) : null}
      </div>
    );
  }
  if (p.status === 'rejected')
    return (
      <div className="alert bad" role="status" data-testid="status-banner">
        <strong>Rejected:</strong> {localizeTimes(p.blockedReason ?? 'the promotion was rejected')}. It will not deploy; request a new
        promotion once the cause is fixed.
      </div>
    );
  if (p.status === 'cancelled')
    return (
      <div className="alert info" role="status" data-testid="status-banner">
        <strong>Cancelled</strong> before it deployed.
      </div>
    );
  if (p.status === 'failed' || p.status === 'rolled_back')
    return (
      <div className="alert bad" role="status" data-testid="status-banner">
        <strong>{LABEL[p.status]}:</strong> the deployment did not complete; see the deployment below.
      </div>
    );
  if (p.status === 'approved' || p.status === 'deploying')
    return (
      <div className="alert info" role="status" data-testid="status-banner">
        <strong>{LABEL[p.status]}:</strong> every gate passed
        {p.status === 'deploying' ? '; the deployment is running' : '; the deployment starts'}.
      </div>
    );
  return null;
}

function OverrideForm({ id, gates, onDone }: { id: string; gates: GateResult[]; onDone: () => Promise<void> }) {
  const [gate, setGate] = useState(gates[0]?.gate ?? '');
  const [reason, setReason] = useState('');
  const [minutes, setMinutes] = useState(60);
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      await unwrap(
        api.POST('/api/v1/promotions/{id}/overrides', { params: { path: { id } }, body: { gate, reason, expiresInMinutes: minutes } }),
      );
      setReason('');
      await onDone();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form onSubmit={submit} data-testid="override-form">
      <div className="row" style={{ alignItems: 'flex-end' }}>
        <div>
          <label htmlFor="override-gate">Gate</label>
          <select id="override-gate" value={gate} onChange={(e) => setGate(e.target.value)}>
            {gates.map((g) => (
              <option key={g.gate} value={g.gate}>
                {g.gate}
              </option>
            ))}
          </select>
        </div>
        <div>
          <label htmlFor="override-minutes">For (minutes)</label>
          <input
            id="override-minutes"
            type="number"
            min={1}
            max={1440}
            value={minutes}
            onChange={(e) => setMinutes(Number(e.target.value))}
            style={{ width: '7rem' }}
          />
        </div>
      </div>
      <label htmlFor="override-reason">Reason (recorded in the evidence; at least 10 characters)</label>
      <textarea id="override-reason" value={reason} onChange={(e) => setReason(e.target.value)} required minLength={10} />
      <ErrorBox error={error} title="Override refused" />
      <button type="submit" className="danger" disabled={busy || reason.trim().length < 10}>
        {busy ? 'Overriding…' : 'Override gate'}
      </button>
    </form>
  );
}

export function PromotionDetail({ id }: { id: string }) {
  const { me, hasRole } = useSession();
  const [final, setFinal] = useState(false);
  const state = useApi(
    async () => {
      const p = await unwrap(api.GET('/api/v1/promotions/{id}', { params: { path: { id } } }));
      const [gates, env, release, jobs, packets, plan, why] = await Promise.all([
        unwrap(api.GET('/api/v1/promotions/{id}/gates', { params: { path: { id } } })).catch(() => undefined),
        unwrap(api.GET('/api/v1/environments/{ref}', { params: { path: { ref: p.targetEnvironmentId } } })).catch(() => undefined),
        unwrap(api.GET('/api/v1/releases/{ref}', { params: { path: { ref: p.releaseId } } })).catch(() => undefined),
        listDeployments({ promotion: id }).catch(() => undefined),
        listEvidence({ promotion: id }).catch(() => undefined),
        unwrap(api.GET('/api/v1/promotions/{id}/plan', { params: { path: { id } } })).catch(() => undefined),
        OPEN.has(p.status) || p.status === 'rejected'
          ? unwrap(api.GET('/api/v1/promotions/{id}/why', { params: { path: { id } } })).catch(() => undefined)
          : undefined,
      ]);
      setFinal(FINAL.has(p.status));
      return { p, gates, env, release, jobs: jobs ?? [], packets: packets ?? [], plan, why };
    },
    [id],
    { pollMs: final ? 15_000 : 2000 },
  );
  const [comment, setComment] = useState('');
  const d = state.data;
  useTitle(d ? `Promotion ${d.p.releaseName} → ${d.p.targetEnvironmentName}` : 'Promotion');

  if (state.error) return <ErrorBox error={state.error} onRetry={state.reload} title="Could not load the promotion" />;
  if (!d || !me) return <Loading />;
  const { p, gates, env, release, jobs, packets, plan, why } = d;
  const results = gates?.gates ?? [];
  const cannot = whyNot(p, env, release, me, hasRole('approver'));
  const allowedToOverride = overrideRoles(env);
  const mayOverride = hasRole(...allowedToOverride);
  const overridable = OPEN.has(p.status) ? results.filter((g) => g.status !== 'pass' && !PEOPLE_GATES.has(g.gate)) : [];
  const counted = p.approvals.filter((a) => a.action === 'approved' && a.forCurrentPlan).length;
  const decide = async (action: 'approve' | 'reject') => {
    const req = { params: { path: { id } }, body: { comment } };
    try {
      // An approval is for the plan shown on this page: if it changed meanwhile, nothing is recorded (409).
      const planHash = plan?.planHash ?? undefined;
      await unwrap(
        action === 'approve'
          ? api.POST('/api/v1/promotions/{id}/approve', { ...req, body: { comment, ...(planHash ? { planHash } : {}) } })
          : api.POST('/api/v1/promotions/{id}/reject', req),
      );
      setComment('');
    } finally {
      await state.reload();
    }
  };
  const unblock = (g: GateResult) => {
    const base = unblockHint(g);
    if (!base || PEOPLE_GATES.has(g.gate) || !OPEN.has(p.status)) return base;
    return mayOverride
      ? `${base} The emergency override is below.`
      : `${base} An emergency override needs one of the roles ${allowedToOverride.join(', ')}.`;
  };
  const noDeployment =
    p.status === 'rejected' || p.status === 'cancelled'
      ? `none — the promotion was ${p.status} before deploying`
      : OPEN.has(p.status)
        ? 'none yet — it deploys once every gate passes'
        : 'none yet';

  return (
    <>
      <p className="small">
        <Link to="/promotions">Promotions</Link> /
      </p>
      <div className="spread">
        <h1>
          <Link to={`/releases/${p.releaseName}`}>{p.releaseName}</Link> → {p.targetEnvironmentName}{' '}
          <Badge status={p.status} label={statusLabel(p.status, results)} />
        </h1>
        {OPEN.has(p.status) && hasRole('release_manager') ? (
          <ActionButton
            className="danger"
            onAction={async () => {
              await unwrap(api.POST('/api/v1/promotions/{id}/cancel', { params: { path: { id } } }));
              await state.reload();
            }}
          >
            Cancel promotion
          </ActionButton>
        ) : null}
      </div>
      <StatusBanner p={p} gates={results} />
      <div className="grid2">
        <div className="panel">
          <dl className="kv">
            <dt>Promotion</dt>
            <dd>
              <FullId id={p.id} />
            </dd>
            <dt>From</dt>
            <dd>{p.sourceEnvironmentName ?? '— (first environment)'}</dd>
            <dt>To</dt>
            <dd>
              {p.targetEnvironmentName}
              {env ? (
                <span className="small muted">
                  {' '}
                  · {env.requiredApprovals} approval(s) required{env.requireSod ? ' · separation of duties' : ''}
                  {env.freeze.until ? (
                    <>
                      {' '}
                      · frozen until <When at={env.freeze.until} />
                    </>
                  ) : null}
                </span>
              ) : null}
            </dd>
            <dt>Requested</dt>
            <dd>
              <When at={p.requestedAt} /> by {p.requestedBy.username}
            </dd>
            <dt>Reason</dt>
            <dd>{p.reason || <span className="muted">—</span>}</dd>
            <dt>Workflow run</dt>
            <dd>
              {p.workflowRunId ? (
                <>
                  <Link to={`/workflow-runs/${p.workflowRunId}`}>
                    {p.releaseName} → {p.targetEnvironmentName}
                  </Link>{' '}
                  <FullId id={p.workflowRunId} />
                </>
              ) : (
                '—'
              )}
            </dd>
            <dt>Deployments</dt>
            <dd data-testid="promotion-deployments">
              {jobs.length === 0 ? <span className="muted">{noDeployment}</span> : null}
              {jobs.map((j) => (
                <div key={j.id}>
                  <Link to={`/deployments/${j.id}`}>{j.rollbackOf ? 'rollback' : 'deployment'}</Link> <Badge status={j.status} />{' '}
                  <FullId id={j.id} />
                </div>
              ))}
            </dd>
            <dt>Evidence</dt>
            <dd>
              {packets.length ? (
                <Link to={`/evidence?promotion=${p.id}`}>{packets.length} packet(s)</Link>
              ) : (
                <span className="muted">none yet</span>
              )}
            </dd>
          </dl>
        </div>
        <section className="panel" aria-labelledby="decide-title">
          <h2 id="decide-title" style={{ marginTop: 0 }}>
            Approvals ({counted}/{env?.requiredApprovals ?? '?'})
          </h2>
          {p.approvals.length === 0 ? <p className="muted">No approvals yet.</p> : null}
          <ul className="plain">
            {p.approvals.map((a) => (
              <li key={a.id} data-testid="approval">
                <Badge status={a.action} /> <strong>{a.approver.username}</strong> <When at={a.approvedAt} />
                {a.forCurrentPlan ? null : (
                  <span className="small muted" data-testid="stale-approval">
                    {' '}
                    — for an earlier plan; it no longer counts
                  </span>
                )}
                {a.comment ? <blockquote style={{ margin: '0.2rem 0 0.4rem 1rem' }}>{a.comment}</blockquote> : null}
              </li>
            ))}
          </ul>
          {cannot ? (
            <p className="alert info" data-testid="cannot-decide">
              {cannot}
            </p>
          ) : (
            <>
              <label htmlFor="decision-comment">Comment</label>
              <textarea
                id="decision-comment"
                value={comment}
                onChange={(e) => setComment(e.target.value)}
                placeholder="Required to reject"
              />
              <div className="row">
                <ActionButton className="primary" onAction={() => decide('approve')}>
                  Approve
                </ActionButton>
                <ActionButton className="danger" disabled={!comment.trim()} title="Say why you reject" onAction={() => decide('reject')}>
                  Reject
                </ActionButton>
              </div>
            </>
          )}
        </section>
      </div>
      {why ? <WhyPanel why={why} /> : null}
      {plan?.plan ? (
        <PlanTable plan={plan.plan} changes={plan.changes} />
      ) : plan ? (
        <p className="muted" data-testid="plan">
          No deployment plan: the environment has no targets.
        </p>
      ) : null}
      <h2>Gates</h2>
      {gates?.evaluatedAt ? (
        <p className="small muted">
          evaluated <When at={gates.evaluatedAt} />
        </p>
      ) : null}
      <GateList gates={results} caption="Gate results" unblock={unblock} />
      {overridable.length > 0 ? (
        <section className="panel" aria-labelledby="override-title" data-testid="override">
          <h2 id="override-title" style={{ marginTop: 0 }}>
            Emergency override
          </h2>
          {mayOverride ? (
            <>
              <p className="hint">
                Lets a gate pass for a while with your reason; the override is signed into the evidence as a gate_override packet.
              </p>
              <OverrideForm id={id} gates={overridable} onDone={state.reload} />
            </>
          ) : (
            <p className="muted" data-testid="override-not-allowed">
              An emergency override here needs one of the roles {allowedToOverride.join(', ')}; you have {me.roles.join(', ') || 'none'}.
            </p>
          )}
        </section>
      ) : null}
      <h2>Timeline</h2>
      <ol className="plain" data-testid="timeline">
        {timeline(p, gates, jobs, packets).map((e) => (
          <li key={`${e.at}-${e.what}`}>
            <When at={e.at} /> — {e.link ? <Link to={e.link}>{e.what}</Link> : e.what} {e.status ? <Badge status={e.status} /> : null}
          </li>
        ))}
      </ol>
      <details>
        <summary>Decision record</summary>
        <ScrollPre label="Decision record">{JSON.stringify(p.decisionRecord, null, 2)}</ScrollPre>
      </details>
    </>
  );
}
