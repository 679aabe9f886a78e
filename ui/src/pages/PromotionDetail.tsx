// A promotion: gate results with reasons and what would unblock them, approvals with comments,
// approve/reject (with the reason you cannot, e.g. separation of duties), cancel, and a timeline.
import { useState } from 'react';
import { api, unwrap } from '../api/client';
import type { DeploymentJob, PromotionDetail as Detail, Environment, EvidencePacket, PromotionGates, Release, WhoAmI } from '../api/types';
import { GateList } from '../components/Gates';
import { ActionButton, Badge, ErrorBox, Loading, Time } from '../components/ui';
import { useSession } from '../lib/auth';
import { listDeployments, listEvidence } from '../lib/deployments';
import { Link, useTitle } from '../lib/router';
import { useApi } from '../lib/useApi';

const OPEN = new Set(['pending', 'awaiting_approval']);
const FINAL = new Set(['deployed', 'rejected', 'cancelled', 'failed', 'rolled_back']);

/** Why the signed-in user cannot decide, or undefined when they can. */
function whyNot(
  p: Detail,
  env: Environment | undefined,
  release: Release | undefined,
  me: WhoAmI,
  canApprove: boolean,
): string | undefined {
  if (!OPEN.has(p.status)) return `The promotion is ${p.status.replaceAll('_', ' ')}; decisions are closed.`;
  if (!canApprove) return `Deciding needs the approver or admin role; you have ${me.roles.join(', ') || 'none'}.`;
  if (p.approvals.some((a) => a.approver.id === me.user.id)) return 'You already decided on this promotion; one person counts once.';
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
  if (p.completedAt) ev.push({ at: p.completedAt, what: `Finished: ${p.status.replaceAll('_', ' ')}`, status: p.status });
  return ev.sort((a, b) => a.at.localeCompare(b.at));
}

export function PromotionDetail({ id }: { id: string }) {
  useTitle(`Promotion ${id.slice(0, 8)}`);
  const { me, hasRole } = useSession();
  const [final, setFinal] = useState(false);
  const state = useApi(
    async () => {
      const p = await unwrap(api.GET('/api/v1/promotions/{id}', { params: { path: { id } } }));
      const [gates, env, release, jobs, packets] = await Promise.all([
        unwrap(api.GET('/api/v1/promotions/{id}/gates', { params: { path: { id } } })).catch(() => undefined),
        unwrap(api.GET('/api/v1/environments/{ref}', { params: { path: { ref: p.targetEnvironmentId } } })).catch(() => undefined),
        unwrap(api.GET('/api/v1/releases/{ref}', { params: { path: { ref: p.releaseId } } })).catch(() => undefined),
        listDeployments({ promotion: id }).catch(() => undefined),
        listEvidence({ promotion: id }).catch(() => undefined),
      ]);
      setFinal(FINAL.has(p.status));
      return { p, gates, env, release, jobs: jobs ?? [], packets: packets ?? [] };
    },
    [id],
    { pollMs: final ? 15_000 : 2000 },
  );
  const [comment, setComment] = useState('');

  if (state.error) return <ErrorBox error={state.error} title="Could not load the promotion" />;
  if (!state.data || !me) return <Loading />;
  const { p, gates, env, release, jobs, packets } = state.data;
  const cannot = whyNot(p, env, release, me, hasRole('approver'));
  const decide = async (action: 'approve' | 'reject') => {
    const req = { params: { path: { id } }, body: { comment } };
    await unwrap(action === 'approve' ? api.POST('/api/v1/promotions/{id}/approve', req) : api.POST('/api/v1/promotions/{id}/reject', req));
    setComment('');
    await state.reload();
  };

  return (
    <>
      <p className="small">
        <Link to="/promotions">Promotions</Link> /
      </p>
      <div className="spread">
        <h1>
          <Link to={`/releases/${p.releaseName}`}>{p.releaseName}</Link> → {p.targetEnvironmentName} <Badge status={p.status} />
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
      {p.blockedReason ? (
        <div className="alert warn" role="status">
          <strong>Blocked:</strong> {p.blockedReason}
          {p.nextEvaluationAt ? (
            <>
              {' '}
              (re-evaluated <Time at={p.nextEvaluationAt} />)
            </>
          ) : null}
        </div>
      ) : null}
      <div className="grid2">
        <div className="panel">
          <dl className="kv">
            <dt>From</dt>
            <dd>{p.sourceEnvironmentName ?? '— (first environment)'}</dd>
            <dt>To</dt>
            <dd>
              {p.targetEnvironmentName}
              {env ? (
                <span className="small muted">
                  {' '}
                  · {env.requiredApprovals} approval(s) required{env.requireSod ? ' · separation of duties' : ''}
                </span>
              ) : null}
            </dd>
            <dt>Requested</dt>
            <dd>
              <Time at={p.requestedAt} /> by {p.requestedBy.username}
            </dd>
            <dt>Reason</dt>
            <dd>{p.reason || <span className="muted">—</span>}</dd>
            <dt>Workflow</dt>
            <dd>{p.workflowRunId ? <Link to={`/workflow-runs/${p.workflowRunId}`}>run {p.workflowRunId.slice(0, 8)}</Link> : '—'}</dd>
            <dt>Deployments</dt>
            <dd>
              {jobs.length === 0 ? <span className="muted">none yet</span> : null}
              {jobs.map((j) => (
                <div key={j.id}>
                  <Link to={`/deployments/${j.id}`}>
                    {j.rollbackOf ? 'rollback' : 'deployment'} {j.id.slice(0, 8)}
                  </Link>{' '}
                  <Badge status={j.status} />
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
            Approvals ({p.approvals.filter((a) => a.action === 'approved').length}/{env?.requiredApprovals ?? '?'})
          </h2>
          {p.approvals.length === 0 ? <p className="muted">No approvals yet.</p> : null}
          <ul className="plain">
            {p.approvals.map((a) => (
              <li key={a.id} data-testid="approval">
                <Badge status={a.action} /> <strong>{a.approver.username}</strong> <Time at={a.approvedAt} />
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
      <h2>Gates</h2>
      {gates?.evaluatedAt ? (
        <p className="small muted">
          evaluated <Time at={gates.evaluatedAt} />
        </p>
      ) : null}
      <GateList gates={gates?.gates ?? []} caption="Gate results" />
      <h2>Timeline</h2>
      <ol className="plain" data-testid="timeline">
        {timeline(p, gates, jobs, packets).map((e) => (
          <li key={`${e.at}-${e.what}`}>
            <Time at={e.at} /> — {e.link ? <Link to={e.link}>{e.what}</Link> : e.what} {e.status ? <Badge status={e.status} /> : null}
          </li>
        ))}
      </ol>
      <details>
        <summary>Decision record</summary>
        <pre>{JSON.stringify(p.decisionRecord, null, 2)}</pre>
      </details>
    </>
  );
}
