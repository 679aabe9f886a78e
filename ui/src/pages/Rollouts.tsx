// Progressive delivery: A/B releases and canaries. The list shows each rollout's split now; a rollout's
// page shows the split and what the router reports (or, for target groups, which targets run which
// variation and the stage's deployment), the stages, every step with who or what decided it,
// each analysis (query, value, threshold, verdict), and the operator's decisions.
import { useState } from 'react';
import type { Rollout, RolloutStep } from '../api/types';
import { FullId } from '../components/format';
import { ActionButton, Badge, ErrorBox, Loading, RoleNote, Time } from '../components/ui';
import { useSession } from '../lib/auth';
import { decideRollout, getRollout, listRollouts, type RolloutDecision } from '../lib/rollouts';
import { Link, useTitle } from '../lib/router';
import { useApi } from '../lib/useApi';

const FINAL = ['promoted', 'rolled_back', 'aborted', 'failed'];

/** The split as a bar: the stable variation's share, then the candidate's. */
function SplitBar({ variations }: { variations: { name: string; weight: number; release: { name: string } }[] }) {
  return (
    <div className="split" role="img" aria-label={variations.map((v) => `${v.name} ${v.weight}%`).join(', ')}>
      {variations.map((v, i) => (
        <span key={v.name} className={`split-part split-${i}`} style={{ width: `${v.weight}%` }}>
          {v.weight >= 8 ? `${v.name} ${v.weight}%` : ''}
        </span>
      ))}
    </div>
  );
}

export function Rollouts() {
  useTitle('Rollouts');
  const state = useApi(listRollouts, [], { pollMs: 5000 });
  return (
    <>
      <h1>Rollouts</h1>
      <p className="muted">
        A/B releases and canaries: traffic split between a stable and a candidate variation through a router, stage by stage.{' '}
        <Link to="/rollouts/new">Start one</Link>, or with <code>gantry rollout start -f spec.yaml</code>.
      </p>
      <ErrorBox error={state.error} onRetry={state.reload} />
      {state.loading && !state.data ? <Loading /> : null}
      {state.data ? (
        <div className="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">Rollout</th>
                <th scope="col">Environment</th>
                <th scope="col">Status</th>
                <th scope="col">Stage</th>
                <th scope="col">Split</th>
                <th scope="col">Started</th>
              </tr>
            </thead>
            <tbody>
              {state.data.map((r) => (
                <tr key={r.id}>
                  <td data-label="Rollout">
                    <Link to={`/rollouts/${r.id}`}>{r.name}</Link> <span className="small muted">{r.kind === 'ab' ? 'A/B' : 'canary'}</span>
                  </td>
                  <td data-label="Environment">{r.environment.name}</td>
                  <td data-label="Status">
                    <Badge status={r.status} />
                  </td>
                  <td data-label="Stage">{r.currentStage >= 0 ? `${r.currentStage + 1} of ${r.stages.length}` : '—'}</td>
                  <td data-label="Split">{r.variations.map((v) => `${v.name} ${v.weight}%`).join(' / ')}</td>
                  <td data-label="Started">
                    <Time at={r.createdAt} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {state.data.length === 0 ? (
            <p className="muted" style={{ padding: '0.5rem' }}>
              No rollouts yet.
            </p>
          ) : null}
        </div>
      ) : null}
    </>
  );
}

function Analysis({ step }: { step: RolloutStep }) {
  const a = step.analysis;
  if (!a) return null;
  return (
    <div className="table-wrap">
      <table>
        <caption>
          Analysis at <Time at={a.measuredAt} />: <Badge status={a.verdict} />{' '}
          <span className="small muted">
            {step.reason} · window {a.window}
          </span>
        </caption>
        <thead>
          <tr>
            <th scope="col">Metric</th>
            <th scope="col">Value</th>
            <th scope="col">Threshold</th>
            <th scope="col">Verdict</th>
            <th scope="col">Query</th>
          </tr>
        </thead>
        <tbody>
          {a.metrics.map((m) => (
            <tr key={m.name}>
              <td data-label="Metric">{m.name}</td>
              <td data-label="Value">{m.value === null ? 'no data' : m.value}</td>
              <td data-label="Threshold">{m.threshold}</td>
              <td data-label="Verdict">
                <Badge status={m.verdict} /> <span className="small muted">{m.reason}</span>
              </td>
              <td data-label="Query">
                <code className="small">{m.query}</code>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function Decisions({ r, reload }: { r: Rollout; reload: () => Promise<void> }) {
  const { hasRole } = useSession();
  const [reason, setReason] = useState('');
  if (FINAL.includes(r.status)) return null;
  if (!hasRole('release_manager', 'deployer')) return <RoleNote roles={['release_manager', 'deployer']} what="decide on a rollout" />;
  const busy = r.status === 'promoting' || r.status === 'rolling_back';
  const act = (a: RolloutDecision) => async () => {
    await decideRollout(r.id, a, reason);
    setReason('');
    await reload();
  };
  return (
    <section aria-label="Decide">
      <div className="field">
        <label htmlFor="ro-reason">Reason (recorded in the evidence)</label>
        <input id="ro-reason" value={reason} onChange={(e) => setReason(e.target.value)} />
      </div>
      <div className="row">
        <ActionButton onAction={act('advance')} disabled={busy}>
          {r.currentStage + 1 >= r.stages.length ? 'Advance (promote)' : `Advance to ${r.stages[r.currentStage + 1]?.weight}%`}
        </ActionButton>
        <ActionButton onAction={act('promote')} disabled={busy}>
          Promote {r.variations[1]?.name}
        </ActionButton>
        <ActionButton className="danger" onAction={act('rollback')} disabled={r.status === 'rolling_back'}>
          Roll back to {r.variations[0]?.name}
        </ActionButton>
        <ActionButton className="danger" onAction={act('abort')} disabled={r.status === 'rolling_back'}>
          Abort
        </ActionButton>
      </div>
    </section>
  );
}

export function RolloutDetail({ id }: { id: string }) {
  const state = useApi(() => getRollout(id), [id], { pollMs: 2000 });
  const r = state.data;
  useTitle(r ? `Rollout ${r.name}` : 'Rollout');
  if (!r) return state.error ? <ErrorBox error={state.error} onRetry={state.reload} /> : <Loading />;
  const analysed = r.steps.filter((s) => s.analysis);
  return (
    <>
      <h1>
        {r.kind === 'ab' ? 'A/B release' : 'Canary'} {r.name} <Badge status={r.status} />
      </h1>
      <p className="small">
        <FullId id={r.id} /> · environment {r.environment.name} ·{' '}
        {r.router && r.routerTarget ? (
          <>
            router {r.router.type as string} on <Link to={`/targets/${r.routerTarget.name}`}>{r.routerTarget.name}</Link>
          </>
        ) : (
          <>target groups {r.targetSelector && Object.keys(r.targetSelector).length ? JSON.stringify(r.targetSelector) : '(all targets)'}</>
        )}
      </p>
      {r.statusReason ? <p role="status">{r.statusReason}</p> : null}
      <h2>Split</h2>
      <SplitBar variations={r.variations} />
      <ul className="small">
        {r.variations.map((v) => (
          <li key={v.name}>
            {v.name}: release <Link to={`/releases/${v.release.name}`}>{v.release.name}</Link>, {v.weight}% (
            {v.targets
              ? `${v.targets.length} target(s)${v.targets.length ? `: ${v.targets.join(', ')}` : ''}`
              : v.servers.map((s) => `${s.host}:${s.port}`).join(', ')}
            )
          </li>
        ))}
        {r.job ? (
          <li>
            <Link to={`/deployments/${r.job.id}`}>deployment</Link> of the last stage change: {r.job.status}
            {r.job.error ? ` — ${r.job.error}` : ''}
          </li>
        ) : null}
        {r.header ? (
          <li>
            requests with header {r.header.name}: {r.header.value} always go to {r.header.variation}
          </li>
        ) : null}
        {r.sticky ? <li>sticky: cookie {r.sticky.cookie} keeps a client on its variation</li> : null}
        {r.traffic ? (
          <li>
            router: {r.traffic.status}
            {r.traffic.distribution
              ? ` — serves ${Object.entries(r.traffic.distribution)
                  .map(([k, v]) => `${k} ${v}%`)
                  .join(', ')}`
              : ''}
            {r.traffic.error ? ` — ${r.traffic.error}` : ''}
          </li>
        ) : null}
      </ul>
      <h2>Stages</h2>
      <ol className="stages">
        {r.stages.map((s, i) => (
          // biome-ignore lint/suspicious/noArrayIndexKey: stages are positional and never reorder
          <li key={i} aria-current={i === r.currentStage ? 'step' : undefined}>
            {s.weight}% for {s.holdSeconds} s{s.approval ? ', then an approval' : ''}
            {(s.analysis ?? Boolean(r.analysis)) ? ', judged by the analysis' : ''}
            {i === r.currentStage ? <strong> ← now</strong> : null}
          </li>
        ))}
      </ol>
      <Decisions r={r} reload={state.reload} />
      <h2>Steps</h2>
      <div className="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">When</th>
              <th scope="col">Action</th>
              <th scope="col">Stage</th>
              <th scope="col">By</th>
              <th scope="col">Why</th>
              <th scope="col">Evidence</th>
            </tr>
          </thead>
          <tbody>
            {r.steps.map((s) => (
              <tr key={`${s.at}-${s.action}-${s.stage}`}>
                <td data-label="When">
                  <Time at={s.at} />
                </td>
                <td data-label="Action">
                  <Badge status={s.action === 'rollback' || s.action === 'failed' ? 'rolled_back' : s.action} label={s.action} />
                </td>
                <td data-label="Stage">
                  {s.stage + 1} ({s.weight}%)
                </td>
                <td data-label="By">{s.actor}</td>
                <td data-label="Why">{s.reason}</td>
                <td data-label="Evidence">{s.evidenceId ? <FullId id={s.evidenceId} /> : '—'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {analysed.length ? <h2>Analyses</h2> : null}
      {analysed.map((s) => (
        <Analysis key={`${s.at}-${s.action}-${s.stage}`} step={s} />
      ))}
    </>
  );
}
