// Targets: per-target truth. Each target's current release (its latest successful deployment), the
// digests per component, who serves it, when it was last observed (or why it cannot be), drift, and
// the deployment task waiting on it with the reason; the detail page adds what ran there over time.
import { useMemo, useState } from 'react';
import { api, unwrap } from '../api/client';
import type { DriftRow, Target } from '../api/types';
import { Digest, When } from '../components/format';
import { EnvironmentFilter } from '../components/ListFilters';
import { NewTarget } from '../components/NewTarget';
import { TimelineTable, WhatRanAt } from '../components/Timeline';
import { ActionButton, Badge, ErrorBox, Json, Loading } from '../components/ui';
import { useSession } from '../lib/auth';
import { listDrift, listEnvironments, listTargets, targetHistory } from '../lib/data';
import { Link, useLocation, useTitle } from '../lib/router';
import { useApi } from '../lib/useApi';

/** True when the filter text matches the target: by name, or by a label as "key=value", "key" or "value". */
export function matchesFilter(t: Target, filter: string): boolean {
  const f = filter.trim().toLowerCase();
  if (!f) return true;
  if (t.name.toLowerCase().includes(f)) return true;
  return Object.entries(t.labels).some(([k, v]) => `${k}=${v}`.toLowerCase().includes(f));
}

function ServedBy({ t }: { t: Target }) {
  if (!t.servedBy) return <span className="muted">—</span>;
  if (t.servedBy.kind === 'server' || !t.servedBy.id) return <span>{t.servedBy.name}</span>;
  return (
    <span>
      <Link to={`/agents/${t.servedBy.id}`}>{t.servedBy.name}</Link>{' '}
      {t.servedBy.status && t.servedBy.status !== 'online' ? <Badge status={t.servedBy.status} /> : null}
    </span>
  );
}

/** The target's state besides health: drift, unobservable (not drift), waiting for a runner. */
function StateBadges({ t, drift }: { t: Target; drift: DriftRow | undefined }) {
  return (
    <span className="row">
      {drift?.driftDetected ? <Badge status="drift" label="drift" /> : null}
      {t.observation.state === 'unobservable' ? <Badge status="unknown" label="unobservable" /> : null}
      {t.waiting ? <Badge status="waiting" label={t.waiting.reason ? 'waiting: no runner' : 'deployment pending'} /> : null}
    </span>
  );
}

export function Targets() {
  useTitle('Targets');
  const { query } = useLocation();
  const [env, setEnv] = useState(query.get('environment') ?? '');
  const [filter, setFilter] = useState(query.get('filter') ?? '');
  const state = useApi(async () => {
    const [envs, targets, drift] = await Promise.all([
      listEnvironments(),
      listTargets(env || undefined),
      listDrift(env || undefined).catch(() => undefined),
    ]);
    return { envs, targets, drift };
  }, [env]);
  const rows = useMemo(() => (state.data?.targets ?? []).filter((t) => matchesFilter(t, filter)), [state.data, filter]);

  return (
    <>
      <h1>Targets</h1>
      {state.data ? <NewTarget envs={state.data.envs} onCreated={state.reload} /> : null}
      <div className="row">
        <EnvironmentFilter id="t-env" environments={state.data?.envs ?? []} anyText="all" value={env} onChange={setEnv} />
        <div className="field">
          <label htmlFor="t-filter">Filter by name or label</label>
          <input id="t-filter" type="search" value={filter} placeholder="e.g. web or zone=a" onChange={(e) => setFilter(e.target.value)} />
        </div>
      </div>
      <ErrorBox error={state.error} />
      {!state.data ? <Loading /> : null}
      {state.data ? (
        <div className="table-wrap">
          <table data-testid="targets-table">
            <thead>
              <tr>
                <th scope="col">Target</th>
                <th scope="col">Environment</th>
                <th scope="col">Health</th>
                <th scope="col">Current release</th>
                <th scope="col">Served by</th>
                <th scope="col">Last observed</th>
                <th scope="col">State</th>
                <th scope="col">Labels</th>
              </tr>
            </thead>
            <tbody>
              {rows.slice(0, 500).map((t) => (
                <tr key={t.id}>
                  <td>
                    <Link to={`/targets/${t.id}`}>{t.name}</Link>
                    <div className="small muted">{t.targetType}</div>
                  </td>
                  <td>{t.environmentName}</td>
                  <td>
                    <Badge status={t.healthStatus} />
                  </td>
                  <td>
                    {t.currentRelease ? (
                      <Link to={`/releases/${t.currentRelease.name}`}>{t.currentRelease.name}</Link>
                    ) : (
                      <span className="muted">nothing deployed</span>
                    )}
                  </td>
                  <td className="small">
                    <ServedBy t={t} />
                  </td>
                  <td className="small">
                    {t.observation.at ? <When at={t.observation.at} relativeOnly /> : <span className="muted">never</span>}
                  </td>
                  <td>
                    <StateBadges t={t} drift={state.data?.drift?.get(t.id)} />
                  </td>
                  <td className="small">
                    {Object.entries(t.labels)
                      .map(([k, v]) => `${k}=${v}`)
                      .join(', ')}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {rows.length === 0 ? (
            <p className="muted" style={{ padding: '0.5rem' }}>
              {filter.trim() ? `No target matches "${filter.trim()}".` : 'No targets.'}
            </p>
          ) : null}
        </div>
      ) : null}
    </>
  );
}

export function TargetDetail({ ref_ }: { ref_: string }) {
  const state = useApi(async () => {
    const target = await unwrap(api.GET('/api/v1/targets/{ref}', { params: { path: { ref: ref_ } } }));
    const [history, drift, timeline] = await Promise.all([
      targetHistory(target.id),
      listDrift(target.environmentName).catch(() => undefined),
      unwrap(api.GET('/api/v1/targets/{ref}/timeline', { params: { path: { ref: target.id } } })).catch(() => undefined),
    ]);
    return { target, history, verdict: drift?.get(target.id), timeline };
  }, [ref_]);
  useTitle(`Target ${state.data?.target.name ?? ''}`);
  if (state.error) return <ErrorBox error={state.error} />;
  if (!state.data) return <Loading />;
  const { target: t, history, verdict, timeline } = state.data;
  return (
    <>
      <p className="small">
        <Link to="/targets">Targets</Link> /
      </p>
      <h1>
        {t.name} <Badge status={t.healthStatus} /> <StateBadges t={t} drift={verdict} />
      </h1>
      {t.waiting ? (
        <p className="alert warn" role="status" data-testid="target-waiting">
          A deployment is waiting on this target (<Link to={`/deployments/${t.waiting.jobId}`}>deployment</Link>
          {t.waiting.since ? (
            <>
              , since <When at={t.waiting.since} />
            </>
          ) : null}
          ): {t.waiting.reason ?? 'its batch has not been released yet, or no runner has taken it so far.'}
        </p>
      ) : null}
      <div className="grid2">
        <div className="panel" data-testid="target-truth">
          <dl className="kv">
            <dt>Environment</dt>
            <dd>{t.environmentName}</dd>
            <dt>Type</dt>
            <dd>{t.targetType}</dd>
            <dt>Current release</dt>
            <dd data-testid="target-current-release">
              {t.currentRelease ? (
                <Link to={`/releases/${t.currentRelease.name}`}>{t.currentRelease.name}</Link>
              ) : (
                <span className="muted">nothing deployed yet</span>
              )}
            </dd>
            <dt>Digests</dt>
            <dd>
              {t.currentComponents.length ? (
                <ul className="plain">
                  {t.currentComponents.map((c) => (
                    <li key={c.name}>
                      {c.name} <Digest value={c.digest} />
                    </li>
                  ))}
                </ul>
              ) : (
                <span className="muted">—</span>
              )}
            </dd>
            <dt>Served by</dt>
            <dd>
              <ServedBy t={t} />
            </dd>
            <dt>Last observed</dt>
            <dd data-testid="target-observation">
              {t.observation.state === 'never' ? <span className="muted">never</span> : <When at={t.observation.at} />}
              {t.observation.state === 'unobservable' ? (
                <div className="small">
                  <Badge status="unknown" label="unobservable" /> {t.observation.error} — this is not drift: nothing could be compared.
                </div>
              ) : null}
            </dd>
          </dl>
        </div>
        <div className="panel">
          <h2 style={{ marginTop: 0 }}>Drift</h2>
          {verdict ? <DriftDetail verdict={verdict} environment={t.environmentName} onChecked={state.reload} /> : null}
        </div>
      </div>
      <h2>Timeline</h2>
      {timeline ? <TimelineTable timeline={timeline} /> : null}
      <WhatRanAt target={t.id} />
      <h2>Deployment tasks</h2>
      {history.length === 0 ? <p className="muted">Nothing was deployed to this target yet.</p> : null}
      {history.length ? (
        <div className="table-wrap">
          <table data-testid="target-history">
            <caption className="sr-only">What ran on {t.name}, newest first</caption>
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">Release</th>
                <th scope="col">Digests</th>
                <th scope="col">Outcome</th>
                <th scope="col">Deployment</th>
                <th scope="col">By</th>
              </tr>
            </thead>
            <tbody>
              {history.map((h) => (
                <tr key={h.taskId}>
                  <td className="small">
                    <When at={h.completedAt ?? h.startedAt ?? h.createdAt} />
                  </td>
                  <td>
                    <Link to={`/releases/${h.release.name}`}>{h.release.name}</Link>
                    {h.previousRelease ? <div className="small muted">from {h.previousRelease.name}</div> : null}
                    {h.rollback ? <Badge status="rolled_back" label="rollback" /> : null}
                  </td>
                  <td className="small">
                    {h.components.map((c) => (
                      <div key={c.name}>
                        {c.name} <Digest value={c.digest} />
                      </div>
                    ))}
                  </td>
                  <td>
                    <Badge status={h.status} />
                    {h.error ? <div className="small muted">{h.error}</div> : null}
                    {h.waitingReason ? <div className="small muted">{h.waitingReason}</div> : null}
                  </td>
                  <td className="small">
                    <Link to={`/deployments/${h.jobId}`}>deployment</Link>
                    {h.promotionId ? (
                      <>
                        {' · '}
                        <Link to={`/promotions/${h.promotionId}`}>promotion</Link>
                      </>
                    ) : null}
                  </td>
                  <td className="small">
                    {h.agent ? <Link to={`/agents/${h.agent.id}`}>{h.agent.name}</Link> : <span className="muted">—</span>}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      <h2>Connection</h2>
      <Json value={t.connection} />
      <h2>Labels</h2>
      <Json value={t.labels} />
    </>
  );
}

function DriftDetail({ verdict, environment, onChecked }: { verdict: DriftRow; environment: string; onChecked: () => Promise<void> }) {
  const { hasRole } = useSession();
  return (
    <div data-testid="drift-detail">
      <p>
        {verdict.driftDetected ? <Badge status="drift" label="drift detected" /> : <Badge status="succeeded" label="no drift" />} last
        checked <When at={verdict.checkedAt} />
        {verdict.stickerHash ? (
          <>
            {' '}
            · sticker <Digest value={verdict.stickerHash} />
          </>
        ) : null}
      </p>
      {verdict.drift.length ? (
        <table>
          <caption className="sr-only">Drift details</caption>
          <thead>
            <tr>
              <th scope="col">Component</th>
              <th scope="col">What</th>
              <th scope="col">Expected</th>
              <th scope="col">Actual</th>
            </tr>
          </thead>
          <tbody>
            {verdict.drift.map((d) => (
              <tr key={`${d.component}-${d.field}`}>
                <td>{d.component ?? '—'}</td>
                <td>{d.field}</td>
                <td>
                  <Digest value={d.expected} />
                </td>
                <td>
                  <Digest value={d.actual} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      {hasRole('release_manager', 'deployer') ? (
        <ActionButton
          onAction={async () => {
            await unwrap(api.POST('/api/v1/drift/check', { body: { environment } }));
            await onChecked();
          }}
        >
          Check drift at the next heartbeat
        </ActionButton>
      ) : null}
    </div>
  );
}
